//! The server over real sockets: keep-alive, pipelining, bad input,
//! timeouts, panics, bodies, shutdown.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    Site, TestServer, assert_alive, changed, connect, exchange, quick_config, read_response, site,
};
use otuserver_core::http::StatusCode;
use otuserver_core::{
    ClientAddr, Error, Handler, Needs, Request, Response, Server, ServerConfig,
    ServerConfigBuilder, response,
};

fn serve() -> (Site, TestServer) {
    let site = site();
    let server = TestServer::static_files(&site.root());
    (site, server)
}

fn read_all(s: &mut std::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn two_requests_on_one_keep_alive_connection() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let one = read_response(&mut s, false);
    assert_eq!(one.header("connection"), Some("keep-alive"));
    s.write_all(b"GET /dir2/page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let two = read_response(&mut s, false);
    assert_eq!((one.status, two.status), (200, 200));
    assert_eq!(two.body, b"dir2 page\n");
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(b"GET /page.html HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut s, false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(read_all(&mut s).is_empty(), "connection stayed open");

    let mut s = connect(srv.addr);
    s.write_all(b"GET /page.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut s, false).header("connection"),
        Some("keep-alive")
    );
    s.write_all(b"GET /page.html HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).status, 200);
}

#[test]
fn connection_close_is_honoured() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(read_all(&mut s).is_empty());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(
        b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /dir2/page.html HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /dir2/page.html HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut s, false).body, b"<p>page</p>\n");
    let head = read_response(&mut s, true);
    assert_eq!(head.header("content-length"), Some("10"));
    assert_eq!(read_response(&mut s, false).body, b"dir2 page\n");
    assert_eq!(read_response(&mut s, false).status, 404);
    assert!(read_all(&mut s).is_empty());
}

#[test]
fn bad_requests_get_their_status_and_the_server_keeps_serving() {
    let (_site, srv) = serve();
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "b".repeat(5000)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), 505),
        (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (long_uri.into_bytes(), 414),
        (big_head.into_bytes(), 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), 400),
    ];
    for (request, status) in cases {
        let r = exchange(srv.addr, &request);
        assert_eq!(
            r.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&request[..40.min(request.len())])
        );
        assert_eq!(r.header("connection"), Some("close"));
        assert!(
            r.text().contains(&status.to_string()),
            "error page names the status"
        );
        assert_alive(srv.addr);
    }
}

#[test]
fn bare_newline_does_not_take_the_server_down() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(b"\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = read_all(&mut s);
    assert_alive(srv.addr);
}

#[test]
fn slow_head_gets_408_within_the_timeout() {
    let site = site();
    let files = otuserver_core::StaticFiles::new(site.root()).unwrap();
    let config = changed(&quick_config(), |c| c.timeout(Duration::from_millis(800)));
    let srv = TestServer::start(files, config);
    let mut s = connect(srv.addr);
    let started = Instant::now();
    // Each byte arrives well within the timeout; the whole head does not.
    let mut answer = Vec::new();
    for b in b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n" {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
        s.set_nonblocking(true).unwrap();
        let mut chunk = [0u8; 512];
        if let Ok(n) = s.read(&mut chunk) {
            answer.extend_from_slice(&chunk[..n]);
        }
        s.set_nonblocking(false).unwrap();
        if !answer.is_empty() {
            break;
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    answer.extend(read_all(&mut s));
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_alive(srv.addr);
}

#[test]
fn idle_keep_alive_connection_closes_silently_after_the_timeout() {
    let site = site();
    let files = otuserver_core::StaticFiles::new(site.root()).unwrap();
    let config = changed(&quick_config(), |c| {
        c.keep_alive_timeout(Duration::from_millis(500))
    });
    let srv = TestServer::start(files, config);
    let mut s = connect(srv.addr);
    s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).status, 200);
    let started = Instant::now();
    assert!(read_all(&mut s).is_empty(), "an idle close sends nothing");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_panicking_handler_costs_only_its_request() {
    let handler = |req: Request| -> Response {
        if req.uri().path() == "/panic" {
            panic!("handler bug");
        }
        response::text("fine")
    };
    let srv = TestServer::start(handler, quick_config());
    for _ in 0..4 {
        let r = common::get(srv.addr, "/panic");
        assert_eq!(r.status, 500);
        assert!(r.text().contains("500 Internal Server Error"));
    }
    // The same connection goes on after a 500, and both workers still live.
    let mut s = connect(srv.addr);
    s.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).status, 500);
    assert_eq!(read_response(&mut s, false).body, b"fine");
}

#[test]
fn small_bodies_are_discarded_and_the_connection_stays_in_sync() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(b"POST /page.html HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).status, 405);
    s.write_all(b"GET /dir2/page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"dir2 page\n"[..]));
    // A GET with a body is served, and its body never read as a request.
    s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /")
        .unwrap();
    assert_eq!(read_response(&mut s, false).status, 200);
    s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).status, 200);
    assert!(read_all(&mut s).is_empty());
}

#[test]
fn large_or_chunked_bodies_close_the_connection_after_the_answer() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'x'; 100_000]).unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.header("connection")), (405, Some("close")));

    let mut s = connect(srv.addr);
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n").unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.header("connection")), (405, Some("close")));
    assert!(
        read_all(&mut s).is_empty(),
        "chunked body read as a request"
    );
    assert_alive(srv.addr);
}

#[test]
fn handlers_see_the_client_address() {
    let handler = |req: Request| -> Response {
        match req.extensions().get::<ClientAddr>() {
            Some(ClientAddr(addr)) => response::text(addr.ip().to_string()),
            None => response::status_page(StatusCode::INTERNAL_SERVER_ERROR),
        }
    };
    let srv = TestServer::start(handler, quick_config());
    assert_eq!(common::get(srv.addr, "/").text(), "127.0.0.1");
}

/// Answers whether its request carries the client's address; says through
/// `needs` whether it reads it.
struct AddrProbe {
    reads_addr: bool,
}

impl Handler for AddrProbe {
    fn handle(&self, req: Request) -> Response {
        response::text(req.extensions().get::<ClientAddr>().is_some().to_string())
    }

    fn needs(&self, _req: &Request) -> Needs {
        Needs {
            client_addr: self.reads_addr,
            ..Needs::default()
        }
    }
}

#[test]
fn the_client_address_is_attached_only_for_handlers_that_read_it() {
    for reads_addr in [true, false] {
        let srv = TestServer::start(AddrProbe { reads_addr }, quick_config());
        let r = common::get(srv.addr, "/");
        assert_eq!(
            r.text(),
            reads_addr.to_string(),
            "needs.client_addr = {reads_addr}"
        );
    }
}

#[test]
fn shutdown_returns_after_the_grace_period_past_a_stuck_handler() {
    // A handler that never returns holds its pool thread; `serve` still
    // returns once the grace period is spent.
    let (entered, inside) = std::sync::mpsc::channel();
    let (_never, wait) = std::sync::mpsc::channel::<()>();
    let wait = std::sync::Mutex::new(wait);
    let entered = std::sync::Mutex::new(entered);
    let handler = move |_req: Request| -> Response {
        let _ = entered.lock().unwrap().send(());
        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(60));
        response::text("too late")
    };
    let config = changed(&quick_config(), |c| {
        c.timeout(Duration::from_secs(1)).workers(2)
    });
    let srv = TestServer::start(handler, config);
    let mut stuck = connect(srv.addr);
    stuck
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    inside.recv_timeout(Duration::from_secs(10)).unwrap();
    let stopping = Instant::now();
    srv.stop().unwrap();
    // The handler holds a pool thread, not a loop: the loops wait the
    // grace period (`timeout`) for its response, then stop.
    let took = stopping.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The client got no response, and a closed connection.
    assert!(read_all(&mut stuck).is_empty());
}

#[test]
fn shutdown_finishes_in_flight_responses_and_closes_idle_connections() {
    let started = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&started);
    let handler = move |_req: Request| -> Response {
        seen.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        response::text("slow but complete")
    };
    let config = changed(&quick_config(), |c| c.timeout(Duration::from_secs(30)));
    let srv = TestServer::start(handler, config);

    // One idle keep-alive connection (it already had its answer)...
    let mut idle = connect(srv.addr);
    idle.write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle, false).status, 200);
    // ...and one request in flight when the server is told to stop.
    let mut busy = connect(srv.addr);
    busy.write_all(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    while started.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stopping = Instant::now();
    let addr = srv.addr;
    srv.stop().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );

    let r = read_response(&mut busy, false);
    assert_eq!(r.body, b"slow but complete");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(read_all(&mut idle).is_empty());
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_stopping_server_refuses_new_connections_at_once() {
    // While a request is in flight the server drains; meanwhile the port
    // refuses, rather than queueing connections nobody will accept.
    let handler = |_req: Request| -> Response {
        std::thread::sleep(Duration::from_millis(800));
        response::text("done")
    };
    let srv = TestServer::start(handler, quick_config());
    let mut busy = connect(srv.addr);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    srv.begin_stop();
    std::thread::sleep(Duration::from_millis(100));
    let refused = std::net::TcpStream::connect(srv.addr);
    assert!(refused.is_err(), "a connection was accepted while stopping");
    assert_eq!(read_response(&mut busy, false).body, b"done");
}

#[test]
fn the_shutdown_grace_outlasts_the_timeout_when_asked() {
    // A handler that takes 1.5 s, a timeout of 1 s: with a grace of 4 s its
    // response still goes out after the stop; with the default it does not.
    let slow = |_req: Request| -> Response {
        std::thread::sleep(Duration::from_millis(1500));
        response::text("finished")
    };
    for (grace, finished) in [(Some(Duration::from_secs(4)), true), (None, false)] {
        let config = changed(&quick_config(), |c| {
            let c = c.timeout(Duration::from_secs(1));
            match grace {
                Some(g) => c.shutdown_grace(g),
                None => c,
            }
        });
        let srv = TestServer::start(slow, config);
        let mut s = connect(srv.addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        srv.stop().unwrap();
        let got = read_all(&mut s);
        assert_eq!(
            got.ends_with(b"finished"),
            finished,
            "grace {grace:?}: {}",
            String::from_utf8_lossy(&got)
        );
    }
}

#[test]
fn unspecified_ipv6_serves_both_families_and_loopbacks_their_own() {
    let answers = |addr: std::net::SocketAddr| {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
    };
    let v4 = |port| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = |port| std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    // `::` takes IPv4 clients too, whatever the system's default.
    let any = Server::bind("[::]:0", quick_config()).unwrap();
    let port = any.local_addr().port();
    assert!(answers(v4(port)) && answers(v6(port)));
    drop(any);
    // `::1` and `127.0.0.1` only their own.
    let six = Server::bind("[::1]:0", quick_config()).unwrap();
    let port = six.local_addr().port();
    assert!(answers(v6(port)) && !answers(v4(port)));
    drop(six);
    let four = Server::bind("127.0.0.1:0", quick_config()).unwrap();
    let port = four.local_addr().port();
    assert!(answers(v4(port)) && !answers(v6(port)));
}

#[test]
fn bind_and_config_errors_are_typed() {
    let first = Server::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let addr = first.local_addr();
    let err = Server::bind(addr, ServerConfig::default()).unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    // Each bad value is refused naming its setting and what it must be.
    type Spoil = fn(ServerConfigBuilder) -> ServerConfigBuilder;
    let cases: [(Spoil, &str, &str); 9] = [
        (
            |c| c.chunk_size(4_000_000_000),
            "chunk_size",
            "must be at most 1048576, not 4000000000",
        ),
        (
            |c| c.max_head_size(usize::MAX),
            "max_head_size",
            "must be at most 1048576, not 18446744073709551615",
        ),
        (|c| c.workers(0), "workers", "must be at least 1, not 0"),
        (
            |c| c.chunk_size(0),
            "chunk_size",
            "must be at least 1, not 0",
        ),
        (
            |c| c.max_head_size(15),
            "max_head_size",
            "must be at least 16, not 15",
        ),
        (
            |c| c.timeout(Duration::ZERO),
            "timeout",
            "must be more than zero",
        ),
        (
            |c| c.keep_alive_timeout(Duration::ZERO),
            "keep_alive_timeout",
            "must be more than zero",
        ),
        (
            |c| c.timeout(Duration::from_secs(86_401)),
            "timeout",
            "must be at most 86400 seconds (a day), not 86401",
        ),
        (
            |c| c.backlog(u32::MAX),
            "backlog",
            "must be at most 2147483647, not 4294967295",
        ),
    ];
    for (spoil, setting, requirement) in cases {
        let e = spoil(ServerConfig::builder()).build().unwrap_err();
        assert_eq!((e.setting(), e.requirement()), (setting, requirement));
        assert_eq!(e.to_string(), format!("{setting} {requirement}"));
        // And into the crate's error, as `?` does it.
        let err = Error::from(e);
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }
    // The edges of each range are accepted.
    let edges = ServerConfig::builder()
        .workers(1)
        .chunk_size(1 << 20)
        .max_head_size(16)
        .timeout(Duration::from_secs(86_400))
        .keep_alive_timeout(Duration::from_nanos(1))
        .backlog(i32::MAX as u32)
        .build()
        .unwrap();
    assert_eq!(edges.max_head_size(), 16);

    let err = Server::bind("no-such-host.invalid:80", ServerConfig::default()).unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err:?}");
}

#[test]
fn many_clients_at_once() {
    let (_site, srv) = serve();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || {
                for _ in 0..20 {
                    assert_eq!(common::get(addr, "/dir2/page.html").body, b"dir2 page\n");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn expect_continue_with_an_unsent_body_closes_after_the_answer() {
    let (_site, srv) = serve();
    let mut s = connect(srv.addr);
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.header("connection")), (405, Some("close")));
    // What the client sends next is never taken for a request or a body.
    let _ = s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(read_all(&mut s).is_empty());
}
