//! The checkout decision: a pure function of the agent's state, the license it holds, its
//! tenant's unlimited-agents license, and the time. The store carries it out.
use super::model::{AgentState, Basis, CheckedOut};
use crate::licenses::domain::{CertificateState, Expiry, Status, status};
use crate::licenses::format::Binding;

/// The license an agent holds, as the decision needs it.
#[derive(Debug, Clone)]
pub struct Held {
    pub id: String,
    pub binding: Binding,
    pub state: CertificateState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Licensed(CheckedOut),
    /// It holds nothing: take the first free floating license, or be refused (402).
    TakeFloating,
    /// The floating license it holds no longer licenses (expired or revoked): let it go and take
    /// a free one, as an agent that held nothing would; floating licenses are a pool.
    ReplaceFloating,
    /// Shut down by an administrator (403).
    ShutDown,
    /// Its fixed license has expired (403).
    Expired,
    /// Its fixed license was revoked (403).
    Revoked,
}

pub fn decide(
    agent: AgentState,
    held: Option<&Held>,
    unlimited_agents: Option<Expiry>,
    now: i64,
) -> Decision {
    if agent == AgentState::ShutDown {
        return Decision::ShutDown;
    }
    if let Some(until) = unlimited_agents.filter(|e| e.is_valid_at(now)) {
        return Decision::Licensed(CheckedOut::new(Basis::UnlimitedAgents, None, until));
    }
    match held {
        None => Decision::TakeFloating,
        Some(h) => match status(&h.state, now) {
            Status::Activated => Decision::Licensed(CheckedOut::new(
                match h.binding {
                    Binding::Fixed => Basis::Fixed,
                    Binding::Floating => Basis::Floating,
                },
                Some(h.id.clone()),
                h.state.expires.unwrap_or(Expiry::Never),
            )),
            // A bound license is activated; anything else no longer licenses.
            _ if h.binding == Binding::Floating => Decision::ReplaceFloating,
            Status::Revoked => Decision::Revoked,
            Status::Unused | Status::Expired => Decision::Expired,
        },
    }
}

/// Why and until when a running agent is licensed now, whatever its state: what its own page
/// shows. `None` when checkout would not license it without taking a floating license.
pub fn licensed_until(
    held: Option<&Held>,
    unlimited_agents: Option<Expiry>,
    now: i64,
) -> Option<(Basis, Expiry)> {
    match decide(AgentState::Running, held, unlimited_agents, now) {
        Decision::Licensed(out) => {
            Some((out.basis, out.expires_at.map_or(Expiry::Never, Expiry::At)))
        }
        Decision::TakeFloating
        | Decision::ReplaceFloating
        | Decision::ShutDown
        | Decision::Expired
        | Decision::Revoked => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;

    fn held(binding: Binding, expires: Option<Expiry>) -> Held {
        Held {
            id: "c1".into(),
            binding,
            state: CertificateState {
                activated_at: Some(NOW - 1000),
                expires,
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_shut_down_agent_is_refused_whatever_it_holds() {
        let h = held(Binding::Fixed, Some(Expiry::Never));
        assert_eq!(
            decide(AgentState::ShutDown, Some(&h), Some(Expiry::Never), NOW),
            Decision::ShutDown
        );
    }

    #[test]
    fn unlimited_agents_license_every_agent_of_the_tenant() {
        let d = decide(AgentState::Running, None, Some(Expiry::At(NOW + 10)), NOW);
        assert!(matches!(
            d,
            Decision::Licensed(CheckedOut {
                basis: Basis::UnlimitedAgents,
                ..
            })
        ));
        // Once it lapses, the agent needs a license of its own.
        assert_eq!(
            decide(AgentState::Running, None, Some(Expiry::At(NOW)), NOW),
            Decision::TakeFloating
        );
    }

    #[test]
    fn a_valid_held_license_licenses_and_an_expired_one_refuses() {
        let h = held(Binding::Fixed, Some(Expiry::At(NOW + 1)));
        assert!(matches!(
            decide(AgentState::Running, Some(&h), None, NOW),
            Decision::Licensed(CheckedOut {
                basis: Basis::Fixed,
                expires_at: Some(_),
                ..
            })
        ));
        assert_eq!(
            decide(AgentState::Running, Some(&h), None, NOW + 1),
            Decision::Expired
        );
        let mut revoked = held(Binding::Fixed, Some(Expiry::Never));
        revoked.state.revoked = true;
        assert_eq!(
            decide(AgentState::Running, Some(&revoked), None, NOW),
            Decision::Revoked
        );
    }

    #[test]
    fn a_floating_license_that_lapsed_is_replaced_not_refused() {
        let h = held(Binding::Floating, Some(Expiry::At(NOW + 1)));
        assert_eq!(
            decide(AgentState::Running, Some(&h), None, NOW + 1),
            Decision::ReplaceFloating
        );
        let mut revoked = held(Binding::Floating, Some(Expiry::Never));
        revoked.state.revoked = true;
        assert_eq!(
            decide(AgentState::Running, Some(&revoked), None, NOW),
            Decision::ReplaceFloating
        );
        assert_eq!(
            decide(AgentState::ShutDown, Some(&revoked), None, NOW),
            Decision::ShutDown
        );
    }

    #[test]
    fn licensed_until_is_what_checkout_would_grant() {
        let h = held(Binding::Fixed, Some(Expiry::At(NOW + 5)));
        assert_eq!(
            licensed_until(Some(&h), None, NOW),
            Some((Basis::Fixed, Expiry::At(NOW + 5)))
        );
        // Unlimited agents win while valid, however short the agent's own license.
        assert_eq!(
            licensed_until(Some(&h), Some(Expiry::Never), NOW),
            Some((Basis::UnlimitedAgents, Expiry::Never))
        );
        assert_eq!(licensed_until(Some(&h), None, NOW + 5), None);
        assert_eq!(licensed_until(None, None, NOW), None);
    }

    #[test]
    fn an_agent_with_nothing_takes_a_floating_license() {
        assert_eq!(
            decide(AgentState::Running, None, None, NOW),
            Decision::TakeFloating
        );
    }
}
