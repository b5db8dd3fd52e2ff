//! Run with: cargo run --example stream -- 8080
//!
//! A large CSV export generated row by row at `/`: 256 MiB by default (a
//! first argument sets the size in MiB). The body's length is not known
//! up front, so it goes out chunked; it is produced on a worker-pool thread
//! only as fast as the client reads, so the server's memory stays flat
//! whatever the size.
//!
//! ```text
//! curl -s http://127.0.0.1:8080/ | tail -n 2
//! ```

use std::error::Error;
use std::fmt::Write;
use std::process::ExitCode;

use otuserver_core::http::StatusCode;
use otuserver_core::http::header::CONTENT_DISPOSITION;
use otuserver_core::{Body, Bytes, Request, Response, Server, ServerConfig, response};

/// Rows are gathered into chunks of about this many bytes.
const CHUNK: usize = 64 * 1024;

fn main() -> ExitCode {
    if let Err(e) = run() {
        eprintln!("stream: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mib, port) = match args.as_slice() {
        [] => (256, None),
        [port] => (256, Some(port)),
        [mib, port, ..] => (
            mib.parse::<u64>()
                .map_err(|_| format!("size {mib:?}: not a number of MiB"))?,
            Some(port),
        ),
    };
    let port = parse_port(port)?;
    let size = mib * 1024 * 1024;

    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    server.serve(move |_req: Request| -> Response { export(size) })?;
    Ok(())
}

/// A CSV of at least `size` bytes, made a chunk of rows at a time.
fn export(size: u64) -> Response {
    let mut row = 0u64;
    let mut made = 0u64;
    let header = Some(Ok(Bytes::from_static(b"id,name,score,checksum\n")));
    let rows = std::iter::from_fn(move || {
        if made >= size {
            return None;
        }
        let mut chunk = String::with_capacity(CHUNK + 64);
        while chunk.len() < CHUNK && made + (chunk.len() as u64) < size {
            row += 1;
            let score = row.wrapping_mul(2_654_435_761) % 1000;
            let _ = writeln!(chunk, "{row},user-{row:08},{score},{:x}", row ^ score);
        }
        made += chunk.len() as u64;
        Some(Ok(Bytes::from(chunk)))
    });
    let mut resp = response::with_body(
        StatusCode::OK,
        "text/csv; charset=utf-8",
        Body::stream(header.into_iter().chain(rows)),
    );
    resp.headers_mut().insert(
        CONTENT_DISPOSITION,
        otuserver_core::http::HeaderValue::from_static("attachment; filename=\"export.csv\""),
    );
    resp
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn parse_port(arg: Option<&String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
