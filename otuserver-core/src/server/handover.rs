//! Handing the port to a process beside this one (`SO_REUSEPORT`) without
//! resetting a connection.
//!
//! The kernel spreads new connections over every socket bound to the port.
//! Closing one drops the handshakes still half-open in its queue, and the
//! clients behind them get a reset (unless `net.ipv4.tcp_migrate_req` is
//! on). So a stopping server first steers new connections to the other
//! socket with a classic BPF program on the port's group (Linux 4.5 and
//! later), keeps accepting for [`LISTEN_ON`] while its queue empties, and
//! only then closes.
//!
//! The program names a socket by its place in the group: the kernel appends
//! a socket that binds, and moves the last one into the place of one that
//! leaves. A server can only learn its own place by asking: it steers
//! everything to place 0 and connects to itself; if the connection arrives
//! here, it is place 0 and steers to place 1, else it tries place 1 the same
//! way. With the two sockets of a handover that is the other one; with more,
//! one of the others takes all new connections until a server binds the port
//! again (binding clears the program, Linux 5.3 and later). When neither
//! probe comes back the server closes at once, as it would without this.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a stopping server keeps accepting after steering new
/// connections away: long enough for the handshakes under way to finish
/// (a round trip), short enough not to hold up the stop.
const LISTEN_ON: Duration = Duration::from_millis(250);
/// How long to wait for a connection to itself that tells a server its
/// place in the group.
const PROBE_WAIT: Duration = Duration::from_millis(50);

/// One server's handover, shared by its event loops: done by the first to
/// stop, while the others go on serving (and accepting).
#[derive(Default)]
pub(super) struct Handover {
    /// Until when the loops keep accepting, once decided.
    listen_until: OnceLock<Instant>,
    /// Taken by the loop that decides.
    deciding: AtomicBool,
    /// Whether a probe is out: the one check every accepted connection
    /// makes.
    probing: AtomicBool,
    /// The address the probe under way connects from.
    probe: Mutex<Option<SocketAddr>>,
    /// Whether that probe reached this server, through any loop.
    probe_arrived: AtomicBool,
}

impl Handover {
    /// Until when the loops go on accepting, or `None` while another loop
    /// is deciding (go on, and ask again). Without `SO_REUSEPORT` it is the
    /// moment of asking; with it, after steering new connections away,
    /// [`LISTEN_ON`] (at most `grace`) later. The first loop to ask decides;
    /// what it accepts meanwhile goes to `take`.
    pub(super) fn listen_until(
        &self,
        listener: &TcpListener,
        reuse_port: bool,
        grace: Duration,
        take: impl FnMut(TcpStream, SocketAddr),
    ) -> Option<Instant> {
        if let Some(until) = self.listen_until.get() {
            return Some(*until);
        }
        if self.deciding.swap(true, Ordering::AcqRel) {
            return None;
        }
        let until = if !reuse_port || cfg!(not(target_os = "linux")) {
            Instant::now()
        } else {
            match self.steer_away(listener, take) {
                Ok(()) => Instant::now() + LISTEN_ON.min(grace),
                Err(e) => {
                    unsteer(listener);
                    log::warn!("handing the port over: {e}; closing the listener now");
                    Instant::now()
                }
            }
        };
        Some(*self.listen_until.get_or_init(|| until))
    }

    /// Whether the connection from `peer` is this server's probe, which is
    /// then not served; notes that it arrived.
    pub(super) fn claims_probe(&self, peer: SocketAddr) -> bool {
        if !self.probing.load(Ordering::Acquire) {
            return false;
        }
        let probe = *self.probe.lock().unwrap_or_else(|e| e.into_inner());
        let ours = probe.is_some_and(|p| same(p, peer));
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
        self.probing.store(true, Ordering::Release);
        let placed = self.steer_to_the_other(listener, &mut take);
        self.probing.store(false, Ordering::Release);
        placed
    }

    /// Finds this server's place (0 or 1) and steers to the other one.
    fn steer_to_the_other(
        &self,
        listener: &TcpListener,
        take: &mut impl FnMut(TcpStream, SocketAddr),
    ) -> std::io::Result<()> {
        if self.probe_place(listener, 0, take)? {
            return steer(listener, 1);
        }
        if self.probe_place(listener, 1, take)? {
            return steer(listener, 0);
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "a connection to itself did not arrive",
        ))
    }

    /// Whether this server's socket is at `place` in the group: steers
    /// there and connects to itself. Leaves the steering in place.
    fn probe_place(
        &self,
        listener: &TcpListener,
        place: u32,
        take: &mut impl FnMut(TcpStream, SocketAddr),
    ) -> std::io::Result<bool> {
        steer(listener, place)?;
        let local = listener.local_addr()?;
        let mut last = None;
        for to in reachable(local) {
            match self.probe_from(listener, to, take) {
                Ok(arrived) => return Ok(arrived),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no address to connect to")))
    }

    fn probe_from(
        &self,
        listener: &TcpListener,
        to: SocketAddr,
        take: &mut impl FnMut(TcpStream, SocketAddr),
    ) -> std::io::Result<bool> {
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(to),
            socket2::Type::STREAM,
            None,
        )?;
        // Bound before connecting, so that a loop accepting it knows it.
        let mut from = to;
        from.set_port(0);
        probe.bind(&from.into())?;
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = probe.local_addr()?.as_socket();
        self.probe_arrived.store(false, Ordering::Release);
        probe.connect_timeout(&to.into(), PROBE_WAIT)?;
        let waited = Instant::now();
        while !self.probe_arrived.load(Ordering::Acquire) && waited.elapsed() < PROBE_WAIT {
            match super::listener::accept(listener) {
                Ok((stream, peer)) if !self.claims_probe(peer) => take(stream, peer),
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        Ok(self.probe_arrived.load(Ordering::Acquire))
    }
}

/// Addresses of `local` a connection from this host reaches, to try in
/// turn: loopback for a wildcard (IPv4's too for `::`, which is dual stack
/// and may have no `::1`).
fn reachable(local: SocketAddr) -> Vec<SocketAddr> {
    let port = local.port();
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            vec![SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)]
        }
        IpAddr::V6(ip) if ip.is_unspecified() => vec![
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        ],
        // As bound, with an IPv6 scope kept.
        _ => vec![local],
    }
}

/// Whether two addresses name the same endpoint, an IPv4 one and its
/// IPv4-mapped IPv6 form alike.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// Sends every new connection for the port to the socket at `place` in
/// its group (or spreads them as usual if there is none there).
#[cfg(target_os = "linux")]
fn steer(listener: &TcpListener, place: u32) -> std::io::Result<()> {
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
    // The kernel copies the program during the call.
    set_option(listener, libc::SO_ATTACH_REUSEPORT_CBPF, &program)
}

/// Spreads the port's connections over its sockets again: what a server
/// binding the port does, so that a program left by one that handed over
/// does not send everything to one socket for good.
#[cfg(target_os = "linux")]
pub(super) fn unsteer(listener: &TcpListener) {
    // The option takes an int, which the kernel ignores.
    let unused: libc::c_int = 0;
    match set_option(listener, libc::SO_DETACH_REUSEPORT_BPF, &unused) {
        // ENOENT: there was none, the usual case.
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
            log::debug!("clearing the port's steering: {e}");
        }
        _ => {}
    }
}

/// Sets socket option `name` (at `SOL_SOCKET`) of `listener` to `value`.
#[cfg(target_os = "linux")]
fn set_option<T>(listener: &TcpListener, name: libc::c_int, value: &T) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is a valid `T` of `len` bytes, borrowed for the call.
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (value as *const T).cast(),
            len,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
        let mut counts = vec![0; listeners.len()];
        let deadline = Instant::now() + Duration::from_secs(5);
        // Until all have arrived, and a moment more for any probe.
        let mut settle = 2;
        while settle > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            for (count, l) in counts.iter_mut().zip(listeners) {
                *count += std::iter::from_fn(|| listener::accept(l).ok()).count();
            }
            if counts.iter().sum::<usize>() >= n {
                settle -= 1;
            }
        }
        drop(clients);
        counts
    }

    fn hand_over(from: &TcpListener) -> Option<Instant> {
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
            until.is_some_and(|t| t > Instant::now()),
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
        assert!(until.is_some_and(|t| t <= Instant::now() && t >= before));
    }

    #[test]
    fn one_loop_decides_while_the_others_go_on() {
        let l = bound(0);
        let handover = Handover::default();
        handover.deciding.store(true, Ordering::Release);
        let asked = handover.listen_until(&l, true, Duration::from_secs(5), |_, _| {});
        assert_eq!(asked, None, "not decided yet: accept on");
    }

    #[test]
    fn a_probe_is_known_in_either_address_family() {
        let handover = Handover::default();
        let addr = |a: &str| a.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{e}"));
        *handover.probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr("127.0.0.1:4000"));
        let mapped = addr("[::ffff:127.0.0.1]:4000");
        assert!(!handover.claims_probe(mapped), "only while probing");
        handover.probing.store(true, Ordering::Release);
        assert!(handover.claims_probe(mapped));
        assert!(handover.probe_arrived.load(Ordering::Acquire));
        assert!(!handover.claims_probe(addr("127.0.0.1:4001")));
    }
}
