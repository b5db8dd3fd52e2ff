//! From a request path to a file inside the document root, and never outside.
//!
//! Two independent fences: the decoded path is resolved lexically, so `..`
//! can never climb above the root; then the real path (symlinks followed) is
//! checked to lie inside the canonical root.

use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::ResolveError;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    if bytes.contains(&0) {
        return Err(ResolveError::BadPath);
    }
    let path = String::from_utf8(bytes).map_err(|_| ResolveError::BadPath)?;
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

/// The real path of `candidate`, if and only if it exists and lies inside
/// `root` (which must itself be canonical).
pub(crate) fn confine(root: &Path, candidate: &Path) -> Result<PathBuf, ResolveError> {
    let real = candidate.canonicalize()?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(ResolveError::Forbidden)
    }
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
    fn urls_are_normalized_and_encoded() {
        let p = decode("//evil.example/%3F%23 x/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.to_url(true), "/evil.example/%3F%23%20x/");
        assert_eq!(p.to_url(false), "/evil.example/%3F%23%20x");
        let root = decode("/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.to_url(true), "/");
    }
}
