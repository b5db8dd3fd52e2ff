//! A client connection and everything that can happen to it, in one state
//! machine: a head arriving, a request answered, a response going out to a
//! slow reader, a body dropped, idling between requests, lingering before
//! the close. The event loop owns the socket's registration and the clock;
//! it calls [`Connection::on_ready`] when the socket is ready and
//! [`Connection::on_tick`] as time passes, then asks
//! [`Connection::interest`] what to wait for next.
//!
//! Every socket is non-blocking from accept to close, and nothing here
//! waits on one. The connection's read buffer is its own: requests are
//! parsed from it in order, so pipelined requests are answered in turn.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::header::EXPECT;
use http::{Method, StatusCode};

use super::outgoing::{AccessEntry, Outgoing, Progress, access_log_enabled};
use super::{ServerConfig, Shared};
use crate::http1::{self, BodyFraming, HeadLimits, RequestHead, WriteOptions};
use crate::{ClientAddr, Handler, RequestError, response};

/// How long a closing connection is drained, and how much of it.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// What the event loop waits for on a connection's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interest {
    Read,
    Write,
}

/// What the event loop lends a connection for one step: the handler, the
/// configuration, the server's shared state, a scratch buffer, the time.
pub(super) struct Context<'a, H> {
    pub handler: &'a H,
    pub config: &'a ServerConfig,
    pub shared: &'a Shared,
    pub scratch: &'a mut [u8],
    pub now: Instant,
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
        shared: Arc<Shared>,
        deadline: Instant,
    ) -> Connection {
        shared.open.fetch_add(1, Ordering::AcqRel);
        Connection {
            stream,
            peer,
            buf: Vec::new(),
            state: State::Head { deadline },
            shared,
        }
    }

    /// The socket, for the poller.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// What to wait for next; `None` once it is closed.
    pub fn interest(&self) -> Option<Interest> {
        match self.state {
            State::Write { .. } => Some(Interest::Write),
            State::Closed => None,
            _ => Some(Interest::Read),
        }
    }

    /// Whether it is finishing a response or its close, which a shutdown
    /// lets it do.
    pub fn finishing(&self) -> bool {
        matches!(self.state, State::Write { .. } | State::Linger { .. })
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
            State::Idle { .. } | State::Head { .. } => match self.fill(cx.config) {
                Ok(true) => self.answer(cx),
                Ok(false) => {}
                Err(_) => self.state = State::Closed,
            },
            State::Discard { left, .. } => match skip(&self.stream, cx.scratch, left) {
                // The next request may already be waiting behind the body;
                // the level-triggered poller reports it at once if so.
                Ok(true) => self.keep_alive(cx),
                Ok(false) => {}
                Err(_) => self.state = State::Closed,
            },
            State::Linger { drained, .. } => {
                if !drain(&self.stream, cx.scratch, drained) {
                    self.state = State::Closed;
                }
            }
            State::Write { .. } => {
                self.write(cx);
                // Pipelined requests may wait in the buffer, with no new
                // bytes to wake the poller: answer them now.
                if self.has_pipelined() {
                    self.answer(cx);
                }
            }
            State::Closed => {}
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
            State::Write { out, .. } => {
                cx.now >= out.deadline(cx.config.timeout(), cx.config.min_send_rate())
            }
            State::Closed => false,
        };
        if !expired {
            return;
        }
        match &self.state {
            State::Write { .. } => log::debug!("{} reads too slowly; closing", self.peer),
            State::Head { .. } if self.buf.iter().any(|b| !b.is_ascii_whitespace()) => {
                log::debug!("request head from {} timed out", self.peer);
                self.refuse(&RequestError::Timeout);
                return self.write(cx);
            }
            _ => {}
        }
        self.close();
    }

    /// Reads what has arrived, until the socket has nothing more or the
    /// buffer holds as much as a head may take; whether anything came.
    /// The end of the stream with nothing new is an error.
    fn fill(&mut self, config: &ServerConfig) -> io::Result<bool> {
        let (chunk, cap) = (
            config.chunk_size(),
            config.max_head_size() + config.chunk_size(),
        );
        let mut got = false;
        while self.buf.len() < cap {
            match http1::read_more(&mut &self.stream, &mut self.buf, chunk) {
                Ok(0) if got => return Ok(true),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                // A short read drained the socket; a full one may not have.
                Ok(n) if n < chunk => return Ok(true),
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
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
                Ok(None) => self.refuse(&RequestError::Timeout),
                Err(e) => self.refuse(&e),
            }
            self.write(cx);
            if !self.has_pipelined() {
                return;
            }
        }
    }

    /// Runs the handler on a parsed request and starts its response.
    fn respond<H: Handler>(&mut self, head: RequestHead, cx: &mut Context<'_, H>) {
        let mut keep_alive = head.keep_alive;
        let mut unread_body = false;
        let mut body_left = 0;
        match head.body {
            BodyFraming::None => {}
            // A small body is dropped: what has arrived now, the rest after
            // the response, as it comes, so that nothing waits for it.
            BodyFraming::Length(n) if n <= cx.config.max_discard() => {
                let here = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                self.buf.drain(..here);
                body_left = n - here as u64;
                // A client waiting for 100 Continue that gets a final
                // status may never send the body: what it sends next would
                // be taken for body bytes. Close instead of guessing.
                if body_left > 0 && head.request.headers().contains_key(EXPECT) {
                    keep_alive = false;
                    unread_body = true;
                    body_left = 0;
                }
            }
            // Too big to read for nothing, or chunked: answer, then close.
            BodyFraming::Length(_) | BodyFraming::Chunked => {
                keep_alive = false;
                unread_body = true;
            }
        }

        let mut request = head.request;
        let head_only = request.method() == Method::HEAD;
        let line = access_log_enabled().then(|| {
            format!(
                "{} {} {:?}",
                request.method(),
                request.uri(),
                request.version()
            )
        });
        request.extensions_mut().insert(ClientAddr(self.peer));
        let peer = self.peer;
        let handler = cx.handler;
        let resp =
            catch_unwind(AssertUnwindSafe(|| handler.handle(request))).unwrap_or_else(|_| {
                log::error!("handler panicked on a request from {peer}");
                response::status_page(StatusCode::INTERNAL_SERVER_ERROR)
            });
        // Asked after the handler: a shutdown may have begun meanwhile.
        keep_alive &= !http1::connection_has(resp.headers(), "close") && !cx.stopping();
        let status = resp.status();
        let encoded = http1::encode(resp, WriteOptions::new(head_only, keep_alive));
        let log = line.map(|line| AccessEntry {
            peer,
            line: Some(line),
            status,
        });
        let then = match (keep_alive, body_left) {
            (true, 0) => Then::KeepAlive,
            (true, left) => Then::Discard(left),
            // Closing with anything unread would reset the connection and
            // could destroy the response: linger when the client may still
            // be sending.
            (false, _) if unread_body || body_left > 0 || !self.buf.is_empty() => Then::Linger,
            (false, _) => Then::Close,
        };
        self.state = State::Write {
            out: Box::new(Outgoing::new(encoded, log)),
            then,
        };
    }

    /// Starts the answer to a request that could not be read, then a close;
    /// or closes at once if the client can hear no answer.
    fn refuse(&mut self, e: &RequestError) {
        log::debug!("bad request from {}: {e}", self.peer);
        self.state = match e.status() {
            Some(status) => State::Write {
                out: Box::new(Outgoing::refusal(status, self.peer)),
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
            Ok(Progress::Blocked) => {}
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

/// Reads and drops what a closing connection sends; `false` once it is
/// done (end of file, an error, or enough drained).
pub(super) fn drain(stream: &TcpStream, scratch: &mut [u8], drained: &mut usize) -> bool {
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
fn skip(stream: &TcpStream, scratch: &mut [u8], left: &mut u64) -> io::Result<bool> {
    while *left > 0 {
        let want = scratch
            .len()
            .min(usize::try_from(*left).unwrap_or(usize::MAX));
        match (&*stream).read(&mut scratch[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => *left -= n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
