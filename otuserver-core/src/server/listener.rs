//! Binding the listening socket, and the one loop that accepts connections
//! and dispatches them to the workers.

use std::fmt::Debug;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Duration;

use polling::{Event, Events};
use socket2::{Domain, Protocol, Socket, Type};

use super::Shared;
use super::pool::Pool;
use crate::Error;

const LISTENER: usize = 0;

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

/// Accepts connections and hands them to `pool` until the server stops.
pub(super) fn accept_loop(
    listener: &TcpListener,
    shared: &Shared,
    pool: &Pool,
) -> Result<(), Error> {
    listener.set_nonblocking(true)?;
    // SAFETY: the listener outlives its registration, which is deleted below
    // before this function returns.
    unsafe {
        shared
            .poller
            .add(listener.as_raw_fd(), Event::readable(LISTENER))?
    };
    let result = run(listener, shared, pool);
    let _ = shared.poller.delete(listener);
    result
}

fn run(listener: &TcpListener, shared: &Shared, pool: &Pool) -> Result<(), Error> {
    let mut events = Events::new();
    while !shared.stopping() {
        events.clear();
        match shared.poller.wait(&mut events, None) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        while !shared.stopping() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    // Accepted sockets must block: workers use timeouts.
                    if let Err(e) = stream.set_nonblocking(false) {
                        log::warn!("dropping connection from {peer}: {e}");
                        continue;
                    }
                    if !pool.dispatch((stream, peer)) {
                        return Err(Error::Io(io::Error::other("every worker has exited")));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if transient(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of
                    // spinning on a listener that stays readable.
                    log::error!("accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
        shared.poller.modify(listener, Event::readable(LISTENER))?;
    }
    Ok(())
}

/// Errors that concern only the connection being accepted.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
