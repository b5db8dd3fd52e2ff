//! One connection, from its first request to its close.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use http::header::CONNECTION;
use http::{Method, StatusCode, Version};

use super::{ServerConfig, Shared, sendfile};
use crate::http1::{self, BodyFraming, HeadLimits, WriteOptions, date};
use crate::{ClientAddr, Handler, RequestError, Response, response};

/// The longest a connection is kept open, after its last response, to read
/// and drop what the client still sends (so the response is not lost to a
/// TCP reset), and the most bytes read for it.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// Reads from a stream, failing with `TimedOut` once `deadline` passes.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&*self.stream).read(buf)
    }
}

/// How a connection ends.
enum Close {
    /// Nothing unread is pending: close at once.
    Clean,
    /// The client may still be sending: read and drop a little first.
    Linger,
}

/// Serves requests on `stream` until it closes, fails, or the server stops.
pub(super) fn serve<H: Handler>(
    stream: &TcpStream,
    peer: SocketAddr,
    handler: &H,
    config: &ServerConfig,
    shared: &Shared,
) {
    let _registered = shared.registry.enter(stream);
    let close = match exchange(stream, peer, handler, config, shared) {
        Ok(close) => close,
        Err(e) => {
            log::debug!("connection from {peer}: {e}");
            Close::Clean
        }
    };
    if let Close::Linger = close {
        linger(stream);
    }
}

fn exchange<H: Handler>(
    stream: &TcpStream,
    peer: SocketAddr,
    handler: &H,
    config: &ServerConfig,
    shared: &Shared,
) -> io::Result<Close> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(config.timeout))?;
    let limits = HeadLimits::new(config.max_head_size, config.chunk_size);
    let mut buf = Vec::with_capacity(config.chunk_size);
    loop {
        if shared.stopping() {
            return Ok(Close::Clean);
        }
        let mut reader = DeadlineReader {
            stream,
            deadline: Instant::now() + config.timeout,
        };
        let head = match http1::read_head(&mut reader, &mut buf, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(Close::Clean),
            // An idle keep-alive connection timing out, or the server
            // stopping, is not the client's error: close without a word.
            Err(RequestError::Timeout) if buf.is_empty() => return Ok(Close::Clean),
            Err(_) if shared.stopping() => return Ok(Close::Clean),
            Err(e) => return refuse(stream, peer, &e),
        };

        let mut keep_alive = head.keep_alive;
        let mut unread = false;
        match head.body {
            BodyFraming::None => {}
            BodyFraming::Length(n) if n <= config.max_discard => {
                let mut reader = DeadlineReader {
                    stream,
                    deadline: Instant::now() + config.timeout,
                };
                discard(&mut reader, &mut buf, n)?;
            }
            BodyFraming::Length(_) | BodyFraming::Chunked => {
                keep_alive = false;
                unread = true;
            }
        }

        let mut request = head.request;
        let method = request.method().clone();
        let target = request.uri().to_string();
        let version = request.version();
        request.extensions_mut().insert(ClientAddr(peer));
        let resp =
            catch_unwind(AssertUnwindSafe(|| handler.handle(request))).unwrap_or_else(|_| {
                log::error!("handler panicked on {method} {target} from {peer}");
                response::status_page(StatusCode::INTERNAL_SERVER_ERROR)
            });
        keep_alive &= !says_close(&resp) && !shared.stopping();
        let status = resp.status();
        let opts = WriteOptions::new(method == Method::HEAD, keep_alive);
        let sent = http1::write_response_with(&mut &*stream, resp, opts, sendfile::send_file)?;
        access_log(peer, Some((&method, &target, version)), status, sent);
        if !keep_alive {
            return Ok(if unread || !buf.is_empty() {
                Close::Linger
            } else {
                Close::Clean
            });
        }
    }
}

/// Answers a request that could not be read with its error status, if the
/// client can still hear one.
fn refuse(stream: &TcpStream, peer: SocketAddr, e: &RequestError) -> io::Result<Close> {
    log::debug!("bad request from {peer}: {e}");
    let Some(status) = e.status() else {
        return Ok(Close::Clean);
    };
    let resp = response::status_page(status);
    let sent = http1::write_response(&mut &*stream, resp, WriteOptions::new(false, false))?;
    access_log(peer, None, status, sent);
    Ok(Close::Linger)
}

fn says_close(resp: &Response) -> bool {
    resp.headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// Drops the next `n` body bytes: first those already in `buf`, then from
/// the reader.
fn discard(reader: &mut impl Read, buf: &mut Vec<u8>, n: u64) -> io::Result<()> {
    let buffered = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
    buf.drain(..buffered);
    let left = n - buffered as u64;
    let copied = io::copy(&mut reader.take(left), &mut io::sink())?;
    if copied < left {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Half-closes the connection and reads what the client still sends, for a
/// bounded time and size, so that closing does not reset the connection
/// before the client has read the response.
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut reader = DeadlineReader {
        stream,
        deadline: Instant::now() + LINGER_TIME,
    };
    let _ = io::copy(
        &mut (&mut reader).take(LINGER_BYTES as u64),
        &mut io::sink(),
    );
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
