//! Idle connections and half-sent heads cost little memory. Its own test
//! binary, so the process's resident size measures this server alone; the
//! tests take turns.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{TestServer, connect, get, read_response, rss_kib, site};
use otuserver_core::StaticFiles;

/// One measurement at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn idle_connections_cost_little_memory() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let _ = otuserver_core::raise_fd_limit();
    let site = site();
    let config = common::config(2, Duration::from_secs(30));
    let srv = TestServer::start(StaticFiles::new(site.root()).unwrap(), config);
    let warm: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    drop(warm);
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let mut held = Vec::new();
    for _ in 0..2000 {
        let mut s = connect(srv.addr);
        s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, false).status, 200);
        held.push(s);
    }
    let grown = rss_kib().saturating_sub(before);
    eprintln!("2000 idle keep-alive connections: +{grown} KiB resident");
    // 10,000 must stay well under 100 MB: allow 10 KiB a connection here,
    // client side included.
    assert!(grown < 20_000, "+{grown} KiB for 2000 idle connections");
    assert_eq!(get(srv.addr, "/page.html").status, 200);
}

#[test]
fn half_sent_heads_cost_what_arrived_whatever_the_chunk_size() {
    // Reads of 1 MiB asked for: a connection's buffer still grows only by
    // the bytes that came, not by the size of the read.
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let config = common::changed(&common::config(2, Duration::from_secs(30)), |c| {
        c.chunk_size(1 << 20)
    });
    let srv = TestServer::start(StaticFiles::new(site.root()).unwrap(), config);
    std::thread::sleep(Duration::from_millis(100));
    let before = rss_kib();
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = connect(srv.addr);
        s.write_all(b"GET /page.html HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n")
            .unwrap();
        held.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss_kib().saturating_sub(before);
    eprintln!("300 half-sent heads with 1 MiB reads: +{grown} KiB resident");
    assert!(grown < 4096, "+{grown} KiB for 300 half-sent heads");
    assert_eq!(get(srv.addr, "/page.html").status, 200);
}

#[test]
fn many_paths_to_one_file_keep_the_cache_within_its_cap() {
    // Ten symlinks to the root make any number of distinct paths to one
    // small file: each a cache key, all one body. The cache stays within
    // its cap (8 MiB) however many come.
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), vec![b'x'; 100]).unwrap();
    for i in 0..10 {
        std::os::unix::fs::symlink(".", dir.path().join(format!("a{i}"))).unwrap();
    }
    let config = common::config(1, Duration::from_secs(30));
    let files = StaticFiles::new(dir.path())
        .unwrap()
        .cache_ttl(Duration::from_secs(60));
    let srv = TestServer::start(files, config);
    let mut s = connect(srv.addr);
    let mut ask = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut s, false)
    };
    assert_eq!(ask("/f.txt").status, 200);
    let before = rss_kib();
    for n in 0..16_000u32 {
        // Deep paths make costly keys: 39 segments, as in the attack.
        let digits = format!("{n:05}");
        let path: String = digits.chars().map(|d| format!("/a{d}")).collect();
        let r = ask(&format!("{}{path}/f.txt", "/a0".repeat(33)));
        assert_eq!((r.status, r.body.len()), (200, 100), "{path}");
    }
    let grown = rss_kib().saturating_sub(before);
    eprintln!("16,000 paths to one file: +{grown} KiB resident");
    assert!(grown < 12 * 1024, "+{grown} KiB: the cache outgrew its cap");
}
