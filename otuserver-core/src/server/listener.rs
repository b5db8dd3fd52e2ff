//! Binding the listening socket, and the descriptor limit it lives by.

use std::fmt::Debug;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

use crate::Error;

/// Binds the first address of `addr` that binds.
pub(super) fn bind<A: ToSocketAddrs + Debug>(addr: A, backlog: u32) -> Result<TcpListener, Error> {
    let name = format!("{addr:?}").trim_matches('"').to_owned();
    let bind_error = |source| Error::Bind {
        addr: name.clone(),
        source,
    };
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for a in addr.to_socket_addrs().map_err(bind_error)? {
        match bind_one(a, backlog) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(bind_error(last))
}

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
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
