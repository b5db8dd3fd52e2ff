//! Conditional requests (RFC 9110 section 13): `If-Match`,
//! `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` and `If-Range`,
//! evaluated against a file's entity tag and modification time.

use http::HeaderMap;
use http::header::{
    HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
};

/// What the preconditions of a `GET` or `HEAD` say to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Answer as usual.
    Proceed,
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// The validators of the representation being answered with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validators<'a> {
    /// The strong entity tag, quotes included.
    pub etag: &'a str,
    /// The modification time in whole seconds since the epoch, if known.
    pub modified: Option<u64>,
}

/// Evaluates the preconditions in the order RFC 9110 section 13.2.2 gives,
/// for a `GET` or `HEAD` (the only methods served).
pub(crate) fn evaluate(headers: &HeaderMap, v: Validators<'_>) -> Precondition {
    if let Some(list) = field_list(headers, &IF_MATCH) {
        if !matches(&list, v.etag, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (date(headers, &IF_UNMODIFIED_SINCE), v.modified)
    {
        if modified > since {
            return Precondition::Failed;
        }
    }
    if let Some(list) = field_list(headers, &IF_NONE_MATCH) {
        if matches(&list, v.etag, Comparison::Weak) {
            return Precondition::NotModified;
        }
    } else if let (Some(since), Some(modified)) = (date(headers, &IF_MODIFIED_SINCE), v.modified) {
        if modified <= since {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// Whether a `Range` may be honoured: no `If-Range`, or one whose entity tag
/// matches strongly or whose date equals the modification time exactly
/// (RFC 9110 section 13.1.5). A weak tag, another date or anything
/// unparseable means the whole representation is sent instead.
pub(crate) fn if_range_holds(headers: &HeaderMap, v: Validators<'_>) -> bool {
    let mut values = headers.get_all(IF_RANGE).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let Ok(text) = value.to_str() else {
        return false;
    };
    let text = text.trim();
    if text.starts_with('"') || text.starts_with("W/") {
        let tags = parse_tags(text);
        return matches!(tags.as_slice(), [Tag::Strong(t)] if *t == v.etag);
    }
    match (httpdate::parse_http_date(text), v.modified) {
        (Ok(date), Some(modified)) => seconds(date) == modified,
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Comparison {
    Strong,
    Weak,
}

/// One member of an `If-Match` / `If-None-Match` list.
#[derive(Debug, PartialEq, Eq)]
enum Tag<'a> {
    Any,
    /// An opaque tag, quotes included.
    Strong(&'a str),
    Weak(&'a str),
}

fn matches(list: &str, etag: &str, how: Comparison) -> bool {
    parse_tags(list).into_iter().any(|tag| match (tag, how) {
        (Tag::Any, _) => true,
        (Tag::Strong(t), _) => t == etag,
        (Tag::Weak(t), Comparison::Weak) => t == etag,
        (Tag::Weak(_), Comparison::Strong) => false,
    })
}

/// The members of an entity-tag list. A member that does not parse is
/// skipped, so it matches nothing; parsing goes quote by quote because an
/// opaque tag may itself hold commas.
fn parse_tags(list: &str) -> Vec<Tag<'_>> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return tags;
        }
        if let Some(after) = rest.strip_prefix('*') {
            tags.push(Tag::Any);
            rest = after;
            continue;
        }
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let closing = quoted
            .strip_prefix('"')
            .and_then(|inner| inner.find('"'))
            .map(|i| i + 2);
        match closing {
            Some(end) => {
                let opaque = &quoted[..end];
                tags.push(if weak {
                    Tag::Weak(opaque)
                } else {
                    Tag::Strong(opaque)
                });
                rest = &quoted[end..];
            }
            // Not a tag: skip to the next member.
            None => match rest.find(',') {
                Some(comma) => rest = &rest[comma..],
                None => return tags,
            },
        }
    }
}

/// All of `name`'s field lines joined into one list, if there is any.
fn field_list(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let parts: Vec<&str> = values.map(|v| v.to_str().unwrap_or("")).collect();
    Some(parts.join(","))
}

/// The date in `name`, in seconds since the epoch; `None` (the header is
/// ignored) when it is absent, repeated or not a valid HTTP-date.
fn date(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let date = httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()?;
    Some(seconds(date))
}

/// Whole seconds since the epoch (0 before it), the resolution of HTTP dates.
pub(crate) fn seconds(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_parse_quote_by_quote() {
        assert_eq!(
            parse_tags(r#" "a,b" , W/"c", *, junk, "d""#),
            vec![
                Tag::Strong(r#""a,b""#),
                Tag::Weak(r#""c""#),
                Tag::Any,
                Tag::Strong(r#""d""#)
            ]
        );
        assert_eq!(parse_tags(r#""unterminated"#), vec![]);
        assert_eq!(parse_tags(""), vec![]);
    }

    #[test]
    fn weak_tags_match_only_weakly() {
        assert!(matches(r#"W/"x""#, r#""x""#, Comparison::Weak));
        assert!(!matches(r#"W/"x""#, r#""x""#, Comparison::Strong));
        assert!(matches(r#""y", "x""#, r#""x""#, Comparison::Strong));
    }
}
