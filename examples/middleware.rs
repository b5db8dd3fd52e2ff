//! Run with: cargo run --example middleware -- ./public 8080
//!
//! Handlers compose by wrapping: `Timed` measures the handler it wraps and
//! adds `Server-Timing` plus a few security headers to every response it
//! passes on, whatever that handler is (here, the static-files handler).

use std::error::Error;
use std::time::Instant;

use otuserver_core::http::HeaderValue;
use otuserver_core::{Handler, Request, Response, Server, ServerConfig, StaticFiles};

/// Wraps a handler: times it and adds headers to its responses.
struct Timed<H> {
    inner: H,
}

impl<H: Handler> Handler for Timed<H> {
    fn handle(&self, req: Request) -> Response {
        let started = Instant::now();
        let mut resp = self.inner.handle(req);
        let micros = started.elapsed().as_micros();
        let headers = resp.headers_mut();
        // Milliseconds, as the Server-Timing header expects.
        let timing = format!("handler;dur={}.{:03}", micros / 1000, micros % 1000);
        if let Ok(value) = HeaderValue::from_str(&timing) {
            headers.insert("server-timing", value);
        }
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        resp
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".to_owned());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(8080);

    let app = Timed {
        inner: StaticFiles::new(&root)?,
    };
    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(app)?;
    Ok(())
}
