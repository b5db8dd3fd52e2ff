//! A request between its head and its response, as its connection keeps
//! it: what answering it needs (the exchange), and its body arriving,
//! decoded as it comes and paced like a response.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::EXPECT;
use http::{Method, Version};

use std::net::SocketAddr;

use super::access_log::{AccessEntry, AccessLogFormat};
use super::outgoing::rate_deadline;
use crate::http1::{BodyDecoder, BodyFraming};
use crate::{Request, RequestError};

/// What a connection remembers about a request until its response is out.
pub(super) struct Exchange {
    /// What the access log is to say of it (`None` when it is off).
    pub log: Option<AccessEntry>,
    pub head_only: bool,
    /// The client may keep the connection (as far as the request goes).
    pub keep_alive: bool,
    /// The client reads chunked bodies (HTTP/1.1).
    pub chunked: bool,
    /// Body bytes that were never read and may still arrive.
    pub unread_body: bool,
    /// Body bytes to drop after the response, to keep the connection.
    pub body_left: u64,
}

impl Exchange {
    pub fn new<B>(
        req: &http::Request<B>,
        keep_alive: bool,
        peer: SocketAddr,
        format: AccessLogFormat,
    ) -> Exchange {
        Exchange {
            log: AccessEntry::for_request(req, peer, format),
            head_only: req.method() == Method::HEAD,
            keep_alive,
            chunked: req.version() >= Version::HTTP_11,
            unread_body: false,
            body_left: 0,
        }
    }
}

impl Exchange {
    /// Plans for a body the handler does not read, framed as `framing`,
    /// whose first bytes may be in `buf`: a small one (up to `max_discard`)
    /// is dropped, what has arrived now and the rest after the response, as
    /// it comes, so that nothing waits for it; a larger or chunked one is
    /// answered and the connection closed. `expects` says the client waits
    /// for `100 Continue`.
    pub fn skip_body(
        &mut self,
        framing: BodyFraming,
        buf: &mut Vec<u8>,
        max_discard: u64,
        expects: bool,
    ) {
        match framing {
            BodyFraming::None => {}
            BodyFraming::Length(n) if n <= max_discard => {
                let here = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                buf.drain(..here);
                self.body_left = n - here as u64;
                // A client waiting for 100 Continue that gets a final
                // status may never send the body: what it sends next would
                // be taken for body bytes. Close instead of guessing.
                if self.body_left > 0 && expects {
                    self.keep_alive = false;
                    self.unread_body = true;
                    self.body_left = 0;
                }
            }
            _ => {
                self.keep_alive = false;
                self.unread_body = true;
            }
        }
    }
}

/// Whether the client waits for `100 Continue` before it sends the body
/// (RFC 9110 section 10.1.1; an HTTP/1.0 client's expectation is ignored).
fn expects_continue<B>(req: &http::Request<B>) -> bool {
    req.version() >= Version::HTTP_11
        && req
            .headers()
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// A request whose body is arriving, for a handler that reads it.
pub(super) struct Incoming {
    request: Request,
    decoder: BodyDecoder,
    body: Vec<u8>,
    /// The handler may block (it runs on the pool).
    blocking: bool,
    exchange: Exchange,
    started: Instant,
    last_progress: Instant,
    received: u64,
    /// The client waits for `100 Continue` before it sends the body.
    expects_continue: bool,
}

impl Incoming {
    pub fn new(
        request: Request,
        decoder: BodyDecoder,
        blocking: bool,
        exchange: Exchange,
        now: Instant,
    ) -> Incoming {
        Incoming {
            expects_continue: expects_continue(&request),
            request,
            decoder,
            body: Vec::new(),
            blocking,
            exchange,
            started: now,
            last_progress: now,
            received: 0,
        }
    }

    /// Decodes what `bytes` holds of the body; how many of them it took
    /// (fewer than all once the body is complete).
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Result<usize, RequestError> {
        let used = self.decoder.decode(bytes, &mut self.body)?;
        if used > 0 {
            self.received += used as u64;
            self.last_progress = now;
        }
        Ok(used)
    }

    pub fn is_done(&self) -> bool {
        self.decoder.is_done()
    }

    /// Whether `100 Continue` is still to be sent; `true` once at most.
    pub fn take_expectation(&mut self) -> bool {
        std::mem::take(&mut self.expects_continue)
    }

    /// When the client has sent too slowly: the rule responses are held to.
    pub fn deadline(&self, timeout: Duration, min_rate: u64) -> Instant {
        rate_deadline(
            self.started,
            self.last_progress,
            self.received,
            timeout,
            min_rate,
        )
    }

    /// The request with its body, and what answering it needs.
    pub fn finish(self) -> (Request, Exchange, bool) {
        let body = Bytes::from(self.body);
        let request = self.request.map(|_| body);
        (request, self.exchange, self.blocking)
    }
}
