//! A client connection and reading from it.
//!
//! Every client socket is non-blocking from accept to close, and nobody
//! waits on one: the event loop waits on all of them at once.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;

/// An open client connection: its socket, its address, and the bytes read
/// from it but not yet used (the start of a head, a pipelined request).
///
/// Dropping it closes the socket and counts it as closed; the event loop
/// that owns it removes it from its poller first.
pub(super) struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub buf: Vec<u8>,
    shared: Arc<Shared>,
}

/// What a read of everything available found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fill {
    /// New bytes were appended.
    Data,
    /// Nothing to read right now.
    Empty,
    /// The client closed its side (nothing new was read).
    Eof,
}

impl Conn {
    /// Wraps an accepted socket, counted as open until dropped.
    pub fn new(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> Conn {
        shared.open.fetch_add(1, Ordering::AcqRel);
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            shared,
        }
    }

    /// Reads what has arrived, `chunk` bytes per call, until the socket has
    /// nothing more or `buf` holds `cap` bytes.
    pub fn fill(&mut self, chunk: usize, cap: usize) -> io::Result<Fill> {
        let mut got = false;
        while self.buf.len() < cap {
            let start = self.buf.len();
            self.buf.resize(start + chunk, 0);
            let read = (&self.stream).read(&mut self.buf[start..]);
            self.buf.truncate(start + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) if got => return Ok(Fill::Data),
                Ok(0) => return Ok(Fill::Eof),
                // A short read drained the socket; a full one may not have.
                Ok(n) if n < chunk => return Ok(Fill::Data),
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(if got { Fill::Data } else { Fill::Empty })
    }

    /// Frees the buffer of a connection that is going idle, so that idle
    /// connections cost no heap beyond their own record.
    pub fn shrink(&mut self) {
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
    }
}
