//! Request bodies: read by the event loop before the handler runs, framed
//! by `Content-Length` or `chunked`, bounded, paced, and refused cleanly.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, changed, config, connect, read_response};
use otuserver_core::{Request, Response, Router, ServerConfig, StaticFiles, response};

/// `/echo` answers with the body's length and bytes; `/static/` is files.
fn app(root: &std::path::Path) -> Router {
    Router::new()
        .route("/echo", |req: Request| -> Response {
            let body = req.body();
            let mut text = format!("{}:", body.len());
            text.push_str(&String::from_utf8_lossy(body));
            response::text(text)
        })
        .mount("/static", StaticFiles::new(root).unwrap())
}

fn serve(cfg: ServerConfig) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "static\n").unwrap();
    let srv = TestServer::start(app(dir.path()), cfg);
    (dir, srv)
}

fn quick() -> ServerConfig {
    config(2, Duration::from_secs(5))
}

/// Everything the server sends until it closes the connection.
fn rest_of(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn content_length_and_chunked_bodies_reach_the_handler() {
    let (_dir, srv) = serve(quick());
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert_eq!(read_response(&mut s, false).text(), "5:hello");
    s.write_all(
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: dropped\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut s, false).text(), "7:abcdefg");
    // The connection is still in step.
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).text(), "0:");
}

#[test]
fn curl_sends_forms_and_chunked_uploads() {
    let (_dir, srv) = serve(quick());
    let url = format!("http://{}/echo", srv.addr);
    let out = Command::new("curl")
        .args(["-s", "-d", "name=otus&x=1", &url])
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "13:name=otus&x=1");

    // `-T -` uploads stdin chunked, and asks for 100 Continue first.
    let data: String = (0..20_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut child = Command::new("curl")
        .args(["-s", "-T", "-", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("20000:{data}")
    );
}

#[test]
fn expect_100_continue_is_answered_only_when_the_body_is_read() {
    let (_dir, srv) = serve(quick());
    // Read: 100 first, then the body is sent and answered.
    let mut s = connect(srv.addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    )
    .unwrap();
    let interim = read_response(&mut s, true);
    assert_eq!(interim.status, 100);
    s.write_all(b"abc").unwrap();
    assert_eq!(read_response(&mut s, false).text(), "3:abc");

    // Too large: the final 413 at once, no 100, and the connection closes.
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n")
        .unwrap();
    let rest = rest_of(&mut s);
    assert!(rest.starts_with("HTTP/1.1 413 "), "{rest}");
    assert!(!rest.contains("100 Continue"), "{rest}");

    // A handler that reads no body (static files): its answer at once.
    let mut s = connect(srv.addr);
    s.write_all(b"POST /static/a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn bodies_over_the_limit_are_413_before_they_are_read() {
    let cfg = changed(&quick(), |c| c.max_body_size(1000));
    let (_dir, srv) = serve(cfg);
    // The head alone brings the answer: none of the body is sent.
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    // A chunked body as soon as it grows past the limit.
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3E8\r\n")
        .unwrap();
    s.write_all(&[b'x'; 1000]).unwrap();
    s.write_all(b"\r\n1\r\n").unwrap();
    assert!(rest_of(&mut s).starts_with("HTTP/1.1 413 "));
    // At the limit exactly, it is read.
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'y'; 1000]).unwrap();
    assert_eq!(read_response(&mut s, false).status, 200);
}

#[test]
fn malformed_chunked_bodies_are_400_and_close() {
    let (_dir, srv) = serve(quick());
    let long_size = format!("{}\r\n", "0".repeat(17));
    let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(17_000));
    let cases: [&[u8]; 6] = [
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"\r\n\r\n",
        long_size.as_bytes(),
        long_ext.as_bytes(),
    ];
    for body in cases {
        let mut s = connect(srv.addr);
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        s.write_all(body).unwrap();
        // A request behind it must not be taken from the broken body.
        let _ = s.write_all(b"GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let rest = rest_of(&mut s);
        assert!(
            rest.starts_with("HTTP/1.1 400 "),
            "{:?}: {rest}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(rest.matches("HTTP/1.1 ").count(), 1, "{rest}");
    }
}

#[test]
fn a_body_pipelined_with_the_next_request_keeps_both_in_order() {
    let (_dir, srv) = serve(quick());
    let mut s = connect(srv.addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET POST /echo HTTP/1.1\r\nHost: x\r\n\
          Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nGET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut s, false).text(), "4:GET ");
    assert_eq!(read_response(&mut s, false).text(), "2:ok");
    assert_eq!(read_response(&mut s, false).text(), "static\n");
}

#[test]
fn a_trickled_body_holds_no_thread_and_arrives_whole() {
    // One loop and one pool thread: while a body comes a byte at a time,
    // the loop and the pool serve others.
    let cfg = changed(&config(1, Duration::from_secs(5)), |c| c.pool_threads(1));
    let (_dir, srv) = serve(cfg);
    let mut slow = connect(srv.addr);
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        .unwrap();
    for (i, b) in b"0123456789".iter().enumerate() {
        slow.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        if i % 3 == 0 {
            let asked = Instant::now();
            let mut other = connect(srv.addr);
            other
                .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
                .unwrap();
            assert_eq!(read_response(&mut other, false).text(), "2:hi");
            assert!(
                asked.elapsed() < Duration::from_millis(200),
                "{:?}",
                asked.elapsed()
            );
        }
    }
    assert_eq!(read_response(&mut slow, false).text(), "10:0123456789");
}

#[test]
fn an_upload_at_a_byte_a_second_is_cut_off() {
    // Past the timeout (1 s) a body must come at the minimum rate.
    let cfg = changed(&config(1, Duration::from_secs(1)), |c| {
        c.min_send_rate(1024)
    });
    let (_dir, srv) = serve(cfg);
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while started.elapsed() < Duration::from_secs(6) {
        let _ = s.write_all(b"x");
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
