//! A response on its way out: its head (with a small body joined to it)
//! and what follows, written as far as a non-blocking socket takes at each
//! turn, so that nothing waits for a client. File bodies go from the page
//! cache to the socket with `sendfile(2)`.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};

use super::Shared;
use super::access_log::{AccessEntry, AccessLogFormat};
use super::pool::ReplyTo;
use super::stream::{Producer, StreamOut};
use crate::http1::{self, Encoded, Framing, WriteOptions};
use crate::{Body, response};

/// The most bytes, head included, one connection writes in a turn before
/// the loop turns to the others (the socket stays writable, so the poller
/// comes back to it): [`FIRST_BUDGET`] for turns that start within a
/// response's first [`FIRST_BYTES`], so that files of a few hundred KiB to
/// a MiB go out in few turns, then `WRITE_BUDGET`, finer, for long
/// downloads. The head counts, so that turns end on multiples of the budget
/// in the stream. Measured pinned against lighttpd (README, "Per core"):
/// 128 KiB turns throughout ran a 1,000,000-byte file at 0.67x-0.77x, 256
/// KiB turns throughout ran 16 MiB files anywhere from 0.96x to 1.31x, and
/// whole-file turns ran 1 MiB files at a third of the speed.
const WRITE_BUDGET: u64 = 128 * 1024;
/// The budget of a response's first turns: see [`WRITE_BUDGET`].
const FIRST_BUDGET: u64 = 256 * 1024;
/// Turns that start before this much of the body is sent have
/// [`FIRST_BUDGET`].
const FIRST_BYTES: u64 = 1024 * 1024;
/// The most one `sendfile` call sends: each call's end pushes what it
/// queued, and 256 KiB turns in two calls ran 1 MiB files at 8,100-8,400
/// MiB/s where one call of 256 KiB ran 6,700-7,000 (and 64 KiB calls
/// 3,600).
const SENDFILE_STEP: u64 = 128 * 1024;
/// Body parts up to this size in all are copied into the head's buffer.
const INLINE_LIMIT: usize = 16 * 1024;

/// How far a response has gone.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Progress {
    Done,
    /// The socket takes no more for now.
    Blocked,
    /// A streamed body's producer has nothing ready yet; it wakes the loop
    /// when it has.
    Waiting,
}

/// A piece of a body of known length.
enum Piece {
    Bytes(Bytes),
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        }
    }
}

pub(super) struct Outgoing {
    head: Vec<u8>,
    /// Bytes of `head` that are the status line and header fields; the
    /// rest of it is body joined to them.
    head_len: usize,
    head_sent: usize,
    /// What follows the head, in order; the first is under way.
    rest: VecDeque<Piece>,
    /// Bytes of `rest[0]` sent.
    part_sent: u64,
    /// Bytes sent after the head, all parts together.
    rest_sent: u64,
    /// A streamed body, after `rest`.
    stream: Option<StreamOut>,
    /// A stream was found among parts of known length: nothing of the
    /// response can be sent.
    broken: bool,
    started: Instant,
    last_progress: Instant,
    log: Option<AccessEntry>,
}

impl Outgoing {
    /// `encoded` on its way out; `log` is `None` when access logging is off.
    ///
    /// This is where a small body joins its head: leading parts up to 16 KiB
    /// in all (a small file, bytes, the head of a multipart answer) are
    /// copied after the header fields and leave in the same write: one
    /// packet and one wake-up of the client instead of several.
    pub fn new(encoded: Encoded, log: Option<AccessEntry>) -> Outgoing {
        let now = Instant::now();
        let chunked = encoded.framing() == Framing::Chunked;
        let (mut head, body) = encoded.into_parts();
        let head_len = head.len();
        let broken = body.nests_a_stream();
        let (mut rest, mut stream) = (VecDeque::new(), None);
        match body {
            Body::Stream(chunks) => stream = Some(StreamOut::new(chunks, chunked)),
            // The commonest small answer joins its head without a queue of
            // parts to allocate.
            Body::Bytes(bytes) if bytes.len() <= INLINE_LIMIT => head.extend_from_slice(&bytes),
            body => flatten(body, &mut rest),
        }
        let limit = (head_len + INLINE_LIMIT) as u64;
        while let Some(part) = rest.front() {
            let start = head.len();
            if start as u64 + part.len() > limit {
                break;
            }
            match part {
                Piece::Bytes(bytes) => head.extend_from_slice(bytes),
                Piece::File { file, offset, len } => {
                    head.resize(start + *len as usize, 0);
                    // A file that shrank meanwhile stays a file body, for
                    // the sendfile path to report.
                    if file.read_exact_at(&mut head[start..], *offset).is_err() {
                        head.truncate(start);
                        break;
                    }
                }
            }
            rest.pop_front();
        }
        Outgoing {
            head,
            head_len,
            head_sent: 0,
            rest,
            part_sent: 0,
            rest_sent: 0,
            stream,
            broken,
            started: now,
            last_progress: now,
            log,
        }
    }

    /// The answer to a request refused before any handler saw it (`400`,
    /// `408`, `431`, `503`, ...), for `peer`: the status page, on a
    /// connection that closes after it. A `503` says when to try again.
    /// Every refusal the server makes, whichever part of it refuses, is
    /// made here.
    pub fn refusal(status: StatusCode, peer: SocketAddr, format: AccessLogFormat) -> Outgoing {
        let mut resp = response::status_page(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        let log = AccessEntry::refused(peer, status, format);
        Outgoing::new(http1::encode(resp, WriteOptions::new(false, false)), log)
    }

    /// The producer of a streamed body not yet started, to run on a pool
    /// thread; it wakes connection `to` when chunks are ready.
    pub fn take_producer(&mut self, shared: &Arc<Shared>, to: ReplyTo) -> Option<Producer> {
        self.stream.as_mut()?.start(shared, to)
    }

    /// Writes what `stream` (non-blocking) takes now, up to a turn's budget.
    pub fn advance(&mut self, stream: &TcpStream) -> io::Result<Progress> {
        if self.broken {
            // Its head would promise a framing its parts cannot keep.
            return Err(io::Error::other("a streamed body inside parts"));
        }
        // With more to follow, the head waits for it in the kernel
        // (MSG_MORE), so both leave in the same packets.
        let head_before = self.head_sent;
        while self.head_sent < self.head.len() {
            let more = !self.rest.is_empty();
            match written(send(stream, &self.head[self.head_sent..], more))? {
                Some(n) => {
                    self.head_sent += n;
                    self.last_progress = Instant::now();
                }
                None => return Ok(Progress::Blocked),
            }
        }
        // The head counts against the turn's budget (see WRITE_BUDGET).
        let head_now = (self.head_sent - head_before) as u64;
        let budget = if self.rest_sent < FIRST_BYTES {
            FIRST_BUDGET
        } else {
            WRITE_BUDGET
        };
        let budget_end = self
            .rest_sent
            .saturating_add(budget.saturating_sub(head_now));
        while let Some(part) = self.rest.front() {
            let left = part.len() - self.part_sent;
            if left == 0 {
                self.rest.pop_front();
                self.part_sent = 0;
                continue;
            }
            if self.rest_sent >= budget_end {
                return Ok(Progress::Blocked);
            }
            let step = match part {
                Piece::Bytes(bytes) => {
                    let from = usize::try_from(self.part_sent).unwrap_or(usize::MAX);
                    let rest = bytes.get(from..).unwrap_or_default();
                    let room = usize::try_from(budget_end - self.rest_sent).unwrap_or(usize::MAX);
                    let more = self.rest.len() > 1 || self.stream.is_some();
                    written(send(stream, &rest[..rest.len().min(room)], more))?
                }
                Piece::File { file, offset, len } => {
                    let mut off = libc::off_t::try_from(offset + self.part_sent).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range")
                    })?;
                    let count = left.min(budget_end - self.rest_sent).min(SENDFILE_STEP) as usize;
                    // SAFETY: both descriptors belong to owners borrowed for
                    // the call, and `off` is a valid, exclusive pointer.
                    let n = unsafe {
                        libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut off, count)
                    };
                    if n == 0 {
                        return Err(http1::shrank(self.part_sent, *len));
                    }
                    let result = usize::try_from(n).map_err(|_| io::Error::last_os_error());
                    written(result)?
                }
            };
            match step {
                Some(n) => {
                    self.part_sent += n as u64;
                    self.rest_sent += n as u64;
                    self.last_progress = Instant::now();
                }
                None => return Ok(Progress::Blocked),
            }
        }
        let Some(out) = &mut self.stream else {
            return Ok(Progress::Done);
        };
        let budget = budget_end.saturating_sub(self.rest_sent);
        let (progress, sent, fresh) = out.advance(stream, budget)?;
        self.rest_sent += sent;
        // A new chunk starts the client's clock afresh.
        if sent > 0 || fresh {
            self.last_progress = Instant::now();
        }
        Ok(progress)
    }

    /// When the client has read too slowly: see [`rate_deadline`]. A
    /// stream is produced at its own pace: the time spent waiting for its
    /// producer is not counted against the client, and while it waits the
    /// client is not held to anything.
    pub fn deadline(&self, timeout: Duration, min_rate: u64) -> Instant {
        let now = Instant::now();
        let waited = match &self.stream {
            Some(out) if out.waiting() => return now + timeout,
            Some(out) => out.waited(now),
            None => Duration::ZERO,
        };
        let sent = self.head_sent as u64 + self.rest_sent;
        rate_deadline(
            self.started + waited,
            self.last_progress,
            sent,
            timeout,
            min_rate,
        )
    }

    /// Whether it waits for a streamed body's producer, which wakes the
    /// loop when it has more.
    pub fn waiting(&self) -> bool {
        self.stream.as_ref().is_some_and(StreamOut::waiting)
    }

    /// Writes the access-log line, with the body bytes sent so far.
    pub fn log(&self) {
        if let Some(entry) = &self.log {
            let sent =
                (self.head_sent as u64 + self.rest_sent).saturating_sub(self.head_len as u64);
            entry.write(sent);
        }
    }
}

/// Appends the non-empty pieces of `body` to `out`, in order; a stream
/// among them is left out (the response is refused whole: see
/// [`Body::Parts`]).
fn flatten(body: Body, out: &mut VecDeque<Piece>) {
    match body {
        Body::Empty | Body::Stream(_) => {}
        Body::Bytes(b) if b.is_empty() => {}
        Body::Bytes(b) => out.push_back(Piece::Bytes(b)),
        Body::File { len: 0, .. } => {}
        Body::File { file, offset, len } => out.push_back(Piece::File { file, offset, len }),
        Body::Parts(parts) => parts.into_iter().for_each(|p| flatten(p, out)),
    }
}

/// When a peer that started at `started`, last made progress at `last`
/// and has moved `bytes` counts as too slow: nothing moved for `timeout`,
/// or, past `timeout`, less than `min_rate` bytes a second on average
/// (`0` turns the rate check off). Responses and request bodies alike.
pub(super) fn rate_deadline(
    started: Instant,
    last: Instant,
    bytes: u64,
    timeout: Duration,
    min_rate: u64,
) -> Instant {
    let stalled = last + timeout;
    if min_rate == 0 {
        return stalled;
    }
    let earned = Duration::from_secs_f64(bytes as f64 / min_rate as f64);
    stalled.min(started + timeout + earned)
}

/// `send(2)` on a socket, with `MSG_MORE` if `more`.
pub(super) fn send(stream: &TcpStream, buf: &[u8], more: bool) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: `buf` is valid for `buf.len()` bytes and the descriptor is
    // open for the call.
    let n = unsafe { libc::send(stream.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A write's outcome: `Some(n)` bytes taken, `None` when the socket is
/// full; interruptions count as nothing taken yet but not full.
pub(super) fn written(result: io::Result<usize>) -> io::Result<Option<usize>> {
    match result {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn fail<E: std::fmt::Display>(e: E) -> String {
        e.to_string()
    }

    /// Bytes the client has received until the connection goes quiet.
    fn drain(client: &mut TcpStream) -> Result<u64, String> {
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .map_err(fail)?;
        let mut got = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        Ok(got)
    }

    /// A server socket with room for more than one turn, so that only the
    /// budget stops a turn, and its client.
    fn pair() -> Result<(TcpStream, TcpStream), String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
        let client = TcpStream::connect(listener.local_addr().map_err(fail)?).map_err(fail)?;
        let (server, _) = listener.accept().map_err(fail)?;
        socket2::SockRef::from(&server)
            .set_send_buffer_size(4 << 20)
            .map_err(fail)?;
        server.set_nonblocking(true).map_err(fail)?;
        Ok((server, client))
    }

    /// A turn's writes, head included, stop at the budget, so that turns
    /// end at multiples of it in the stream: the larger budget for turns
    /// that start in a response's first MiB, then the smaller.
    #[test]
    fn a_turn_writes_the_budget_head_included() -> Result<(), String> {
        let size = 2 * FIRST_BYTES;
        let mut file = tempfile::tempfile().map_err(fail)?;
        file.write_all(&vec![7u8; size as usize]).map_err(fail)?;
        let (server, mut client) = pair()?;
        let response = http::Response::new(Body::file(file, size));
        let encoded = http1::encode(response, WriteOptions::new(false, true));
        let mut out = Outgoing::new(encoded, None);
        // Read after every turn: a system's cap on send buffers may be
        // below what was asked for.
        let mut turns = 0;
        while out.rest_sent < FIRST_BYTES && turns < 8 {
            assert_eq!(out.advance(&server).map_err(fail)?, Progress::Blocked);
            assert_eq!(drain(&mut client)?, FIRST_BUDGET, "turn {}", turns + 1);
            turns += 1;
        }
        assert_eq!(
            turns,
            FIRST_BYTES / FIRST_BUDGET + 1,
            "the head took a turn's share"
        );
        assert_eq!(out.advance(&server).map_err(fail)?, Progress::Blocked);
        assert_eq!(
            drain(&mut client)?,
            WRITE_BUDGET,
            "a turn past the first MiB"
        );
        Ok(())
    }

    /// A body in memory keeps to the budget as a file does.
    #[test]
    fn a_turn_of_bytes_keeps_to_the_budget() -> Result<(), String> {
        let (server, mut client) = pair()?;
        let body = Body::Bytes(Bytes::from(vec![7u8; 3 * FIRST_BUDGET as usize]));
        let encoded = http1::encode(http::Response::new(body), WriteOptions::new(false, true));
        let mut out = Outgoing::new(encoded, None);
        assert_eq!(out.advance(&server).map_err(fail)?, Progress::Blocked);
        assert_eq!(drain(&mut client)?, FIRST_BUDGET);
        Ok(())
    }

    /// Parts around a stream have no framing that fits: nothing is sent.
    #[test]
    fn a_stream_among_parts_sends_nothing() -> Result<(), String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
        let mut client = TcpStream::connect(listener.local_addr().map_err(fail)?).map_err(fail)?;
        let (server, _) = listener.accept().map_err(fail)?;
        let body = Body::Parts(vec![
            Body::Bytes(Bytes::from_static(b"part ")),
            Body::stream(vec![Ok(Bytes::from_static(b"chunk"))]),
        ]);
        let encoded = http1::encode(http::Response::new(body), WriteOptions::new(false, true));
        let mut out = Outgoing::new(encoded, None);
        assert!(out.advance(&server).is_err());
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).map_err(fail)?;
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
        Ok(())
    }
}
