//! What an agent keeps between runs.
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tessera_license::ed25519_dalek::VerifyingKey;
use tessera_license::ed25519_dalek::pkcs8::DecodePublicKey;
use tessera_license::{Envelope, LeaseClaims, verify_lease};

use crate::{CLOCK_SKEW_MS, Error};

/// An agent's registration and its last lease, as kept in its state file (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The Tessera it registered with.
    pub server: String,
    pub machine_id: String,
    pub agent_id: String,
    pub tenant_id: String,
    /// The bearer token (a secret: the file is written readable by its owner only).
    pub token: String,
    /// The installation's public key (PEM), which every lease must verify with.
    pub lease_public_key: String,
    /// The last lease Tessera granted, verified when it came.
    pub lease: Option<Envelope>,
    /// When to check out again for a new lease, Unix ms.
    pub renew_after: Option<i64>,
}

impl State {
    /// The state in `path`, or `None` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<State>, Error> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::Setup(format!(
                    "the state file {} is unreadable: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Setup(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Writes the state to `path` whole or not at all (a temporary file renamed over it),
    /// readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let failed = |e: std::io::Error| Error::Setup(format!("writing {}: {e}", path.display()));
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Setup(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(failed)?;
        file.write_all(&json).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&tmp, path).map_err(failed)
    }

    /// The installation's public key.
    pub fn public_key(&self) -> Result<VerifyingKey, Error> {
        VerifyingKey::from_public_key_pem(&self.lease_public_key)
            .map_err(|e| Error::Setup(format!("the installation's public key is unreadable: {e}")))
    }

    /// What the last lease says, checked against the installation's key and this agent.
    pub fn lease_claims(&self) -> Option<LeaseClaims> {
        let key = self.public_key().ok()?;
        let claims = verify_lease(&key, self.lease.as_ref()?).ok()?;
        (claims.agent_id == self.agent_id).then_some(claims)
    }

    /// Takes the lease of `saved` (the state file, written by another process: `tessera-agent
    /// borrow`) when it is this agent's and runs longer than the one held.
    pub fn adopt_longer_lease(&mut self, saved: State) {
        let end = |s: &State| s.lease_claims().map(|c| c.valid_until);
        if saved.agent_id == self.agent_id && end(&saved) > end(self) {
            self.lease = saved.lease;
            self.renew_after = saved.renew_after;
        }
    }

    /// The lease, when it licenses this agent at `now`: the answer to "am I licensed now?",
    /// with no call to Tessera.
    pub fn licensed_at(&self, now: i64) -> Option<LeaseClaims> {
        self.lease_claims().filter(|c| c.covers(now, CLOCK_SKEW_MS))
    }
}

#[cfg(test)]
mod tests {
    use tessera_license::ed25519_dalek::SigningKey;
    use tessera_license::ed25519_dalek::pkcs8::EncodePublicKey;
    use tessera_license::{LEASE_VERSION, sign_lease};

    use super::*;

    fn state(key: &SigningKey, lease_for: &str) -> State {
        let claims = LeaseClaims {
            lease: LEASE_VERSION,
            installation_id: "i".into(),
            agent_id: lease_for.into(),
            machine_id: "m".into(),
            tenant_id: "t".into(),
            license_id: Some("c".into()),
            basis: "floating".into(),
            issued_at: 1_000_000,
            valid_until: 1_300_000,
        };
        State {
            server: "http://tessera".into(),
            machine_id: "m".into(),
            agent_id: "a".into(),
            tenant_id: "t".into(),
            token: "secret".into(),
            lease_public_key: key
                .verifying_key()
                .to_public_key_pem(Default::default())
                .expect("PEM"),
            lease: Some(sign_lease(key, &claims)),
            renew_after: Some(1_150_000),
        }
    }

    #[test]
    fn licensed_while_its_own_lease_covers_the_present_and_only_then() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let s = state(&key, "a");
        assert!(s.licensed_at(1_000_000).is_some());
        assert!(s.licensed_at(1_299_999).is_some());
        assert!(s.licensed_at(1_300_000).is_none(), "ended");
        assert!(
            s.licensed_at(1_000_000 - CLOCK_SKEW_MS - 1).is_none(),
            "not yet issued"
        );
        // Another agent's lease, or one another key signed, licenses nothing.
        assert!(state(&key, "b").licensed_at(1_000_000).is_none());
        let forged = State {
            lease_public_key: state(&SigningKey::from_bytes(&[4; 32]), "a").lease_public_key,
            ..s
        };
        assert!(forged.licensed_at(1_000_000).is_none());
    }

    #[test]
    fn a_longer_lease_saved_by_another_process_is_taken_and_no_other() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut held = state(&key, "a");
        let mut longer = state(&key, "a");
        let claims = LeaseClaims {
            valid_until: 9_000_000,
            ..held.lease_claims().expect("a lease")
        };
        longer.lease = Some(sign_lease(&key, &claims));
        held.adopt_longer_lease(state(&key, "a"));
        assert_eq!(held.lease_claims().map(|c| c.valid_until), Some(1_300_000));
        // Another agent's, or one that ends sooner, is not taken.
        held.adopt_longer_lease(State {
            agent_id: "b".into(),
            ..longer.clone()
        });
        assert_eq!(held.lease_claims().map(|c| c.valid_until), Some(1_300_000));
        held.adopt_longer_lease(longer);
        assert_eq!(held.lease_claims().map(|c| c.valid_until), Some(9_000_000));
        held.adopt_longer_lease(state(&key, "a"));
        assert_eq!(held.lease_claims().map(|c| c.valid_until), Some(9_000_000));
    }

    #[test]
    fn the_state_file_is_written_whole_for_its_owner_alone_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tessera-agent-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let path = dir.join("state.json");
        assert_eq!(State::load(&path).ok(), Some(None), "no file: no state");
        let s = state(&SigningKey::from_bytes(&[3; 32]), "a");
        s.save(&path).expect("saved");
        assert_eq!(State::load(&path).ok(), Some(Some(s)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("the file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
        }
        std::fs::write(&path, "not json").expect("written");
        assert!(State::load(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
