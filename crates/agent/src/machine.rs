//! A stable machine id.
use crate::Error;

/// The machine id to register with: `explicit` when given (containers, whose `/etc/machine-id`
/// may be shared or change), else derived from `/etc/machine-id`: the SHA-256 of
/// `tessera-agent:` and that id, 32 hex digits, so that the host's own id is not disclosed
/// (systemd's advice for ids given to applications).
pub fn machine_id(explicit: Option<&str>) -> Result<String, Error> {
    if let Some(id) = explicit.map(str::trim).filter(|id| !id.is_empty()) {
        return Ok(id.to_string());
    }
    let host = std::fs::read_to_string("/etc/machine-id").map_err(|e| {
        Error::Setup(format!(
            "no machine id: /etc/machine-id cannot be read ({e}); give one with --machine-id"
        ))
    })?;
    let host = host.trim();
    if host.is_empty() {
        return Err(Error::Setup(
            "no machine id: /etc/machine-id is empty; give one with --machine-id".into(),
        ));
    }
    Ok(derive(host))
}

fn derive(host: &str) -> String {
    let mut hash = tessera_license::sha256_hex(format!("tessera-agent:{host}").as_bytes());
    hash.truncate(32);
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_id_wins_and_a_derived_one_is_stable_and_hides_the_hosts() {
        assert_eq!(machine_id(Some(" gpu-7 ")).ok().as_deref(), Some("gpu-7"));
        let id = derive("0123456789abcdef0123456789abcdef");
        assert_eq!(id, derive("0123456789abcdef0123456789abcdef"));
        assert_eq!(id.len(), 32);
        assert!(!id.contains("0123456789abcdef"));
        assert_ne!(id, derive("fedcba9876543210fedcba9876543210"));
    }
}
