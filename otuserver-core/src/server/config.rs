//! How a server behaves: every option, its default and its range, in one
//! place. [`ServerConfig`] is always valid; [`ServerConfigBuilder`] checks
//! each value when it builds one.

use std::time::Duration;

use super::access_log::AccessLogFormat;
use super::listener;
use crate::ConfigError;
use crate::http1::{DEFAULT_CHUNK_SIZE, DEFAULT_MAX_HEAD_SIZE};

const DEFAULT_BACKLOG: u32 = 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);
const DEFAULT_MIN_SEND_RATE: u64 = 4096;
const DEFAULT_MAX_DISCARD: u64 = 64 * 1024;
/// As nginx's `client_max_body_size`.
const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
/// As nginx's thread pools: enough for handlers that wait on other
/// services, few enough that their stacks stay small.
const DEFAULT_POOL_THREADS: usize = 32;
/// Requests waiting for a pool thread; each may hold a body of up to
/// `max_body_size`.
const DEFAULT_POOL_QUEUE: usize = 256;
/// The smallest head limit: `GET / HTTP/1.1` and its line end.
const MIN_HEAD_SIZE: usize = 16;
/// The most a head limit or a read may be: buffers of this size are
/// allocated per connection.
const MAX_BUFFER: usize = 1024 * 1024;
/// The longest timeout accepted: deadlines are instants, which overflow
/// far out.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// How a [`Server`](crate::Server) behaves: a valid set of options, made by
/// [`ServerConfig::default`] or [`ServerConfig::builder`]. The getters say
/// what is in force; the builder's setters document each option, its
/// default and its range.
///
/// ```
/// use std::time::Duration;
/// use otuserver_core::ServerConfig;
///
/// let config = ServerConfig::builder()
///     .workers(4)
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(config.workers(), 4);
/// assert_eq!(config.keep_alive_timeout(), Duration::from_secs(15)); // the default
///
/// let err = ServerConfig::builder().workers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "workers must be at least 1, not 0");
/// # Ok::<(), otuserver_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    workers: usize,
    backlog: u32,
    timeout: Duration,
    keep_alive_timeout: Duration,
    min_send_rate: u64,
    max_connections: usize,
    chunk_size: usize,
    max_head_size: usize,
    max_discard: u64,
    max_body_size: u64,
    pool_threads: usize,
    pool_queue: usize,
    /// `None`: the timeout.
    shutdown_grace: Option<Duration>,
    reuse_port: bool,
    access_log_format: AccessLogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            backlog: DEFAULT_BACKLOG,
            timeout: DEFAULT_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE,
            min_send_rate: DEFAULT_MIN_SEND_RATE,
            max_connections: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_head_size: DEFAULT_MAX_HEAD_SIZE,
            max_discard: DEFAULT_MAX_DISCARD,
            max_body_size: DEFAULT_MAX_BODY,
            pool_threads: DEFAULT_POOL_THREADS,
            pool_queue: DEFAULT_POOL_QUEUE,
            shutdown_grace: None,
            reuse_port: false,
            access_log_format: AccessLogFormat::Common,
        }
    }
}

impl ServerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ServerConfigBuilder {
        ServerConfigBuilder {
            config: ServerConfig::default(),
        }
    }

    /// A builder starting from this configuration.
    pub fn to_builder(&self) -> ServerConfigBuilder {
        ServerConfigBuilder {
            config: self.clone(),
        }
    }

    /// Worker threads; see [`ServerConfigBuilder::workers`].
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The listen backlog; see [`ServerConfigBuilder::backlog`].
    pub fn backlog(&self) -> u32 {
        self.backlog
    }

    /// The request and response timeout; see [`ServerConfigBuilder::timeout`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The idle time allowed between requests; see
    /// [`ServerConfigBuilder::keep_alive_timeout`].
    pub fn keep_alive_timeout(&self) -> Duration {
        self.keep_alive_timeout
    }

    /// The least rate a client must read at; see
    /// [`ServerConfigBuilder::min_send_rate`].
    pub fn min_send_rate(&self) -> u64 {
        self.min_send_rate
    }

    /// The connection cap; see [`ServerConfigBuilder::max_connections`].
    /// `0` until a [`Server`](crate::Server) resolves it: the server's own
    /// [`config`](crate::Server::config) holds the number in force.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Bytes asked of a socket per read; see
    /// [`ServerConfigBuilder::chunk_size`].
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The largest request head; see [`ServerConfigBuilder::max_head_size`].
    pub fn max_head_size(&self) -> usize {
        self.max_head_size
    }

    /// The largest request body dropped to keep a connection; see
    /// [`ServerConfigBuilder::max_discard`].
    pub fn max_discard(&self) -> u64 {
        self.max_discard
    }

    /// The largest request body read for a handler; see
    /// [`ServerConfigBuilder::max_body_size`].
    pub fn max_body_size(&self) -> u64 {
        self.max_body_size
    }

    /// The most worker-pool threads; see
    /// [`ServerConfigBuilder::pool_threads`].
    pub fn pool_threads(&self) -> usize {
        self.pool_threads
    }

    /// The most requests waiting for a pool thread; see
    /// [`ServerConfigBuilder::pool_queue`].
    pub fn pool_queue(&self) -> usize {
        self.pool_queue
    }

    /// How long a shutdown waits for requests in flight; see
    /// [`ServerConfigBuilder::shutdown_grace`].
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace.unwrap_or(self.timeout)
    }

    /// How access-log lines are written; see
    /// [`ServerConfigBuilder::access_log_format`].
    pub fn access_log_format(&self) -> AccessLogFormat {
        self.access_log_format
    }

    /// Whether the listening socket is bound with `SO_REUSEPORT`; see
    /// [`ServerConfigBuilder::reuse_port`].
    pub fn reuse_port(&self) -> bool {
        self.reuse_port
    }

    /// This configuration with the connection cap made concrete: as
    /// configured, or two descriptors a connection within the descriptor
    /// limit, after the server's own.
    pub(super) fn with_resolved_cap(mut self) -> ServerConfig {
        if self.max_connections == 0 {
            // A connection holds two descriptors at most for long: its
            // socket and the file it sends. Reserved beside them: the
            // process's own (standard streams, the listener, the log), and
            // per loop its poller, its wake-up, a spare for answering 503
            // when out of descriptors, and what it opens for a moment (a
            // file and its two variants, a listing's directory and entry);
            // and the files the static files' cache keeps open.
            let reserve = 32 + 8 * self.workers as u64 + crate::static_files::OPEN_FILES as u64;
            let limit = listener::fd_limit().unwrap_or(1024);
            let cap = (limit.saturating_sub(reserve) / 2).max(16);
            self.max_connections = usize::try_from(cap).unwrap_or(usize::MAX);
        }
        self
    }
}

/// Sets the options of a [`ServerConfig`] one by one; [`build`] checks them
/// all. Each setter says the option's default and range.
///
/// [`build`]: ServerConfigBuilder::build
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServerConfigBuilder {
    config: ServerConfig,
}

impl ServerConfigBuilder {
    /// Worker threads, each an event loop over its own connections that
    /// runs the handler for their requests. Default: the number of cores.
    /// At least 1.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// Pending connections the kernel queues before `accept`. Default 1024
    /// (Linux caps it at `net.core.somaxconn`). At most `i32::MAX`.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.config.backlog = backlog;
        self
    }

    /// How long a client may take to send a whole request head (from the
    /// connection's start, or from the first byte of a later request), and
    /// the longest a response may wait for the client to read; and, unless
    /// [`shutdown_grace`](ServerConfigBuilder::shutdown_grace) says
    /// otherwise, how long shutdown waits for requests in flight. Default
    /// 15 s. More than zero, at most a day.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// How long a kept-alive connection may sit idle between requests.
    /// Default 15 s. More than zero, at most a day.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.keep_alive_timeout = timeout;
        self
    }

    /// The least average rate, in bytes a second, at which a client must
    /// read a response once `timeout` has passed; `0` turns the check off.
    /// Default 4096.
    pub fn min_send_rate(mut self, bytes_per_second: u64) -> Self {
        self.config.min_send_rate = bytes_per_second;
        self
    }

    /// The most connections open at once; more are answered `503` and
    /// closed. `0`, the default, derives it from the file-descriptor limit:
    /// two descriptors a connection (its socket, a file it sends), after a
    /// reserve for the process and its loops.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Bytes asked of the socket per read. Default 1024. At least 1, at
    /// most 1 MiB.
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.config.chunk_size = bytes;
        self
    }

    /// The largest request head accepted, in bytes: a longer request line
    /// is `414`, a larger head `431`. Default 4096. At least 16, at most
    /// 1 MiB.
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.config.max_head_size = bytes;
        self
    }

    /// The largest request body read and thrown away to keep a connection
    /// alive; a larger or chunked one closes the connection after the
    /// response. The part of a body not yet arrived is dropped after the
    /// response, as it comes, so no thread waits for it. Default 64 KiB.
    pub fn max_discard(mut self, bytes: u64) -> Self {
        self.config.max_discard = bytes;
        self
    }

    /// The largest request body read for a handler that reads bodies
    /// ([`Needs::body`](crate::Needs::body)): a larger `Content-Length` is
    /// answered `413` before any of the body is read, a chunked body as
    /// soon as it grows past it. Default 1 MiB.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.max_body_size = bytes;
        self
    }

    /// The most threads of the worker pool, which runs handlers that may
    /// block ([`Needs::blocking`](crate::Needs::blocking)); they are
    /// started as work needs them. A handler that never returns holds one.
    /// Default 32. At least 1.
    pub fn pool_threads(mut self, threads: usize) -> Self {
        self.config.pool_threads = threads;
        self
    }

    /// The most requests waiting for a pool thread; more are answered
    /// `503` with `Retry-After`. Default 256.
    pub fn pool_queue(mut self, requests: usize) -> Self {
        self.config.pool_queue = requests;
        self
    }

    /// How long a shutdown lets requests in flight (their bodies, their
    /// handlers, their responses) finish before it closes them. Default:
    /// the [`timeout`](ServerConfigBuilder::timeout). More than zero, at
    /// most a day.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = Some(grace);
        self
    }

    /// How access-log lines are written (to the `log` target
    /// [`ACCESS_LOG_TARGET`](crate::ACCESS_LOG_TARGET), at info level).
    /// Default [`AccessLogFormat::Common`].
    pub fn access_log_format(mut self, format: AccessLogFormat) -> Self {
        self.config.access_log_format = format;
        self
    }

    /// Binds with `SO_REUSEPORT`, so that a new process can bind the same
    /// address beside this one and take over without a moment of refused
    /// connections (stop the old one when the new one listens). On Linux a
    /// stopping server first steers new connections to the other socket on
    /// the port and keeps accepting for 250 ms (at most the shutdown grace)
    /// while its half-open handshakes finish, so that closing resets none
    /// that finish in that time; with more than two sockets on the port one
    /// of the others takes the new connections. Default off.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.config.reuse_port = on;
        self
    }

    /// The configuration, or the first option out of its range, named as
    /// its setter is.
    pub fn build(self) -> Result<ServerConfig, ConfigError> {
        let c = &self.config;
        let buffer = MAX_BUFFER as u64;
        between("workers", 1, u64::MAX, c.workers as u64)?;
        between("chunk_size", 1, buffer, c.chunk_size as u64)?;
        let head = c.max_head_size as u64;
        between("max_head_size", MIN_HEAD_SIZE as u64, buffer, head)?;
        within_a_day("timeout", c.timeout)?;
        within_a_day("keep_alive_timeout", c.keep_alive_timeout)?;
        if let Some(grace) = c.shutdown_grace {
            within_a_day("shutdown_grace", grace)?;
        }
        between("backlog", 0, i32::MAX as u64, u64::from(c.backlog))?;
        between("pool_threads", 1, u64::MAX, c.pool_threads as u64)?;
        Ok(self.config)
    }
}

fn between(setting: &'static str, min: u64, max: u64, value: u64) -> Result<(), ConfigError> {
    let requirement = if value < min {
        format!("must be at least {min}, not {value}")
    } else if value > max {
        format!("must be at most {max}, not {value}")
    } else {
        return Ok(());
    };
    Err(ConfigError::new(setting, requirement))
}

fn within_a_day(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(setting, "must be more than zero".into()));
    }
    if value > MAX_TIMEOUT {
        return Err(ConfigError::new(
            setting,
            format!(
                "must be at most {} seconds (a day), not {}",
                MAX_TIMEOUT.as_secs(),
                value.as_secs()
            ),
        ));
    }
    Ok(())
}
