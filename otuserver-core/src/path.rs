//! Request paths as this crate reads and writes them: decoded once, dot
//! segments resolved without climbing above the root, re-encoded into a
//! canonical form; the mount prefix a [`Router`](crate::Router) removes;
//! and the redirect to a path's slash form, as the client spells it.
//! Both the router and the static-files handler build on this, and on
//! nothing of each other.

use std::path::PathBuf;

use http::StatusCode;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::{ResolveError, Response, response};
#[cfg(test)]
use bytes::Bytes;

/// The part of the path a [`Router`](crate::Router) removed before passing
/// a request to a mounted handler (`"/static"`), found in the request's
/// extensions. A handler that builds absolute URLs, such as a redirect,
/// puts it in front; [`StaticFiles`](crate::StaticFiles) does. Nested
/// mounts add up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountPrefix(pub String);

/// Bytes percent-encoded in one path segment of a URL we generate
/// (redirects, listing links): everything that is not safe in a segment.
pub(crate) const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'\'');

/// A request path, decoded and resolved lexically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RequestPath {
    /// The segments left after `.` and `..` are applied, none of them empty,
    /// `.`, `..` or containing `/`.
    pub segments: Vec<String>,
    /// Whether the path names a directory form (ends in `/`, `/.` or `/..`).
    pub trailing_slash: bool,
}

impl RequestPath {
    /// The path relative to the root.
    pub fn relative(&self) -> PathBuf {
        self.segments.iter().collect()
    }

    /// The path one level down, at `name`.
    pub fn child(&self, name: &str) -> RequestPath {
        let mut segments = self.segments.clone();
        segments.push(name.to_owned());
        RequestPath {
            segments,
            trailing_slash: false,
        }
    }

    /// Whether any segment is a dotfile or dot-directory (`.env`, `.git`),
    /// save `.well-known` at the top (RFC 8615), which is public by design.
    pub fn is_hidden(&self) -> bool {
        self.segments
            .iter()
            .enumerate()
            .any(|(i, seg)| seg.starts_with('.') && !(i == 0 && seg == ".well-known"))
    }

    /// The normalized path as a URL path, each segment percent-encoded,
    /// with a trailing slash if `dir`.
    pub fn to_url(&self, dir: bool) -> String {
        let mut url = String::from("/");
        for seg in &self.segments {
            url.extend(utf8_percent_encode(seg, SEGMENT));
            url.push('/');
        }
        if !dir && !self.segments.is_empty() {
            url.pop();
        }
        url
    }
}

/// Percent-decodes `raw` (a URL path, without the query) once and resolves
/// its dot segments without ever going above the root (RFC 3986 section
/// 5.2.4). A decoded NUL or invalid UTF-8 is [`ResolveError::BadPath`].
pub(crate) fn decode(raw: &str) -> Result<RequestPath, ResolveError> {
    // Borrowed when nothing is escaped, as in most requests.
    let path = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ResolveError::BadPath)?;
    if path.contains('\0') {
        return Err(ResolveError::BadPath);
    }
    let mut segments: Vec<String> = Vec::new();
    let mut trailing_slash = true;
    for seg in path.split('/') {
        trailing_slash = matches!(seg, "" | "." | "..");
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(seg.to_owned()),
        }
    }
    Ok(RequestPath {
        segments,
        trailing_slash,
    })
}

/// A path in canonical form: decoded, dot segments resolved, re-encoded;
/// `None` if it can be no request's path.
pub(crate) fn canonical(raw: &str) -> Option<String> {
    let p = decode(raw).ok()?;
    Some(p.to_url(p.trailing_slash))
}

/// `301 Moved Permanently` to `path` (a URL path this crate built, so
/// already encoded) as the client of `req` knows it: behind the mount
/// prefix a router removed, with the request's query.
pub(crate) fn redirect<B>(req: &http::Request<B>, path: &str) -> Response {
    // The prefix is canonical, so encoded already; the query may hold raw
    // bytes above 0x7f, legal in a request-target but not in a header.
    let mut location: String = match req.extensions().get::<MountPrefix>() {
        Some(mount) => utf8_percent_encode(&mount.0, CONTROLS).collect(),
        None => String::new(),
    };
    location.push_str(path);
    if let Some(query) = req.uri().query() {
        location.push('?');
        location.extend(utf8_percent_encode(query, CONTROLS));
    }
    response::redirect(StatusCode::MOVED_PERMANENTLY, &location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(raw: &str) -> (Vec<String>, bool) {
        match decode(raw) {
            Ok(p) => (p.segments, p.trailing_slash),
            Err(e) => panic!("{raw}: {e}"),
        }
    }

    #[test]
    fn resolves_lexically_and_never_above_the_root() {
        let table: &[(&str, &[&str], bool)] = &[
            ("/", &[], true),
            ("", &[], true),
            ("/a/b.txt", &["a", "b.txt"], false),
            ("/a/b/", &["a", "b"], true),
            ("/a//b", &["a", "b"], false),
            ("/a/./b", &["a", "b"], false),
            ("/a/../b", &["b"], false),
            ("/../../../../etc/passwd", &["etc", "passwd"], false),
            ("/a/..", &[], true),
            ("/a/.", &["a"], true),
            ("/%2e%2e/%2E%2E/etc/passwd", &["etc", "passwd"], false),
            ("/a%2f..%2f..%2fb", &["b"], false),
            ("/..%5c..%5cetc", &["..\\..\\etc"], false),
            ("/space%20in%20name.txt", &["space in name.txt"], false),
            ("/%70%61%67%65%2e%68%74%6d%6c", &["page.html"], false),
            ("/%252e%252e/x", &["%2e%2e", "x"], false),
            ("/text..txt", &["text..txt"], false),
            ("/...", &["..."], false),
            ("/caf%C3%A9", &["café"], false),
        ];
        for (raw, want, slash) in table {
            let (got, got_slash) = segs(raw);
            assert_eq!(got, *want, "segments of {raw}");
            assert_eq!(got_slash, *slash, "trailing slash of {raw}");
        }
    }

    #[test]
    fn refuses_nul_and_invalid_utf8() {
        for raw in [
            "/a%00b",
            "/%00",
            "/%ff",
            "/%c0%ae%c0%ae/etc/passwd",
            "/%e2%82",
        ] {
            assert!(matches!(decode(raw), Err(ResolveError::BadPath)), "{raw}");
        }
    }

    #[test]
    fn dot_segments_are_hidden_save_well_known_at_the_top() {
        let hidden = |raw: &str| decode(raw).unwrap().is_hidden();
        for path in [
            "/.env",
            "/.git/config",
            "/a/.htpasswd",
            "/%2eenv",
            "/.well-known/.x",
            "/a/.well-known/x",
        ] {
            assert!(hidden(path), "{path}");
        }
        for path in [
            "/",
            "/a.b",
            "/.well-known/security.txt",
            "/.well-known/",
            "/a/b./c",
            "/x/../y",
        ] {
            assert!(!hidden(path), "{path}");
        }
    }

    #[test]
    fn urls_are_normalized_and_encoded() {
        let p = decode("//evil.example/%3F%23 x/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.to_url(true), "/evil.example/%3F%23%20x/");
        assert_eq!(p.to_url(false), "/evil.example/%3F%23%20x");
        let root = decode("/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.to_url(true), "/");
    }

    #[test]
    fn redirects_keep_the_mount_prefix_and_the_query() {
        let req = |uri: &str, prefix: Option<&str>| {
            let mut req = http::Request::builder()
                .uri(uri)
                .body(Bytes::new())
                .unwrap();
            if let Some(p) = prefix {
                req.extensions_mut().insert(MountPrefix(p.to_owned()));
            }
            req
        };
        let location = |resp: Response| resp.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location(redirect(&req("/d", None), "/d/")), "/d/");
        assert_eq!(
            location(redirect(&req("/d?x=1", Some("/static")), "/d/")),
            "/static/d/?x=1"
        );
        assert_eq!(
            location(redirect(&req("/d?caf%C3%A9=\u{e9}", None), "/d/")),
            "/d/?caf%C3%A9=%C3%A9"
        );
    }
}
