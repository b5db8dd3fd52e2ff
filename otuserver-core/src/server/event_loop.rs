//! The event loops: one per worker thread, each owning the connections it
//! accepted. A loop waits on all of its sockets at once (non-blocking
//! sockets, the `polling` crate, level-triggered) and hands each ready
//! connection to its state machine ([`connection`](super::connection)),
//! then watches the socket for what the connection waits on next. Nothing
//! waits for a client: idle, silent, trickling and slow-reading clients
//! cost a slot in a table, not a thread.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use super::connection::{Connection, Context, Interest};
use super::listener;
use super::outgoing::Outgoing;
use super::pool::{Mail, Pool};
use super::read;
use super::{AccessLogFormat, ServerConfig, Shared};
use crate::shortage;
use crate::{Error, Handler};

/// The listener's key (`polling` keeps `usize::MAX` for itself);
/// connections use their slot index.
const LISTENER: usize = usize::MAX - 1;
/// How often deadlines are checked; their resolution.
const TICK: Duration = Duration::from_millis(100);
/// Most connections one loop accepts per wake-up, so that a burst of new
/// connections cannot starve the open ones.
const ACCEPT_BATCH: usize = 64;
/// How many connections above an even share a loop may hold before it
/// leaves new ones to the other loops.
const SHARE_SLACK: usize = 2;
/// How long a new connection may take to send its first request before a
/// shutdown counts it as idle.
const FRESH: Duration = Duration::from_secs(1);
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A connection and what its socket is watched for.
struct Slot {
    conn: Connection,
    watching: Interest,
}

/// Connections by key, reusing freed keys.
#[derive(Default)]
struct Slots {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
}

impl Slots {
    /// How many connections the slots hold.
    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn insert(&mut self, slot: Slot) -> usize {
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
    pool: &'a Arc<Pool<H>>,
    /// This loop's number: where the pool posts its replies.
    index: usize,
    slots: Slots,
    /// The id of the next connection (ids are unique per loop).
    next_id: u64,
    /// A descriptor kept free to answer `503` when the process has no
    /// other left.
    spare: Option<std::fs::File>,

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
    pool: &Arc<Pool<H>>,
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
        pool,
        index,
        slots: Slots::default(),
        next_id: 0,
        spare: spare(),

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
            self.deliver(now);
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
                if self.draining_until.is_none() {
                    let listening_until = self.hand_over(now);
                    // Read again: deciding took time, and without
                    // `SO_REUSEPORT` the decision is to close now.
                    let now = Instant::now();
                    if listening_until.is_some_and(|until| now >= until) {
                        self.stop_listening(now);
                        self.draining_until = Some(now + self.config.shutdown_grace());
                    }
                }
                self.close_idle(now);
                if let Some(until) = self.draining_until
                    && (self.slots.len() == 0 || now >= until)
                {
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
        if self.draining_until.is_some() {
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
            if loops > 1 && self.slots.len() > share && !self.deferred {
                self.deferred = true;
                break;
            }
            self.deferred = false;
            let (stream, peer) = match listener::accept(self.listener) {
                Ok((_, peer)) if self.shared.handover.claims_probe(peer) => continue,
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if transient(&e) => continue,
                // Another loop has closed the listener.
                Err(e) if self.shared.stopping() && e.raw_os_error() == Some(libc::EINVAL) => {
                    return Ok(());
                }
                Err(e) => {
                    // Out of descriptors (or memory): answer the waiting
                    // client 503 with the spare descriptor, so it retries
                    // rather than waits, and pause instead of spinning on a
                    // listener that stays readable.
                    shortage::note(&e);
                    self.refuse_with_spare();
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return Ok(());
                }
            };
            self.admit(stream, peer, now);
        }
        self.poller
            .modify(self.listener, Event::readable(LISTENER))?;
        Ok(())
    }

    /// Takes an accepted connection in (or refuses it with `503` at the
    /// cap); its key.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> Option<usize> {
        if self.shared.open.load(Ordering::Acquire) >= self.config.max_connections() {
            log::debug!(
                "refusing {peer}: {} connections open",
                self.config.max_connections()
            );
            refuse_busy(
                &stream,
                peer,
                &mut self.scratch,
                self.config.access_log_format(),
            );
            return None;
        }
        let fd = stream.as_raw_fd();
        let deadline = now + self.config.timeout();
        let id = self.next_id;
        self.next_id += 1;
        let conn = Connection::accepted(stream, peer, id, Arc::clone(self.shared), deadline);
        let key = self.slots.insert(Slot {
            conn,
            watching: Interest::Read,
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
            return None;
        }
        Some(key)
    }

    /// In a shutdown: until when to go on accepting (see
    /// [`handover`](super::handover)), `None` while another loop decides;
    /// serves what was accepted meanwhile. Asked each turn until it is
    /// time to close: the first answer is decided once and kept there.
    fn hand_over(&mut self, now: Instant) -> Option<Instant> {
        let shared = self.shared;
        let mut taken = Vec::new();
        let until = shared.handover.listen_until(
            self.listener,
            self.config.reuse_port(),
            self.config.shutdown_grace(),
            |stream, peer| taken.push((stream, peer)),
        );
        for (stream, peer) in taken {
            if let Some(key) = self.admit(stream, peer, now) {
                self.ready(key, now);
            }
        }
        until
    }

    /// Once done accepting in a shutdown: takes the connections the kernel has
    /// queued and answers what they have sent, then closes the listener.
    /// A client that reached this process gets an answer rather than a
    /// reset; later ones are refused, or, with `SO_REUSEPORT`, go to the
    /// process that took over.
    fn stop_listening(&mut self, now: Instant) {
        let _ = self.poller.delete(self.listener);
        // Take them all first and answer after the close: a connection that
        // comes while one is being answered would be in the queue the close
        // resets.
        let mut taken = Vec::new();
        while let Ok((stream, peer)) = listener::accept(self.listener) {
            taken.extend(self.admit(stream, peer, now));
        }
        if let Err(e) = socket2::SockRef::from(self.listener).shutdown(Shutdown::Both) {
            // Another loop shut it first.
            log::debug!("closing the listening socket: {e}");
        }
        for key in taken {
            self.ready(key, now);
        }
    }

    /// Moves a connection on after the poller says its socket is ready.
    fn ready(&mut self, key: usize, now: Instant) {
        self.step(key, now, Connection::on_ready);
    }

    /// Lets connection `key` take a step with the loop's context, then
    /// watches its socket for what it waits on next.
    fn step(
        &mut self,
        key: usize,
        now: Instant,
        step: impl FnOnce(&mut Connection, &mut Context<'_, H>),
    ) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let mut cx = Context {
            handler: self.handler,
            pool: self.pool,
            config: self.config,
            shared: self.shared,
            scratch: &mut self.scratch,
            now,
            lp: self.index,
            key,
        };
        step(&mut slot.conn, &mut cx);
        self.watch(key);
    }

    /// Hands what the worker pool posted to the connections it is for:
    /// responses, and streams with chunks ready. A connection closed
    /// meanwhile (its key perhaps reused) is not given another's mail.
    fn deliver(&mut self, now: Instant) {
        let Some(mailbox) = self.shared.mailboxes.get(self.index) else {
            return;
        };
        for mail in mailbox.take() {
            let (to, reply) = match mail {
                Mail::Reply(to, response) => (to, Some(response)),
                Mail::Ready(to) => (to, None),
            };
            let addressed = self
                .slots
                .get_mut(to.key)
                .is_some_and(|s| s.conn.id() == to.id);
            if !addressed {
                continue;
            }
            match reply {
                Some(response) => self.step(to.key, now, |conn, cx| conn.on_reply(response, cx)),
                None => self.step(to.key, now, Connection::on_ready),
            }
        }
    }

    /// Watches a connection's socket for what it waits on now, or closes
    /// it if it is done.
    fn watch(&mut self, key: usize) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let Some(interest) = slot.conn.interest() else {
            return self.close(key);
        };
        if interest == slot.watching {
            return;
        }
        // While waiting, the socket reports only a hang-up or an error
        // (epoll reports those whatever is asked), once: level-triggered,
        // it would report it on every turn until the pool replies.
        let (event, mode) = match interest {
            Interest::Read => (Event::readable(key), PollMode::Level),
            Interest::Write => (Event::writable(key), PollMode::Level),
            Interest::Wait => (Event::none(key), PollMode::Oneshot),
        };
        let watched = self
            .poller
            .modify_with_mode(slot.conn.stream(), event, mode);
        slot.watching = interest;
        if watched.is_err() {
            self.close(key);
        }
    }

    /// Lets every connection see the time, so that those past their
    /// deadlines are closed (or answered `408`); resumes accepting after a
    /// pause.
    fn sweep(&mut self, now: Instant) -> Result<(), Error> {
        for key in 0..self.slots.slots.len() {
            self.step(key, now, Connection::on_tick);
        }
        if self.spare.is_none() {
            self.spare = spare();
        }
        // Not once shutdown has removed the listener from the poller.
        if self.draining_until.is_none() && self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            self.poller
                .modify(self.listener, Event::readable(LISTENER))?;
        }
        Ok(())
    }

    /// Gives up the spare descriptor to accept one waiting connection and
    /// answer it `503`, then takes the spare back.
    fn refuse_with_spare(&mut self) {
        if self.spare.take().is_some() {
            if let Ok((stream, peer)) = listener::accept(self.listener) {
                refuse_busy(
                    &stream,
                    peer,
                    &mut self.scratch,
                    self.config.access_log_format(),
                );
            }
        }
        // Another thread may have taken the descriptor freed: then the next
        // shortage tries again.
        self.spare = spare();
    }

    /// Closes every connection but those still receiving a response or
    /// finishing their close (at shutdown).
    fn close_idle(&mut self, now: Instant) {
        for key in 0..self.slots.slots.len() {
            // A connection accepted a moment ago has its request on the
            // way: closing it would reset the request (measured: bursts of
            // resets at each handover of a port).
            let finishing = self
                .slots
                .get_mut(key)
                .is_some_and(|slot| slot.conn.finishing() || slot.conn.just_opened(now, FRESH));
            if !finishing {
                self.close(key);
            }
        }
    }

    /// Stops watching a connection and closes it.
    fn close(&mut self, key: usize) {
        if let Some(mut slot) = self.slots.remove(key) {
            let _ = self.poller.delete(slot.conn.stream());
            slot.conn.close();
        }
    }
}

/// Answers a connection over the cap with `503` and closes it, without
/// keeping it: reads what its request has sent so far, so that closing
/// does not reset the connection before the client sees the answer.
fn refuse_busy(stream: &TcpStream, peer: SocketAddr, scratch: &mut [u8], format: AccessLogFormat) {
    let mut out = Outgoing::refusal(http::StatusCode::SERVICE_UNAVAILABLE, peer, format);
    let mut drained = 0;
    read::drain(stream, scratch, &mut drained);
    // Small, into an empty socket buffer: if it does not fit at once, the
    // client was not listening.
    let _ = out.advance(stream);
    out.log();
    let _ = stream.shutdown(Shutdown::Write);
    read::drain(stream, scratch, &mut drained);
}

/// A descriptor held in reserve, for the moment all others are used.
fn spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
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
