//! Choosing a precompressed variant from `Accept-Encoding` (RFC 9110
//! section 12.5.3).

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// A content coding a file may be stored in beside the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Br,
    Gzip,
}

impl Coding {
    /// Preferred first when the client rates several the same: `br` makes
    /// the smaller files.
    pub const ALL: [Coding; 2] = [Coding::Br, Coding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of the file that holds this variant.
    pub fn extension(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gz",
        }
    }
}

/// The coding to answer with, among those `available`: the one the client
/// rates highest, if it rates it above zero and no lower than `identity`
/// as the client rates it, by name or through `*`. Without an `Accept-Encoding` header, none: a
/// client that does not say it takes gzip never gets gzip.
pub(crate) fn choose(headers: &HeaderMap, available: impl Fn(Coding) -> bool) -> Option<Coding> {
    let mut values = headers.get_all(ACCEPT_ENCODING).iter().peekable();
    values.peek()?;
    let mut q_br = None;
    let mut q_gzip = None;
    let mut q_identity = None;
    let mut q_any = None;
    for member in values.flat_map(|v| v.to_str().unwrap_or("").split(',')) {
        let mut params = member.split(';');
        let coding = params.next().unwrap_or("").trim();
        if coding.is_empty() {
            continue;
        }
        let q = params
            .find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| qvalue(value.trim()))
            })
            .unwrap_or(Some(1000));
        // A malformed weight counts as "not acceptable".
        let q = q.unwrap_or(0);
        let slot = if coding.eq_ignore_ascii_case("br") {
            &mut q_br
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut q_gzip
        } else if coding.eq_ignore_ascii_case("identity") {
            &mut q_identity
        } else if coding == "*" {
            &mut q_any
        } else {
            continue;
        };
        *slot = Some(q);
    }
    // The original wins over a variant only when the client rates
    // `identity` higher, by name or through `*`: a client that just lists
    // codings wants one.
    let identity = q_identity.or(q_any).unwrap_or(0);
    let rate = |c: Coding| {
        match c {
            Coding::Br => q_br,
            Coding::Gzip => q_gzip,
        }
        .or(q_any)
        .unwrap_or(0)
    };
    Coding::ALL
        .into_iter()
        .filter(|&c| available(c) && rate(c) > 0 && rate(c) >= identity)
        .max_by_key(|&c| (rate(c), std::cmp::Reverse(c as u8)))
}

/// A weight as thousandths: `1`, `0.5`, `0.125`; `None` if malformed.
fn qvalue(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// Whether `Accept` rates `application/json` above `text/html` (each by
/// its most specific range: `application/json`, `application/*`, `*/*`).
/// Browsers ask for HTML first; `Accept: application/json` gets JSON.
pub(crate) fn prefers_json(headers: &HeaderMap) -> bool {
    // (specificity, q) for JSON, then for HTML.
    let mut best = [(0u8, 0.0f32); 2];
    for value in headers.get_all(http::header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .next()
                .unwrap_or(1.0);
            for (i, (kind, sub)) in [("application", "json"), ("text", "html")]
                .iter()
                .enumerate()
            {
                let specificity = match range.split_once('/') {
                    Some((k, s)) if k == *kind && s == *sub => 3,
                    Some((k, "*")) if k == *kind => 2,
                    Some(("*", "*")) => 1,
                    _ => 0,
                };
                if specificity > best[i].0 {
                    best[i] = (specificity, q);
                }
            }
        }
    }
    best[0].1 > best[1].1
}

#[cfg(test)]
mod tests {

    #[test]
    fn json_when_accept_rates_it_above_html() {
        let prefers = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::ACCEPT, accept.parse().unwrap());
            prefers_json(&h)
        };
        assert!(prefers("application/json"));
        assert!(prefers("application/json, text/html;q=0.5"));
        assert!(prefers("application/*"));
        assert!(!prefers("text/html,application/xhtml+xml,*/*;q=0.8"));
        assert!(!prefers("*/*"));
        assert!(!prefers("text/html, application/json"));
        assert!(!prefers("application/json;q=0, text/html"));
        assert!(!prefers(""));
    }
    use super::*;
    use http::HeaderValue;

    fn pick(accept: Option<&str>, have: &[Coding]) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(a).unwrap());
        }
        choose(&headers, |c| have.contains(&c))
    }

    #[test]
    fn weights_decide_and_br_wins_ties() {
        let both = &[Coding::Br, Coding::Gzip];
        assert_eq!(pick(None, both), None);
        assert_eq!(pick(Some(""), both), None);
        assert_eq!(pick(Some("gzip"), both), Some(Coding::Gzip));
        assert_eq!(pick(Some("gzip, br"), both), Some(Coding::Br));
        assert_eq!(pick(Some("br;q=0, gzip"), both), Some(Coding::Gzip));
        assert_eq!(pick(Some("gzip;q=0"), both), None);
        assert_eq!(pick(Some("gzip;q=0.5, br;q=0.8"), both), Some(Coding::Br));
        assert_eq!(pick(Some("gzip;q=1, br;q=0.5"), both), Some(Coding::Gzip));
        assert_eq!(pick(Some("*"), both), Some(Coding::Br));
        assert_eq!(pick(Some("*;q=0"), both), None);
        assert_eq!(pick(Some("identity"), both), None);
        assert_eq!(pick(Some("GZIP"), both), Some(Coding::Gzip));
        assert_eq!(pick(Some("x-gzip"), both), Some(Coding::Gzip));
        assert_eq!(pick(Some("gzip;q=0.5, identity"), both), None);
        assert_eq!(
            pick(Some("gzip;q=0.5, identity;q=0.1"), both),
            Some(Coding::Gzip)
        );
        assert_eq!(pick(Some("gzip;q=abc"), both), None);
        // `*` rates both br and identity here: a tie, which br wins.
        assert_eq!(pick(Some("*;q=0.5, gzip;q=0.1"), both), Some(Coding::Br));
        assert_eq!(pick(Some("*;q=0.5, gzip;q=0.1"), &[Coding::Gzip]), None);
        assert_eq!(pick(Some("*;q=0.5, gzip"), both), Some(Coding::Gzip));
        assert_eq!(pick(Some("br"), &[Coding::Gzip]), None);
    }

    #[test]
    fn qvalues_parse_strictly() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.125"), Some(125));
        assert_eq!(qvalue("0"), Some(0));
        for bad in ["1.5", "2", "0.1234", "-1", "", "0.x"] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }
}
