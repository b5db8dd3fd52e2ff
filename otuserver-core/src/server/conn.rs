//! A client connection and the non-blocking I/O on it.
//!
//! Every client socket is non-blocking from accept to close. The event loop
//! reads only what is there; a worker that must wait (to write a response
//! to a slow reader, or to read a small body) waits in `poll(2)` on that one
//! socket, with a deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Shared;

/// An open client connection: its socket, its address, and the bytes read
/// from it but not yet used (the start of a head, a pipelined request).
///
/// Dropping it removes the socket from the poller, closes it and counts it
/// as closed.
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
        // Deleting a socket that was never added, or is already gone, fails
        // harmlessly.
        let _ = self.shared.poller.delete(&self.stream);
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits until `stream` is readable (`POLLIN`) or writable (`POLLOUT`), or
/// `deadline` passes (`TimedOut`).
pub(super) fn wait(stream: &TcpStream, events: libc::c_short, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // Round up, so a wait is never a busy zero-millisecond poll.
        let ms = i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX);
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd and the count says one.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready > 0 {
            return Ok(());
        }
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Writes to a non-blocking socket for a worker, bounding how long a slow
/// reader can hold it: the response must be done within `timeout` plus one
/// second for every `min_rate` bytes sent, and no single wait lasts longer
/// than `timeout`.
pub(super) struct Sender<'a> {
    pub stream: &'a TcpStream,
    timeout: Duration,
    min_rate: u64,
    started: Instant,
    sent: u64,
}

impl<'a> Sender<'a> {
    pub fn new(stream: &'a TcpStream, timeout: Duration, min_rate: u64) -> Self {
        Sender {
            stream,
            timeout,
            min_rate,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Counts `n` more bytes as sent.
    pub fn sent(&mut self, n: usize) {
        self.sent += n as u64;
    }

    /// Waits until the socket takes more bytes, within the budget.
    pub fn wait_writable(&self) -> io::Result<()> {
        let stall = Instant::now() + self.timeout;
        let deadline = match self.min_rate {
            0 => stall,
            rate => {
                let earned = Duration::from_secs_f64(self.sent as f64 / rate as f64);
                stall.min(self.started + self.timeout + earned)
            }
        };
        wait(self.stream, libc::POLLOUT, deadline).map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                io::Error::new(io::ErrorKind::TimedOut, "client reads too slowly")
            } else {
                e
            }
        })
    }
}

impl Write for Sender<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.stream.write(buf) {
                Ok(n) => {
                    self.sent(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_writable()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads from a non-blocking socket, waiting for data until `deadline`.
pub(super) struct DeadlineReader<'a> {
    pub stream: &'a TcpStream,
    pub deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&*self.stream).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait(self.stream, libc::POLLIN, self.deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}
