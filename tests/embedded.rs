//! `StaticFiles` inside another transport: a server of a few lines on
//! `std::net`, written here with the crate's codec (`http1::read_head`,
//! `http1::write_response`) and nothing of its `server` feature, the way
//! someone embedding the handler in another stack would. This test builds
//! and passes with `--no-default-features`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use otuserver_core::http::Method;
use otuserver_core::http1::{BodyFraming, HeadLimits, WriteOptions, read_head, write_response};
use otuserver_core::{Bytes, ClientAddr, Handler, StaticFiles};

/// Serves `connections` connections one after the other with `handler`,
/// each for as long as it is kept alive, then stops.
fn tiny_server(handler: StaticFiles, connections: usize) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut stream, peer) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = Vec::new();
            let limits = HeadLimits::default();
            while let Ok(Some(head)) = read_head(&mut stream, &mut buf, &limits) {
                let head_only = head.request.method() == Method::HEAD;
                // This server reads no bodies: after a request with one, the
                // next bytes are not a head, so answer and close.
                let keep_alive = head.keep_alive && head.body == BodyFraming::None;
                let mut request = head.request.map(|()| Bytes::new());
                request.extensions_mut().insert(ClientAddr(peer));
                let response = handler.handle(request);
                let opts = WriteOptions::new(head_only, keep_alive);
                if write_response(&mut stream, response, opts).is_err() || !keep_alive {
                    break;
                }
            }
        }
    });
    (addr, thread)
}

/// The status line, header block and body of one response read from `s`,
/// framed by its `Content-Length`.
fn read_one(s: &mut TcpStream, head_only: bool) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "response cut short");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; if head_only { 0 } else { len }];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn static_files_serve_through_a_std_net_server_of_our_own() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello, world\n").unwrap();
    std::fs::create_dir(root.path().join("docs")).unwrap();
    std::fs::write(root.path().join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.path().join("big.bin"), &big).unwrap();

    let (addr, server) = tiny_server(StaticFiles::new(root.path()).unwrap(), 3);

    // One kept-alive connection, many requests.
    let mut s = TcpStream::connect(addr).unwrap();
    let mut ask = |request: String, head_only: bool| {
        s.write_all(request.as_bytes()).unwrap();
        read_one(&mut s, head_only)
    };
    let get = |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");

    let (head, body) = ask(get("/hello.txt", ""), false);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, b"hello, world\n");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .to_owned();

    let (head, body) = ask(
        get("/hello.txt", &format!("If-None-Match: {etag}\r\n")),
        false,
    );
    assert!(head.starts_with("HTTP/1.1 304 "), "{head}");
    assert!(body.is_empty());

    let (head, body) = ask(get("/hello.txt", "Range: bytes=0-4\r\n"), false);
    assert!(head.starts_with("HTTP/1.1 206 "), "{head}");
    assert_eq!(body, b"hello");

    let (head, body) = ask(
        "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        true,
    );
    assert!(head.contains("\r\nContent-Length: 13\r\n"), "{head}");
    assert!(body.is_empty());

    let (head, _) = ask(get("/docs?x=1", ""), false);
    assert!(head.starts_with("HTTP/1.1 301 "), "{head}");
    assert!(head.contains("\r\nlocation: /docs/?x=1\r\n"), "{head}");

    let (head, body) = ask(get("/docs/", ""), false);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, b"<h1>docs</h1>\n");

    let (head, _) = ask(get("/../../etc/passwd", ""), false);
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");

    // A file body, copied by the codec rather than sent by sendfile.
    let (head, body) = ask(get("/big.bin", "Connection: close\r\n"), false);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(body == big, "the large file differs");

    // A second connection: a request with a body this server does not read
    // is answered, and the connection closed rather than desynchronised.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /x")
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let all = String::from_utf8_lossy(&all);
    assert!(all.starts_with("HTTP/1.1 405 "), "{all}");
    assert_eq!(all.matches("HTTP/1.1").count(), 1, "{all}");

    // A third: HTTP/1.0, closed after the answer.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.ends_with(b"\r\n\r\nhello, world\n"));
    server.join().unwrap();
}

#[test]
fn concurrent_responses_for_one_kept_open_file_each_get_its_bytes() {
    // The open-file cache hands one descriptor to every response for a large
    // file; writers on several threads must not move each other's position.
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &content).unwrap();
    let files = std::sync::Arc::new(
        StaticFiles::new(dir.path())
            .unwrap()
            .cache_ttl(Duration::from_secs(30)),
    );
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let files = std::sync::Arc::clone(&files);
            let content = content.clone();
            std::thread::spawn(move || {
                for _ in 0..40 {
                    let request = otuserver_core::http::Request::get("/big.bin")
                        .body(Bytes::new())
                        .unwrap();
                    let mut out = Vec::new();
                    write_response(
                        &mut out,
                        files.handle(request),
                        WriteOptions::new(false, true),
                    )
                    .unwrap();
                    let start = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    assert!(out[start..] == content[..], "a body mixed with another's");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
}
