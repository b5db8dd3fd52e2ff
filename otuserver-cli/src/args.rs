//! Command-line flags.

use std::path::PathBuf;

use argh::FromArgs;

/// Serve a directory over HTTP/1.x.
#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help"))]
pub struct Args {
    /// address to listen on (default 0.0.0.0)
    #[argh(option, short = 's', default = "String::from(\"0.0.0.0\")")]
    pub host: String,

    /// port to listen on; 0 picks any free port (default 0)
    #[argh(option, short = 'p', default = "0")]
    pub port: u16,

    /// directory to serve (default: the current directory)
    #[argh(option, short = 'r', default = "PathBuf::from(\".\")")]
    pub docsroot: PathBuf,

    /// worker threads (default: the number of cores)
    #[argh(option, short = 'w', default = "default_workers()")]
    pub workers: usize,

    /// listen backlog; 0 means 1024 (default 0)
    #[argh(option, short = 'b', default = "0")]
    pub backlog: u32,

    /// seconds a client may take to send a whole request head, and to read
    /// each part of a response (default 15)
    #[argh(option, short = 't', default = "15")]
    pub timeout: u64,

    /// seconds a kept-alive connection may sit idle between requests
    /// (default 15)
    #[argh(option, short = 'k', default = "15")]
    pub keepalive: u64,

    /// most connections open at once, more get 503; 0 derives it from the
    /// file-descriptor limit (default 0)
    #[argh(option, default = "0")]
    pub max_connections: usize,

    /// least rate in bytes/s at which a client must read a response once
    /// the timeout has passed; 0 turns the check off (default 4096)
    #[argh(option, default = "4096")]
    pub min_rate: u64,

    /// bytes read from a socket at a time (default 1024)
    #[argh(option, short = 'c', default = "1024")]
    pub chunksize: usize,

    /// largest request head accepted, in bytes (default 4096)
    #[argh(option, short = 'm', default = "4096")]
    pub maxsize: usize,

    /// log level: d (debug), i (info, with an access log) or e (errors
    /// only) (default i)
    #[argh(
        option,
        short = 'l',
        default = "log::LevelFilter::Info",
        from_str_fn(parse_level)
    )]
    pub loglevel: log::LevelFilter,

    /// milliseconds a small file (up to 16 KiB) is served from memory
    /// before it is read again; 0 turns the cache off (default 1000)
    #[argh(option, default = "1000")]
    pub cache_ms: u64,

    /// never serve NAME.br or NAME.gz in place of NAME, even to clients
    /// that accept br or gzip
    #[argh(switch)]
    pub no_precompressed: bool,

    /// a Cache-Control header for files and listings, for example
    /// "public, max-age=3600" (default: none)
    #[argh(option)]
    pub cache_control: Option<String>,

    /// serve and list dotfiles (.env, .git/...); by default they are 404
    /// and hidden, save /.well-known/
    #[argh(switch)]
    pub allow_dotfiles: bool,

    /// list directories that have no index.html
    #[argh(switch, short = 'g')]
    pub generate_index: bool,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_level(value: &str) -> Result<log::LevelFilter, String> {
    match value {
        "d" => Ok(log::LevelFilter::Debug),
        "i" => Ok(log::LevelFilter::Info),
        "e" => Ok(log::LevelFilter::Error),
        other => Err(format!("log level must be d, i or e, not {other:?}")),
    }
}
