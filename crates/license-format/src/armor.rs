//! Armored blocks (LICENSE-FORMAT.md, "Armored blocks"): reading every block of a kind out of a
//! text, counting BEGIN lines without decoding, and writing one block.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A UTF-8 byte-order mark, which editors on Windows put before a text.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn begin_line(kind: &str) -> String {
    format!("-----BEGIN TESSERA {kind}-----")
}

fn end_line(kind: &str) -> String {
    format!("-----END TESSERA {kind}-----")
}

/// The base64 body (white space removed) of every block of `kind`, in order. LF or CRLF; text
/// outside blocks is ignored; a leading byte-order mark is skipped. A block without its END line
/// is still returned, so that it is refused as malformed rather than silently skipped.
///
/// Lines are trimmed of ASCII white space only, exactly as [`crate::verify_package`] counts BEGIN
/// lines before decoding, so that the count limit cannot be slipped past with exotic spaces.
pub fn armored_blocks(text: &str, kind: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (begin, end) = (begin_line(kind), end_line(kind));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_ascii();
        if line == begin {
            if let Some(open) = current.take() {
                blocks.push(open);
            }
            current = Some(String::new());
        } else if line == end {
            if let Some(body) = current.take() {
                blocks.push(body);
            }
        } else if let Some(body) = current.as_mut() {
            body.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
    }
    if let Some(open) = current {
        blocks.push(open);
    }
    blocks
}

/// How many BEGIN lines of `kind` the raw bytes hold, counted without decoding anything (the
/// same lines [`armored_blocks`] would open a block at).
pub(crate) fn count_begin_lines(bytes: &[u8], kind: &str) -> u64 {
    let begin = begin_line(kind);
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| line.trim_ascii() == begin.as_bytes())
        .count() as u64
}

/// One armored block: standard base64 wrapped at 64 columns.
pub fn armor(kind: &str, json: &[u8]) -> String {
    let b64 = STANDARD.encode(json);
    let mut out = begin_line(kind);
    out.push('\n');
    // Base64 is ASCII, so cutting it at any byte keeps whole characters.
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&end_line(kind));
    out.push('\n');
    out
}
