//! The worker pool: threads that take a connection with a request head
//! ready, answer it (and whatever else the client has already sent), and
//! give the connection back to the event loop.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::header::CONNECTION;
use http::{Method, StatusCode, Version};

use super::conn::{Conn, DeadlineReader, Fill, Sender};
use super::{Back, ServerConfig, Shared, sendfile};
use crate::http1::{self, BodyFraming, HeadLimits, WriteOptions, date};
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
    ) -> io::Result<Pool> {
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
/// loop (idle, mid-head, or lingering) or closes it.
fn serve<H: Handler>(mut conn: Conn, handler: &H, config: &ServerConfig, shared: &Shared) {
    let limits = HeadLimits::new(config.max_head_size, config.chunk_size);
    let cap = config.max_head_size + config.chunk_size;
    // The event loop hands over a connection once a head is ready, so the
    // clock for this head is already running; a fresh one gets `timeout`.
    let mut head_deadline = Instant::now() + config.timeout;
    loop {
        let head = match http1::parse_head(&conn.buf, &limits) {
            Ok(Some(head)) => {
                conn.buf.drain(..head.len);
                head
            }
            Ok(None) => {
                if Instant::now() >= head_deadline {
                    let refused = refuse(&conn, &RequestError::Timeout, config);
                    return finish(conn, refused, true, shared);
                }
                match conn.fill(config.chunk_size, cap) {
                    Ok(Fill::Data) => continue,
                    Ok(Fill::Empty) if conn.buf.is_empty() => {
                        return shared.give_back(Back::Idle(conn));
                    }
                    Ok(Fill::Empty) => return shared.give_back(Back::Head(conn, head_deadline)),
                    Ok(Fill::Eof) | Err(_) => return,
                }
            }
            Err(e) => {
                let refused = refuse(&conn, &e, config);
                return finish(conn, refused, true, shared);
            }
        };
        match answer(&mut conn, head, handler, config, shared) {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close { unread_body }) => {
                let unread = unread_body || !conn.buf.is_empty();
                return finish(conn, Ok(()), unread, shared);
            }
            Err(e) => {
                log::debug!("connection from {}: {e}", conn.peer);
                return;
            }
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

/// What to do with a connection after a response.
enum Next {
    KeepAlive,
    /// Close it; `unread_body` if the request's body was not read.
    Close {
        unread_body: bool,
    },
}

/// Reads the rest of the request, runs the handler and writes the response.
fn answer<H: Handler>(
    conn: &mut Conn,
    head: http1::RequestHead,
    handler: &H,
    config: &ServerConfig,
    shared: &Shared,
) -> io::Result<Next> {
    let mut keep_alive = head.keep_alive;
    let mut unread_body = false;
    match head.body {
        BodyFraming::None => {}
        BodyFraming::Length(n) if n <= config.max_discard => {
            discard(conn, n, Instant::now() + config.timeout)?;
        }
        // Too big to read for nothing, or chunked: answer, then close.
        BodyFraming::Length(_) | BodyFraming::Chunked => {
            keep_alive = false;
            unread_body = true;
        }
    }

    let mut request = head.request;
    let method = request.method().clone();
    let target = request.uri().to_string();
    let version = request.version();
    request.extensions_mut().insert(ClientAddr(conn.peer));
    let resp = catch_unwind(AssertUnwindSafe(|| handler.handle(request))).unwrap_or_else(|_| {
        log::error!("handler panicked on {method} {target} from {}", conn.peer);
        response::status_page(StatusCode::INTERNAL_SERVER_ERROR)
    });
    keep_alive &= !says_close(&resp) && !shared.stopping();
    let status = resp.status();
    let opts = WriteOptions::new(method == Method::HEAD, keep_alive);
    let mut out = Sender::new(&conn.stream, config.timeout, config.min_send_rate);
    let sent = http1::write_response_with(&mut out, resp, opts, sendfile::send_file)?;
    access_log(conn.peer, Some((&method, &target, version)), status, sent);
    Ok(if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close { unread_body }
    })
}

/// Answers a request that could not be read with its error status, if the
/// client can still hear one.
fn refuse(conn: &Conn, e: &RequestError, config: &ServerConfig) -> io::Result<()> {
    log::debug!("bad request from {}: {e}", conn.peer);
    let Some(status) = e.status() else {
        return Ok(());
    };
    let mut out = Sender::new(&conn.stream, config.timeout, config.min_send_rate);
    let sent = http1::write_response(
        &mut out,
        response::status_page(status),
        WriteOptions::new(false, false),
    )?;
    access_log(conn.peer, None, status, sent);
    Ok(())
}

/// Closes a connection after its last response: at once if nothing unread
/// may be pending, else through the event loop's lingering close, so that
/// the client reads the response instead of a reset.
fn finish(conn: Conn, written: io::Result<()>, unread: bool, shared: &Shared) {
    match written {
        Ok(()) if unread => shared.give_back(Back::Linger(conn)),
        Ok(()) => {}
        Err(e) => log::debug!("connection from {}: {e}", conn.peer),
    }
}

fn says_close(resp: &Response) -> bool {
    resp.headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// Drops the next `n` body bytes: first those already buffered, then from
/// the socket, within `deadline`.
fn discard(conn: &mut Conn, n: u64, deadline: Instant) -> io::Result<()> {
    let buffered = conn.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
    conn.buf.drain(..buffered);
    let left = n - buffered as u64;
    let mut reader = DeadlineReader {
        stream: &conn.stream,
        deadline,
    };
    let copied = io::copy(&mut io::Read::take(&mut reader, left), &mut io::sink())?;
    if copied < left {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// One line in Common Log Format, at info level on the target
/// `otuserver::access`; `request` is `None` when no request line was read.
fn access_log(
    peer: SocketAddr,
    request: Option<(&Method, &str, Version)>,
    status: StatusCode,
    sent: u64,
) {
    if !log::log_enabled!(target: "otuserver::access", log::Level::Info) {
        return;
    }
    let line = match request {
        Some((method, target, version)) => format!("{method} {target} {version:?}"),
        None => "-".to_owned(),
    };
    let sent = if sent == 0 {
        "-".to_owned()
    } else {
        sent.to_string()
    };
    log::info!(
        target: "otuserver::access",
        "{} - - [{}] \"{line}\" {} {sent}",
        peer.ip(),
        date::clf_now(),
        status.as_u16(),
    );
}
