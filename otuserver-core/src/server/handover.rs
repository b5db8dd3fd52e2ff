//! Handing the port to a process beside this one (`SO_REUSEPORT`) without
//! resetting a connection.
//!
//! The kernel spreads new connections over every socket bound to the port.
//! Closing one drops the handshakes still half-open in its queue, and the
//! clients behind them get a reset (unless `net.ipv4.tcp_migrate_req` is
//! on). So a stopping server first steers new connections to the other
//! socket with a classic BPF program on the port's group, keeps accepting
//! for [`LISTEN_ON`] while its queue empties, and only then closes.
//!
//! The program names a socket by its place in the group, which the kernel
//! assigns in order of binding and compacts when one leaves; a server can
//! only learn its own by asking. It steers everything to place 0 and opens
//! a connection to itself: if that arrives here this server is place 0 and
//! steers to place 1 (the next to bind: the new process of a handover);
//! otherwise it leaves everything going to place 0.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a stopping server keeps accepting after steering new
/// connections away: long enough for the handshakes under way to finish
/// (a round trip), short enough not to hold up the stop.
pub(super) const LISTEN_ON: Duration = Duration::from_millis(250);
/// How long to wait for the connection to itself that tells a server its
/// place in the group.
const PROBE_WAIT: Duration = Duration::from_millis(50);

/// One server's handover, shared by its event loops: done by the first to
/// stop, recognised by any that accepts the probe.
#[derive(Default)]
pub(super) struct Handover {
    /// Until when the loops keep accepting, decided once.
    listen_until: OnceLock<Instant>,
    probing: AtomicBool,
    probe: Mutex<Option<SocketAddr>>,
    probe_arrived: AtomicBool,
}

impl Handover {
    /// Until when the loops go on accepting: now without `SO_REUSEPORT`;
    /// with it, after steering new connections away, [`LISTEN_ON`] (at
    /// most `grace`) from now. The first loop to ask does the steering;
    /// what it accepts meanwhile goes to `take`.
    pub(super) fn listen_until(
        &self,
        listener: &TcpListener,
        reuse_port: bool,
        grace: Duration,
        take: impl FnMut(TcpStream, SocketAddr),
    ) -> Instant {
        *self.listen_until.get_or_init(|| {
            if !reuse_port {
                return Instant::now();
            }
            match self.steer_away(listener, take) {
                Ok(()) => Instant::now() + LISTEN_ON.min(grace),
                Err(e) => {
                    log::warn!("handing the port over: {e}; closing the listener now");
                    Instant::now()
                }
            }
        })
    }

    /// Whether the connection from `peer` is this server's probe (it is
    /// then not served).
    pub(super) fn is_probe(&self, peer: SocketAddr) -> bool {
        if !self.probing.load(Ordering::Acquire) {
            return false;
        }
        let ours = *self.probe.lock().unwrap_or_else(|e| e.into_inner()) == Some(peer);
        if ours {
            self.probe_arrived.store(true, Ordering::Release);
        }
        ours
    }

    fn steer_away(
        &self,
        listener: &TcpListener,
        mut take: impl FnMut(TcpStream, SocketAddr),
    ) -> std::io::Result<()> {
        steer(listener, 0)?;
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(listener.local_addr()?),
            socket2::Type::STREAM,
            None,
        )?;
        let to = reachable(listener.local_addr()?);
        // Bound before connecting, so that a loop accepting it knows it.
        probe.bind(&SocketAddr::new(to.ip(), 0).into())?;
        let from = probe.local_addr()?.as_socket();
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = from;
        self.probing.store(true, Ordering::Release);
        let connected = probe.connect_timeout(&to.into(), PROBE_WAIT);
        let waited = Instant::now();
        while connected.is_ok()
            && !self.probe_arrived.load(Ordering::Acquire)
            && waited.elapsed() < PROBE_WAIT
        {
            match super::listener::accept(listener) {
                Ok((stream, peer)) if !self.is_probe(peer) => take(stream, peer),
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        self.probing.store(false, Ordering::Release);
        if let Err(e) = connected {
            unsteer(listener);
            return Err(e);
        }
        if self.probe_arrived.load(Ordering::Acquire) {
            steer(listener, 1)?;
        }
        Ok(())
    }
}

/// An address of `local` a connection from this host reaches.
fn reachable(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// Sends every new connection for the port to the socket at `place` in
/// its group (or spreads them as usual if there is none there).
#[cfg(target_os = "linux")]
fn steer(listener: &TcpListener, place: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // One instruction: return `place`.
    let mut code = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: place,
    }];
    let program = libc::sock_fprog {
        len: 1,
        filter: code.as_mut_ptr(),
    };
    // SAFETY: `program` points at `code`, both alive for the call, and
    // its size is passed; the kernel copies the program.
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&raw const program).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Spreads the port's connections over its sockets again: what a server
/// binding the port does, so that a program left by one that handed over
/// does not send everything to one socket for good.
#[cfg(target_os = "linux")]
pub(super) fn unsteer(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    let unused: libc::c_int = 0;
    // SAFETY: the option takes an int, which the kernel ignores.
    let _ = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DETACH_REUSEPORT_BPF,
            (&raw const unused).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

#[cfg(not(target_os = "linux"))]
fn steer(_: &TcpListener, _: u32) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "steering connections needs Linux",
    ))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn unsteer(_: &TcpListener) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::server::listener;

    fn bound(port: u16) -> TcpListener {
        let l = listener::bind(("127.0.0.1", port), 64, true).unwrap_or_else(|e| panic!("{e}"));
        l.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        l
    }

    /// Connects `n` clients to `port`; how many each of `listeners` got.
    fn spread(port: u16, listeners: &[&TcpListener], n: usize) -> Vec<usize> {
        let clients: Vec<_> = (0..n)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        let counts = listeners
            .iter()
            .map(|l| std::iter::from_fn(|| listener::accept(l).ok()).count())
            .collect();
        drop(clients);
        counts
    }

    fn hand_over(from: &TcpListener) -> Instant {
        let mut taken = 0;
        let until =
            Handover::default().listen_until(from, true, Duration::from_secs(5), |_, _| taken += 1);
        assert_eq!(taken, 0, "nothing else was connecting");
        until
    }

    #[test]
    fn a_stopping_listener_steers_new_connections_to_the_other() {
        let older = bound(0);
        let port = older.local_addr().map(|a| a.port()).unwrap_or(0);
        let newer = bound(port);
        let until = hand_over(&older);
        assert!(
            until > Instant::now(),
            "it listens on while its queue empties"
        );
        assert_eq!(spread(port, &[&older, &newer], 20), [0, 20]);
        drop(older);
        // The steering left behind names a place no socket holds now.
        let c = bound(port);
        let counts = spread(port, &[&newer, &c], 20);
        assert!(counts.iter().all(|&n| n > 0), "spread again: {counts:?}");
    }

    #[test]
    fn the_newer_listener_stopping_steers_to_the_older() {
        let older = bound(0);
        let port = older.local_addr().map(|a| a.port()).unwrap_or(0);
        let newer = bound(port);
        hand_over(&newer);
        // The older one also holds the probe that found it in place 0.
        assert_eq!(spread(port, &[&older, &newer], 20), [21, 0]);
    }

    #[test]
    fn a_new_listener_undoes_steering_left_behind() {
        let a = bound(0);
        let port = a.local_addr().map(|a| a.port()).unwrap_or(0);
        let b = bound(port);
        hand_over(&a);
        let c = bound(port);
        let counts = spread(port, &[&a, &b, &c], 30);
        assert!(counts.iter().all(|&n| n > 0), "spread over all: {counts:?}");
    }

    #[test]
    fn without_reuse_port_the_listener_closes_at_once() {
        let l = bound(0);
        let before = Instant::now();
        let until = Handover::default().listen_until(&l, false, Duration::from_secs(5), |_, _| {});
        assert!(until <= Instant::now() && until >= before);
    }
}
