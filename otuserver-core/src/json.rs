//! Writing JSON strings by hand: the few places this crate writes JSON (a
//! listing, an access-log line) need nothing more, and a request's bytes
//! must never break out of the string they are put in.

/// Appends `bytes` to `out` as a JSON string, quotes included. Valid UTF-8
/// is kept as it is, control characters, quotes and backslashes escaped;
/// each byte of anything that is not UTF-8 becomes `\u00XX`.
pub(crate) fn string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\u{b:04x}"));
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_escapes_the_string() {
        let mut out = String::new();
        string(&mut out, b"a\"b\\c\r\nd\x00\x7f caf\xc3\xa9 \xff");
        assert_eq!(out, r#""a\"b\\c\r\nd\u0000\u007f café \u00ff""#);
    }
}
