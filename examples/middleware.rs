//! Run with: cargo run --example middleware -- site 8080
//!
//! Handlers compose by wrapping: `Timed` measures the handler it wraps and
//! adds `Server-Timing` plus a few security headers to every response it
//! passes on, whatever that handler is (here, the static-files handler).

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use otuserver_core::http::HeaderValue;
use otuserver_core::{Handler, Request, Response, Server, ServerConfig, StaticFiles};

/// The repository's demo site, wherever the example is run from.
const DEMO_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");

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

fn main() -> ExitCode {
    // Errors as one line that says what failed, not as a Debug dump.
    if let Err(e) = run() {
        eprintln!("middleware: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| DEMO_SITE.to_owned());
    let port = port(args.next())?;

    let app = Timed {
        inner: StaticFiles::new(&root)?,
    };
    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(app)?;
    Ok(())
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn port(arg: Option<String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
