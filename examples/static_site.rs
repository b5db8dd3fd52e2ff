//! Run with: cargo run --example static_site -- site 8080
//!
//! The static-files handler and the server embedded in a program, stopped
//! gracefully by Ctrl-C (SIGINT) or SIGTERM: no new connections, responses
//! in flight finished, then `serve` returns.

use std::error::Error;
use std::process::ExitCode;

use otuserver_core::{Server, ServerConfig, StaticFiles};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The repository's demo site, wherever the example is run from.
const DEMO_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");

fn main() -> ExitCode {
    // Errors as one line that says what failed, not as a Debug dump.
    if let Err(e) = run() {
        eprintln!("static_site: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| DEMO_SITE.to_owned());
    let port = port(args.next())?;

    let files = StaticFiles::new(&root)?.generate_index(true);
    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());

    let stop = server.shutdown_handle();
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop.shutdown();
        }
    });

    server.serve(files)?;
    println!("stopped");
    Ok(())
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn port(arg: Option<String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
