//! Addresses the pages build: query values, percent-encoded.
/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_a_path_with_its_query() {
        assert_eq!(
            super::encode_component("/settings/licenses?q=a b&x=1"),
            "/settings/licenses%3Fq%3Da%20b%26x%3D1"
        );
    }
}
