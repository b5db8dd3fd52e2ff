//! Hostile requests against a real server over real sockets: path traversal
//! in every encoding, odd request-target forms, odd Host headers, request
//! smuggling, header injection through names, resource limits, odd request
//! lines and versions, dotfiles.
//!
//! Every case is a raw hostile request and the status it must get. It is
//! sent on a new connection with an innocent `GET` of a file that exists
//! pipelined right behind it (`Connection: close`, so that the server ends
//! the connection after it), and then:
//!
//! 1. the answer to the hostile request has exactly the expected status;
//! 2. no secret (the canary beside the document root, the contents of
//!    dotfiles) is anywhere in the bytes the server sent;
//! 3. the connection is not desynchronised: an answer that closes carries
//!    `Connection: close` and is followed by the end of the stream, never by
//!    a second response; an answer that keeps the connection carries
//!    `Connection: keep-alive` and is followed by exactly the innocent file;
//! 4. a new connection afterwards is served normally.
//!
//! The problems of all the cases of a table are collected and reported
//! together, so one run shows every case that fails.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{CANARY, Resp, TestServer, changed, quick_config, site};
use otuserver_core::StaticFiles;

/// How long a client waits for the server to send more or close.
const PATIENCE: Duration = Duration::from_secs(5);

/// The fixture root's `index.html`: the innocent file of `site()`.
const INDEX: &[u8] = b"<h1>root index</h1>\n";

/// A request that must never be answered when it hides in a body: if it
/// were, its answer (403, a symlink out of the root) would show as a second
/// response that is not the innocent file.
const SMUGGLED: &str = "GET /escape.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";

// ---------------------------------------------------------------------------
// The harness.

/// What the connection does after the answer to the hostile request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// `Connection: close`, then the end of the stream: the request
    /// pipelined behind the hostile one is never answered.
    Closes,
    /// `Connection: keep-alive`, and the request pipelined behind the
    /// hostile one is answered next, with exactly the innocent file.
    KeepsSync,
}

use self::Then::{Closes, KeepsSync};

/// One hostile request and what it must get.
struct Case {
    what: String,
    request: Vec<u8>,
    status: u16,
    then: Then,
    /// The exact body of the answer, when it matters.
    body: Option<Vec<u8>>,
    /// The exact `Location` of the answer, when it matters.
    location: Option<String>,
}

fn case(what: impl Into<String>, request: impl Into<Vec<u8>>, status: u16, then: Then) -> Case {
    Case {
        what: what.into(),
        request: request.into(),
        status,
        then,
        body: None,
        location: None,
    }
}

impl Case {
    /// The answer's body must be exactly `body`.
    fn body(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = Some(body.into());
        self
    }

    /// The answer must carry exactly one `Location`, `location`.
    fn location(mut self, location: &str) -> Case {
        self.location = Some(location.to_owned());
        self
    }
}

/// `GET target` over HTTP/1.1 with a plain Host, kept alive.
fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// `GET /index.html` over HTTP/1.1 with `fields` (each line ending in CRLF,
/// Host included or not) as its whole header section.
fn get_with(fields: &str) -> Vec<u8> {
    format!("GET /index.html HTTP/1.1\r\n{fields}\r\n").into_bytes()
}

/// `GET /index.html` with a Host, `fields`, and `body` after the head.
fn get_body(fields: &str, body: &str) -> Vec<u8> {
    format!("GET /index.html HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n{body}").into_bytes()
}

/// `POST /index.html` with a Host, `fields`, and `body` after the head.
fn post(fields: &str, body: &str) -> Vec<u8> {
    format!("POST /index.html HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n{body}").into_bytes()
}

/// How reading a connection to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The server closed its side (end of stream).
    Closed,
    /// The server reset the connection (it closed with bytes unread).
    Reset,
    /// Nothing more came, and no close, within [`PATIENCE`].
    Hung,
}

/// Sends `wire` on a new connection and reads everything until the server
/// closes (or [`PATIENCE`] runs out).
fn send(addr: SocketAddr, wire: &[u8]) -> (Vec<u8>, Ending) {
    let mut s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    s.set_write_timeout(Some(PATIENCE)).expect("write timeout");
    // The server may answer an error and close before it has read all of a
    // large hostile request: a failed write is not a failure.
    let _ = s.write_all(wire);
    read_to_close(&mut s)
}

fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, Ending) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (got, Ending::Closed),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, Ending::Hung);
            }
            Err(_) => return (got, Ending::Reset),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// The start of `bytes`, readable, for messages.
fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 300;
    let cut = &bytes[..bytes.len().min(MAX)];
    let more = if bytes.len() > MAX { "..." } else { "" };
    format!("{}{more}", String::from_utf8_lossy(cut))
}

/// Takes one response off the front of `rest`, strictly: the head must be
/// CRLF-delimited, every field line `name: value` with no stray CR or LF,
/// and the body exactly `Content-Length` bytes (none for `head_only`).
fn parse_response<'a>(rest: &mut &'a [u8], head_only: bool) -> Result<Resp, String> {
    let bytes: &'a [u8] = rest;
    let end = find(bytes, b"\r\n\r\n")
        .ok_or_else(|| format!("no complete response head in {:?}", preview(bytes)))?;
    let head = std::str::from_utf8(&bytes[..end + 4])
        .map_err(|_| format!("response head is not UTF-8: {:?}", preview(&bytes[..end])))?;
    let mut lines = head[..end].split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        if line.contains(['\r', '\n']) {
            return Err(format!("bare CR or LF in the response head: {line:?}"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("response field line without a colon: {line:?}"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("bad response field name {name:?}"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut resp = Resp {
        status,
        head: head.to_owned(),
        headers,
        body: Vec::new(),
    };
    let bodiless = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let len = if bodiless {
        0
    } else {
        let values: Vec<&str> = resp
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.as_str())
            .collect();
        match values.as_slice() {
            [one] => one
                .parse::<usize>()
                .map_err(|_| format!("bad Content-Length {one:?}"))?,
            _ => {
                return Err(format!(
                    "{} Content-Length fields in {head:?}",
                    values.len()
                ));
            }
        }
    };
    let after = &bytes[end + 4..];
    if after.len() < len {
        return Err(format!("body cut short: {} of {len} bytes", after.len()));
    }
    resp.body = after[..len].to_vec();
    *rest = &after[len..];
    Ok(resp)
}

/// A running server, the innocent file to pipeline behind every hostile
/// request, and the secrets no response may hold.
struct Probe {
    addr: SocketAddr,
    innocent: String,
    innocent_body: Vec<u8>,
    secrets: Vec<Vec<u8>>,
}

impl Probe {
    fn new(addr: SocketAddr, innocent: &str, innocent_body: &[u8], secrets: &[&[u8]]) -> Probe {
        Probe {
            addr,
            innocent: innocent.to_owned(),
            innocent_body: innocent_body.to_vec(),
            secrets: secrets.iter().map(|s| s.to_vec()).collect(),
        }
    }

    /// For a server of `site()`: the root index is the innocent file, the
    /// canary the secret.
    fn on_site(srv: &TestServer) -> Probe {
        Probe::new(srv.addr, "/index.html", INDEX, &[CANARY.as_bytes()])
    }

    fn innocent_request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            self.innocent
        )
        .into_bytes()
    }

    /// Runs every case, fails with all the problems found, and returns the
    /// answers to the hostile requests, in order.
    fn run(&self, cases: &[Case]) -> Vec<Resp> {
        let mut answers = Vec::new();
        let mut problems = Vec::new();
        for case in cases {
            let (answer, found) = self.try_case(case);
            problems.extend(found.into_iter().map(|p| format!("[{}] {p}", case.what)));
            answers.extend(answer);
        }
        assert!(
            problems.is_empty(),
            "{} problem(s) in {} cases:\n{}",
            problems.len(),
            cases.len(),
            problems.join("\n")
        );
        answers
    }

    /// One case: the answer to the hostile request, if there was one, and
    /// everything that was wrong.
    fn try_case(&self, case: &Case) -> (Option<Resp>, Vec<String>) {
        let mut problems = Vec::new();
        let mut wire = case.request.clone();
        wire.extend_from_slice(&self.innocent_request());
        let (got, ending) = send(self.addr, &wire);
        self.check_secrets(&got, &mut problems);
        if ending == Ending::Hung {
            problems.push(format!(
                "the server neither finished nor closed the connection within {PATIENCE:?}"
            ));
        }
        let head_only = case.request.starts_with(b"HEAD ");
        let mut rest = got.as_slice();
        let first = match parse_response(&mut rest, head_only) {
            Ok(first) => first,
            Err(e) => {
                problems.push(format!("no proper answer to the hostile request: {e}"));
                self.check_fresh(&mut problems);
                return (None, problems);
            }
        };
        check_answer(case, &first, &mut problems);
        match case.then {
            Closes => {
                if first.header("connection") != Some("close") {
                    problems.push(format!(
                        "answered with Connection {:?}, not close",
                        first.header("connection")
                    ));
                }
                if !rest.is_empty() {
                    problems.push(format!(
                        "more bytes after the answer: what followed the request was read as \
                         another request: {:?}",
                        preview(rest)
                    ));
                }
            }
            KeepsSync => {
                if first.header("connection") != Some("keep-alive") {
                    problems.push(format!(
                        "answered with Connection {:?}, not keep-alive",
                        first.header("connection")
                    ));
                }
                match parse_response(&mut rest, false) {
                    Ok(second) => {
                        if second.status != 200 || second.body != self.innocent_body {
                            problems.push(format!(
                                "the pipelined request got {} {:?} instead of {}",
                                second.status,
                                preview(&second.body),
                                self.innocent
                            ));
                        }
                        if !rest.is_empty() {
                            problems.push(format!(
                                "more bytes after the pipelined answer: {:?}",
                                preview(rest)
                            ));
                        }
                    }
                    Err(e) => {
                        problems.push(format!(
                            "the pipelined request behind it got no proper answer: {e}"
                        ));
                    }
                }
            }
        }
        self.check_fresh(&mut problems);
        (Some(first), problems)
    }

    fn check_secrets(&self, got: &[u8], problems: &mut Vec<String>) {
        for secret in &self.secrets {
            if contains(got, secret) {
                problems.push(format!(
                    "the server sent the secret {:?}",
                    String::from_utf8_lossy(secret)
                ));
            }
        }
    }

    /// A request on a new connection is served normally.
    fn check_fresh(&self, problems: &mut Vec<String>) {
        let (got, _) = send(self.addr, &self.innocent_request());
        self.check_secrets(&got, problems);
        let mut rest = got.as_slice();
        match parse_response(&mut rest, false) {
            Ok(r) if r.status == 200 && r.body == self.innocent_body => {}
            Ok(r) => problems.push(format!(
                "a new connection afterwards got {} {:?}",
                r.status,
                preview(&r.body)
            )),
            Err(e) => problems.push(format!("a new connection afterwards got no answer: {e}")),
        }
    }
}

/// Checks that hold for the answer to any case: the status, the body and
/// `Location` if the case names them, no injected `Set-Cookie`, and no
/// `Location` that could lead to another host.
fn check_answer(case: &Case, r: &Resp, problems: &mut Vec<String>) {
    if r.status != case.status {
        problems.push(format!(
            "status {} instead of {} (body {:?})",
            r.status,
            case.status,
            preview(&r.body)
        ));
    }
    if let Some(body) = &case.body {
        if &r.body != body {
            problems.push(format!(
                "body {:?} instead of {:?}",
                preview(&r.body),
                preview(body)
            ));
        }
    }
    let locations: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.as_str())
        .collect();
    if let Some(want) = &case.location {
        if locations != [want.as_str()] {
            problems.push(format!("Location {locations:?} instead of {want:?}"));
        }
    }
    for l in &locations {
        if !l.starts_with('/') || l.starts_with("//") || l.starts_with("/\\") {
            problems.push(format!("Location {l:?} may lead to another host"));
        }
    }
    if r.header("set-cookie").is_some() {
        problems.push(format!("a Set-Cookie field was injected: {:?}", r.head));
    }
}

/// Fails unless `page` holds every one of `present` and none of `absent`.
fn assert_page(what: &str, page: &str, present: &[&str], absent: &[&str]) {
    let missing: Vec<&str> = present
        .iter()
        .copied()
        .filter(|p| !page.contains(*p))
        .collect();
    let found: Vec<&str> = absent
        .iter()
        .copied()
        .filter(|a| page.contains(*a))
        .collect();
    assert!(
        missing.is_empty() && found.is_empty(),
        "{what}: missing {missing:?}; present though they must not be {found:?}\n{page}"
    );
}

fn write_file(root: &Path, name: &str, contents: &[u8]) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
    std::fs::write(path, contents).expect("write a fixture");
}

// ---------------------------------------------------------------------------
// Path traversal.

/// Every encoding of `..` aimed at the canary beside the root: never served;
/// a path that is not a valid file path is 400, one that leaves through a
/// symlink 403, everything else 404 (the lexical resolution clamps at the
/// root). None of these is a framing error, so the connection stays in
/// sync.
#[test]
fn traversal_in_every_encoding_never_reaches_the_canary() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);

    let table: &[(&str, &str, u16)] = &[
        (
            "baseline: the canary's name inside the root",
            "/secret.txt",
            404,
        ),
        ("../", "/../secret.txt", 404),
        ("../ several times", "/../../../../secret.txt", 404),
        ("../ from a subdirectory", "/dir2/../../secret.txt", 404),
        (
            "../ past real folders",
            "/a/b/c/../../../../../../../secret.txt",
            404,
        ),
        ("%2e%2e/", "/%2e%2e/secret.txt", 404),
        ("%2E%2E/ upper case", "/%2E%2E/secret.txt", 404),
        ("%2E%2E%2F, slash encoded too", "/%2E%2E%2Fsecret.txt", 404),
        ("%2e%2E%2f mixed case", "/%2e%2E%2fsecret.txt", 404),
        ("%2e%2e%2f twice", "/%2e%2e%2f%2e%2e%2fsecret.txt", 404),
        (".%2e/", "/.%2e/secret.txt", 404),
        ("%2e./", "/%2e./secret.txt", 404),
        ("..%2f", "/..%2fsecret.txt", 404),
        ("..%2F", "/..%2Fsecret.txt", 404),
        ("..%2f after a directory", "/dir2/..%2f..%2fsecret.txt", 404),
        (
            "..%2f after a file",
            "/index.html/..%2f..%2fsecret.txt",
            404,
        ),
        ("%2e%2e%5c", "/%2e%2e%5csecret.txt", 404),
        ("..%5c twice", "/..%5c..%5csecret.txt", 404),
        ("raw backslash ..\\", "/..\\secret.txt", 404),
        ("raw backslashes ..\\..\\", "/..\\..\\secret.txt", 404),
        (
            "double encoding %252e%252e%252f",
            "/%252e%252e%252fsecret.txt",
            404,
        ),
        ("double encoding %252e%252e/", "/%252e%252e/secret.txt", 404),
        ("double encoding %255c", "/..%255c..%255csecret.txt", 404),
        ("nested encoding %%32%65", "/%%32%65%%32%65/secret.txt", 404),
        ("%u002e encoding", "/%u002e%u002e/secret.txt", 404),
        ("fullwidth dots", "/%ef%bc%8e%ef%bc%8e/secret.txt", 404),
        ("encoded leading slash", "/%2fsecret.txt", 404),
        (
            "encoded leading slash and ../",
            "/%2f..%2f..%2fsecret.txt",
            404,
        ),
        ("/./", "/./secret.txt", 404),
        ("/./ then ../", "/./../secret.txt", 404),
        ("// run", "//secret.txt", 404),
        ("// runs with ../", "///..//..//secret.txt", 404),
        ("..;/ parameter", "/..;/secret.txt", 404),
        ("..;/ after a directory", "/dir2/..;/..;/secret.txt", 404),
        (";/../", "/;/../secret.txt", 404),
        ("; suffix", "/../secret.txt;.html", 404),
        ("the canary's folder", "/../secret-dir/", 404),
        ("the canary's folder, by name", "/../secret-dir", 404),
        (
            "the canary's folder, its index",
            "/../secret-dir/index.html",
            404,
        ),
        (
            "a query does not count as path",
            "/../secret.txt?/../../x",
            404,
        ),
        ("overlong UTF-8 %c0%ae", "/%c0%ae%c0%ae/secret.txt", 400),
        (
            "overlong UTF-8 %e0%80%ae",
            "/%e0%80%ae%e0%80%ae/secret.txt",
            400,
        ),
        (
            "overlong UTF-8 slash %c0%af",
            "/..%c0%af..%c0%afsecret.txt",
            400,
        ),
        ("lone byte %ff", "/%ff/../secret.txt", 400),
        ("NUL %00", "/%00", 400),
        ("NUL before an extension", "/../secret.txt%00.html", 400),
        ("NUL inside ..", "/.%00./secret.txt", 400),
        ("symlink out of the root", "/escape.txt", 403),
        ("symlink out, name encoded", "/%65scape.txt", 403),
        (
            "symlink out, reached through ../",
            "/dir2/../escape.txt",
            403,
        ),
        ("directory symlink out", "/escape-dir", 403),
        ("directory symlink out, slash", "/escape-dir/", 403),
        ("through a directory symlink", "/escape-dir/index.html", 403),
        ("an index that is a symlink out", "/noindex/", 403),
        ("that index asked for by name", "/noindex/index.html", 403),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(what, target, status)| case(what, get(target), status, KeepsSync))
        .collect();

    let deep_plain = format!("/{}secret.txt", "../".repeat(1000));
    let deep_encoded = format!("/{}secret.txt", "%2e%2e%2f".repeat(400));
    let deep_mixed = format!("/dir2/{}secret.txt", "..%2F".repeat(700));
    let too_deep = format!("/{}secret.txt", "../".repeat(2000));
    cases.extend([
        case("1000 x ../", get(&deep_plain), 404, KeepsSync),
        case("400 x %2e%2e%2f", get(&deep_encoded), 404, KeepsSync),
        case("700 x ..%2F", get(&deep_mixed), 404, KeepsSync),
        // Longer than the 4096-byte head limit: refused before any path.
        case(
            "2000 x ../, past the head limit",
            get(&too_deep),
            414,
            Closes,
        ),
        case(
            "../ over HTTP/1.0, without Host",
            "GET /../secret.txt HTTP/1.0\r\n\r\n",
            404,
            Closes,
        ),
        // Not UTF-8 on the wire: the request line itself is bad.
        case(
            "raw overlong UTF-8 bytes in the request line",
            &b"GET /\xc0\xae\xc0\xae/secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            400,
            Closes,
        ),
        // Dot segments that stay inside the root are resolved, not refused.
        case(
            "../ inside the root",
            get("/dir2/../index.html"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "../ above the root clamps",
            get("/../../index.html"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "/./ inside the root",
            get("/./././index.html"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "// runs inside the root",
            get("//dir2//page.html"),
            200,
            KeepsSync,
        )
        .body(&b"dir2 page\n"[..]),
        case("%252e is decoded once only", get("/%252e"), 200, KeepsSync)
            .body(&b"literal percent-2e"[..]),
    ]);
    probe.run(&cases);
}

/// Absolute-form, authority-form and asterisk-form targets: absolute-form
/// is served by its path whatever host it names (the server has one site)
/// and a redirect never names a host; authority-form and asterisk-form are
/// refused on GET (RFC 9112 section 3.2), and only http and https schemes
/// are taken.
#[test]
fn request_target_forms() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let with_host = |line: &str| format!("{line}\r\nHost: localhost\r\n\r\n");
    let cases = [
        case(
            "absolute-form with ../",
            with_host("GET http://localhost/../secret.txt HTTP/1.1"),
            404,
            KeepsSync,
        ),
        case(
            "absolute-form with %2e%2e",
            with_host("GET http://localhost/%2e%2e/%2e%2e/secret.txt HTTP/1.1"),
            404,
            KeepsSync,
        ),
        case(
            "absolute-form with ..%2f",
            with_host("GET http://localhost/..%2fsecret.txt HTTP/1.1"),
            404,
            KeepsSync,
        ),
        case(
            "absolute-form to a symlink out",
            with_host("GET http://localhost/escape.txt HTTP/1.1"),
            403,
            KeepsSync,
        ),
        case(
            "absolute-form over HTTP/1.0 without Host",
            "GET http://localhost/../secret.txt HTTP/1.0\r\n\r\n",
            404,
            Closes,
        ),
        case(
            "absolute-form naming another host",
            with_host("GET http://evil.example/index.html HTTP/1.1"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "absolute-form, https",
            with_host("GET https://evil.example/index.html HTTP/1.1"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "absolute-form, upper-case scheme and host",
            with_host("GET HTTP://EVIL.EXAMPLE/index.html HTTP/1.1"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "absolute-form without a path",
            with_host("GET http://evil.example HTTP/1.1"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "absolute-form to a directory: the redirect names no host",
            with_host("GET http://evil.example/dir2 HTTP/1.1"),
            301,
            KeepsSync,
        )
        .location("/dir2/"),
        case(
            "absolute-form with a Host naming another host",
            "GET http://localhost/index.html HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "absolute-form without Host in HTTP/1.1",
            "GET http://localhost/index.html HTTP/1.1\r\n\r\n",
            400,
            Closes,
        ),
        case(
            "ftp scheme",
            with_host("GET ftp://evil.example/index.html HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "file: URI",
            with_host("GET file:///etc/passwd HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "http: without //",
            with_host("GET http:/../secret.txt HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "http:// without an authority",
            with_host("GET http:// HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "asterisk-form on GET",
            with_host("GET * HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "authority-form on GET",
            with_host("GET example.com:80 HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "authority-form naming the canary",
            with_host("GET secret.txt HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "relative ../ without a leading slash",
            with_host("GET ../secret.txt HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "query-only target",
            with_host("GET ?x=1 HTTP/1.1"),
            400,
            Closes,
        ),
        case(
            "authority-form on CONNECT: well-formed, not served",
            with_host("CONNECT example.com:80 HTTP/1.1"),
            405,
            KeepsSync,
        ),
    ];
    probe.run(&cases);
}

// ---------------------------------------------------------------------------
// Host.

/// RFC 9112 section 3.2: HTTP/1.1 needs exactly one Host; any request with
/// more than one, or with an invalid one, is 400; an empty one is valid;
/// HTTP/1.0 may go without.
#[test]
fn odd_host_headers() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let table: &[(&str, &str, u16, Then)] = &[
        ("no Host in HTTP/1.1", "", 400, Closes),
        (
            "two identical Host lines",
            "Host: localhost\r\nHost: localhost\r\n",
            400,
            Closes,
        ),
        (
            "two different Host lines",
            "Host: localhost\r\nHost: evil.example\r\n",
            400,
            Closes,
        ),
        (
            "Host twice, in two cases",
            "Host: localhost\r\nhOST: evil.example\r\n",
            400,
            Closes,
        ),
        (
            "Host with a space inside",
            "Host: local host\r\n",
            400,
            Closes,
        ),
        (
            "two hosts in one Host",
            "Host: localhost evil.example\r\n",
            400,
            Closes,
        ),
        (
            "Host with a tab inside",
            "Host: local\thost\r\n",
            400,
            Closes,
        ),
        (
            "Host with angle brackets",
            "Host: <script>\r\n",
            400,
            Closes,
        ),
        ("Host with quotes", "Host: \"localhost\"\r\n", 400, Closes),
        (
            "Host with a backslash",
            "Host: evil.example\\localhost\r\n",
            400,
            Closes,
        ),
        (
            "Host with a path",
            "Host: localhost/index.html\r\n",
            400,
            Closes,
        ),
        (
            "Host with a traversal path",
            "Host: localhost/../secret.txt\r\n",
            400,
            Closes,
        ),
        ("Host with a query", "Host: localhost?x=1\r\n", 400, Closes),
        ("Host with a fragment", "Host: localhost#x\r\n", 400, Closes),
        (
            "Host with userinfo",
            "Host: user@localhost\r\n",
            400,
            Closes,
        ),
        (
            "Host with user and password",
            "Host: user:pass@evil.example\r\n",
            400,
            Closes,
        ),
        (
            "Host with two ports",
            "Host: localhost:80:80\r\n",
            400,
            Closes,
        ),
        (
            "Host with an unclosed IPv6 bracket",
            "Host: [::1\r\n",
            400,
            Closes,
        ),
        ("empty Host", "Host:\r\n", 200, KeepsSync),
        ("Host of only spaces", "Host:    \r\n", 200, KeepsSync),
        (
            "IPv6 Host with a port",
            "Host: [::1]:8080\r\n",
            200,
            KeepsSync,
        ),
        (
            "IPv4 Host with a port",
            "Host: 127.0.0.1:8080\r\n",
            200,
            KeepsSync,
        ),
        ("upper-case Host", "Host: LOCALHOST\r\n", 200, KeepsSync),
        (
            "lower-case field name",
            "host: localhost\r\n",
            200,
            KeepsSync,
        ),
        (
            "no space after the colon",
            "Host:localhost\r\n",
            200,
            KeepsSync,
        ),
        (
            "whitespace around the value",
            "Host: \t localhost \t \r\n",
            200,
            KeepsSync,
        ),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(what, fields, status, then)| {
            let c = case(what, get_with(fields), status, then);
            if status == 200 { c.body(INDEX) } else { c }
        })
        .collect();
    cases.extend([
        case(
            "Host with raw UTF-8",
            &b"GET /index.html HTTP/1.1\r\nHost: caf\xc3\xa9.example\r\n\r\n"[..],
            400,
            Closes,
        ),
        case(
            "HTTP/1.0 without Host",
            "GET /index.html HTTP/1.0\r\n\r\n",
            200,
            Closes,
        )
        .body(INDEX),
        case(
            "HTTP/1.0 without Host, keep-alive",
            "GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "HTTP/1.0 with two Host lines",
            "GET /index.html HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            Closes,
        ),
        case(
            "HTTP/1.0 with an invalid Host",
            "GET /index.html HTTP/1.0\r\nHost: a b\r\n\r\n",
            400,
            Closes,
        ),
    ]);
    probe.run(&cases);
}

// ---------------------------------------------------------------------------
// Request smuggling.

/// RFC 9112 section 6: every ambiguous framing is 400 and closes; a body
/// that is framed unambiguously is skipped, never read as a request; one the
/// server will not read (chunked, too large) is answered and the connection
/// closed.
#[test]
fn ambiguous_body_framing_is_refused_and_never_desynchronises() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let chunked_smuggle = format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len());
    let mut cases = vec![
        case(
            "Content-Length then Transfer-Encoding (CL.TE)",
            post(
                "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\nX",
            ),
            400,
            Closes,
        ),
        case(
            "Transfer-Encoding then Content-Length (TE.CL)",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                &chunked_smuggle,
            ),
            400,
            Closes,
        ),
        case(
            "both, a request hidden after the chunks",
            post(
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                &format!("0\r\n\r\n{SMUGGLED}"),
            ),
            400,
            Closes,
        ),
        case(
            "both, on a GET",
            get_body(
                "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
            Closes,
        ),
        case(
            "both, Transfer-Encoding identity",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: identity\r\n",
                "hello",
            ),
            400,
            Closes,
        ),
        case(
            "two different Content-Length lines",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            400,
            Closes,
        ),
    ];
    let bad_lengths: &[&str] = &[
        "5, 6",
        "+5",
        "-5",
        "5 5",
        "0x5",
        "1e1",
        "5.0",
        "5;",
        "",
        "18446744073709551616",
    ];
    for value in bad_lengths {
        cases.push(case(
            format!("Content-Length: {value:?}"),
            post(&format!("Content-Length: {value}\r\n"), "hello"),
            400,
            Closes,
        ));
    }
    cases.push(case(
        "Content-Length in fullwidth digits",
        &b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: \xef\xbc\x95\r\n\r\nhello"[..],
        400,
        Closes,
    ));
    let bad_codings: &[(&str, &str)] = &[
        (
            "chunked not last",
            "Transfer-Encoding: chunked, identity\r\n",
        ),
        ("identity alone", "Transfer-Encoding: identity\r\n"),
        ("xchunked", "Transfer-Encoding: xchunked\r\n"),
        ("chunkedx", "Transfer-Encoding: chunkedx\r\n"),
        ("quoted chunked", "Transfer-Encoding: \"chunked\"\r\n"),
        ("gzip alone", "Transfer-Encoding: gzip\r\n"),
        ("empty", "Transfer-Encoding: \r\n"),
        (
            "chunked, then identity on a second line",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        ),
    ];
    for (what, fields) in bad_codings {
        cases.push(case(
            format!("Transfer-Encoding: {what}"),
            post(fields, "0\r\n\r\n"),
            400,
            Closes,
        ));
    }
    cases.extend([
        case(
            "Transfer-Encoding with a vertical tab",
            &b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n"[..],
            400,
            Closes,
        ),
        case(
            "Transfer-Encoding in HTTP/1.0",
            "POST /index.html HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            Closes,
        ),
        case(
            "Transfer-Encoding on a GET in HTTP/1.0",
            "GET /index.html HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            Closes,
        ),
        // Unambiguous framings.
        case(
            "Content-Length: 5, 5 (a list of one value)",
            get_body("Content-Length: 5, 5\r\n", "hello"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "two identical Content-Length lines",
            get_body("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "Content-Length with leading zeros",
            get_body("Content-Length: 005\r\n", "hello"),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "a GET body holding a request is skipped",
            get_body(&format!("Content-Length: {}\r\n", SMUGGLED.len()), SMUGGLED),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "a POST body holding a request is skipped",
            post(&format!("Content-Length: {}\r\n", SMUGGLED.len()), SMUGGLED),
            405,
            KeepsSync,
        ),
        case(
            "a body too large to skip: answered, then closed",
            get_body("Content-Length: 100000\r\n", ""),
            200,
            Closes,
        )
        .body(INDEX),
        case(
            "Transfer-Encoding on a GET: answered, then closed",
            get_body("Transfer-Encoding: chunked\r\n", &format!("0\r\n\r\n{SMUGGLED}")),
            200,
            Closes,
        )
        .body(INDEX),
        case(
            "Transfer-Encoding: CHUNKED on a GET: answered, then closed",
            get_body("Transfer-Encoding: CHUNKED\r\n", "0\r\n\r\n"),
            200,
            Closes,
        )
        .body(INDEX),
        case(
            "a request inside the chunks of a POST",
            post("Transfer-Encoding: chunked\r\n", &chunked_smuggle),
            405,
            Closes,
        ),
    ]);
    probe.run(&cases);
}

/// Field syntax that proxies and servers may read differently: obs-fold
/// (RFC 9112 section 5.2), whitespace before the colon (section 5.1) or
/// before the first field (section 2.2), bare CR, NUL and other controls
/// (RFC 9110 section 5.5) are 400 and close. A lone LF as line terminator
/// is accepted (RFC 9112 section 2.2 allows it), and stays in sync.
#[test]
fn field_syntax_that_could_smuggle_is_refused() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let table: &[(&str, &str)] = &[
        (
            "obs-fold with a space",
            "Host: localhost\r\nX-Fold: a\r\n b\r\n",
        ),
        (
            "obs-fold with a tab",
            "Host: localhost\r\nX-Fold: a\r\n\tb\r\n",
        ),
        ("a folded Host", "Host: localhost\r\n evil.example\r\n"),
        (
            "a folded Transfer-Encoding",
            "Host: localhost\r\nTransfer-Encoding: identity\r\n chunked\r\n",
        ),
        ("whitespace before the first field", " Host: localhost\r\n"),
        ("space between name and colon", "Host : localhost\r\n"),
        ("tab between name and colon", "Host\t: localhost\r\n"),
        (
            "space before the colon of Content-Length",
            "Host: localhost\r\nContent-Length : 0\r\n",
        ),
        (
            "space before the colon of Transfer-Encoding",
            "Host: localhost\r\nTransfer-Encoding : chunked\r\n",
        ),
        ("empty field name", "Host: localhost\r\n: x\r\n"),
        ("field name with a slash", "Host: localhost\r\nX/Y: z\r\n"),
        (
            "field name with a parenthesis",
            "Host: localhost\r\nX(Y): z\r\n",
        ),
        (
            "field line without a colon",
            "Host: localhost\r\nNoColon\r\n",
        ),
        // The head never ends before the innocent request line, which then
        // stands where a field line should.
        ("a head left open", "Host: localhost\r\n"),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(what, fields)| {
            let request = if what == "a head left open" {
                format!("GET /index.html HTTP/1.1\r\n{fields}").into_bytes()
            } else {
                get_with(fields)
            };
            case(what, request, 400, Closes)
        })
        .collect();
    let raw: &[(&str, &[u8], u16, Then)] = &[
        (
            "NUL in a field value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\0b\r\n\r\n",
            400,
            Closes,
        ),
        (
            "NUL in a field name",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX\0Y: z\r\n\r\n",
            400,
            Closes,
        ),
        (
            "NUL in the request-target",
            b"GET /index.html\0 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            400,
            Closes,
        ),
        (
            "CR inside a field value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\rb\r\n\r\n",
            400,
            Closes,
        ),
        (
            "CR inside Host",
            b"GET /index.html HTTP/1.1\r\nHost: local\rhost\r\n\r\n",
            400,
            Closes,
        ),
        (
            "bare CR line endings",
            b"GET /index.html HTTP/1.1\rHost: localhost\r\r",
            400,
            Closes,
        ),
        (
            "vertical tab in a value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\x0bb\r\n\r\n",
            400,
            Closes,
        ),
        (
            "form feed in a value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\x0cb\r\n\r\n",
            400,
            Closes,
        ),
        (
            "escape in a value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\x1b[2Jb\r\n\r\n",
            400,
            Closes,
        ),
        (
            "DEL in a value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\x7fb\r\n\r\n",
            400,
            Closes,
        ),
        (
            "bare LF line endings",
            b"GET /index.html HTTP/1.1\nHost: localhost\n\n",
            200,
            KeepsSync,
        ),
        (
            "bare LF mixed with CRLF",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\nX: y\r\n\n",
            200,
            KeepsSync,
        ),
        (
            "obs-text in a value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: caf\xc3\xa9\r\n\r\n",
            200,
            KeepsSync,
        ),
        (
            "tab inside a value",
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX: a\tb\r\n\r\n",
            200,
            KeepsSync,
        ),
    ];
    cases.extend(raw.iter().map(|&(what, request, status, then)| {
        let c = case(what, request, status, then);
        if status == 200 { c.body(INDEX) } else { c }
    }));
    probe.run(&cases);
}

// ---------------------------------------------------------------------------
// Header injection through names.

/// A name with CR LF in it, a query with encoded CR LF, a `//host` path:
/// the `Location` of a directory redirect stays one relative path on this
/// host, percent-encoded, and no field is ever injected.
#[test]
fn locations_never_carry_injected_fields_or_other_hosts() {
    let site = site();
    let root = site.root();
    write_file(
        &root,
        "inj/crlf\r\nSet-Cookie: injected=1/f.txt",
        b"inside crlf\n",
    );
    write_file(&root, "evil.example/x.txt", b"x\n");
    write_file(&root, "\\evil.example/x.txt", b"x\n");
    let files = StaticFiles::new(&root).unwrap().generate_index(true);
    let srv = TestServer::start(files, quick_config());
    let probe = Probe::on_site(&srv);
    let crlf_location = "/inj/crlf%0D%0ASet-Cookie:%20injected=1/";
    let cases = [
        case(
            "CR LF in a directory name",
            get("/inj/crlf%0D%0ASet-Cookie:%20injected=1"),
            301,
            KeepsSync,
        )
        .location(crlf_location),
        case(
            "CR LF in a directory name, lower-case escapes",
            get("/inj/crlf%0d%0aSet-Cookie:%20injected=1"),
            301,
            KeepsSync,
        )
        .location(crlf_location),
        case(
            "that directory, listed",
            get("/inj/crlf%0D%0ASet-Cookie:%20injected=1/"),
            200,
            KeepsSync,
        ),
        case(
            "a file inside it",
            get("/inj/crlf%0D%0ASet-Cookie:%20injected=1/f.txt"),
            200,
            KeepsSync,
        )
        .body(&b"inside crlf\n"[..]),
        case(
            "CR LF in a missing name",
            get("/nope%0D%0ASet-Cookie:%20injected=1"),
            404,
            KeepsSync,
        ),
        case(
            "CR LF after a directory's name",
            get("/dir2%0D%0ASet-Cookie:%20injected=1"),
            404,
            KeepsSync,
        ),
        case(
            "CR LF in the query of a redirect",
            get("/dir2?%0D%0ASet-Cookie:%20injected=1"),
            301,
            KeepsSync,
        )
        .location("/dir2/?%0D%0ASet-Cookie:%20injected=1"),
        case(
            "a whole response in the query of a redirect",
            get("/dir2?a=1%0d%0a%0d%0aHTTP/1.1%20200%20OK"),
            301,
            KeepsSync,
        )
        .location("/dir2/?a=1%0d%0a%0d%0aHTTP/1.1%20200%20OK"),
        case("//host", get("//evil.example"), 301, KeepsSync).location("/evil.example/"),
        case("///host", get("///evil.example"), 301, KeepsSync).location("/evil.example/"),
        case("/%2Fhost", get("/%2Fevil.example"), 301, KeepsSync).location("/evil.example/"),
        case("/%2F%2Fhost", get("/%2F%2Fevil.example"), 301, KeepsSync).location("/evil.example/"),
        case("/%5Chost", get("/%5Cevil.example"), 301, KeepsSync).location("/%5Cevil.example/"),
        case(
            "//host/../dir",
            get("//evil.example/../dir2"),
            301,
            KeepsSync,
        )
        .location("/dir2/"),
        case(
            "absolute-form naming another host",
            "GET http://evil.example/dir2 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            301,
            KeepsSync,
        )
        .location("/dir2/"),
        case(
            "a Host naming another host is not reflected",
            "GET /dir2?x=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            301,
            KeepsSync,
        )
        .location("/dir2/?x=1"),
        case(
            "raw CR LF in the request line",
            "GET /dir2\r\nSet-Cookie: injected=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            400,
            Closes,
        ),
        case("raw < in the target", get("/<script>"), 400, Closes),
        case("raw < in the query", get("/dir2?<script>"), 400, Closes),
        case(
            "listing of the folder holding the CR LF name",
            get("/inj/"),
            200,
            KeepsSync,
        ),
    ];
    let answers = probe.run(&cases);
    let listing = answers.last().expect("answers").text();
    assert_page(
        "listing of /inj/",
        &listing,
        &["href=\"./crlf%0D%0ASet-Cookie:%20injected=1/\""],
        &[],
    );
}

/// File and folder names holding `"`, `<`, `>`, `'`, `&` and
/// `javascript:` are escaped in generated listings, in links and in text,
/// and each link leads to its file.
#[test]
fn listings_escape_hostile_names() {
    let site = site();
    let root = site.root();
    let names: &[(&str, &[u8])] = &[
        ("names/x\" onmouseover=\"alert(1).txt", b"quote\n"),
        ("names/it's.txt", b"apostrophe\n"),
        ("names/a&b.txt", b"ampersand\n"),
        ("names/<svg onload=alert(1)>.txt", b"angle\n"),
        ("names/javascript:alert(1)", b"scheme\n"),
        ("names/<i>\"d'/f.txt", b"in a hostile folder\n"),
        ("<b>\"x'&/f.txt", b"top hostile folder\n"),
    ];
    for (name, contents) in names {
        write_file(&root, name, contents);
    }
    let files = StaticFiles::new(&root).unwrap().generate_index(true);
    let srv = TestServer::start(files, quick_config());
    let probe = Probe::on_site(&srv);
    let cases = [
        case("the listing", get("/names/"), 200, KeepsSync),
        case(
            "the hostile folder's listing",
            get("/names/%3Ci%3E%22d%27/"),
            200,
            KeepsSync,
        ),
        case(
            "the top hostile folder's listing",
            get("/%3Cb%3E%22x%27&/"),
            200,
            KeepsSync,
        ),
        case(
            "link with quotes",
            get("/names/x%22%20onmouseover=%22alert(1).txt"),
            200,
            KeepsSync,
        )
        .body(&b"quote\n"[..]),
        case(
            "link with an apostrophe",
            get("/names/it%27s.txt"),
            200,
            KeepsSync,
        )
        .body(&b"apostrophe\n"[..]),
        case(
            "link with an ampersand",
            get("/names/a&b.txt"),
            200,
            KeepsSync,
        )
        .body(&b"ampersand\n"[..]),
        case(
            "link with angle brackets",
            get("/names/%3Csvg%20onload=alert(1)%3E.txt"),
            200,
            KeepsSync,
        )
        .body(&b"angle\n"[..]),
        case(
            "link with a scheme",
            get("/names/javascript:alert(1)"),
            200,
            KeepsSync,
        )
        .body(&b"scheme\n"[..]),
    ];
    let answers = probe.run(&cases);
    assert_page(
        "/names/",
        &answers[0].text(),
        &[
            "href=\"./x%22%20onmouseover=%22alert(1).txt\"",
            ">x&quot; onmouseover=&quot;alert(1).txt</a>",
            "href=\"./it%27s.txt\"",
            ">it&#39;s.txt</a>",
            "href=\"./a&amp;b.txt\"",
            ">a&amp;b.txt</a>",
            "href=\"./%3Csvg%20onload=alert(1)%3E.txt\"",
            ">&lt;svg onload=alert(1)&gt;.txt</a>",
            "href=\"./javascript:alert(1)\"",
            "href=\"./%3Ci%3E%22d%27/\"",
            ">&lt;i&gt;&quot;d&#39;/</a>",
        ],
        &[
            "<svg",
            "<i>",
            "\" onmouseover",
            "it's",
            "a&b",
            "href=\"javascript:",
        ],
    );
    assert_page(
        "/names/<i>\"d'/",
        &answers[1].text(),
        &["Index of /names/&lt;i&gt;&quot;d&#39;/", "href=\"./f.txt\""],
        &["<i>", "\"d'"],
    );
    assert_page(
        "/<b>\"x'&/",
        &answers[2].text(),
        &["Index of /&lt;b&gt;&quot;x&#39;&amp;/", "href=\"./f.txt\""],
        &["<b>", "x'&"],
    );
}

// ---------------------------------------------------------------------------
// Resource limits, request lines, versions.

/// The head limit (4096 bytes) and the field limit (100): 431 for too many
/// or too large fields, or a head that does not end within the limit; 414
/// when not even the request line fits. Just under the limits is served.
#[test]
fn oversized_heads_are_refused_and_closed() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let fields = |n: usize| {
        format!(
            "GET /index.html HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
            "X: y\r\n".repeat(n)
        )
    };
    let endless = format!(
        "GET /index.html HTTP/1.1\r\nHost: localhost\r\n{}",
        (0..40)
            .map(|i| format!("X-Pad-{i:02}: {}\r\n", "p".repeat(200)))
            .collect::<String>()
    );
    let cases = [
        case("5000 tiny fields", fields(5000), 431, Closes),
        case("101 fields", fields(100), 431, Closes),
        case("100 fields, the most allowed", fields(99), 200, KeepsSync).body(INDEX),
        case(
            "one 8000-byte field value",
            format!(
                "GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "b".repeat(8000)
            ),
            431,
            Closes,
        ),
        case(
            "one 8000-byte field name",
            format!(
                "GET /index.html HTTP/1.1\r\nHost: localhost\r\n{}: y\r\n\r\n",
                "N".repeat(8000)
            ),
            431,
            Closes,
        ),
        case(
            "a head just under the limit",
            format!(
                "GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "b".repeat(3900)
            ),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "a head that never ends within the limit",
            endless,
            431,
            Closes,
        ),
        case(
            "a 5000-byte target",
            get(&format!("/{}", "a".repeat(5000))),
            414,
            Closes,
        ),
        case(
            "a 100 KB request line",
            get(&format!("/{}", "a".repeat(100_000))),
            414,
            Closes,
        ),
    ];
    probe.run(&cases);
}

/// HTTP/0.9 lines, versions other than 1.0 and 1.1, malformed request
/// lines, and methods that are known but not allowed. RFC 9112 section 2.3:
/// HTTP/1.x with x above 1 is served as HTTP/1.1; another major version is
/// 505; a version that does not match `HTTP/DIGIT.DIGIT` is a bad request.
#[test]
fn odd_request_lines_and_versions() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let line = |line: &str| format!("{line}\r\nHost: localhost\r\n\r\n");
    let table: &[(&str, &str, u16, Then)] = &[
        (
            "HTTP/1.2 is served as HTTP/1.1",
            "GET /index.html HTTP/1.2",
            200,
            KeepsSync,
        ),
        (
            "HTTP/1.9 is served as HTTP/1.1",
            "GET /index.html HTTP/1.9",
            200,
            KeepsSync,
        ),
        ("HTTP/2.0", "GET /index.html HTTP/2.0", 505, Closes),
        ("HTTP/3.0", "GET /index.html HTTP/3.0", 505, Closes),
        ("HTTP/9.9", "GET /index.html HTTP/9.9", 505, Closes),
        (
            "HTTP/0.9 as a version",
            "GET /index.html HTTP/0.9",
            505,
            Closes,
        ),
        // Not HTTP/DIGIT.DIGIT: a bad request line, not a version.
        ("HTTP/3", "GET /index.html HTTP/3", 400, Closes),
        ("HTTP/2", "GET /index.html HTTP/2", 400, Closes),
        ("HTTP/1", "GET /index.html HTTP/1", 400, Closes),
        ("HTTP/1.1x", "GET /index.html HTTP/1.1x", 400, Closes),
        ("HTTP/01.1", "GET /index.html HTTP/01.1", 400, Closes),
        ("HTTP/1.10", "GET /index.html HTTP/1.10", 400, Closes),
        (
            "lower-case http/1.1",
            "GET /index.html http/1.1",
            400,
            Closes,
        ),
        (
            "mixed-case Http/1.1",
            "GET /index.html Http/1.1",
            400,
            Closes,
        ),
        ("HTTP /1.1", "GET /index.html HTTP /1.1", 400, Closes),
        (
            "a space after the version",
            "GET /index.html HTTP/1.1 ",
            400,
            Closes,
        ),
        ("no version", "GET /index.html ", 400, Closes),
        ("no target", "GET HTTP/1.1", 400, Closes),
        (
            "two spaces after the method",
            "GET  /index.html HTTP/1.1",
            400,
            Closes,
        ),
        (
            "a tab after the method",
            "GET\t/index.html HTTP/1.1",
            400,
            Closes,
        ),
        (
            "a space before the method",
            " GET /index.html HTTP/1.1",
            400,
            Closes,
        ),
        ("garbage", "GARBAGE", 400, Closes),
        (
            "known method not allowed: DELETE",
            "DELETE /index.html HTTP/1.1",
            405,
            KeepsSync,
        ),
        (
            "known method not allowed: PUT",
            "PUT /index.html HTTP/1.1",
            405,
            KeepsSync,
        ),
        (
            "known method not allowed: TRACE",
            "TRACE /index.html HTTP/1.1",
            405,
            KeepsSync,
        ),
        (
            "known method not allowed: POST",
            "POST /index.html HTTP/1.1",
            405,
            KeepsSync,
        ),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(what, request_line, status, then)| {
            let c = case(what, line(request_line), status, then);
            if status == 200 { c.body(INDEX) } else { c }
        })
        .collect();
    cases.extend([
        case("HTTP/0.9 request line", "GET /\r\n", 400, Closes),
        case(
            "HTTP/0.9 request line naming a file",
            "GET /index.html\r\n",
            400,
            Closes,
        ),
        case(
            "empty lines before the request line are ignored",
            format!("\r\n\r\n{}", line("GET /index.html HTTP/1.1")),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "bare-LF empty lines before the request line are ignored",
            format!("\n\n{}", line("GET /index.html HTTP/1.1")),
            200,
            KeepsSync,
        )
        .body(INDEX),
        case(
            "NUL in the method",
            &b"G\0T /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            400,
            Closes,
        ),
        case(
            "raw invalid UTF-8 in the target",
            &b"GET /\xff HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            400,
            Closes,
        ),
        case(
            "DEL in the target",
            &b"GET /index\x7f.html HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            400,
            Closes,
        ),
        case(
            "raw UTF-8 in the target",
            &b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            404,
            KeepsSync,
        ),
    ]);
    probe.run(&cases);
}

/// A head that never completes gets 408 once the head timeout passes, then
/// the connection closes; the server goes on serving.
#[test]
fn a_head_that_never_ends_gets_408_then_the_connection_closes() {
    let site = site();
    let files = StaticFiles::new(site.root()).unwrap();
    let config = changed(&quick_config(), |c| c.timeout(Duration::from_millis(600)));
    let srv = TestServer::start(files, config);
    let probe = Probe::on_site(&srv);
    let started = Instant::now();
    let (got, ending) = send(
        srv.addr,
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Never: ends\r\n",
    );
    let waited = started.elapsed();
    assert_ne!(ending, Ending::Hung, "no close: {:?}", preview(&got));
    assert!(waited < Duration::from_secs(4), "408 took {waited:?}");
    assert!(!contains(&got, CANARY.as_bytes()), "leaked the canary");
    let mut rest = got.as_slice();
    let r = parse_response(&mut rest, false).unwrap();
    assert_eq!(r.status, 408, "{}", r.head);
    assert_eq!(r.header("connection"), Some("close"), "{}", r.head);
    assert!(rest.is_empty(), "more after the 408: {:?}", preview(rest));
    let mut problems = Vec::new();
    probe.check_fresh(&mut problems);
    assert!(problems.is_empty(), "{problems:?}");
}

// ---------------------------------------------------------------------------
// Dotfiles.

/// Dotfiles and what is in them: by default, none of it is ever sent.
const DOTFILES: &[(&str, &str)] = &[
    (".env", "DOTENV-SECRET-1"),
    (".git/config", "GIT-CONFIG-SECRET-2"),
    (".git/HEAD", "GIT-HEAD-SECRET-3"),
    (".hidden-dir/file.txt", "HIDDEN-DIR-SECRET-4"),
    ("sub/.htpasswd", "HTPASSWD-SECRET-5"),
    ("sub/.well-known/x.txt", "NESTED-WELL-KNOWN-SECRET-6"),
    (".well-known/.secret", "WELL-KNOWN-DOTFILE-SECRET-7"),
    ("...", "THREE-DOTS-SECRET-8"),
];

/// Public files beside them.
const PUBLIC: &[(&str, &str)] = &[
    ("sub/visible.txt", "visible\n"),
    (
        ".well-known/security.txt",
        "Contact: mailto:security@example.com\n",
    ),
    (".well-known/acme-challenge/token", "acme-token\n"),
];

/// A temporary directory with the canary and `root/`, which holds
/// [`DOTFILES`] and [`PUBLIC`] and no index file (so `/` is a listing).
fn dot_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), CANARY).unwrap();
    let root = dir.path().join("root");
    for (name, contents) in DOTFILES.iter().chain(PUBLIC) {
        write_file(&root, name, contents.as_bytes());
    }
    dir
}

/// A server of [`dot_site`], dotfiles allowed or not, and its probe.
fn dot_server(dir: &tempfile::TempDir, allow: bool) -> (TestServer, Probe) {
    let files = StaticFiles::new(dir.path().join("root"))
        .unwrap()
        .generate_index(true)
        .allow_dotfiles(allow);
    let srv = TestServer::start(files, quick_config());
    let mut secrets: Vec<&[u8]> = vec![CANARY.as_bytes()];
    if !allow {
        secrets.extend(DOTFILES.iter().map(|(_, s)| s.as_bytes()));
    }
    let probe = Probe::new(srv.addr, "/sub/visible.txt", b"visible\n", &secrets);
    (srv, probe)
}

/// By default any path segment that starts with `.` after decoding is 404
/// and nothing of the file is sent: not through encodings, dot segments,
/// ranges, HEAD, HTTP/1.0 or absolute-form; a dot-directory is neither
/// redirected nor listed.
#[test]
fn dotfiles_are_404_by_default() {
    let dir = dot_site();
    let (_srv, probe) = dot_server(&dir, false);
    let table: &[(&str, &str)] = &[
        (".env", "/.env"),
        ("%2eenv", "/%2eenv"),
        ("%2Eenv", "/%2Eenv"),
        (".env/", "/.env/"),
        (".env with a query", "/.env?download=1"),
        ("/./.env", "/./.env"),
        ("//.env", "//.env"),
        ("sub/../.env", "/sub/../.env"),
        (".well-known/../.env", "/.well-known/../.env"),
        (".git, no redirect", "/.git"),
        (".git/, no listing", "/.git/"),
        (".git/config", "/.git/config"),
        (".git/HEAD", "/.git/HEAD"),
        ("%2egit/config", "/%2egit/config"),
        (".git%2fconfig", "/.git%2fconfig"),
        ("sub/.htpasswd", "/sub/.htpasswd"),
        ("sub/%2ehtpasswd", "/sub/%2ehtpasswd"),
        ("sub/./.htpasswd", "/sub/./.htpasswd"),
        ("sub//.htpasswd", "/sub//.htpasswd"),
        (".hidden-dir/file.txt", "/.hidden-dir/file.txt"),
        (".hidden-dir/", "/.hidden-dir/"),
        (".hidden-dir", "/.hidden-dir"),
        ("a file named ...", "/..."),
        (".well-known below the top", "/sub/.well-known/x.txt"),
        (".well-known below the top, listing", "/sub/.well-known/"),
        ("a dotfile inside .well-known", "/.well-known/.secret"),
        (
            "an encoded dotfile inside .well-known",
            "/.well-known/%2esecret",
        ),
        (".WELL-KNOWN in upper case", "/.WELL-KNOWN/security.txt"),
        (
            "the canary through .well-known",
            "/.well-known/../../secret.txt",
        ),
    ];
    let mut cases: Vec<Case> = table
        .iter()
        .map(|&(what, target)| case(what, get(target), 404, KeepsSync))
        .collect();
    cases.extend([
        case(
            ".env with a Range",
            "GET /.env HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3\r\n\r\n",
            404,
            KeepsSync,
        ),
        case(
            ".env with If-None-Match",
            "GET /.env HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: *\r\n\r\n",
            404,
            KeepsSync,
        ),
        case(
            "HEAD .env",
            "HEAD /.env HTTP/1.1\r\nHost: localhost\r\n\r\n",
            404,
            KeepsSync,
        ),
        case(
            "HEAD .git/config",
            "HEAD /.git/config HTTP/1.1\r\nHost: localhost\r\n\r\n",
            404,
            KeepsSync,
        ),
        case(
            ".env over HTTP/1.0",
            "GET /.env HTTP/1.0\r\n\r\n",
            404,
            Closes,
        ),
        case(
            ".env in absolute-form",
            "GET http://localhost/.env HTTP/1.1\r\nHost: localhost\r\n\r\n",
            404,
            KeepsSync,
        ),
    ]);
    probe.run(&cases);
}

/// `/.well-known/` (RFC 8615) is the one exception at the top: its files
/// are served and it is redirected and listed like any folder, but a
/// dotfile inside it stays hidden; generated listings leave dotfiles out.
#[test]
fn well_known_is_served_and_listings_leave_dotfiles_out() {
    let dir = dot_site();
    let (_srv, probe) = dot_server(&dir, false);
    let security: &[u8] = b"Contact: mailto:security@example.com\n";
    let cases = [
        case("the root listing", get("/"), 200, KeepsSync),
        case("a listing of sub/", get("/sub/"), 200, KeepsSync),
        case(
            "the .well-known listing",
            get("/.well-known/"),
            200,
            KeepsSync,
        ),
        case(
            ".well-known/security.txt",
            get("/.well-known/security.txt"),
            200,
            KeepsSync,
        )
        .body(security),
        case(
            "%2ewell-known/security.txt",
            get("/%2ewell-known/security.txt"),
            200,
            KeepsSync,
        )
        .body(security),
        case(
            ".well-known/./security.txt",
            get("/.well-known/./security.txt"),
            200,
            KeepsSync,
        )
        .body(security),
        case(
            "a folder inside .well-known",
            get("/.well-known/acme-challenge/token"),
            200,
            KeepsSync,
        )
        .body(&b"acme-token\n"[..]),
        case(
            ".well-known without a slash",
            get("/.well-known"),
            301,
            KeepsSync,
        )
        .location("/.well-known/"),
        // The path is resolved before the rule: nothing of .git is touched.
        case(
            ".git/.. resolves to the root",
            get("/.git/../sub/visible.txt"),
            200,
            KeepsSync,
        )
        .body(&b"visible\n"[..]),
    ];
    let answers = probe.run(&cases);
    assert_page(
        "/ without dotfiles",
        &answers[0].text(),
        &["href=\"./.well-known/\"", "href=\"./sub/\""],
        &[".env", ".git", ".hidden-dir", "href=\"./...\""],
    );
    assert_page(
        "/sub/ without dotfiles",
        &answers[1].text(),
        &["href=\"./visible.txt\""],
        &[".htpasswd", ".well-known"],
    );
    assert_page(
        "/.well-known/ without dotfiles",
        &answers[2].text(),
        &["href=\"./security.txt\"", "href=\"./acme-challenge/\""],
        &[".secret"],
    );
}

/// With `allow_dotfiles(true)` dotfiles are served and listed like any
/// other file, and still nothing outside the root is.
#[test]
fn allow_dotfiles_serves_and_lists_them() {
    let dir = dot_site();
    let (_srv, probe) = dot_server(&dir, true);
    let mut cases: Vec<Case> = DOTFILES
        .iter()
        .map(|&(name, contents)| {
            case(name, get(&format!("/{name}")), 200, KeepsSync).body(contents)
        })
        .collect();
    cases.extend([
        case("%2eenv", get("/%2eenv"), 200, KeepsSync).body("DOTENV-SECRET-1"),
        case(".git without a slash", get("/.git"), 301, KeepsSync).location("/.git/"),
        case(
            "the canary through .well-known",
            get("/.well-known/../../secret.txt"),
            404,
            KeepsSync,
        ),
        case(
            "the canary through .env",
            get("/.env/../../secret.txt"),
            404,
            KeepsSync,
        ),
        case(".env/ is not a folder", get("/.env/"), 404, KeepsSync),
        case("the root listing", get("/"), 200, KeepsSync),
        case("a listing of sub/", get("/sub/"), 200, KeepsSync),
        case(
            "the .well-known listing",
            get("/.well-known/"),
            200,
            KeepsSync,
        ),
    ]);
    let answers = probe.run(&cases);
    let [root, sub, well_known] = &answers[answers.len() - 3..] else {
        panic!("{} answers", answers.len());
    };
    assert_page(
        "/ with dotfiles",
        &root.text(),
        &[
            "href=\"./.env\"",
            "href=\"./.git/\"",
            "href=\"./.hidden-dir/\"",
            "href=\"./.well-known/\"",
            "href=\"./...\"",
            "href=\"./sub/\"",
        ],
        &[],
    );
    assert_page(
        "/sub/ with dotfiles",
        &sub.text(),
        &[
            "href=\"./.htpasswd\"",
            "href=\"./.well-known/\"",
            "href=\"./visible.txt\"",
        ],
        &[],
    );
    assert_page(
        "/.well-known/ with dotfiles",
        &well_known.text(),
        &["href=\"./.secret\"", "href=\"./security.txt\""],
        &[],
    );
}

// ---------------------------------------------------------------------------
// Request lines, methods and Host values at the edge of the grammar.

/// Any method but GET and HEAD, known or not, is 405 with `Allow: GET,
/// HEAD`: the static handler cannot know what a router in front of it
/// recognizes, and 405 with `Allow` tells the client what works (RFC 9110
/// section 15.6.2 lets an unrecognized method have 501 instead). Methods
/// are case-sensitive, so `get` is not GET. The framing stays sound, so the
/// connection stays in sync.
#[test]
fn methods_other_than_get_and_head_are_405() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let long = format!(
        "{} /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "A".repeat(1000)
    );
    let cases = [
        case(
            "BREW",
            "BREW /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
            405,
            KeepsSync,
        ),
        case(
            "lower-case get",
            "get /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
            405,
            KeepsSync,
        ),
        case("a 1000-character method", long, 405, KeepsSync),
        case(
            "DELETE, known",
            "DELETE /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
            405,
            KeepsSync,
        ),
    ];
    probe.run(&cases);
}

/// RFC 9112 section 3: request-line = method SP request-target SP
/// HTTP-version; a line with more spaces is invalid, which is 400. 505 is
/// for a major version the server does not support (RFC 9110 section
/// 15.6.6), and these lines name HTTP/1.1 or HTTP/1.0.
#[test]
fn malformed_request_lines_ending_in_a_supported_version_are_400() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let table: &[(&str, &str)] = &[
        (
            "raw spaces in the target",
            "GET /space in name.txt HTTP/1.1",
        ),
        ("two spaces before the version", "GET /index.html  HTTP/1.1"),
        ("an extra word, HTTP/1.0", "GET /index.html x HTTP/1.0"),
    ];
    let cases: Vec<Case> = table
        .iter()
        .map(|&(what, line)| {
            case(
                what,
                format!("{line}\r\nHost: localhost\r\n\r\n"),
                400,
                Closes,
            )
        })
        .collect();
    probe.run(&cases);
}

/// RFC 9112 section 3.2: a Host with an invalid value is 400; Host =
/// uri-host [ ":" port ], and port = *DIGIT (RFC 3986 section 3.2.3).
#[test]
fn host_with_a_non_numeric_port_is_400() {
    let site = site();
    let srv = TestServer::static_files(&site.root());
    let probe = Probe::on_site(&srv);
    let table: &[&str] = &["localhost:abc", "localhost:8o", "localhost:-1", "[::1]:abc"];
    let cases: Vec<Case> = table
        .iter()
        .map(|host| {
            case(
                format!("Host: {host}"),
                get_with(&format!("Host: {host}\r\n")),
                400,
                Closes,
            )
        })
        .collect();
    probe.run(&cases);
}
