//! Run with: cargo run --example static_site -- ./public 8080
//!
//! The static-files handler and the server embedded in a program, stopped
//! gracefully by Ctrl-C (SIGINT) or SIGTERM: no new connections, responses
//! in flight finished, then `serve` returns.

use std::error::Error;

use otuserver_core::{Server, ServerConfig, StaticFiles};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".to_owned());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(8080);

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
