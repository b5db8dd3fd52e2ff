//! Putting handlers together: routes by path and method, and prefix mounts.

use http::uri::PathAndQuery;
use http::{Method, StatusCode, Uri};

use crate::path::{self, MountPrefix, canonical};
use crate::route::{Choice, Route};
use crate::{Bytes, Handler, Needs, Request, Response, response};

/// Sends each request to one of several handlers by its path and method:
/// first a [`route`](Router::route) whose pattern matches (literal routes
/// before those with `{name}` parameters), then the
/// [`mount`](Router::mount) with the longest matching prefix, else the
/// [`fallback`](Router::fallback) (`404 Not Found` unless set).
///
/// A route answers any method ([`route`](Router::route)) or the methods it
/// was given ([`get`](Router::get), [`post`](Router::post), ...,
/// [`on`](Router::on)): `HEAD` goes to `GET`'s handler, `OPTIONS` gets
/// `204` and another method `405`, both with `Allow` naming the route's
/// methods. Parameters reach the handler as a
/// [`PathParams`](crate::PathParams) extension.
///
/// Paths are compared in canonical form (percent-decoded once, `.` and `..`
/// resolved, re-encoded: what [`StaticFiles`](crate::StaticFiles) will
/// serve), and handlers receive that form; a path that cannot be decoded is
/// `400`. The query plays no part. The router asks the handler a request
/// goes to what it [`needs`](Handler::needs), so that a static mount runs on
/// the event loop and an API route on the worker pool.
///
/// ```
/// use otuserver_core::{Bytes, Handler, Request, Response, Router, response};
///
/// let app = Router::new()
///     .route("/health", |_req: Request| -> Response { response::text("ok\n") })
///     .get("/notes", |_req: Request| -> Response { response::json("[]") })
///     .post("/notes", |req: Request| -> Response { response::text(format!("{} bytes", req.body().len())) })
///     .mount("/api", |req: Request| -> Response {
///         // Mounted handlers see the path below their prefix.
///         response::text(format!("api saw {}\n", req.uri().path()))
///     });
///
/// let ask = |method: &str, path: &str| {
///     app.handle(http::Request::builder().method(method).uri(path).body(Bytes::new()).unwrap())
/// };
/// assert_eq!(ask("GET", "/health").status(), 200);
/// assert_eq!(ask("POST", "/notes").status(), 200);
/// assert_eq!(ask("DELETE", "/notes").status(), 405); // Allow: GET, POST, HEAD, OPTIONS
/// assert_eq!(ask("GET", "/api/users/7").body().len(), Some("api saw /users/7\n".len() as u64));
/// assert_eq!(ask("GET", "/api").status(), 301); // to "/api/"
/// assert_eq!(ask("GET", "/elsewhere").status(), 404);
/// ```
#[derive(Default)]
pub struct Router {
    /// Fewest parameters first, then in the order added.
    routes: Vec<Route>,
    /// Prefixes without a trailing slash (the root is `""`), longest first.
    mounts: Vec<(String, Box<dyn Handler>)>,
    fallback: Option<Box<dyn Handler>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<&str> = self.routes.iter().map(Route::raw).collect();
        let mounts: Vec<&str> = self.mounts.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("Router")
            .field("routes", &routes)
            .field("mounts", &mounts)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl Router {
    /// A router with no routes: everything is `404`.
    pub fn new() -> Self {
        Router::default()
    }

    /// Answers requests for `pattern` with `handler`, whatever their
    /// method (unless [`on`](Router::on) gave the method its own).
    pub fn route(self, pattern: &str, handler: impl Handler) -> Self {
        self.add(None, pattern, handler)
    }

    /// Answers `method` requests for `pattern` with `handler`.
    pub fn on(self, method: Method, pattern: &str, handler: impl Handler) -> Self {
        self.add(Some(method), pattern, handler)
    }

    /// Answers `GET` (and `HEAD`) requests for `pattern`.
    pub fn get(self, pattern: &str, handler: impl Handler) -> Self {
        self.on(Method::GET, pattern, handler)
    }

    /// Answers `POST` requests for `pattern`.
    pub fn post(self, pattern: &str, handler: impl Handler) -> Self {
        self.on(Method::POST, pattern, handler)
    }

    /// Answers `PUT` requests for `pattern`.
    pub fn put(self, pattern: &str, handler: impl Handler) -> Self {
        self.on(Method::PUT, pattern, handler)
    }

    /// Answers `PATCH` requests for `pattern`.
    pub fn patch(self, pattern: &str, handler: impl Handler) -> Self {
        self.on(Method::PATCH, pattern, handler)
    }

    /// Answers `DELETE` requests for `pattern`.
    pub fn delete(self, pattern: &str, handler: impl Handler) -> Self {
        self.on(Method::DELETE, pattern, handler)
    }

    fn add(mut self, method: Option<Method>, pattern: &str, handler: impl Handler) -> Self {
        let at = match self.routes.iter().position(|r| r.raw() == pattern) {
            Some(at) => at,
            None => {
                self.routes.push(Route::new(pattern));
                self.routes.sort_by_key(Route::params);
                self.routes
                    .iter()
                    .position(|r| r.raw() == pattern)
                    .unwrap_or(0)
            }
        };
        if let Some(route) = self.routes.get_mut(at) {
            route.set(method, Box::new(handler));
        }
        self
    }

    /// Passes requests for `prefix` and everything below it to `handler`,
    /// with the prefix removed from the path (`/static/app.js` reaches it as
    /// `/app.js`) and recorded as a [`MountPrefix`]. `prefix` itself,
    /// without a trailing slash, is redirected to the slash form. `"/"`
    /// mounts at the root.
    pub fn mount(mut self, prefix: &str, handler: impl Handler) -> Self {
        let prefix = canonical(prefix).unwrap_or_else(|| prefix.to_owned());
        let prefix = prefix.trim_end_matches('/').to_owned();
        self.mounts.push((prefix, Box::new(handler)));
        self.mounts.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        self
    }

    /// Answers what no route or mount matches (by default `404`).
    pub fn fallback(mut self, handler: impl Handler) -> Self {
        self.fallback = Some(Box::new(handler));
        self
    }

    /// The handler for `req` and the request as it should see it, or the
    /// router's own answer (`400`, a redirect, `404`, `405`, `204`).
    fn dispatch(&self, req: Request) -> Dispatch<'_> {
        match self.select(req) {
            Ok((handler, req)) => Dispatch::To(handler, req),
            Err(answer) => Dispatch::Answer(*answer),
        }
    }

    fn select(&self, mut req: Request) -> Result<(&dyn Handler, Request), Box<Response>> {
        // Match on the path as StaticFiles and most handlers will read it
        // (decoded once, dot segments resolved, re-encoded), so that
        // `//private`, `/x/../private` or `/%70rivate` cannot reach another
        // mount than `/private` does.
        let bad = || Box::new(response::status_page(StatusCode::BAD_REQUEST));
        let path = canonical(req.uri().path()).ok_or_else(bad)?;
        if path != req.uri().path() {
            *req.uri_mut() = with_path(req.uri(), &path).ok_or_else(bad)?;
        }
        for route in &self.routes {
            match route.choose(req.method(), &path) {
                None => continue,
                Some(Choice::Answer(resp)) => return Err(Box::new(resp)),
                Some(Choice::Handler(handler, params)) => {
                    req.extensions_mut().insert(params);
                    return Ok((handler, req));
                }
            }
        }
        for (prefix, handler) in &self.mounts {
            let Some(rest) = path.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if rest.is_empty() {
                return Err(Box::new(path::redirect(&req, &format!("{prefix}/"))));
            }
            if !rest.starts_with('/') {
                continue;
            }
            *req.uri_mut() = with_path(req.uri(), rest).ok_or_else(bad)?;
            let extensions = req.extensions_mut();
            let outer = extensions.remove::<MountPrefix>().unwrap_or_default();
            extensions.insert(MountPrefix(outer.0 + prefix));
            return Ok((&**handler, req));
        }
        match &self.fallback {
            Some(handler) => Ok((&**handler, req)),
            None => Err(Box::new(response::status_page(StatusCode::NOT_FOUND))),
        }
    }
}

impl Handler for Router {
    fn handle(&self, req: Request) -> Response {
        match self.dispatch(req) {
            Dispatch::To(handler, req) => handler.handle(req),
            Dispatch::Answer(answer) => answer,
        }
    }

    /// What the handler the request goes to needs; the router's own
    /// answers need nothing.
    fn needs(&self, req: &Request) -> Needs {
        let mut head = Request::new(Bytes::new());
        *head.method_mut() = req.method().clone();
        *head.uri_mut() = req.uri().clone();
        *head.version_mut() = req.version();
        *head.headers_mut() = req.headers().clone();
        *head.extensions_mut() = req.extensions().clone();
        match self.dispatch(head) {
            Dispatch::To(handler, head) => handler.needs(&head),
            Dispatch::Answer(_) => Needs::NOTHING,
        }
    }
}

/// Where a request goes: to a handler, as the request it should see, or
/// nowhere, with the router's own answer.
enum Dispatch<'a> {
    To(&'a dyn Handler, Request),
    Answer(Response),
}

/// `uri` with its path replaced by `path`, the query kept.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let rest = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(rest).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;

    fn echo(tag: &'static str) -> impl Handler {
        move |req: Request| -> Response {
            let prefix = req
                .extensions()
                .get::<MountPrefix>()
                .map(|m| m.0.clone())
                .unwrap_or_default();
            response::text(format!("{tag} {prefix} {}", req.uri()))
        }
    }

    fn body(resp: &Response) -> String {
        match resp.body() {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        }
    }

    fn ask(router: &Router, uri: &str) -> Response {
        router.handle(
            http::Request::builder()
                .uri(uri)
                .body(Bytes::new())
                .unwrap(),
        )
    }

    #[test]
    fn longest_prefix_wins_and_is_stripped() {
        let r = Router::new()
            .mount("/", echo("root"))
            .mount("/a", echo("a"))
            .mount("/a/b/", echo("ab"))
            .route("/a/exact", echo("exact"));
        assert_eq!(body(&ask(&r, "/a/b/c?x=1")), "ab /a/b /c?x=1");
        assert_eq!(body(&ask(&r, "/a/bc")), "a /a /bc");
        assert_eq!(body(&ask(&r, "/a/exact")), "exact  /a/exact");
        assert_eq!(body(&ask(&r, "/ab")), "root  /ab");
        assert_eq!(body(&ask(&r, "/")), "root  /");
    }

    #[test]
    fn odd_spellings_of_a_path_reach_the_mount_its_canonical_form_does() {
        let r = Router::new()
            .mount("/", echo("public"))
            .mount("/private", echo("guarded"))
            .mount("/my docs", echo("docs"))
            .route("/exact", echo("exact"));
        for path in [
            "//private/secret",
            "/x/../private/secret",
            "/./private/secret",
            "/%70rivate/secret",
        ] {
            assert_eq!(body(&ask(&r, path)), "guarded /private /secret", "{path}");
        }
        assert_eq!(body(&ask(&r, "/my%20docs/a")), "docs /my%20docs /a");
        assert_eq!(body(&ask(&r, "/a/../exact?q")), "exact  /exact?q");
        assert_eq!(ask(&r, "/%00").status(), 400);
    }

    #[test]
    fn a_bare_prefix_is_redirected_to_its_slash_form() {
        let r = Router::new().mount("/docs", echo("docs"));
        let resp = ask(&r, "/docs?page=2");
        assert_eq!(resp.status(), 301);
        assert_eq!(resp.headers()["location"], "/docs/?page=2");
    }

    #[test]
    fn nested_mounts_add_up_and_fallback_answers_the_rest() {
        let inner = Router::new().mount("/v1", echo("v1"));
        let r = Router::new()
            .mount("/api", inner)
            .fallback(|_req: Request| -> Response { response::text("fallback") });
        assert_eq!(body(&ask(&r, "/api/v1/users")), "v1 /api/v1 /users");
        assert_eq!(body(&ask(&r, "/nothing")), "fallback");
        assert_eq!(ask(&r, "/api/v2").status(), 404);
        // A bare inner prefix is redirected to where the client finds it.
        let resp = ask(&r, "/api/v1?q");
        assert_eq!(resp.status(), 301);
        assert_eq!(resp.headers()["location"], "/api/v1/?q");
        assert_eq!(ask(&Router::new(), "/").status(), 404);
    }
}
