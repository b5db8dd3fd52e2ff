//! The request-head parser on arbitrary bytes: whole, and read through a
//! reader in small chunks; it must answer (a head, "more", or a typed error
//! with a status) and never panic.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use otuserver_core::http1::{HeadLimits, parse_head, read_head};

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::new(4096, 7);
    match parse_head(data, &limits) {
        Ok(Some(head)) => assert!(head.len <= data.len()),
        Ok(None) => assert!(data.len() < 4096),
        Err(e) => assert!(e.status().is_some(), "{e}"),
    }
    // The same bytes as a stream: pipelined heads one after another.
    let mut reader = Cursor::new(data);
    let mut buf = Vec::new();
    for _ in 0..8 {
        match read_head(&mut reader, &mut buf, &limits) {
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => break,
        }
    }
});
