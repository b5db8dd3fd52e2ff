//! Run with: cargo run --example router -- site 8080
//!
//! Static files under `/static/`, a small JSON API under `/api/`, and `404`
//! everywhere else.

use std::error::Error;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use otuserver_core::http::StatusCode;
use otuserver_core::{Request, Response, Router, Server, ServerConfig, StaticFiles, response};

/// The repository's demo site, wherever the example is run from.
const DEMO_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");

/// `/api/...`: the router has already removed `/api` from the path.
fn api(req: &Request) -> Response {
    match req.uri().path() {
        "/time" => {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            response::json(format!("{{\"unix\":{secs}}}\n"))
        }
        "/hello" => {
            let name = req.uri().query().unwrap_or("world").to_owned();
            response::text(format!("hello, {name}\n"))
        }
        _ => response::with_body(
            StatusCode::NOT_FOUND,
            "application/json",
            "{\"error\":\"no such endpoint\"}\n",
        ),
    }
}

fn main() -> ExitCode {
    // Errors as one line that says what failed, not as a Debug dump.
    if let Err(e) = run() {
        eprintln!("router: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| DEMO_SITE.to_owned());
    let port = port(args.next())?;

    let app = Router::new()
        .mount("/static", StaticFiles::new(&root)?)
        .mount("/api", |req: Request| api(&req));

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
