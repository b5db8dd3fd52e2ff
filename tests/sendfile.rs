//! File bodies leave through sendfile(2), not through a user-space buffer.
//!
//! Its own test binary, with one test, so the process's counts in
//! /proc/self/io measure this server alone. `syscr` counts each `read(2)`
//! and each `sendfile(2)`; `syscw` counts each `sendfile(2)` that wrote, and
//! not `send(2)`, which is how a copy through a buffer would reach the
//! socket (std's `TcpStream::write`). Socket reads (`recv`) count in neither.

mod common;

use std::io::Write;

/// The process's (read, write) system call counts.
fn syscalls() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    let field = |name: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (field("syscr: "), field("syscw: "))
}

/// What moving a large body took, from counts `before` to now: fewer than
/// `max_reads` calls (a copy through an 8 KiB buffer takes `len / 8 KiB`),
/// and at least 8 of them writes (a copy through `send` counts none).
fn assert_sendfile(before: (u64, u64), max_reads: u64, what: &str) {
    let now = syscalls();
    let (reads, writes) = (now.0 - before.0, now.1 - before.1);
    assert!(reads < max_reads, "{reads} read syscalls for {what}");
    assert!(
        writes >= 8,
        "{writes} sendfile calls that wrote, for {what}"
    );
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

    let before = syscalls();
    let r = common::get(srv.addr, "/eight.bin");
    assert_eq!(r.body.len(), len);
    // An 8 KiB buffer takes 1,024 reads; sendfile takes one call per
    // 128 KiB turn, and one more each time the socket buffer is full
    // (about 140 in all here).
    assert_sendfile(before, 300, "8 MiB");

    // A range, and several, stay file regions: sendfile from an offset.
    let before = syscalls();
    let one = common::exchange(
        srv.addr,
        b"GET /eight.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-7999999\r\nConnection: close\r\n\r\n",
    );
    let two = common::exchange(
        srv.addr,
        b"GET /eight.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2999999,5000000-7999999\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(one.status, 206);
    assert_eq!(one.body.len(), 7_000_000);
    assert_eq!(two.status, 206);
    assert!(two.body.len() > 6_000_000, "{}", two.body.len());
    // 13 MB: about 1,590 reads through an 8 KiB buffer.
    assert_sendfile(before, 400, "two ranged answers");
}
