//! The event loop: one thread that accepts connections and owns each one
//! while it is idle, while its request head is still arriving, and while it
//! lingers before closing. A connection goes to the workers only with a
//! complete head in its buffer, so a slow or silent client never holds a
//! worker.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use polling::{Event, Events};

use super::conn::{Conn, Fill};
use super::outgoing::{Outgoing, Progress};
use super::{After, Back, ServerConfig, Shared};
use crate::http1::{self, HeadLimits, WriteOptions};
use crate::{Error, response};

/// The listener's key (`polling` keeps `usize::MAX` for itself);
/// connections use their slot index.
const LISTENER: usize = usize::MAX - 1;
/// How often deadlines are checked; their resolution.
const TICK: Duration = Duration::from_millis(100);
/// How long a closing connection is drained, and how much of it.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Most connections accepted per wake-up, so a flood of new connections
/// cannot starve the ones already open.
const ACCEPT_BATCH: usize = 256;
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

enum State {
    /// Between requests on a kept-alive connection.
    Idle { deadline: Instant },
    /// A head is arriving (or, on a new connection, expected).
    Head { deadline: Instant },
    /// The rest of an answered request's body is arriving, to be dropped.
    Body { deadline: Instant, left: u64 },
    /// Closing: our side is shut, the client's bytes are read and dropped.
    Linger { deadline: Instant, drained: usize },
    /// A response the client reads slowly, and what follows it.
    Write { out: Box<Outgoing>, after: After },
}

/// The state a connection enters once a response is out, or `None` if it
/// closes.
fn state_after(
    conn: &Conn,
    after: After,
    now: Instant,
    config: &ServerConfig,
    stopping: bool,
) -> Option<State> {
    match after {
        _ if stopping => None,
        After::Idle => Some(State::Idle {
            deadline: now + config.keep_alive_timeout,
        }),
        After::SkipBody(left) => Some(State::Body {
            deadline: now + config.timeout,
            left,
        }),
        After::Linger => conn
            .stream
            .shutdown(Shutdown::Write)
            .ok()
            .map(|()| State::Linger {
                deadline: now + LINGER_TIME,
                drained: 0,
            }),
        After::Close => None,
    }
}

struct Slot {
    conn: Conn,
    state: State,
}

/// Connections by key, reusing freed keys.
#[derive(Default)]
struct Slots {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    len: usize,
}

impl Slots {
    fn insert(&mut self, slot: Slot) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(slot);
                key
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, key: usize) -> Option<Slot> {
        let slot = self.slots.get_mut(key)?.take()?;
        self.free.push(key);
        self.len -= 1;
        Some(slot)
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut Slot> {
        self.slots.get_mut(key)?.as_mut()
    }
}

struct Loop<'a> {
    listener: &'a TcpListener,
    shared: &'a Arc<Shared>,
    config: &'a ServerConfig,
    limits: HeadLimits,
    slots: Slots,
    scratch: Vec<u8>,
    accept_paused_until: Option<Instant>,
    draining_until: Option<Instant>,
}

/// Runs the event loop until the server has stopped: shutdown asked for,
/// idle connections closed, and every connection a worker held closed (or
/// the timeout spent waiting for them).
pub(super) fn run(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    config: &ServerConfig,
) -> Result<(), Error> {
    listener.set_nonblocking(true)?;
    // SAFETY: the registration is deleted below, before `run` returns and
    // so before the listener can be dropped.
    unsafe {
        shared
            .poller
            .add(listener.as_raw_fd(), Event::readable(LISTENER))?
    };
    let mut lp = Loop {
        listener,
        shared,
        config,
        limits: HeadLimits::new(config.max_head_size, config.chunk_size),
        slots: Slots::default(),
        scratch: vec![0; 16 * 1024],
        accept_paused_until: None,
        draining_until: None,
    };
    let result = lp.run();
    let _ = shared.poller.delete(listener);
    result
}

impl Loop<'_> {
    fn run(&mut self) -> Result<(), Error> {
        let mut events = Events::new();
        let mut last_sweep = Instant::now();
        loop {
            events.clear();
            match self.shared.poller.wait(&mut events, Some(TICK)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            let now = Instant::now();
            for ev in events.iter() {
                if ev.key == LISTENER {
                    self.accept(now)?;
                } else {
                    self.ready(ev.key, now);
                }
            }
            self.take_back(now);
            if self.shared.stopping() {
                let until = *self.draining_until.get_or_insert_with(|| {
                    let _ = self.shared.poller.delete(self.listener);
                    now + self.config.timeout
                });
                self.close_all();
                if self.shared.open.load(Ordering::Acquire) == 0 || now >= until {
                    return Ok(());
                }
            }
            if now.duration_since(last_sweep) >= TICK {
                last_sweep = now;
                self.sweep(now)?;
            }
        }
    }

    /// Accepts new connections, or refuses them when at the cap.
    fn accept(&mut self, now: Instant) -> Result<(), Error> {
        if self.shared.stopping() {
            return Ok(());
        }
        for _ in 0..ACCEPT_BATCH {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if transient(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: pause instead of spinning
                    // on a listener that stays readable.
                    log::error!("accept failed: {e}; pausing for {ACCEPT_PAUSE:?}");
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return Ok(());
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.shared.open.load(Ordering::Acquire) >= self.config.max_connections {
                log::debug!(
                    "refusing {peer}: {} connections open",
                    self.config.max_connections
                );
                refuse_busy(&stream, &mut self.scratch);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let fd = stream.as_raw_fd();
            let conn = Conn::new(stream, peer, Arc::clone(self.shared));
            let key = self.slots.insert(Slot {
                conn,
                state: State::Head {
                    deadline: now + self.config.timeout,
                },
            });
            // SAFETY: `Conn`'s drop deletes the registration before the
            // socket closes.
            if unsafe { self.shared.poller.add(fd, Event::readable(key)) }.is_err() {
                self.slots.remove(key);
            }
        }
        self.shared
            .poller
            .modify(self.listener, Event::readable(LISTENER))?;
        Ok(())
    }

    /// Moves a connection on after the poller says its socket is ready.
    fn ready(&mut self, key: usize, now: Instant) {
        let cap = self.config.max_head_size + self.config.chunk_size;
        let chunk = self.config.chunk_size;
        let stopping = self.shared.stopping();
        let scratch = &mut self.scratch;
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let keep = match &mut slot.state {
            State::Idle { .. } | State::Head { .. } => match slot.conn.fill(chunk, cap) {
                Ok(Fill::Data) => {
                    if let State::Idle { .. } = slot.state {
                        slot.state = State::Head {
                            deadline: now + self.config.timeout,
                        };
                    }
                    if http1::head_ready(&slot.conn.buf, &self.limits) {
                        if let Some(slot) = self.slots.remove(key) {
                            self.shared.queue.push(slot.conn);
                        }
                        return;
                    }
                    true
                }
                Ok(Fill::Empty) => true,
                Ok(Fill::Eof) | Err(_) => false,
            },
            State::Body { left, .. } => match skip(&slot.conn, scratch, left) {
                Ok(true) => {
                    // The next request may already be waiting behind the
                    // body; re-arming reports it at once if so.
                    slot.state = State::Idle {
                        deadline: now + self.config.keep_alive_timeout,
                    };
                    true
                }
                Ok(false) => true,
                Err(_) => false,
            },
            State::Linger { drained, .. } => drain(&slot.conn.stream, scratch, drained),
            State::Write { out, .. } => match out.advance(&slot.conn.stream) {
                Ok(Progress::Blocked) => true,
                Ok(Progress::Done) => {
                    out.log();
                    let placeholder = State::Idle { deadline: now };
                    match std::mem::replace(&mut slot.state, placeholder) {
                        State::Write { after, .. } => {
                            match state_after(&slot.conn, after, now, self.config, stopping) {
                                Some(state) => {
                                    slot.state = state;
                                    true
                                }
                                None => false,
                            }
                        }
                        _ => false,
                    }
                }
                Err(e) => {
                    out.log();
                    log::debug!("writing to {}: {e}", slot.conn.peer);
                    false
                }
            },
        };
        if keep {
            self.arm(key);
        } else {
            self.slots.remove(key);
        }
    }

    /// Asks the poller for the next event a connection waits for: room to
    /// write while a response is going out, bytes to read otherwise. A
    /// connection that cannot be watched is closed.
    fn arm(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let interest = match slot.state {
            State::Write { .. } => Event::writable(key),
            _ => Event::readable(key),
        };
        if self
            .shared
            .poller
            .modify(&slot.conn.stream, interest)
            .is_err()
        {
            self.slots.remove(key);
        }
    }

    /// Takes back the connections workers are done with for now.
    fn take_back(&mut self, now: Instant) {
        let returned = std::mem::take(&mut *self.shared.lock_returned());
        let stopping = self.shared.stopping();
        for back in returned {
            let (mut conn, state) = match back {
                // A response in flight is finished even when stopping.
                Back::Write(conn, out, after) => (conn, Some(State::Write { out, after })),
                _ if stopping => continue, // dropped: closed
                Back::Idle(conn) => (
                    conn,
                    Some(State::Idle {
                        deadline: now + self.config.keep_alive_timeout,
                    }),
                ),
                Back::Head(conn, deadline) => (conn, Some(State::Head { deadline })),
                Back::Body(conn, left) => {
                    let state = state_after(&conn, After::SkipBody(left), now, self.config, false);
                    (conn, state)
                }
                Back::Linger(conn) => {
                    let state = state_after(&conn, After::Linger, now, self.config, false);
                    (conn, state)
                }
            };
            let Some(state) = state else { continue };
            conn.shrink();
            let key = self.slots.insert(Slot { conn, state });
            self.arm(key);
        }
    }

    /// Closes connections whose time is up; a head that did not arrive in
    /// time gets `408` first.
    fn sweep(&mut self, now: Instant) -> Result<(), Error> {
        for key in 0..self.slots.slots.len() {
            let Some(slot) = self.slots.get_mut(key) else {
                continue;
            };
            let expired = match &slot.state {
                State::Idle { deadline }
                | State::Head { deadline }
                | State::Body { deadline, .. }
                | State::Linger { deadline, .. } => now >= *deadline,
                State::Write { out, .. } => {
                    now >= out.deadline(self.config.timeout, self.config.min_send_rate)
                }
            };
            if !expired {
                continue;
            }
            if let State::Write { out, .. } = &slot.state {
                log::debug!("{} reads too slowly; closing", slot.conn.peer);
                out.log();
            }
            if matches!(slot.state, State::Head { .. })
                && slot.conn.buf.iter().any(|b| !b.is_ascii_whitespace())
            {
                log::debug!("request head from {} timed out", slot.conn.peer);
                send_now(&slot.conn, http::StatusCode::REQUEST_TIMEOUT);
            }
            self.slots.remove(key);
        }
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            self.shared
                .poller
                .modify(self.listener, Event::readable(LISTENER))?;
        }
        Ok(())
    }

    /// Closes every connection the loop holds but those still receiving a
    /// response (at shutdown).
    fn close_all(&mut self) {
        if self.slots.len == 0 {
            return;
        }
        for key in 0..self.slots.slots.len() {
            let writing = self
                .slots
                .get_mut(key)
                .is_some_and(|slot| matches!(slot.state, State::Write { .. }));
            if !writing {
                self.slots.remove(key);
            }
        }
    }
}

/// Reads and drops what a lingering connection sends; `false` once it is
/// done (end of file, an error, or enough drained).
fn drain(stream: &std::net::TcpStream, scratch: &mut [u8], drained: &mut usize) -> bool {
    loop {
        match (&*stream).read(scratch) {
            Ok(0) => return false,
            Ok(n) => {
                *drained += n;
                if *drained >= LINGER_BYTES {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Reads and drops up to `left` body bytes; `Ok(true)` once all are gone.
/// The end of the stream before that is an error.
fn skip(conn: &Conn, scratch: &mut [u8], left: &mut u64) -> io::Result<bool> {
    while *left > 0 {
        let want = scratch
            .len()
            .min(usize::try_from(*left).unwrap_or(usize::MAX));
        match (&conn.stream).read(&mut scratch[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => *left -= n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Writes an error response without waiting: it is small and the socket
/// buffer is empty; if it does not fit, the client was not listening.
fn send_now(conn: &Conn, status: http::StatusCode) {
    let mut bytes = Vec::with_capacity(256);
    if http1::write_response(
        &mut bytes,
        response::status_page(status),
        WriteOptions::new(false, false),
    )
    .is_ok()
    {
        let _ = (&conn.stream).write(&bytes);
    }
}

/// Answers a connection over the cap with `503` and closes it, without
/// keeping it: reads what its request has sent so far, so that closing
/// does not reset the connection before the client sees the answer.
fn refuse_busy(stream: &std::net::TcpStream, scratch: &mut [u8]) {
    let mut bytes = Vec::with_capacity(256);
    let mut resp = response::status_page(http::StatusCode::SERVICE_UNAVAILABLE);
    resp.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    let _ = http1::write_response(&mut bytes, resp, WriteOptions::new(false, false));
    let mut drained = 0;
    let _ = drain(stream, scratch, &mut drained);
    let _ = (&*stream).write(&bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = drain(stream, scratch, &mut drained);
}

/// Errors that concern only the connection being accepted.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
