//! The event loops: one per worker thread, each owning the connections it
//! accepted. A loop waits on all of its sockets at once (non-blocking
//! sockets, the `polling` crate, a deadline per connection) and answers a
//! request on the spot once its whole head has arrived. Nothing waits for a
//! client: idle, silent, trickling and slow-reading clients cost a slot in
//! a table, not a thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use super::answer::{self, Outcome};
use super::conn::{Conn, Fill};
use super::listener;
use super::outgoing::{Outgoing, Progress};
use super::{After, ServerConfig, Shared};
use crate::http1::{self, WriteOptions};
use crate::{Error, Handler, response};

/// The listener's key (`polling` keeps `usize::MAX` for itself);
/// connections use their slot index.
const LISTENER: usize = usize::MAX - 1;
/// How often deadlines are checked; their resolution.
const TICK: Duration = Duration::from_millis(100);
/// How long a closing connection is drained, and how much of it.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Most connections one loop accepts per wake-up, so that a burst of new
/// connections cannot starve the open ones.
const ACCEPT_BATCH: usize = 64;
/// How many connections above an even share a loop may hold before it
/// leaves new ones to the other loops.
const SHARE_SLACK: usize = 2;
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

struct Loop<'a, H> {
    listener: &'a TcpListener,
    poller: &'a Poller,
    shared: &'a Arc<Shared>,
    config: &'a ServerConfig,
    handler: &'a H,
    slots: Slots,
    scratch: Vec<u8>,
    accept_paused_until: Option<Instant>,
    /// Whether this loop let the last wake-up for new connections pass.
    deferred: bool,
    draining_until: Option<Instant>,
}

/// Runs event loop number `index` until the server has stopped: shutdown
/// asked for, idle connections closed, responses in flight finished (or
/// the timeout spent waiting for them).
pub(super) fn run<H: Handler>(
    index: usize,
    listener: &TcpListener,
    shared: &Arc<Shared>,
    config: &ServerConfig,
    handler: &H,
) -> Result<(), Error> {
    let poller = shared
        .pollers
        .get(index)
        .ok_or_else(|| io::Error::other(format!("no poller for event loop {index}")))?;
    // SAFETY: the registration is deleted below, before `run` returns and
    // so before the listener can be dropped.
    unsafe { poller.add(listener.as_raw_fd(), Event::readable(LISTENER))? };
    let mut lp = Loop {
        listener,
        poller,
        shared,
        config,
        handler,
        slots: Slots::default(),
        scratch: vec![0; 16 * 1024],
        accept_paused_until: None,
        deferred: false,
        draining_until: None,
    };
    let result = lp.run();
    let _ = poller.delete(listener);
    for key in 0..lp.slots.slots.len() {
        // Responses cut short by the end of the shutdown's grace period are
        // logged too, with the bytes they got.
        if let Some(Slot {
            state: State::Write { out, .. },
            ..
        }) = lp.slots.get_mut(key)
        {
            out.log();
        }
        lp.close(key);
    }
    result
}

impl<H: Handler> Loop<'_, H> {
    fn run(&mut self) -> Result<(), Error> {
        let mut events = Events::new();
        let mut last_sweep = Instant::now();
        loop {
            events.clear();
            match self.poller.wait(&mut events, Some(TICK)) {
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
            if !events.is_empty() {
                // Give way to other runnable threads (other loops, other
                // processes, clients on the same machine) at the end of a
                // batch, when no connection is half-served, rather than be
                // preempted in the middle of one. It returns at once when
                // nothing else wants the core; on a shared 2-core machine it
                // cut the benchmark's p99 at 140k requests/s from 8 to 1.4 ms.
                std::thread::yield_now();
            }
            if self.shared.stopping() {
                let until = *self.draining_until.get_or_insert_with(|| {
                    let _ = self.poller.delete(self.listener);
                    now + self.config.timeout()
                });
                self.close_idle();
                if self.slots.len == 0 || now >= until {
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

        let loops = self.shared.pollers.len().max(1);
        for _ in 0..ACCEPT_BATCH {
            // Every loop wakes for a new connection. One holding more than
            // its share lets it pass once, so the others (awake too) take it,
            // and connections, and so latency, spread evenly over the
            // threads. If no other loop takes it, the listener wakes this
            // one again at once.
            let share = self.shared.open.load(Ordering::Acquire) / loops + SHARE_SLACK;
            if loops > 1 && self.slots.len > share && !self.deferred {
                self.deferred = true;
                break;
            }
            self.deferred = false;
            let (stream, peer) = match listener::accept(self.listener) {
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
            if self.shared.open.load(Ordering::Acquire) >= self.config.max_connections() {
                log::debug!(
                    "refusing {peer}: {} connections open",
                    self.config.max_connections()
                );
                refuse_busy(&stream, &mut self.scratch);
                continue;
            }
            let fd = stream.as_raw_fd();
            let conn = Conn::new(stream, peer, Arc::clone(self.shared));
            let key = self.slots.insert(Slot {
                conn,
                state: State::Head {
                    deadline: now + self.config.timeout(),
                },
            });
            // Level-triggered: a connection stays registered for reading
            // between requests without re-arming after each one.
            // SAFETY: `close` deletes the registration before the socket
            // closes.
            let added = unsafe {
                self.poller
                    .add_with_mode(fd, Event::readable(key), PollMode::Level)
            };
            if added.is_err() {
                self.slots.remove(key);
            }
        }
        self.poller
            .modify(self.listener, Event::readable(LISTENER))?;
        Ok(())
    }

    /// Moves a connection on after the poller says its socket is ready.
    fn ready(&mut self, key: usize, now: Instant) {
        let cap = self.config.max_head_size() + self.config.chunk_size();
        let chunk = self.config.chunk_size();
        let stopping = self.shared.stopping();
        let (handler, config, stop_flag) = (self.handler, self.config, &self.shared.stopping);
        let answer =
            |conn: &mut Conn, deadline| answer::serve(conn, deadline, handler, config, stop_flag);
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let was_writing = matches!(slot.state, State::Write { .. });
        let outcome = match &mut slot.state {
            State::Idle { .. } | State::Head { .. } => match slot.conn.fill(chunk, cap) {
                Ok(Fill::Data) => {
                    let deadline = match slot.state {
                        State::Head { deadline } => deadline,
                        _ => now + self.config.timeout(),
                    };
                    answer(&mut slot.conn, deadline)
                }
                Ok(Fill::Empty) => return,
                Ok(Fill::Eof) | Err(_) => Outcome::Close,
            },
            State::Body { left, .. } => match skip(&slot.conn, &mut self.scratch, left) {
                // The next request may already be waiting behind the body;
                // the level-triggered poller reports it at once if so.
                Ok(true) => Outcome::Idle,
                Ok(false) => return,
                Err(_) => Outcome::Close,
            },
            State::Linger { drained, .. } => {
                if drain(&slot.conn.stream, &mut self.scratch, drained) {
                    return;
                }
                Outcome::Close
            }
            State::Write { out, after } => match out.advance(&slot.conn.stream) {
                Ok(Progress::Blocked) => return,
                Ok(Progress::Done) => {
                    out.log();
                    match after {
                        _ if stopping => answer::close_quietly(&mut slot.conn),
                        // Pipelined requests may wait in the buffer, with no
                        // new bytes to wake the poller: answer them now.
                        After::Idle if !slot.conn.buf.is_empty() => {
                            let deadline = now + self.config.timeout();
                            answer(&mut slot.conn, deadline)
                        }
                        After::Idle => Outcome::Idle,
                        After::SkipBody(left) => Outcome::Body(*left),
                        After::Linger => Outcome::Linger,
                        After::Close => answer::close_quietly(&mut slot.conn),
                    }
                }
                Err(e) => {
                    out.log();
                    log::debug!("writing to {}: {e}", slot.conn.peer);
                    Outcome::Close
                }
            },
        };
        self.settle(key, outcome, was_writing, now);
    }

    /// Puts a connection in the state `outcome` calls for, with the poller
    /// watching for what that state waits on.
    fn settle(&mut self, key: usize, outcome: Outcome, was_writing: bool, now: Instant) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let state = match outcome {
            Outcome::Idle => State::Idle {
                deadline: now + self.config.keep_alive_timeout(),
            },
            Outcome::Head(deadline) => State::Head { deadline },
            Outcome::Write(out, after) => State::Write { out, after },
            Outcome::Body(left) => State::Body {
                deadline: now + self.config.timeout(),
                left,
            },
            Outcome::Linger if slot.conn.stream.shutdown(Shutdown::Write).is_ok() => {
                State::Linger {
                    deadline: now + LINGER_TIME,
                    drained: 0,
                }
            }
            Outcome::Linger | Outcome::Close => return self.close(key),
        };
        if let State::Idle { .. } = state {
            slot.conn.shrink();
        }
        let writing = matches!(state, State::Write { .. });
        slot.state = state;
        if writing != was_writing {
            let interest = if writing {
                Event::writable(key)
            } else {
                Event::readable(key)
            };
            let watched =
                self.poller
                    .modify_with_mode(&slot.conn.stream, interest, PollMode::Level);
            if watched.is_err() {
                self.close(key);
            }
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
                    now >= out.deadline(self.config.timeout(), self.config.min_send_rate())
                }
            };
            if !expired {
                continue;
            }
            match &slot.state {
                State::Write { out, .. } => {
                    log::debug!("{} reads too slowly; closing", slot.conn.peer);
                    out.log();
                }
                State::Head { .. } if slot.conn.buf.iter().any(|b| !b.is_ascii_whitespace()) => {
                    log::debug!("request head from {} timed out", slot.conn.peer);
                    send_now(&slot.conn, http::StatusCode::REQUEST_TIMEOUT);
                    // Linger, so the 408 is not lost to a reset.
                    self.settle(key, Outcome::Linger, false, now);
                    continue;
                }
                _ => {}
            }
            self.close(key);
        }
        // Not once shutdown has removed the listener from the poller.
        if self.draining_until.is_none() && self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            self.poller
                .modify(self.listener, Event::readable(LISTENER))?;
        }
        Ok(())
    }

    /// Closes every connection but those still receiving a response (at
    /// shutdown).
    fn close_idle(&mut self) {
        for key in 0..self.slots.slots.len() {
            // Responses in flight finish; closing ones finish lingering.
            let finishing = self.slots.get_mut(key).is_some_and(|slot| {
                matches!(slot.state, State::Write { .. } | State::Linger { .. })
            });
            if !finishing {
                self.close(key);
            }
        }
    }

    /// Stops watching a connection and closes it.
    fn close(&mut self, key: usize) {
        if let Some(slot) = self.slots.remove(key) {
            let _ = self.poller.delete(&slot.conn.stream);
        }
    }
}

/// Reads and drops what a lingering connection sends; `false` once it is
/// done (end of file, an error, or enough drained).
fn drain(stream: &TcpStream, scratch: &mut [u8], drained: &mut usize) -> bool {
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
    let page = response::status_page(status);
    if http1::write_response(&mut bytes, page, WriteOptions::new(false, false)).is_ok() {
        let _ = (&conn.stream).write(&bytes);
    }
}

/// Answers a connection over the cap with `503` and closes it, without
/// keeping it: reads what its request has sent so far, so that closing
/// does not reset the connection before the client sees the answer.
fn refuse_busy(stream: &TcpStream, scratch: &mut [u8]) {
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
