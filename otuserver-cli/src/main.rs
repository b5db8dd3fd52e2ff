//! `otuserver`: serve a directory over HTTP/1.x.

mod args;
mod logger;
mod systemd;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use otuserver_core::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use otuserver_core::{
    Cors, Error, Handler, Server, ServerConfig, ShutdownHandle, StaticFiles, WithHeaders,
};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use args::Args;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let (command, rest) = match argv.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("otuserver", &[][..]),
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let args = match <Args as argh::FromArgs>::from_args(&["otuserver"], &rest) {
        Ok(args) => args,
        Err(early) => {
            return if early.status.is_ok() {
                print!("{}", args::with_defaults(&early.output));
                ExitCode::SUCCESS
            } else {
                let first = early.output.lines().next().unwrap_or("bad arguments");
                eprintln!("{command}: {first} (try --help)");
                ExitCode::from(2)
            };
        }
    };
    if args.version {
        println!("otuserver {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    logger::init(args.loglevel);
    // Each connection is a descriptor: take all the system allows.
    if let Err(e) = otuserver_core::raise_fd_limit() {
        log::warn!("could not raise the open-file limit: {e}");
    }
    let result = run(&args);
    // What was logged goes out before the process does.
    log::logger().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otuserver: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut files = StaticFiles::new(&args.docsroot)
        .map_err(|e| in_flag_terms(&e))?
        .generate_index(args.generate_index)
        .precompressed(!args.no_precompressed)
        .allow_dotfiles(args.allow_dotfiles)
        .cache_ttl(Duration::from_millis(args.cache_ms));
    if let Some(page) = &args.fallback {
        files = files.fallback(page);
    }
    for given in &args.error_page {
        let bad = || format!("--error-page {given:?}: not CODE=FILE with a 4xx or 5xx CODE");
        let (code, page) = given.split_once('=').ok_or_else(bad)?;
        let status = StatusCode::from_bytes(code.trim().as_bytes()).map_err(|_| bad())?;
        if !(status.is_client_error() || status.is_server_error()) || page.trim().is_empty() {
            return Err(bad().into());
        }
        files = files.error_page(status, page.trim());
    }
    if let Some(value) = &args.cache_control {
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("--cache-control {value:?}: not a valid header value"))?;
        files = files.cache_control(value);
    }
    let root = files.root().to_path_buf();
    let app = around(files, args)?;
    let mut config = ServerConfig::builder()
        .reuse_port(args.reuse_port)
        .access_log_format(args.log_format)
        .workers(args.workers)
        .timeout(Duration::from_secs(args.timeout))
        .keep_alive_timeout(Duration::from_secs(args.keepalive))
        .max_connections(args.max_connections)
        .min_send_rate(args.min_rate)
        .chunk_size(args.chunksize)
        .max_head_size(args.maxsize);
    if let Some(grace) = args.grace {
        config = config.shutdown_grace(Duration::from_secs(grace));
    }
    // `-b 0` keeps the library's default backlog.
    if args.backlog != 0 {
        config = config.backlog(args.backlog);
    }
    let config = config.build().map_err(|e| in_flag_terms(&e.into()))?;

    let host = if args.host.contains(':') && !args.host.starts_with('[') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    let server = match systemd::inherited_listener()? {
        Some(listener) => Server::from_listener(listener, config)
            .map_err(|e| format!("the socket systemd passed (LISTEN_FDS): {e}"))?,
        None => {
            Server::bind(format!("{host}:{}", args.port), config).map_err(|e| in_flag_terms(&e))?
        }
    };
    stop_on_signals(server.shutdown_handle())?;
    let addr = server.local_addr();
    println!(
        "otuserver {} serving {} at {}",
        env!("CARGO_PKG_VERSION"),
        root.display(),
        where_to_open(addr)
    );
    let config = server.config();
    log::info!(
        "{} workers, timeout {:?}, keep-alive {:?}, at most {} connections, listings {}",
        config.workers(),
        config.timeout(),
        config.keep_alive_timeout(),
        config.max_connections(),
        if args.generate_index { "on" } else { "off" }
    );
    systemd::notify("READY=1");
    server.serve(app)?;
    log::info!("stopped");
    Ok(())
}

/// `files` with what `--header` and `--cors` ask for around it.
fn around(files: StaticFiles, args: &Args) -> Result<Arc<dyn Handler>, String> {
    let mut app: Arc<dyn Handler> = Arc::new(files);
    if !args.header.is_empty() {
        let mut headers = HeaderMap::new();
        for given in &args.header {
            let bad = || format!("--header {given:?}: not a header (\"Name: value\")");
            let (name, value) = given.split_once(':').ok_or_else(bad)?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            headers.append(name, value);
        }
        app = Arc::new(WithHeaders::new(app, headers));
    }
    if let Some(origins) = &args.cors {
        app = if origins.trim() == "*" {
            Arc::new(Cors::any(app))
        } else {
            let cors = Cors::allow(app, origins.split(',').filter(|o| !o.trim().is_empty()));
            Arc::new(cors.ok_or_else(|| format!("--cors {origins:?}: not a list of origins"))?)
        };
    }
    Ok(app)
}

/// `error` told in terms of the flags that caused it, so that the one line
/// a user sees names what to change (`-w/--workers must be at least 1, not
/// 0`).
fn in_flag_terms(error: &Error) -> String {
    match error {
        Error::Config(bad) => match flag_of(bad.setting()) {
            Some(flag) => format!("{flag} {}", bad.requirement()),
            None => error.to_string(),
        },
        Error::DocRoot { .. } => format!("-r/--docsroot: {error}"),
        Error::Bind { .. } => format!("-s/--host, -p/--port: {error}"),
        _ => error.to_string(),
    }
}

/// The flag that sets `ServerConfig`'s `setting`.
fn flag_of(setting: &str) -> Option<&'static str> {
    Some(match setting {
        "workers" => "-w/--workers",
        "backlog" => "-b/--backlog",
        "timeout" => "-t/--timeout",
        "keep_alive_timeout" => "-k/--keepalive",
        "shutdown_grace" => "--grace",
        "min_send_rate" => "--min-rate",
        "max_connections" => "--max-connections",
        "chunk_size" => "-c/--chunksize",
        "max_head_size" => "-m/--maxsize",
        _ => return None,
    })
}

/// The URL to open for a server bound to `addr`. An unspecified address
/// (`0.0.0.0`, `::`) is no place to browse to: name loopback of the same
/// family instead, and say that every interface listens.
fn where_to_open(addr: SocketAddr) -> String {
    if !addr.ip().is_unspecified() {
        return format!("http://{addr}/");
    }
    let loopback = match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    let open = SocketAddr::new(loopback, addr.port());
    format!("http://{open}/ (listening on all interfaces, {addr})")
}

/// Stops the server gracefully on the first SIGINT or SIGTERM, and at once
/// on a second one: an operator's "stop now".
fn stop_on_signals(handle: ShutdownHandle) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("otuserver-signals".into())
        .spawn(move || {
            let mut forever = signals.forever();
            if let Some(signal) = forever.next() {
                log::info!("signal {signal}: stopping (again to stop at once)");
                systemd::notify("STOPPING=1");
                handle.shutdown();
            }
            if let Some(signal) = forever.next() {
                eprintln!("otuserver: signal {signal} again: stopping at once");
                std::process::exit(1);
            }
        })?;
    Ok(())
}
