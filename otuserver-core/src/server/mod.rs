//! The blocking server: a listener, a pool of worker threads, shutdown.
//!
//! Everything about sockets, timeouts and threads lives here, so handlers
//! stay blocking and simple. The accept-and-dispatch loop is in
//! [`listener`]; what happens on one connection is in [`connection`].

mod connection;
mod listener;
mod pool;
mod sendfile;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Error, Handler};
use pool::Registry;

/// How a [`Server`] behaves. Start from [`ServerConfig::default`] and change
/// the fields you need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Worker threads answering requests (default: the number of cores).
    pub workers: usize,
    /// Pending connections the kernel queues before `accept` (default 1024;
    /// Linux caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// How long a client may take to send a whole request head, to send the
    /// next request on a kept-alive connection, and to accept each write of
    /// the response (default 15 s).
    pub timeout: Duration,
    /// Bytes asked of the socket per read (default 1024).
    pub chunk_size: usize,
    /// The largest request head accepted, in bytes (default 4096).
    pub max_head_size: usize,
    /// The largest request body read and thrown away to keep a connection
    /// alive (default 64 KiB); a larger one closes the connection after the
    /// response.
    pub max_discard: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            backlog: 1024,
            timeout: Duration::from_secs(15),
            chunk_size: 1024,
            max_head_size: 4096,
            max_discard: 64 * 1024,
        }
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(what.to_owned()));
        if self.workers == 0 {
            return bad("workers must be at least 1");
        }
        if self.chunk_size == 0 {
            return bad("chunk size must be at least 1 byte");
        }
        if self.max_head_size < 16 {
            return bad("maximum head size must be at least 16 bytes");
        }
        if self.timeout.is_zero() {
            return bad("timeout must be more than zero");
        }
        if i32::try_from(self.backlog).is_err() {
            return bad("backlog is too large");
        }
        Ok(())
    }
}

/// State shared by the listener, the workers and every [`ShutdownHandle`].
struct Shared {
    stopping: AtomicBool,
    poller: polling::Poller,
    registry: Registry,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// A bound HTTP/1.x server, ready to [`serve`](Server::serve).
///
/// ```no_run
/// use otuserver_core::{Server, ServerConfig, StaticFiles};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::bind("127.0.0.1:0", ServerConfig::default())?;
/// println!("listening on http://{}/", server.local_addr());
/// let stop = server.shutdown_handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(60));
///     stop.shutdown();
/// });
/// server.serve(StaticFiles::new(".")?)?;
/// # Ok(())
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: ServerConfig,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds a listening socket on `addr` (the first of its addresses that
    /// binds) with `SO_REUSEADDR` and the configured backlog.
    pub fn bind<A: ToSocketAddrs + std::fmt::Debug>(
        addr: A,
        config: ServerConfig,
    ) -> Result<Server, Error> {
        config.validate()?;
        let listener = listener::bind(addr, config.backlog)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            poller: polling::Poller::new()?,
            registry: Registry::default(),
        });
        Ok(Server {
            listener,
            local_addr,
            config,
            shared,
        })
    }

    /// The address actually bound (with the port the system chose for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves connections with `handler` until a [`ShutdownHandle`] stops
    /// the server, then returns once every worker has finished.
    ///
    /// Stopping is graceful: no new connection is accepted, responses being
    /// written are finished, and idle connections are closed.
    pub fn serve<H: Handler>(self, handler: H) -> Result<(), Error> {
        let pool = pool::Pool::start(
            self.config.workers,
            handler,
            self.config.clone(),
            &self.shared,
        )?;
        let result = listener::accept_loop(&self.listener, &self.shared, &pool);
        // Whatever ended the loop, the server is stopping now.
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.registry.close_idle();
        pool.join();
        result
    }
}

/// Stops a running [`Server`]; cheap to clone and send to other threads.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("stopping", &self.shared.stopping())
            .finish()
    }
}

impl ShutdownHandle {
    /// Asks the server to stop: it accepts no new connection, finishes the
    /// responses in flight and closes idle connections. Returns at once;
    /// [`Server::serve`] returns when the server has stopped.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.registry.close_idle();
        if let Err(e) = self.shared.poller.notify() {
            log::error!("waking the listener to stop: {e}");
        }
    }
}
