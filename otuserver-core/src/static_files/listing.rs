//! The generated directory listing page.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use percent_encoding::percent_encode;

use super::resolve::{self, RequestPath, SEGMENT};
use crate::http1::fmt_http_date;

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
/// Directories come first, then files, each group sorted by name. Each
/// entry is opened the way a request for it would be, so an entry that
/// could not be served (a symlink out of the root, an unreadable file, a
/// FIFO) is left out, and nothing about its target shows.
pub(crate) fn render(
    dir: &File,
    rel: &Path,
    root_dir: &File,
    root: &Path,
    path: &RequestPath,
) -> std::io::Result<String> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
        let Ok(entry) = entry else { continue };
        let raw = entry.file_name();
        let Ok(file) = resolve::open_beneath(root_dir, root, &rel.join(&raw)) else {
            continue;
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
            name: raw.to_string_lossy().into_owned(),
            href,
            is_dir,
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));

    let title = format!("Index of {}", escape(&display_path(path)));
    let mut page = String::with_capacity(1024 + entries.len() * 160);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem}}\n\
         table{{border-collapse:collapse;width:100%}}\n\
         th,td{{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}}\n\
         td.size,th.size{{text-align:right;white-space:nowrap}}\n\
         </style>\n</head>\n<body>\n<h1>{title}</h1>\n<table>\n\
         <thead><tr><th>Name</th><th class=\"size\">Size</th><th>Modified</th></tr></thead>\n<tbody>\n"
    );
    if !path.segments.is_empty() {
        page.push_str(
            "<tr><td><a href=\"../\">../</a></td><td class=\"size\">-</td><td></td></tr>\n",
        );
    }
    for e in &entries {
        let size = if e.is_dir {
            "-".to_owned()
        } else {
            human_size(e.size)
        };
        let modified = e.modified.map(fmt_http_date).unwrap_or_default();
        let slash = if e.is_dir { "/" } else { "" };
        let _ = writeln!(
            page,
            "<tr><td><a href=\"{}\">{}{slash}</a></td><td class=\"size\">{size}</td><td>{modified}</td></tr>",
            escape(&e.href),
            escape(&e.name),
        );
    }
    page.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    Ok(page)
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
    fn sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(20 * 1024 * 1024), "20 MiB");
    }
}
