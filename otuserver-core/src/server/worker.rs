//! The worker pool: threads that take a connection with a request head
//! ready, answer it (and whatever else the client has already sent), and
//! give the connection back to the event loop.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::header::CONNECTION;
use http::{Method, StatusCode};

use super::conn::{Conn, Fill};
use super::outgoing::{AccessEntry, Outgoing, Progress, access_log_enabled};
use super::{After, Back, ServerConfig, Shared};
use crate::http1::{self, BodyFraming, HeadLimits, WriteOptions};
use crate::{ClientAddr, Handler, RequestError, Response, response};

/// Connections waiting for a worker, in arrival order.
#[derive(Default)]
pub(super) struct Queue {
    jobs: Mutex<(VecDeque<Conn>, bool)>,
    ready: Condvar,
}

impl Queue {
    /// Adds a connection with a head ready to be read.
    pub fn push(&self, conn: Conn) {
        self.lock().0.push_back(conn);
        self.ready.notify_one();
    }

    /// The next connection, or `None` once the queue is closed and empty.
    fn pop(&self) -> Option<Conn> {
        let mut jobs = self.lock();
        loop {
            if let Some(conn) = jobs.0.pop_front() {
                return Some(conn);
            }
            if jobs.1 {
                return None;
            }
            jobs = self
                .ready
                .wait(jobs)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Drops every connection still waiting.
    pub fn clear(&self) {
        let waiting = std::mem::take(&mut self.lock().0);
        drop(waiting);
    }

    /// Lets the workers end once the queue is empty.
    pub fn close(&self) {
        self.lock().1 = true;
        self.ready.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Conn>, bool)> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The worker threads.
pub(super) struct Pool {
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn start<H: Handler>(
        handler: H,
        config: &Arc<ServerConfig>,
        shared: &Arc<Shared>,
    ) -> std::io::Result<Pool> {
        let handler = Arc::new(handler);
        let mut threads = Vec::with_capacity(config.workers);
        for n in 0..config.workers {
            let (handler, config, mine) =
                (Arc::clone(&handler), Arc::clone(config), Arc::clone(shared));
            let spawned = std::thread::Builder::new()
                .name(format!("otuserver-worker-{n}"))
                .spawn(move || work(&*handler, &config, &mine));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.queue.close();
                    Pool { threads }.join(Instant::now() + Duration::from_secs(1));
                    return Err(e);
                }
            }
        }
        Ok(Pool { threads })
    }

    /// Waits for the workers until `deadline`; those still busy then (a
    /// handler that never returns) are left to end on their own.
    pub fn join(self, deadline: Instant) {
        for t in self.threads {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !t.is_finished() {
                log::warn!("a worker is still busy at shutdown; leaving it");
                continue;
            }
            if t.join().is_err() {
                log::error!("a worker thread panicked outside a request");
            }
        }
    }
}

fn work<H: Handler>(handler: &H, config: &ServerConfig, shared: &Shared) {
    while let Some(conn) = shared.queue.pop() {
        let peer = conn.peer;
        let served = catch_unwind(AssertUnwindSafe(|| serve(conn, handler, config, shared)));
        if served.is_err() {
            log::error!("connection from {peer} panicked; the worker goes on");
        }
    }
}

/// Answers every request `conn` has ready, then hands it back to the event
/// loop (idle, mid-head, mid-response, lingering) or closes it. Never waits
/// for the client.
fn serve<H: Handler>(mut conn: Conn, handler: &H, config: &ServerConfig, shared: &Shared) {
    let limits = HeadLimits::new(config.max_head_size, config.chunk_size);
    let cap = config.max_head_size + config.chunk_size;
    // The event loop hands over a connection once a head is ready, so the
    // clock for this head is already running; a fresh one gets `timeout`.
    let mut head_deadline = Instant::now() + config.timeout;
    loop {
        let (out, after) = match http1::parse_head(&conn.buf, &limits) {
            Ok(Some(head)) => {
                conn.buf.drain(..head.len);
                answer(&mut conn, head, handler, config, shared)
            }
            Ok(None) if Instant::now() >= head_deadline => {
                (refuse(&conn, &RequestError::Timeout), After::Linger)
            }
            Ok(None) => match conn.fill(config.chunk_size, cap) {
                Ok(Fill::Data) => continue,
                Ok(Fill::Empty) if conn.buf.is_empty() => {
                    return shared.give_back(Back::Idle(conn));
                }
                Ok(Fill::Empty) => return shared.give_back(Back::Head(conn, head_deadline)),
                Ok(Fill::Eof) | Err(_) => return,
            },
            Err(e) => (refuse(&conn, &e), After::Linger),
        };
        let Some(mut out) = out else { return };
        match out.advance(&conn.stream) {
            Ok(Progress::Done) => out.log(),
            // The client reads slowly: the event loop writes the rest.
            Ok(Progress::Blocked) => {
                return shared.give_back(Back::Write(conn, Box::new(out), after));
            }
            Err(e) => {
                out.log();
                log::debug!("writing to {}: {e}", conn.peer);
                return;
            }
        }
        match after {
            After::Idle => {}
            After::SkipBody(left) => return shared.give_back(Back::Body(conn, left)),
            After::Linger => return shared.give_back(Back::Linger(conn)),
            After::Close => return,
        }
        if shared.stopping() {
            return;
        }
        if conn.buf.is_empty() {
            // Has the client already sent its next request? Look, without
            // waiting: a busy keep-alive client stays on this thread.
            match conn.fill(config.chunk_size, cap) {
                Ok(Fill::Data) => {}
                Ok(Fill::Empty) => return shared.give_back(Back::Idle(conn)),
                Ok(Fill::Eof) | Err(_) => return,
            }
        }
        head_deadline = Instant::now() + config.timeout;
    }
}

/// Runs the handler on a parsed request and encodes its response; says
/// what the connection does once the response is out.
fn answer<H: Handler>(
    conn: &mut Conn,
    head: http1::RequestHead,
    handler: &H,
    config: &ServerConfig,
    shared: &Shared,
) -> (Option<Outgoing>, After) {
    let mut keep_alive = head.keep_alive;
    let mut unread_body = false;
    let mut body_left = 0;
    match head.body {
        BodyFraming::None => {}
        // A small body is dropped: what has arrived now, the rest by the
        // event loop after the response, so no worker waits for a body.
        BodyFraming::Length(n) if n <= config.max_discard => {
            let here = conn.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            conn.buf.drain(..here);
            body_left = n - here as u64;
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
    keep_alive &= !says_close(&resp) && !shared.stopping();
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
        (false, _) if unread_body || body_left > 0 || !conn.buf.is_empty() => After::Linger,
        (false, _) => After::Close,
    };
    (Some(Outgoing::new(encoded, log)), after)
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

fn says_close(resp: &Response) -> bool {
    resp.headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}
