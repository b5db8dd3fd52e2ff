//! Handlers that wrap any handler: fixed response headers, and CORS.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderMap, HeaderValue, ORIGIN, VARY,
};
use http::{Method, StatusCode};

use crate::{Handler, Needs, Request, Response};

/// Adds `headers` to every response of the handler it wraps, in place of
/// any the handler set under the same names; a name given several values
/// (several `Link` fields, say) gets them all.
///
/// ```
/// use otuserver_core::http::{HeaderMap, HeaderValue};
/// use otuserver_core::{Handler, Request, Response, WithHeaders, response};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
/// let app = WithHeaders::new(|_req: Request| -> Response { response::text("hi") }, headers);
/// assert_eq!(app.handle(Request::default()).headers()["x-frame-options"], "DENY");
/// ```
#[derive(Debug, Clone)]
pub struct WithHeaders<H> {
    inner: H,
    headers: HeaderMap,
}

impl<H: Handler> WithHeaders<H> {
    /// `inner`, its responses given `headers`.
    pub fn new(inner: H, headers: HeaderMap) -> Self {
        WithHeaders { inner, headers }
    }
}

impl<H: Handler> Handler for WithHeaders<H> {
    fn handle(&self, req: Request) -> Response {
        let mut resp = self.inner.handle(req);
        let out = resp.headers_mut();
        for name in self.headers.keys() {
            out.remove(name);
            for value in self.headers.get_all(name) {
                out.append(name.clone(), value.clone());
            }
        }
        resp
    }

    fn needs(&self, req: &Request) -> Needs {
        self.inner.needs(req)
    }
}

/// Which origins may read responses across origins.
#[derive(Debug, Clone)]
enum Origins {
    Any,
    /// Exactly these (`https://app.example`), compared as sent.
    List(Vec<HeaderValue>),
}

/// Cross-origin resource sharing around any handler: a request with an
/// allowed `Origin` gets `Access-Control-Allow-Origin` (`*`, or the origin
/// itself with `Vary: Origin` for an allow-list), and a preflight
/// (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin
/// is answered `204` with the allowed methods and headers, without reaching
/// the handler. A request without `Origin`, or from an origin not allowed,
/// goes to the handler untouched (with an allow-list, responses say
/// `Vary: Origin`, so that a cache does not hand one origin's answer to
/// another).
///
/// ```
/// use otuserver_core::{Bytes, Cors, Handler, Request, Response, http, response};
///
/// let app = Cors::any(|_req: Request| -> Response { response::json("[]") });
/// let req = http::Request::builder().header("origin", "https://a.example").body(Bytes::new())?;
/// assert_eq!(app.handle(req).headers()["access-control-allow-origin"], "*");
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cors<H> {
    inner: H,
    origins: Origins,
    methods: HeaderValue,
}

/// How long a browser may keep a preflight's answer.
const MAX_AGE: &str = "600";
/// Response headers a page may read beyond the CORS-safelisted ones.
const EXPOSED: &str = "ETag, Last-Modified, Content-Range, Accept-Ranges, Content-Length";

impl<H: Handler> Cors<H> {
    /// Any origin may read `inner`'s responses (`Access-Control-Allow-Origin: *`).
    pub fn any(inner: H) -> Self {
        Cors {
            inner,
            origins: Origins::Any,
            methods: HeaderValue::from_static("GET, HEAD, OPTIONS"),
        }
    }

    /// Only `origins` (such as `https://app.example`) may; `None` if one of
    /// them could not be a header value.
    pub fn allow<'a>(inner: H, origins: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let list = origins
            .into_iter()
            .map(|o| HeaderValue::from_str(o.trim()).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Cors {
            inner,
            origins: Origins::List(list),
            methods: HeaderValue::from_static("GET, HEAD, OPTIONS"),
        })
    }

    /// The methods a preflight allows (default `GET, HEAD, OPTIONS`, what
    /// static files answer).
    pub fn methods(mut self, methods: HeaderValue) -> Self {
        self.methods = methods;
        self
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, if it
    /// is allowed.
    fn allowed(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            Origins::Any => Some(HeaderValue::from_static("*")),
            Origins::List(list) => list.contains(origin).then(|| origin.clone()),
        }
    }

    fn is_preflight(req: &Request) -> bool {
        req.method() == Method::OPTIONS
            && req.headers().contains_key(ORIGIN)
            && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }
}

impl<H: Handler> Handler for Cors<H> {
    fn handle(&self, req: Request) -> Response {
        let allow = req.headers().get(ORIGIN).and_then(|o| self.allowed(o));
        if let (true, Some(allow)) = (Self::is_preflight(&req), &allow) {
            let mut resp = Response::default();
            *resp.status_mut() = StatusCode::NO_CONTENT;
            let headers = resp.headers_mut();
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow.clone());
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
            if let Some(asked) = req
                .headers()
                .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            {
                headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
            if let Origins::List(_) = self.origins {
                headers.append(VARY, HeaderValue::from_static("Origin"));
            }
            return resp;
        }
        let mut resp = self.inner.handle(req);
        let headers = resp.headers_mut();
        if let Origins::List(_) = self.origins {
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(allow) = allow {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
        resp
    }

    fn needs(&self, req: &Request) -> Needs {
        let allowed = req.headers().get(ORIGIN).and_then(|o| self.allowed(o));
        if Self::is_preflight(req) && allowed.is_some() {
            return Needs::NOTHING;
        }
        self.inner.needs(req)
    }
}
