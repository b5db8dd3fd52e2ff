//! Validators, conditional requests, byte ranges, precompressed variants and
//! Cache-Control on file responses (RFC 9110 sections 8.8, 12.5.3, 13 and
//! 14), over real sockets against a real server.
//!
//! Every test builds its own document root. Files are given a modification
//! time an hour in the past (keeping the sub-second part), so dates after
//! `Last-Modified` can be sent without being in the future, and so the
//! `Last-Modified` value is a strong validator for `If-Range`.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{Resp, TestServer, connect, quick_config, read_response};
use otuserver_core::StaticFiles;
use otuserver_core::http::HeaderValue;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A text file whose bytes must never appear in a 412 or 304.
const DOC: &[u8] = b"the document body, served whole or not at all\n";
/// The original beside its precompressed variants.
const A_TXT: &[u8] = b"plain text, stored as is and precompressed beside it\n";
const A_GZ: &[u8] = b"GZ-BYTES";
const A_BR: &[u8] = b"BR-BYTES";
const PLAIN: &[u8] = b"no variants here\n";
const ONLY_GZ: &[u8] = b"only a gzip variant beside this one\n";
const ONLY_GZ_GZ: &[u8] = b"ONLY-GZ";
const STALE: &[u8] = b"newer than its gzip variant\n";
const STALE_GZ: &[u8] = b"STALE-GZ";

/// Bytes 0, 1, ..., 99: every offset has its own value.
fn hundred() -> Vec<u8> {
    (0..100u8).collect()
}

/// 1000 bytes, for many small ranges.
fn kilo() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

/// 4 MiB that differ at offsets 251 bytes and 64 KiB apart.
fn large() -> Vec<u8> {
    (0..(4u32 << 20))
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

fn set_mtime(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn write_at(path: &Path, bytes: &[u8], time: SystemTime) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    set_mtime(path, time);
}

/// A document root with a server on it. The server is declared first so it
/// stops before the directory goes.
struct Docs {
    srv: TestServer,
    dir: tempfile::TempDir,
    /// The modification time given to the fixture files.
    mtime: SystemTime,
}

impl Docs {
    fn addr(&self) -> SocketAddr {
        self.srv.addr
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `doc.txt`, `hundred.bin`, `kilo.bin`, `empty.txt`, a directory with an
/// index file and one without (listings on), served by `configure(files)`.
fn docs_with(configure: impl FnOnce(StaticFiles) -> StaticFiles) -> Docs {
    let dir = tempfile::tempdir().unwrap();
    let mtime = SystemTime::now() - Duration::from_secs(3600);
    let files: [(&str, Vec<u8>); 6] = [
        ("doc.txt", DOC.to_vec()),
        ("hundred.bin", hundred()),
        ("kilo.bin", kilo()),
        ("empty.txt", Vec::new()),
        ("withindex/index.html", b"<p>index</p>\n".to_vec()),
        ("listing/item.txt", b"item\n".to_vec()),
    ];
    for (name, bytes) in files {
        write_at(&dir.path().join(name), &bytes, mtime);
    }
    let files = configure(StaticFiles::new(dir.path()).unwrap().generate_index(true));
    let srv = TestServer::start(files, quick_config());
    Docs { srv, dir, mtime }
}

fn docs() -> Docs {
    docs_with(|f| f)
}

/// `a.txt` with `.gz` and `.br` variants, `plain.txt` with none,
/// `only-gz.txt` with a `.gz` only, and `stale.txt` whose `.gz` is older
/// than it. Originals are an hour old, fresh variants half an hour.
fn variants_with(configure: impl FnOnce(StaticFiles) -> StaticFiles) -> Docs {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let mtime = now - Duration::from_secs(3600);
    let newer = now - Duration::from_secs(1800);
    let older = now - Duration::from_secs(7200);
    let files: [(&str, &[u8], SystemTime); 8] = [
        ("a.txt", A_TXT, mtime),
        ("a.txt.gz", A_GZ, newer),
        ("a.txt.br", A_BR, newer),
        ("plain.txt", PLAIN, mtime),
        ("only-gz.txt", ONLY_GZ, mtime),
        ("only-gz.txt.gz", ONLY_GZ_GZ, newer),
        ("stale.txt", STALE, mtime),
        ("stale.txt.gz", STALE_GZ, older),
    ];
    for (name, bytes, time) in files {
        write_at(&dir.path().join(name), bytes, time);
    }
    let files = configure(StaticFiles::new(dir.path()).unwrap());
    let srv = TestServer::start(files, quick_config());
    Docs { srv, dir, mtime }
}

fn variants() -> Docs {
    variants_with(|f| f)
}

// ---------------------------------------------------------------------------
// A strict client
// ---------------------------------------------------------------------------

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Parses a whole response; `body` is every byte after the head.
fn parse(raw: &[u8]) -> Resp {
    let end = find(raw, b"\r\n\r\n", 0).unwrap_or_else(|| {
        panic!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(raw)
        )
    });
    let head = String::from_utf8(raw[..end + 4].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Resp {
        status,
        head,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// Sends `method target` with `headers` and `Connection: close`, reads
/// everything up to the close, and checks the framing: a 304 or an answer
/// to HEAD has no body bytes, a 304 no Content-Length, and anything else a
/// Content-Length equal to what arrived (for HEAD, the header alone).
fn send(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    let r = parse(&common::raw(addr, req.as_bytes()));
    assert!(
        r.header("transfer-encoding").is_none(),
        "unexpected Transfer-Encoding: {}",
        r.head
    );
    if r.status == 304 {
        assert!(r.body.is_empty(), "a 304 with body bytes: {:?}", r.text());
        assert!(
            r.header("content-length").is_none(),
            "a 304 with Content-Length: {}",
            r.head
        );
    } else {
        let len: usize = r
            .header("content-length")
            .unwrap_or_else(|| panic!("no Content-Length: {}", r.head))
            .parse()
            .unwrap();
        if method == "HEAD" {
            assert!(r.body.is_empty(), "HEAD sent body bytes: {:?}", r.text());
        } else {
            assert_eq!(r.body.len(), len, "Content-Length vs bytes received");
        }
    }
    r
}

fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Resp {
    send(addr, "GET", target, headers)
}

fn head(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Resp {
    send(addr, "HEAD", target, headers)
}

/// The response's ETag, checked to be strong: `"opaque"`, no `W/`.
fn strong_etag(r: &Resp) -> String {
    let e = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {}", r.head));
    assert!(
        e.len() >= 2 && e.starts_with('"') && e.ends_with('"') && !e[1..e.len() - 1].contains('"'),
        "not a strong entity-tag: {e}"
    );
    e.to_owned()
}

fn last_modified(r: &Resp) -> String {
    let lm = r
        .header("last-modified")
        .unwrap_or_else(|| panic!("no Last-Modified: {}", r.head));
    assert!(
        httpdate::parse_http_date(lm).is_ok(),
        "not an HTTP-date: {lm}"
    );
    lm.to_owned()
}

fn date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

fn varies_on_accept_encoding(r: &Resp) -> bool {
    r.header("vary").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
    })
}

/// `bytes first-last/complete` as numbers.
fn content_range(value: &str) -> (usize, usize, usize) {
    let spec = value
        .strip_prefix("bytes ")
        .unwrap_or_else(|| panic!("bad Content-Range {value}"));
    let (range, complete) = spec.split_once('/').unwrap();
    let (first, last) = range.split_once('-').unwrap();
    (
        first.parse().unwrap(),
        last.parse().unwrap(),
        complete.parse().unwrap(),
    )
}

fn assert_full(r: &Resp, whole: &[u8]) {
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.body == whole,
        "body is not the whole file: {:?}",
        r.text()
    );
    assert!(r.header("content-range").is_none(), "{}", r.head);
}

fn assert_single_range(r: &Resp, whole: &[u8], first: usize, last: usize) {
    assert_eq!(r.status, 206, "{}", r.head);
    let want = format!("bytes {first}-{last}/{}", whole.len());
    assert_eq!(r.header("content-range"), Some(want.as_str()), "{}", r.head);
    let len = (last - first + 1).to_string();
    assert_eq!(r.header("content-length"), Some(len.as_str()));
    assert!(
        r.body == whole[first..=last],
        "wrong bytes for {first}-{last}: {:?}",
        r.body
    );
}

fn assert_unsatisfiable(r: &Resp, complete: usize) {
    assert_eq!(r.status, 416, "{}", r.head);
    let want = format!("bytes */{complete}");
    assert_eq!(r.header("content-range"), Some(want.as_str()), "{}", r.head);
}

/// One part of a `multipart/byteranges` body.
#[derive(Debug)]
struct Part {
    content_type: Option<String>,
    content_range: String,
    data: Vec<u8>,
}

fn boundary(r: &Resp) -> String {
    let ct = r
        .header("content-type")
        .unwrap_or_else(|| panic!("no Content-Type: {}", r.head));
    let (kind, params) = ct
        .split_once(';')
        .unwrap_or_else(|| panic!("no boundary in {ct}"));
    assert_eq!(kind.trim(), "multipart/byteranges", "{ct}");
    let boundary = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .unwrap_or_else(|| panic!("no boundary in {ct}"))
        .trim_matches('"')
        .to_owned();
    assert!(!boundary.is_empty(), "{ct}");
    boundary
}

/// Splits a multipart/byteranges body, strictly: each part's data is as
/// long as its Content-Range says and is followed by CRLF and a delimiter;
/// the last delimiter is the closing `--boundary--`.
fn parts(r: &Resp) -> Vec<Part> {
    assert_eq!(r.status, 206, "{}", r.head);
    assert!(r.header("content-range").is_none(), "{}", r.head);
    let delim = format!("--{}", boundary(r)).into_bytes();
    let body = &r.body;
    let mut pos = find(body, &delim, 0).expect("no delimiter in the body");
    assert!(
        body[..pos].iter().all(|b| matches!(b, b'\r' | b'\n')),
        "preamble before the first part: {:?}",
        String::from_utf8_lossy(&body[..pos])
    );
    let mut out = Vec::new();
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            let epilogue = &body[pos + 2..];
            assert!(
                epilogue.is_empty() || epilogue == b"\r\n",
                "after the closing delimiter: {:?}",
                String::from_utf8_lossy(epilogue)
            );
            return out;
        }
        assert!(
            body[pos..].starts_with(b"\r\n"),
            "delimiter not followed by CRLF"
        );
        pos += 2;
        let end = find(body, b"\r\n\r\n", pos).expect("part head without its end");
        let part_head = std::str::from_utf8(&body[pos..end]).unwrap();
        let (mut content_type, mut range) = (None, None);
        for line in part_head.split("\r\n") {
            let (name, value) = line.split_once(':').unwrap();
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-range") {
                range = Some(value.trim().to_owned());
            }
        }
        let cr = range.unwrap_or_else(|| panic!("part without Content-Range: {part_head}"));
        let (first, last, _) = content_range(&cr);
        pos = end + 4;
        let n = last - first + 1;
        assert!(pos + n <= body.len(), "part {cr} cut short");
        let data = body[pos..pos + n].to_vec();
        pos += n;
        assert!(
            body[pos..].starts_with(b"\r\n"),
            "part {cr} not followed by CRLF"
        );
        pos += 2;
        assert!(
            body[pos..].starts_with(&delim),
            "part {cr} longer than it says"
        );
        out.push(Part {
            content_type,
            content_range: cr,
            data,
        });
    }
}

fn ranges(parts: &[Part]) -> Vec<&str> {
    parts.iter().map(|p| p.content_range.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------

#[test]
fn file_responses_carry_last_modified_strong_etag_and_accept_ranges() {
    let d = docs();
    let r = get(d.addr(), "/doc.txt", &[]);
    assert_full(&r, DOC);
    assert_eq!(last_modified(&r), date(d.mtime));
    strong_etag(&r);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let r = get(d.addr(), "/empty.txt", &[]);
    assert_eq!(r.status, 200);
    strong_etag(&r);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
}

#[test]
fn head_and_get_give_the_same_validators() {
    let d = docs();
    let g = get(d.addr(), "/doc.txt", &[]);
    let h = head(d.addr(), "/doc.txt", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(strong_etag(&h), strong_etag(&g));
    assert_eq!(last_modified(&h), last_modified(&g));
    assert_eq!(h.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        h.header("content-length"),
        Some(DOC.len().to_string().as_str())
    );
}

#[test]
fn etag_changes_when_the_file_changes() {
    let d = docs_with(|f| f.cache_ttl(Duration::ZERO));
    let path = d.path("changing.txt");
    std::fs::write(&path, b"short").unwrap();
    let first = get(d.addr(), "/changing.txt", &[]);
    assert_eq!(first.body, b"short");
    let e1 = strong_etag(&first);
    assert_eq!(
        strong_etag(&get(d.addr(), "/changing.txt", &[])),
        e1,
        "not stable"
    );

    std::fs::write(&path, b"a longer body than before").unwrap();
    let second = get(d.addr(), "/changing.txt", &[]);
    assert_eq!(second.body, b"a longer body than before");
    let e2 = strong_etag(&second);
    assert_ne!(e1, e2, "the ETag did not follow a change of size");
    // The old tag no longer matches; the new one does.
    let r = get(d.addr(), "/changing.txt", &[("If-None-Match", &e1)]);
    assert_full(&r, b"a longer body than before");
    assert_eq!(
        get(d.addr(), "/changing.txt", &[("If-None-Match", &e2)]).status,
        304
    );

    // Same length, other bytes, another modification time.
    std::fs::write(&path, b"A LONGER BODY THAN BEFORE").unwrap();
    set_mtime(&path, d.mtime - Duration::from_secs(86_400));
    let third = get(d.addr(), "/changing.txt", &[]);
    assert_eq!(third.body, b"A LONGER BODY THAN BEFORE");
    assert_ne!(
        strong_etag(&third),
        e2,
        "the ETag did not follow a change of mtime"
    );
    assert_eq!(
        last_modified(&third),
        date(d.mtime - Duration::from_secs(86_400))
    );
}

#[test]
fn replicas_with_preserved_times_answer_the_same_etags() {
    // Two copies of a site, as `cp -a`, rsync -a or an image make them:
    // other inodes, the same sizes and modification times (nanoseconds
    // included). Behind a balancer they must agree on every validator.
    let origin = tempfile::tempdir().unwrap();
    let when = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    let names = ["index.html", "deep/er/page.txt", "app.js", "app.js.gz"];
    for name in names {
        write_at(&origin.path().join(name), name.as_bytes(), when);
    }
    let copies = tempfile::tempdir().unwrap();
    let (a, b) = (copies.path().join("a"), copies.path().join("b"));
    for copy in [&a, &b] {
        let made = Command::new("cp")
            .arg("-a")
            .arg(origin.path())
            .arg(copy)
            .status()
            .unwrap();
        assert!(made.success());
    }
    let serve = |root: &Path| {
        let files = StaticFiles::new(root).unwrap().cache_ttl(Duration::ZERO);
        TestServer::start(files, quick_config())
    };
    let (sa, sb) = (serve(&a), serve(&b));
    let gzip = [("Accept-Encoding", "gzip")];
    for (target, headers) in [
        ("/index.html", &[][..]),
        ("/deep/er/page.txt", &[]),
        ("/app.js", &[]),
        ("/app.js", &gzip),
    ] {
        let (ra, rb) = (get(sa.addr, target, headers), get(sb.addr, target, headers));
        assert_eq!(ra.status, 200, "{target}");
        assert_eq!(strong_etag(&ra), strong_etag(&rb), "{target} {headers:?}");
        assert_eq!(last_modified(&ra), last_modified(&rb), "{target}");
        // And one replica's tag is good for a range from the other.
        let etag = strong_etag(&ra);
        let mut ranged = vec![("Range", "bytes=0-1"), ("If-Range", etag.as_str())];
        ranged.extend_from_slice(headers);
        let r = get(sb.addr, target, &ranged);
        assert_eq!(r.status, 206, "{target}: {}", r.head);
    }

    // A changed file, even with the same size and a time a nanosecond
    // later, gets a new tag.
    let page = b.join("deep/er/page.txt");
    let before = strong_etag(&get(sb.addr, "/deep/er/page.txt", &[]));
    write_at(&page, b"DEEP/ER/PAGE.TXT", when + Duration::from_nanos(1));
    let after = get(sb.addr, "/deep/er/page.txt", &[]);
    assert_eq!(after.body, b"DEEP/ER/PAGE.TXT");
    assert_ne!(strong_etag(&after), before);
}

#[test]
fn generated_listing_has_no_etag() {
    let d = docs();
    let r = get(d.addr(), "/listing/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("item.txt"), "{}", r.text());
    assert!(r.header("etag").is_none(), "{}", r.head);
}

#[test]
fn directory_index_file_has_the_file_validators() {
    let d = docs();
    let by_dir = get(d.addr(), "/withindex/", &[]);
    let by_name = get(d.addr(), "/withindex/index.html", &[]);
    assert_eq!(by_dir.body, b"<p>index</p>\n");
    let etag = strong_etag(&by_name);
    assert_eq!(strong_etag(&by_dir), etag);
    assert_eq!(last_modified(&by_dir), last_modified(&by_name));
    assert_eq!(
        get(d.addr(), "/withindex/", &[("If-None-Match", &etag)]).status,
        304
    );
}

// ---------------------------------------------------------------------------
// If-None-Match and If-Modified-Since
// ---------------------------------------------------------------------------

#[test]
fn if_none_match_with_the_current_etag_is_304_with_validators() {
    let d = docs();
    let full = get(d.addr(), "/doc.txt", &[]);
    let etag = strong_etag(&full);
    let r = get(d.addr(), "/doc.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304, "{}", r.head);
    // Empty body and no Content-Length are checked by `send`.
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(
        r.header("last-modified"),
        Some(last_modified(&full).as_str())
    );
    assert!(
        r.header("vary").is_none(),
        "no variant, no Vary: {}",
        r.head
    );
    assert!(r.header("cache-control").is_none(), "{}", r.head);
}

#[test]
fn if_none_match_finds_the_etag_in_a_list() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    for list in [
        format!("\"x\", {etag}"),
        format!("\"x\",{etag}"),
        format!("\"x\", \"y\" , {etag} , \"z\""),
    ] {
        let r = get(d.addr(), "/doc.txt", &[("If-None-Match", &list)]);
        assert_eq!(r.status, 304, "If-None-Match: {list}");
    }
}

#[test]
fn if_none_match_compares_weakly() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    let weak = format!("W/{etag}");
    let r = get(d.addr(), "/doc.txt", &[("If-None-Match", &weak)]);
    assert_eq!(r.status, 304, "If-None-Match: {weak}");
    assert_eq!(r.header("etag"), Some(etag.as_str()));
}

#[test]
fn if_none_match_star_is_304() {
    let d = docs();
    let r = get(d.addr(), "/doc.txt", &[("If-None-Match", "*")]);
    assert_eq!(r.status, 304);
}

#[test]
fn if_none_match_without_a_match_is_200() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    let other = format!("\"{}x\"", &etag[1..etag.len() - 1]);
    for value in ["\"nope\"", other.as_str(), "\"a\", \"b\"", "W/\"nope\""] {
        let r = get(d.addr(), "/doc.txt", &[("If-None-Match", value)]);
        assert_full(&r, DOC);
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{value}");
    }
}

#[test]
fn head_with_a_matching_if_none_match_is_304() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    let r = head(d.addr(), "/doc.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
}

#[test]
fn if_modified_since_equal_to_last_modified_is_304() {
    let d = docs();
    let full = get(d.addr(), "/doc.txt", &[]);
    // The file's mtime has a sub-second part; Last-Modified has none.
    let lm = last_modified(&full);
    let r = get(d.addr(), "/doc.txt", &[("If-Modified-Since", &lm)]);
    assert_eq!(r.status, 304, "{}", r.head);
    assert_eq!(r.header("last-modified"), Some(lm.as_str()));
    assert_eq!(r.header("etag"), Some(strong_etag(&full).as_str()));
}

#[test]
fn if_modified_since_later_than_last_modified_is_304() {
    let d = docs();
    let later = date(d.mtime + Duration::from_secs(1800));
    let r = get(d.addr(), "/doc.txt", &[("If-Modified-Since", &later)]);
    assert_eq!(r.status, 304, "If-Modified-Since: {later}");
}

#[test]
fn if_modified_since_earlier_than_last_modified_is_200() {
    let d = docs();
    for earlier in [
        date(d.mtime - Duration::from_secs(2)),
        date(d.mtime - Duration::from_secs(86_400)),
        "Sun, 06 Nov 1994 08:49:37 GMT".to_owned(),
    ] {
        let r = get(d.addr(), "/doc.txt", &[("If-Modified-Since", &earlier)]);
        assert_full(&r, DOC);
    }
}

#[test]
fn unparseable_if_modified_since_is_ignored() {
    let d = docs();
    for value in ["yesterday", "2031-01-01T00:00:00Z", ""] {
        let r = get(d.addr(), "/doc.txt", &[("If-Modified-Since", value)]);
        assert_full(&r, DOC);
    }
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    let d = docs();
    let full = get(d.addr(), "/doc.txt", &[]);
    let (etag, lm) = (strong_etag(&full), last_modified(&full));
    // A satisfied If-Modified-Since does not rescue a failed If-None-Match...
    let r = get(
        d.addr(),
        "/doc.txt",
        &[("If-None-Match", "\"nope\""), ("If-Modified-Since", &lm)],
    );
    assert_full(&r, DOC);
    // ...and is not even looked at when If-None-Match is present.
    let earlier = date(d.mtime - Duration::from_secs(86_400));
    let r = get(
        d.addr(),
        "/doc.txt",
        &[("If-None-Match", &etag), ("If-Modified-Since", &earlier)],
    );
    assert_eq!(r.status, 304);
}

// ---------------------------------------------------------------------------
// If-Match and If-Unmodified-Since
// ---------------------------------------------------------------------------

fn assert_precondition_failed(r: &Resp) {
    assert_eq!(r.status, 412, "{}", r.head);
    assert!(
        find(&r.body, &DOC[..20], 0).is_none(),
        "a 412 carried the file: {:?}",
        r.text()
    );
    assert!(r.header("content-range").is_none(), "{}", r.head);
}

#[test]
fn if_match_with_another_tag_is_412() {
    let d = docs();
    for value in ["\"nope\"", "\"a\", \"b\""] {
        assert_precondition_failed(&get(d.addr(), "/doc.txt", &[("If-Match", value)]));
    }
}

#[test]
fn if_match_with_the_current_tag_or_star_is_200() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    for value in [etag.clone(), "*".to_owned(), format!("\"nope\", {etag}")] {
        let r = get(d.addr(), "/doc.txt", &[("If-Match", &value)]);
        assert_full(&r, DOC);
    }
}

#[test]
fn if_match_never_matches_a_weak_tag() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    let weak = format!("W/{etag}");
    assert_precondition_failed(&get(d.addr(), "/doc.txt", &[("If-Match", &weak)]));
}

#[test]
fn if_unmodified_since_earlier_than_last_modified_is_412() {
    let d = docs();
    let earlier = date(d.mtime - Duration::from_secs(86_400));
    let r = get(d.addr(), "/doc.txt", &[("If-Unmodified-Since", &earlier)]);
    assert_precondition_failed(&r);
}

#[test]
fn if_unmodified_since_equal_or_later_is_200() {
    let d = docs();
    let lm = last_modified(&get(d.addr(), "/doc.txt", &[]));
    let later = date(d.mtime + Duration::from_secs(1800));
    for value in [lm, later] {
        let r = get(d.addr(), "/doc.txt", &[("If-Unmodified-Since", &value)]);
        assert_full(&r, DOC);
    }
}

#[test]
fn unparseable_if_unmodified_since_is_ignored() {
    let d = docs();
    let r = get(
        d.addr(),
        "/doc.txt",
        &[("If-Unmodified-Since", "yesterday")],
    );
    assert_full(&r, DOC);
}

#[test]
fn if_match_takes_precedence_over_if_unmodified_since() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/doc.txt", &[]));
    let earlier = date(d.mtime - Duration::from_secs(86_400));
    let r = get(
        d.addr(),
        "/doc.txt",
        &[("If-Match", &etag), ("If-Unmodified-Since", &earlier)],
    );
    assert_full(&r, DOC);
}

#[test]
fn failed_precondition_beats_range() {
    let d = docs();
    let r = get(
        d.addr(),
        "/doc.txt",
        &[("If-Match", "\"nope\""), ("Range", "bytes=0-19")],
    );
    assert_precondition_failed(&r);
}

// ---------------------------------------------------------------------------
// Single ranges
// ---------------------------------------------------------------------------

#[test]
fn first_bytes_range_is_206_with_content_range() {
    let d = docs();
    let full = get(d.addr(), "/hundred.bin", &[]);
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-4")]);
    assert_single_range(&r, &hundred(), 0, 4);
    assert_eq!(r.body, [0, 1, 2, 3, 4]);
    assert_eq!(r.header("content-type"), full.header("content-type"));
    assert_eq!(r.header("etag"), Some(strong_etag(&full).as_str()));
    assert_eq!(
        r.header("last-modified"),
        Some(last_modified(&full).as_str())
    );
}

#[test]
fn range_in_the_middle_is_206() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=37-41")]);
    assert_single_range(&r, &hundred(), 37, 41);
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=99-99")]);
    assert_single_range(&r, &hundred(), 99, 99);
}

#[test]
fn open_ended_range_runs_to_the_end() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=90-")]);
    assert_single_range(&r, &hundred(), 90, 99);
}

#[test]
fn suffix_range_is_the_last_bytes() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=-10")]);
    assert_single_range(&r, &hundred(), 90, 99);
}

#[test]
fn suffix_longer_than_the_file_is_the_whole_file() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=-500")]);
    assert_single_range(&r, &hundred(), 0, 99);
}

#[test]
fn range_past_the_end_is_clamped() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=95-200")]);
    assert_single_range(&r, &hundred(), 95, 99);
}

#[test]
fn range_starting_at_or_past_the_end_is_416() {
    let d = docs();
    for value in ["bytes=100-", "bytes=500-600", "bytes=100-100"] {
        let r = get(d.addr(), "/hundred.bin", &[("Range", value)]);
        assert_unsatisfiable(&r, 100);
        assert!(r.body != hundred(), "{value}: a 416 carried the file");
    }
}

#[test]
fn zero_length_suffix_is_416() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=-0")]);
    assert_unsatisfiable(&r, 100);
}

#[test]
fn invalid_range_syntax_is_ignored() {
    let d = docs();
    for value in ["bytes=5-1", "bytes=abc", "items=0-1", "bytes 0-1", ""] {
        let r = get(d.addr(), "/hundred.bin", &[("Range", value)]);
        assert_eq!(r.status, 200, "Range: {value:?}");
        assert!(r.body == hundred(), "Range: {value:?}: not the whole file");
        assert!(r.header("content-range").is_none(), "Range: {value:?}");
    }
}

#[test]
fn ranges_of_an_empty_file() {
    let d = docs();
    let r = get(d.addr(), "/empty.txt", &[("Range", "bytes=0-")]);
    assert_unsatisfiable(&r, 0);
    let r = get(d.addr(), "/empty.txt", &[("Range", "bytes=-5")]);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
    assert!(r.header("content-range").is_none(), "{}", r.head);
}

#[test]
fn head_ignores_range() {
    // RFC 9110 section 14.2: Range is for GET; HEAD gets the 200 head.
    let d = docs();
    let plain = head(d.addr(), "/hundred.bin", &[]);
    let etag = strong_etag(&plain);
    for headers in [
        &[("Range", "bytes=0-4")][..],
        &[("Range", "bytes=0-1,10-11")],
        &[("Range", "bytes=0-4"), ("If-Range", &etag)],
        &[("Range", "bytes=100-")],
    ] {
        let r = head(d.addr(), "/hundred.bin", headers);
        assert_eq!(r.status, 200, "{headers:?}: {}", r.head);
        assert_eq!(r.header("content-length"), Some("100"), "{headers:?}");
        assert!(r.header("content-range").is_none(), "{}", r.head);
        assert_eq!(r.header("content-type"), plain.header("content-type"));
    }
    // No body bytes at all is checked by `send`; and with read_response:
    let mut s = connect(d.addr());
    s.write_all(
        b"HEAD /hundred.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut s, true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100"));
}

#[test]
fn range_of_a_large_file_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = large();
    std::fs::write(dir.path().join("large.bin"), &bytes).unwrap();
    let srv = TestServer::start(StaticFiles::new(dir.path()).unwrap(), quick_config());
    let r = get(
        srv.addr,
        "/large.bin",
        &[("Range", "bytes=1000000-3000000")],
    );
    assert_single_range(&r, &bytes, 1_000_000, 3_000_000);
    let r = get(srv.addr, "/large.bin", &[("Range", "bytes=-65537")]);
    assert_single_range(&r, &bytes, bytes.len() - 65_537, bytes.len() - 1);
}

// ---------------------------------------------------------------------------
// Several ranges
// ---------------------------------------------------------------------------

#[test]
fn several_ranges_make_a_multipart_answer() {
    let d = docs();
    let full = get(d.addr(), "/hundred.bin", &[]);
    let file_type = full.header("content-type").unwrap();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-1,10-11")]);
    // Content-Length equal to the bytes received is checked by `send`;
    // the closing delimiter by `parts`.
    let got = parts(&r);
    assert_eq!(ranges(&got), ["bytes 0-1/100", "bytes 10-11/100"]);
    assert_eq!(got[0].data, [0, 1]);
    assert_eq!(got[1].data, [10, 11]);
    for part in &got {
        assert_eq!(part.content_type.as_deref(), Some(file_type), "{part:?}");
    }
    let boundary = boundary(&r);
    assert!(
        r.body.ends_with(format!("--{boundary}--\r\n").as_bytes())
            || r.body.ends_with(format!("--{boundary}--").as_bytes()),
        "no closing delimiter"
    );
}

#[test]
fn overlapping_ranges_coalesce_into_one_part() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-5,3-9")]);
    assert_single_range(&r, &hundred(), 0, 9);
    assert!(
        !r.header("content-type")
            .unwrap_or("")
            .starts_with("multipart/"),
        "{}",
        r.head
    );
}

#[test]
fn adjacent_ranges_coalesce_into_one_part() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-4,5-9")]);
    assert_single_range(&r, &hundred(), 0, 9);
    assert!(
        !r.header("content-type")
            .unwrap_or("")
            .starts_with("multipart/"),
        "{}",
        r.head
    );
}

#[test]
fn coalesced_ranges_are_sent_in_ascending_order() {
    let d = docs();
    let r = get(
        d.addr(),
        "/hundred.bin",
        &[("Range", "bytes=50-59,0-5,3-9")],
    );
    let got = parts(&r);
    assert_eq!(ranges(&got), ["bytes 0-9/100", "bytes 50-59/100"]);
    assert_eq!(got[0].data, hundred()[0..10]);
    assert_eq!(got[1].data, hundred()[50..60]);
}

#[test]
fn disjoint_ranges_keep_the_requested_order() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=50-59,0-1")]);
    let got = parts(&r);
    assert_eq!(ranges(&got), ["bytes 50-59/100", "bytes 0-1/100"]);
    assert_eq!(got[0].data, hundred()[50..60]);
    assert_eq!(got[1].data, [0, 1]);
}

#[test]
fn unsatisfiable_ranges_among_satisfiable_ones_are_dropped() {
    let d = docs();
    // One range left: a plain 206.
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=500-600,0-4")]);
    assert_single_range(&r, &hundred(), 0, 4);
}

#[test]
fn at_most_64_ranges_and_more_is_416() {
    let d = docs();
    let list = |n: usize| {
        let specs: Vec<String> = (0..n).map(|i| format!("{0}-{0}", i * 10)).collect();
        format!("bytes={}", specs.join(","))
    };
    let r = get(d.addr(), "/kilo.bin", &[("Range", &list(65))]);
    assert_eq!(r.status, 416, "65 ranges: {}", r.head);
    let r = get(d.addr(), "/kilo.bin", &[("Range", &list(64))]);
    let got = parts(&r);
    assert_eq!(got.len(), 64);
    let kilo = kilo();
    for (i, part) in got.iter().enumerate() {
        assert_eq!(part.content_range, format!("bytes {0}-{0}/1000", i * 10));
        assert_eq!(part.data, [kilo[i * 10]]);
    }
}

#[test]
fn several_ranges_of_a_large_file_are_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = large();
    std::fs::write(dir.path().join("large.bin"), &bytes).unwrap();
    let srv = TestServer::start(StaticFiles::new(dir.path()).unwrap(), quick_config());
    let r = get(
        srv.addr,
        "/large.bin",
        &[("Range", "bytes=3000000-3199999,5-99999,4194000-")],
    );
    let got = parts(&r);
    let len = bytes.len();
    assert_eq!(
        ranges(&got),
        [
            format!("bytes 3000000-3199999/{len}"),
            format!("bytes 5-99999/{len}"),
            format!("bytes 4194000-{}/{len}", len - 1),
        ]
    );
    assert!(
        got[0].data == bytes[3_000_000..3_200_000],
        "first part differs"
    );
    assert!(got[1].data == bytes[5..100_000], "second part differs");
    assert!(got[2].data == bytes[4_194_000..], "third part differs");
}

// ---------------------------------------------------------------------------
// If-Range
// ---------------------------------------------------------------------------

#[test]
fn if_range_with_the_current_etag_serves_the_range() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/hundred.bin", &[]));
    let r = get(
        d.addr(),
        "/hundred.bin",
        &[("Range", "bytes=0-4"), ("If-Range", &etag)],
    );
    assert_single_range(&r, &hundred(), 0, 4);
}

#[test]
fn if_range_partial_leaves_out_what_the_client_has() {
    // RFC 9110 section 15.3.7: a 206 answering If-Range sends no
    // representation metadata beyond what is required (ETag, Cache-Control,
    // Vary); a plain 206 carries it all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hundred.bin"), hundred()).unwrap();
    let files = StaticFiles::new(dir.path())
        .unwrap()
        .cache_control(HeaderValue::from_static("max-age=60"));
    let srv = TestServer::start(files, quick_config());
    let full = get(srv.addr, "/hundred.bin", &[]);
    let etag = strong_etag(&full);
    let lm = last_modified(&full);

    let plain = get(srv.addr, "/hundred.bin", &[("Range", "bytes=0-4")]);
    assert_single_range(&plain, &hundred(), 0, 4);
    assert_eq!(plain.header("content-type"), full.header("content-type"));
    assert_eq!(plain.header("last-modified"), Some(lm.as_str()));

    for validator in [&etag, &lm] {
        let r = get(
            srv.addr,
            "/hundred.bin",
            &[("Range", "bytes=0-4"), ("If-Range", validator)],
        );
        assert_single_range(&r, &hundred(), 0, 4);
        assert!(r.header("content-type").is_none(), "{}", r.head);
        assert!(r.header("last-modified").is_none(), "{}", r.head);
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{}", r.head);
        assert_eq!(r.header("cache-control"), Some("max-age=60"));
    }

    // Several ranges: the message still says it is multipart, and each part
    // still names its type, which belongs to the body.
    let r = get(
        srv.addr,
        "/hundred.bin",
        &[("Range", "bytes=0-1,10-11"), ("If-Range", &etag)],
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("multipart/byteranges")),
        "{}",
        r.head
    );
    assert!(r.header("last-modified").is_none(), "{}", r.head);
    for part in parts(&r) {
        assert_eq!(part.content_type.as_deref(), full.header("content-type"));
    }
}

#[test]
fn if_range_with_a_stale_etag_serves_the_whole_file() {
    let d = docs();
    let r = get(
        d.addr(),
        "/hundred.bin",
        &[("Range", "bytes=0-4"), ("If-Range", "\"stale\"")],
    );
    assert_full(&r, &hundred());
}

#[test]
fn if_range_with_a_weak_etag_serves_the_whole_file() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/hundred.bin", &[]));
    let weak = format!("W/{etag}");
    let r = get(
        d.addr(),
        "/hundred.bin",
        &[("Range", "bytes=0-4"), ("If-Range", &weak)],
    );
    assert_full(&r, &hundred());
}

#[test]
fn if_range_with_the_last_modified_date_serves_the_range() {
    let d = docs();
    let lm = last_modified(&get(d.addr(), "/hundred.bin", &[]));
    let r = get(
        d.addr(),
        "/hundred.bin",
        &[("Range", "bytes=0-4"), ("If-Range", &lm)],
    );
    assert_single_range(&r, &hundred(), 0, 4);
}

#[test]
fn if_range_with_another_date_serves_the_whole_file() {
    let d = docs();
    for other in [
        date(d.mtime - Duration::from_secs(86_400)),
        date(d.mtime + Duration::from_secs(1800)),
    ] {
        let r = get(
            d.addr(),
            "/hundred.bin",
            &[("Range", "bytes=0-4"), ("If-Range", &other)],
        );
        assert_full(&r, &hundred());
    }
}

#[test]
fn not_modified_beats_range() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/hundred.bin", &[]));
    let r = get(
        d.addr(),
        "/hundred.bin",
        &[("If-None-Match", &etag), ("Range", "bytes=0-4")],
    );
    assert_eq!(r.status, 304, "{}", r.head);
    assert!(r.header("content-range").is_none(), "{}", r.head);
}

// ---------------------------------------------------------------------------
// Keep-alive and the small-file cache
// ---------------------------------------------------------------------------

#[test]
fn keep_alive_survives_206_416_and_304() {
    let d = docs();
    let etag = strong_etag(&get(d.addr(), "/hundred.bin", &[]));
    let mut s = connect(d.addr());
    let mut ask = |extra: &str, method: &str| {
        let req = format!("{method} /hundred.bin HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut s, method == "HEAD")
    };

    let r = ask("Range: bytes=0-4\r\n", "GET");
    assert_eq!((r.status, r.body.as_slice()), (206, &[0u8, 1, 2, 3, 4][..]));
    let r = ask("Range: bytes=500-\r\n", "GET");
    assert_eq!(r.status, 416);
    let r = ask(&format!("If-None-Match: {etag}\r\n"), "GET");
    assert_eq!(r.status, 304);
    let r = ask("Range: bytes=0-1,10-11\r\n", "GET");
    assert_eq!(ranges(&parts(&r)), ["bytes 0-1/100", "bytes 10-11/100"]);
    let r = ask("Range: bytes=0-4\r\n", "HEAD");
    assert_eq!(r.status, 200);
    let r = ask("If-Match: \"nope\"\r\n", "GET");
    assert_eq!(r.status, 412);
    let r = ask("Range: bytes=90-\r\n", "GET");
    assert_eq!((r.status, r.body), (206, hundred()[90..].to_vec()));

    // A last whole response, and nothing after it.
    s.write_all(b"GET /doc.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.body.as_slice()), (200, DOC));
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut rest);
    assert!(
        rest.is_empty(),
        "stray bytes: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn conditionals_and_ranges_work_with_the_small_file_cache() {
    // The default cache TTL: the first plain GET fills the cache.
    let d = docs();
    let full = get(d.addr(), "/hundred.bin", &[]);
    assert_full(&full, &hundred());
    let etag = strong_etag(&full);
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-4")]);
    assert_single_range(&r, &hundred(), 0, 4);
    assert_eq!(
        get(d.addr(), "/hundred.bin", &[("If-None-Match", &etag)]).status,
        304
    );
    assert_eq!(
        get(d.addr(), "/hundred.bin", &[("If-Match", "\"nope\"")]).status,
        412
    );
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-1,10-11")]);
    assert_eq!(parts(&r).len(), 2);
    assert_full(&get(d.addr(), "/hundred.bin", &[]), &hundred());
    // A partial answer first does not leave a partial answer in the cache.
    let r = get(d.addr(), "/kilo.bin", &[("Range", "bytes=0-4")]);
    assert_single_range(&r, &kilo(), 0, 4);
    assert_full(&get(d.addr(), "/kilo.bin", &[]), &kilo());
    let r = get(d.addr(), "/doc.txt", &[("If-None-Match", "*")]);
    assert_eq!(r.status, 304);
    assert_full(&get(d.addr(), "/doc.txt", &[]), DOC);
}

// ---------------------------------------------------------------------------
// Precompressed variants
// ---------------------------------------------------------------------------

fn assert_identity(r: &Resp, original: &[u8]) {
    assert_full(r, original);
    assert!(r.header("content-encoding").is_none(), "{}", r.head);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
}

fn assert_encoded(r: &Resp, coding: &str, bytes: &[u8]) {
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-encoding"), Some(coding), "{}", r.head);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{}",
        r.head
    );
    assert_eq!(
        r.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(r.body, bytes);
    assert!(varies_on_accept_encoding(r), "no Vary: {}", r.head);
}

#[test]
fn gzip_variant_is_served_to_a_gzip_client() {
    let d = variants();
    let identity = get(d.addr(), "/a.txt", &[]);
    let r = get(d.addr(), "/a.txt", &[("Accept-Encoding", "gzip")]);
    assert_encoded(&r, "gzip", A_GZ);
    assert_ne!(strong_etag(&r), strong_etag(&identity));
}

#[test]
fn brotli_variant_is_served_to_a_br_client() {
    let d = variants();
    let identity = get(d.addr(), "/a.txt", &[]);
    let gz = get(d.addr(), "/a.txt", &[("Accept-Encoding", "gzip")]);
    let r = get(d.addr(), "/a.txt", &[("Accept-Encoding", "br")]);
    assert_encoded(&r, "br", A_BR);
    let etag = strong_etag(&r);
    assert_ne!(etag, strong_etag(&identity));
    assert_ne!(etag, strong_etag(&gz));
}

#[test]
fn accept_encoding_preferences_pick_the_variant() {
    let d = variants();
    let cases = [
        ("gzip, br", Some("br")),
        ("br, gzip", Some("br")),
        ("br;q=0, gzip", Some("gzip")),
        ("gzip;q=0", None),
        ("gzip;q=0.5, br;q=0.8", Some("br")),
        ("gzip;q=1, br;q=0.5", Some("gzip")),
        ("*", Some("br")),
        ("identity", None),
        ("GZIP", Some("gzip")),
        ("deflate", None),
    ];
    for (accept, want) in cases {
        let r = get(d.addr(), "/a.txt", &[("Accept-Encoding", accept)]);
        let (coding, bytes) = match want {
            Some("gzip") => ("gzip", A_GZ),
            Some(_) => ("br", A_BR),
            None => {
                assert_eq!(r.status, 200, "Accept-Encoding: {accept}");
                assert!(
                    r.header("content-encoding").is_none(),
                    "Accept-Encoding: {accept}: {}",
                    r.head
                );
                assert_eq!(r.body, A_TXT, "Accept-Encoding: {accept}");
                assert!(varies_on_accept_encoding(&r), "Accept-Encoding: {accept}");
                continue;
            }
        };
        assert_eq!(
            r.header("content-encoding"),
            Some(coding),
            "Accept-Encoding: {accept}"
        );
        assert_eq!(r.body, bytes, "Accept-Encoding: {accept}");
        assert!(varies_on_accept_encoding(&r), "Accept-Encoding: {accept}");
    }
}

#[test]
fn no_accept_encoding_gets_identity_with_vary() {
    let d = variants();
    let r = get(d.addr(), "/a.txt", &[]);
    assert_identity(&r, A_TXT);
    assert!(varies_on_accept_encoding(&r), "{}", r.head);
    strong_etag(&r);
}

#[test]
fn file_without_variants_has_no_vary() {
    let d = variants();
    for accept in [None, Some("gzip, br")] {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let r = get(d.addr(), "/plain.txt", &headers);
        assert_identity(&r, PLAIN);
        assert!(r.header("vary").is_none(), "{}", r.head);
    }
}

#[test]
fn unacceptable_variant_falls_back_to_identity_with_vary() {
    let d = variants();
    let r = get(d.addr(), "/only-gz.txt", &[("Accept-Encoding", "br")]);
    assert_identity(&r, ONLY_GZ);
    assert!(varies_on_accept_encoding(&r), "{}", r.head);
    // The .gz beside it is there for a gzip client.
    let r = get(d.addr(), "/only-gz.txt", &[("Accept-Encoding", "gzip, br")]);
    assert_encoded(&r, "gzip", ONLY_GZ_GZ);
}

#[test]
fn variant_older_than_the_original_is_not_served() {
    let d = variants();
    let r = get(d.addr(), "/stale.txt", &[("Accept-Encoding", "gzip")]);
    assert_identity(&r, STALE);
    assert!(r.header("vary").is_none(), "{}", r.head);
}

#[test]
fn precompressed_off_serves_identity_without_vary() {
    let d = variants_with(|f| f.precompressed(false));
    for accept in ["gzip", "br", "gzip, br", "*"] {
        let r = get(d.addr(), "/a.txt", &[("Accept-Encoding", accept)]);
        assert_identity(&r, A_TXT);
        assert!(r.header("vary").is_none(), "{accept}: {}", r.head);
    }
}

#[test]
fn range_over_a_gzip_variant_covers_the_compressed_bytes() {
    let d = variants();
    let r = get(
        d.addr(),
        "/a.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-1")],
    );
    assert_single_range(&r, A_GZ, 0, 1);
    assert_eq!(r.body, b"GZ");
    assert_eq!(r.header("content-range"), Some("bytes 0-1/8"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(varies_on_accept_encoding(&r), "{}", r.head);
}

#[test]
fn if_none_match_with_the_gzip_etag_is_304_with_vary() {
    let d = variants();
    let gz = get(d.addr(), "/a.txt", &[("Accept-Encoding", "gzip")]);
    let etag = strong_etag(&gz);
    let r = get(
        d.addr(),
        "/a.txt",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304, "{}", r.head);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(varies_on_accept_encoding(&r), "{}", r.head);
    // The identity representation has another tag: no match there.
    let r = get(d.addr(), "/a.txt", &[("If-None-Match", &etag)]);
    assert_identity(&r, A_TXT);
    // Its own tag gives a 304 with Vary too.
    let identity_tag = strong_etag(&r);
    let r = get(d.addr(), "/a.txt", &[("If-None-Match", &identity_tag)]);
    assert_eq!(r.status, 304);
    assert!(varies_on_accept_encoding(&r), "{}", r.head);
}

#[test]
fn variant_requested_by_name_is_a_plain_file() {
    let d = variants();
    let r = get(d.addr(), "/a.txt.gz", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, A_GZ);
    assert!(r.header("content-encoding").is_none(), "{}", r.head);
}

// ---------------------------------------------------------------------------
// Cache-Control
// ---------------------------------------------------------------------------

#[test]
fn cache_control_is_sent_on_200_206_and_304() {
    let want = Some("public, max-age=3600");
    let d = docs_with(|f| f.cache_control(HeaderValue::from_static("public, max-age=3600")));
    let r = get(d.addr(), "/hundred.bin", &[]);
    assert_eq!((r.status, r.header("cache-control")), (200, want));
    let etag = strong_etag(&r);
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-4")]);
    assert_eq!((r.status, r.header("cache-control")), (206, want));
    let r = get(d.addr(), "/hundred.bin", &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.header("cache-control")), (304, want));
    let r = head(d.addr(), "/hundred.bin", &[]);
    assert_eq!((r.status, r.header("cache-control")), (200, want));
}

#[test]
fn cache_control_on_a_304_with_a_variant_keeps_vary() {
    let d = variants_with(|f| f.cache_control(HeaderValue::from_static("public, max-age=3600")));
    let gz = get(d.addr(), "/a.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("cache-control"), Some("public, max-age=3600"));
    let r = get(
        d.addr(),
        "/a.txt",
        &[
            ("Accept-Encoding", "gzip"),
            ("If-None-Match", &strong_etag(&gz)),
        ],
    );
    assert_eq!(r.status, 304);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    assert!(varies_on_accept_encoding(&r), "{}", r.head);
}

#[test]
fn no_cache_control_by_default() {
    let d = docs();
    let r = get(d.addr(), "/hundred.bin", &[]);
    assert!(r.header("cache-control").is_none(), "{}", r.head);
    let r = get(d.addr(), "/hundred.bin", &[("Range", "bytes=0-4")]);
    assert!(r.header("cache-control").is_none(), "{}", r.head);
}

// ---------------------------------------------------------------------------
// curl as an independent client
// ---------------------------------------------------------------------------

/// Runs curl (ignoring ~/.curlrc and any proxy settings), or `None` when
/// it is not installed.
fn curl(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("curl")
        .arg("-q")
        .args(["--noproxy", "*", "--max-time", "20", "-s"])
        .args(args)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: curl not found");
            None
        }
        Err(e) => panic!("running curl: {e}"),
    }
}

#[test]
fn curl_range_download_gets_the_bytes() {
    let d = docs();
    let url = format!("http://{}/hundred.bin", d.addr());
    let Some(out) = curl(&["-r", "0-4", &url]) else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, [0, 1, 2, 3, 4]);
}

#[test]
fn curl_compressed_decodes_a_real_gzip_variant() {
    let dir = tempfile::tempdir().unwrap();
    let text = "curl decodes this text from its gzip variant.\n".repeat(40);
    let original = dir.path().join("c.txt");
    write_at(
        &original,
        text.as_bytes(),
        SystemTime::now() - Duration::from_secs(3600),
    );
    let gzipped = match Command::new("gzip").arg("-c").arg(&original).output() {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => panic!("gzip failed: {out:?}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: gzip not found");
            return;
        }
        Err(e) => panic!("running gzip: {e}"),
    };
    assert!(gzipped.len() < text.len());
    std::fs::write(dir.path().join("c.txt.gz"), &gzipped).unwrap();
    let srv = TestServer::start(StaticFiles::new(dir.path()).unwrap(), quick_config());
    let url = format!("http://{}/c.txt", srv.addr);

    // -D - puts the response head on stdout before the decoded body.
    let Some(out) = curl(&["--compressed", "-D", "-", &url]) else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let at = find(&out.stdout, b"\r\n\r\n", 0).expect("no head from curl");
    let head = String::from_utf8_lossy(&out.stdout[..at]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", gzipped.len())),
        "{head}"
    );
    assert!(
        out.stdout[at + 4..] == *text.as_bytes(),
        "curl printed {:?}",
        String::from_utf8_lossy(&out.stdout[at + 4..])
    );
}

#[test]
fn curl_time_condition_gets_304() {
    let d = docs();
    let url = format!("http://{}/doc.txt", d.addr());
    let code = |since: &str| {
        curl(&["-o", "/dev/null", "-w", "%{http_code}", "-z", since, &url]).map(|out| {
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        })
    };
    let Some(later) = code("Wed, 01 Jan 2031 00:00:00 GMT") else {
        return;
    };
    assert_eq!(later, "304");
    assert_eq!(code("Sun, 06 Nov 1994 08:49:37 GMT").unwrap(), "200");
}

#[test]
fn several_ranges_of_an_encoded_variant_send_it_whole() {
    // A multipart body under Content-Encoding would be gunzipped whole by
    // clients that decode automatically.
    let d = variants();
    let r = get(
        d.addr(),
        "/a.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-1,4-5")],
    );
    assert_full(&r, A_GZ);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
}

#[test]
fn a_modification_time_in_the_future_is_sent_as_now() {
    let d = docs();
    let tomorrow = SystemTime::now() + Duration::from_secs(86_400);
    write_at(&d.path("future.txt"), b"from the future\n", tomorrow);
    let before = SystemTime::now() - Duration::from_secs(1);
    let r = get(d.addr(), "/future.txt", &[]);
    assert_eq!(r.status, 200);
    let sent = httpdate::parse_http_date(&last_modified(&r)).unwrap();
    assert!(
        sent >= before && sent <= SystemTime::now(),
        "{}",
        last_modified(&r)
    );
}

#[test]
fn a_large_file_kept_open_is_served_whole_and_consistent_when_replaced() {
    // Large files are kept open for the cache's time to live: a file
    // replaced by rename meanwhile is served whole from the old one (its
    // bytes and its ETag agree), and the new one once the entry expires.
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..150_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &old).unwrap();
    // Long enough that the replacement lands within it on a loaded machine.
    let ttl = Duration::from_secs(2);
    let files = StaticFiles::new(dir.path()).unwrap().cache_ttl(ttl);
    let srv = TestServer::start(files, quick_config());
    let first = get(srv.addr, "/big.bin", &[]);
    assert!(first.body == old);
    let staged = dir.path().join("big.bin.new");
    std::fs::write(&staged, &new).unwrap();
    std::fs::rename(&staged, dir.path().join("big.bin")).unwrap();
    let during = get(srv.addr, "/big.bin", &[]);
    assert!(during.body == old, "not the whole old file");
    assert_eq!(strong_etag(&during), strong_etag(&first));
    std::thread::sleep(ttl + Duration::from_millis(100));
    let after = get(srv.addr, "/big.bin", &[]);
    assert!(after.body == new, "not the whole new file");
    assert_ne!(strong_etag(&after), strong_etag(&first));
    // A range of it agrees with the tag it is sent under.
    let etag = strong_etag(&after);
    let r = get(
        srv.addr,
        "/big.bin",
        &[("Range", "bytes=149990-"), ("If-Range", &etag)],
    );
    assert_eq!(r.body, &new[149_990..]);
}

#[test]
fn a_missing_variant_is_looked_for_once_per_time_to_live() {
    // The cache keeps a large file's absent variants as it keeps the file:
    // a `.gz` that appears meanwhile is not looked for, so not served, until
    // the entry expires; then it is.
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let gz: Vec<u8> = (0..40_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &body).unwrap();
    let ttl = Duration::from_secs(2);
    let files = StaticFiles::new(dir.path()).unwrap().cache_ttl(ttl);
    let srv = TestServer::start(files, quick_config());
    let gzip = [("Accept-Encoding", "gzip")];
    let first = get(srv.addr, "/big.bin", &gzip);
    assert!(first.body == body && first.header("content-encoding").is_none());
    std::fs::write(dir.path().join("big.bin.gz"), &gz).unwrap();
    let during = get(srv.addr, "/big.bin", &gzip);
    assert!(
        during.body == body && during.header("content-encoding").is_none(),
        "the variant was looked for again within the time to live: {}",
        during.head
    );
    std::thread::sleep(ttl + Duration::from_millis(100));
    let after = get(srv.addr, "/big.bin", &gzip);
    assert_eq!(
        after.header("content-encoding"),
        Some("gzip"),
        "{}",
        after.head
    );
    assert!(after.body == gz);
}

#[test]
fn a_large_file_written_over_in_place_is_never_sent_under_its_old_tag() {
    // Written over in place (same inode, same size: `cp`, `rsync --inplace`),
    // a file kept open would send its new bytes under the old tag for the
    // cache's whole time to live.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let old: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &old).unwrap();
    let files = StaticFiles::new(dir.path())
        .unwrap()
        .cache_ttl(Duration::from_secs(30));
    let srv = TestServer::start(files, quick_config());
    let first = get(srv.addr, "/big.bin", &[]);
    assert!(first.body == old);
    std::fs::write(&path, &new).unwrap();
    // A clock's tick may not separate the two writes; the times must differ.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let after = get(srv.addr, "/big.bin", &[]);
    assert!(after.body == new, "not the new bytes");
    assert_ne!(
        strong_etag(&after),
        strong_etag(&first),
        "new bytes, old tag"
    );
    // The old tag no longer selects a range of the new bytes.
    let old_tag = strong_etag(&first);
    let r = get(
        srv.addr,
        "/big.bin",
        &[("Range", "bytes=0-9"), ("If-Range", &old_tag)],
    );
    assert_eq!(r.status, 200);
    assert!(r.body == new);
}
