//! Run with: cargo run --example slow_backend -- 8080
//!
//! A handler that blocks for 200 ms (as a slow database would) at `/slow`,
//! beside the demo site's static files. It runs on the worker pool, so 100
//! clients at once are served in about the time the pool's threads allow
//! (100 x 200 ms / 32 threads: under a second), and the static files,
//! served on the event loops, stay fast meanwhile. With `--inline` the
//! handler runs on the event loops instead, as a handler that does not
//! block would: there to show the difference (bench/run.sh measures it).

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use otuserver_core::{
    Inline, Request, Response, Router, Server, ServerConfig, StaticFiles, response,
};

/// The repository's demo site, wherever the example is run from.
const DEMO_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");

fn main() -> ExitCode {
    if let Err(e) = run() {
        eprintln!("slow_backend: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// What a slow backend answers, 200 ms later.
fn slow(_req: Request) -> Response {
    std::thread::sleep(Duration::from_millis(200));
    response::json("{\"answer\":42}\n")
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let inline = args.first().is_some_and(|a| a == "--inline");
    if inline {
        args.remove(0);
    }
    let port = parse_port(args.last())?;

    let app = Router::new()
        .route("/slow", slow)
        .mount("/", StaticFiles::new(DEMO_SITE)?);

    let server = Server::bind(("127.0.0.1", port), ServerConfig::default())?;
    println!("listening on http://{}/", server.local_addr());
    if inline {
        // Everything on the event loops: each slow request holds one.
        server.serve(Inline(app))?;
    } else {
        server.serve(app)?;
    }
    Ok(())
}

/// The port named by `arg`: `0` picks any free one; none means 8080.
fn parse_port(arg: Option<&String>) -> Result<u16, String> {
    arg.map_or(Ok(8080), |p| {
        p.parse()
            .map_err(|_| format!("port {p:?}: not a number from 0 to 65535"))
    })
}
