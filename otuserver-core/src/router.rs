//! Putting handlers together: exact routes and prefix mounts.

use http::uri::PathAndQuery;
use http::{StatusCode, Uri};

use crate::path::{self, MountPrefix, canonical};
use crate::{Handler, Request, Response, response};

/// Sends each request to one of several handlers by its path: first an
/// exact [`route`](Router::route), then the [`mount`](Router::mount) with
/// the longest matching prefix, else the [`fallback`](Router::fallback)
/// (`404 Not Found` unless set). Paths are compared in canonical form
/// (percent-decoded once, `.` and `..` resolved, re-encoded: what
/// [`StaticFiles`](crate::StaticFiles) will serve), and handlers receive
/// that form; a path that cannot be decoded is `400`. The query plays no
/// part.
///
/// ```
/// use otuserver_core::{Handler, Request, Response, Router, response};
///
/// let app = Router::new()
///     .route("/health", |_req: Request| -> Response { response::text("ok\n") })
///     .mount("/api", |req: Request| -> Response {
///         // Mounted handlers see the path below their prefix.
///         response::text(format!("api saw {}\n", req.uri().path()))
///     });
///
/// let ask = |path: &str| app.handle(Request::builder().uri(path).body(()).unwrap());
/// assert_eq!(ask("/health").status(), 200);
/// assert_eq!(ask("/api/users/7").body().len(), "api saw /users/7\n".len() as u64);
/// assert_eq!(ask("/api").status(), 301); // to "/api/"
/// assert_eq!(ask("/elsewhere").status(), 404);
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<(String, Box<dyn Handler>)>,
    /// Prefixes without a trailing slash (the root is `""`), longest first.
    mounts: Vec<(String, Box<dyn Handler>)>,
    fallback: Option<Box<dyn Handler>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<&str> = self.routes.iter().map(|(p, _)| p.as_str()).collect();
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

    /// Answers requests for exactly `path` with `handler`.
    pub fn route(mut self, path: &str, handler: impl Handler) -> Self {
        let path = canonical(path).unwrap_or_else(|| path.to_owned());
        self.routes.push((path, Box::new(handler)));
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
}

impl Handler for Router {
    fn handle(&self, mut req: Request) -> Response {
        // Match on the path as StaticFiles and most handlers will read it
        // (decoded once, dot segments resolved, re-encoded), so that
        // `//private`, `/x/../private` or `/%70rivate` cannot reach another
        // mount than `/private` does.
        let Some(path) = canonical(req.uri().path()) else {
            return response::status_page(StatusCode::BAD_REQUEST);
        };
        if path != req.uri().path() {
            match with_path(req.uri(), &path) {
                Some(uri) => *req.uri_mut() = uri,
                None => return response::status_page(StatusCode::BAD_REQUEST),
            }
        }
        if let Some((_, handler)) = self.routes.iter().find(|(p, _)| *p == path) {
            return handler.handle(req);
        }
        for (prefix, handler) in &self.mounts {
            let Some(rest) = path.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if rest.is_empty() {
                return path::redirect(&req, &format!("{prefix}/"));
            }
            if !rest.starts_with('/') {
                continue;
            }
            let Some(uri) = with_path(req.uri(), rest) else {
                return response::status_page(StatusCode::BAD_REQUEST);
            };
            *req.uri_mut() = uri;
            let extensions = req.extensions_mut();
            let outer = extensions.remove::<MountPrefix>().unwrap_or_default();
            extensions.insert(MountPrefix(outer.0 + prefix));
            return handler.handle(req);
        }
        match &self.fallback {
            Some(handler) => handler.handle(req),
            None => response::status_page(StatusCode::NOT_FOUND),
        }
    }
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
        router.handle(Request::builder().uri(uri).body(()).unwrap())
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
