//! The HTTP/1.x codec in memory: heads parsed from byte slices and from a
//! reader that yields one byte at a time, responses written into a Vec.

use std::io::{self, Read};

use otuserver_core::http::{Method, StatusCode, Version};
use otuserver_core::http1::{
    BodyFraming, HeadLimits, RequestHead, WriteOptions, parse_head, read_head, write_response,
};
use otuserver_core::{Body, RequestError, response};

fn limits() -> HeadLimits {
    HeadLimits::new(4096, 1024)
}

fn parse(bytes: &[u8]) -> Result<RequestHead, RequestError> {
    let mut buf = Vec::new();
    match read_head(&mut &bytes[..], &mut buf, &limits()) {
        Ok(Some(head)) => Ok(head),
        Ok(None) => panic!("no request in {:?}", String::from_utf8_lossy(bytes)),
        Err(e) => Err(e),
    }
}

fn status_of(bytes: &[u8]) -> Option<StatusCode> {
    match parse(bytes) {
        Ok(_) => Some(StatusCode::OK),
        Err(e) => e.status(),
    }
}

/// Yields one byte per `read`, like the slowest possible client.
struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn parses_a_simple_get() {
    let head = parse(b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n").unwrap();
    let req = &head.request;
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.uri().path(), "/a/b");
    assert_eq!(req.uri().query(), Some("x=1"));
    assert_eq!(req.version(), Version::HTTP_11);
    assert_eq!(req.headers()["accept"], "*/*");
    assert_eq!(head.body, BodyFraming::None);
    assert!(head.keep_alive);
}

#[test]
fn reads_a_head_one_byte_at_a_time_and_keeps_what_follows() {
    let input = b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = OneByte(input);
    let mut buf = Vec::new();
    let first = read_head(&mut reader, &mut buf, &HeadLimits::new(4096, 1))
        .unwrap()
        .unwrap();
    assert_eq!(first.request.uri().path(), "/one");
    let second = read_head(&mut reader, &mut buf, &HeadLimits::new(4096, 1))
        .unwrap()
        .unwrap();
    assert_eq!(second.request.uri().path(), "/two");
    assert!(
        read_head(&mut reader, &mut buf, &limits())
            .unwrap()
            .is_none()
    );
}

#[test]
fn pipelined_heads_in_one_read_are_split() {
    let input: &[u8] = b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nHEAD /two HTTP/1.0\r\n\r\n";
    let mut reader = input;
    let mut buf = Vec::new();
    let one = read_head(&mut reader, &mut buf, &limits())
        .unwrap()
        .unwrap();
    let two = read_head(&mut reader, &mut buf, &limits())
        .unwrap()
        .unwrap();
    assert_eq!(one.request.uri().path(), "/one");
    assert_eq!(two.request.method(), Method::HEAD);
    assert_eq!(two.request.version(), Version::HTTP_10);
}

#[test]
fn keep_alive_follows_version_and_connection() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse(input).unwrap().keep_alive,
            *want,
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn malformed_input_maps_to_its_status() {
    let bad = Some(StatusCode::BAD_REQUEST);
    let cases: &[(&[u8], Option<StatusCode>)] = &[
        (b"GARBAGE\r\n\r\n", bad),
        (b"GET\r\n\r\n", bad),
        (b"GET /\r\n\r\n", bad), // HTTP/0.9
        (b"GET / FOO/1.1\r\nHost: x\r\n\r\n", bad),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", Some(StatusCode::HTTP_VERSION_NOT_SUPPORTED)),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", Some(StatusCode::HTTP_VERSION_NOT_SUPPORTED)),
        (b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", Some(StatusCode::HTTP_VERSION_NOT_SUPPORTED)),
        (b"GET / HTTP/1.1\r\n\r\n", bad), // no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", bad),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", bad),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", bad),
        (b"GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n", bad),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n", bad),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: b\x01c\r\n\r\n", bad),
        (b"GET noslash HTTP/1.1\r\nHost: x\r\n\r\n", bad),
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", bad),
        (b"GET ftp://x/y HTTP/1.1\r\nHost: x\r\n\r\n", bad),
        (b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", bad),
        (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", bad),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", bad),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", bad),
    ];
    for (input, want) in cases {
        assert_eq!(
            status_of(input),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn accepted_forms_and_framings() {
    let ok = Some(StatusCode::OK);
    let cases: &[&[u8]] = &[
        b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:8080\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for input in cases {
        assert_eq!(status_of(input), ok, "{:?}", String::from_utf8_lossy(input));
    }
    let framing = |input: &[u8]| parse(input).unwrap().body;
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"),
        BodyFraming::Length(5)
    );
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        BodyFraming::Length(5)
    );
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"),
        BodyFraming::Chunked
    );
    // A coding this server does not decode is 501; chunked twice is 400.
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        Some(StatusCode::NOT_IMPLEMENTED)
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
        Some(StatusCode::BAD_REQUEST)
    );
}

#[test]
fn size_limits_give_414_and_431() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    assert_eq!(
        status_of(long_target.as_bytes()),
        Some(StatusCode::URI_TOO_LONG)
    );

    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    assert_eq!(
        status_of(big_head.as_bytes()),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );

    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("X{i}: y\r\n"));
    }
    many.push_str("\r\n");
    let mut buf = Vec::new();
    let err = read_head(
        &mut many.as_bytes(),
        &mut buf,
        &HeadLimits::new(1 << 20, 1024),
    )
    .unwrap_err();
    assert_eq!(
        err.status(),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );

    // A target longer than http::Uri takes is 414 even under a huge limit.
    let huge = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let mut buf = Vec::new();
    let err = read_head(
        &mut huge.as_bytes(),
        &mut buf,
        &HeadLimits::new(1 << 20, 8192),
    )
    .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::URI_TOO_LONG));

    // Exactly at the limit is fine.
    let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = Vec::new();
    let limits = HeadLimits::new(head.len(), 7);
    assert!(
        read_head(&mut &head[..], &mut buf, &limits)
            .unwrap()
            .is_some()
    );
}

#[test]
fn partial_is_not_an_error() {
    assert!(matches!(parse_head(b"GET / HT", &limits()), Ok(None)));
    assert!(matches!(parse_head(b"", &limits()), Ok(None)));
}

#[test]
fn eof_mid_head_and_timeouts() {
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\nHost"),
        Err(RequestError::Incomplete)
    ));
    let mut buf = Vec::new();
    assert!(
        read_head(&mut &b"\r\n\n"[..], &mut buf, &limits())
            .unwrap()
            .is_none()
    );

    struct Stalls;
    impl Read for Stalls {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
    let err = read_head(&mut Stalls, &mut Vec::new(), &limits()).unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::REQUEST_TIMEOUT));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep; the fuzzing issue adds coverage-guided runs.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let alphabet = b"GET /%.\r\n :HTP1\x00\xff";
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| alphabet[((seed >> (i % 57)) as usize + i) % alphabet.len()])
            .collect();
        let _ = read_head(&mut &bytes[..], &mut Vec::new(), &limits());
    }
}

fn written(resp: otuserver_core::Response, opts: WriteOptions) -> String {
    let mut out = Vec::new();
    write_response(&mut out, resp, opts).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn writes_status_line_required_headers_and_body() {
    let text = written(response::text("hello"), WriteOptions::new(false, true));
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nServer: otuserver/"), "{text}");
    assert!(text.contains("\r\nContent-Length: 5\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: keep-alive\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello"), "{text}");
    let date = text.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
}

#[test]
fn head_gets_the_same_headers_and_no_body() {
    let get = written(response::text("hello"), WriteOptions::new(false, false));
    let head = written(response::text("hello"), WriteOptions::new(true, false));
    let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
    assert_eq!(get_body, "hello");
    assert_eq!(head, format!("{get_head}\r\n\r\n"));
    assert!(head.contains("Connection: close\r\n"));
}

#[test]
fn codec_owns_framing_headers() {
    let mut resp = response::text("abc");
    resp.headers_mut()
        .insert("content-length", "999".parse().unwrap());
    resp.headers_mut()
        .insert("connection", "upgrade".parse().unwrap());
    let text = written(resp, WriteOptions::new(false, true));
    assert_eq!(text.matches("Content-Length").count(), 1, "{text}");
    assert!(text.contains("Content-Length: 3\r\n"));
    assert!(!text.contains("upgrade"));
}

#[test]
fn not_modified_and_no_content_have_no_body_or_length() {
    for status in [StatusCode::NOT_MODIFIED, StatusCode::NO_CONTENT] {
        let resp = response::with_body(status, "text/plain", "ignored");
        let text = written(resp, WriteOptions::new(false, true));
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }
}

#[test]
fn file_bodies_stream_from_an_offset_and_detect_shrinking() {
    use std::io::Write;
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(b"0123456789").unwrap();
    let f = std::sync::Arc::new(f);
    let body = Body::File {
        file: std::sync::Arc::clone(&f),
        offset: 3,
        len: 4,
    };
    let text = written(
        otuserver_core::Response::new(body),
        WriteOptions::new(false, true),
    );
    assert!(
        text.ends_with("Content-Length: 4\r\nConnection: keep-alive\r\n\r\n3456"),
        "{text}"
    );

    let body = Body::File {
        file: f,
        offset: 8,
        len: 5,
    };
    let mut out = Vec::new();
    let err = write_response(
        &mut out,
        otuserver_core::Response::new(body),
        WriteOptions::new(false, true),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn a_higher_http1_minor_version_is_handled_as_1_1() {
    let head = parse(b"GET /x HTTP/1.7\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(head.request.version(), Version::HTTP_11);
    assert!(head.keep_alive);
    // Not an error while the request line is still arriving.
    assert!(matches!(parse_head(b"GET / HTTP/1.2", &limits()), Ok(None)));
    assert!(matches!(
        parse_head(b"GET / HTTP/1.2\r\nHo", &limits()),
        Ok(None)
    ));
}

#[test]
fn handlers_cannot_set_transfer_encoding() {
    let mut resp = response::text("abc");
    resp.headers_mut()
        .insert("transfer-encoding", "chunked".parse().unwrap());
    let text = written(resp, WriteOptions::new(false, true));
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    assert!(
        text.ends_with("Content-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"),
        "{text}"
    );
}

#[test]
fn garbage_before_a_higher_minor_version_is_400() {
    assert_eq!(
        status_of(b"GET /a b HTTP/1.2\r\nHost: x\r\n\r\n"),
        Some(StatusCode::BAD_REQUEST)
    );
}

/// Counts the writes it is given.
#[derive(Default)]
struct Writes {
    calls: usize,
    bytes: Vec<u8>,
}

impl io::Write for Writes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_head_and_a_small_body_leave_in_one_write() {
    // Two small writes on a TCP socket wait for the peer's acknowledgement
    // (Nagle): the blocking writer gathers them.
    let mut w = Writes::default();
    let sent = write_response(
        &mut w,
        response::text("small body\n"),
        WriteOptions::new(false, true),
    )
    .unwrap();
    assert_eq!(sent, 11);
    assert_eq!(w.calls, 1);
    assert!(w.bytes.ends_with(b"\r\n\r\nsmall body\n"));
}

#[test]
fn a_stream_among_parts_is_refused_before_anything_is_written() {
    // Its parts would go out unframed inside a chunked body.
    let body = Body::Parts(vec![
        Body::Bytes("head ".into()),
        Body::stream(vec![Ok(otuserver_core::Bytes::from_static(b"chunk"))]),
    ]);
    let mut out = Vec::new();
    let err = write_response(
        &mut out,
        otuserver_core::Response::new(body),
        WriteOptions::new(false, true),
    )
    .err()
    .map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::InvalidInput));
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}
