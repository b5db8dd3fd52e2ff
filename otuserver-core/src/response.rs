//! Small constructors for common responses.

use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};

use crate::{Body, Response};

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// A response with `status`, a `Content-Type` and a body.
pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `200 OK` with a plain-text body.
pub fn text(body: impl Into<Body>) -> Response {
    with_body(StatusCode::OK, TEXT_PLAIN, body)
}

/// `200 OK` with an HTML body.
pub fn html(body: impl Into<Body>) -> Response {
    with_body(StatusCode::OK, TEXT_HTML, body)
}

/// `200 OK` with a JSON body (the caller serializes it).
pub fn json(body: impl Into<Body>) -> Response {
    with_body(StatusCode::OK, "application/json", body)
}

/// A response with `status` and a small HTML page naming it, such as
/// `404 Not Found`.
pub fn status_page(status: StatusCode) -> Response {
    let line = match status.canonical_reason() {
        Some(reason) => format!("{} {}", status.as_u16(), reason),
        None => status.as_u16().to_string(),
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{line}</title></head>\
         <body><h1>{line}</h1><hr><p>otuserver</p></body></html>\n"
    );
    with_body(status, TEXT_HTML, page)
}

/// A redirect with `status` (such as `301 Moved Permanently`) to `location`.
///
/// The caller is responsible for `location` being a valid header value
/// (visible ASCII); a value that is not gives `500 Internal Server Error`.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut resp = status_page(status);
            resp.headers_mut().insert(LOCATION, value);
            resp
        }
        Err(_) => status_page(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_page_names_the_status() {
        let resp = status_page(StatusCode::NOT_FOUND);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let Body::Bytes(b) = resp.body() else {
            panic!("status page body is in memory")
        };
        let text = std::str::from_utf8(b).unwrap_or_default();
        assert!(text.contains("<title>404 Not Found</title>"), "{text}");
        assert_eq!(resp.headers()[CONTENT_TYPE], TEXT_HTML);
    }

    #[test]
    fn redirect_refuses_header_injection() {
        let resp = redirect(StatusCode::MOVED_PERMANENTLY, "/a\r\nSet-Cookie: x=1");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(resp.headers().get(LOCATION).is_none());
    }
}
