//! Answering the requests a connection has sent: parse each head, run the
//! handler, write as much of the response as the socket takes at once.
//! Called on the event-loop thread that owns the connection; it never waits
//! for the client.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http::{Method, StatusCode};

use super::conn::{Conn, Fill};
use super::outgoing::{AccessEntry, Outgoing, Progress, access_log_enabled};
use super::{After, ServerConfig};
use crate::http1::{self, BodyFraming, HeadLimits, WriteOptions};
use crate::{ClientAddr, Handler, RequestError, response};

/// What a connection waits for after [`serve`].
pub(super) enum Outcome {
    /// Its next request.
    Idle,
    /// The rest of a head, due by the deadline.
    Head(Instant),
    /// Room in the socket for the rest of a response, then `After`.
    Write(Box<Outgoing>, After),
    /// This many more body bytes, to drop before its next request.
    Body(u64),
    /// Its peer's close, after our side is shut.
    Linger,
    /// Nothing: close it.
    Close,
}

/// Answers every complete request in `conn`'s buffer, in order.
/// `head_deadline` is when the head being read must be complete.
pub(super) fn serve<H: Handler>(
    conn: &mut Conn,
    head_deadline: Instant,
    handler: &H,
    config: &ServerConfig,
    stopping: &AtomicBool,
) -> Outcome {
    let limits = HeadLimits::new(config.max_head_size(), config.chunk_size());
    let mut head_deadline = head_deadline;
    loop {
        let (out, after) = match http1::parse_head(&conn.buf, &limits) {
            Ok(Some(head)) => {
                conn.buf.drain(..head.len);
                let (out, after) = answer(conn, head, handler, config, stopping);
                (Some(out), after)
            }
            Ok(None) if conn.buf.is_empty() => return Outcome::Idle,
            Ok(None) if Instant::now() < head_deadline => return Outcome::Head(head_deadline),
            Ok(None) => (refuse(conn, &RequestError::Timeout), After::Linger),
            Err(e) => (refuse(conn, &e), After::Linger),
        };
        let Some(mut out) = out else {
            return Outcome::Close;
        };
        match out.advance(&conn.stream) {
            Ok(Progress::Done) => out.log(),
            // The client reads slowly: the event loop writes the rest.
            Ok(Progress::Blocked) => return Outcome::Write(Box::new(out), after),
            Err(e) => {
                out.log();
                log::debug!("writing to {}: {e}", conn.peer);
                return Outcome::Close;
            }
        }
        match after {
            // A pipelined request may be waiting in the buffer already.
            After::Idle if !stopping.load(Ordering::Acquire) => {}
            After::Idle | After::Close => return close_quietly(conn),
            After::SkipBody(left) => return Outcome::Body(left),
            After::Linger => return Outcome::Linger,
        }
        head_deadline = Instant::now() + config.timeout();
    }
}

/// How to close a connection whose last response is out: at once if the
/// client has sent nothing more (as nginx does), else lingering, since
/// closing on unread bytes resets the connection and can destroy the
/// response on its way.
pub(super) fn close_quietly(conn: &mut Conn) -> Outcome {
    if !conn.buf.is_empty() {
        return Outcome::Linger;
    }
    match conn.fill(1, 1) {
        Ok(Fill::Empty) | Ok(Fill::Eof) | Err(_) => Outcome::Close,
        Ok(Fill::Data) => Outcome::Linger,
    }
}

/// Runs the handler on a parsed request and encodes its response; says
/// what the connection does once the response is out.
fn answer<H: Handler>(
    conn: &mut Conn,
    head: http1::RequestHead,
    handler: &H,
    config: &ServerConfig,
    stopping: &AtomicBool,
) -> (Outgoing, After) {
    let mut keep_alive = head.keep_alive;
    let mut unread_body = false;
    let mut body_left = 0;
    match head.body {
        BodyFraming::None => {}
        // A small body is dropped: what has arrived now, the rest by the
        // event loop after the response, so no worker waits for a body.
        BodyFraming::Length(n) if n <= config.max_discard() => {
            let here = conn.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            conn.buf.drain(..here);
            body_left = n - here as u64;
            // A client waiting for 100 Continue that gets a final status
            // may never send the body: what it sends next would be taken
            // for body bytes. Close instead of guessing.
            if body_left > 0 && head.request.headers().contains_key(http::header::EXPECT) {
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
    request.extensions_mut().insert(ClientAddr(conn.peer));
    let peer = conn.peer;
    let resp = catch_unwind(AssertUnwindSafe(|| handler.handle(request))).unwrap_or_else(|_| {
        log::error!("handler panicked on a request from {peer}");
        response::status_page(StatusCode::INTERNAL_SERVER_ERROR)
    });
    // Read the flag after the handler: a shutdown may have begun meanwhile.
    keep_alive &=
        !http1::connection_has(resp.headers(), "close") && !stopping.load(Ordering::Acquire);
    let status = resp.status();
    let encoded = http1::encode(resp, WriteOptions::new(head_only, keep_alive));
    let log = line.map(|line| AccessEntry {
        peer,
        line: Some(line),
        status,
    });
    let after = match (keep_alive, body_left) {
        (true, 0) => After::Idle,
        (true, left) => After::SkipBody(left),
        // Closing with anything unread would reset the connection and could
        // destroy the response: linger when the client may still be sending.
        (false, _) if unread_body || body_left > 0 || !conn.buf.is_empty() => After::Linger,
        (false, _) => After::Close,
    };
    (Outgoing::new(encoded, log), after)
}

/// The response to a request that could not be read, if the client can
/// still hear one.
fn refuse(conn: &Conn, e: &RequestError) -> Option<Outgoing> {
    log::debug!("bad request from {}: {e}", conn.peer);
    let status = e.status()?;
    let encoded = http1::encode(
        response::status_page(status),
        WriteOptions::new(false, false),
    );
    let log = access_log_enabled().then_some(AccessEntry {
        peer: conn.peer,
        line: None,
        status,
    });
    Some(Outgoing::new(encoded, log))
}
