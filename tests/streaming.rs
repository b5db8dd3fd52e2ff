//! Streamed response bodies: unknown length, chunked to HTTP/1.1 clients
//! and close-delimited to HTTP/1.0, produced on a pool thread only as fast
//! as the client reads, and stopped when the client goes.

mod common;

use std::io::{self, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, changed, config, connect, read_chunked, read_head_from, read_response};
use otuserver_core::{Body, Bytes, Request, Response, response};

const CHUNK: usize = 64 * 1024;

/// A response of `chunks` chunks of `CHUNK` bytes each, counted as they are
/// made, with `dropped` set when the producer lets go of them.
fn stream_of(chunks: usize, made: Arc<AtomicUsize>, dropped: Arc<AtomicBool>) -> Response {
    struct Chunks {
        left: usize,
        block: Bytes,
        made: Arc<AtomicUsize>,
        dropped: Arc<AtomicBool>,
    }
    impl Iterator for Chunks {
        type Item = io::Result<Bytes>;
        fn next(&mut self) -> Option<Self::Item> {
            if self.left == 0 {
                return None;
            }
            self.left -= 1;
            self.made.fetch_add(1, Ordering::SeqCst);
            Some(Ok(self.block.clone()))
        }
    }
    impl Drop for Chunks {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }
    let chunks = Chunks {
        left: chunks,
        block: Bytes::from(vec![b'x'; CHUNK]),
        made,
        dropped,
    };
    response::with_body(http_ok(), "application/octet-stream", Body::stream(chunks))
}

fn http_ok() -> otuserver_core::http::StatusCode {
    otuserver_core::http::StatusCode::OK
}

#[test]
fn http_1_0_gets_the_body_until_the_close_and_head_gets_the_head() {
    let handler = |_req: Request| -> Response {
        response::with_body(
            http_ok(),
            "text/csv",
            Body::from_reader(io::Cursor::new(b"a,b\n1,2\n".repeat(10_000))),
        )
    };
    let srv = TestServer::start(handler, config(1, Duration::from_secs(5)));
    let mut s = connect(srv.addr);
    s.write_all(b"GET /rows.csv HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("\r\nConnection: close"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert_eq!(body.len(), 80_000);

    // HEAD: the head a GET would get, no body, and the connection goes on.
    let mut s = connect(srv.addr);
    s.write_all(b"HEAD /rows.csv HTTP/1.1\r\nHost: x\r\n\r\nGET /rows.csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head_from(&mut r);
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    let head = read_head_from(&mut r);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(read_chunked(&mut r), 80_000);
}

#[test]
fn a_reader_that_stops_is_dropped_and_frees_the_producer() {
    let made = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (m, d) = (Arc::clone(&made), Arc::clone(&dropped));
    let handler =
        move |_req: Request| -> Response { stream_of(16 * 1024, Arc::clone(&m), Arc::clone(&d)) };
    let cfg = changed(&config(1, Duration::from_secs(1)), |c| c.pool_threads(1));
    let srv = TestServer::start(handler, cfg);
    let mut s = connect(srv.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 1024];
    s.read_exact(&mut first).unwrap();
    // Stop reading. The server cuts the connection after the timeout, and
    // the producer, blocked a few chunks ahead, lets go.
    let started = Instant::now();
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "producer still held"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let produced = made.load(Ordering::SeqCst);
    assert!(
        produced < 256,
        "{produced} chunks made for a client that read 1 KiB"
    );
    // The one pool thread is free again.
    let mut s = connect(srv.addr);
    s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, true).status, 200);
}

#[test]
fn a_failing_stream_ends_the_connection_without_the_last_chunk() {
    let handler = |_req: Request| -> Response {
        let chunks = vec![
            Ok(Bytes::from_static(b"first ")),
            Err(io::Error::other("the export failed")),
        ];
        response::with_body(http_ok(), "text/plain", Body::stream(chunks))
    };
    let srv = TestServer::start(handler, config(1, Duration::from_secs(5)));
    assert_cut_off_after_first(srv.addr);
}

/// Asks `addr` for `/` and checks the chunked body stops after its chunk
/// `first `, the connection closed without the last chunk.
fn assert_cut_off_after_first(addr: std::net::SocketAddr) {
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("\r\n6\r\nfirst \r\n"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
}

#[test]
fn a_panicking_stream_is_cut_off_and_its_thread_lives_on() {
    let handler = |req: Request| -> Response {
        if req.uri().path() == "/ok" {
            return response::text("ok\n");
        }
        let mut sent = false;
        let chunks = std::iter::from_fn(move || {
            if sent {
                panic!("the export broke");
            }
            sent = true;
            Some(Ok(Bytes::from_static(b"first ")))
        });
        response::with_body(http_ok(), "text/plain", Body::stream(chunks))
    };
    let cfg = changed(&config(1, Duration::from_secs(5)), |c| c.pool_threads(1));
    let srv = TestServer::start(handler, cfg);
    for _ in 0..3 {
        assert_cut_off_after_first(srv.addr);
    }
    // The one pool thread still answers.
    let mut s = connect(srv.addr);
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).text(), "ok\n");
}
