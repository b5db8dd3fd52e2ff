//! File bodies leave through sendfile(2), not through a user-space buffer.
//!
//! Its own test binary, with one test, so the process's count of read
//! syscalls on files (`syscr` in /proc/self/io) measures this server alone.
//! Socket reads (`recv`) do not count there; `read(2)` on a file counts once
//! per call, and so does each `sendfile(2)`.

mod common;

use std::io::Write;

fn read_syscalls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_large_file_goes_out_in_a_few_syscalls() {
    let site = common::site();
    let len = 8 << 20;
    std::fs::File::create(site.root().join("eight.bin"))
        .unwrap()
        .write_all(&vec![7u8; len])
        .unwrap();
    let srv = common::TestServer::static_files(&site.root());
    // Warm up: threads started, date cached, page cache filled.
    assert_eq!(common::get(srv.addr, "/eight.bin").body.len(), len);

    let before = read_syscalls();
    let r = common::get(srv.addr, "/eight.bin");
    let after = read_syscalls();
    assert_eq!(r.body.len(), len);
    // Through an 8 KiB buffer this takes over 1,000 reads; sendfile moves
    // it in one call per 128 KiB turn or fewer, plus the short ones a full
    // socket buffer makes.
    let used = after - before;
    assert!(used < 300, "{used} read syscalls for {len} bytes");

    // A range, and several, stay file regions: sendfile from an offset.
    let before = read_syscalls();
    let one = common::exchange(
        srv.addr,
        b"GET /eight.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-7999999\r\nConnection: close\r\n\r\n",
    );
    let two = common::exchange(
        srv.addr,
        b"GET /eight.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2999999,5000000-7999999\r\nConnection: close\r\n\r\n",
    );
    let used = read_syscalls() - before;
    assert_eq!(one.status, 206);
    assert_eq!(one.body.len(), 7_000_000);
    assert_eq!(two.status, 206);
    assert!(two.body.len() > 6_000_000, "{}", two.body.len());
    // 13 MB: over 1,600 reads through an 8 KiB buffer.
    assert!(used < 400, "{used} read syscalls for two ranged answers");
}
