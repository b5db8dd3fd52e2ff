//! HTTP dates: the `Date` header, cached per second, and file times.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last instant httpdate can format (9999-12-31T23:59:59Z); it panics
/// past it, and before the epoch.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// `time` clamped to the range `httpdate` formats without panicking.
fn clamp(time: SystemTime) -> SystemTime {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs().min(MAX_HTTP_DATE_SECS),
        Err(_) => 0,
    };
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// `time` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); times before
/// 1970 or after 9999 are clamped, never a panic.
pub fn fmt_http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(clamp(time))
}

thread_local! {
    static NOW: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Calls `f` with the current time as an IMF-fixdate, formatted at most once
/// a second per thread.
pub(crate) fn with_now<R>(f: impl FnOnce(&str) -> R) -> R {
    let now = clamp(SystemTime::now());
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    NOW.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            cached.1 = httpdate::fmt_http_date(now);
            cached.0 = secs;
        }
        f(&cached.1)
    })
}

/// `time` as RFC 3339 (`2026-11-24T09:39:19Z`), clamped as HTTP dates are.
pub(crate) fn iso(time: SystemTime) -> String {
    imf_to_iso(&fmt_http_date(time))
}

/// The current time as RFC 3339, for the server's JSON access log.
#[cfg(feature = "server")]
pub(crate) fn iso_now() -> String {
    with_now(imf_to_iso)
}

/// An IMF-fixdate ("Tue, 24 Nov 2026 09:39:19 GMT": fixed columns) as
/// RFC 3339.
fn imf_to_iso(d: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = d
        .get(8..11)
        .and_then(|m| MONTHS.iter().position(|&n| n == m));
    match (d.get(5..7), month, d.get(12..16), d.get(17..25)) {
        (Some(day), Some(m), Some(year), Some(time)) => {
            format!("{year}-{:02}-{day}T{time}Z", m + 1)
        }
        _ => String::from("1970-01-01T00:00:00Z"),
    }
}

/// The current time in Common Log Format (`24/Nov/2026:09:39:19 +0000`),
/// for the server's access log.
#[cfg(feature = "server")]
pub(crate) fn clf_now() -> String {
    // IMF-fixdate has fixed columns: "Tue, 24 Nov 2026 09:39:19 GMT".
    with_now(
        |d| match (d.get(5..7), d.get(8..11), d.get(12..16), d.get(17..25)) {
            (Some(day), Some(mon), Some(year), Some(time)) => {
                format!("{day}/{mon}/{year}:{time} +0000")
            }
            _ => d.to_owned(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_before_the_epoch_are_clamped() {
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(fmt_http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn dates_after_9999_are_clamped() {
        let far = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS * 2);
        assert_eq!(fmt_http_date(far), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn iso_dates_are_rfc_3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(iso(t), "2026-11-18T11:06:40Z");
        assert_eq!(iso(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    #[cfg(feature = "server")]
    fn clf_has_its_own_shape() {
        let clf = clf_now();
        assert_eq!(clf.len(), "24/Nov/2026:09:39:19 +0000".len(), "{clf}");
        assert_eq!(clf.as_bytes()[2], b'/');
        assert!(clf.ends_with(" +0000"));
    }
}
