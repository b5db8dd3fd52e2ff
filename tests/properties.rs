//! Properties of the codec that must hold for any input (proptest): any
//! bytes give a request or a typed error, never a panic; a well-formed
//! request parses back to what was written; a response written by the
//! codec parses back to what the handler returned.

use otuserver_core::http::{HeaderName, HeaderValue, StatusCode};
use otuserver_core::http1::{HeadLimits, WriteOptions, encode, parse_head};
use otuserver_core::{Body, Response};
use proptest::prelude::*;

fn limits() -> HeadLimits {
    HeadLimits::new(4096, 1024)
}

/// Bytes that look like the start of HTTP, then anything.
fn near_http() -> impl Strategy<Value = Vec<u8>> {
    let start = prop_oneof![
        Just(b"GET / HTTP/1.1\r\n".to_vec()),
        Just(b"GET /a%2e%2e/b HTTP/1.0\r\nHost: x\r\n".to_vec()),
        Just(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n".to_vec()),
        Just(b"HEAD http://h/ HTTP/1.1\r\n".to_vec()),
        Just(Vec::new()),
    ];
    (start, prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_give_a_request_or_a_typed_error(bytes in near_http()) {
        match parse_head(&bytes, &limits()) {
            Ok(Some(head)) => {
                prop_assert!(head.len <= bytes.len() && head.len <= 4096);
                // A strict prefix of a complete head is only incomplete.
                for cut in [head.len - 1, head.len / 2] {
                    if let Err(e) = parse_head(&bytes[..cut], &limits()) {
                        prop_assert!(false, "prefix of {cut} bytes: {e}");
                    }
                }
            }
            Ok(None) => prop_assert!(bytes.len() < 4096),
            // Every parse error is answered, with a client-error or 505 status.
            Err(e) => {
                let status = e.status();
                prop_assert!(
                    status.is_some_and(|s| s.is_client_error() || s == StatusCode::HTTP_VERSION_NOT_SUPPORTED),
                    "{e}: {status:?}"
                );
            }
        }
    }

    #[test]
    fn a_well_formed_request_parses_back(
        method in prop_oneof![Just("GET"), Just("HEAD"), Just("POST"), Just("OPTIONS"), Just("BREW")],
        path in prop::collection::vec("[A-Za-z0-9._~%!$&'()*+,;=:@-]{1,12}", 0..6),
        query in prop::option::of("[A-Za-z0-9=&%-]{0,20}"),
        headers in prop::collection::vec(("x-[a-z]{1,10}", "[ -~]{0,30}"), 0..10),
    ) {
        let mut target = format!("/{}", path.join("/"));
        if let Some(q) = &query {
            target.push('?');
            target.push_str(q);
        }
        let mut text = format!("{method} {target} HTTP/1.1\r\nHost: example\r\n");
        for (name, value) in &headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let head = match parse_head(text.as_bytes(), &limits()) {
            Ok(Some(head)) => head,
            other => return Err(TestCaseError::fail(format!("{text:?}: {other:?}"))),
        };
        prop_assert_eq!(head.len, text.len());
        prop_assert_eq!(head.request.method().as_str(), method);
        prop_assert_eq!(head.request.uri().to_string(), target);
        for (name, value) in &headers {
            // Field values lose surrounding whitespace (RFC 9112 section 5).
            let got: Vec<&str> = head.request.headers().get_all(name.as_str()).iter()
                .map(|v| v.to_str().unwrap_or("?")).collect();
            prop_assert!(got.contains(&value.trim_matches([' ', '\t'])), "{name}: {got:?} vs {value:?}");
        }
    }

    #[test]
    fn a_written_response_parses_back(
        status in 200u16..600,
        headers in prop::collection::vec(("x-[a-z]{1,10}", "[!-~][ -~]{0,30}[!-~]"), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..40_000),
        head_only in any::<bool>(),
        keep_alive in any::<bool>(),
    ) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let mut resp = Response::new(Body::from(body.clone()));
        *resp.status_mut() = status;
        for (name, value) in &headers {
            resp.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap_or(HeaderName::from_static("x-a")),
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("v")),
            );
        }
        let encoded = encode(resp, WriteOptions::new(head_only, keep_alive));
        let mut bytes = encoded.head().to_vec();
        if let Body::Bytes(rest) = encoded.body() {
            bytes.extend_from_slice(rest);
        }

        let mut parsed = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut parsed);
        let len = match r.parse(&bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(r.code, Some(status.as_u16()));
        let get = |name: &str| r.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned()).collect::<Vec<_>>();
        for (name, value) in &headers {
            prop_assert!(get(name).contains(value), "{name}");
        }
        prop_assert_eq!(get("connection"), vec![if keep_alive { "keep-alive" } else { "close" }.to_owned()]);
        let bodiless = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        if bodiless {
            prop_assert!(get("content-length").is_empty());
            prop_assert_eq!(len, bytes.len());
        } else {
            prop_assert_eq!(get("content-length"), vec![body.len().to_string()]);
            let sent = &bytes[len..];
            if head_only {
                prop_assert!(sent.is_empty());
            } else {
                prop_assert_eq!(sent, &body[..]);
            }
        }
    }
}
