//! systemd's side of the process: a listening socket handed over by socket
//! activation (`LISTEN_PID`, `LISTEN_FDS`, the first descriptor being 3),
//! and readiness and stopping reported to `NOTIFY_SOCKET`. Both protocols
//! are a few lines (see sd_listen_fds(3) and sd_notify(3)).

use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The first descriptor systemd passes.
const LISTEN_FDS_START: i32 = 3;

/// The listening socket systemd passed, if it passed one; an error when the
/// variables are there but do not describe exactly one socket for this
/// process.
pub fn inherited_listener() -> Result<Option<TcpListener>, String> {
    let Some(fds) = std::env::var_os("LISTEN_FDS") else {
        return Ok(None);
    };
    let pid = std::env::var("LISTEN_PID").unwrap_or_default();
    if pid.trim() != std::process::id().to_string() {
        return Err(format!(
            "LISTEN_FDS is set, but LISTEN_PID ({pid:?}) is not this process ({})",
            std::process::id()
        ));
    }
    match fds.to_str().map(str::trim) {
        Some("1") => {}
        Some(n) => {
            return Err(format!(
                "systemd passed {n} sockets (LISTEN_FDS); otuserver serves one"
            ));
        }
        None => return Err("LISTEN_FDS is not a number".to_owned()),
    }
    // SAFETY: systemd's protocol hands this process descriptor 3, which
    // nothing else in it has taken; Server::from_listener checks that it is
    // a listening TCP socket before using it.
    Ok(Some(unsafe { TcpListener::from_raw_fd(LISTEN_FDS_START) }))
}

/// Tells systemd `state` (`READY=1`, `STOPPING=1`) if it asked to be told.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr));
    if let Err(e) = sent {
        log::warn!("telling systemd {state}: {e}");
    }
}
