//! Percent-decoding (RFC 3986 §2.1) for query parameters and path matching.

/// Decodes each valid `%XX` whose byte `decode` accepts; everything else (other escapes,
/// malformed ones) stays as written. Invalid UTF-8 in the result becomes U+FFFD.
pub fn decode_where(s: &str, decode: impl Fn(u8) -> bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let value = bytes
                .get(i + 1..i + 3)
                // Two hex digits exactly (`from_str_radix` would also take `+f`).
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|v| decode(*v));
            if let Some(v) = value {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3986 unreserved characters: decoding them never changes what a URI means.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_selectively_and_keeps_bad_escapes() {
        assert_eq!(decode_where("a%2eb%2Fc", |_| true), "a.b/c");
        assert_eq!(decode_where("a%2eb%2Fc", is_unreserved), "a.b%2Fc");
        assert_eq!(decode_where("%", |_| true), "%");
        assert_eq!(decode_where("%zz%4", |_| true), "%zz%4");
        assert_eq!(decode_where("%+f%-1", |_| true), "%+f%-1");
        assert_eq!(decode_where("%ff", |_| true), "\u{fffd}");
        assert_eq!(decode_where("/caf\u{e9}%41", is_unreserved), "/caf\u{e9}A");
    }
}
