//! Pages served in place of an error: the fallback page of a single-page
//! app (its routes are paths no file has) and custom error pages. Both are
//! files under the root, found by the same resolver as any request.

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Method, StatusCode};

use crate::path::{self, RequestPath};
use crate::{Bytes, Request, Response};

/// The pages a [`StaticFiles`](super::StaticFiles) serves in place of errors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pages {
    fallback: Option<RequestPath>,
    errors: Vec<(StatusCode, RequestPath)>,
}

impl Pages {
    pub fn set_fallback(&mut self, page: &str) {
        self.fallback = path::decode(&format!("/{}", page.trim_start_matches('/'))).ok();
    }

    pub fn set_error(&mut self, status: StatusCode, page: &str) {
        if let Ok(page) = path::decode(&format!("/{}", page.trim_start_matches('/'))) {
            self.errors.retain(|(s, _)| *s != status);
            self.errors.push((status, page));
        }
    }

    /// The fallback page for `req`, answered `resp` (`404`), if it should
    /// get one: a `GET` or `HEAD` from a client that accepts `text/html`,
    /// for a path with no extension (an asset that is missing stays
    /// missing) that is no dotfile.
    pub fn fallback_for(&self, req: &Request, resp: &Response) -> Option<&RequestPath> {
        let page = self.fallback.as_ref()?;
        if resp.status() != StatusCode::NOT_FOUND
            || (req.method() != Method::GET && req.method() != Method::HEAD)
            || !accepts_html(req)
        {
            return None;
        }
        let asked = path::decode(req.uri().path()).ok()?;
        let last = asked.segments.last().map_or("", String::as_str);
        (!asked.is_hidden() && !last.contains('.')).then_some(page)
    }

    /// The page for `status`, if one is set.
    pub fn error_for(&self, status: StatusCode) -> Option<&RequestPath> {
        if !(status.is_client_error() || status.is_server_error()) {
            return None;
        }
        self.errors
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, p)| p)
    }
}

/// Whether `req` names `text/html` in its `Accept` (with a q above 0).
fn accepts_html(req: &Request) -> bool {
    req.headers().get_all(ACCEPT).iter().any(|v| {
        v.to_str().is_ok_and(|text| {
            text.split(',').any(|item| {
                let mut parts = item.split(';');
                let range = parts.next().unwrap_or("").trim();
                let zero = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                range.eq_ignore_ascii_case("text/html") && !zero
            })
        })
    })
}

/// `error` (its status and headers) with the body and type of `page`, a
/// response for the page's file.
pub(crate) fn with_page(mut error: Response, page: Response) -> Response {
    let (parts, body) = page.into_parts();
    if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
        error.headers_mut().insert(CONTENT_TYPE, ct.clone());
    }
    *error.body_mut() = body;
    error
}

/// A plain `GET` for `page`, with none of the client's conditions or
/// ranges: what an error page is served from.
pub(crate) fn plain_get(page: &RequestPath) -> Option<Request> {
    http::Request::builder()
        .uri(page.to_url(false))
        .body(Bytes::new())
        .ok()
}
