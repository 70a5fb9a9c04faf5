//! The pure rules of licensing: how validity stacks, and what status a certificate has now.
//! No I/O: persistence and pages call these.
use serde::{Deserialize, Serialize};

pub const DAY_MS: i64 = 86_400_000;

/// Until when something is licensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    Never,
    At(i64),
}

impl Expiry {
    pub fn from_parts(until: Option<i64>, permanent: bool) -> Option<Expiry> {
        if permanent {
            Some(Expiry::Never)
        } else {
            until.map(Expiry::At)
        }
    }

    /// `(until, permanent)` as stored.
    pub fn to_parts(self) -> (Option<i64>, bool) {
        match self {
            Expiry::Never => (None, true),
            Expiry::At(t) => (Some(t), false),
        }
    }

    pub fn is_valid_at(self, now: i64) -> bool {
        match self {
            Expiry::Never => true,
            Expiry::At(t) => t > now,
        }
    }
}

/// Activating a certificate extends the current expiry of what it licenses by `validity_days`,
/// counted from that expiry, or from `now` where it lies in the past (or there is none). `None`
/// days is permanent; permanent stays permanent; `not_after` caps the result.
pub fn stack_validity(
    current: Option<Expiry>,
    now: i64,
    validity_days: Option<u32>,
    not_after: Option<i64>,
) -> Expiry {
    if current == Some(Expiry::Never) {
        return Expiry::Never;
    }
    let extended = match validity_days {
        None => Expiry::Never,
        Some(days) => {
            let from = match current {
                Some(Expiry::At(t)) if t > now => t,
                _ => now,
            };
            Expiry::At(from.saturating_add(i64::from(days).saturating_mul(DAY_MS)))
        }
    };
    match (extended, not_after) {
        (Expiry::Never, Some(cap)) => Expiry::At(cap),
        (Expiry::At(t), Some(cap)) => Expiry::At(t.min(cap)),
        (e, None) => e,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unused,
    Activated,
    Expired,
    Revoked,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Unused,
        Status::Activated,
        Status::Expired,
        Status::Revoked,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Unused => "unused",
            Status::Activated => "activated",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What a certificate's stored state says about it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CertificateState {
    pub activated_at: Option<i64>,
    pub expires: Option<Expiry>,
    /// It cannot be activated before this time.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub revoked: bool,
    /// It ended for a reason other than time (its agent was deleted).
    pub ended: bool,
}

/// The status now: Revoked wins, then Expired (ended, past `not_after`, or past its expiry),
/// then Activated, else Unused.
pub fn status(state: &CertificateState, now: i64) -> Status {
    if state.revoked {
        return Status::Revoked;
    }
    if state.ended || state.not_after.is_some_and(|t| t <= now) {
        return Status::Expired;
    }
    match (state.activated_at, state.expires) {
        (Some(_), Some(e)) if !e.is_valid_at(now) => Status::Expired,
        (Some(_), _) => Status::Activated,
        (None, _) => Status::Unused,
    }
}

/// Until when a certificate not yet activated must wait for its `not_before`: `None` when it may
/// be activated now (or already was: activation happens only once its day has come).
pub fn waits_until(state: &CertificateState, now: i64) -> Option<i64> {
    match (state.activated_at, state.not_before) {
        (None, Some(t)) if t > now => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;

    #[test]
    fn stacks_from_now_when_there_is_no_expiry_or_it_is_past() {
        assert_eq!(
            stack_validity(None, NOW, Some(365), None),
            Expiry::At(NOW + 365 * DAY_MS)
        );
        let past = Some(Expiry::At(NOW - 10 * DAY_MS));
        assert_eq!(
            stack_validity(past, NOW, Some(30), None),
            Expiry::At(NOW + 30 * DAY_MS)
        );
    }

    #[test]
    fn stacks_from_a_future_expiry() {
        let current = Some(Expiry::At(NOW + 100 * DAY_MS));
        assert_eq!(
            stack_validity(current, NOW, Some(365), None),
            Expiry::At(NOW + 465 * DAY_MS)
        );
    }

    #[test]
    fn not_after_caps_the_result() {
        let cap = NOW + 50 * DAY_MS;
        assert_eq!(
            stack_validity(None, NOW, Some(365), Some(cap)),
            Expiry::At(cap)
        );
        assert_eq!(stack_validity(None, NOW, None, Some(cap)), Expiry::At(cap));
    }

    #[test]
    fn permanent_stays_permanent() {
        assert_eq!(stack_validity(None, NOW, None, None), Expiry::Never);
        assert_eq!(
            stack_validity(Some(Expiry::Never), NOW, Some(30), Some(NOW + DAY_MS)),
            Expiry::Never
        );
    }

    #[test]
    fn status_follows_the_clock() {
        let mut s = CertificateState::default();
        assert_eq!(status(&s, NOW), Status::Unused);
        s.activated_at = Some(NOW - DAY_MS);
        s.expires = Some(Expiry::At(NOW + DAY_MS));
        assert_eq!(status(&s, NOW), Status::Activated);
        assert_eq!(status(&s, NOW + DAY_MS), Status::Expired);
        s.expires = Some(Expiry::Never);
        assert_eq!(status(&s, NOW + 1000 * DAY_MS), Status::Activated);
        s.not_after = Some(NOW + 2 * DAY_MS);
        assert_eq!(status(&s, NOW + 2 * DAY_MS), Status::Expired);
        s.revoked = true;
        assert_eq!(status(&s, NOW), Status::Revoked);
        let ended = CertificateState {
            ended: true,
            activated_at: Some(NOW),
            ..Default::default()
        };
        assert_eq!(status(&ended, NOW), Status::Expired);
    }

    #[test]
    fn a_certificate_waits_for_its_not_before_until_activated() {
        let mut s = CertificateState {
            not_before: Some(NOW + DAY_MS),
            ..Default::default()
        };
        assert_eq!(waits_until(&s, NOW), Some(NOW + DAY_MS));
        assert_eq!(status(&s, NOW), Status::Unused);
        assert_eq!(waits_until(&s, NOW + DAY_MS), None, "from that moment on");
        s.activated_at = Some(NOW + 2 * DAY_MS);
        assert_eq!(waits_until(&s, NOW), None);
    }

    #[test]
    fn an_unused_certificate_past_not_after_is_expired() {
        let s = CertificateState {
            not_after: Some(NOW - 1),
            ..Default::default()
        };
        assert_eq!(status(&s, NOW), Status::Expired);
    }
}
