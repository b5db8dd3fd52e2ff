//! Run with: cargo run --example router -- ./public 8080
//!
//! Static files under `/static/`, a small JSON API under `/api/`, and `404`
//! everywhere else.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use otuserver_core::http::StatusCode;
use otuserver_core::{Request, Response, Router, Server, ServerConfig, StaticFiles, response};

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

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".to_owned());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(8080);

    let app = Router::new()
        .mount("/static", StaticFiles::new(&root)?)
        .mount("/api", |req: Request| api(&req));

    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(app)?;
    Ok(())
}
