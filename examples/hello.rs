//! Run with: cargo run --example hello -- 8080
//!
//! A closure as the handler: every request gets a greeting naming its path.

use std::error::Error;

use otuserver_core::{Request, Response, Server, ServerConfig, response};

fn main() -> Result<(), Box<dyn Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse()?,
        None => 8080,
    };
    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(|req: Request| -> Response {
        response::text(format!("hello from {}\n", req.uri().path()))
    })?;
    Ok(())
}
