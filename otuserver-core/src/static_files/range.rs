//! `Range: bytes=...` (RFC 9110 section 14): parsing, satisfiability,
//! coalescing, and the `multipart/byteranges` layout for several ranges.

use std::ops::RangeInclusive;

use http::HeaderMap;
use http::header::RANGE;

/// More range specs than this in one header is taken for an attack (many
/// tiny or overlapping ranges) and refused with `416`.
pub(crate) const MAX_RANGES: usize = 64;

/// What a `Range` header asks of a representation of a given length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No header, or one that does not parse: send everything (`200`).
    Whole,
    /// Nothing satisfiable, or too many ranges: `416`.
    Unsatisfiable,
    /// These byte ranges, non-overlapping, in the order to send them.
    Ranges(Vec<RangeInclusive<u64>>),
}

/// One range-spec as written.
enum Spec {
    /// `first-` or `first-last`.
    From(u64, Option<u64>),
    /// `-suffix`.
    Suffix(u64),
}

/// Reads the `Range` header of a request for a representation of `len`
/// bytes.
pub(crate) fn parse(headers: &HeaderMap, len: u64) -> RangeRequest {
    let mut values = headers.get_all(RANGE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return RangeRequest::Whole;
    };
    let Some(specs) = value.to_str().ok().and_then(parse_specs) else {
        return RangeRequest::Whole;
    };
    if specs.len() > MAX_RANGES {
        return RangeRequest::Unsatisfiable;
    }
    // A zero-length representation can satisfy only a suffix range, and
    // no Content-Range can describe that: send it whole.
    if len == 0 && specs.iter().any(|s| matches!(s, Spec::Suffix(n) if *n > 0)) {
        return RangeRequest::Whole;
    }
    let wanted: Vec<RangeInclusive<u64>> = specs
        .iter()
        .filter_map(|spec| match *spec {
            Spec::From(first, last) if first < len => {
                Some(first..=last.map_or(len - 1, |l| l.min(len - 1)))
            }
            Spec::Suffix(n) if n > 0 && len > 0 => Some(len - n.min(len)..=len - 1),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Ranges(coalesce(wanted))
}

/// `bytes=` and its specs; `None` if anything does not parse.
fn parse_specs(value: &str) -> Option<Vec<Spec>> {
    let (unit, set) = value.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // Empty list members are allowed (RFC 9110 section 5.6.1).
    for spec in set.split(',').map(|s| s.trim_matches([' ', '\t'])) {
        if spec.is_empty() {
            continue;
        }
        let (first, last) = spec.split_once('-')?;
        specs.push(if first.is_empty() {
            Spec::Suffix(number(last)?)
        } else {
            let first = number(first)?;
            let last = if last.is_empty() {
                None
            } else {
                Some(number(last)?)
            };
            if last.is_some_and(|l| l < first) {
                return None;
            }
            Spec::From(first, last)
        });
    }
    (!specs.is_empty()).then_some(specs)
}

/// Decimal digits only; values past `u64::MAX` saturate, which only ever
/// makes a range reach the end of the representation or beyond.
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Merges ranges that overlap or touch. When any merged, the result is in
/// ascending order; otherwise the requested order is kept (RFC 9110
/// section 14.6 lets a server coalesce, and asks it to keep the order).
fn coalesce(ranges: Vec<RangeInclusive<u64>>) -> Vec<RangeInclusive<u64>> {
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| *r.start());
    let mut merged: Vec<RangeInclusive<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if *r.start() <= last.end().saturating_add(1) => {
                let end = (*last.end()).max(*r.end());
                *last = *last.start()..=end;
            }
            _ => merged.push(r),
        }
    }
    if merged.len() < ranges.len() {
        merged
    } else {
        ranges
    }
}

/// The `Content-Range` value for `range` of `len` bytes.
pub(crate) fn content_range(range: &RangeInclusive<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start(), range.end())
}

/// The text before each part of a `multipart/byteranges` body and after
/// the last one (RFC 9110 section 14.6).
pub(crate) struct Multipart<'a> {
    pub boundary: &'a str,
    pub content_type: Option<&'a str>,
    pub len: u64,
}

impl Multipart<'_> {
    /// The delimiter and headers before the part for `range`.
    pub fn part_head(&self, range: &RangeInclusive<u64>, first: bool) -> String {
        let mut head = String::with_capacity(128);
        if !first {
            head.push_str("\r\n");
        }
        head.push_str("--");
        head.push_str(self.boundary);
        head.push_str("\r\n");
        if let Some(ct) = self.content_type {
            head.push_str("Content-Type: ");
            head.push_str(ct);
            head.push_str("\r\n");
        }
        head.push_str("Content-Range: ");
        head.push_str(&content_range(range, self.len));
        head.push_str("\r\n\r\n");
        head
    }

    /// The closing delimiter.
    pub fn tail(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ranges(value: &str, len: u64) -> RangeRequest {
        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_str(value).unwrap());
        parse(&headers, len)
    }

    fn some(v: &[(u64, u64)]) -> RangeRequest {
        RangeRequest::Ranges(v.iter().map(|&(a, b)| a..=b).collect())
    }

    #[test]
    fn single_ranges_of_every_form() {
        assert_eq!(ranges("bytes=0-4", 100), some(&[(0, 4)]));
        assert_eq!(ranges("bytes=90-", 100), some(&[(90, 99)]));
        assert_eq!(ranges("bytes=-10", 100), some(&[(90, 99)]));
        assert_eq!(ranges("bytes=-1000", 100), some(&[(0, 99)]));
        assert_eq!(ranges("BYTES=95-200", 100), some(&[(95, 99)]));
        assert_eq!(
            ranges("bytes=0-99999999999999999999999", 100),
            some(&[(0, 99)])
        );
    }

    #[test]
    fn unsatisfiable_and_invalid_are_told_apart() {
        assert_eq!(ranges("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(ranges("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(ranges("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(ranges("bytes=-5", 0), RangeRequest::Whole);
        for bad in [
            "bytes=5-1",
            "bytes=abc",
            "items=0-1",
            "bytes 0-1",
            "bytes=",
            "bytes=1",
            "bytes=+1-2",
            "bytes=--1",
        ] {
            assert_eq!(ranges(bad, 100), RangeRequest::Whole, "{bad}");
        }
    }

    #[test]
    fn overlapping_ranges_merge_and_others_keep_their_order() {
        assert_eq!(ranges("bytes=0-5,3-9", 100), some(&[(0, 9)]));
        assert_eq!(ranges("bytes=0-4, 5-9", 100), some(&[(0, 9)]));
        assert_eq!(
            ranges("bytes=50-59,0-5,3-9", 100),
            some(&[(0, 9), (50, 59)])
        );
        assert_eq!(ranges("bytes=50-59,,0-1", 100), some(&[(50, 59), (0, 1)]));
        assert_eq!(ranges("bytes=0-1,200-300", 100), some(&[(0, 1)]));
    }

    #[test]
    fn too_many_ranges_are_refused() {
        let many: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect();
        assert_eq!(
            ranges(&format!("bytes={}", many.join(",")), 1000),
            RangeRequest::Unsatisfiable
        );
    }
}
