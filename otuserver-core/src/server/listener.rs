//! Binding the listening socket, and the descriptor limit it lives by.

use std::fmt::Debug;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::Error;

/// Binds the first address of `addr` that binds, with `SO_REUSEPORT` if
/// `reuse_port` (another process may then bind the same address beside it).
pub(super) fn bind<A: ToSocketAddrs + Debug>(
    addr: A,
    backlog: u32,
    reuse_port: bool,
) -> Result<TcpListener, Error> {
    let name = format!("{addr:?}").trim_matches('"').to_owned();
    let bind_error = |source| Error::Bind {
        addr: name.clone(),
        source,
    };
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for a in addr.to_socket_addrs().map_err(bind_error)? {
        match bind_one(a, backlog, reuse_port) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(bind_error(last))
}

fn bind_one(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // `::` serves IPv4 clients too, whatever the system's default says;
    // `::1` and other addresses are their own family's only.
    if addr.is_ipv6() {
        socket.set_only_v6(!addr.ip().is_unspecified())?;
    }
    // Accepted sockets inherit it on Linux: no setsockopt per connection.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    let listener = socket.into();
    if reuse_port {
        super::handover::unsteer(&listener);
    }
    Ok(listener)
}

/// Accepts a connection, already non-blocking and close-on-exec: one
/// `accept4` where `accept` and `fcntl` would take two system calls.
pub(super) fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: accept4 writes at most `*len` bytes of address into the
    // storage socket2 provides, and sets `*len` to the address's length.
    let (fd, addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let fd = libc::accept4(listener.as_raw_fd(), storage.cast(), len, flags);
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(fd)
            }
        })
    }?;
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let peer = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "peer is not an IP address"))?;
    Ok((stream, peer))
}

/// Checks that `listener` (handed over, not bound here) is a listening TCP
/// socket, and makes it close-on-exec.
pub(super) fn check_inherited(listener: &TcpListener) -> io::Result<()> {
    let socket = socket2::SockRef::from(listener);
    let is_tcp = socket.r#type().is_ok_and(|t| t == Type::STREAM) && listener.local_addr().is_ok();
    if !is_tcp || !socket.is_listener().unwrap_or(false) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening TCP socket",
        ));
    }
    socket.set_cloexec(true)
}

fn nofile() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim)
}

/// The process's soft limit on open file descriptors.
pub(super) fn fd_limit() -> io::Result<u64> {
    Ok(nofile()?.rlim_cur)
}

/// Raises the process's soft limit on open file descriptors to its hard
/// limit and returns the new soft limit.
///
/// Every connection costs a descriptor, so a server meant for thousands of
/// clients calls this at start, before [`Server::bind`](crate::Server::bind)
/// derives its connection cap from the limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = nofile()?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit, read just above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn accepted_sockets_are_non_blocking_with_nodelay() {
        let listener = bind("127.0.0.1:0", 16, false).unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let client = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
        let (mut stream, peer) = accept(&listener).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(peer), client.local_addr().ok());
        assert!(stream.nodelay().unwrap_or(false), "TCP_NODELAY inherited");
        let mut byte = [0u8; 1];
        let err = stream.read(&mut byte).err().map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::WouldBlock), "non-blocking");
    }
}
