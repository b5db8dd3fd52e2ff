//! A client connection and everything that can happen to it, in one state
//! machine: a head arriving, a body arriving for a handler, a request with
//! the worker pool, a response going out to a slow reader (or waiting for
//! its stream's producer), a body dropped, idling between requests,
//! lingering before the close. The event loop owns the socket's registration and the clock;
//! it calls [`Connection::on_ready`] when the socket is ready and
//! [`Connection::on_tick`] as time passes, then asks
//! [`Connection::interest`] what to wait for next.
//!
//! From a parsed head to a response under way (body, handler, pool) is in
//! `handling`; the states and their transitions are here.
//!
//! Every socket is non-blocking from accept to close, and nothing here
//! waits on one. The connection's read buffer is its own: requests are
//! parsed from it in order, so pipelined requests are answered in turn.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::outgoing::{Outgoing, Progress};
use super::pool::Pool;
use super::read;
use super::request::{Exchange, Incoming};
use super::{ServerConfig, Shared};
use crate::http1::{self, HeadLimits};
use crate::{Handler, RequestError, Response};

mod handling;

/// How long a closing connection is drained.
const LINGER_TIME: Duration = Duration::from_secs(1);

/// What the event loop waits for on a connection's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interest {
    Read,
    Write,
    /// Nothing from the socket: the worker pool will post to the loop.
    Wait,
}

/// What the event loop lends a connection for one step: the handler and
/// the pool, the configuration, the server's shared state, a scratch
/// buffer, the time, and where the connection sits (loop and key).
pub(super) struct Context<'a, H> {
    pub handler: &'a H,
    pub pool: &'a Arc<Pool<H>>,
    pub config: &'a ServerConfig,
    pub shared: &'a Arc<Shared>,
    pub scratch: &'a mut [u8],
    pub now: Instant,
    pub lp: usize,
    pub key: usize,
}

impl<H> Context<'_, H> {
    fn stopping(&self) -> bool {
        self.shared.stopping()
    }
}

enum State {
    /// Between requests on a kept-alive connection.
    Idle { deadline: Instant },
    /// A head is arriving (or, on a new connection, expected), due by the
    /// deadline.
    Head { deadline: Instant },
    /// A request's body is arriving, for its handler.
    Body(Box<Incoming>),
    /// A request is with the worker pool; its response will be posted.
    Handling(Box<Exchange>),
    /// The rest of an answered request's body is arriving, to be dropped.
    Discard { deadline: Instant, left: u64 },
    /// A response on its way out, and what follows it.
    Write { out: Box<Outgoing>, then: Then },
    /// Closing: our side is shut, the client's bytes are read and dropped
    /// until it closes too.
    Linger { deadline: Instant, drained: usize },
    /// Finished: the event loop drops it.
    Closed,
}

/// What a connection does once its response is out.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Reads the next request.
    KeepAlive,
    /// Drops this many body bytes still to come, then reads on.
    Discard(u64),
    /// Closes, draining what the client still sends.
    Linger,
    /// Closes: at once if the client has sent nothing more, else lingering.
    Close,
}

/// An open client connection. Dropping it closes the socket and counts it
/// as closed; the event loop removes it from its poller first.
pub(super) struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Unique for the server's life: replies find it by this, since keys
    /// are reused.
    id: u64,
    opened: Instant,
    /// Bytes read and not yet used: the start of a head, pipelined requests.
    buf: Vec<u8>,
    state: State,
    shared: Arc<Shared>,
}

impl Connection {
    /// A connection just accepted, counted as open until dropped, expecting
    /// a head by `timeout` from now.
    pub fn accepted(
        stream: TcpStream,
        peer: SocketAddr,
        id: u64,
        shared: Arc<Shared>,
        deadline: Instant,
    ) -> Connection {
        shared.open.fetch_add(1, Ordering::AcqRel);
        Connection {
            stream,
            peer,
            id,
            opened: Instant::now(),
            buf: Vec::new(),
            state: State::Head { deadline },
            shared,
        }
    }

    /// The socket, for the poller.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// What to wait for next; `None` once it is closed.
    pub fn interest(&self) -> Option<Interest> {
        match &self.state {
            State::Write { out, .. } if out.waiting() => Some(Interest::Wait),
            State::Write { .. } => Some(Interest::Write),
            State::Handling(_) => Some(Interest::Wait),
            State::Closed => None,
            _ => Some(Interest::Read),
        }
    }

    /// Whether it was accepted less than `within` ago and has sent nothing
    /// yet: its first request is likely on the way.
    pub fn just_opened(&self, now: Instant, within: Duration) -> bool {
        matches!(self.state, State::Head { .. })
            && self.buf.is_empty()
            && now.saturating_duration_since(self.opened) < within
    }

    /// Whether it is in the middle of a request (its body, its handler,
    /// its response) or of its close, which a shutdown lets it finish.
    pub fn finishing(&self) -> bool {
        matches!(
            self.state,
            State::Body(_) | State::Handling(_) | State::Write { .. } | State::Linger { .. }
        )
    }

    /// Closes it now; a response cut short is logged with what it got.
    pub fn close(&mut self) {
        if let State::Write { out, .. } = &self.state {
            out.log();
        }
        self.state = State::Closed;
    }

    /// The socket is ready for what [`interest`](Connection::interest) asked.
    pub fn on_ready<H: Handler>(&mut self, cx: &mut Context<'_, H>) {
        match &mut self.state {
            State::Idle { .. } | State::Head { .. } => match self.fill(cx) {
                Ok(true) => self.answer(cx),
                Ok(false) => {}
                Err(_) => self.state = State::Closed,
            },
            State::Discard { left, .. } => match read::skip(&self.stream, cx.scratch, left) {
                // The next request may already be waiting behind the body;
                // the level-triggered poller reports it at once if so.
                Ok(true) => self.keep_alive(cx),
                Ok(false) => {}
                Err(_) => self.state = State::Closed,
            },
            State::Linger { drained, .. } => {
                if !read::drain(&self.stream, cx.scratch, drained) {
                    self.state = State::Closed;
                }
            }
            State::Body(_) => {
                self.read_body(cx);
                self.proceed(cx);
            }
            // The socket said something while the response is awaited
            // from the pool: a hang-up, or pipelined bytes to keep.
            State::Handling(_) => {
                if self.fill(cx).is_err() {
                    self.state = State::Closed;
                }
            }
            State::Write { .. } => self.proceed(cx),
            State::Closed => {}
        }
    }

    /// The handler's `response` is back from the pool.
    pub fn on_reply<H: Handler>(&mut self, response: Response, cx: &mut Context<'_, H>) {
        if !matches!(self.state, State::Handling(_)) {
            log::error!("a reply for connection {} came unasked", self.id);
            return;
        }
        let State::Handling(exchange) = std::mem::replace(&mut self.state, State::Closed) else {
            return;
        };
        self.start_response(response, *exchange, cx);
        self.proceed(cx);
    }

    /// Writes what the response has for the socket; then, if requests wait
    /// in the buffer with no new bytes to wake the poller, answers them.
    fn proceed<H: Handler>(&mut self, cx: &mut Context<'_, H>) {
        self.write(cx);
        if self.has_pipelined() {
            self.answer(cx);
        }
    }

    /// Time has passed: a connection past its deadline is closed, and a
    /// head that did not arrive in time gets `408` first.
    pub fn on_tick<H: Handler>(&mut self, cx: &mut Context<'_, H>) {
        let expired = match &self.state {
            State::Idle { deadline }
            | State::Head { deadline }
            | State::Discard { deadline, .. }
            | State::Linger { deadline, .. } => cx.now >= *deadline,
            State::Body(incoming) => {
                cx.now >= incoming.deadline(cx.config.timeout(), cx.config.min_send_rate())
            }
            State::Write { out, .. } => {
                cx.now >= out.deadline(cx.config.timeout(), cx.config.min_send_rate())
            }
            // The handler's time is not the client's.
            State::Handling(_) | State::Closed => false,
        };
        if !expired {
            return;
        }
        match &self.state {
            State::Write { .. } => log::debug!("{} reads too slowly; closing", self.peer),
            State::Head { .. } if self.buf.iter().any(|b| !b.is_ascii_whitespace()) => {
                log::debug!("request head from {} timed out", self.peer);
                self.refuse(&RequestError::Timeout, cx);
                return self.write(cx);
            }
            State::Body(_) => {
                log::debug!("request body from {} timed out", self.peer);
                self.refuse(&RequestError::Timeout, cx);
                return self.write(cx);
            }
            _ => {}
        }
        self.close();
    }

    /// Reads what has arrived into the buffer, as much as a head may take;
    /// whether anything came.
    fn fill<H>(&mut self, cx: &mut Context<'_, H>) -> io::Result<bool> {
        let (chunk, cap) = (cx.config.chunk_size(), cx.config.max_head_size());
        read::fill(&self.stream, &mut self.buf, cx.scratch, chunk, cap + chunk)
    }

    /// Answers the complete requests in the buffer, in order, writing each
    /// response as far as the socket takes it; stops at one that must wait
    /// for the client (more of a head, room in the socket).
    fn answer<H: Handler>(&mut self, cx: &mut Context<'_, H>) {
        let limits = HeadLimits::new(cx.config.max_head_size(), cx.config.chunk_size());
        loop {
            let deadline = match self.state {
                State::Head { deadline } => deadline,
                _ => cx.now + cx.config.timeout(),
            };
            match http1::parse_head(&self.buf, &limits) {
                Ok(Some(head)) => {
                    self.buf.drain(..head.len);
                    self.respond(head, cx);
                }
                Ok(None) if self.buf.is_empty() => return self.keep_alive(cx),
                Ok(None) if cx.now < deadline => {
                    self.state = State::Head { deadline };
                    return;
                }
                Ok(None) => self.refuse(&RequestError::Timeout, cx),
                Err(e) => self.refuse(&e, cx),
            }
            self.write(cx);
            if !self.has_pipelined() {
                return;
            }
        }
    }

    /// Starts the answer to a request that could not be read, then a close;
    /// or closes at once if the client can hear no answer.
    fn refuse<H>(&mut self, e: &RequestError, cx: &Context<'_, H>) {
        log::debug!("bad request from {}: {e}", self.peer);
        self.refuse_with(e.status(), cx);
    }

    /// Starts the server's own answer `status` and a close; or closes at
    /// once for `None`.
    fn refuse_with<H>(&mut self, status: Option<StatusCode>, cx: &Context<'_, H>) {
        let format = cx.config.access_log_format();
        self.state = match status {
            Some(status) => State::Write {
                out: Box::new(Outgoing::refusal(status, self.peer, format)),
                then: Then::Linger,
            },
            None => State::Closed,
        };
    }

    /// Writes as much of the response as the socket takes now; once it is
    /// all out, moves on to what follows it. This is the one place where a
    /// response's end decides the connection's next state.
    fn write<H>(&mut self, cx: &mut Context<'_, H>) {
        let State::Write { out, then } = &mut self.state else {
            return;
        };
        match out.advance(&self.stream) {
            Ok(Progress::Blocked | Progress::Waiting) => {}
            Ok(Progress::Done) => {
                out.log();
                match *then {
                    // The client may still be sending what was never read.
                    Then::Linger => self.linger(cx),
                    _ if cx.stopping() => self.close_quietly(cx),
                    Then::KeepAlive => self.keep_alive(cx),
                    Then::Discard(left) => {
                        let deadline = cx.now + cx.config.timeout();
                        self.state = State::Discard { deadline, left };
                    }
                    Then::Close => self.close_quietly(cx),
                }
            }
            Err(e) => {
                out.log();
                log::debug!("writing to {}: {e}", self.peer);
                self.state = State::Closed;
            }
        }
    }

    /// Waits for the next request: idle, or, if it has begun to arrive
    /// already, reading its head.
    fn keep_alive<H>(&mut self, cx: &Context<'_, H>) {
        if self.buf.is_empty() {
            // Idle connections cost no heap beyond their own record.
            self.buf = Vec::new();
            let deadline = cx.now + cx.config.keep_alive_timeout();
            self.state = State::Idle { deadline };
        } else {
            let deadline = cx.now + cx.config.timeout();
            self.state = State::Head { deadline };
        }
    }

    /// Whether requests wait in the buffer with the connection free to
    /// answer them.
    fn has_pipelined(&self) -> bool {
        matches!(self.state, State::Head { .. }) && !self.buf.is_empty()
    }

    /// Closes a connection whose last response is out: at once if the
    /// client has sent nothing more (as nginx does), else lingering, since
    /// closing on unread bytes resets the connection and can destroy the
    /// response on its way.
    fn close_quietly<H>(&mut self, cx: &Context<'_, H>) {
        let mut probe = [0u8; 1];
        let more =
            !self.buf.is_empty() || matches!((&self.stream).read(&mut probe), Ok(n) if n > 0);
        if more {
            self.linger(cx);
        } else {
            self.state = State::Closed;
        }
    }

    /// Shuts our side and drains the client's for a while.
    fn linger<H>(&mut self, cx: &Context<'_, H>) {
        self.buf = Vec::new();
        self.state = match self.stream.shutdown(Shutdown::Write) {
            Ok(()) => State::Linger {
                deadline: cx.now + LINGER_TIME,
                drained: 0,
            },
            Err(_) => State::Closed,
        };
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
    }
}
