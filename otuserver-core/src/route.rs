//! One route of a [`Router`](crate::Router): a path pattern, with literal
//! segments and `{name}` parameters, and the handlers for its methods.

use http::header::{ALLOW, HeaderValue};
use http::{Method, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode};

use crate::path::SEGMENT;
use crate::{Handler, Response, response};

/// The values of a route's `{name}` segments, percent-decoded, found in the
/// extensions of a request a [`Router`](crate::Router) passes on.
///
/// ```
/// use otuserver_core::{Bytes, Handler, PathParams, Request, Response, Router, response};
///
/// let app = Router::new().get("/notes/{id}", |req: Request| -> Response {
///     let params = req.extensions().get::<PathParams>();
///     response::text(format!("note {}", params.and_then(|p| p.get("id")).unwrap_or("?")))
/// });
/// let resp = app.handle(http::Request::builder().uri("/notes/7").body(Bytes::new()).unwrap());
/// assert_eq!(resp.status(), 200);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// The value of parameter `name`, if the route has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the pattern's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    /// Percent-encoded as a canonical path is.
    Literal(String),
    Param(String),
}

/// A path pattern: `/health`, `/notes/{id}`.
#[derive(Debug)]
struct Pattern(Vec<Segment>);

impl Pattern {
    fn parse(pattern: &str) -> Pattern {
        let segments = pattern
            .trim_start_matches('/')
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() => Segment::Param(name.to_owned()),
                    _ => {
                        let decoded = percent_decode_str(seg).decode_utf8_lossy();
                        Segment::Literal(utf8_percent_encode(&decoded, SEGMENT).to_string())
                    }
                },
            )
            .collect();
        Pattern(segments)
    }

    fn params(&self) -> usize {
        self.0
            .iter()
            .filter(|s| matches!(s, Segment::Param(_)))
            .count()
    }

    /// The parameters if `path` (canonical) matches.
    fn matches(&self, path: &str) -> Option<PathParams> {
        let mut values = path.trim_start_matches('/').split('/');
        let mut params = Vec::new();
        for segment in &self.0 {
            let value = values.next()?;
            match segment {
                Segment::Literal(lit) if lit == value => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if value.is_empty() => return None,
                Segment::Param(name) => {
                    let decoded = percent_decode_str(value).decode_utf8().ok()?;
                    params.push((name.clone(), decoded.into_owned()));
                }
            }
        }
        match values.next() {
            Some(_) => None,
            None => Some(PathParams(params)),
        }
    }
}

/// A pattern and its handlers: one per method, and perhaps one for any.
pub(crate) struct Route {
    raw: String,
    pattern: Pattern,
    methods: Vec<(Method, Box<dyn Handler>)>,
    any: Option<Box<dyn Handler>>,
}

/// What a route does with a request.
pub(crate) enum Choice<'a> {
    Handler(&'a dyn Handler, PathParams),
    /// `405`, `204` for `OPTIONS`: answered by the route itself.
    Answer(Response),
}

impl Route {
    pub fn new(pattern: &str) -> Route {
        Route {
            raw: pattern.to_owned(),
            pattern: Pattern::parse(pattern),
            methods: Vec::new(),
            any: None,
        }
    }

    /// The pattern as it was given.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// How many `{name}` segments it has: routes with fewer are tried first.
    pub fn params(&self) -> usize {
        self.pattern.params()
    }

    /// Sets the handler for `method`, or for any method not set otherwise.
    pub fn set(&mut self, method: Option<Method>, handler: Box<dyn Handler>) {
        match method {
            None => self.any = Some(handler),
            Some(m) => {
                self.methods.retain(|(have, _)| *have != m);
                self.methods.push((m, handler));
            }
        }
    }

    /// What answers `method` on `path`, or `None` if `path` is not this
    /// route's. `HEAD` goes to `GET`'s handler unless it has its own; a
    /// method with none is `405`, and `OPTIONS` `204`, each with `Allow`.
    pub fn choose(&self, method: &Method, path: &str) -> Option<Choice<'_>> {
        let params = self.pattern.matches(path)?;
        let find = |m: &Method| self.methods.iter().find(|(have, _)| have == m);
        let found =
            find(method).or_else(|| (*method == Method::HEAD).then(|| find(&Method::GET))?);
        if let Some((_, handler)) = found {
            return Some(Choice::Handler(&**handler, params));
        }
        if let Some(handler) = &self.any {
            return Some(Choice::Handler(&**handler, params));
        }
        let status = match *method {
            Method::OPTIONS => StatusCode::NO_CONTENT,
            _ => StatusCode::METHOD_NOT_ALLOWED,
        };
        let mut resp = match status {
            StatusCode::NO_CONTENT => {
                let mut r = Response::default();
                *r.status_mut() = status;
                r
            }
            _ => response::status_page(status),
        };
        if let Ok(allow) = HeaderValue::from_str(&self.allow()) {
            resp.headers_mut().insert(ALLOW, allow);
        }
        Some(Choice::Answer(resp))
    }

    /// The methods it answers, for `Allow`.
    fn allow(&self) -> String {
        let mut names: Vec<&str> = self.methods.iter().map(|(m, _)| m.as_str()).collect();
        if names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        if !names.contains(&"OPTIONS") {
            names.push("OPTIONS");
        }
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_literals_and_parameters() {
        let p = Pattern::parse("/notes/{id}");
        assert_eq!(
            p.matches("/notes/7")
                .and_then(|m| m.get("id").map(str::to_owned)),
            Some("7".into())
        );
        assert_eq!(
            p.matches("/notes/caf%C3%A9")
                .and_then(|m| m.get("id").map(str::to_owned)),
            Some("café".into())
        );
        for path in ["/notes", "/notes/", "/notes/7/x", "/note/7", "/"] {
            assert!(p.matches(path).is_none(), "{path}");
        }
        let p = Pattern::parse("/my docs/{a}/{b}");
        let m = p.matches("/my%20docs/1/2").unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert!(Pattern::parse("/").matches("/").is_some());
        assert!(Pattern::parse("/x/").matches("/x").is_none());
    }
}
