//! CSV as the exports write it (Settings > Audit log, Settings > Usage): RFC 4180 quoting, and a
//! cell a spreadsheet would take for a formula made plain text.

/// One CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled), and
/// prefixed with `'` when it starts with `=`, `+`, `-` or `@`, so that a spreadsheet shows it
/// as text rather than running it as a formula.
pub fn field(raw: &str) -> String {
    let neutral = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// One CSV record, CRLF-terminated.
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(field).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cells_stay_as_they_are() {
        assert_eq!(field("alice"), "alice");
        assert_eq!(field(""), "");
        assert_eq!(field("Иван 2026"), "Иван 2026");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted() {
        assert_eq!(field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn formulas_become_text() {
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("+7"), "'+7");
        assert_eq!(field("-2"), "'-2");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("=HYPERLINK(\"x\",1)"), "\"'=HYPERLINK(\"\"x\"\",1)\"");
        assert_eq!(field("a=b"), "a=b");
    }

    #[test]
    fn records_end_with_crlf() {
        assert_eq!(record(["a", "b,c"]), "a,\"b,c\"\r\n");
    }
}
