//! The generated directory listing page.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use percent_encoding::percent_encode;

use super::resolve;
use crate::http1::date;
use crate::path::{RequestPath, SEGMENT};
use crate::{ResolveError, json};

/// The most entries a listing shows (the first found, then sorted), and
/// the most it examines: each costs system calls on the event loop's
/// thread, and a client chooses how many a directory holds.
pub(crate) const MAX_LISTED: usize = 10_000;

struct Entry {
    name: String,
    href: String,
    is_dir: bool,
    size: u64,
    modified: Option<SystemTime>,
}

/// An HTML page listing the directory `dir` (open), which is `rel` under
/// the root and which the client asked for as `path`.
///
/// Directories come first, then files, each group in natural order. Each
/// entry is opened the way a request for it would be (in one system call:
/// an absolute symlink is left out even if it stays inside), so an entry
/// that could not be served (a symlink out of the root, an unreadable file,
/// a FIFO, a dotfile unless `show_dotfiles`) is left out, and nothing about
/// its target shows. Out of descriptors, there is no listing: `Exhausted`.
pub(crate) fn render(
    dir: &File,
    rel: &Path,
    root_dir: &File,
    root: &Path,
    path: &RequestPath,
    show_dotfiles: bool,
    json: bool,
) -> Result<String, ResolveError> {
    let mut entries = Vec::new();
    let mut truncated = false;
    for (examined, entry) in fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?.enumerate()
    {
        // Each entry costs an open and a stat on the event loop's thread:
        // a huge directory must not stall every connection on it.
        if examined >= MAX_LISTED {
            truncated = true;
            break;
        }
        // Out of descriptors is not "not servable": a listing that could
        // not look at every entry is no listing.
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => match ResolveError::from(e) {
                ResolveError::Exhausted => return Err(ResolveError::Exhausted),
                _ => continue,
            },
        };
        let raw = entry.file_name();
        // A request can only name UTF-8 paths (others are 400), so a name
        // that is not UTF-8 could never be opened from its link.
        let Some(name) = raw.to_str() else { continue };
        let child = path.child(name);
        if !show_dotfiles && child.is_hidden() {
            continue;
        }
        let file = match resolve::open_beneath_quick(root_dir, root, &rel.join(&raw)) {
            Ok(file) => file,
            Err(ResolveError::Exhausted) => return Err(ResolveError::Exhausted),
            Err(_) => continue,
        };
        let Ok(meta) = file.metadata() else { continue };
        let is_dir = meta.is_dir();
        if !is_dir && !meta.is_file() {
            continue;
        }
        // "./" first, so that a name like "javascript:..." stays a path.
        let mut href = String::from("./");
        href.extend(percent_encode(raw.as_bytes(), SEGMENT));
        if is_dir {
            href.push('/');
        }
        entries.push(Entry {
            name: name.to_owned(),
            href,
            is_dir,
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| natural_cmp(&a.name, &b.name))
    });
    Ok(match json {
        true => json_listing(path, &entries, truncated),
        false => page(path, &entries, truncated),
    })
}

/// The listing as JSON: the path, whether it was cut short, and each
/// entry's name, type, size, modification time (RFC 3339) and link.
fn json_listing(path: &RequestPath, entries: &[Entry], truncated: bool) -> String {
    let mut out = String::with_capacity(64 + entries.len() * 120);
    out.push_str("{\"path\":");
    json::string(&mut out, path.to_url(true).as_bytes());
    let _ = write!(out, ",\"truncated\":{truncated},\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::string(&mut out, e.name.as_bytes());
        let kind = if e.is_dir { "dir" } else { "file" };
        let _ = write!(
            out,
            ",\"type\":\"{kind}\",\"size\":{},\"modified\":",
            e.size
        );
        match e.modified {
            Some(t) => json::string(&mut out, date::iso(t).as_bytes()),
            None => out.push_str("null"),
        }
        out.push_str(",\"href\":");
        json::string(&mut out, e.href.as_bytes());
        out.push('}');
    }
    out.push_str("]}\n");
    out
}

/// The page: a breadcrumb of the path, a parent link, and the table.
/// Every link is relative, so the page works wherever the handler is
/// mounted; CSS is inline and there is no script.
fn page(path: &RequestPath, entries: &[Entry], truncated: bool) -> String {
    let shown = escape(&display_path(path));
    let mut page = String::with_capacity(2048 + entries.len() * 200);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Index of {shown}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Index of <nav class=\"crumbs\" aria-label=\"Path\">"
    );
    // Each ancestor is reached by climbing from here: the root is
    // `../` once per segment, the current directory `./`.
    let depth = path.segments.len();
    let _ = write!(page, "<a href=\"{}\">/</a>", up(depth));
    for (i, seg) in path.segments.iter().enumerate() {
        let _ = write!(
            page,
            "<a href=\"{}\">{}</a>/",
            up(depth - i - 1),
            escape(seg)
        );
    }
    page.push_str(
        "</nav></h1>\n<table>\n<thead><tr><th>Name</th><th class=\"size\">Size</th>\
                   <th class=\"time\">Modified (UTC)</th></tr></thead>\n<tbody>\n",
    );
    if depth > 0 {
        page.push_str(
            "<tr class=\"dir\"><td><a href=\"../\">../</a> <small>parent directory</small></td>\
             <td class=\"size\"></td><td class=\"time\"></td></tr>\n",
        );
    }
    for e in entries {
        let (class, slash, size) = if e.is_dir {
            ("dir", "/", String::new())
        } else {
            ("file", "", human_size(e.size))
        };
        let time = e.modified.map(utc_minutes).unwrap_or_default();
        let _ = writeln!(
            page,
            "<tr class=\"{class}\"><td><a href=\"{}\">{}{slash}</a></td>\
             <td class=\"size\" title=\"{} bytes\">{size}</td><td class=\"time\">{time}</td></tr>",
            escape(&e.href),
            escape(&e.name),
            e.size,
        );
    }
    let dirs = entries.iter().filter(|e| e.is_dir).count();
    let more = if truncated {
        format!(" shown; the directory holds more than {MAX_LISTED} entries")
    } else {
        String::new()
    };
    let _ = write!(
        page,
        "</tbody>\n</table>\n<footer>{dirs} {}, {} {}{more}</footer>\n</body>\n</html>\n",
        if dirs == 1 {
            "directory"
        } else {
            "directories"
        },
        entries.len() - dirs,
        if entries.len() - dirs == 1 {
            "file"
        } else {
            "files"
        },
    );
    page
}

/// Inline style: readable on a laptop and a phone, light or dark.
const STYLE: &str = "\
:root{color-scheme:light dark;--line:#8884;--muted:#888}\
body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",sans-serif;margin:0 auto;max-width:64rem;padding:1rem}\
h1{font-size:1.25rem;font-weight:600;margin:0 0 1rem;overflow-wrap:anywhere}\
.crumbs{display:inline}.crumbs a{text-decoration:none;padding:0 .1rem}.crumbs a:hover{text-decoration:underline}\
table{border-collapse:collapse;width:100%}\
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:2px solid var(--line)}\
th,td{padding:.4rem .5rem;vertical-align:top}\
td{border-bottom:1px solid var(--line)}\
td:first-child{overflow-wrap:anywhere}\
tr:hover td{background:#8881}\
tr.dir a{font-weight:600}\
small{color:var(--muted)}\
.size{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
.time{white-space:nowrap;font-variant-numeric:tabular-nums}\
footer{color:var(--muted);font-size:.875rem;margin-top:1rem}\
@media (max-width:40rem){body{padding:.5rem}.time{display:none}th,td{padding:.5rem .25rem}}\
";

/// `n` times `../`, or `./` for zero.
fn up(n: usize) -> String {
    if n == 0 {
        "./".to_owned()
    } else {
        "../".repeat(n)
    }
}

/// Compares names as people read them: runs of digits by their value
/// (`file2` before `file10`), letters regardless of case; names equal that
/// way fall back to plain byte order, so the order is total.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = digits(&mut x);
                let m = digits(&mut y);
                let (n, m) = (n.trim_start_matches('0'), m.trim_start_matches('0'));
                let by_value = n.len().cmp(&m.len()).then_with(|| n.cmp(m));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(c), Some(d)) => {
                x.next();
                y.next();
                let by_letter = c.to_lowercase().cmp(d.to_lowercase());
                if by_letter != Ordering::Equal {
                    return by_letter;
                }
            }
        }
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut run = String::new();
    while let Some(c) = chars.next_if(char::is_ascii_digit) {
        run.push(c);
    }
    run
}

/// `2026-11-26 06:40`, in a `<time>` element carrying the full instant.
fn utc_minutes(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!(
        "<time datetime=\"{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z\">\
         {y:04}-{m:02}-{d:02} {hh:02}:{mm:02}</time>"
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01: counted in 400-year
/// eras of 146,097 days, with years starting in March so that the leap day
/// falls at the end of one.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // month, March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    (year, month, day)
}

fn display_path(path: &RequestPath) -> String {
    let mut s = String::from("/");
    for seg in &path.segments {
        s.push_str(seg);
        s.push('/');
    }
    s
}

/// `text` with the five HTML-significant characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A size in bytes in human units: `512 B`, `1.5 KiB`, `20 MiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn names_sort_naturally() {
        let mut names = vec![
            "file10", "File2", "file1", "a", "B", "file01", "x9y10", "x9y9", "",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "", "a", "B", "file01", "file1", "File2", "file10", "x9y9", "x9y10"
            ]
        );
        assert_eq!(natural_cmp("a", "A"), "a".cmp("A"));
        assert_eq!(
            natural_cmp("99999999999999999999999", "1"),
            Ordering::Greater
        );
    }

    #[test]
    fn dates_are_civil() {
        let at = |secs| utc_minutes(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert!(at(0).contains(">1970-01-01 00:00<"), "{}", at(0));
        // 2000-02-29 12:34:56, a leap day in a century leap year.
        assert!(
            at(951_827_696).contains("\"2000-02-29T12:34:56Z\""),
            "{}",
            at(951_827_696)
        );
        // 2026-11-26 06:40.
        assert!(
            at(1_795_675_200).contains(">2026-11-26 06:40<"),
            "{}",
            at(1_795_675_200)
        );
    }

    #[test]
    fn breadcrumbs_climb_relatively() {
        let path = RequestPath {
            segments: vec!["a".into(), "<b>".into()],
            trailing_slash: true,
        };
        let html = page(&path, &[], false);
        assert!(
            html.contains(
                "<a href=\"../../\">/</a><a href=\"../\">a</a>/<a href=\"./\">&lt;b&gt;</a>/"
            ),
            "{html}"
        );
        assert!(html.contains("<a href=\"../\">../</a>"), "{html}");
        assert!(html.contains("0 directories, 0 files"), "{html}");
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(20 * 1024 * 1024), "20 MiB");
    }
}
