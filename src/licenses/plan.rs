//! What confirming a package will do, decided from the verified certificates and the current
//! state alone (no I/O): the preview shows this plan, and confirmation carries it out.
use std::collections::{HashMap, HashSet};

use super::domain::{Expiry, stack_validity};
use super::format::{Certificate, LicenseType};
use super::model::{Effect, PREVIEW_ITEMS, Preview, PreviewItem, SummaryLine};

/// A tenant's licensed state, as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantState {
    pub id: String,
    pub name: String,
    pub platform: Option<Expiry>,
    pub unlimited_agents: Option<Expiry>,
}

impl TenantState {
    /// Activates a platform license on this tenant: its platform (and, for an unlimited-agents
    /// license, its unlimited agents) is extended as LICENSE-FORMAT.md's "Validity" says.
    /// Returns the new platform expiry.
    pub fn extend(
        &mut self,
        validity_days: Option<u32>,
        not_after: Option<i64>,
        unlimited_agents: bool,
        now: i64,
    ) -> Expiry {
        let until = stack_validity(self.platform, now, validity_days, not_after);
        self.platform = Some(until);
        if unlimited_agents {
            self.unlimited_agents = Some(stack_validity(
                self.unlimited_agents,
                now,
                validity_days,
                not_after,
            ));
        }
        until
    }
}

/// A platform license still in force on a tenant, as restacking needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce {
    /// When it was activated (Unix ms).
    pub activated_at: i64,
    pub validity_days: Option<u32>,
    pub not_after: Option<i64>,
    /// A platform-with-unlimited-agents license.
    pub unlimited_agents: bool,
}

/// A tenant's platform as the platform licenses still in force make it, after some were
/// withdrawn: each is stacked again at the time and in the order it was activated (`in_force` is
/// in that order). Without a withdrawal that is exactly what the activations did, so this takes
/// out only what a withdrawn license added. Answers the new state and each license's own expiry.
///
/// Left with none in force, the tenant has lapsed (now, or when it ran out): withdrawing its
/// licenses does not put it back in demo mode, which would unlock it.
pub fn restack(before: &TenantState, in_force: &[InForce], now: i64) -> (TenantState, Vec<Expiry>) {
    let mut state = TenantState {
        platform: None,
        unlimited_agents: None,
        ..before.clone()
    };
    let untils = in_force
        .iter()
        .map(|c| {
            state.extend(
                c.validity_days,
                c.not_after,
                c.unlimited_agents,
                c.activated_at,
            )
        })
        .collect();
    let lapsed = |had: Option<Expiry>| {
        had.map(|e| match e {
            Expiry::At(t) if t < now => Expiry::At(t),
            _ => Expiry::At(now),
        })
    };
    state.platform = state.platform.or(lapsed(before.platform));
    state.unlimited_agents = state.unlimited_agents.or(lapsed(before.unlimited_agents));
    (state, untils)
}

/// A certificate's dates as times (Unix ms), read once from their text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// It cannot be activated before this time.
    pub not_before: Option<i64>,
    /// It licenses nothing after this time.
    pub not_after: Option<i64>,
}

impl Window {
    /// The time it must wait for before it can be activated, if that lies after `now`.
    pub fn waits_until(&self, now: i64) -> Option<i64> {
        self.not_before.filter(|t| *t > now)
    }
}

/// What confirming does with one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub effect: Effect,
    /// The tenant it is assigned to: a platform license's own tenant.
    pub tenant_id: Option<String>,
    /// Activated on confirmation, licensing until then. `None`: installed unused, waiting for an
    /// administrator or, assigned already, for its `not_before` (the sweeper activates it then).
    pub activation: Option<Expiry>,
}

impl Step {
    fn inert(effect: Effect) -> Step {
        Step {
            effect,
            tenant_id: None,
            activation: None,
        }
    }
}

/// The tenant a platform license activates on by itself: the one it names, or the only one.
fn own_tenant<'a>(
    cert: &Certificate,
    tenants: &'a mut [TenantState],
) -> Option<&'a mut TenantState> {
    match &cert.tenant_id {
        Some(id) => tenants.iter_mut().find(|t| &t.id == id),
        None if tenants.len() == 1 => tenants.first_mut(),
        None => None,
    }
}

/// Which certificates of a package arrive withdrawn, each with the certificate withdrawing it:
/// one installed before and in force (`installed_revokers`: each such certificate's id with its
/// `revokes`), or one in the same package, whichever order they come in. A certificate that
/// arrives withdrawn withdraws nothing itself: within the package the newest (by `issued_at`,
/// then the later in the file) are applied first, so of two that withdraw each other the newer
/// stands.
pub fn revocations(
    certs: &[(Certificate, Window)],
    installed_revokers: impl IntoIterator<Item = (String, Vec<String>)>,
) -> HashMap<String, String> {
    let mut revoked = HashMap::new();
    for (revoker, ids) in installed_revokers {
        for id in ids {
            revoked.entry(id).or_insert_with(|| revoker.clone());
        }
    }
    let mut newest_first: Vec<&Certificate> = certs.iter().map(|(c, _)| c).collect();
    // Stable: of equal `issued_at`, the later in the file first once reversed.
    newest_first.reverse();
    newest_first.sort_by(|a, b| b.issued_at.cmp(&a.issued_at));
    for c in newest_first {
        if revoked.contains_key(&c.id) {
            continue;
        }
        for id in &c.revokes {
            revoked.entry(id.clone()).or_insert_with(|| c.id.clone());
        }
    }
    let wanted: HashSet<&str> = certs.iter().map(|(c, _)| c.id.as_str()).collect();
    revoked.retain(|id, _| wanted.contains(id.as_str()));
    revoked
}

/// One step per certificate, in order. `tenants` is updated as the steps would update it, so
/// several platform licenses for one tenant in one package stack on each other. A certificate in
/// `revoked` (see [`revocations`]) is installed withdrawn and activates nothing.
pub fn plan(
    certs: &[(Certificate, Window)],
    installed: &HashSet<String>,
    revoked: &HashMap<String, String>,
    tenants: &mut [TenantState],
    now: i64,
) -> Vec<Step> {
    certs
        .iter()
        .map(|(cert, window)| {
            if installed.contains(&cert.id) {
                return Step::inert(Effect::AlreadyInstalled);
            }
            if revoked.contains_key(&cert.id) {
                return Step::inert(Effect::ArrivesRevoked);
            }
            let unlimited_agents = cert.license_type == LicenseType::PlatformUnlimitedAgents;
            match cert.license_type {
                LicenseType::Platform | LicenseType::PlatformUnlimitedAgents => {
                    match (own_tenant(cert, tenants), window.waits_until(now)) {
                        (Some(t), None) => {
                            let until = t.extend(
                                cert.validity_days,
                                window.not_after,
                                unlimited_agents,
                                now,
                            );
                            Step {
                                effect: Effect::ExtendsTenant {
                                    tenant: t.name.clone(),
                                    until,
                                    unlimited_agents,
                                },
                                tenant_id: Some(t.id.clone()),
                                activation: Some(until),
                            }
                        }
                        // Assigned now, activated by the sweeper on its first valid day.
                        (Some(t), Some(from)) => Step {
                            effect: Effect::ExtendsTenantFrom {
                                tenant: t.name.clone(),
                                from,
                                unlimited_agents,
                            },
                            tenant_id: Some(t.id.clone()),
                            activation: None,
                        },
                        (None, _) => Step::inert(Effect::AwaitsTenant { unlimited_agents }),
                    }
                }
                LicenseType::Agent => Step::inert(Effect::AddsAgentLicense {
                    binding: cert.binding.unwrap_or(super::format::Binding::Floating),
                }),
                LicenseType::Personal => Step::inert(Effect::AddsSeats {
                    seats: cert.seats.unwrap_or(0),
                }),
                // A server license is for the whole installation: it activates on upload, or on
                // its first valid day.
                LicenseType::Server => {
                    let feature = cert.feature.clone().unwrap_or_default();
                    match window.waits_until(now) {
                        None => {
                            let until =
                                stack_validity(None, now, cert.validity_days, window.not_after);
                            Step {
                                effect: Effect::UnlocksFeature { feature, until },
                                tenant_id: None,
                                activation: Some(until),
                            }
                        }
                        Some(from) => Step::inert(Effect::UnlocksFeatureFrom { feature, from }),
                    }
                }
            }
        })
        .collect()
}

/// The preview of a plan: a summary counting like effects, and the first certificates one by one.
pub fn preview(
    file_name: &str,
    certs: &[(Certificate, Window)],
    blocks: &[usize],
    steps: &[Step],
    installed: &HashSet<String>,
) -> Preview {
    let mut summary: Vec<SummaryLine> = Vec::new();
    for ((cert, _), step) in certs.iter().zip(steps) {
        // Agent licenses and seats are counted together; extensions are listed each.
        let groupable = matches!(
            step.effect,
            Effect::AlreadyInstalled
                | Effect::ArrivesRevoked
                | Effect::AddsAgentLicense { .. }
                | Effect::AwaitsTenant { .. }
        );
        match summary
            .iter_mut()
            .find(|l| groupable && l.effect == step.effect && l.product_name == cert.product_name)
        {
            Some(line) => line.count += 1,
            None => summary.push(SummaryLine {
                count: 1,
                product_name: cert.product_name.clone(),
                effect: step.effect.clone(),
            }),
        }
    }
    let items = certs
        .iter()
        .zip(steps)
        .zip(blocks)
        .take(PREVIEW_ITEMS)
        .map(|(((cert, _), step), block)| PreviewItem {
            block: *block,
            id: cert.id.clone(),
            license_type: cert.license_type,
            product_name: cert.product_name.clone(),
            mode: cert.mode,
            effect: step.effect.clone(),
            revokes: cert
                .revokes
                .iter()
                .filter(|id| installed.contains(*id))
                .count(),
        })
        .collect();
    Preview {
        file_name: file_name.to_string(),
        total: certs.len(),
        new: steps
            .iter()
            .filter(|s| s.effect != Effect::AlreadyInstalled)
            .count(),
        summary,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licenses::domain::DAY_MS;
    use crate::licenses::format::{Binding, Mode};

    const NOW: i64 = 1_795_000_000_000;

    fn cert(id: &str, t: LicenseType, days: Option<u32>) -> (Certificate, Window) {
        (
            Certificate {
                format: 1,
                id: id.into(),
                installation_id: "i".into(),
                company_id: "c".into(),
                product: "ai-server".into(),
                product_name: "AI Server".into(),
                license_type: t,
                mode: Mode::Subscription,
                validity_days: days,
                not_before: None,
                not_after: None,
                seats: (t == LicenseType::Personal).then_some(5),
                binding: (t == LicenseType::Agent).then_some(Binding::Floating),
                feature: (t == LicenseType::Server).then(|| "telephony".into()),
                tenant_id: None,
                issued_at: "2026-11-22T00:00:00Z".into(),
                revokes: vec![],
            },
            Window::default(),
        )
    }

    fn tenant(id: &str, platform: Option<Expiry>) -> TenantState {
        TenantState {
            id: id.into(),
            name: format!("Tenant {id}"),
            platform,
            unlimited_agents: None,
        }
    }

    #[test]
    fn two_platform_licenses_for_the_only_tenant_stack_in_one_package() {
        let mut tenants = vec![tenant("t1", Some(Expiry::At(NOW + 10 * DAY_MS)))];
        let certs = [
            cert("a", LicenseType::Platform, Some(365)),
            cert("b", LicenseType::Platform, Some(30)),
        ];
        let steps = plan(&certs, &HashSet::new(), &HashMap::new(), &mut tenants, NOW);
        assert_eq!(steps[1].tenant_id, Some("t1".into()));
        assert_eq!(steps[1].activation, Some(Expiry::At(NOW + 405 * DAY_MS)));
        assert_eq!(tenants[0].platform, Some(Expiry::At(NOW + 405 * DAY_MS)));
    }

    #[test]
    fn with_several_tenants_an_unnamed_platform_license_waits() {
        let mut tenants = vec![tenant("t1", None), tenant("t2", None)];
        let mut named = cert("n", LicenseType::Platform, Some(10));
        named.0.tenant_id = Some("t2".into());
        let certs = [cert("a", LicenseType::Platform, Some(365)), named];
        let steps = plan(&certs, &HashSet::new(), &HashMap::new(), &mut tenants, NOW);
        assert_eq!(
            steps[0].effect,
            Effect::AwaitsTenant {
                unlimited_agents: false
            }
        );
        assert!(
            matches!(&steps[1].effect, Effect::ExtendsTenant { tenant, .. } if tenant == "Tenant t2")
        );
        assert_eq!(tenants[0].platform, None);
    }

    #[test]
    fn installed_certificates_change_nothing() {
        let mut tenants = vec![tenant("t1", None)];
        let installed: HashSet<String> = ["a".to_string()].into();
        let steps = plan(
            &[cert("a", LicenseType::Platform, Some(365))],
            &installed,
            &HashMap::new(),
            &mut tenants,
            NOW,
        );
        assert_eq!(steps[0].effect, Effect::AlreadyInstalled);
        assert_eq!(steps[0].activation, None);
        assert_eq!(tenants[0].platform, None);
    }

    #[test]
    fn the_summary_counts_like_agent_licenses() {
        let mut tenants = vec![tenant("t1", None)];
        let certs: Vec<_> = (0..10)
            .map(|i| cert(&format!("g{i}"), LicenseType::Agent, Some(365)))
            .collect();
        let blocks: Vec<usize> = (1..=10).collect();
        let steps = plan(&certs, &HashSet::new(), &HashMap::new(), &mut tenants, NOW);
        let p = preview("x.lcs", &certs, &blocks, &steps, &HashSet::new());
        assert_eq!(p.summary.len(), 1);
        assert_eq!(p.summary[0].count, 10);
        assert_eq!(p.new, 10);
        assert_eq!(
            p.summary[0].effect,
            Effect::AddsAgentLicense {
                binding: Binding::Floating
            }
        );
    }

    #[test]
    fn a_certificate_revoked_before_it_arrives_activates_nothing() {
        let mut tenants = vec![tenant("t1", None)];
        let mut revoker = cert("r", LicenseType::Agent, Some(30));
        revoker.0.revokes = vec!["b".into()];
        let certs = [
            cert("a", LicenseType::Platform, Some(365)),
            cert("b", LicenseType::Platform, Some(30)),
            revoker,
        ];
        // "a" was withdrawn by an installed certificate, "b" by one later in this package.
        let installed_revokers = [("old".to_string(), vec!["a".to_string(), "x".to_string()])];
        let revoked = revocations(&certs, installed_revokers);
        assert_eq!(
            revoked,
            HashMap::from([
                ("a".to_string(), "old".to_string()),
                ("b".to_string(), "r".to_string())
            ])
        );
        let steps = plan(&certs, &HashSet::new(), &revoked, &mut tenants, NOW);
        assert_eq!(steps[0].effect, Effect::ArrivesRevoked);
        assert_eq!(steps[1].effect, Effect::ArrivesRevoked);
        assert_eq!(steps[0].activation, None);
        assert_eq!(
            tenants[0].platform, None,
            "a withdrawn platform license adds no days"
        );
    }

    #[test]
    fn a_certificate_that_arrives_withdrawn_withdraws_nothing() {
        let with_revokes = |id: &str, issued: &str, revokes: &[&str]| {
            let mut c = cert(id, LicenseType::Agent, Some(30));
            c.0.issued_at = issued.into();
            c.0.revokes = revokes.iter().map(|r| r.to_string()).collect();
            c
        };
        // "old" was withdrawn by an installed certificate: its own withdrawal of "x" is void.
        let certs = [
            with_revokes("old", "2026-11-01T00:00:00Z", &["x"]),
            with_revokes("x", "2026-11-01T00:00:00Z", &[]),
        ];
        let installed = [("installed".to_string(), vec!["old".to_string()])];
        assert_eq!(
            revocations(&certs, installed),
            HashMap::from([("old".to_string(), "installed".to_string())])
        );
        // Two that withdraw each other, in either order: the newer stands.
        let older = with_revokes("a", "2026-11-01T00:00:00Z", &["b", "y"]);
        let newer = with_revokes("b", "2026-11-02T00:00:00Z", &["a"]);
        for certs in [[older.clone(), newer.clone()], [newer, older]] {
            assert_eq!(
                revocations(&certs, []),
                HashMap::from([("a".to_string(), "b".to_string())])
            );
        }
        // A chain: c withdraws b, so b's withdrawal of a is void.
        let certs = [
            with_revokes("a", "2026-11-01T00:00:00Z", &[]),
            with_revokes("b", "2026-11-02T00:00:00Z", &["a"]),
            with_revokes("c", "2026-11-03T00:00:00Z", &["b"]),
        ];
        assert_eq!(
            revocations(&certs, []),
            HashMap::from([("b".to_string(), "c".to_string())])
        );
    }

    #[test]
    fn a_certificate_before_its_not_before_is_assigned_but_not_activated() {
        let mut tenants = vec![tenant("t1", Some(Expiry::At(NOW + 10 * DAY_MS)))];
        let later = Window {
            not_before: Some(NOW + 20 * DAY_MS),
            not_after: None,
        };
        let mut platform = cert("p", LicenseType::Platform, Some(365));
        platform.1 = later;
        let mut server = cert("s", LicenseType::Server, Some(365));
        server.1 = later;
        let mut due = cert("d", LicenseType::Platform, Some(30));
        due.1.not_before = Some(NOW);
        let certs = [platform, server, due];
        let steps = plan(&certs, &HashSet::new(), &HashMap::new(), &mut tenants, NOW);
        assert_eq!(
            steps[0],
            Step {
                effect: Effect::ExtendsTenantFrom {
                    tenant: "Tenant t1".into(),
                    from: NOW + 20 * DAY_MS,
                    unlimited_agents: false
                },
                tenant_id: Some("t1".into()),
                activation: None,
            }
        );
        assert_eq!(
            steps[1],
            Step::inert(Effect::UnlocksFeatureFrom {
                feature: "telephony".into(),
                from: NOW + 20 * DAY_MS
            })
        );
        assert_eq!(
            steps[2].activation,
            Some(Expiry::At(NOW + 40 * DAY_MS)),
            "a not_before reached is no wait, and the waiting license added no days"
        );
    }
}

/// Properties of validity stacking and of restacking, on generated licenses.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::licenses::domain::DAY_MS;

    const NOW: i64 = 1_795_000_000_000;

    fn expiry() -> impl Strategy<Value = Option<Expiry>> {
        prop_oneof![
            Just(None),
            Just(Some(Expiry::Never)),
            (-400i64..400).prop_map(|d| Some(Expiry::At(NOW + d * DAY_MS / 2))),
        ]
    }

    fn in_force() -> impl Strategy<Value = Vec<InForce>> {
        prop::collection::vec(
            (
                0i64..300,
                prop::option::weighted(0.9, 1u32..400),
                prop::option::weighted(0.2, 0i64..500),
                any::<bool>(),
            ),
            0..6,
        )
        .prop_map(|mut v| {
            // In the order they were activated: the longest ago first.
            v.sort_by_key(|c| std::cmp::Reverse(c.0));
            v.into_iter()
                .map(|(ago, days, cap, unlimited)| InForce {
                    activated_at: NOW - ago * DAY_MS,
                    validity_days: days,
                    not_after: cap.map(|c| NOW - 100 * DAY_MS + c * DAY_MS),
                    unlimited_agents: unlimited,
                })
                .collect()
        })
    }

    fn tenant(platform: Option<Expiry>, unlimited: Option<Expiry>) -> TenantState {
        TenantState {
            id: "t".into(),
            name: "T".into(),
            platform,
            unlimited_agents: unlimited,
        }
    }

    /// Later is larger; `Never` is the largest.
    fn rank(e: Option<Expiry>) -> (u8, i64) {
        match e {
            None => (0, 0),
            Some(Expiry::At(t)) => (1, t),
            Some(Expiry::Never) => (2, 0),
        }
    }

    proptest! {
        #[test]
        fn stacking_extends_from_the_later_of_now_and_the_current_expiry(
            current in expiry(),
            days in prop::option::of(1u32..1000),
            cap in prop::option::of(-100i64..2000),
        ) {
            let not_after = cap.map(|c| NOW + c * DAY_MS);
            let got = stack_validity(current, NOW, days, not_after);
            // Never shorter than what it extends, unless capped by not_after; never past the cap.
            if current == Some(Expiry::Never) {
                prop_assert_eq!(got, Expiry::Never);
            } else {
                if let Some(cap) = not_after {
                    prop_assert!(rank(Some(got)) <= rank(Some(Expiry::At(cap))));
                }
                match (days, not_after) {
                    (None, None) => prop_assert_eq!(got, Expiry::Never),
                    (Some(d), None) => {
                        let from = match current {
                            Some(Expiry::At(t)) if t > NOW => t,
                            _ => NOW,
                        };
                        prop_assert_eq!(got, Expiry::At(from + i64::from(d) * DAY_MS));
                    }
                    (_, Some(_)) => {}
                }
            }
        }

        #[test]
        fn stacking_is_monotonic_in_the_current_expiry(
            a in expiry(),
            b in expiry(),
            days in prop::option::of(1u32..1000),
        ) {
            let (lo, hi) = if rank(a) <= rank(b) { (a, b) } else { (b, a) };
            prop_assert!(
                rank(Some(stack_validity(lo, NOW, days, None)))
                    <= rank(Some(stack_validity(hi, NOW, days, None)))
            );
        }

        #[test]
        fn restacking_what_is_in_force_redoes_the_activations(licenses in in_force()) {
            // Activating one after another from demo mode, then restacking with none withdrawn,
            // gives the same tenant and the same expiries.
            let mut activated = tenant(None, None);
            let untils: Vec<Expiry> = licenses
                .iter()
                .map(|c| activated.extend(c.validity_days, c.not_after, c.unlimited_agents, c.activated_at))
                .collect();
            let (restacked, again) = restack(&activated, &licenses, NOW);
            prop_assert_eq!(again, untils);
            if !licenses.is_empty() {
                prop_assert_eq!(restacked, activated);
            }
        }

        /// Without `not_after` caps: a capped license can shorten what it extends (the format:
        /// "a not_after caps the result"), so withdrawing one may lengthen the tenant.
        #[test]
        fn a_withdrawal_never_extends_a_tenant(
            licenses in in_force(),
            withdrawn in any::<prop::sample::Index>(),
        ) {
            let licenses: Vec<InForce> = licenses
                .into_iter()
                .map(|c| InForce { not_after: None, ..c })
                .collect();
            let mut activated = tenant(None, None);
            for c in &licenses {
                activated.extend(c.validity_days, c.not_after, c.unlimited_agents, c.activated_at);
            }
            let mut left = licenses.clone();
            if !left.is_empty() {
                left.remove(withdrawn.index(left.len()));
            }
            let (after, _) = restack(&activated, &left, NOW);
            prop_assert!(rank(after.platform) <= rank(activated.platform));
            prop_assert!(rank(after.unlimited_agents) <= rank(activated.unlimited_agents));
            // A tenant that had a platform never goes back to demo mode.
            prop_assert_eq!(after.platform.is_some(), activated.platform.is_some());
            if left.is_empty() && activated.platform.is_some() {
                prop_assert!(!after.platform.is_some_and(|e| e.is_valid_at(NOW)), "lapsed");
            }
        }
    }
}
