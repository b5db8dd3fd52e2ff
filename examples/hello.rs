//! Run with: cargo run --example hello -- 8080
//!
//! A closure as the handler: every request gets a greeting naming its path.

use std::error::Error;
use std::process::ExitCode;

use otuserver_core::{Request, Response, Server, ServerConfig, response};

fn main() -> ExitCode {
    // Errors as one line that says what failed, not as a Debug dump.
    if let Err(e) = run() {
        eprintln!("hello: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let port = port(std::env::args().nth(1))?;
    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(|req: Request| -> Response {
        response::text(format!("hello from {}\n", req.uri().path()))
    })?;
    Ok(())
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn port(arg: Option<String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
