//! Helpers shared by the integration tests: a document root with fixtures,
//! a server on 127.0.0.1:0 that stops when dropped, and a raw HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use otuserver_core::{
    Error, Handler, Server, ServerConfig, ServerConfigBuilder, ShutdownHandle, StaticFiles,
};

/// Text of the canary file placed next to (outside) the document root.
pub const CANARY: &str = "CANARY-outside-the-root";

/// A temporary directory holding `root/` (the document root) and a canary
/// file beside it that must never be served.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

/// The fixture tree every test serves.
pub fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::write(base.join("secret.txt"), CANARY).unwrap();
    std::fs::create_dir_all(base.join("secret-dir")).unwrap();
    std::fs::write(base.join("secret-dir/index.html"), CANARY).unwrap();
    let root = base.join("root");
    let files: &[(&str, &[u8])] = &[
        ("index.html", b"<h1>root index</h1>\n"),
        ("page.html", b"<p>page</p>\n"),
        ("text..txt", b"two dots\n"),
        ("space in name.txt", b"spaces\n"),
        ("dir2/index.html", b"<html><body>dir2 index</body></html>\n"),
        ("dir2/page.html", b"dir2 page\n"),
        ("noindex/file.txt", b"inside noindex\n"),
        ("a/b/c/deep.txt", b"three folders deep\n"),
        ("types/x.html", b"h"),
        ("types/x.txt", b"t"),
        ("types/x.md", b"m"),
        ("types/x.csv", b"c"),
        ("types/x.css", b"c"),
        ("types/x.js", b"j"),
        ("types/x.jpg", b"jpg"),
        ("types/x.jpeg", b"jpeg"),
        ("types/x.png", b"png"),
        ("types/x.gif", b"gif"),
        ("types/x.swf", b"swf"),
        ("types/x.unknownext", b"?"),
        ("list/b.txt", b"b"),
        ("list/a.txt", b"a"),
        ("list/<img src=x onerror=alert(1)>.txt", b"xss"),
        ("list/q?#.txt", b"q"),
        ("list/zdir/inner.txt", b"inner"),
        ("list/adir/inner.txt", b"inner"),
        ("%2e", b"literal percent-2e"),
    ];
    for (name, contents) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    std::fs::write(root.join("big.bin"), big_bytes()).unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(base.join("secret-dir"), root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("page.html"), root.join("inside-link.html")).unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("noindex/index.html")).unwrap();
    Site { dir }
}

/// About 1 MB of bytes that are not all the same, so an offset error shows.
pub fn big_bytes() -> Vec<u8> {
    (0..1_048_583u32).map(|i| (i % 251) as u8).collect()
}

/// A running server that shuts down when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl TestServer {
    pub fn start<H: Handler>(handler: H, config: ServerConfig) -> TestServer {
        let server = Server::bind("127.0.0.1:0", config).unwrap();
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.serve(handler));
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// Serves `root` with listings on and a short timeout.
    pub fn static_files(root: &Path) -> TestServer {
        let files = StaticFiles::new(root).unwrap().generate_index(true);
        TestServer::start(files, quick_config())
    }

    /// Tells the server to stop, without waiting for it.
    pub fn begin_stop(&self) {
        self.handle.shutdown();
    }

    /// Stops the server and waits for it, returning what `serve` returned.
    pub fn stop(mut self) -> Result<(), Error> {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `workers` threads, and `timeout` for both the head and keep-alive.
pub fn config(workers: usize, timeout: Duration) -> ServerConfig {
    ServerConfig::builder()
        .workers(workers)
        .timeout(timeout)
        .keep_alive_timeout(timeout)
        .build()
        .unwrap()
}

pub fn quick_config() -> ServerConfig {
    config(2, Duration::from_secs(2))
}

/// `base` changed by `change`.
pub fn changed(
    base: &ServerConfig,
    change: impl FnOnce(ServerConfigBuilder) -> ServerConfigBuilder,
) -> ServerConfig {
    change(base.to_builder()).build().unwrap()
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response from `s`; `head_only` for responses to HEAD.
pub fn read_response(s: &mut TcpStream, head_only: bool) -> Resp {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).unwrap();
        assert!(
            n == 1,
            "connection closed inside a response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut resp = Resp {
        status,
        head: head.clone(),
        headers,
        body: Vec::new(),
    };
    if !head_only {
        if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().unwrap();
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).unwrap();
            resp.body = body;
        }
    }
    resp
}

/// Sends `request` on a new connection and reads one response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let head_only = request.starts_with(b"HEAD ");
    read_response(&mut s, head_only)
}

/// `GET target` over HTTP/1.1 with `Connection: close`.
pub fn get(addr: SocketAddr, target: &str) -> Resp {
    exchange(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Everything the server sends on a new connection after `request`, up to
/// its close.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Asserts that the server still answers a fresh client.
pub fn assert_alive(addr: SocketAddr) {
    let r = get(addr, "/page.html");
    assert_eq!(r.status, 200, "server stopped answering");
    assert_eq!(r.body, b"<p>page</p>\n");
}

/// Reads a chunked body from `r` to its last chunk, handing each chunk's
/// bytes to `each`; the body's length.
pub fn read_chunked_with<R: std::io::BufRead>(r: &mut R, mut each: impl FnMut(&[u8])) -> u64 {
    let mut total = 0;
    let mut line = Vec::new();
    let mut chunk = Vec::new();
    loop {
        line.clear();
        r.read_until(b'\n', &mut line).unwrap();
        assert!(line.ends_with(b"\r\n"), "{line:?}");
        let size = std::str::from_utf8(&line[..line.len() - 2]).unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            line.clear();
            r.read_until(b'\n', &mut line).unwrap();
            assert_eq!(line, b"\r\n");
            return total;
        }
        chunk.resize(size, 0);
        r.read_exact(&mut chunk).unwrap();
        each(&chunk);
        total += size as u64;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).unwrap();
        assert_eq!(&crlf, b"\r\n");
    }
}

/// Reads a chunked body from `r` to its last chunk; its length.
pub fn read_chunked<R: std::io::BufRead>(r: &mut R) -> u64 {
    read_chunked_with(r, |_| {})
}

/// This process's resident memory, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The head of a response read from `r`, up to its blank line.
pub fn read_head_from<R: std::io::BufRead>(r: &mut R) -> String {
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let n = r.read_line(&mut head).unwrap();
        assert!(n > 0, "closed in the head: {head}");
    }
    head
}

/// Installs Debian `packages` with apt-get (the tests run as root in CI);
/// whether it worked.
pub fn apt_install(packages: &[&str]) -> bool {
    let apt = |args: &[&str]| {
        std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    apt(&["update", "-qq"]) && apt(&[&["install", "-y", "-qq"][..], packages].concat())
}
