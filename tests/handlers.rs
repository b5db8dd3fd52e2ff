//! Custom handlers that do real work: handlers that block run on the worker
//! pool beside the event loops, quick ones on the loops; the pool is
//! bounded; routes by method and path.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, changed, config, connect, exchange, get, read_response};
use otuserver_core::{
    Bytes, Cors, Handler, Inline, PathParams, Request, Response, Router, StaticFiles, WithHeaders,
    response,
};

/// `/slow` sleeps 200 ms (on the pool); `/fast` answers at once (inline);
/// `/static/` serves files (inline).
fn app(root: &std::path::Path) -> Router {
    Router::new()
        .route("/slow", |_req: Request| -> Response {
            std::thread::sleep(Duration::from_millis(200));
            response::text("slow\n")
        })
        // Quick, so marked as not blocking: it never queues behind /slow.
        .route(
            "/fast",
            Inline(|_req: Request| -> Response { response::text("fast\n") }),
        )
        .mount("/static", StaticFiles::new(root).unwrap())
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "static\n").unwrap();
    dir
}

#[test]
fn blocking_handlers_share_the_pool_and_leave_the_loops_free() {
    // Two event loops, a pool of 5: 20 clients asking /slow at once take
    // four rounds of 200 ms. On the loops alone they would take ten.
    let dir = site();
    let cfg = changed(&config(2, Duration::from_secs(10)), |c| c.pool_threads(5));
    let srv = TestServer::start(app(dir.path()), cfg);
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || get(addr, "/slow").status)
        })
        .collect();
    // Meanwhile, a static file and a quick handler answer at once: both
    // run on the loops (the file through the router's mount, inline).
    std::thread::sleep(Duration::from_millis(100));
    let mut worst = Duration::ZERO;
    for path in ["/static/a.txt", "/fast", "/static/a.txt", "/fast"] {
        let asked = Instant::now();
        let r = get(srv.addr, path);
        worst = worst.max(asked.elapsed());
        assert_eq!(r.status, 200, "{path}");
    }
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(780),
        "{took:?}: more than 5 at once"
    );
    assert!(
        took < Duration::from_millis(1600),
        "{took:?}: not 5 at once"
    );
    assert!(
        worst < Duration::from_millis(100),
        "a quick request waited {worst:?}"
    );
}

#[test]
fn inline_handlers_run_on_the_loop() {
    // With one loop and an inline handler that sleeps, a second request
    // waits for the first: proof that no pool was involved.
    let slow = Inline(|_req: Request| -> Response {
        std::thread::sleep(Duration::from_millis(300));
        response::text("inline\n")
    });
    let srv = TestServer::start(slow, config(1, Duration::from_secs(10)));
    let addr = srv.addr;
    let first = std::thread::spawn(move || get(addr, "/").status);
    std::thread::sleep(Duration::from_millis(50));
    let asked = Instant::now();
    assert_eq!(get(srv.addr, "/").status, 200);
    assert!(
        asked.elapsed() >= Duration::from_millis(200),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(first.join().unwrap(), 200);
}

#[test]
fn a_full_queue_is_503_with_retry_after() {
    // One pool thread, a queue of one: a third request at once is refused.
    let entered = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&entered);
    let handler = move |_req: Request| -> Response {
        seen.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(400));
        response::text("done\n")
    };
    let cfg = changed(&config(1, Duration::from_secs(10)), |c| {
        c.pool_threads(1).pool_queue(1)
    });
    let srv = TestServer::start(handler, cfg);
    let addr = srv.addr;
    let running = std::thread::spawn(move || get(addr, "/1").status);
    while entered.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let queued = std::thread::spawn(move || get(addr, "/2").status);
    std::thread::sleep(Duration::from_millis(100));
    let refused = get(srv.addr, "/3");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(running.join().unwrap(), 200);
    assert_eq!(queued.join().unwrap(), 200);
    // And once there is room, it is served.
    assert_eq!(get(srv.addr, "/4").status, 200);
}

#[test]
fn a_panicking_pool_handler_costs_only_its_request() {
    let handler = |req: Request| -> Response {
        if req.uri().path() == "/boom" {
            panic!("boom");
        }
        response::text("fine\n")
    };
    let srv = TestServer::start(handler, config(1, Duration::from_secs(5)));
    let mut s = connect(srv.addr);
    s.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).status, 500);
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.text().as_str()), (200, "fine\n"));
}

#[test]
fn pipelined_requests_to_the_pool_are_answered_in_order() {
    let handler = |req: Request| -> Response {
        // Later requests finish first if run at once; order must hold.
        let n: u64 = req.uri().path()[1..].parse().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(50 * (4 - n)));
        response::text(format!("{n}\n"))
    };
    let srv = TestServer::start(handler, config(1, Duration::from_secs(5)));
    let mut s = connect(srv.addr);
    let mut batch = Vec::new();
    for n in 1..=3 {
        write!(batch, "GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    s.write_all(&batch).unwrap();
    for n in 1..=3 {
        assert_eq!(read_response(&mut s, false).text(), format!("{n}\n"));
    }
}

fn notes() -> Router {
    let body_len = |req: Request| -> Response { response::text(format!("{}\n", req.body().len())) };
    Router::new()
        .get("/notes", |_req: Request| -> Response {
            response::json("[]")
        })
        .post("/notes", body_len)
        .get("/notes/{id}", |req: Request| -> Response {
            let id = req
                .extensions()
                .get::<PathParams>()
                .and_then(|p| p.get("id"));
            response::text(format!("note {}\n", id.unwrap_or("?")))
        })
        .delete("/notes/{id}", |_req: Request| -> Response {
            response::text("gone\n")
        })
        .get("/notes/new", |_req: Request| -> Response {
            response::text("form\n")
        })
}

#[test]
fn routes_by_method_with_405_and_options() {
    let srv = TestServer::start(notes(), config(1, Duration::from_secs(5)));
    let ask = |method: &str, target: &str| {
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        exchange(srv.addr, req.as_bytes())
    };
    assert_eq!(ask("GET", "/notes").text(), "[]");
    assert_eq!(ask("POST", "/notes").text(), "0\n");
    let r = ask("PUT", "/notes");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, HEAD, OPTIONS"));
    let r = ask("OPTIONS", "/notes");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, POST, HEAD, OPTIONS"));
    let r = ask("HEAD", "/notes");
    assert_eq!((r.status, r.header("content-length")), (200, Some("2")));

    assert_eq!(ask("GET", "/notes/7").text(), "note 7\n");
    assert_eq!(ask("GET", "/notes/caf%C3%A9").text(), "note café\n");
    assert_eq!(ask("DELETE", "/notes/7").text(), "gone\n");
    let r = ask("POST", "/notes/7");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, DELETE, HEAD, OPTIONS"));
    // A literal route wins over a parameter in the same place.
    assert_eq!(ask("GET", "/notes/new").text(), "form\n");
    assert_eq!(ask("GET", "/notes/7/extra").status, 404);
}

#[test]
fn a_handler_is_unit_tested_with_a_one_line_request() {
    let app = notes();
    let req = otuserver_core::http::Request::builder()
        .method("POST")
        .uri("/notes")
        .body(Bytes::from_static(b"{\"text\":\"hi\"}"))
        .unwrap();
    let resp = app.handle(req);
    assert_eq!(resp.status(), 200);
    match resp.into_body() {
        otuserver_core::Body::Bytes(b) => assert_eq!(&b[..], b"13\n"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_router_says_per_request_what_its_handler_needs() {
    let dir = site();
    let app = app(dir.path());
    let needs = |path: &str| {
        let req = otuserver_core::http::Request::builder()
            .uri(path)
            .body(Bytes::new())
            .unwrap();
        app.needs(&req)
    };
    // The static mount runs on the loop and reads no body; a closure may
    // block; the router's own 404 needs nothing.
    assert!(!needs("/static/a.txt").blocking);
    assert!(!needs("/static/a.txt").body);
    assert!(needs("/slow").blocking);
    assert!(needs("/slow").body);
    assert!(!needs("/nowhere").blocking);
    // Only the closure is given the client's address.
    assert!(!needs("/static/a.txt").client_addr);
    assert!(needs("/slow").client_addr);
    assert!(!needs("/nowhere").client_addr);
}

/// CPU time this process has used.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[test]
fn a_client_that_resets_while_its_handler_runs_costs_no_cpu() {
    // While a request is with the pool the loop does not watch its socket
    // for reading; a reset must not make it report the socket on every
    // turn (a loop spinning for as long as the handler runs).
    let handler = |_req: Request| -> Response {
        std::thread::sleep(Duration::from_millis(800));
        response::text("late\n")
    };
    let srv = TestServer::start(handler, config(1, Duration::from_secs(5)));
    for _ in 0..4 {
        let s = connect(srv.addr);
        (&s).write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let s = socket2::Socket::from(s);
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s); // RST
    }
    std::thread::sleep(Duration::from_millis(100));
    let (cpu, wall) = (cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_time() - cpu;
    assert!(
        used < Duration::from_millis(150),
        "{used:?} of CPU in {:?}",
        wall.elapsed()
    );
    assert_eq!(get(srv.addr, "/").status, 200);
}

fn ask_with(addr: std::net::SocketAddr, method: &str, path: &str, headers: &str) -> common::Resp {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    exchange(addr, req.as_bytes())
}

#[test]
fn fixed_headers_reach_every_response_of_the_handler_they_wrap() {
    let dir = site();
    let mut headers = otuserver_core::http::HeaderMap::new();
    headers.insert("x-frame-options", "DENY".parse().unwrap());
    headers.insert("cache-control", "no-store".parse().unwrap());
    let files = StaticFiles::new(dir.path()).unwrap();
    let srv = TestServer::start(
        WithHeaders::new(files, headers),
        config(1, Duration::from_secs(5)),
    );
    for path in ["/a.txt", "/missing"] {
        let r = get(srv.addr, path);
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    }
}

#[test]
fn a_fixed_header_given_twice_keeps_both_values_and_replaces_the_handlers() {
    // `--header "Link: <a>" --header "Link: <b>"` means two fields.
    let mut headers = otuserver_core::http::HeaderMap::new();
    headers.append("link", "</a.css>; rel=preload".parse().unwrap());
    headers.append("link", "</b.js>; rel=preload".parse().unwrap());
    let inner = |_req: Request| -> Response {
        let mut resp = response::text("hi");
        resp.headers_mut()
            .insert("link", "</old>; rel=preload".parse().unwrap());
        resp
    };
    let resp = WithHeaders::new(inner, headers).handle(Request::default());
    let links: Vec<_> = resp.headers().get_all("link").iter().collect();
    assert_eq!(links, ["</a.css>; rel=preload", "</b.js>; rel=preload"]);
}

#[test]
fn cors_answers_preflights_and_marks_cross_origin_responses() {
    let dir = site();
    let any = TestServer::start(
        Cors::any(StaticFiles::new(dir.path()).unwrap()),
        config(1, Duration::from_secs(5)),
    );
    let r = ask_with(any.addr, "GET", "/a.txt", "Origin: https://a.example\r\n");
    assert_eq!(
        (r.status, r.header("access-control-allow-origin")),
        (200, Some("*"))
    );
    assert!(
        r.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("ETag"))
    );
    // Not a CORS request: untouched.
    let r = ask_with(any.addr, "GET", "/a.txt", "");
    assert_eq!(r.header("access-control-allow-origin"), None);
    let preflight = "Origin: https://a.example\r\nAccess-Control-Request-Method: GET\r\n\
                     Access-Control-Request-Headers: range\r\n";
    let r = ask_with(any.addr, "OPTIONS", "/a.txt", preflight);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(r.header("access-control-allow-headers"), Some("range"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    // OPTIONS that is no preflight is the handler's (static files: 405).
    assert_eq!(ask_with(any.addr, "OPTIONS", "/a.txt", "").status, 405);

    let list = Cors::allow(
        StaticFiles::new(dir.path()).unwrap(),
        ["https://a.example", "https://b.example"],
    )
    .unwrap();
    let srv = TestServer::start(list, config(1, Duration::from_secs(5)));
    let r = ask_with(srv.addr, "GET", "/a.txt", "Origin: https://b.example\r\n");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://b.example")
    );
    assert!(
        r.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("vary") && v == "Origin")
    );
    let r = ask_with(
        srv.addr,
        "GET",
        "/a.txt",
        "Origin: https://evil.example\r\n",
    );
    assert_eq!(
        (r.status, r.header("access-control-allow-origin")),
        (200, None)
    );
    assert!(
        r.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("vary") && v == "Origin")
    );
    let evil = "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n";
    assert_eq!(ask_with(srv.addr, "OPTIONS", "/a.txt", evil).status, 405);
}
