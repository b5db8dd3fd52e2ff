//! File bodies go from the page cache to the socket with `sendfile(2)`,
//! never through a buffer in user space.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use super::conn::Sender;
use crate::http1;

/// The most `sendfile` moves in one call on Linux.
const MAX_CHUNK: u64 = 0x7fff_f000;

/// Sends `len` bytes of `file` from `offset` through `out`, waiting for the
/// socket within `out`'s budget. A file that ends early is `UnexpectedEof`.
pub(super) fn send_file(
    out: &mut Sender<'_>,
    file: &File,
    offset: u64,
    len: u64,
) -> io::Result<u64> {
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(MAX_CHUNK) as usize;
        // SAFETY: both descriptors stay open for the call (we hold borrows
        // of their owners), and `off` is a valid, exclusive pointer.
        let n =
            unsafe { libc::sendfile(out.stream.as_raw_fd(), file.as_raw_fd(), &mut off, chunk) };
        match n {
            0 => return Err(http1::shrank(len - left, len)),
            n if n > 0 => {
                left -= n as u64;
                out.sent(n as usize);
            }
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock => out.wait_writable()?,
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(len)
}
