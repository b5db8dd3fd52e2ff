//! A streamed body of 1 GiB to a client reading at full speed keeps the
//! server's resident memory flat. Alone in its test binary: resident memory
//! is the whole process's, and other tests (a panic's backtrace, say) would
//! be counted too.

mod common;

use std::io::{BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestServer, config, connect, read_chunked, read_head_from, rss_kib};
use otuserver_core::http::StatusCode;
use otuserver_core::{Body, Bytes, Request, Response, response};

const CHUNK: usize = 64 * 1024;

/// 1 GiB in chunks of 64 KiB.
fn gibibyte() -> Response {
    let block = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = (0..16 * 1024).map(move |_| Ok(block.clone()));
    response::with_body(
        StatusCode::OK,
        "application/octet-stream",
        Body::stream(chunks),
    )
}

#[test]
fn a_gibibyte_streams_in_little_memory() {
    let handler = |_req: Request| -> Response { gibibyte() };
    let srv = TestServer::start(handler, config(1, Duration::from_secs(10)));
    let before = rss_kib();
    let peak = Arc::new(AtomicUsize::new(before as usize));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib() as usize, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut s = connect(srv.addr);
    s.write_all(b"GET /export.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::with_capacity(CHUNK, s);
    let head = read_head_from(&mut r);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert_eq!(read_chunked(&mut r), 1 << 30);
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let grew = peak.load(Ordering::SeqCst) as u64 - before;
    assert!(grew < 32 * 1024, "resident memory grew by {grew} KiB");
    // The connection stays open for the next request.
    let mut s = r.into_inner();
    s.write_all(b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    read_head_from(&mut r);
    assert_eq!(read_chunked(&mut r), 1 << 30);
}
