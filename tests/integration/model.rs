//! The model test (issue 9, item 8). proptest draws sequences of license operations (upload,
//! assign, bind, check out, shut down, register again, distribute and recall seats, time passing,
//! revocation) and runs each against Tessera and against a small in-memory model. Every step must
//! be answered as the model expects (a refusal with exactly the expected error), and after every
//! step the database, Settings > Licenses, each product's seats and Settings > Agents must say
//! what the model says. In every comparison, left is what Tessera says and right what the model
//! says.
//!
//! The universe: the tenants Default (the administrator, users u0 to u2, agents A0 and A1) and
//! Branch (agent A2), and these certificates, none installed when a case starts:
//!
//! | C  | type                       | days | other                         |
//! |----|----------------------------|------|-------------------------------|
//! | 0  | platform                   | 30   | names no tenant: awaits one   |
//! | 1  | platform, unlimited agents | 20   | names no tenant               |
//! | 2  | platform                   | 45   | names Default: activates      |
//! | 3  | platform                   | 15   | names Branch: activates       |
//! | 4  | agent, fixed               | 30   |                               |
//! | 5  | agent, fixed               | —    | permanent                     |
//! | 6  | agent, floating            | 25   |                               |
//! | 7  | agent, floating            | 60   |                               |
//! | 8  | personal `ai-server`       | 30   | 2 seats                       |
//! | 9  | personal `ai-server`       | —    | 1 seat, permanent             |
//! | 10 | personal `crm`             | 40   | 1 seat                        |
//! | 11 | server `telephony`         | 20   |                               |
//! | 12 | platform                   | 30   | revokes C0                    |
//! | 13 | agent, floating            | 25   | revokes C6                    |
//! | 14 | agent, fixed               | 30   | revokes C4                    |
//! | 15 | personal `ai-server`       | 30   | 2 seats, revokes C8           |
//! | 16 | platform                   | 45   | names Default, revokes C2     |
//! | 17 | platform, unlimited agents | 20   | names Branch: activates       |
//!
//! One Tessera serves all the cases of a database (starting one takes seconds on PostgreSQL);
//! before each case every license is deleted ("Delete all licenses", itself checked by the
//! comparison that follows) and the agents register again.
//!
//! Time: the model counts in "model milliseconds" from the start of the case, moved only by
//! `Expire` (whole hours). Tessera's clock is the real one moved by the same amounts, so each
//! time it stores is the model's time plus the real time the case has run so far (seconds); a
//! stored time is read back as the model's by rounding down to the hour, after checking that
//! what is left over is no more than the time the case has run.
//!
//! Figures: `PROPTEST_CASES` cases (16 by default) of up to `TESSERA_MODEL_STEPS` steps (25),
//! most after an opening package. A failure prints the smallest failing sequence, the log of its
//! run and the line that replays it (`TESSERA_MODEL_REPLAY='[...]' cargo test --features ssr
//! --test integration -- model`, which also prints each step's state when it passes).
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use futures::FutureExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use reqwest::{Client, StatusCode};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera::error::{AppError, ConflictKind, Field, Problem};

use crate::agents::{enrollment_key, post, register};
use crate::on_both_databases;
use crate::support::{Backend, Reply, TestApp, Vendor};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------------
// The universe.

const DEFAULT: usize = 0;
const TENANTS: [&str; 2] = ["Default", "Branch"];
const USERS: usize = 3;
/// The tenant of each agent.
const AGENT_TENANT: [usize; 3] = [DEFAULT, DEFAULT, 1];
const PRODUCTS: [&str; 2] = ["ai-server", "crm"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Platform { unlimited: bool },
    Agent { fixed: bool },
    Personal { product: usize, seats: u32 },
    Server,
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    kind: Kind,
    /// `None`: permanent.
    days: Option<u32>,
    /// The tenant the certificate names.
    tenant: Option<usize>,
    /// The certificate it withdraws.
    revokes: Option<usize>,
}

const fn spec(kind: Kind, days: Option<u32>) -> Spec {
    Spec {
        kind,
        days,
        tenant: None,
        revokes: None,
    }
}

const PLATFORM: Kind = Kind::Platform { unlimited: false };
const FIXED: Kind = Kind::Agent { fixed: true };
const FLOATING: Kind = Kind::Agent { fixed: false };
const AI_SEATS_2: Kind = Kind::Personal {
    product: 0,
    seats: 2,
};

/// The certificates of the universe (see the table above).
const SPECS: [Spec; 18] = [
    spec(PLATFORM, Some(30)),
    spec(Kind::Platform { unlimited: true }, Some(20)),
    Spec {
        tenant: Some(DEFAULT),
        ..spec(PLATFORM, Some(45))
    },
    Spec {
        tenant: Some(1),
        ..spec(PLATFORM, Some(15))
    },
    spec(FIXED, Some(30)),
    spec(FIXED, None),
    spec(FLOATING, Some(25)),
    spec(FLOATING, Some(60)),
    spec(AI_SEATS_2, Some(30)),
    spec(
        Kind::Personal {
            product: 0,
            seats: 1,
        },
        None,
    ),
    spec(
        Kind::Personal {
            product: 1,
            seats: 1,
        },
        Some(40),
    ),
    spec(Kind::Server, Some(20)),
    Spec {
        revokes: Some(0),
        ..spec(PLATFORM, Some(30))
    },
    Spec {
        revokes: Some(6),
        ..spec(FLOATING, Some(25))
    },
    Spec {
        revokes: Some(4),
        ..spec(FIXED, Some(30))
    },
    Spec {
        revokes: Some(8),
        ..spec(AI_SEATS_2, Some(30))
    },
    Spec {
        tenant: Some(DEFAULT),
        revokes: Some(2),
        ..spec(PLATFORM, Some(45))
    },
    Spec {
        tenant: Some(1),
        ..spec(Kind::Platform { unlimited: true }, Some(20))
    },
];

/// The product of certificate `k`: all but the `crm` seats are `ai-server`'s.
fn product_of(k: usize) -> usize {
    match SPECS[k].kind {
        Kind::Personal { product, .. } => product,
        _ => 0,
    }
}

/// The id of certificate `k`: fixed, so that ids sort as the certificates are numbered.
fn cert_id(k: usize) -> String {
    format!("00000000-0000-4000-8000-{k:012}")
}

/// The certificate that revokes `target`, if any does.
fn revoker_of(target: usize) -> Option<usize> {
    SPECS.iter().position(|s| s.revokes == Some(target))
}

// ---------------------------------------------------------------------------------------------
// The steps.

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Step {
    /// Upload a package of these certificates, and confirm it.
    Upload(Vec<usize>),
    /// Upload (and confirm) the certificate that revokes this one.
    Revoke(usize),
    /// Assign a license to a tenant (`None`: for an agent license, the shared pool).
    Assign {
        license: usize,
        tenant: Option<usize>,
    },
    /// Bind a fixed agent license to an agent.
    Bind { license: usize, agent: usize },
    /// The agent asks for a license (one inference request).
    CheckOut(usize),
    /// An administrator shuts the agent's machine down.
    ShutDown(usize),
    /// The agent registers again with its own token: a new token, its state kept (a shut-down
    /// machine stays shut down; only an administrator's reset starts it again).
    Register(usize),
    /// Seats of a product for these users, all or none.
    Distribute { users: Vec<usize>, product: usize },
    /// Seats of a product taken back from these users, all or none.
    Recall { users: Vec<usize>, product: usize },
    /// Time passes.
    Expire { days: u32, hours: u32 },
}

fn any_step() -> impl Strategy<Value = Step> {
    let all: Vec<usize> = (0..SPECS.len()).collect();
    let assignable: Vec<usize> = vec![0, 1, 1, 3, 4, 5, 6, 7, 12, 13, 14];
    let fixed: Vec<usize> = vec![4, 5, 14];
    let revocable: Vec<usize> = SPECS.iter().filter_map(|s| s.revokes).collect();
    let users =
        || proptest::sample::subsequence((0..USERS).collect::<Vec<_>>(), 1..=USERS).prop_shuffle();
    // Recalling succeeds only if every user named holds a seat: mostly one user.
    let recalled = || proptest::sample::subsequence((0..USERS).collect::<Vec<_>>(), 1..=2);
    let license = |likely: Vec<usize>| {
        prop_oneof![
            4 => proptest::sample::select(likely),
            1 => 0..SPECS.len(),
        ]
    };
    prop_oneof![
        6 => proptest::sample::subsequence(all, 1..=4)
            .prop_shuffle()
            .prop_map(Step::Upload),
        2 => proptest::sample::select(revocable).prop_map(Step::Revoke),
        3 => (license(assignable), proptest::option::of(0..TENANTS.len()))
            .prop_map(|(license, tenant)| Step::Assign { license, tenant }),
        3 => (license(fixed), 0..AGENT_TENANT.len())
            .prop_map(|(license, agent)| Step::Bind { license, agent }),
        6 => (0..AGENT_TENANT.len()).prop_map(Step::CheckOut),
        2 => (0..AGENT_TENANT.len()).prop_map(Step::ShutDown),
        2 => (0..AGENT_TENANT.len()).prop_map(Step::Register),
        3 => (users(), 0..PRODUCTS.len())
            .prop_map(|(users, product)| Step::Distribute { users, product }),
        3 => (recalled(), 0..PRODUCTS.len())
            .prop_map(|(users, product)| Step::Recall { users, product }),
        3 => (1u32..=40, 0u32..24).prop_map(|(days, hours)| Step::Expire { days, hours }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model.

/// Until when, in model milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Until {
    Never,
    At(i64),
}

impl Until {
    fn valid_at(self, now: i64) -> bool {
        match self {
            Until::Never => true,
            Until::At(t) => t > now,
        }
    }
}

/// Validity stacks: `days` more from the current expiry, or from now where that has passed;
/// permanent stays permanent, and no days is permanent.
fn stack(current: Option<Until>, now: i64, days: Option<u32>) -> Until {
    match (current, days) {
        (Some(Until::Never), _) | (_, None) => Until::Never,
        (current, Some(days)) => {
            let from = match current {
                Some(Until::At(t)) if t > now => t,
                _ => now,
            };
            Until::At(from + i64::from(days) * DAY)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Unused,
    Activated,
    Expired,
    Revoked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Unused => "unused",
            Status::Activated => "activated",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        }
    }
}

/// A certificate as stored: what the database's row says, in the model's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cert {
    activated: Option<i64>,
    expires: Option<Until>,
    /// The tenant it was assigned to (a platform license) or whose pool it is in (an agent one).
    tenant: Option<usize>,
    agent: Option<usize>,
    revoked_by: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TenantLicenses {
    platform: Option<Until>,
    unlimited: Option<Until>,
}

impl TenantLicenses {
    /// A platform license activating on the tenant; answers the platform's new expiry.
    fn extend(&mut self, days: Option<u32>, unlimited: bool, now: i64) -> Until {
        let until = stack(self.platform, now, days);
        self.platform = Some(until);
        if unlimited {
            self.unlimited = Some(stack(self.unlimited, now, days));
        }
        until
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Agent {
    running: bool,
    license: Option<usize>,
    refused: u64,
}

/// What a preview says a certificate will do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    AlreadyInstalled,
    ArrivesRevoked,
    ExtendsTenant {
        tenant: usize,
        until: Until,
        unlimited: bool,
    },
    AwaitsTenant {
        unlimited: bool,
    },
    AddsAgentLicense {
        fixed: bool,
    },
    AddsSeats(u32),
    UnlocksFeature(Until),
}

#[derive(Debug, PartialEq, Eq)]
struct Uploaded {
    /// Each certificate's effect and how many installed certificates it revokes.
    items: Vec<(Effect, usize)>,
    installed: usize,
    already_installed: usize,
}

/// What checkout grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Granted {
    basis: &'static str,
    license: Option<usize>,
    until: Until,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeatCount {
    total: u32,
    used: u32,
    free: u32,
}

#[derive(Clone, Debug)]
struct Model {
    now: i64,
    /// Packages confirmed with something new in them: the order certificates were installed in.
    packages: usize,
    /// The package each certificate was installed with, if it is.
    installed: Vec<Option<usize>>,
    /// When each installed certificate was installed, and its place (block) in its package: what
    /// the ledger restacks a tenant's platform licenses activated at the same time by.
    placed: Vec<Option<(i64, usize)>>,
    certs: Vec<Cert>,
    /// Floating licenses taken from a shut-down agent, held until its lease can have ended:
    /// the tenant's lease time (5 minutes) from the shut down. The steps move the clock by whole
    /// hours, so a hold ends at the next move.
    held_until: BTreeMap<usize, i64>,
    tenants: [TenantLicenses; 2],
    agents: [Agent; 3],
    /// (user, product) -> the certificate the seat is held from.
    seats: BTreeMap<(usize, usize), usize>,
}

fn invalid(field: Field, problem: Problem) -> AppError {
    AppError::Invalid { field, problem }
}

fn conflict(kind: ConflictKind) -> AppError {
    AppError::Conflict { kind }
}

impl Model {
    fn new() -> Model {
        Model {
            now: 0,
            packages: 0,
            installed: vec![None; SPECS.len()],
            placed: vec![None; SPECS.len()],
            certs: vec![Cert::default(); SPECS.len()],
            held_until: BTreeMap::new(),
            tenants: Default::default(),
            agents: [Agent {
                running: true,
                license: None,
                refused: 0,
            }; 3],
            seats: BTreeMap::new(),
        }
    }

    fn status(&self, k: usize) -> Status {
        let c = &self.certs[k];
        if c.revoked_by.is_some() {
            return Status::Revoked;
        }
        match (c.activated, c.expires) {
            (None, _) => Status::Unused,
            (Some(_), Some(e)) if e.valid_at(self.now) => Status::Activated,
            (Some(_), _) => Status::Expired,
        }
    }

    /// When the tenant's platform lapsed, if it had one and none is valid now.
    fn lapse(&self, t: usize) -> Option<i64> {
        let both = [self.tenants[t].platform, self.tenants[t].unlimited];
        if both.iter().flatten().any(|e| e.valid_at(self.now)) {
            return None;
        }
        both.iter()
            .flatten()
            .filter_map(|e| match e {
                Until::At(t) => Some(*t),
                Until::Never => None,
            })
            .max()
    }

    /// Management (all but Settings > Licenses) is refused while the administrator's tenant's
    /// platform has lapsed.
    fn may_manage(&self) -> Result<(), AppError> {
        match self.lapse(DEFAULT) {
            Some(on) => Err(AppError::PlatformExpired { on }),
            None => Ok(()),
        }
    }

    fn is_floating(k: usize) -> bool {
        SPECS[k].kind == FLOATING
    }

    fn upload(&mut self, package: &[usize]) -> Uploaded {
        let now = self.now;
        let mut tenants = self.tenants;
        let mut items = Vec::new();
        let mut activations: Vec<(usize, Option<usize>, Until)> = Vec::new();
        let mut arrives_revoked: Vec<(usize, usize)> = Vec::new();
        for &k in package {
            let s = SPECS[k];
            let revokes = s
                .revokes
                .filter(|r| self.installed[*r].is_some())
                .map_or(0, |_| 1);
            if self.installed[k].is_some() {
                items.push((Effect::AlreadyInstalled, revokes));
                continue;
            }
            // Withdrawn before it arrives: by an installed certificate or one in this package.
            if let Some(r) = revoker_of(k)
                && (self.installed[r].is_some() || package.contains(&r))
            {
                items.push((Effect::ArrivesRevoked, revokes));
                arrives_revoked.push((k, r));
                continue;
            }
            let effect = match s.kind {
                Kind::Platform { unlimited } => match s.tenant {
                    Some(t) => {
                        let until = tenants[t].extend(s.days, unlimited, now);
                        activations.push((k, Some(t), until));
                        Effect::ExtendsTenant {
                            tenant: t,
                            until,
                            unlimited,
                        }
                    }
                    None => Effect::AwaitsTenant { unlimited },
                },
                Kind::Agent { fixed } => Effect::AddsAgentLicense { fixed },
                Kind::Personal { seats, .. } => Effect::AddsSeats(seats),
                Kind::Server => {
                    let until = stack(None, now, s.days);
                    activations.push((k, None, until));
                    Effect::UnlocksFeature(until)
                }
            };
            items.push((effect, revokes));
        }
        let fresh: Vec<usize> = package
            .iter()
            .copied()
            .filter(|k| self.installed[*k].is_none())
            .collect();
        if !fresh.is_empty() {
            for &k in &fresh {
                self.installed[k] = Some(self.packages);
                self.placed[k] = package
                    .iter()
                    .position(|&p| p == k)
                    .map(|block| (now, block));
            }
            self.packages += 1;
            for (k, tenant, until) in activations {
                let c = &mut self.certs[k];
                c.activated = Some(now);
                c.expires = Some(until);
                c.tenant = tenant;
            }
            let changed: Vec<usize> = (0..tenants.len())
                .filter(|t| tenants[*t] != self.tenants[*t])
                .collect();
            self.tenants = tenants;
            for t in changed {
                self.release_floating_under_unlimited(t);
            }
            for (k, r) in arrives_revoked {
                self.certs[k].revoked_by = Some(r);
            }
            let mut restack = BTreeSet::new();
            for &k in &fresh {
                if let Some(r) = SPECS[k].revokes
                    && self.installed[r].is_some()
                    && self.certs[r].revoked_by.is_none()
                {
                    self.certs[r].revoked_by = Some(k);
                    if let (Kind::Platform { .. }, Some(_), Some(t)) =
                        (SPECS[r].kind, self.certs[r].activated, self.certs[r].tenant)
                    {
                        restack.insert(t);
                    }
                }
            }
            // A withdrawn platform license takes the days it added with it.
            for t in restack {
                self.restack(t);
            }
        }
        Uploaded {
            installed: fresh.len(),
            already_installed: package.len() - fresh.len(),
            items,
        }
    }

    /// The tenant's platform as the platform licenses still in force make it: each activated one
    /// not revoked, stacked again at the time (and in the order) it was activated.
    fn restack(&mut self, t: usize) {
        // As the ledger orders them: activated first, then installed first, then by place in
        // the package, then by id.
        type Order = (i64, Option<(i64, usize)>, usize);
        let mut in_force: Vec<Order> = (0..SPECS.len())
            .filter(|&k| matches!(SPECS[k].kind, Kind::Platform { .. }))
            .filter(|&k| self.certs[k].tenant == Some(t) && self.certs[k].revoked_by.is_none())
            .filter_map(|k| self.certs[k].activated.map(|at| (at, self.placed[k], k)))
            .collect();
        in_force.sort();
        let mut licenses = TenantLicenses::default();
        for (at, _, k) in in_force {
            let Kind::Platform { unlimited } = SPECS[k].kind else {
                continue;
            };
            self.certs[k].expires = Some(licenses.extend(SPECS[k].days, unlimited, at));
        }
        // Left with none in force, it has lapsed (now, or when it ran out): not demo mode again.
        let now = self.now;
        let lapsed = |had: Option<Until>| {
            had.map(|e| match e {
                Until::At(t) if t < now => Until::At(t),
                _ => Until::At(now),
            })
        };
        licenses.platform = licenses.platform.or(lapsed(self.tenants[t].platform));
        licenses.unlimited = licenses.unlimited.or(lapsed(self.tenants[t].unlimited));
        self.tenants[t] = licenses;
    }

    fn assign(&mut self, k: usize, tenant: Option<usize>) -> Result<(), AppError> {
        self.may_manage()?;
        if self.installed[k].is_none() {
            return Err(invalid(Field::License, Problem::Unknown));
        }
        if matches!(self.status(k), Status::Expired | Status::Revoked) {
            return Err(conflict(ConflictKind::LicenseUnusable));
        }
        let now = self.now;
        let s = SPECS[k];
        match s.kind {
            Kind::Platform { unlimited } => {
                let c = self.certs[k];
                if c.activated.is_some() || c.tenant.is_some() {
                    return Err(conflict(ConflictKind::AlreadyAssigned));
                }
                let t = tenant.ok_or(invalid(Field::Tenant, Problem::Required))?;
                let until = self.tenants[t].extend(s.days, unlimited, now);
                let c = &mut self.certs[k];
                c.activated = Some(now);
                c.expires = Some(until);
                c.tenant = Some(t);
                self.release_floating_under_unlimited(t);
                Ok(())
            }
            Kind::Agent { .. } => {
                if self.certs[k].agent.is_some() {
                    return Err(conflict(ConflictKind::AlreadyBound));
                }
                self.certs[k].tenant = tenant;
                Ok(())
            }
            Kind::Personal { .. } | Kind::Server => {
                Err(invalid(Field::License, Problem::WrongType))
            }
        }
    }

    /// An agent gives back the floating license it holds, if it holds one.
    /// While a tenant's unlimited-agents license is valid, its agents' floating licenses go back
    /// to the pool (done whenever the tenant's licenses change).
    fn release_floating_under_unlimited(&mut self, t: usize) {
        if self.tenants[t]
            .unlimited
            .is_some_and(|u| u.valid_at(self.now))
        {
            for a in (0..self.agents.len()).filter(|a| AGENT_TENANT[*a] == t) {
                self.release_floating(a);
            }
        }
    }

    fn release_floating(&mut self, a: usize) {
        if let Some(h) = self.agents[a].license.filter(|h| Model::is_floating(*h)) {
            self.agents[a].license = None;
            if self.certs[h].agent == Some(a) {
                self.certs[h].agent = None;
            }
        }
    }

    fn bind(&mut self, k: usize, a: usize) -> Result<(), AppError> {
        self.may_manage()?;
        if self.installed[k].is_none() {
            return Err(invalid(Field::License, Problem::Unknown));
        }
        if SPECS[k].kind != FIXED {
            return Err(invalid(Field::License, Problem::WrongType));
        }
        if self.certs[k].agent.is_some() {
            return Err(conflict(ConflictKind::AlreadyBound));
        }
        if self.status(k) != Status::Unused {
            return Err(conflict(ConflictKind::LicenseUnusable));
        }
        if self.certs[k].tenant.is_some_and(|t| t != AGENT_TENANT[a]) {
            return Err(conflict(ConflictKind::OtherTenant));
        }
        // A second fixed license stacks on the one the agent holds, while that one is valid.
        let current = self.agents[a]
            .license
            .filter(|h| SPECS[*h].kind == FIXED && self.status(*h) == Status::Activated)
            .and_then(|h| self.certs[h].expires);
        self.release_floating(a);
        let until = stack(current, self.now, SPECS[k].days);
        self.agents[a].license = Some(k);
        let c = &mut self.certs[k];
        c.agent = Some(a);
        c.activated = Some(self.now);
        c.expires = Some(until);
        Ok(())
    }

    /// What checkout would grant the agent, if it is running, without taking a floating license.
    /// Unlimited agents come first (a floating license held was let go when they began).
    fn licensed(&self, a: usize) -> Option<Granted> {
        if let Some(until) = self.tenants[AGENT_TENANT[a]]
            .unlimited
            .filter(|u| u.valid_at(self.now))
        {
            return Some(Granted {
                basis: "unlimited_agents",
                license: None,
                until,
            });
        }
        let h = self.agents[a].license?;
        (self.status(h) == Status::Activated).then(|| Granted {
            basis: if Model::is_floating(h) {
                "floating"
            } else {
                "fixed"
            },
            license: Some(h),
            until: self.certs[h]
                .expires
                .expect("an activated license has an expiry"),
        })
    }

    fn check_out(&mut self, a: usize) -> Result<Granted, AppError> {
        let decided = self.decide(a);
        if decided.is_err() {
            self.agents[a].refused += 1;
        }
        decided
    }

    fn decide(&mut self, a: usize) -> Result<Granted, AppError> {
        if !self.agents[a].running {
            return Err(AppError::AgentShutDown);
        }
        if let Some(granted) = self.licensed(a) {
            return Ok(granted);
        }
        // A fixed license that no longer licenses refuses the agent, saying why; a floating one
        // is let go (it stays expired or revoked, bound to nobody) and a free one taken.
        if let Some(h) = self.agents[a].license {
            if !Model::is_floating(h) {
                return Err(match self.status(h) {
                    Status::Revoked => AppError::LicenseRevoked,
                    _ => AppError::LicenseExpired,
                });
            }
            self.certs[h].agent = None;
            self.agents[a].license = None;
        }
        // The first free floating license: the tenant's pool before the shared one, then the
        // oldest installed, then by id.
        let t = AGENT_TENANT[a];
        let free = (0..SPECS.len())
            .filter(|&k| {
                let c = &self.certs[k];
                Model::is_floating(k)
                    && self.installed[k].is_some()
                    && c.agent.is_none()
                    && self.held_until.get(&k).is_none_or(|u| *u <= self.now)
                    && c.revoked_by.is_none()
                    && c.expires.is_none_or(|e| e.valid_at(self.now))
                    && c.tenant.is_none_or(|pool| pool == t)
            })
            .min_by_key(|&k| (self.certs[k].tenant.is_none(), self.installed[k], k));
        let Some(k) = free else {
            return Err(AppError::NoLicenseFree);
        };
        // Its validity runs from its first activation.
        let now = self.now;
        let c = &mut self.certs[k];
        let until = match c.expires {
            Some(until) => until,
            None => {
                c.activated = Some(now);
                stack(None, now, SPECS[k].days)
            }
        };
        c.expires = Some(until);
        c.agent = Some(a);
        self.agents[a].license = Some(k);
        Ok(Granted {
            basis: "floating",
            license: Some(k),
            until,
        })
    }

    fn shut_down(&mut self, a: usize) -> Result<(), AppError> {
        self.may_manage()?;
        self.agents[a].running = false;
        let held = self.agents[a].license.filter(|h| Model::is_floating(*h));
        self.release_floating(a);
        if let Some(h) = held {
            self.held_until.insert(h, self.now + 5 * 60_000);
        }
        Ok(())
    }

    fn register(&mut self, a: usize) -> Result<(), AppError> {
        if let Some(on) = self.lapse(AGENT_TENANT[a]) {
            return Err(AppError::PlatformExpired { on });
        }
        Ok(())
    }

    /// The personal licenses of a product, in the order seats are taken from them.
    fn pools(&self, product: usize) -> Vec<usize> {
        let mut pools: Vec<usize> = (0..SPECS.len())
            .filter(|&k| {
                matches!(SPECS[k].kind, Kind::Personal { product: p, .. } if p == product)
                    && self.installed[k].is_some()
            })
            .collect();
        pools.sort_by_key(|&k| (self.installed[k], k));
        pools
    }

    fn seats_of(k: usize) -> u32 {
        match SPECS[k].kind {
            Kind::Personal { seats, .. } => seats,
            _ => 0,
        }
    }

    fn held(&self, k: usize) -> u32 {
        self.seats.values().filter(|c| **c == k).count() as u32
    }

    /// An expired or revoked license grants no seat.
    fn pool_valid(&self, k: usize) -> bool {
        matches!(self.status(k), Status::Unused | Status::Activated)
    }

    fn pool_free(&self, k: usize) -> u32 {
        if self.pool_valid(k) {
            Model::seats_of(k).saturating_sub(self.held(k))
        } else {
            0
        }
    }

    fn seat_count(&self, product: usize) -> SeatCount {
        self.pools(product)
            .into_iter()
            .filter(|k| self.pool_valid(*k))
            .fold(
                SeatCount {
                    total: 0,
                    used: 0,
                    free: 0,
                },
                |n, k| SeatCount {
                    total: n.total + Model::seats_of(k),
                    used: n.used + self.held(k).min(Model::seats_of(k)),
                    free: n.free + self.pool_free(k),
                },
            )
    }

    fn distribute(&mut self, users: &[usize], product: usize) -> Result<SeatCount, AppError> {
        self.may_manage()?;
        let pools = self.pools(product);
        if pools.is_empty() {
            return Err(invalid(Field::Product, Problem::Unknown));
        }
        // A seat held from an expired or revoked license grants nothing: a new one replaces it.
        if users.iter().any(|u| {
            self.seats
                .get(&(*u, product))
                .is_some_and(|k| self.pool_valid(*k))
        }) {
            return Err(conflict(ConflictKind::AlreadyHolds));
        }
        let free = self.seat_count(product).free;
        if users.len() as u32 > free {
            return Err(AppError::NotEnoughSeats { free });
        }
        // Fill the first license with room, then the next.
        let slots: Vec<usize> = pools
            .iter()
            .flat_map(|k| std::iter::repeat_n(*k, self.pool_free(*k) as usize))
            .take(users.len())
            .collect();
        for (u, k) in users.iter().zip(slots) {
            self.seats.insert((*u, product), k);
            // A personal license is activated by its first seat.
            if self.certs[k].activated.is_none() {
                self.certs[k].activated = Some(self.now);
                self.certs[k].expires = Some(stack(None, self.now, SPECS[k].days));
            }
        }
        Ok(self.seat_count(product))
    }

    fn recall(&mut self, users: &[usize], product: usize) -> Result<SeatCount, AppError> {
        self.may_manage()?;
        if !users
            .iter()
            .all(|u| self.seats.contains_key(&(*u, product)))
        {
            return Err(conflict(ConflictKind::NotHeld));
        }
        for u in users {
            self.seats.remove(&(*u, product));
        }
        Ok(self.seat_count(product))
    }
}

// ---------------------------------------------------------------------------------------------
// What the model and the database are compared by.

/// The stored state, in the model's terms (indices, model times).
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    certs: BTreeMap<usize, Cert>,
    tenants: Vec<TenantLicenses>,
    agents: Vec<StoredAgent>,
    /// (user, product, certificate).
    seats: BTreeSet<(usize, usize, usize)>,
}

/// An agent as stored: running, the license it holds, its refusals.
type StoredAgent = (bool, Option<usize>, u64);

/// One row of Settings > Licenses: status, tenant, agent, seats used and total.
type ListRow = (
    &'static str,
    Option<String>,
    Option<usize>,
    u32,
    Option<u32>,
);

/// One row of Settings > Agents: state, license held (with its status), basis, licensed until,
/// refusals.
type AgentRow = (
    &'static str,
    Option<(usize, &'static str)>,
    Option<&'static str>,
    Option<Until>,
    u64,
);

fn status_name(s: &str) -> &'static str {
    match s {
        "unused" => "unused",
        "activated" => "activated",
        "expired" => "expired",
        "revoked" => "revoked",
        "running" => "running",
        "shut_down" => "shut_down",
        "fixed" => "fixed",
        "floating" => "floating",
        "unlimited_agents" => "unlimited_agents",
        other => panic!("an unexpected value {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tessera (one for all the cases, reset before each), the model, and the steps.

struct World<'v> {
    app: TestApp,
    vendor: &'v Vendor,
    admin: Client,
    /// Tessera's time when the model's time was 0.
    t0: i64,
    tenant_ids: Vec<String>,
    enrollment_keys: Vec<String>,
    user_ids: Vec<String>,
    agent_ids: Vec<String>,
    tokens: Vec<String>,
    certs: Vec<Value>,
    model: Model,
}

impl<'v> World<'v> {
    async fn start(backend: Backend, vendor: &'v Vendor) -> World<'v> {
        // Sessions of 30 days; the administrator signs in again after time passes anyway.
        let app = TestApp::start_with_vendor(backend, vendor, crate::support::LONG_SESSIONS).await;
        let t0 = app.state.clock.now_ms();
        let admin = app.admin().await;
        let default = app.default_tenant(&admin).await;
        let r = app
            .call(&admin, "tenants/create", &[("name", TENANTS[1])])
            .await;
        assert_eq!(r.status, StatusCode::OK, "create Branch: {:?}", r.body);
        let branch = r.body["id"].as_str().expect("the tenant's id").to_string();
        let branch_key = tessera::tenants::entity::Entity::find_by_id(branch.clone())
            .one(&app.db)
            .await
            .expect("read the tenant")
            .and_then(|t| t.enrollment_key)
            .expect("Branch has an enrollment key");
        let enrollment_keys = vec![enrollment_key(&app).await, branch_key];
        let mut user_ids = Vec::new();
        for u in 0..USERS {
            user_ids.push(app.create_user(&admin, &format!("u{u}"), "user").await);
        }
        let (mut agent_ids, mut tokens) = (Vec::new(), Vec::new());
        for (a, t) in AGENT_TENANT.iter().enumerate() {
            let (id, token) = register(&app, &enrollment_keys[*t], &format!("A{a}")).await;
            agent_ids.push(id);
            tokens.push(token);
        }
        let tenant_ids = vec![default, branch];
        let inst = app.state.installation_id.to_string();
        let certs = SPECS
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let license_type = match s.kind {
                    Kind::Platform { unlimited: false } => "platform",
                    Kind::Platform { unlimited: true } => "platform_unlimited_agents",
                    Kind::Agent { .. } => "agent",
                    Kind::Personal { .. } => "personal",
                    Kind::Server => "server",
                };
                let product = product_of(k);
                let mut c = vendor.certificate(&inst, license_type);
                c["id"] = cert_id(k).into();
                c["product"] = PRODUCTS[product].into();
                c["product_name"] = format!("C{k} {}", PRODUCTS[product]).into();
                c["validity_days"] = s.days.map_or(Value::Null, Value::from);
                c["tenant_id"] = s
                    .tenant
                    .map_or(Value::Null, |t| tenant_ids[t].clone().into());
                match s.kind {
                    Kind::Agent { fixed } => {
                        c["binding"] = if fixed { "fixed" } else { "floating" }.into();
                    }
                    Kind::Personal { seats, .. } => c["seats"] = seats.into(),
                    _ => {}
                }
                if let Some(r) = s.revokes {
                    c["revokes"] = json!([cert_id(r)]);
                }
                c
            })
            .collect();
        World {
            app,
            vendor,
            admin,
            t0,
            tenant_ids,
            enrollment_keys,
            user_ids,
            agent_ids,
            tokens,
            certs,
            model: Model::new(),
        }
    }

    /// Back to the start of a case: every license deleted (Settings > Licenses' "Delete all
    /// licenses", which is itself checked by the comparison that follows), every agent registered
    /// again (running, holding nothing), and the model at time 0. The agents' refusal counts carry
    /// over from earlier cases.
    async fn reset(&mut self) {
        self.sign_in_again().await;
        let r = self
            .app
            .call(
                &self.admin,
                "licenses/delete_all",
                &[("confirmation", "DELETE")],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "delete all licenses: {:?}",
            r.body
        );
        for (a, t) in AGENT_TENANT.iter().enumerate() {
            // An administrator reopens each machine, which starts it again.
            let r = self
                .app
                .call(
                    &self.admin,
                    "agents/reset_registration",
                    &[("agent_id", &self.agent_ids[a])],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "reset registration: {:?}", r.body);
            let (id, token) =
                register(&self.app, &self.enrollment_keys[*t], &format!("A{a}")).await;
            assert_eq!(id, self.agent_ids[a], "registered again: the same agent");
            self.tokens[a] = token;
        }
        self.t0 = self.app.state.clock.now_ms();
        self.model = Model::new();
        let stored = self.stored("the reset").await;
        for (agent, (_, _, refused)) in self.model.agents.iter_mut().zip(stored.agents) {
            agent.refused = refused;
        }
    }

    /// How long the case has run in real time: how far past the model's time Tessera's clock is.
    fn slack(&self) -> i64 {
        let slack = self.app.state.clock.now_ms() - self.t0 - self.model.now;
        assert!(
            (0..HOUR).contains(&slack),
            "the case must run under an hour: {slack} ms"
        );
        slack
    }

    /// A time Tessera stored, as the model's time: rounded down to the hour, the rest being the
    /// real time that had passed when it was stored.
    fn model_time(&self, stored: i64, slack: i64, what: &str) -> i64 {
        let since = stored - self.t0;
        let model = since.div_euclid(HOUR) * HOUR;
        assert!(
            since - model <= slack,
            "{what}: {stored} is {} ms past an hour of model time, more than the {slack} ms the \
             case has run",
            since - model
        );
        model
    }

    fn until_of_parts(
        &self,
        until: Option<i64>,
        permanent: bool,
        slack: i64,
        what: &str,
    ) -> Option<Until> {
        if permanent {
            return Some(Until::Never);
        }
        until.map(|t| Until::At(self.model_time(t, slack, what)))
    }

    /// An `Expiry` as JSON (`"Never"` or `{"At": ms}`), or null.
    fn until_of_json(&self, v: &Value, slack: i64, what: &str) -> Option<Until> {
        match v {
            Value::Null => None,
            Value::String(s) if s == "Never" => Some(Until::Never),
            other => {
                let at = other["At"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{what}: not an expiry: {other}"));
                Some(Until::At(self.model_time(at, slack, what)))
            }
        }
    }

    fn cert_index(&self, id: &str) -> usize {
        (0..SPECS.len())
            .find(|k| cert_id(*k) == id)
            .unwrap_or_else(|| panic!("a certificate not of the universe: {id}"))
    }

    fn agent_index(&self, id: &str) -> usize {
        self.agent_ids
            .iter()
            .position(|a| a == id)
            .unwrap_or_else(|| panic!("an agent not of the universe: {id}"))
    }

    fn tenant_index(&self, id: &str) -> usize {
        self.tenant_ids
            .iter()
            .position(|t| t == id)
            .unwrap_or_else(|| panic!("a tenant not of the universe: {id}"))
    }

    fn user_index(&self, id: &str) -> usize {
        self.user_ids
            .iter()
            .position(|u| u == id)
            .unwrap_or_else(|| panic!("a user not of the universe: {id}"))
    }

    /// Checks a refusal: its HTTP status and its error, exactly (a lapse's date as model time).
    fn check_refusal(&self, reply: &Reply, expected: &AppError, ctx: &str) -> String {
        let got: AppError = serde_json::from_value(reply.body.clone())
            .unwrap_or_else(|e| panic!("{ctx}: not an error ({e}): {:?}", reply.body));
        let got = match got {
            AppError::PlatformExpired { on } => AppError::PlatformExpired {
                on: self.model_time(on, self.slack(), ctx),
            },
            other => other,
        };
        assert_eq!(
            (reply.status.as_u16(), &got),
            (expected.status(), expected),
            "{ctx}: the refusal"
        );
        let label = reply.body["error"].as_str().unwrap_or("?").to_string();
        match expected {
            AppError::Conflict { kind } => format!("{label} {kind:?}"),
            AppError::Invalid { field, problem } => format!("{label} {field:?} {problem:?}"),
            _ => label,
        }
    }

    /// Checks the answer to a step with nothing to say on success.
    fn check_done(&self, reply: &Reply, expected: Result<(), AppError>, ctx: &str) -> String {
        match expected {
            Ok(()) => {
                assert_eq!(reply.status, StatusCode::OK, "{ctx}: {:?}", reply.body);
                "ok".into()
            }
            Err(e) => self.check_refusal(reply, &e, ctx),
        }
    }

    fn check_seat_count(
        &self,
        reply: &Reply,
        expected: Result<SeatCount, AppError>,
        ctx: &str,
    ) -> String {
        match expected {
            Ok(count) => {
                assert_eq!(reply.status, StatusCode::OK, "{ctx}: {:?}", reply.body);
                let got: tessera::seats::model::SeatCount =
                    serde_json::from_value(reply.body.clone()).expect("a seat count");
                assert_eq!(
                    SeatCount {
                        total: got.total,
                        used: got.used,
                        free: got.free
                    },
                    count,
                    "{ctx}: the seats"
                );
                "ok".into()
            }
            Err(e) => self.check_refusal(reply, &e, ctx),
        }
    }

    async fn sign_in_again(&mut self) {
        self.admin = self.app.admin().await;
    }

    /// Runs one step on both sides and checks the answer; answers a label for the tally.
    async fn step(&mut self, step: &Step, ctx: &str) -> String {
        match step {
            Step::Upload(package) => self.upload(package, ctx).await,
            Step::Revoke(target) => {
                self.upload(
                    &[revoker_of(*target).expect("a certificate revoking the target")],
                    ctx,
                )
                .await
            }
            Step::Assign { license, tenant } => {
                let expected = self.model.assign(*license, *tenant);
                let tenant = tenant.map_or(String::new(), |t| self.tenant_ids[t].clone());
                let license = cert_id(*license);
                let r = self
                    .app
                    .call(
                        &self.admin,
                        "tenants/assign",
                        &[("tenant_id", &tenant), ("license_id", &license)],
                    )
                    .await;
                self.check_done(&r, expected, ctx)
            }
            Step::Bind { license, agent } => {
                let expected = self.model.bind(*license, *agent);
                let license = cert_id(*license);
                let r = self
                    .app
                    .call(
                        &self.admin,
                        "agents/bind",
                        &[
                            ("agent_id", &self.agent_ids[*agent]),
                            ("license_id", &license),
                            ("understood", "yes"),
                        ],
                    )
                    .await;
                self.check_done(&r, expected, ctx)
            }
            Step::CheckOut(a) => {
                let expected = self.model.check_out(*a);
                let r = post(&self.app, "checkout", Some(&self.tokens[*a]), None).await;
                match expected {
                    Ok(granted) => {
                        assert_eq!(r.status, StatusCode::OK, "{ctx}: {:?}", r.body);
                        let slack = self.slack();
                        let got = Granted {
                            basis: status_name(r.body["basis"].as_str().expect("a basis")),
                            license: r.body["license_id"].as_str().map(|id| self.cert_index(id)),
                            until: match &r.body["expires_at"] {
                                Value::Null => Until::Never,
                                v => Until::At(self.model_time(
                                    v.as_i64().expect("expires_at in ms"),
                                    slack,
                                    ctx,
                                )),
                            },
                        };
                        assert_eq!(r.body["licensed"], true, "{ctx}");
                        assert_eq!(got, granted, "{ctx}: the grant");
                        format!("ok {}", granted.basis)
                    }
                    Err(e) => self.check_refusal(&r, &e, ctx),
                }
            }
            Step::ShutDown(a) => {
                let expected = self.model.shut_down(*a);
                let r = self
                    .app
                    .call(
                        &self.admin,
                        "agents/shut_down",
                        &[("agent_id", &self.agent_ids[*a])],
                    )
                    .await;
                self.check_done(&r, expected, ctx)
            }
            Step::Register(a) => {
                let expected = self.model.register(*a);
                let t = AGENT_TENANT[*a];
                let body = json!({
                    "enrollment_key": self.enrollment_keys[t],
                    "machine_id": format!("A{a}"),
                });
                let token = self.tokens[*a].clone();
                let r = post(&self.app, "register", Some(&token), Some(body)).await;
                match expected {
                    Ok(()) => {
                        assert_eq!(r.status, StatusCode::OK, "{ctx}: {:?}", r.body);
                        assert_eq!(
                            (r.body["agent_id"].as_str(), r.body["tenant_id"].as_str()),
                            (
                                Some(self.agent_ids[*a].as_str()),
                                Some(self.tenant_ids[t].as_str())
                            ),
                            "{ctx}: the same agent"
                        );
                        self.tokens[*a] = r.body["token"].as_str().expect("a token").to_string();
                        "ok".into()
                    }
                    Err(e) => self.check_refusal(&r, &e, ctx),
                }
            }
            Step::Distribute { users, product } => {
                let expected = self.model.distribute(users, *product);
                let r = self.seats("seats/apply", users, *product).await;
                self.check_seat_count(&r, expected, ctx)
            }
            Step::Recall { users, product } => {
                let expected = self.model.recall(users, *product);
                let r = self.seats("seats/recall", users, *product).await;
                self.check_seat_count(&r, expected, ctx)
            }
            Step::Expire { days, hours } => {
                let by = i64::from(*days) * DAY + i64::from(*hours) * HOUR;
                self.model.now += by;
                self.app.state.clock.advance(by);
                self.app.state.ledger.time_moved();
                // Sessions end as time passes.
                self.sign_in_again().await;
                match self.model.may_manage() {
                    Ok(()) => "ok".into(),
                    Err(_) => "ok, Default's platform lapsed".into(),
                }
            }
        }
    }

    async fn seats(&self, endpoint: &str, users: &[usize], product: usize) -> Reply {
        let keys: Vec<String> = (0..users.len()).map(|i| format!("user_ids[{i}]")).collect();
        let mut form: Vec<(&str, &str)> = vec![("product", PRODUCTS[product])];
        form.extend(
            keys.iter()
                .map(String::as_str)
                .zip(users.iter().map(|u| self.user_ids[*u].as_str())),
        );
        self.app.call(&self.admin, endpoint, &form).await
    }

    async fn upload(&mut self, package: &[usize], ctx: &str) -> String {
        let expected = self.model.upload(package);
        let certs: Vec<Value> = package.iter().map(|k| self.certs[*k].clone()).collect();
        let (id, preview) = self
            .app
            .upload_outcome(&self.admin, &self.vendor.package(&certs))
            .await;
        assert_eq!(preview["outcome"], "preview", "{ctx}: {preview}");
        let slack = self.slack();
        let items: Vec<(Effect, usize)> = preview["items"]
            .as_array()
            .expect("the preview's items")
            .iter()
            .map(|i| {
                let e = &i["effect"];
                let flag = |k: &str| e[k].as_bool().expect("a flag");
                let effect = match e["effect"].as_str() {
                    Some("already_installed") => Effect::AlreadyInstalled,
                    Some("arrives_revoked") => Effect::ArrivesRevoked,
                    Some("extends_tenant") => Effect::ExtendsTenant {
                        tenant: TENANTS
                            .iter()
                            .position(|t| e["tenant"] == *t)
                            .expect("a tenant of the universe"),
                        until: self
                            .until_of_json(&e["until"], slack, ctx)
                            .expect("until when"),
                        unlimited: flag("unlimited_agents"),
                    },
                    Some("awaits_tenant") => Effect::AwaitsTenant {
                        unlimited: flag("unlimited_agents"),
                    },
                    Some("adds_agent_license") => Effect::AddsAgentLicense {
                        fixed: e["binding"] == "fixed",
                    },
                    Some("adds_seats") => {
                        Effect::AddsSeats(e["seats"].as_u64().expect("seats") as u32)
                    }
                    Some("unlocks_feature") => {
                        assert_eq!(e["feature"], "telephony", "{ctx}");
                        Effect::UnlocksFeature(
                            self.until_of_json(&e["until"], slack, ctx)
                                .expect("until when"),
                        )
                    }
                    other => panic!("{ctx}: an unknown effect {other:?}"),
                };
                (effect, i["revokes"].as_u64().expect("revokes") as usize)
            })
            .collect();
        assert_eq!(items, expected.items, "{ctx}: the preview");
        assert_eq!(
            (preview["total"].as_u64(), preview["new"].as_u64()),
            (Some(package.len() as u64), Some(expected.installed as u64)),
            "{ctx}: the preview's counts"
        );
        let r = self
            .app
            .call(&self.admin, "licenses/confirm", &[("id", &id)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{ctx}: confirm: {:?}", r.body);
        assert_eq!(
            (
                r.body["installed"].as_u64(),
                r.body["already_installed"].as_u64()
            ),
            (
                Some(expected.installed as u64),
                Some(expected.already_installed as u64)
            ),
            "{ctx}: confirmed"
        );
        let revoked = expected.items.iter().any(|(_, n)| *n > 0);
        match (expected.installed, revoked) {
            (0, _) => "ok, nothing new".into(),
            (_, true) => "ok, revoking".into(),
            _ => "ok".into(),
        }
    }

    /// The database, read directly.
    async fn stored(&self, ctx: &str) -> Stored {
        use tessera::agents::entity as agent;
        use tessera::licenses::entity::certificate;
        use tessera::seats::entity as seat;
        use tessera::tenants::entity as tenant;
        let db = &self.app.db;
        let slack = self.slack();
        let mut certs = BTreeMap::new();
        for r in certificate::Entity::find()
            .all(db)
            .await
            .expect("read certificates")
        {
            let k = self.cert_index(&r.id);
            let what = format!("{ctx}: C{k}");
            assert_eq!(r.ended_reason, None, "{what}: no agent is ever deleted");
            certs.insert(
                k,
                Cert {
                    activated: r.activated_at.map(|t| self.model_time(t, slack, &what)),
                    expires: match r.activated_at {
                        Some(_) => self.until_of_parts(r.expires_at, r.permanent, slack, &what),
                        None => {
                            assert_eq!(
                                (r.expires_at, r.permanent),
                                (None, false),
                                "{what}: unused"
                            );
                            None
                        }
                    },
                    tenant: r
                        .assigned_tenant_id
                        .as_deref()
                        .map(|t| self.tenant_index(t)),
                    agent: r.bound_agent_id.as_deref().map(|a| self.agent_index(a)),
                    revoked_by: r.revoked_by.as_deref().map(|c| self.cert_index(c)),
                },
            );
        }
        let tenants_by_id: BTreeMap<usize, tenant::Model> = tenant::Entity::find()
            .all(db)
            .await
            .expect("read tenants")
            .into_iter()
            .map(|t| (self.tenant_index(&t.id), t))
            .collect();
        let tenants = tenants_by_id
            .values()
            .map(|t| {
                let what = format!("{ctx}: tenant {}", t.name);
                TenantLicenses {
                    platform: self.until_of_parts(
                        t.platform_until,
                        t.platform_permanent,
                        slack,
                        &what,
                    ),
                    unlimited: self.until_of_parts(
                        t.unlimited_agents_until,
                        t.unlimited_agents_permanent,
                        slack,
                        &what,
                    ),
                }
            })
            .collect();
        // Refusals are counted in memory and written every second: written now.
        self.app
            .state
            .ledger
            .flush_noted()
            .await
            .expect("the refusals' counts written");
        let mut agents: Vec<(usize, StoredAgent)> = agent::Entity::find()
            .all(db)
            .await
            .expect("read agents")
            .into_iter()
            .map(|a| {
                (
                    self.agent_index(&a.id),
                    (
                        match a.state.as_str() {
                            "running" => true,
                            "shut_down" => false,
                            other => panic!("{ctx}: an agent's state {other:?}"),
                        },
                        a.license_id.as_deref().map(|c| self.cert_index(c)),
                        u64::try_from(a.refused_count).expect("a count"),
                    ),
                )
            })
            .collect();
        agents.sort_by_key(|(a, _)| *a);
        let seats = seat::Entity::find()
            .all(db)
            .await
            .expect("read seats")
            .into_iter()
            .map(|s| {
                (
                    self.user_index(&s.user_id),
                    PRODUCTS
                        .iter()
                        .position(|p| *p == s.product)
                        .expect("a product of the universe"),
                    self.cert_index(&s.certificate_id),
                )
            })
            .collect();
        Stored {
            certs,
            tenants,
            agents: agents.into_iter().map(|(_, a)| a).collect(),
            seats,
        }
    }

    fn expected_stored(&self) -> Stored {
        let m = &self.model;
        Stored {
            certs: (0..SPECS.len())
                .filter(|k| m.installed[*k].is_some())
                .map(|k| (k, m.certs[k]))
                .collect(),
            tenants: m.tenants.to_vec(),
            agents: m
                .agents
                .iter()
                .map(|a| (a.running, a.license, a.refused))
                .collect(),
            seats: m.seats.iter().map(|((u, p), c)| (*u, *p, *c)).collect(),
        }
    }

    /// After every step: the database, Settings > Licenses, each product's seats and
    /// Settings > Agents say what the model says.
    async fn compare(&self, ctx: &str) {
        let stored = self.stored(ctx).await;
        assert_eq!(stored, self.expected_stored(), "{ctx}: the database");
        // The pools' live counts the database keeps, after whatever this step did.
        crate::ledger::assert_pool_counts(&self.app.db, ctx).await;
        // Never more seats held than a license has.
        for (k, _) in stored.certs.iter() {
            let held = stored.seats.iter().filter(|(_, _, c)| c == k).count() as u32;
            assert!(
                held <= Model::seats_of(*k),
                "{ctx}: C{k} has {held} seats held"
            );
        }
        let m = &self.model;

        // Settings > Licenses.
        let r = self
            .app
            .call(
                &self.admin,
                "licenses/list",
                &[
                    ("query[q]", ""),
                    ("query[sort]", "installed"),
                    ("query[descending]", "true"),
                    ("query[page]", "1"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{ctx}: the list: {:?}", r.body);
        let listed: BTreeMap<usize, ListRow> = r.body["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                (
                    self.cert_index(row["id"].as_str().expect("an id")),
                    (
                        status_name(row["status"].as_str().expect("a status")),
                        row["tenant_name"].as_str().map(str::to_string),
                        row["agent"].as_str().map(|a| self.agent_index(a)),
                        row["seats_used"].as_u64().expect("seats used") as u32,
                        row["seats_total"].as_u64().map(|n| n as u32),
                    ),
                )
            })
            .collect();
        let expected: BTreeMap<usize, ListRow> = (0..SPECS.len())
            .filter(|k| m.installed[*k].is_some())
            .map(|k| {
                (
                    k,
                    (
                        m.status(k).as_str(),
                        m.certs[k].tenant.map(|t| TENANTS[t].to_string()),
                        m.certs[k].agent,
                        m.held(k),
                        matches!(SPECS[k].kind, Kind::Personal { .. }).then(|| Model::seats_of(k)),
                    ),
                )
            })
            .collect();
        assert_eq!(listed, expected, "{ctx}: Settings > Licenses");
        assert_eq!(
            r.body["total"].as_u64(),
            Some(expected.len() as u64),
            "{ctx}: the list's total"
        );

        // Each product's seats.
        for (p, product) in PRODUCTS.iter().enumerate() {
            let r = self
                .app
                .call(&self.admin, "seats/product", &[("product", product)])
                .await;
            // A product's page exists once any of its licenses is installed.
            if !(0..SPECS.len()).any(|k| m.installed[k].is_some() && product_of(k) == p) {
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{ctx}: {product}");
                continue;
            }
            assert_eq!(r.status, StatusCode::OK, "{ctx}: {product}: {:?}", r.body);
            let got: tessera::seats::model::SeatCount =
                serde_json::from_value(r.body["count"].clone()).expect("a seat count");
            let got = SeatCount {
                total: got.total,
                used: got.used,
                free: got.free,
            };
            assert_eq!(got, m.seat_count(p), "{ctx}: the seats of {product}");
            assert!(got.used <= got.total, "{ctx}: {product}: {got:?}");
        }

        // Settings > Agents: what checkout would grant each agent, and the licenses free.
        let r = self.app.call(&self.admin, "agents/list", &[]).await;
        if let Err(locked) = m.may_manage() {
            self.check_refusal(&r, &locked, &format!("{ctx}: Settings > Agents"));
            return;
        }
        assert_eq!(r.status, StatusCode::OK, "{ctx}: agents: {:?}", r.body);
        let slack = self.slack();
        let mut rows: Vec<(usize, AgentRow)> = r.body["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .map(|row| {
                let license = &row["license"];
                (
                    self.agent_index(row["id"].as_str().expect("an id")),
                    (
                        status_name(row["state"].as_str().expect("a state")),
                        license["id"].as_str().map(|id| {
                            (
                                self.cert_index(id),
                                status_name(license["status"].as_str().expect("a status")),
                            )
                        }),
                        row["basis"].as_str().map(status_name),
                        self.until_of_json(&row["licensed_until"], slack, ctx),
                        row["refused_count"].as_u64().expect("refusals"),
                    ),
                )
            })
            .collect();
        rows.sort_by_key(|(a, _)| *a);
        let expected: Vec<(usize, AgentRow)> = m
            .agents
            .iter()
            .enumerate()
            .map(|(a, agent)| {
                let licensed = m.licensed(a);
                (
                    a,
                    (
                        if agent.running {
                            "running"
                        } else {
                            "shut_down"
                        },
                        agent.license.map(|h| (h, m.status(h).as_str())),
                        licensed.map(|g| g.basis),
                        licensed.map(|g| g.until),
                        agent.refused,
                    ),
                )
            })
            .collect();
        assert_eq!(rows, expected, "{ctx}: Settings > Agents");
        let agent_licenses = |fixed: bool| {
            (0..SPECS.len()).filter(move |k| {
                SPECS[*k].kind == Kind::Agent { fixed } && m.installed[*k].is_some()
            })
        };
        let usable = |k: &usize| matches!(m.status(*k), Status::Unused | Status::Activated);
        let counts = (
            r.body["floating_total"].as_u64(),
            r.body["floating_held"].as_u64(),
            r.body["fixed_free"].as_u64(),
        );
        let expected_counts = (
            Some(agent_licenses(false).filter(usable).count() as u64),
            Some(
                agent_licenses(false)
                    .filter(usable)
                    // Held by an agent, or for the lease of one shut down.
                    .filter(|k| {
                        m.certs[*k].agent.is_some()
                            || m.held_until.get(k).is_some_and(|u| *u > m.now)
                    })
                    .count() as u64,
            ),
            Some(
                agent_licenses(true)
                    .filter(usable)
                    .filter(|k| m.certs[*k].agent.is_none())
                    .count() as u64,
            ),
        );
        assert_eq!(
            counts, expected_counts,
            "{ctx}: floating total and held, fixed free"
        );
    }
}

/// Runs one case, from a reset; answers why it failed, with the log of its steps.
async fn run_case(
    world: &mut World<'_>,
    steps: &[Step],
    tally: &Mutex<BTreeMap<String, usize>>,
    verbose: bool,
) -> Result<Vec<String>, String> {
    let log: Mutex<Vec<String>> = Mutex::default();
    let run = AssertUnwindSafe(async {
        world.reset().await;
        world.compare("after the reset").await;
        for (i, step) in steps.iter().enumerate() {
            let ctx = format!("step {i} {step:?}");
            let label = world.step(step, &ctx).await;
            if let Ok(mut log) = log.lock() {
                log.push(format!("{i:>3} {step:?} -> {label}"));
            }
            world.compare(&ctx).await;
            if verbose && let Ok(mut log) = log.lock() {
                log.push(format!(
                    "      at {} model hours: {:?}",
                    world.model.now / HOUR,
                    world.expected_stored()
                ));
            }
            let kind = format!("{step:?}");
            let kind = kind.split(['(', ' ']).next().unwrap_or_default();
            if let Ok(mut tally) = tally.lock() {
                *tally.entry(format!("{kind}: {label}")).or_default() += 1;
            }
        }
    })
    .catch_unwind()
    .await;
    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
    run.map(|()| log.clone()).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        let log = log.join("\n");
        format!(
            "{why}\n\nsteps that passed:\n{log}\n\nthe model at the failure, at {} model hours:\n{:?}",
            world.model.now / HOUR,
            world.expected_stored()
        )
    })
}

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The steps of a case: an opening package (often), then steps of any kind.
fn any_case(max_steps: usize) -> impl Strategy<Value = Vec<Step>> {
    let base: Vec<usize> = (0..12).chain([17]).collect();
    (
        proptest::sample::subsequence(base, 0..=8).prop_shuffle(),
        proptest::collection::vec(any_step(), 1..=max_steps),
    )
        .prop_map(|(opening, steps)| {
            let opening = (!opening.is_empty()).then_some(Step::Upload(opening));
            opening.into_iter().chain(steps).collect()
        })
}

async fn the_database_always_equals_the_model(backend: Backend) {
    let vendor = Vendor::new(1);
    // One Tessera for all the cases (starting one takes seconds on PostgreSQL), reset before each.
    let mut world = World::start(backend, &vendor).await;
    let tally: Mutex<BTreeMap<String, usize>> = Mutex::default();
    let outcome = if let Ok(replay) = std::env::var("TESSERA_MODEL_REPLAY") {
        let steps: Vec<Step> =
            serde_json::from_str(&replay).expect("TESSERA_MODEL_REPLAY: a JSON list of steps");
        run_case(&mut world, &steps, &tally, true)
            .await
            .map(|log| println!("{backend:?}: the replayed case passes:\n{}", log.join("\n")))
            .map_err(|why| format!("{backend:?}: the replayed case fails: {why}"))
    } else {
        run_cases(backend, &mut world, &tally)
    };
    world.app.stop().await;
    if let Err(why) = outcome {
        panic!("{why}");
    }
}

fn run_cases(
    backend: Backend,
    world: &mut World<'_>,
    tally: &Mutex<BTreeMap<String, usize>>,
) -> Result<(), String> {
    let cases = env_number("PROPTEST_CASES", 16);
    let max_steps = env_number("TESSERA_MODEL_STEPS", 25) as usize;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // A failure is shrunk for at most a few minutes.
        max_shrink_iters: 500,
        max_shrink_time: 300_000,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let started = std::time::Instant::now();
    let world = Mutex::new(world);
    let result = tokio::task::block_in_place(|| {
        runner.run(&any_case(max_steps), |steps| {
            let mut world = world.lock().map_err(|_| TestCaseError::fail("poisoned"))?;
            handle
                .block_on(run_case(&mut world, &steps, tally, false))
                .map(drop)
                .map_err(TestCaseError::fail)
        })
    });
    match result {
        Ok(()) => {
            let tally = tally.lock().map(|t| t.clone()).unwrap_or_default();
            let steps: usize = tally.values().sum();
            println!(
                "{backend:?}: {cases} cases, {steps} steps in {:.1} s; outcomes:",
                started.elapsed().as_secs_f64()
            );
            for (outcome, n) in tally {
                println!("  {n:>5}  {outcome}");
            }
            Ok(())
        }
        Err(TestError::Fail(why, steps)) => {
            let listed: Vec<String> = steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("{i:>3} {s:?}"))
                .collect();
            Err(format!(
                "{backend:?}: the database and the model disagree.\n\nThe smallest failing \
                 sequence ({} steps):\n{}\n\nReplay it with\n  TESSERA_MODEL_REPLAY='{}'\n\n{why}",
                steps.len(),
                listed.join("\n"),
                serde_json::to_string(&steps).expect("steps as JSON"),
            ))
        }
        Err(TestError::Abort(why)) => Err(format!("{backend:?}: proptest gave up: {why}")),
    }
}

on_both_databases!(the_database_always_equals_the_model);
