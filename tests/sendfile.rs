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
    // it in a handful of calls, whatever the socket buffer size.
    let used = after - before;
    assert!(used < 200, "{used} read syscalls for {len} bytes");
}
