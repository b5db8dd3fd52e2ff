//! A static-file HTTP/1.x server you can embed.
//!
//! `otuserver-core` is four pieces that fit together and also stand alone:
//!
//! * [`Handler`]: a request in, a response out, blocking and synchronous.
//!   Closures are handlers; so is [`StaticFiles`], which serves a directory.
//! * The codec in [`http1`]: reads a request head from any [`std::io::Read`]
//!   and writes a response to any [`std::io::Write`].
//! * `Server`: a listener and worker threads, each an event loop over
//!   its connections that runs the handler for every request, with
//!   timeouts, keep-alive, limits and graceful shutdown. It is the
//!   `server` cargo feature, on by default; without it the crate has no
//!   sockets, threads or poller, and the pieces above work inside any
//!   other transport.
//! * The types of the [`http`] crate for requests and responses, with
//!   [`Body`] for response bodies (empty, bytes, or a file streamed with
//!   `sendfile`).
//!
//! Serve a directory until another thread says stop:
//!
//! ```
//! # #[cfg(feature = "server")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use otuserver_core::{Server, ServerConfig, StaticFiles};
//! use std::io::{Read, Write};
//!
//! let root = tempfile::tempdir()?;
//! std::fs::write(root.path().join("hello.txt"), "hello, world\n")?;
//!
//! let server = Server::bind("127.0.0.1:0", ServerConfig::default())?;
//! let addr = server.local_addr();
//! let stop = server.shutdown_handle();
//! let files = StaticFiles::new(root.path())?;
//! let running = std::thread::spawn(move || server.serve(files));
//!
//! let mut client = std::net::TcpStream::connect(addr)?;
//! client.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("\r\n\r\nhello, world\n"));
//!
//! stop.shutdown();
//! running.join().expect("server thread")?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "server"))]
//! # fn main() {}
//! ```
//!
//! A handler is tested without sockets by calling it:
//!
//! ```
//! use otuserver_core::{Bytes, Handler, Request, Response, http, response};
//!
//! let hello = |req: Request| -> Response { response::text(format!("you asked for {}", req.uri())) };
//! let req = http::Request::builder().uri("/x").body(Bytes::new()).unwrap();
//! assert_eq!(hello.handle(req).status(), 200);
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod body;
mod error;
mod handler;
pub mod http1;
mod json;
mod middleware;
mod path;
pub mod response;
mod route;
mod router;
#[cfg(feature = "server")]
mod server;
mod shortage;
mod static_files;

pub use body::{Body, BodyStream};
pub use bytes::Bytes;
#[cfg(feature = "server")]
pub use error::ConfigError;
pub use error::{Error, RequestError, ResolveError};
pub use handler::{Handler, Inline, Needs};
pub use http;
pub use middleware::{Cors, WithHeaders};
pub use path::MountPrefix;
pub use route::PathParams;
pub use router::Router;
#[cfg(feature = "server")]
pub use server::{
    AccessLogFormat, Server, ServerConfig, ServerConfigBuilder, ShutdownHandle, raise_fd_limit,
};
pub use static_files::StaticFiles;

/// The `log` target of the access log: one line per response, in Common Log
/// Format, at info level. A logger can send these lines somewhere of their
/// own, as the `otuserver` binary sends them to stdout.
pub const ACCESS_LOG_TARGET: &str = "otuserver::access";

/// A request as handlers see it: the head and the whole body (empty when
/// there was none, or when the handler said it does not read bodies), with
/// the client's address as a [`ClientAddr`] extension (unless the handler
/// said it does not read it: [`Needs::client_addr`]). In a test:
/// `http::Request::builder().uri("/x").body(Bytes::new())`.
pub type Request = http::Request<Bytes>;

/// A response as handlers return it.
pub type Response = http::Response<Body>;

/// The address of the client that sent a request, found in
/// [`Request::extensions`](http::Request::extensions) of every request the
/// server passes to a handler whose [`Needs::client_addr`] is set, as it is
/// by default (and that any other transport should put there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);
