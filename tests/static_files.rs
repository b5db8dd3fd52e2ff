//! The static-files handler, over real sockets against a real server.

mod common;

use std::io::Write;

use common::{CANARY, Site, TestServer, big_bytes, exchange, get, site};
use otuserver_core::http;
use otuserver_core::{Bytes, Handler, StaticFiles};

fn serve() -> (Site, TestServer) {
    let site = site();
    let server = TestServer::static_files(&site.root());
    (site, server)
}

#[test]
fn classic_checks() {
    let (_site, srv) = serve();
    let a = srv.addr;

    let r = get(a, "/dir2/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<html><body>dir2 index</body></html>\n");
    assert_eq!(r.header("content-length"), Some("37"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.header("server").unwrap().starts_with("otuserver/"));
    assert!(r.header("date").is_some());
    assert!(httpdate::parse_http_date(r.header("last-modified").unwrap()).is_ok());

    assert_eq!(get(a, "/a/b/c/deep.txt").body, b"three folders deep\n");
    assert_eq!(get(a, "/page.html/").status, 404);
    assert_eq!(get(a, "/nope.html").status, 404);
    assert_eq!(get(a, "/nope/").status, 404);
    assert_eq!(get(a, "/page.html/x").status, 404);
    let r = get(a, "/page.html?arg1=value&arg2=value");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>page</p>\n"[..]));
    assert_eq!(get(a, "/space%20in%20name.txt").body, b"spaces\n");
    assert_eq!(
        get(a, "/%70%61%67%65%2e%68%74%6d%6c").body,
        b"<p>page</p>\n"
    );
    assert_eq!(get(a, "/text..txt").body, b"two dots\n");
    assert_eq!(get(a, "/%252e").body, b"literal percent-2e");
    assert_eq!(get(a, "/").body, b"<h1>root index</h1>\n");
}

#[test]
fn directory_without_index() {
    let site = site();
    let files = StaticFiles::new(site.root()).unwrap();
    let srv = TestServer::start(files, common::quick_config());
    assert_eq!(get(srv.addr, "/list/").status, 404);
    // noindex/index.html is a symlink out of the root: refused, not listed.
    assert_eq!(get(srv.addr, "/noindex/").status, 403);
}

#[test]
fn directory_redirects_to_the_slash_form_keeping_the_query() {
    let (_site, srv) = serve();
    let r = get(srv.addr, "/dir2?x=1&y=%20");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/dir2/?x=1&y=%20"));
    assert!(r.text().contains("301 Moved Permanently"));
    // Never a protocol-relative redirect to another host.
    let r = get(srv.addr, "//dir2");
    assert_eq!(r.header("location"), Some("/dir2/"));
    let r = get(srv.addr, "/a/b/../b");
    assert_eq!(r.header("location"), Some("/a/b/"));
}

#[test]
fn large_file_is_byte_exact() {
    let (_site, srv) = serve();
    let r = get(srv.addr, "/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(big_bytes().len().to_string().as_str())
    );
    assert!(r.body == big_bytes(), "body differs");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
}

#[test]
fn head_over_http10_on_a_raw_socket() {
    let (_site, srv) = serve();
    let raw = common::raw(srv.addr, b"HEAD /page.html HTTP/1.0\r\n\r\n");
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 12\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "HEAD sent a body: {text}");
    let get = common::raw(srv.addr, b"GET /page.html HTTP/1.0\r\n\r\n");
    let get = String::from_utf8(get).unwrap();
    let strip_date = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Date:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (get_head, _) = get.split_once("\r\n\r\n").unwrap();
    assert_eq!(strip_date(get_head), strip_date(text.trim_end()));
}

#[test]
fn content_types() {
    let (_site, srv) = serve();
    let cases = [
        // HTML, CSS and JavaScript exactly as the classic suite expects;
        // other text as UTF-8, so that browsers do not show mojibake.
        ("x.html", &["text/html"][..]),
        ("x.txt", &["text/plain; charset=utf-8"]),
        ("x.md", &["text/markdown; charset=utf-8"]),
        ("x.csv", &["text/csv; charset=utf-8"]),
        ("x.css", &["text/css"]),
        (
            "x.js",
            &[
                "text/javascript",
                "application/javascript",
                "application/x-javascript",
            ],
        ),
        ("x.jpg", &["image/jpeg"]),
        ("x.jpeg", &["image/jpeg"]),
        ("x.png", &["image/png"]),
        ("x.gif", &["image/gif"]),
        ("x.swf", &["application/x-shockwave-flash"]),
        ("x.unknownext", &["application/octet-stream"]),
    ];
    for (name, want) in cases {
        let r = get(srv.addr, &format!("/types/{name}"));
        assert_eq!(r.status, 200, "{name}");
        let ct = r.header("content-type").unwrap();
        assert!(want.contains(&ct), "{name}: {ct}");
    }
}

#[test]
fn methods_other_than_get_and_head_are_405() {
    let (_site, srv) = serve();
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "BREW"] {
        let r = exchange(
            srv.addr,
            format!("{method} /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
        assert!(r.text().contains("405 Method Not Allowed"));
    }
}

#[test]
fn bad_encodings_are_400() {
    let (_site, srv) = serve();
    for target in ["/page%00.html", "/%ff", "/%c0%ae%c0%ae/secret.txt", "/a%00"] {
        let r = get(srv.addr, target);
        assert_eq!(r.status, 400, "{target}");
        assert!(r.text().contains("400 Bad Request"));
    }
}

#[test]
fn traversal_never_reaches_the_canary() {
    let (_site, srv) = serve();
    let attempts = [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%uff0e%uff0e/secret.txt",
        "/dir2/../../secret.txt",
        "/dir2/%2e%2e/%2e%2e/secret.txt",
        "/./../secret.txt",
        "/..;/secret.txt",
        "/../secret.txt;.html",
        "/escape.txt",
        "/escape-dir/",
        "/escape-dir/index.html",
        "/noindex/index.html",
        "/noindex/",
        "http://localhost/../secret.txt",
        "/../secret-dir/",
    ];
    for target in attempts {
        let r = get(srv.addr, target);
        assert!(
            [400, 403, 404].contains(&r.status),
            "{target}: status {}",
            r.status
        );
        assert!(!r.text().contains(CANARY), "{target} leaked the canary");
    }
    // A raw request line, not normalized by any client.
    let r = exchange(srv.addr, b"GET /../secret.txt HTTP/1.0\r\n\r\n");
    assert!(!r.text().contains(CANARY));
    // Symlinks that stay inside the root are fine.
    assert_eq!(get(srv.addr, "/inside-link.html").body, b"<p>page</p>\n");
    assert_eq!(get(srv.addr, "/escape.txt").status, 403);
}

#[test]
fn unreadable_file_is_403() {
    use std::os::unix::fs::PermissionsExt;
    let (site, srv) = serve();
    let path = site.root().join("locked.txt");
    std::fs::write(&path, "locked").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything: then only the mapping (EACCES -> 403, in the
    // unit tests of error.rs) is checked, and this says so.
    if std::fs::File::open(&path).is_err() {
        assert_eq!(get(srv.addr, "/locked.txt").status, 403);
    } else {
        eprintln!("skipped: running as root, permissions do not lock the file");
    }
}

#[test]
fn fifo_is_refused_without_hanging() {
    let (site, srv) = serve();
    let path = site.root().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if made.is_ok_and(|s| s.success()) {
        assert_eq!(get(srv.addr, "/pipe").status, 403);
        common::assert_alive(srv.addr);
    }
}

#[test]
fn generated_listing() {
    let (_site, srv) = serve();
    let r = get(srv.addr, "/list/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<a href=\"../\">"), "parent link");
    assert!(
        page.contains(">&lt;img src=x onerror=alert(1)&gt;.txt</a>"),
        "{page}"
    );
    assert!(!page.contains("<img"), "unescaped name");
    assert!(
        page.contains("href=\"./%3Cimg%20src=x%20onerror=alert(1)%3E.txt\""),
        "{page}"
    );
    assert!(page.contains("href=\"./q%3F%23.txt\""), "{page}");
    // Directories first, then files, each sorted by name.
    let order: Vec<usize> = ["adir/", "zdir/", "%3Cimg", "a.txt", "b.txt", "q%3F"]
        .iter()
        .map(|n| {
            page.find(&format!("href=\"./{n}"))
                .unwrap_or_else(|| panic!("{n} missing"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(page.contains(" B</td>"), "sizes shown");
    assert!(page.contains("</time></td>"), "times shown");
    // The links work.
    assert_eq!(get(srv.addr, "/list/q%3F%23.txt").body, b"q");
    assert_eq!(
        get(srv.addr, "/list/%3Cimg%20src=x%20onerror=alert(1)%3E.txt").body,
        b"xss"
    );
    // The root listing has no parent link.
    let srv2 = TestServer::static_files(&_site.root().join("list"));
    assert!(!get(srv2.addr, "/").text().contains("href=\"../\""));
}

#[test]
fn handler_works_without_sockets() {
    let site = site();
    let files = StaticFiles::new(site.root()).unwrap();
    let req = http::Request::builder()
        .uri("/page.html")
        .body(Bytes::new())
        .unwrap();
    let resp = files.handle(req);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().len(), Some(12));
    let req = http::Request::builder()
        .method("DELETE")
        .uri("/page.html")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(files.handle(req).status(), 405);
}

#[test]
fn bad_document_roots_are_errors() {
    let site = site();
    let missing = StaticFiles::new(site.dir.path().join("missing")).unwrap_err();
    assert!(missing.to_string().contains("missing"), "{missing}");
    let file = StaticFiles::new(site.root().join("page.html")).unwrap_err();
    assert!(file.to_string().contains("not a directory"), "{file}");
}

#[test]
fn names_with_odd_bytes_are_served() {
    let (site, srv) = serve();
    let mut f = std::fs::File::create(site.root().join("caf\u{e9} #1.txt")).unwrap();
    f.write_all(b"coffee").unwrap();
    assert_eq!(get(srv.addr, "/caf%C3%A9%20%231.txt").body, b"coffee");
}

#[test]
fn listing_links_cannot_become_scripts_or_entities() {
    let (site, srv) = serve();
    let dir = site.root().join("odd");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("javascript:alert(document.domain)"), "js").unwrap();
    std::fs::write(dir.join("a&amp;b"), "amp").unwrap();
    let page = get(srv.addr, "/odd/").text();
    assert!(
        page.contains("href=\"./javascript:alert(document.domain)\""),
        "{page}"
    );
    assert!(page.contains("href=\"./a&amp;amp;b\""), "{page}");
    assert!(page.contains(">a&amp;amp;b</a>"), "{page}");
    // Both links lead to their files.
    assert_eq!(
        get(srv.addr, "/odd/javascript:alert(document.domain)").body,
        b"js"
    );
    assert_eq!(get(srv.addr, "/odd/a&amp;b").body, b"amp");
}

#[test]
fn listings_show_nothing_of_what_lies_outside() {
    let (site, srv) = serve();
    // list/ gains a symlink out of the root; the root's own escape links
    // are there already.
    std::os::unix::fs::symlink(
        site.dir.path().join("secret.txt"),
        site.root().join("list/out"),
    )
    .unwrap();
    let page = get(srv.addr, "/list/").text();
    assert!(!page.contains("out"), "{page}");
    let mixed = site.root().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::os::unix::fs::symlink(site.dir.path().join("secret-dir"), mixed.join("escape")).unwrap();
    std::os::unix::fs::symlink(site.root().join("page.html"), mixed.join("inside")).unwrap();
    std::os::unix::fs::symlink("../page.html", mixed.join("relative")).unwrap();
    let page = get(srv.addr, "/mixed/").text();
    assert!(!page.contains("escape"), "{page}");
    assert!(page.contains("href=\"./relative\""), "{page}");
    // An absolute link, even one that stays inside, costs a real-path check
    // to tell: a listing (whose size a client chooses) leaves it out rather
    // than pay that per entry. A request for it is served.
    assert!(!page.contains("inside"), "{page}");
    assert_eq!(get(srv.addr, "/mixed/inside").status, 200);
}

#[test]
fn redirect_keeps_a_raw_utf8_query() {
    let (_site, srv) = serve();
    let r = exchange(
        srv.addr,
        "GET /dir2?q=\u{e9} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".as_bytes(),
    );
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/dir2/?q=%C3%A9"));
}

fn body_of(files: &StaticFiles, path: &str) -> Vec<u8> {
    let resp = files.handle(
        http::Request::builder()
            .uri(path)
            .body(Bytes::new())
            .unwrap(),
    );
    let mut out = Vec::new();
    otuserver_core::http1::write_response(
        &mut out,
        resp,
        otuserver_core::http1::WriteOptions::new(false, false),
    )
    .unwrap();
    let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    out[at + 4..].to_vec()
}

#[test]
fn small_files_are_cached_for_the_ttl_only() {
    let site = site();
    let path = site.root().join("changing.txt");
    std::fs::write(&path, "first").unwrap();
    let files = StaticFiles::new(site.root())
        .unwrap()
        .cache_ttl(std::time::Duration::from_millis(300));
    assert_eq!(body_of(&files, "/changing.txt"), b"first");
    std::fs::write(&path, "second").unwrap();
    // Within the TTL the cached copy answers, headers and all...
    assert_eq!(body_of(&files, "/changing.txt"), b"first");
    let resp = files.handle(
        http::Request::builder()
            .uri("/changing.txt")
            .body(Bytes::new())
            .unwrap(),
    );
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(resp.headers().contains_key("last-modified"));
    // ...and after it, the file on disk.
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(body_of(&files, "/changing.txt"), b"second");

    let fresh = StaticFiles::new(site.root())
        .unwrap()
        .cache_ttl(std::time::Duration::ZERO);
    assert_eq!(body_of(&fresh, "/changing.txt"), b"second");
    std::fs::write(&path, "third").unwrap();
    assert_eq!(body_of(&fresh, "/changing.txt"), b"third");
}

#[test]
fn a_clone_with_another_index_file_does_not_share_the_old_cache() {
    let site = site();
    std::fs::write(site.root().join("dir2/home.html"), "home").unwrap();
    let a = StaticFiles::new(site.root()).unwrap();
    let b = a.clone().index_file("home.html");
    assert_eq!(
        body_of(&a, "/dir2/"),
        b"<html><body>dir2 index</body></html>\n"
    );
    assert_eq!(body_of(&b, "/dir2/"), b"home");
}

#[test]
fn ranges_of_a_file_stay_file_regions_for_sendfile() {
    let site = site();
    std::fs::write(site.root().join("big.bin"), vec![1u8; 1 << 20]).unwrap();
    let files = StaticFiles::new(site.root()).unwrap();
    let ask = |range: &str| {
        let req = http::Request::builder()
            .uri("/big.bin")
            .header("range", range)
            .body(Bytes::new())
            .unwrap();
        files.handle(req)
    };
    let resp = ask("bytes=1000-200999");
    assert_eq!(resp.status(), 206);
    assert!(
        matches!(
            resp.body(),
            otuserver_core::Body::File {
                offset: 1000,
                len: 200_000,
                ..
            }
        ),
        "{:?}",
        resp.body()
    );
    let resp = ask("bytes=0-99999,500000-599999");
    assert_eq!(resp.status(), 206);
    let otuserver_core::Body::Parts(parts) = resp.body() else {
        panic!("{:?}", resp.body());
    };
    let regions: Vec<(u64, u64)> = parts
        .iter()
        .filter_map(|p| match p {
            otuserver_core::Body::File { offset, len, .. } => Some((*offset, *len)),
            _ => None,
        })
        .collect();
    assert_eq!(regions, [(0, 100_000), (500_000, 100_000)]);
}

#[test]
fn listings_leave_out_names_no_request_could_open() {
    use std::os::unix::ffi::OsStrExt;
    let site = site();
    let dir = site.root().join("odd");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9.txt")),
        "x",
    )
    .unwrap();
    std::fs::write(dir.join("fine.txt"), "y").unwrap();
    let files = StaticFiles::new(site.root()).unwrap().generate_index(true);
    let srv = TestServer::start(files, common::quick_config());
    let page = get(srv.addr, "/odd/").text();
    assert!(page.contains("href=\"./fine.txt\""), "{page}");
    assert!(!page.contains("latin1"), "{page}");
    assert!(page.contains("0 directories, 1 file"), "{page}");
}

#[test]
fn a_unix_socket_in_the_root_is_403_not_a_server_error() {
    let site = site();
    let _listener = std::os::unix::net::UnixListener::bind(site.root().join("app.sock")).unwrap();
    let srv = TestServer::static_files(&site.root());
    assert_eq!(get(srv.addr, "/app.sock").status, 403);
}

#[test]
fn a_huge_directory_lists_its_first_ten_thousand_entries_and_says_so() {
    let site = site();
    let dir = site.root().join("huge");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..10_050 {
        std::fs::File::create(dir.join(format!("f{i}"))).unwrap();
    }
    let files = StaticFiles::new(site.root()).unwrap().generate_index(true);
    let srv = TestServer::start(files, common::quick_config());
    let page = get(srv.addr, "/huge/").text();
    assert_eq!(page.matches("<tr class=\"file\">").count(), 10_000);
    assert!(
        page.contains("10000 files shown; the directory holds more than 10000 entries"),
        "{}",
        &page[page.len() - 300..]
    );
}

#[test]
fn a_listing_of_hostile_symlinks_does_not_stall_its_loop() {
    // 60,000 absolute symlinks out of the root: each entry is examined in
    // one system call, and at most 10,000 of them, so a request on the same
    // event loop waits little however large the directory.
    let site = site();
    let outside = site.dir.path().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    let hostile = site.root().join("hostile");
    std::fs::create_dir(&hostile).unwrap();
    for i in 0..60_000 {
        std::os::unix::fs::symlink(&outside, hostile.join(format!("l{i}"))).unwrap();
    }
    let files = StaticFiles::new(site.root()).unwrap().generate_index(true);
    let srv = TestServer::start(files, common::config(1, std::time::Duration::from_secs(10)));
    let addr = srv.addr;
    let lister = std::thread::spawn(move || {
        (0..3)
            .map(|_| get(addr, "/hostile/").status)
            .collect::<Vec<_>>()
    });
    let mut worst = std::time::Duration::ZERO;
    while !lister.is_finished() {
        let asked = std::time::Instant::now();
        assert_eq!(get(addr, "/page.html").status, 200);
        worst = worst.max(asked.elapsed());
    }
    assert_eq!(lister.join().unwrap(), [200, 200, 200]);
    assert!(
        worst < std::time::Duration::from_millis(100),
        "a request waited {worst:?}"
    );
}

#[test]
fn a_root_replaced_or_removed_is_followed_by_its_path() {
    // A deploy: the tree is moved away and a new one put in its place. The
    // server follows the path within the cache's time to live; a root that
    // is gone is 503, not a 404 for everything, until it is back.
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("site");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.txt"), "old tree\n").unwrap();
    std::fs::write(root.join("only-old.txt"), "x").unwrap();
    let ttl = std::time::Duration::from_millis(200);
    let files = StaticFiles::new(&root)
        .unwrap()
        .cache_ttl(ttl)
        .generate_index(true);
    let srv = TestServer::start(files, common::quick_config());
    assert_eq!(get(srv.addr, "/a.txt").text(), "old tree\n");

    std::fs::rename(&root, base.path().join("site.old")).unwrap();
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.txt"), "new tree\n").unwrap();
    std::thread::sleep(ttl + std::time::Duration::from_millis(100));
    assert_eq!(get(srv.addr, "/a.txt").text(), "new tree\n");
    assert_eq!(get(srv.addr, "/only-old.txt").status, 404);

    std::fs::remove_dir_all(&root).unwrap();
    std::thread::sleep(ttl + std::time::Duration::from_millis(100));
    for path in ["/a.txt", "/", "/missing"] {
        let r = get(srv.addr, path);
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.header("retry-after"), Some("1"), "{path}");
    }

    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.txt"), "back\n").unwrap();
    std::thread::sleep(ttl + std::time::Duration::from_millis(100));
    assert_eq!(get(srv.addr, "/a.txt").text(), "back\n");
}

#[test]
fn two_names_for_one_file_keep_their_own_types() {
    // The cache shares one copy of a file between its names, but not the
    // type each name is served as.
    let site = site();
    std::fs::write(site.root().join("data.txt"), "{}").unwrap();
    std::os::unix::fs::symlink("data.txt", site.root().join("data.json")).unwrap();
    let srv = TestServer::start(
        StaticFiles::new(site.root()).unwrap(),
        common::quick_config(),
    );
    for _ in 0..2 {
        let r = get(srv.addr, "/data.txt");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = get(srv.addr, "/data.json");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

#[test]
fn a_listing_asked_for_as_json_is_json() {
    let (site, srv) = serve();
    std::fs::write(site.root().join("list/.hidden"), "x").unwrap();
    let ask = |accept: &str| {
        exchange(
            srv.addr,
            format!(
                "GET /list/ HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let r = ask("application/json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("vary"), Some("Accept"));
    let listing: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(listing["path"], "/list/");
    assert_eq!(listing["truncated"], false);
    let entries = listing["entries"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    // Directories first, natural order, dotfiles left out, as on the page.
    assert_eq!(
        names,
        [
            "adir",
            "zdir",
            "<img src=x onerror=alert(1)>.txt",
            "a.txt",
            "b.txt",
            "q?#.txt"
        ]
    );
    let q = &entries[5];
    assert_eq!(
        (q["type"].as_str(), q["size"].as_u64()),
        (Some("file"), Some(1))
    );
    assert_eq!(q["href"], "./q%3F%23.txt");
    assert!(
        q["modified"]
            .as_str()
            .is_some_and(|m| m.ends_with('Z') && m.len() == 20)
    );
    assert_eq!(entries[0]["type"], "dir");
    assert_eq!(entries[0]["href"], "./adir/");
    // A browser gets the page, which varies by Accept too.
    let r = ask("text/html,application/xhtml+xml,*/*;q=0.8");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("vary"), Some("Accept"));
}

#[test]
fn a_single_page_app_gets_its_page_for_routes_not_for_assets() {
    let (site, _) = serve();
    std::fs::write(site.root().join("index.html"), "<h1>app</h1>\n").unwrap();
    let files = StaticFiles::new(site.root())
        .unwrap()
        .fallback("index.html");
    let srv = TestServer::start(files, common::quick_config());
    let ask = |method: &str, path: &str, extra: &str| {
        exchange(
            srv.addr,
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    let html = "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n";
    let r = ask("GET", "/app/settings/profile", html);
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>app</h1>\n"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    // Served as the file itself: its validators, conditions and ranges.
    let etag = r.header("etag").unwrap().to_owned();
    let r = ask(
        "GET",
        "/app/other",
        &format!("{html}If-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    let r = ask("GET", "/app/other", &format!("{html}Range: bytes=0-3\r\n"));
    assert_eq!((r.status, r.text().as_str()), (206, "<h1>"));
    // Never for an asset, a dotfile, a client not asking for HTML, or a POST.
    assert_eq!(ask("GET", "/app/main.js", html).status, 404);
    assert_eq!(ask("GET", "/.env", html).status, 404);
    assert_eq!(ask("GET", "/app/route", "Accept: */*\r\n").status, 404);
    assert_eq!(
        ask("GET", "/app/route", "Accept: text/html;q=0\r\n").status,
        404
    );
    assert_eq!(ask("POST", "/app/route", html).status, 405);
    // Existing files are themselves.
    assert_eq!(ask("GET", "/page.html", html).text(), "<p>page</p>\n");
}

#[test]
fn error_pages_keep_the_status_and_the_headers() {
    let (site, _) = serve();
    std::fs::write(site.root().join("404.html"), "<h1>not here</h1>\n").unwrap();
    std::fs::write(site.root().join("405.txt"), "no such method\n").unwrap();
    let files = StaticFiles::new(site.root())
        .unwrap()
        .error_page(otuserver_core::http::StatusCode::NOT_FOUND, "404.html")
        .error_page(
            otuserver_core::http::StatusCode::METHOD_NOT_ALLOWED,
            "/405.txt",
        )
        .error_page(otuserver_core::http::StatusCode::FORBIDDEN, "missing.html");
    let srv = TestServer::start(files, common::quick_config());
    let r = get(srv.addr, "/nowhere");
    assert_eq!((r.status, r.text().as_str()), (404, "<h1>not here</h1>\n"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = exchange(
        srv.addr,
        b"DELETE /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (405, "no such method\n"));
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // A page that cannot be served leaves the built-in one.
    let r = get(srv.addr, "/escape.txt");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("403 Forbidden"), "{}", r.text());
}
