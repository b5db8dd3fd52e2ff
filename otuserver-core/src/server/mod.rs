//! The server: a listener, and one event loop per worker thread that
//! accepts connections, waits on them all at once and answers their
//! requests; shutdown.
//!
//! Everything about sockets, readiness, timeouts and threads lives here, so
//! handlers stay blocking and simple. [`event_loop`] owns the sockets'
//! registrations and the clock; [`connection`] is one connection's state
//! machine, from its first byte to its close; [`outgoing`] is a response on
//! its way out; [`config`] holds every option with its default;
//! [`listener`] binds and accepts; [`handover`] lets a process beside this
//! one take the port over without a reset.

mod access_log;
mod config;
mod connection;
mod event_loop;
mod handover;
mod listener;
mod outgoing;
mod pool;
mod read;
mod request;
mod stream;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, Handler};

pub use access_log::AccessLogFormat;
pub use config::{ServerConfig, ServerConfigBuilder};
pub use listener::raise_fd_limit;

/// State shared by the event loops and every [`ShutdownHandle`].
struct Shared {
    stopping: AtomicBool,
    /// Connections open in all loops, for the cap.
    open: AtomicUsize,
    /// One poller per event loop, so a shutdown can wake each.
    pollers: Vec<polling::Poller>,
    /// One mailbox per event loop, for what the worker pool sends it.
    mailboxes: Vec<pool::Mailbox>,
    /// Event loops still running, and the first error one ended with;
    /// `serve` waits on `changed` for either to move, or for a shutdown.
    running: Mutex<Running>,
    changed: Condvar,
    handover: handover::Handover,
}

#[derive(Default)]
struct Running {
    loops: usize,
    error: Option<Error>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Tells every loop to stop, and wakes it (and `serve`) to notice.
    fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        for poller in &self.pollers {
            if let Err(e) = poller.notify() {
                log::error!("waking an event loop to stop: {e}");
            }
        }
        let _running = self.running();
        self.changed.notify_all();
    }

    /// Leaves `mail` for event loop `lp` and wakes it.
    fn post(&self, lp: usize, mail: pool::Mail) {
        if let (Some(mailbox), Some(poller)) = (self.mailboxes.get(lp), self.pollers.get(lp)) {
            mailbox.post(mail);
            if let Err(e) = poller.notify() {
                log::error!("waking event loop {lp}: {e}");
            }
        }
    }

    /// An event loop has ended, with `result`. One failing stops the
    /// server, not just itself.
    fn loop_ended(&self, result: Result<(), Error>) {
        let failed = result.is_err();
        {
            let mut running = self.running();
            running.loops = running.loops.saturating_sub(1);
            if let Err(e) = result {
                running.error.get_or_insert(e);
            }
            self.changed.notify_all();
        }
        if failed {
            self.stop();
        }
    }

    /// The loops' state; a loop that panicked holding the lock leaves
    /// counts that are still right.
    fn running(&self) -> MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
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
    /// binds) with `SO_REUSEADDR`, the configured backlog and, if
    /// configured, `SO_REUSEPORT`. `::` accepts IPv4 clients too.
    pub fn bind<A: ToSocketAddrs + std::fmt::Debug>(
        addr: A,
        config: ServerConfig,
    ) -> Result<Server, Error> {
        let listener = listener::bind(addr, config.backlog(), config.reuse_port())?;
        Server::with_listener(listener, config)
    }

    /// Serves on `listener`, a socket already bound and listening: one
    /// inherited from systemd's socket activation (`LISTEN_FDS`), or bound
    /// by the program itself. It is made non-blocking and close-on-exec; a
    /// socket that is not a listening TCP socket is an error.
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> Result<Server, Error> {
        listener::check_inherited(&listener)?;
        Server::with_listener(listener, config)
    }

    fn with_listener(listener: TcpListener, config: ServerConfig) -> Result<Server, Error> {
        let config = config.with_resolved_cap();
        let local_addr = listener.local_addr()?;
        let pollers = (0..config.workers())
            .map(|_| polling::Poller::new())
            .collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            mailboxes: pollers.iter().map(|_| pool::Mailbox::default()).collect(),
            pollers,
            running: Mutex::new(Running::default()),
            changed: Condvar::new(),
            handover: handover::Handover::default(),
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

    /// The configuration in force, with the connection cap resolved.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A handle that stops this server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves connections with `handler` until a [`ShutdownHandle`] stops
    /// the server, then returns once the event loops have finished.
    ///
    /// Each of the `workers` threads runs an event loop and calls the
    /// handler for the requests of the connections it owns, so a handler
    /// that blocks for long delays the other connections of its thread.
    ///
    /// Stopping is graceful: no new connection is accepted (with
    /// [`reuse_port`](ServerConfigBuilder::reuse_port), once those already
    /// on their way are in), idle ones are closed, and responses already
    /// begun are finished (with `Connection: close`), waiting for them at
    /// most the configured `timeout`. A thread still inside a handler then is left to finish
    /// on its own.
    pub fn serve<H: Handler>(self, handler: H) -> Result<(), Error> {
        let listener = Arc::new(self.listener);
        listener.set_nonblocking(true)?;
        let handler = Arc::new(handler);
        let config = Arc::new(self.config);
        let shared = self.shared;
        let pool = pool::Pool::new(
            Arc::clone(&handler),
            Arc::clone(&shared),
            config.pool_threads(),
            config.pool_queue(),
        );
        shared.running().loops = config.workers();
        for index in 0..config.workers() {
            let (listener, mine, config, handler, workers) = (
                Arc::clone(&listener),
                Arc::clone(&shared),
                Arc::clone(&config),
                Arc::clone(&handler),
                Arc::clone(&pool),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("otuserver-{index}"))
                .spawn(move || {
                    let run =
                        || event_loop::run(index, &listener, &mine, &config, &*handler, &workers);
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                        .unwrap_or_else(|_| {
                            Err(Error::Io(std::io::Error::other("an event loop panicked")))
                        });
                    // The listener closes with its last holder: let go of it
                    // before `serve` can learn this loop has ended and return.
                    drop(listener);
                    mine.loop_ended(result);
                });
            if let Err(e) = spawned {
                // The loops already started stop and are left to end.
                shared.stop();
                pool.close();
                return Err(e.into());
            }
        }
        // Threads are not joined: one stuck in a handler past the grace
        // period is left to finish on its own, and the others have ended.
        let grace = config.shutdown_grace() + Duration::from_secs(1);
        let mut deadline = None;
        let mut running = shared.running();
        while running.loops > 0 {
            if !shared.stopping() {
                running = shared
                    .changed
                    .wait(running)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let until = *deadline.get_or_insert_with(|| Instant::now() + grace);
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                log::warn!("an event loop is still inside a handler at shutdown; leaving it");
                break;
            };
            running = shared
                .changed
                .wait_timeout(running, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let result = match running.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        };
        drop(running);
        pool.close();
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
        self.shared.stop();
    }
}
