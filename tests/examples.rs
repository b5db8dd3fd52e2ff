//! Every program in `examples/` runs and does what its comment says: each is
//! built, started on a free port and asked over real sockets.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::get;

/// Where cargo puts the example binaries, after building them once (a
/// no-op when `cargo test` already has).
fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples", "-p", "otuserver-core"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the examples build");
        // target/debug/deps/examples-HASH -> target/debug/examples
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("examples")
    })
}

/// A running example, killed on drop.
struct Example {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
}

impl Example {
    /// Starts example `name` and waits for its "listening on" line.
    fn start(name: &str, args: &[&str]) -> Example {
        Example::start_in(name, args, Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    /// Starts example `name` in the directory `cwd`.
    fn start_in(name: &str, args: &[&str], cwd: &Path) -> Example {
        let mut child = Command::new(examples_dir().join(name))
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("{name} printed {line:?}"))
            .parse()
            .unwrap();
        Example {
            child,
            addr,
            stdout,
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello, file\n").unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/a.txt"), "a\n").unwrap();
    dir
}

#[test]
fn hello_answers_with_a_closure() {
    let ex = Example::start("hello", &["0"]);
    let r = get(ex.addr, "/some/path");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello from /some/path\n");
}

#[test]
fn static_site_serves_and_stops_gracefully_on_ctrl_c() {
    let dir = site();
    let mut ex = Example::start("static_site", &[dir.path().to_str().unwrap(), "0"]);
    assert_eq!(get(ex.addr, "/").text(), "<h1>home</h1>\n");
    assert_eq!(get(ex.addr, "/hello.txt").text(), "hello, file\n");
    let listing = get(ex.addr, "/docs/");
    assert!(
        listing.text().contains("href=\"./a.txt\""),
        "{}",
        listing.text()
    );

    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(ex.child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = ex.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    ex.stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "stopped\n");
}

#[test]
fn router_mounts_files_and_an_api() {
    let dir = site();
    let ex = Example::start("router", &[dir.path().to_str().unwrap(), "0"]);
    assert_eq!(get(ex.addr, "/static/hello.txt").text(), "hello, file\n");
    // The mounted handler's redirect keeps the prefix it never saw.
    let r = get(ex.addr, "/static/docs");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/static/docs/"));
    assert_eq!(get(ex.addr, "/static").header("location"), Some("/static/"));

    let r = get(ex.addr, "/api/time");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let text = r.text();
    let secs: u64 = text
        .trim()
        .strip_prefix("{\"unix\":")
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap();
    assert!(secs > 1_700_000_000, "{secs}");
    assert_eq!(get(ex.addr, "/api/hello?ada").text(), "hello, ada\n");
    let r = get(ex.addr, "/api/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(get(ex.addr, "/hello.txt").status, 404);
    assert_eq!(get(ex.addr, "/").status, 404);
}

#[test]
fn middleware_wraps_any_handler() {
    let dir = site();
    let ex = Example::start("middleware", &[dir.path().to_str().unwrap(), "0"]);
    for path in ["/hello.txt", "/missing"] {
        let r = get(ex.addr, path);
        let timing = r.header("server-timing").unwrap_or_default();
        let ms = timing
            .strip_prefix("handler;dur=")
            .unwrap_or_else(|| panic!("{timing}"));
        assert!(ms.parse::<f64>().is_ok(), "{timing}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    assert_eq!(get(ex.addr, "/hello.txt").text(), "hello, file\n");
    assert_eq!(get(ex.addr, "/missing").status, 404);
}

#[test]
fn custom_handler_shares_state_across_workers() {
    let ex = Example::start("custom_handler", &["0"]);
    // Concurrent clients, so several worker threads share the counters.
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let addr = ex.addr;
            std::thread::spawn(move || get(addr, if i % 2 == 0 { "/even" } else { "/odd" }))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().status, 200);
    }
    assert_eq!(
        get(ex.addr, "/even").text(),
        "hit 9 in all, 5 for /even, from 127.0.0.1\n"
    );
}

/// The workspace root, where a fresh clone's README commands run.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn each_example_runs_as_its_comment_says() {
    // The "Run with:" line of each example, run from the workspace root
    // with its port swapped for 0: the demo site it names exists and the
    // example serves it.
    let cases = [
        ("hello", "/", "hello from /"),
        ("static_site", "/", "<h1>It works</h1>"),
        ("router", "/static/", "<h1>It works</h1>"),
        ("middleware", "/docs/", "<h1>docs/</h1>"),
        ("custom_handler", "/", "hit 1 in all"),
        ("notes", "/", "<h1>It works</h1>"),
        ("slow_backend", "/docs/", "<h1>docs/</h1>"),
        // A 256 MiB export: its head only (the body is not read here).
        ("stream", "/", ""),
    ];
    for (name, path, want) in cases {
        let source =
            std::fs::read_to_string(workspace().join(format!("examples/{name}.rs"))).unwrap();
        let command = source
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("//! Run with: "))
            .unwrap_or_else(|| panic!("{name}: no Run with line"));
        let prefix = format!("cargo run --example {name} -- ");
        let args: Vec<&str> = command
            .strip_prefix(prefix.as_str())
            .unwrap_or_else(|| panic!("{name}: {command}"))
            .split_whitespace()
            .map(|a| if a == "8080" { "0" } else { a })
            .collect();
        let ex = Example::start_in(name, &args, &workspace());
        let r = get(ex.addr, path);
        assert_eq!(r.status, 200, "{name} {path}");
        assert!(r.text().contains(want), "{name} {path}: {}", r.text());
    }
}

#[test]
fn a_missing_root_is_one_line_naming_it() {
    let out = Command::new(examples_dir().join("static_site"))
        .args(["./no-such-dir", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("static_site: document root ./no-such-dir"),
        "{err}"
    );
    assert!(!err.contains("DocRoot {"), "{err}");
    let out = Command::new(examples_dir().join("hello"))
        .arg("eighty")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "hello: port \"eighty\": not a number from 0 to 65535"
    );
}

/// Sends `method target` with `body` (JSON) on a new connection.
fn call(addr: SocketAddr, method: &str, target: &str, body: &str) -> common::Resp {
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    common::exchange(addr, req.as_bytes())
}

#[test]
fn notes_keeps_notes_beside_the_demo_site() {
    let ex = Example::start("notes", &["0"]);
    let a = ex.addr;
    let r = call(a, "POST", "/api/notes", r#"{"text":"buy milk"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("location"), Some("/api/notes/1"));
    assert_eq!(r.text(), "{\"id\":1,\"text\":\"buy milk\"}\n");
    call(a, "POST", "/api/notes", r#"{"text":"call ané"}"#);
    assert_eq!(
        call(a, "GET", "/api/notes", "").text(),
        "[{\"id\":1,\"text\":\"buy milk\"},{\"id\":2,\"text\":\"call ané\"}]\n"
    );
    assert_eq!(
        call(a, "GET", "/api/notes/2", "").text(),
        call(a, "GET", "/api/notes?id=2", "").text()
    );
    assert_eq!(call(a, "POST", "/api/notes", "not json").status, 400);
    assert_eq!(call(a, "POST", "/api/notes", r#"{"txt":1}"#).status, 400);
    assert_eq!(call(a, "DELETE", "/api/notes/1", "").status, 204);
    assert_eq!(call(a, "GET", "/api/notes/1", "").status, 404);
    assert_eq!(call(a, "DELETE", "/api/notes/1", "").status, 404);
    let r = call(a, "PUT", "/api/notes", "{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, HEAD, OPTIONS"));
    // The demo site is there too.
    assert_eq!(get(a, "/style.css").status, 200);
}

#[test]
fn slow_backend_serves_a_crowd_in_the_time_its_pool_allows() {
    // 100 clients of a 200 ms handler, 32 pool threads: four rounds, about
    // 0.8 s; the static files answer at once meanwhile.
    let ex = Example::start("slow_backend", &["0"]);
    let addr = ex.addr;
    let started = Instant::now();
    let crowd: Vec<_> = (0..100)
        .map(|_| std::thread::spawn(move || get(addr, "/slow").status))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    assert_eq!(get(addr, "/style.css").status, 200);
    let static_took = asked.elapsed();
    for c in crowd {
        assert_eq!(c.join().unwrap(), 200);
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(750), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert!(static_took < Duration::from_millis(100), "{static_took:?}");
}

#[test]
fn stream_exports_a_csv_row_by_row() {
    let ex = Example::start("stream", &["3", "0"]);
    let mut s = std::net::TcpStream::connect(ex.addr).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(r.read_line(&mut head).unwrap() > 0);
    }
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-type: text/csv; charset=utf-8\r\n"),
        "{head}"
    );
    let mut csv = Vec::new();
    let len = common::read_chunked_with(&mut r, |chunk| csv.extend_from_slice(chunk));
    assert!(len >= 3 << 20, "{len}");
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,name,score,checksum"));
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[0], (n + 1).to_string(), "rows in order, none lost");
    }
    assert!(text.ends_with('\n'));
}
