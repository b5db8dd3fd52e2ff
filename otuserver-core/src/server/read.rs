//! Reading from a client's socket without ever waiting on it: the bytes of
//! a head, a request body for its handler, body bytes to drop, and what a
//! closing connection still sends.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::request::Incoming;
use crate::RequestError;

/// How much a closing connection is drained.
const LINGER_BYTES: usize = 64 * 1024;
/// The most body bytes read from one connection in one turn of the loop,
/// so that a fast uploader does not keep the others waiting.
const READ_BUDGET: usize = 256 * 1024;
/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Reads what has arrived into `buf`, `chunk` bytes per call (through
/// `scratch`, so that `buf` grows only by what came), until the socket has
/// nothing more or `buf` holds `cap` bytes; whether anything came. The end
/// of the stream with nothing new is an error.
pub(super) fn fill(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    scratch: &mut [u8],
    chunk: usize,
    cap: usize,
) -> io::Result<bool> {
    let mut got = false;
    while buf.len() < cap {
        let want = chunk.min(scratch.len()).min(cap - buf.len());
        match (&*stream).read(&mut scratch[..want]) {
            Ok(0) if got => return Ok(true),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf.extend_from_slice(&scratch[..n]);
                got = true;
                // A short read drained the socket; a full one may not have.
                if n < want {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Moves a request body on: decodes what `buf` holds, then reads the
/// socket through `scratch` while the body is incomplete, up to a turn's
/// budget; bytes after the body stay in `buf`. `Ok(true)` once the body is
/// whole, `Ok(false)` while more must come; `Err(Some(_))` for a body to
/// refuse, `Err(None)` for a connection that ended.
pub(super) fn body(
    incoming: &mut Incoming,
    buf: &mut Vec<u8>,
    stream: &TcpStream,
    scratch: &mut [u8],
    now: Instant,
) -> Result<bool, Option<RequestError>> {
    let used = incoming.feed(buf, now)?;
    buf.drain(..used);
    let mut read_now = 0;
    while !incoming.is_done() {
        if read_now >= READ_BUDGET {
            // More next turn: the socket stays readable.
            return Ok(false);
        }
        // The body will be read: a client that waits for leave to send it
        // gets it, once.
        if incoming.take_expectation() && (&*stream).write_all(CONTINUE).is_err() {
            return Err(None);
        }
        match (&*stream).read(scratch) {
            Ok(0) => return Err(None),
            Ok(n) => {
                read_now += n;
                let read = &scratch[..n];
                let used = incoming.feed(read, now)?;
                buf.extend_from_slice(&read[used..]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(None),
        }
    }
    Ok(true)
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
pub(super) fn skip(stream: &TcpStream, scratch: &mut [u8], left: &mut u64) -> io::Result<bool> {
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
