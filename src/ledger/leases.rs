//! Signed leases (docs/agent-api.md, "Leases"): every granted checkout carries a lease, signed
//! with the installation's own Ed25519 key, saying which agent may work under which license
//! until when, so that an agent checks it with the public key alone while Tessera cannot be
//! reached.
//!
//! A lease is signed once per half lease: the one signed last for an agent is given again while
//! more than half of it remains and the agent still holds the same license with the same expiry,
//! then a new one is signed (so an agent that renews at `renew_after` never runs out). Its end is
//! the tenant's lease time after signing, never past the license's own expiry. Each instance
//! signs with the same key (it is in the database) and remembers its own leases.
use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePublicKey;
use tessera_license::{LEASE_VERSION, LeaseClaims, sign_lease};

use crate::agents::entity as agent;
use crate::agents::model::{Basis, CheckedOut, Lease};

/// The lease last signed for one agent, and what it was signed for.
struct Signed {
    license_id: Option<String>,
    basis: Basis,
    license_expires_at: Option<i64>,
    lease_ms: i64,
    borrowed_until: Option<i64>,
    renew_after: i64,
    lease: Lease,
}

pub struct Leases {
    key: SigningKey,
    key_id: String,
    public_key_pem: String,
    installation_id: String,
    by_agent: Mutex<HashMap<String, Signed>>,
}

impl Leases {
    pub fn new(key: SigningKey, installation_id: String) -> Leases {
        // PEM encoding of a 32-byte key cannot fail.
        let public_key_pem = key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .unwrap_or_default();
        Leases {
            key_id: tessera_license::key_id(key.verifying_key().as_bytes()),
            key,
            public_key_pem,
            installation_id,
            by_agent: Mutex::default(),
        }
    }

    /// The id of the installation's key, as each lease's `kid` names it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The installation's public key, PEM SubjectPublicKeyInfo: what checks every lease.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The grant `out` for agent `a` with its lease: the one signed before, while it serves, or
    /// a new one of `lease_ms`, or to the end of the agent's borrow of its floating license.
    pub fn grant(
        &self,
        a: &agent::Model,
        mut out: CheckedOut,
        lease_ms: i64,
        now: i64,
    ) -> CheckedOut {
        out.borrowed_until = a
            .borrowed_until
            .filter(|until| *until > now && out.basis == Basis::Floating);
        let Ok(mut signed) = self.by_agent.lock() else {
            // A panic elsewhere poisoned the lock: sign without remembering.
            let s = self.sign(a, &out, lease_ms, now);
            out.lease = Some(s.lease);
            out.renew_after = Some(s.renew_after);
            return out;
        };
        let serves = signed.get(&a.id).is_some_and(|s| {
            s.license_id == out.license_id
                && s.basis == out.basis
                && s.license_expires_at == out.expires_at
                && s.lease_ms == lease_ms
                && s.borrowed_until == out.borrowed_until
                && now < s.renew_after
        });
        if !serves {
            // Bounded like the grants: an agent deleted leaves its entry until the map is full.
            if signed.len() >= 100_000 {
                signed.clear();
            }
            signed.insert(a.id.clone(), self.sign(a, &out, lease_ms, now));
        }
        if let Some(s) = signed.get(&a.id) {
            out.lease = Some(s.lease.clone());
            out.renew_after = Some(s.renew_after);
        }
        out
    }

    fn sign(&self, a: &agent::Model, out: &CheckedOut, lease_ms: i64, now: i64) -> Signed {
        let until = std::cmp::max(now + lease_ms, out.borrowed_until.unwrap_or(0));
        let valid_until = out.expires_at.map_or(until, |t| t.min(until));
        let claims = LeaseClaims {
            lease: LEASE_VERSION,
            installation_id: self.installation_id.clone(),
            agent_id: a.id.clone(),
            machine_id: a.machine_id.clone(),
            tenant_id: a.tenant_id.clone(),
            license_id: out.license_id.clone(),
            basis: basis_name(out.basis).to_string(),
            issued_at: now,
            valid_until,
        };
        metrics::counter!("tessera_leases_signed_total").increment(1);
        Signed {
            license_id: out.license_id.clone(),
            basis: out.basis,
            license_expires_at: out.expires_at,
            lease_ms,
            borrowed_until: out.borrowed_until,
            renew_after: now + (valid_until - now) / 2,
            lease: sign_lease(&self.key, &claims).into(),
        }
    }
}

/// The basis as the API and the lease write it.
fn basis_name(basis: Basis) -> &'static str {
    match basis {
        Basis::UnlimitedAgents => "unlimited_agents",
        Basis::Fixed => "fixed",
        Basis::Floating => "floating",
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    use tessera_license::verify_lease;

    use super::*;
    use crate::licenses::domain::Expiry;

    fn agent() -> agent::Model {
        agent::Model {
            id: "a".into(),
            tenant_id: "t".into(),
            machine_id: "m".into(),
            token_hash: "h".into(),
            state: "running".into(),
            license_id: Some("c".into()),
            refused_count: 0,
            last_seen_at: 0,
            created_at: 0,
            registration_open: false,
            borrowed_until: None,
            license_held_until: None,
        }
    }

    fn leases() -> Leases {
        Leases::new(SigningKey::from_bytes(&[7; 32]), "inst".into())
    }

    fn claims(l: &Leases, out: &CheckedOut) -> LeaseClaims {
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(l.public_key_pem())
            .expect("the public key's PEM reads back");
        let lease = out.lease.clone().expect("a grant carries a lease");
        verify_lease(&key, &lease.into()).expect("the lease verifies")
    }

    #[test]
    fn a_lease_is_signed_once_per_half_lease_and_never_past_the_license() {
        let l = leases();
        let out = CheckedOut::new(Basis::Floating, Some("c".into()), Expiry::At(1_000_000));
        let first = l.grant(&agent(), out.clone(), 300_000, 0);
        let c = claims(&l, &first);
        assert_eq!((c.issued_at, c.valid_until), (0, 300_000));
        assert_eq!(c.basis, "floating");
        assert_eq!(first.renew_after, Some(150_000));
        // The same lease until half of it has passed, then a new one.
        let again = l.grant(&agent(), out.clone(), 300_000, 149_999);
        assert_eq!(again.lease, first.lease);
        let renewed = l.grant(&agent(), out.clone(), 300_000, 150_000);
        assert_ne!(renewed.lease, first.lease);
        assert_eq!(claims(&l, &renewed).valid_until, 450_000);
        // Near the license's end, the lease ends with it.
        let late = l.grant(&agent(), out, 300_000, 900_000);
        assert_eq!(claims(&l, &late).valid_until, 1_000_000);
    }

    #[test]
    fn a_borrow_leases_to_its_end_and_then_leases_are_short_again() {
        let l = leases();
        let out = CheckedOut::new(Basis::Floating, Some("c".into()), Expiry::At(10_000_000));
        let short = l.grant(&agent(), out.clone(), 300_000, 0);
        let borrowing = agent::Model {
            borrowed_until: Some(7_200_000),
            ..agent()
        };
        // Borrowed: signed at once, to the borrow's end.
        let borrowed = l.grant(&borrowing, out.clone(), 300_000, 1);
        assert_ne!(borrowed.lease, short.lease);
        assert_eq!(borrowed.borrowed_until, Some(7_200_000));
        assert_eq!(claims(&l, &borrowed).valid_until, 7_200_000);
        // Never past the license's own expiry.
        let long = agent::Model {
            borrowed_until: Some(20_000_000),
            ..agent()
        };
        let capped = l.grant(&long, out.clone(), 300_000, 2);
        assert_eq!(claims(&l, &capped).valid_until, 10_000_000);
        // Given back (or ended): a lease of the lease time again, signed at once.
        let back = l.grant(&agent(), out.clone(), 300_000, 3);
        assert_eq!(back.borrowed_until, None);
        assert_eq!(claims(&l, &back).valid_until, 300_003);
        // A fixed license is not borrowed, whatever the agent's row says.
        let fixed = CheckedOut::new(Basis::Fixed, Some("f".into()), Expiry::Never);
        let f = l.grant(&borrowing, fixed, 300_000, 4);
        assert_eq!(f.borrowed_until, None);
        assert_eq!(claims(&l, &f).valid_until, 300_004);
    }

    #[test]
    fn another_license_or_expiry_is_signed_at_once() {
        let l = leases();
        let out = CheckedOut::new(Basis::Floating, Some("c".into()), Expiry::At(1_000_000));
        let first = l.grant(&agent(), out, 300_000, 0);
        let other = CheckedOut::new(Basis::Floating, Some("d".into()), Expiry::At(1_000_000));
        let second = l.grant(&agent(), other, 300_000, 1);
        assert_eq!(claims(&l, &second).license_id.as_deref(), Some("d"));
        let extended = CheckedOut::new(Basis::Floating, Some("d".into()), Expiry::Never);
        let third = l.grant(&agent(), extended, 300_000, 2);
        assert_ne!(third.lease, second.lease);
        assert_ne!(first.lease, third.lease);
    }
}
