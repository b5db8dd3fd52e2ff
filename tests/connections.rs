//! Connection handling under pressure: idle, silent and slow clients do not
//! hold workers; the connection cap refuses cleanly; shutdown is prompt.
//! Small, bounded versions of what `scripts/load.sh` runs at full scale.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{TestServer, changed, config, connect, get, read_response, site};
use otuserver_core::{ServerConfig, StaticFiles};

fn serve(config: ServerConfig) -> (common::Site, TestServer) {
    let _ = otuserver_core::raise_fd_limit();
    let site = site();
    let files = StaticFiles::new(site.root()).unwrap();
    let server = TestServer::start(files, config);
    (site, server)
}

#[test]
fn idle_silent_and_half_sent_connections_do_not_starve_a_new_client() {
    // Long timeouts: under one-worker-per-connection this test would wait
    // 30 s per request; with the event loop nothing waits at all.
    let (_site, srv) = serve(config(2, Duration::from_secs(30)));
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut s = connect(srv.addr);
        s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, false).status, 200);
        held.push(s); // idle keep-alive from here on
    }
    for _ in 0..200 {
        held.push(TcpStream::connect(srv.addr).unwrap()); // silent
    }
    for _ in 0..200 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(b"GET /page.html HTTP/1.1\r\nHo").unwrap(); // half a head
        held.push(s);
    }
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..100 {
        let t = Instant::now();
        assert_eq!(get(srv.addr, "/dir2/page.html").body, b"dir2 page\n");
        worst = worst.max(t.elapsed());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "100 requests took {:?}",
        started.elapsed()
    );
    eprintln!("100 requests beside 600 held connections: worst {worst:?}");
    // The idle ones are still usable.
    let s = &mut held[0];
    s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(s, false).status, 200);
}

#[test]
fn a_trickling_head_does_not_hold_a_worker() {
    let (_site, srv) = serve(config(1, Duration::from_secs(3)));
    let addr = srv.addr;
    let trickler = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut sent = 0;
        for b in b"GET /page.html HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut reply = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read_to_end(&mut reply);
        (sent, String::from_utf8_lossy(&reply).into_owned())
    });
    std::thread::sleep(Duration::from_millis(300));
    // The only worker is free for others while the head trickles in.
    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(addr, "/page.html").status, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (sent, reply) = trickler.join().unwrap();
    // 49 bytes at 10 a second need 4.9 s: the 3 s deadline cuts it short.
    assert!(sent < 49, "the whole head got through ({sent} bytes)");
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
}

#[test]
fn the_connection_cap_refuses_the_excess_cleanly() {
    let cfg = changed(&config(2, Duration::from_secs(10)), |c| {
        c.max_connections(4)
    });
    let (_site, srv) = serve(cfg);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    // Let the event loop accept them all before the one too many.
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let mut extra = connect(srv.addr);
        let _ = extra.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut reply = Vec::new();
        let _ = extra.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 503 "),
            "{reply}"
        );
    }
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut s = connect(srv.addr);
        let _ = s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        if reply.starts_with(b"HTTP/1.1 200 ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again after the cap"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a client that asks for `path`, reads nothing for `stall`, then
/// reads `per_tick` bytes every 100 ms until the server closes or 30 s
/// pass; returns how much it got and when it ended.
fn slow_reader(
    addr: std::net::SocketAddr,
    path: &'static str,
    stall: Duration,
    per_tick: usize,
) -> std::thread::JoinHandle<(usize, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::thread::sleep(stall);
        let mut got = 0usize;
        let mut chunk = vec![0u8; per_tick];
        while started.elapsed() < Duration::from_secs(30) {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (got, started.elapsed())
    })
}

fn with_huge_file(cfg: ServerConfig) -> (common::Site, TestServer, usize) {
    let (site, srv) = serve(cfg);
    let len = 64 << 20;
    std::fs::write(site.root().join("huge.bin"), vec![1u8; len]).unwrap();
    (site, srv, len)
}

#[test]
fn slow_readers_never_hold_a_worker() {
    // One worker and a long timeout: were the worker to wait on the
    // stalled reader, the next client would wait 30 s.
    let (_site, srv, _) = with_huge_file(config(1, Duration::from_secs(30)));
    let reader = slow_reader(srv.addr, "/huge.bin", Duration::from_secs(3), 1 << 20);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(srv.addr, "/page.html").status, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(reader);
}

#[test]
fn a_reader_that_stalls_is_cut_off_by_the_send_timeout() {
    let cfg = changed(&config(1, Duration::from_secs(1)), |c| c.min_send_rate(0));
    let (_site, srv, len) = with_huge_file(cfg);
    // Reads nothing for 3 s, then as fast as it can.
    let (got, _) = slow_reader(srv.addr, "/huge.bin", Duration::from_secs(3), 1 << 20)
        .join()
        .unwrap();
    assert!(
        got < len,
        "a reader that stalled past the timeout got the whole file"
    );
}

#[test]
fn a_reader_below_the_minimum_rate_is_cut_off() {
    let cfg = changed(&config(1, Duration::from_secs(1)), |c| {
        c.min_send_rate(32 << 20)
    });
    let (_site, srv, len) = with_huge_file(cfg);
    // About 5 MB/s: steady progress, so the send timeout never fires, but
    // 13 s for the whole file.
    let (got, took) = slow_reader(srv.addr, "/huge.bin", Duration::ZERO, 512 * 1024)
        .join()
        .unwrap();
    assert!(got < len, "the slow reader got the whole file in {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_slow_body_does_not_hold_a_worker_or_desync_the_connection() {
    let (_site, srv) = serve(config(1, Duration::from_secs(5)));
    let mut slow = connect(srv.addr);
    slow.write_all(b"POST /page.html HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    // Answered before the body is complete...
    assert_eq!(read_response(&mut slow, false).status, 405);
    // ...and the only worker serves others while the body trickles.
    let t = Instant::now();
    assert_eq!(get(srv.addr, "/page.html").status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    for b in b"cdefghij" {
        slow.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // The body's bytes were dropped, not read as the next request.
    slow.write_all(b"GET /dir2/page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut slow, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"dir2 page\n"[..]));
}

#[test]
fn shutdown_is_prompt_with_silent_idle_and_trickling_clients() {
    let (_site, srv) = serve(config(2, Duration::from_secs(30)));
    let mut held: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    let mut idle = connect(srv.addr);
    idle.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle, false).status, 200);
    let mut partial = TcpStream::connect(srv.addr).unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    held.push(partial);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    srv.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let mut rest = Vec::new();
    idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0);
}
