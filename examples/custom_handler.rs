//! Run with: cargo run --example custom_handler -- 8080
//!
//! The `Handler` trait implemented on a struct whose state every worker
//! thread shares: a hit counter (an atomic) and hits per path (a mutex).

use std::collections::HashMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use otuserver_core::{ClientAddr, Handler, Request, Response, Server, ServerConfig, response};

#[derive(Default)]
struct HitCounter {
    total: AtomicU64,
    per_path: Mutex<HashMap<String, u64>>,
}

impl Handler for HitCounter {
    fn handle(&self, req: Request) -> Response {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let path = req.uri().path().to_owned();
        let this_path = {
            // A panic elsewhere cannot poison the count for good.
            let mut map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(path.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let from = req
            .extensions()
            .get::<ClientAddr>()
            .map_or_else(|| "unknown".to_owned(), |a| a.0.ip().to_string());
        response::text(format!(
            "hit {total} in all, {this_path} for {path}, from {from}\n"
        ))
    }
}

fn main() -> ExitCode {
    // Errors as one line that says what failed, not as a Debug dump.
    if let Err(e) = run() {
        eprintln!("custom_handler: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let port = port(std::env::args().nth(1))?;
    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(HitCounter::default())?;
    Ok(())
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn port(arg: Option<String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
