//! Agents' licenses: the checkout claim of a floating license, binding a fixed one, giving a
//! floating one back (by the agent, on shut down, for a silent agent, when an unlimited-agents
//! license covers its tenant), and deleting an agent.
//!
//! Never more than bought: a floating license is claimed with a compare-and-set
//! (`... WHERE bound_agent_id IS NULL`) inside a change that first writes the agent's own row, so
//! one agent cannot claim twice and no license is held by two agents, whatever the number of
//! racing agents or Tessera instances sharing the database. Lock order, everywhere: the agent's
//! row first, then certificates; administrative changes take the installation row before both.
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::Ledger;
use super::grants::{Answer, SEEN_EVERY_MS, Scope};
use super::usage::{self, Happened, Why};
use crate::agents::decide::{Decision, Held, decide};
use crate::agents::entity as agent;
use crate::agents::model::{AgentState, Basis, CheckedOut};
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem, internal};
use crate::licenses::domain::{Expiry, Status, status, waits_until};
use crate::licenses::entity::certificate;
use crate::licenses::format::{Binding, LicenseType};
use crate::tenants::entity as tenant;

/// Why a certificate ended other than by time.
pub const ENDED_AGENT_DELETED: &str = "agent_deleted";

/// Licenses that license something now: not revoked, not ended, in their validity, and past
/// their first valid day (one activated already was past it).
pub fn usable_condition(now: i64) -> sea_orm::Condition {
    use certificate::Column as C;
    unexpired_condition(now).add(
        sea_orm::Condition::any()
            .add(C::NotBeforeAt.is_null())
            .add(C::NotBeforeAt.lte(now))
            .add(C::ActivatedAt.is_not_null()),
    )
}

/// Licenses not withdrawn, ended or expired at `now`: usable now or from their first valid day.
pub fn unexpired_condition(now: i64) -> sea_orm::Condition {
    use certificate::Column as C;
    sea_orm::Condition::all()
        .add(C::RevokedBy.is_null())
        .add(C::EndedReason.is_null())
        .add(
            sea_orm::Condition::any()
                .add(C::NotAfterAt.is_null())
                .add(C::NotAfterAt.gt(now)),
        )
        .add(
            sea_orm::Condition::any()
                .add(C::ActivatedAt.is_null())
                .add(C::Permanent.eq(true))
                .add(C::ExpiresAt.gt(now)),
        )
}

/// Usable, unbound agent licenses of one binding.
pub fn free_condition(binding: Binding, now: i64) -> sea_orm::Condition {
    use certificate::Column as C;
    usable_condition(now)
        .add(C::LicenseType.eq(LicenseType::Agent.as_str()))
        .add(C::Binding.eq(binding.as_str()))
        .add(C::BoundAgentId.is_null())
        .add(not_held_for_lease(now))
}

/// Not held for the lease of an agent it was taken from (shut down), or no more at `now`.
pub fn not_held_for_lease(now: i64) -> sea_orm::Condition {
    use certificate::Column as C;
    Condition::any()
        .add(C::LeaseHeldUntil.is_null())
        .add(C::LeaseHeldUntil.lte(now))
}

/// The licenses held at `now` for the last lease of an agent shut down: few, read through their
/// own partial index (migration 26) and nothing else, so that no other index tempts the planner
/// into reading every license to find them.
pub async fn held_for_lease(
    db: &impl ConnectionTrait,
    now: i64,
) -> Result<Vec<certificate::Model>, AppError> {
    Ok(certificate::Entity::find()
        .filter(certificate::Column::LeaseHeldUntil.gt(now))
        .all(db)
        .await?)
}

pub fn held_of(c: &certificate::Model) -> Held {
    Held {
        id: c.id.clone(),
        binding: c
            .binding
            .as_deref()
            .and_then(Binding::parse)
            .unwrap_or(Binding::Floating),
        state: c.state(),
    }
}

/// The license an agent holds, as stored.
pub async fn held(
    db: &impl ConnectionTrait,
    a: &agent::Model,
) -> Result<Option<certificate::Model>, AppError> {
    Ok(match &a.license_id {
        Some(id) => certificate::Entity::find_by_id(id.clone()).one(db).await?,
        None => None,
    })
}

/// The agent, if the caller's tenant scope reaches it; another tenant's agent is as unknown to a
/// License manager as a missing one.
pub(super) async fn find_in_scope<C: crate::auth::server::guard::Capability>(
    db: &impl ConnectionTrait,
    who: &Granted<C>,
    id: &str,
) -> Result<agent::Model, AppError> {
    let mut find = agent::Entity::find_by_id(id.to_string());
    if let Some(t) = who.tenant_scope() {
        find = find.filter(agent::Column::TenantId.eq(t));
    }
    find.one(db)
        .await?
        .ok_or(AppError::invalid(Field::Agent, Problem::Unknown))
}

async fn find(db: &impl ConnectionTrait, id: &str) -> Result<agent::Model, AppError> {
    agent::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::invalid(Field::Agent, Problem::Unknown))
}

/// What checkout decides for an agent as stored in `conn` now.
/// What checkout decides for an agent, and its tenant's lease time in milliseconds.
pub(super) async fn decision_for(
    conn: &impl ConnectionTrait,
    a: &agent::Model,
    now: i64,
) -> Result<(Decision, i64), AppError> {
    let state = AgentState::parse(&a.state).unwrap_or(AgentState::ShutDown);
    let t = tenant_of(conn, a).await?;
    let unlimited = Expiry::from_parts(t.unlimited_agents_until, t.unlimited_agents_permanent);
    let held = match &a.license_id {
        Some(id) => {
            certificate::Entity::find_by_id(id.clone())
                .one(conn)
                .await?
        }
        None => None,
    };
    let decision = decide(state, held.as_ref().map(held_of).as_ref(), unlimited, now);
    Ok((decision, i64::from(t.lease_seconds) * 1_000))
}

/// Checks an agent out for one inference request.
///
/// Most checkouts change nothing: an agent that is licensed, and one refused for what reads alone
/// tell (shut down, its license expired or revoked, no license free), is answered from reads
/// (its last-seen time is written at most every [`SEEN_EVERY_MS`], off the request's path; a
/// refusal is counted in memory, [`super::refusals`]). Taking a floating license, or replacing
/// one, is decided again inside a transaction that first writes the agent's row, which takes
/// its lock (PostgreSQL) or the write lock (SQLite): one such checkout of an agent at a time, and
/// no read-then-write upgrade to deadlock on.
///
/// `generation` is the grants' generation read before the agent was looked up; the answer comes
/// with the generation under which it may be remembered (the same one, or that of its own
/// change's commit). An `Err` is a failure (the database), not an answer.
pub async fn check_out(
    ledger: &Ledger,
    a: &agent::Model,
    generation: u64,
    now: i64,
) -> Result<(Answer, u64), AppError> {
    let refused = |why: AppError| {
        ledger.refusals.count(&a.id, &a.tenant_id, &why, now);
        Ok((Err(why), generation))
    };
    let (decision, lease_ms) = decision_for(&ledger.db, a, now).await?;
    if now - a.last_seen_at >= SEEN_EVERY_MS
        && !matches!(decision, Decision::TakeFloating | Decision::ReplaceFloating)
    {
        // Not on the request's time: the answer does not depend on it.
        ledger.seen.note(&a.id, now);
    }
    match decision {
        Decision::Licensed(out) => {
            return Ok((Ok(ledger.leases.grant(a, out, lease_ms, now)), generation));
        }
        Decision::ShutDown => return refused(AppError::AgentShutDown),
        Decision::Expired => return refused(AppError::LicenseExpired),
        Decision::Revoked => return refused(AppError::LicenseRevoked),
        // Shortage is when agents retry hardest: with nothing free, refused from one read.
        Decision::TakeFloating if !any_free(&ledger.db, a, now).await? => {
            return refused(AppError::NoLicenseFree);
        }
        Decision::TakeFloating | Decision::ReplaceFloating => {}
    }
    // On PostgreSQL, claims waiting on one another's locks can deadlock (one waits for a license
    // another locked, while holding one it looked at): the database breaks the cycle by giving up
    // one transaction, which is run again here, as the others went on.
    let mut attempt = 1;
    let (a, outcome, lease_ms, generation) = loop {
        match decide_in_change(ledger, &a.id, now).await {
            Err(AppError::Contended) if attempt < CLAIM_ATTEMPTS => attempt += 1,
            decided => break decided?,
        }
    };
    if let Err(why) = &outcome {
        ledger.refusals.count(&a.id, &a.tenant_id, why, now);
    }
    // Signed once the claim is committed: no lease names a license the database does not give.
    let outcome = outcome.map(|out| ledger.leases.grant(&a, out, lease_ms, now));
    Ok((outcome, generation))
}

/// How many times a checkout's change is run when the database gives it up for another's.
const CLAIM_ATTEMPTS: u32 = 3;

/// A checkout's change: decided again under the agent's row lock, carried out, committed.
/// Answers the agent as read inside it, the outcome, the lease time and the grants' generation
/// of the commit.
async fn decide_in_change(
    ledger: &Ledger,
    agent_id: &str,
    now: i64,
) -> Result<(agent::Model, Result<CheckedOut, AppError>, i64, u64), AppError> {
    let mut txn = ledger.begin_for_agent(agent_id, now).await?;
    let a = agent::Entity::find_by_id(agent_id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::BadAgentCredentials)?;
    let (decision, lease_ms) = decision_for(&txn, &a, now).await?;
    let replacing = decision == Decision::ReplaceFloating;
    let outcome = match decision {
        Decision::Licensed(out) => Ok(out),
        Decision::ShutDown => Err(AppError::AgentShutDown),
        Decision::Expired => Err(AppError::LicenseExpired),
        Decision::Revoked => Err(AppError::LicenseRevoked),
        Decision::TakeFloating => claim_floating(&txn, &a, now)
            .await?
            .ok_or(AppError::NoLicenseFree),
        Decision::ReplaceFloating => {
            let held = held(&txn, &a).await?;
            release_floating(&txn, &a, held.as_ref(), Why::Lapsed, now).await?;
            claim_floating(&txn, &a, now)
                .await?
                .ok_or(AppError::NoLicenseFree)
        }
    };
    if outcome.is_err() && !replacing {
        // Refused, holding what it held: only its last-seen time changed.
        txn.reaches(None);
    }
    let generation = txn.commit_unaudited().await?;
    Ok((a, outcome, lease_ms, generation))
}

/// The floating licenses an agent of `tenant_id` may take, free or not: usable, in its tenant's
/// pool or the shared one, and (when issued for a tenant) issued for this one.
pub(super) fn pool_condition(tenant_id: &str, now: i64) -> Condition {
    use certificate::Column as C;
    usable_condition(now)
        .add(C::LicenseType.eq(LicenseType::Agent.as_str()))
        .add(C::Binding.eq(Binding::Floating.as_str()))
        .add(
            Condition::any()
                .add(C::AssignedTenantId.eq(tenant_id))
                .add(C::AssignedTenantId.is_null()),
        )
        .add(serves(tenant_id))
}

/// A license issued for a tenant serves that tenant only.
fn serves(tenant_id: &str) -> Condition {
    use certificate::Column as C;
    Condition::any()
        .add(C::TenantId.is_null())
        .add(C::TenantId.eq(tenant_id))
}

/// The two pools an agent takes a floating license from, in the order it takes from them: its
/// tenant's, then the shared one (assigned to no tenant).
#[derive(Clone, Copy, Debug)]
pub enum Pool {
    Tenant,
    Shared,
}

/// The free floating licenses of one pool for the agent, oldest first. Spelled so that one index
/// (`idx_certificates_free_floating`: type, binding, holder, revoker, end, pool, then the order)
/// answers with its first rows: every condition before the pool is an equality or `IS NULL`, so a
/// claim among 20,000 free licenses reads one, where one query over both pools ordered by
/// "assigned to no tenant" sorted them all (a Monday morning of 20,000 agents took 352 s).
pub fn free_in(pool: Pool, a: &agent::Model, now: i64) -> sea_orm::Select<certificate::Entity> {
    free_of(Binding::Floating, pool, &a.tenant_id, now)
}

/// The fixed licenses of one pool an agent of `tenant_id` may be bound to, oldest first: the
/// same index answers, so an agent's page reads only these (it read and sorted every unbound
/// agent license: 2.25 s at 500,000).
pub fn free_fixed_in(
    pool: Pool,
    tenant_id: &str,
    now: i64,
) -> sea_orm::Select<certificate::Entity> {
    free_of(Binding::Fixed, pool, tenant_id, now)
}

fn free_of(
    binding: Binding,
    pool: Pool,
    tenant_id: &str,
    now: i64,
) -> sea_orm::Select<certificate::Entity> {
    use certificate::Column as C;
    let pool = match pool {
        Pool::Tenant => C::AssignedTenantId.eq(tenant_id),
        Pool::Shared => C::AssignedTenantId.is_null(),
    };
    certificate::Entity::find()
        .filter(C::LicenseType.eq(LicenseType::Agent.as_str()))
        .filter(C::Binding.eq(binding.as_str()))
        .filter(C::BoundAgentId.is_null())
        .filter(pool)
        // Also the index's `revoked_by IS NULL` and `ended_reason IS NULL`; the rest is checked
        // on the rows the index yields, in its order.
        .filter(usable_condition(now))
        .filter(serves(tenant_id))
        .filter(not_held_for_lease(now))
        // The index's columns before the order, though each is one value here: PostgreSQL's
        // planner takes an `IS NULL` as a filter, not as a constant, and would otherwise sort
        // every free license for each claim (20,000 agents' first checkouts took 407 s).
        .order_by(C::BoundAgentId, Order::Asc)
        .order_by(C::RevokedBy, Order::Asc)
        .order_by(C::EndedReason, Order::Asc)
        .order_by(C::AssignedTenantId, Order::Asc)
        .order_by(C::InstalledAt, Order::Asc)
        .order_by(C::Id, Order::Asc)
}

/// Whether a floating license is free for the agent, as committed now (no lock: the claim looks
/// again, under its locks).
async fn any_free(db: &impl ConnectionTrait, a: &agent::Model, now: i64) -> Result<bool, AppError> {
    for pool in [Pool::Tenant, Pool::Shared] {
        let first = free_in(pool, a, now)
            .select_only()
            .column(certificate::Column::Id)
            .limit(1)
            .into_tuple::<String>()
            .one(db)
            .await?;
        if first.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Binds the first free floating license (the tenant's pool first, then unassigned ones) to the
/// agent; `None` only when none is free.
///
/// On PostgreSQL each claimer locks the row it takes and the first looks (the tenant's pool, then
/// the shared one) skip rows other claimers hold (`FOR UPDATE SKIP LOCKED`), so racing claimers
/// spread over the free licenses instead of all trying the first one. When they find nothing,
/// some licenses may only be locked by claims still in flight, which can yet roll back: the last
/// looks wait for those locks
/// (`FOR UPDATE`) and PostgreSQL checks each row again once its holder has finished, so the claim
/// is refused only when no license is free and none is being claimed. SQLite has no row locks and
/// needs none: this transaction wrote the agent's row first and so holds the database's write
/// lock, and its reads see every committed claim.
pub(super) async fn claim_floating(
    txn: &impl ConnectionTrait,
    a: &agent::Model,
    now: i64,
) -> Result<Option<CheckedOut>, AppError> {
    use certificate::Column as C;
    let free = |pool| free_in(pool, a, now).limit(1);
    let skipping = |pool| free(pool).lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    let looks = [
        skipping(Pool::Tenant),
        skipping(Pool::Shared),
        free(Pool::Tenant).lock_exclusive(),
        free(Pool::Shared).lock_exclusive(),
    ];
    for look in looks {
        let Some(c) = look.one(txn).await? else {
            continue;
        };
        // Its validity runs from its first activation: a license released and taken again
        // keeps the expiry it had.
        let (activated_at, until) = match c.state().expires {
            Some(until) => (c.activated_at.unwrap_or(now), until),
            None => (now, c.activation_until(None, now)),
        };
        // The row is ours (locked, or SQLite's write lock); the condition stays as a guard.
        let claimed = certificate::activate(&c.id, activated_at, until)
            .col_expr(C::BoundAgentId, Expr::value(a.id.clone()))
            .filter(C::BoundAgentId.is_null())
            .exec(txn)
            .await?
            .rows_affected;
        if claimed != 1 {
            return Err(internal("a locked free license was taken by another claim"));
        }
        if c.activated_at.is_none() {
            usage::activated(txn, now, &c, Some(&a.tenant_id), &a.id).await?;
        }
        agent::Entity::update_many()
            .col_expr(agent::Column::LicenseId, Expr::value(c.id.clone()))
            .filter(agent::Column::Id.eq(a.id.clone()))
            .exec(txn)
            .await?;
        let key = usage::agent_key(&c, &a.tenant_id);
        usage::record(txn, now, Happened::Claim, &key, &a.id, Some(&c.id)).await?;
        return Ok(Some(CheckedOut::new(Basis::Floating, Some(c.id), until)));
    }
    Ok(None)
}

/// Releases the floating license an agent holds, if any, for `why` (recorded in the usage
/// record). The agent's row is written first. The license counts as in use until `in_use_until`:
/// now, or later when it stays held for the agent's last lease or borrow (the record takes a
/// change dated later, and its roll-ups count it when its time comes).
pub(crate) async fn release_floating(
    txn: &impl ConnectionTrait,
    a: &agent::Model,
    h: Option<&certificate::Model>,
    why: Why,
    in_use_until: i64,
) -> Result<(), AppError> {
    let Some(c) = h.filter(|c| c.binding.as_deref() == Some(Binding::Floating.as_str())) else {
        return Ok(());
    };
    agent::Entity::update_many()
        .col_expr(
            agent::Column::LicenseId,
            Expr::value(Option::<String>::None),
        )
        // A borrow is of the license it holds: it ends with the holding.
        .col_expr(
            agent::Column::BorrowedUntil,
            Expr::value(Option::<i64>::None),
        )
        .filter(agent::Column::Id.eq(a.id.clone()))
        .filter(agent::Column::LicenseId.eq(c.id.clone()))
        .exec(txn)
        .await?;
    let released = certificate::Entity::update_many()
        .col_expr(
            certificate::Column::BoundAgentId,
            Expr::value(Option::<String>::None),
        )
        .filter(certificate::Column::Id.eq(c.id.clone()))
        .filter(certificate::Column::BoundAgentId.eq(a.id.clone()))
        .exec(txn)
        .await?
        .rows_affected;
    if released == 1 && c.ended_reason.is_none() {
        let key = usage::agent_key(c, &a.tenant_id);
        let why = Happened::Release(why);
        usage::record(txn, in_use_until, why, &key, &a.id, Some(&c.id)).await?;
    }
    Ok(())
}

/// Releases the floating licenses the agents of a tenant hold (its unlimited-agents license
/// licenses them all now).
pub async fn release_floating_of_tenant(
    txn: &impl ConnectionTrait,
    tenant_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let holders = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(tenant_id))
        .filter(agent::Column::LicenseId.is_not_null())
        .all(txn)
        .await?;
    for a in holders {
        let h = held(txn, &a).await?;
        release_floating(txn, &a, h.as_ref(), Why::Unlimited, now).await?;
    }
    Ok(())
}

/// Binds a fixed agent license to an agent, for good. The agent's licensed time stacks: the new
/// license counts from the end of the fixed license it holds, if still valid. A floating license
/// it held goes back to the pool.
pub async fn bind(
    ledger: &Ledger,
    who: &Granted<cap::BindAgents>,
    agent_id: &str,
    license_id: &str,
    now: i64,
) -> Result<Expiry, AppError> {
    let mut txn = ledger.begin().await?;
    // Only this agent's grants: a license it gives back was nobody else's.
    txn.reaches(Some(Scope::Agent(agent_id.to_string())));
    let a = find_in_scope(&txn, who, agent_id).await?;
    let c = certificate::Entity::find_by_id(license_id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::invalid(Field::License, Problem::Unknown))?;
    if c.license_type != LicenseType::Agent.as_str()
        || c.binding.as_deref() != Some(Binding::Fixed.as_str())
    {
        return Err(AppError::invalid(Field::License, Problem::WrongType));
    }
    if c.bound_agent_id.is_some() {
        return Err(AppError::conflict(ConflictKind::AlreadyBound));
    }
    if !matches!(status(&c.state(), now), Status::Unused) {
        return Err(AppError::conflict(ConflictKind::LicenseUnusable));
    }
    if let Some(from) = waits_until(&c.state(), now) {
        return Err(AppError::NotYetValid { from });
    }
    if c.assigned_tenant_id
        .as_ref()
        .is_some_and(|t| t != &a.tenant_id)
        || c.tenant_id.as_ref().is_some_and(|t| t != &a.tenant_id)
    {
        return Err(AppError::conflict(ConflictKind::OtherTenant));
    }
    let h = held(&txn, &a).await?;
    let current = h
        .as_ref()
        .filter(|h| h.binding.as_deref() == Some(Binding::Fixed.as_str()))
        .filter(|h| status(&h.state(), now) == Status::Activated)
        .and_then(|h| h.state().expires);
    release_floating(&txn, &a, h.as_ref(), Why::Fixed, now).await?;
    let until = c.activation_until(current, now);
    agent::Entity::update_many()
        .col_expr(agent::Column::LicenseId, Expr::value(c.id.clone()))
        .filter(agent::Column::Id.eq(a.id.clone()))
        .exec(&txn)
        .await?;
    let bound = certificate::activate(&c.id, now, until)
        .col_expr(certificate::Column::BoundAgentId, Expr::value(a.id.clone()))
        .filter(certificate::Column::BoundAgentId.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if bound != 1 {
        return Err(AppError::conflict(ConflictKind::AlreadyBound));
    }
    if c.activated_at.is_none() {
        usage::activated(&txn, now, &c, Some(&a.tenant_id), &a.id).await?;
    }
    let key = usage::agent_key(&c, &a.tenant_id);
    usage::record(&txn, now, Happened::Bind, &key, &a.id, Some(&c.id)).await?;
    txn.commit(
        Entry::by(who.viewer(), now, AuditKind::AgentBind, &a.machine_id).said(Detail::License {
            id: c.id.clone(),
            product: c.product_name.clone(),
        }),
    )
    .await?;
    Ok(until)
}

/// Resets an agent's registration: its token stops working at once (checkout answers 401), and
/// the next registration of its machine with the tenant's enrollment key is accepted, once,
/// starting the agent again. What it holds stays; a floating license goes back at the next
/// release or silence as usual.
pub async fn reset_registration(
    ledger: &Ledger,
    who: &Granted<cap::DeleteAgents>,
    agent_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let mut txn = ledger.begin().await?;
    txn.reaches(Some(Scope::Agent(agent_id.to_string())));
    let a = find(&txn, agent_id).await?;
    // The hash of a token nobody was given: a fresh random one, thrown away.
    let revoked = crate::licenses::verify::sha256_hex(
        crate::auth::server::tokens::random_token()?.as_bytes(),
    );
    agent::Entity::update_many()
        .col_expr(agent::Column::TokenHash, Expr::value(revoked))
        .col_expr(agent::Column::RegistrationOpen, Expr::value(true))
        .filter(agent::Column::Id.eq(agent_id))
        .exec(&txn)
        .await?;
    txn.commit(Entry::by(
        who.viewer(),
        now,
        AuditKind::AgentResetRegistration,
        &a.machine_id,
    ))
    .await?;
    Ok(())
}

/// Shuts an agent's machine down: checkout refuses it until an administrator resets its
/// registration and it registers again, and its
/// floating license goes back to the pool. A fixed license stays bound.
pub async fn shut_down(
    ledger: &Ledger,
    who: &Granted<cap::BindAgents>,
    agent_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let mut txn = ledger.begin().await?;
    // Only this agent's grants: a license it gives back was nobody else's.
    txn.reaches(Some(Scope::Agent(agent_id.to_string())));
    let a = find_in_scope(&txn, who, agent_id).await?;
    agent::Entity::update_many()
        .col_expr(
            agent::Column::State,
            Expr::value(AgentState::ShutDown.as_str()),
        )
        .filter(agent::Column::Id.eq(agent_id))
        .exec(&txn)
        .await?;
    let h = held(&txn, &a).await?;
    // The agent may work on under its last lease while it cannot reach Tessera: its floating
    // license is nobody else's, and counts as in use, until that lease has ended. No lease
    // outlasts the tenant's lease time from its signing (every one was signed before now) or the
    // agent's borrow.
    let t = tenant_of(&txn, &a).await?;
    let until = [
        now + i64::from(t.lease_seconds) * 1_000,
        t.longer_leases_until.unwrap_or(0),
        a.borrowed_until.unwrap_or(0),
    ]
    .into_iter()
    .max()
    .unwrap_or(now);
    release_floating(&txn, &a, h.as_ref(), Why::ShutDown, until).await?;
    hold_for_lease(&txn, &a, h.as_ref(), until).await?;
    txn.commit(Entry::by(
        who.viewer(),
        now,
        AuditKind::AgentShutDown,
        &a.machine_id,
    ))
    .await?;
    Ok(())
}

/// An agent giving its floating license back (it stops serving); it stays registered.
pub async fn release(ledger: &Ledger, agent_id: &str, now: i64) -> Result<(), AppError> {
    let txn = ledger.begin_for_agent(agent_id, now).await?;
    // Deleted since its token was checked: the token no longer names an agent.
    let a = agent::Entity::find_by_id(agent_id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::BadAgentCredentials)?;
    let h = held(&txn, &a).await?;
    release_floating(&txn, &a, h.as_ref(), Why::Agent, now).await?;
    txn.commit_unaudited().await.map(drop)
}

/// Deletes an agent. Every license bound to it ends (Expired); its token stops working.
pub async fn delete(
    ledger: &Ledger,
    who: &Granted<cap::DeleteAgents>,
    agent_id: &str,
    now: i64,
) -> Result<(), AppError> {
    let mut txn = ledger.begin().await?;
    // Only this agent's grants: a license it gives back was nobody else's.
    txn.reaches(Some(Scope::Agent(agent_id.to_string())));
    let a = find(&txn, agent_id).await?;
    let ending = certificate::Entity::find()
        .filter(certificate::Column::BoundAgentId.eq(agent_id))
        .filter(certificate::Column::EndedReason.is_null())
        .all(&txn)
        .await?;
    for c in &ending {
        let key = usage::agent_key(c, &a.tenant_id);
        let why = Happened::Release(Why::Deleted);
        usage::record(&txn, now, why, &key, &a.id, Some(&c.id)).await?;
        if status(&c.state(), now) == Status::Activated {
            usage::lapsed(&txn, now, c, usage::Ended::AgentDeleted).await?;
        }
    }
    agent::Entity::delete_by_id(agent_id.to_string())
        .exec(&txn)
        .await?;
    let key = usage::agents_key(&a.tenant_id);
    usage::record(&txn, now, Happened::Removed, &key, &a.id, None).await?;
    certificate::Entity::update_many()
        .col_expr(
            certificate::Column::EndedReason,
            Expr::value(ENDED_AGENT_DELETED),
        )
        .filter(certificate::Column::BoundAgentId.eq(agent_id))
        .filter(certificate::Column::EndedReason.is_null())
        .exec(&txn)
        .await?;
    txn.commit(Entry::by(
        who.viewer(),
        now,
        AuditKind::AgentDelete,
        &a.machine_id,
    ))
    .await?;
    Ok(())
}

pub(super) async fn tenant_of(
    conn: &impl ConnectionTrait,
    a: &agent::Model,
) -> Result<tenant::Model, AppError> {
    tenant::Entity::find_by_id(a.tenant_id.clone())
        .one(conn)
        .await?
        .ok_or_else(|| internal("an agent's tenant is missing"))
}

/// Keeps a floating license just taken from agent `a` from every other agent until `until`, when
/// the agent's last lease or borrow has ended; the agent's page says until when.
pub(super) async fn hold_for_lease(
    txn: &impl ConnectionTrait,
    a: &agent::Model,
    taken: Option<&certificate::Model>,
    until: i64,
) -> Result<(), AppError> {
    let Some(c) = taken.filter(|c| c.binding.as_deref() == Some(Binding::Floating.as_str())) else {
        return Ok(());
    };
    certificate::Entity::update_many()
        .col_expr(certificate::Column::LeaseHeldUntil, Expr::value(until))
        .filter(certificate::Column::Id.eq(c.id.clone()))
        .exec(txn)
        .await?;
    agent::Entity::update_many()
        .col_expr(agent::Column::LicenseHeldUntil, Expr::value(until))
        .filter(agent::Column::Id.eq(a.id.clone()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Releases the floating licenses of agents silent for longer than their tenant allows (only in
/// tenants that set a limit; never a borrowed one before its borrow ends), and never before their last lease has ended: silent for the
/// tenant's lease time at least, plus the [`SEEN_EVERY_MS`] by which the last-seen time may lag
/// behind the last checkout. Returns how many were released.
pub async fn release_silent(ledger: &Ledger, now: i64) -> Result<u64, AppError> {
    let db = &ledger.db;
    let limits: Vec<(String, i64)> = tenant::Entity::find()
        .filter(tenant::Column::ReleaseAfterMinutes.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|t| {
            let after = i64::from(t.release_after_minutes?) * 60_000;
            let lease = i64::from(t.lease_seconds) * 1_000 + SEEN_EVERY_MS;
            Some((t.id, std::cmp::max(after, lease)))
        })
        .collect();
    let mut released = 0;
    for (tenant_id, after_ms) in limits {
        let cutoff = now - after_ms;
        let silent = agent::Entity::find()
            .filter(agent::Column::TenantId.eq(tenant_id))
            .filter(agent::Column::LicenseId.is_not_null())
            .filter(agent::Column::LastSeenAt.lt(cutoff))
            .filter(not_borrowing(now))
            .all(db)
            .await?;
        for a in silent {
            let mut txn = ledger.begin().await?;
            txn.reaches(Some(Scope::Agent(a.id.clone())));
            // Still silent, and still holding it, now that the lock is ours.
            let Some(a) = agent::Entity::find_by_id(a.id)
                .filter(agent::Column::LastSeenAt.lt(cutoff))
                .filter(not_borrowing(now))
                .one(&txn)
                .await?
            else {
                continue;
            };
            let h = held(&txn, &a).await?;
            if h.as_ref().and_then(|c| c.binding.as_deref()) == Some(Binding::Floating.as_str()) {
                release_floating(&txn, &a, h.as_ref(), Why::Silent, now).await?;
                // Silent past the tenant's lease time, but perhaps not past a longer one it had.
                if let Some(until) = tenant_of(&txn, &a).await?.longer_leases_until
                    && until > now
                {
                    hold_for_lease(&txn, &a, h.as_ref(), until).await?;
                }
                released += 1;
            }
            txn.commit_unaudited().await?;
        }
    }
    Ok(released)
}

/// Agents not borrowing their license at `now` (a borrowing agent may be silent: that is what
/// borrowing is for).
pub(super) fn not_borrowing(now: i64) -> Condition {
    Condition::any()
        .add(agent::Column::BorrowedUntil.is_null())
        .add(agent::Column::BorrowedUntil.lte(now))
}

/// Writes an agent's last-seen time (its heartbeat; not license state).
pub async fn seen(ledger: &Ledger, agent_id: &str, now: i64) -> Result<(), AppError> {
    agent::Entity::update_many()
        .col_expr(agent::Column::LastSeenAt, Expr::value(now))
        .filter(agent::Column::Id.eq(agent_id))
        .exec(&ledger.db)
        .await?;
    Ok(())
}
