//! The `otuserver` binary: flags, startup errors, serving, signals.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_otuserver");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// A running `otuserver`, killed when dropped.
struct Running {
    child: Child,
    url: String,
    port: u16,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let mut command = Command::new(BIN);
    command.args(["-s", "127.0.0.1", "-p", "0"]).args(args);
    start_command(command)
}

/// `start`, with the open-file limit (soft and hard) set to `nofile`.
fn start_limited(args: &[&str], nofile: u64) -> Running {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(BIN);
    command.args(["-s", "127.0.0.1", "-p", "0"]).args(args);
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    start_command(command)
}

fn start_command(mut command: Command) -> Running {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Running {
        child,
        url,
        port,
        stdout,
    }
}

fn get(port: u16, path: &str) -> String {
    get_with(port, path, "")
}

fn one_clear_line(out: &Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn docroot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.txt"), "a").unwrap();
    dir
}

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("otuserver {}", env!("CARGO_PKG_VERSION"))
    );
    for flag in ["-h", "--help"] {
        let out = run(&[flag]);
        assert!(out.status.success(), "{flag}");
        let help = String::from_utf8_lossy(&out.stdout);
        for name in [
            "--host",
            "--port",
            "--docsroot",
            "--workers",
            "--backlog",
            "--timeout",
            "--chunksize",
            "--maxsize",
            "--loglevel",
            "--generate-index",
            "--version",
            "--keepalive",
            "--max-connections",
            "--min-rate",
            "--cache-ms",
            "--cache-control",
            "--no-precompressed",
            "--allow-dotfiles",
        ] {
            assert!(help.contains(name), "{flag} lacks {name}: {help}");
        }
    }
}

#[test]
fn bad_flags_are_one_clear_line() {
    for args in [
        &["-p", "notaport"][..],
        &["-p", "70000"],
        &["-l", "x"],
        &["--unknown"],
        &["-w", "0"],
        &["-c", "0"],
        &["-t", "0"],
        &["-k", "0"],
        &["--min-rate", "fast"],
        &["--cache-control", "bad\nvalue"],
    ] {
        let err = one_clear_line(&run(args));
        assert!(
            err.starts_with("otuserver: ") || err.contains("otuserver"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn out_of_range_values_name_their_flag() {
    let dir = docroot();
    let root = dir.path().to_str().unwrap();
    for (args, want) in [
        (
            &["-w", "0"][..],
            "otuserver: -w/--workers must be at least 1, not 0",
        ),
        (
            &["-t", "0"],
            "otuserver: -t/--timeout must be more than zero",
        ),
        (
            &["-t", "86401"],
            "otuserver: -t/--timeout must be at most 86400 seconds (a day), not 86401",
        ),
        (
            &["-k", "0"],
            "otuserver: -k/--keepalive must be more than zero",
        ),
        (
            &["-c", "0"],
            "otuserver: -c/--chunksize must be at least 1, not 0",
        ),
        (
            &["-m", "15"],
            "otuserver: -m/--maxsize must be at least 16, not 15",
        ),
        (
            &["-c", "4000000000"],
            "otuserver: -c/--chunksize must be at most 1048576, not 4000000000",
        ),
        (
            &["-b", "4294967295"],
            "otuserver: -b/--backlog must be at most 2147483647, not 4294967295",
        ),
    ] {
        let mut all = vec!["-s", "127.0.0.1", "-p", "0", "-r", root];
        all.extend_from_slice(args);
        let err = one_clear_line(&run(&all));
        assert_eq!(err.trim_end(), want, "{args:?}");
    }
}

#[test]
fn bad_docroots_are_one_clear_line() {
    let dir = docroot();
    let missing = dir.path().join("missing");
    let err = one_clear_line(&run(&["-p", "0", "-r", missing.to_str().unwrap()]));
    assert!(err.starts_with("otuserver: -r/--docsroot: "), "{err}");
    assert!(err.contains("missing"), "{err}");
    let file = dir.path().join("hello.txt");
    let err = one_clear_line(&run(&["-p", "0", "-r", file.to_str().unwrap()]));
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = docroot();
    let err = one_clear_line(&run(&[
        "-s",
        "127.0.0.1",
        "-p",
        &port,
        "-r",
        dir.path().to_str().unwrap(),
    ]));
    assert!(
        err.starts_with("otuserver: -s/--host, -p/--port: failed to bind") && err.contains(&port),
        "{err}"
    );
}

#[test]
fn serves_logs_and_stops_on_sigterm() {
    let dir = docroot();
    let mut srv = start(&["-r", dir.path().to_str().unwrap(), "-w", "2"]);
    assert!(srv.url.starts_with("http://127.0.0.1:"), "{}", srv.url);
    let reply = get(srv.port, "/hello.txt");
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nhello\n"), "{reply}");
    assert!(
        get(srv.port, "/sub/").starts_with("HTTP/1.1 404"),
        "listings are off by default"
    );

    let mut access = String::new();
    srv.stdout.read_line(&mut access).unwrap();
    assert!(access.starts_with("127.0.0.1 - - ["), "{access}");
    assert!(
        access.contains("] \"GET /hello.txt HTTP/1.1\" 200 6"),
        "{access}"
    );

    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = srv.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn generate_index_and_quiet_logging() {
    let dir = docroot();
    let mut srv = start(&["-r", dir.path().to_str().unwrap(), "-g", "-l", "e"]);
    let page = get(srv.port, "/sub/");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("href=\"./a.txt\""), "{page}");
    // SAFETY: as above.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    srv.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.is_empty(), "-l e still logged access: {rest}");
    assert!(srv.child.wait().unwrap().success());
}

#[test]
fn connection_flags_take_effect() {
    let dir = docroot();
    let srv = start(&[
        "-r",
        dir.path().to_str().unwrap(),
        "--max-connections",
        "1",
        "-k",
        "1",
    ]);
    let mut idle = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 17];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK\r\n");
    // The one allowed connection is open: the next is refused, with a 503
    // if it arrives before the close.
    let mut extra = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = extra.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut reply = Vec::new();
    let _ = extra.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 503 "),
        "{reply}"
    );
    // -k 1: the idle connection closes within about a second.
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

fn get_with(port: u16, path: &str, headers: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn cache_control_and_precompressed_flags_take_effect() {
    let dir = docroot();
    std::fs::write(dir.path().join("hello.txt.gz"), "GZ").unwrap();
    let root = dir.path().to_str().unwrap();
    let srv = start(&["-r", root, "--cache-control", "public, max-age=60"]);
    let gz = get_with(srv.port, "/hello.txt", "Accept-Encoding: gzip\r\n");
    assert!(
        gz.contains("\r\ncache-control: public, max-age=60\r\n"),
        "{gz}"
    );
    assert!(gz.contains("\r\ncontent-encoding: gzip\r\n"), "{gz}");
    assert!(gz.ends_with("\r\n\r\nGZ"), "{gz}");
    drop(srv);

    let srv = start(&["-r", root, "--no-precompressed"]);
    let plain = get_with(srv.port, "/hello.txt", "Accept-Encoding: gzip\r\n");
    assert!(!plain.contains("content-encoding"), "{plain}");
    assert!(!plain.contains("cache-control"), "{plain}");
    assert!(!plain.contains("vary"), "{plain}");
    assert!(plain.ends_with("\r\n\r\nhello\n"), "{plain}");
}

#[test]
fn dotfiles_are_hidden_unless_allowed() {
    let dir = docroot();
    std::fs::write(dir.path().join(".env"), "SECRET=1\n").unwrap();
    let root = dir.path().to_str().unwrap();
    let srv = start(&["-r", root, "-g"]);
    assert!(get(srv.port, "/.env").starts_with("HTTP/1.1 404 "));
    assert!(!get(srv.port, "/").contains(".env"));
    drop(srv);
    let srv = start(&["-r", root, "-g", "--allow-dotfiles"]);
    assert!(get(srv.port, "/.env").ends_with("\r\n\r\nSECRET=1\n"));
    assert!(get(srv.port, "/").contains("href=\"./.env\""));
}

#[test]
fn a_response_cut_short_by_shutdown_is_still_logged() {
    let dir = big_root();
    let mut srv = start(&["-r", dir.path().to_str().unwrap(), "-t", "1"]);
    // A client that reads 64 MiB at about 640 KB/s: fast enough never to
    // be cut off as a slow reader, too slow to finish before the shutdown's
    // one-second grace period ends.
    let mut stuck = stuck_downloads(srv.port, &["/big.bin".into()])
        .pop()
        .unwrap();
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_reading = std::sync::Arc::clone(&done);
    let reader = std::thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10)
            && !stop_reading.load(std::sync::atomic::Ordering::Relaxed)
        {
            match stuck.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut log = String::new();
    srv.stdout.read_to_string(&mut log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("\"GET /big.bin HTTP/1.1\" 200 "))
        .unwrap_or_else(|| panic!("no access line in {log:?}"));
    let sent: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(sent > 0 && sent < 64 << 20, "{line}");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
}

/// The `href` and `src` values in `html`.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["href=\"", "src=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

/// `link` as seen from the page at `base` (a path ending in `/`).
fn resolve(base: &str, link: &str) -> String {
    let mut segments: Vec<&str> = base.trim_end_matches('/').split('/').collect();
    for part in link.split('/') {
        match part {
            ".." => {
                segments.pop();
            }
            "." => {}
            other => segments.push(other),
        }
    }
    let path = segments.join("/");
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

#[test]
fn the_first_command_serves_the_demo_site() {
    // README: `cargo run --release -- -r site -p 8080`. The page it opens is
    // a real page, and everything it and its subdirectory link to is there.
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");
    let srv = start(&["-r", site]);
    for page in ["/", "/docs/"] {
        let reply = get(srv.port, page);
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{page}: {reply}");
        let lower = reply.to_ascii_lowercase();
        assert!(lower.contains("\r\ncontent-type: text/html\r\n"), "{reply}");
        let (_, html) = reply.split_once("\r\n\r\n").unwrap();
        let local: Vec<String> = links(html)
            .into_iter()
            .filter(|l| !l.contains("://"))
            .collect();
        assert!(local.len() >= 3, "{page}: {local:?}");
        for link in local {
            let path = resolve(page, &link);
            let status = get(srv.port, &path);
            let want = match path.as_str() {
                "/docs" => "HTTP/1.1 301",
                "/missing.html" => "HTTP/1.1 404",
                _ => "HTTP/1.1 200",
            };
            assert!(status.starts_with(want), "{page} -> {path}: {status}");
        }
    }
    let notes = get(srv.port, "/docs/notes.txt");
    assert!(
        notes
            .to_ascii_lowercase()
            .contains("\r\ncontent-type: text/plain; charset=utf-8\r\n"),
        "{notes}"
    );
    assert!(notes.contains("naïve café"), "{notes}");
}

#[test]
fn all_interfaces_print_a_url_one_can_open() {
    // Bound to every interface, the startup line names loopback to open
    // and says what is listening. (Port 0: nothing is reachable for long.)
    let dir = docroot();
    let mut child = Command::new(BIN)
        .args([
            "-s",
            "0.0.0.0",
            "-p",
            "0",
            "-r",
            dir.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let url = line.split_whitespace().find(|w| w.starts_with("http://"));
    let url = url.unwrap_or_else(|| panic!("{line}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    assert!(
        line.trim_end()
            .ends_with(&format!("(listening on all interfaces, 0.0.0.0:{port})")),
        "{line}"
    );
}

#[test]
fn help_prints_the_library_defaults() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!flat.contains('{'), "a placeholder left: {flat}");
    let flat = flat.split_once("Options:").unwrap().1;
    let d = otuserver_core::ServerConfig::default();
    for (flag, value) in [
        ("-w, --workers", d.workers().to_string()),
        ("-b, --backlog", d.backlog().to_string()),
        ("-t, --timeout", d.timeout().as_secs().to_string()),
        (
            "-k, --keepalive",
            d.keep_alive_timeout().as_secs().to_string(),
        ),
        ("--min-rate", d.min_send_rate().to_string()),
        ("-c, --chunksize", d.chunk_size().to_string()),
        ("-m, --maxsize", d.max_head_size().to_string()),
    ] {
        let from = flat.find(flag).unwrap_or_else(|| panic!("{flag}: {flat}"));
        let text = &flat[from..];
        let end = text.find(')').unwrap_or(text.len());
        assert!(
            text[..end].ends_with(&format!(" {value}")),
            "{flag} should show {value}: {}",
            &text[..=end.min(text.len() - 1)]
        );
    }
}

#[test]
fn a_second_signal_stops_at_once() {
    let dir = big_root();
    let mut srv = start(&["-r", dir.path().to_str().unwrap(), "-t", "30"]);
    // A download nobody reads keeps a response in flight for the whole
    // grace period (30 s).
    let _stuck = stuck_downloads(srv.port, &["/big.bin".into()]);
    std::thread::sleep(Duration::from_millis(300));
    let pid = srv.child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "stopped before its grace"
    );
    let again = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = loop {
        if let Some(status) = srv.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            again.elapsed() < Duration::from_secs(3),
            "a second SIGTERM did not stop it"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
}

#[test]
fn grace_is_a_flag_with_a_range() {
    let dir = docroot();
    let root = dir.path().to_str().unwrap();
    let err = one_clear_line(&run(&[
        "-s",
        "127.0.0.1",
        "-p",
        "0",
        "-r",
        root,
        "--grace",
        "0",
    ]));
    assert_eq!(err.trim_end(), "otuserver: --grace must be more than zero");
}

#[test]
fn a_log_reader_that_stops_never_stops_the_server() {
    // stdout is a pipe this test does not read: after some 64 KiB of access
    // lines it is full. Requests go on being answered, the lines that do
    // not fit are dropped and counted, and the count is reported once the
    // pipe moves again.
    let dir = docroot();
    let mut srv = start(&["-r", dir.path().to_str().unwrap()]);
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = [0u8; 4096];
    for _ in 0..6000 {
        s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let n = s.read(&mut reply).expect("answered while the log is stuck");
        assert!(reply[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Now read the log: the writer gets through, and says what it dropped.
    let mut out = std::mem::replace(&mut srv.stdout, BufReader::new(empty_stdout()));
    let drain = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = out.read_to_string(&mut all);
        all
    });
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let status = srv.child.wait().unwrap();
    assert!(status.success());
    let logged = drain.join().unwrap();
    let mut err = String::new();
    srv.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("log lines dropped"), "{err}");
    assert!(logged.lines().count() < 6000, "nothing was dropped?");
}

/// A stdout that is already at its end, to put in place of one taken.
fn empty_stdout() -> std::process::ChildStdout {
    let mut child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let _ = child.wait();
    out
}

/// The test root with a 64 MiB file (sparse), `big.bin`.
fn big_root() -> tempfile::TempDir {
    let dir = docroot();
    let big = std::fs::File::create(dir.path().join("big.bin")).unwrap();
    big.set_len(64 << 20).unwrap();
    dir
}

/// `big_root` with a directory of 20 files, and `BIG_FILES` more 64 MiB
/// files (sparse), `big/0.bin` on: distinct files, so that downloads of
/// them cannot share one descriptor in the open-file cache.
fn crowded_root() -> tempfile::TempDir {
    let dir = big_root();
    std::fs::create_dir(dir.path().join("list")).unwrap();
    for i in 0..20 {
        std::fs::write(dir.path().join(format!("list/f{i}.txt")), "x").unwrap();
    }
    std::fs::create_dir(dir.path().join("big")).unwrap();
    for i in 0..BIG_FILES {
        let big = std::fs::File::create(dir.path().join(format!("big/{i}.bin"))).unwrap();
        big.set_len(64 << 20).unwrap();
    }
    dir
}

const BIG_FILES: usize = 150;

/// `/big/0.bin` to `/big/{n-1}.bin`.
fn distinct_big_files(n: usize) -> Vec<String> {
    assert!(n <= BIG_FILES);
    (0..n).map(|i| format!("/big/{i}.bin")).collect()
}

/// Starts a download of each of `paths` that is never read: each holds a
/// socket and its file open in the server.
fn stuck_downloads(port: u16, paths: &[String]) -> Vec<TcpStream> {
    paths
        .iter()
        .filter_map(|path| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
            std::thread::sleep(Duration::from_millis(20));
            Some(s)
        })
        .collect()
}

/// The status of `path` asked on the kept-alive `s`, with the body.
fn ask_on(s: &mut TcpStream, path: &str) -> (u16, String) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(&*s);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(r.read_line(&mut head).unwrap() > 0, "closed: {head}");
    }
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Whether a new connection gets an answer (any) within two seconds.
fn answered(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    std::str::from_utf8(reply.get(9..12)?).ok()?.parse().ok()
}

#[test]
fn the_default_connection_cap_keeps_descriptors_for_every_connection() {
    // 256 descriptors, one loop: the cap leaves room for each connection's
    // socket and file (three quarters of the limit, the old cap, did not).
    // Downloads past it get 503 at once; connections inside it are served
    // whole.
    let dir = crowded_root();
    let srv = start_limited(
        &[
            "-r",
            dir.path().to_str().unwrap(),
            "-w",
            "1",
            "-g",
            "-t",
            "30",
        ],
        256,
    );
    let mut kept = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    assert_eq!(ask_on(&mut kept, "/hello.txt").0, 200);
    let _stuck = stuck_downloads(srv.port, &distinct_big_files(140));
    assert_eq!(
        answered(srv.port),
        Some(503),
        "a new client must hear 503, not wait"
    );
    let (status, listing) = ask_on(&mut kept, "/list/");
    assert_eq!(status, 200);
    assert!(
        listing.contains("f19.txt") && listing.contains("f0.txt"),
        "{listing}"
    );
    assert_eq!(ask_on(&mut kept, "/hello.txt").0, 200);
}

#[test]
fn out_of_descriptors_is_503_never_500_nor_a_short_listing() {
    // A cap set past what the descriptors allow: the process runs out. A
    // listing is then 503, not a short 200; a new client hears 503 too.
    let dir = crowded_root();
    let args = [
        "-r",
        dir.path().to_str().unwrap(),
        "-w",
        "1",
        "-g",
        "-t",
        "30",
        "--max-connections",
        "200",
        "--cache-ms",
        "0",
    ];
    let srv = start_limited(&args, 64);
    let mut kept = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    assert_eq!(ask_on(&mut kept, "/hello.txt").0, 200);
    let _stuck = stuck_downloads(srv.port, &distinct_big_files(40));
    let (status, listing) = ask_on(&mut kept, "/list/");
    assert_eq!(status, 503, "{listing}");
    let (status, _) = ask_on(&mut kept, "/hello.txt");
    assert_eq!(status, 503);
    assert_eq!(answered(srv.port), Some(503));
}

/// A free loopback port, for a test that needs to name one up front.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// A GET of /hello.txt on a new connection; whether it came back whole.
fn fetch_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply.starts_with(b"HTTP/1.1 200 OK\r\n") && reply.ends_with(b"\r\n\r\nhello\n")
}

#[test]
fn a_new_process_takes_over_the_port_without_a_failed_request() {
    // --reuse-port: start a new server beside the old, stop the old; a
    // client making requests all along sees every one answered.
    let dir = docroot();
    let root = dir.path().to_str().unwrap().to_owned();
    let port = free_port().to_string();
    let args = [
        "-s",
        "127.0.0.1",
        "-p",
        &port,
        "-r",
        &root,
        "--reuse-port",
        "-l",
        "e",
    ];
    let old = start_command({
        let mut c = Command::new(BIN);
        c.args(args);
        c
    });
    let port: u16 = old.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Eight clients at once, so that connections sit in the old process's
    // accept queue when it stops.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) || ok + failed < 250 {
                    if fetch_ok(port) {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let new = start_command({
        let mut c = Command::new(BIN);
        c.args(args);
        c
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut old = old;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(old.child.id() as i32, libc::SIGTERM) };
    assert!(old.child.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, failed) = clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    drop(new);
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed over the handover",
        ok + failed
    );
    assert!(ok >= 2000);
}

#[test]
fn systemd_readiness_and_stopping_are_reported() {
    let dir = docroot();
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut command = Command::new(BIN);
    command
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            "0",
            "-r",
            dir.path().to_str().unwrap(),
        ])
        .env("NOTIFY_SOCKET", &sock_path);
    let mut srv = start_command(command);
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    assert!(fetch_ok(srv.port));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(srv.child.wait().unwrap().success());
}

#[test]
fn a_wrong_inherited_socket_is_one_clear_line() {
    let dir = docroot();
    let root = dir.path().to_str().unwrap();
    // Descriptor 3 is /dev/null, not a socket.
    let out = Command::new("sh")
        .args([
            "-c",
            r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -r "$1" 3</dev/null"#,
            BIN,
            root,
        ])
        .output()
        .unwrap();
    let err = one_clear_line(&out);
    assert!(
        err.contains("LISTEN_FDS") && err.contains("not a listening TCP socket"),
        "{err}"
    );
    // Variables meant for another process, or two sockets.
    let err = one_clear_line(
        &Command::new(BIN)
            .args(["-r", root])
            .env("LISTEN_FDS", "1")
            .env("LISTEN_PID", "1")
            .output()
            .unwrap(),
    );
    assert!(err.contains("LISTEN_PID"), "{err}");
    let out = Command::new("sh")
        .args([
            "-c",
            r#"LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" -r "$1""#,
            BIN,
            root,
        ])
        .output()
        .unwrap();
    assert!(one_clear_line(&out).contains("2 sockets"));
}

/// `systemd-socket-activate`, from Debian's systemd package (installed
/// with apt-get when missing, as .ci/run does).
fn socket_activate() -> &'static str {
    const TOOL: &str = "/usr/bin/systemd-socket-activate";
    if !std::path::Path::new(TOOL).exists() {
        let installed = common::apt_install(&["systemd"]);
        assert!(
            installed,
            "systemd-socket-activate is missing and apt-get could not install it"
        );
    }
    TOOL
}

#[test]
fn serves_a_socket_systemd_activates() {
    let dir = docroot();
    let port = free_port();
    let mut activator = Command::new(socket_activate())
        .args(["-l", &format!("127.0.0.1:{port}"), BIN, "-r"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The activator listens at once and starts the server on the first
    // connection, handing it the socket.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut served = false;
    while Instant::now() < deadline && !served {
        served = fetch_ok(port);
        if !served {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // SAFETY: kill(2) on our own child's pid (the activator execs the
    // server in its place).
    unsafe { libc::kill(activator.id() as i32, libc::SIGTERM) };
    let _ = activator.wait();
    assert!(served, "no answer through the activated socket");
}

#[test]
fn header_and_cors_flags_wrap_the_files() {
    let dir = docroot();
    let root = dir.path().to_str().unwrap();
    let srv = start(&[
        "-r",
        root,
        "--header",
        "X-Served-By: edge-1",
        "--cors",
        "https://a.example",
    ]);
    let reply = get_with(srv.port, "/hello.txt", "Origin: https://a.example\r\n");
    let lower = reply.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-served-by: edge-1\r\n"), "{reply}");
    assert!(
        lower.contains("\r\naccess-control-allow-origin: https://a.example\r\n"),
        "{reply}"
    );
    let err = one_clear_line(&run(&["-p", "0", "-r", root, "--header", "no colon"]));
    assert!(err.starts_with("otuserver: --header \"no colon\""), "{err}");
}

/// Sends a request with a hostile `User-Agent` (a quote, a byte that is not
/// UTF-8) and `Referer`, and returns the access-log line it made.
fn hostile_request_logged(format: &str) -> String {
    let dir = docroot();
    let mut srv = start(&["-r", dir.path().to_str().unwrap(), "--log-format", format]);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(
        b"GET /hello.txt?%0D%0Ax=%22&\xc3\xa9 HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\"\xff\r\n\
          Referer: http://a.example/\"q\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200 OK"));
    let mut line = String::new();
    srv.stdout.read_line(&mut line).unwrap();
    line
}

#[test]
fn json_access_lines_are_objects_nothing_can_break() {
    let line = hostile_request_logged("json");
    let entry: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["client"], "127.0.0.1");
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["path"], "/hello.txt?%0D%0Ax=%22&\u{e9}");
    assert_eq!(
        (entry["status"].as_u64(), entry["bytes"].as_u64()),
        (Some(200), Some(6))
    );
    assert!(entry["duration_us"].is_u64());
    assert!(entry["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(entry["user_agent"], "evil\"\u{ff}");
}

#[test]
fn a_request_refused_unread_is_logged_in_the_configured_format() {
    let dir = docroot();
    let mut srv = start(&["-r", dir.path().to_str().unwrap(), "--log-format", "json"]);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(b"NOT A REQUEST\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let mut line = String::new();
    srv.stdout.read_line(&mut line).unwrap();
    let entry: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["status"].as_u64(), Some(400), "{line}");
}

#[test]
fn combined_access_lines_escape_what_could_forge_a_line() {
    let line = hostile_request_logged("combined");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.trim_end().ends_with(
            r#""GET /hello.txt?%0D%0Ax=%22&\xC3\xA9 HTTP/1.1" 200 6 "http://a.example/\"q" "evil\"\xFF""#
        ),
        "{line}"
    );
    let err = one_clear_line(&run(&["--log-format", "xml"]));
    assert!(err.contains("common, combined or json"), "{err}");
}

#[test]
fn fallback_and_error_page_flags() {
    let dir = docroot();
    std::fs::write(dir.path().join("index.html"), "app\n").unwrap();
    std::fs::write(dir.path().join("oops.html"), "oops\n").unwrap();
    let root = dir.path().to_str().unwrap();
    let srv = start(&[
        "-r",
        root,
        "--fallback",
        "index.html",
        "--error-page",
        "404=oops.html",
    ]);
    let route = get_with(srv.port, "/some/route", "Accept: text/html\r\n");
    assert!(
        route.starts_with("HTTP/1.1 200 ") && route.ends_with("\r\n\r\napp\n"),
        "{route}"
    );
    let asset = get_with(srv.port, "/missing.js", "Accept: text/html\r\n");
    assert!(
        asset.starts_with("HTTP/1.1 404 ") && asset.ends_with("\r\n\r\noops\n"),
        "{asset}"
    );
    for bad in ["200=ok.html", "404", "x=y"] {
        let err = one_clear_line(&run(&["-p", "0", "-r", root, "--error-page", bad]));
        assert!(err.starts_with("otuserver: --error-page"), "{err}");
    }
}
