//! License requests (LICENSE-FORMAT.md, "License request"): the .tlr file an installation writes
//! and the vendor reads.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::armor::{armor, armored_blocks};
use crate::format::{FORMAT_VERSION, LicenseRequest, REQUEST_BLOCK};
use crate::json::strict_object;

/// A license request file: comment lines saying what it is, then one LICENSE REQUEST block.
pub fn encode_request(request: &LicenseRequest) -> String {
    encode_request_to(request, &[])
}

/// A license request file, as [`encode_request`], whose comment names where to send it (the
/// vendor's licensing address or portal, as the installation was told): outside the block, so
/// every reader ignores it.
pub fn encode_request_to(request: &LicenseRequest, send_to: &[&str]) -> String {
    // Serialising plain strings and numbers cannot fail.
    let json = serde_json::to_vec_pretty(request).unwrap_or_default();
    // One line each: a comment line that breaks is no comment.
    let send_to: Vec<String> = send_to
        .iter()
        .map(|s| s.chars().filter(|c| !c.is_control()).collect())
        .filter(|s: &String| !s.trim().is_empty())
        .collect();
    let send = if send_to.is_empty() {
        "Send this file to your vendor.".to_string()
    } else {
        format!("Send this file to your vendor: {}.", send_to.join(" or "))
    };
    format!(
        "Tessera license request for installation {}.\n{send}\n\n{}",
        request.installation_id,
        armor(REQUEST_BLOCK, &json)
    )
}

/// The request of a .tlr file (its first LICENSE REQUEST block), or why it cannot be read.
pub fn decode_request(text: &str) -> Result<LicenseRequest, String> {
    let blocks = armored_blocks(text, REQUEST_BLOCK);
    let body = blocks
        .first()
        .ok_or("no \"-----BEGIN TESSERA LICENSE REQUEST-----\" block")?;
    let raw = STANDARD
        .decode(body)
        .map_err(|e| format!("the request block is not base64: {e}"))?;
    let fields = strict_object(&raw).map_err(|e| format!("the request is malformed: {e}"))?;
    let request: LicenseRequest = serde_json::from_value(Value::Object(fields))
        .map_err(|e| format!("the request is malformed: {e}"))?;
    if request.format != FORMAT_VERSION {
        return Err(format!(
            "unsupported request format version {}",
            request.format
        ));
    }
    Ok(request)
}
