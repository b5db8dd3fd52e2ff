//! Command-line flags.

use std::path::PathBuf;

use argh::FromArgs;
use otuserver_core::{AccessLogFormat, ServerConfig, StaticFiles};

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

    /// worker threads (default: the number of cores, here {workers})
    #[argh(option, short = 'w', default = "defaults().workers()")]
    pub workers: usize,

    /// listen backlog; 0 means the default (default {backlog})
    #[argh(option, short = 'b', default = "defaults().backlog()")]
    pub backlog: u32,

    /// seconds a client may take to send a whole request head, and to read
    /// each part of a response (default {timeout})
    #[argh(option, short = 't', default = "defaults().timeout().as_secs()")]
    pub timeout: u64,

    /// seconds a shutdown lets requests in flight finish, for example a
    /// large download during a rolling deploy (default: the timeout, -t)
    #[argh(option)]
    pub grace: Option<u64>,

    /// seconds a kept-alive connection may sit idle between requests
    /// (default {keepalive})
    #[argh(
        option,
        short = 'k',
        default = "defaults().keep_alive_timeout().as_secs()"
    )]
    pub keepalive: u64,

    /// most connections open at once, more get 503; 0 derives it from the
    /// file-descriptor limit (default {max_connections})
    #[argh(option, default = "defaults().max_connections()")]
    pub max_connections: usize,

    /// least rate in bytes/s at which a client must read a response once
    /// the timeout has passed; 0 turns the check off (default {min_rate})
    #[argh(option, default = "defaults().min_send_rate()")]
    pub min_rate: u64,

    /// bytes read from a socket at a time (default {chunksize})
    #[argh(option, short = 'c', default = "defaults().chunk_size()")]
    pub chunksize: usize,

    /// largest request head accepted, in bytes (default {maxsize})
    #[argh(option, short = 'm', default = "defaults().max_head_size()")]
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

    /// access-log format: common, combined (with Referer and User-Agent)
    /// or json (one object a line) (default common)
    #[argh(
        option,
        default = "AccessLogFormat::Common",
        from_str_fn(parse_log_format)
    )]
    pub log_format: AccessLogFormat,

    /// milliseconds a small file (up to 16 KiB) is served from memory
    /// before it is read again; 0 turns the cache off (default {cache_ms})
    #[argh(option, default = "cache_ms_default()")]
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

    /// bind with SO_REUSEPORT, so that a new otuserver can bind the same
    /// address beside this one and take over: start it, then stop this one
    /// (SIGTERM); connections already queued here are still answered
    #[argh(switch)]
    pub reuse_port: bool,

    /// a file under the root (such as index.html) served with 200 for a
    /// missing path without an extension to a client asking for HTML: a
    /// single-page app's routes
    #[argh(option)]
    pub fallback: Option<String>,

    /// an error page, as CODE=FILE (404=404.html): the status stays, the
    /// body is FILE, under the root; repeatable
    #[argh(option)]
    pub error_page: Vec<String>,

    /// a header added to every response, as "Name: value"; repeatable
    #[argh(option)]
    pub header: Vec<String>,

    /// let pages from other origins read responses (CORS): '*' for any, or
    /// a comma-separated list such as https://a.example,https://b.example;
    /// preflights (OPTIONS) are answered 204
    #[argh(option)]
    pub cors: Option<String>,

    /// list directories that have no index.html
    #[argh(switch, short = 'g')]
    pub generate_index: bool,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
}

/// The library's defaults, which the flags' defaults and help texts take.
fn defaults() -> ServerConfig {
    ServerConfig::default()
}

fn cache_ms_default() -> u64 {
    u64::try_from(StaticFiles::DEFAULT_CACHE_TTL.as_millis()).unwrap_or(u64::MAX)
}

/// `help` (argh's, from the doc comments above) with each `{name}` filled
/// in with the library's default for that flag.
pub fn with_defaults(help: &str) -> String {
    let d = defaults();
    [
        ("{workers}", d.workers().to_string()),
        ("{backlog}", d.backlog().to_string()),
        ("{timeout}", d.timeout().as_secs().to_string()),
        ("{keepalive}", d.keep_alive_timeout().as_secs().to_string()),
        ("{max_connections}", d.max_connections().to_string()),
        ("{min_rate}", d.min_send_rate().to_string()),
        ("{chunksize}", d.chunk_size().to_string()),
        ("{maxsize}", d.max_head_size().to_string()),
        ("{cache_ms}", cache_ms_default().to_string()),
    ]
    .iter()
    .fold(help.to_owned(), |text, (name, value)| {
        text.replace(name, value)
    })
}

fn parse_level(value: &str) -> Result<log::LevelFilter, String> {
    match value {
        "d" => Ok(log::LevelFilter::Debug),
        "i" => Ok(log::LevelFilter::Info),
        "e" => Ok(log::LevelFilter::Error),
        other => Err(format!("log level must be d, i or e, not {other:?}")),
    }
}

fn parse_log_format(value: &str) -> Result<AccessLogFormat, String> {
    match value {
        "common" => Ok(AccessLogFormat::Common),
        "combined" => Ok(AccessLogFormat::Combined),
        "json" => Ok(AccessLogFormat::Json),
        other => Err(format!(
            "log format must be common, combined or json, not {other:?}"
        )),
    }
}
