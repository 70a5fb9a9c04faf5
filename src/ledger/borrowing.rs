//! Borrowing (docs/agent-api.md, "Borrowing"): an agent keeps its floating license for hours or
//! days with no connection at all, under a lease as long as the borrow.
//!
//! A borrow is of the floating license the agent holds (taken first when it holds none): the
//! license stays bound to the agent, so it is never granted twice, on any instance; every lease
//! signed for the agent until the borrow ends runs to its end (`ledger::leases`), silent agents'
//! release passes it by, and shutting the agent down holds the license until the borrow has
//! ended. It ends early when the agent gives it back (`return`, or releasing the license), and
//! with the license.
//!
//! Each tenant allows borrowing or not (`max_borrow_hours`) and keeps a number of its pool's
//! licenses from being borrowed (`keep_unborrowed`). Borrows are changes begun with
//! [`Ledger::begin`], so they are serialised across instances and the count each one checks is
//! the committed one.
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::Ledger;
use super::grants::Scope;
use super::holdings::{
    claim_floating, decision_for, find_in_scope, held, pool_condition, release_floating, tenant_of,
};
use super::usage::Why;
use crate::agents::decide::Decision;
use crate::agents::entity as agent;
use crate::agents::model::{AgentState, Basis, CheckedOut};
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::Entry;
use crate::auth::server::{Granted, cap};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::licenses::entity::certificate;

const HOUR_MS: i64 = 3_600_000;

/// Who borrows: an administrator on the agent's page, or the agent itself.
pub enum Borrower<'a> {
    Administrator(&'a Granted<cap::BindAgents>),
    Agent,
}

impl Borrower<'_> {
    /// The audit entry naming the borrower: the administrator, or the agent by its machine id.
    fn entry(&self, a: &agent::Model, kind: AuditKind, now: i64) -> Entry {
        match self {
            Borrower::Administrator(who) => Entry::by(who.viewer(), now, kind, &a.machine_id),
            Borrower::Agent => Entry::named(&a.machine_id, now, kind, &a.machine_id),
        }
    }
}

/// Borrows agent `agent_id`'s floating license (taking one first when it holds none) for `hours`:
/// until then, every lease signed for it runs to the borrow's end, never past the license's own
/// expiry. Borrowing again never shortens a borrow. Answers the grant with its lease.
///
/// Refused when its tenant does not allow borrowing (409 `borrowing_off`), for more hours than
/// the tenant's maximum (400, `borrow_hours`), when the agent is shut down (403), licensed by a
/// fixed license or its tenant's unlimited agents (409 `not_floating`: it needs no pool license),
/// when no license is free (402), and when one more borrowed license would leave fewer unborrowed
/// than the tenant keeps (409 `kept_unborrowed`).
pub async fn borrow(
    ledger: &Ledger,
    by: Borrower<'_>,
    agent_id: &str,
    hours: u32,
    now: i64,
) -> Result<CheckedOut, AppError> {
    let mut txn = ledger.begin().await?;
    txn.reaches(Some(Scope::Agent(agent_id.to_string())));
    let a = match &by {
        Borrower::Administrator(who) => find_in_scope(&txn, *who, agent_id).await?,
        // Deleted since its token was checked: the token no longer names an agent.
        Borrower::Agent => agent::Entity::find_by_id(agent_id.to_string())
            .one(&txn)
            .await?
            .ok_or(AppError::BadAgentCredentials)?,
    };
    // The agent's row first (its lock, on PostgreSQL), then certificates: checkout's order. An
    // agent borrowing is seen; an administrator borrowing for it says nothing of it.
    let seen = match by {
        Borrower::Agent => Expr::value(now),
        Borrower::Administrator(_) => Expr::col(agent::Column::LastSeenAt),
    };
    agent::Entity::update_many()
        .col_expr(agent::Column::LastSeenAt, seen)
        .filter(agent::Column::Id.eq(a.id.clone()))
        .exec(&txn)
        .await?;
    let t = tenant_of(&txn, &a).await?;
    let max = t
        .max_borrow_hours
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0)
        .ok_or(AppError::conflict(ConflictKind::BorrowingOff))?;
    if !(1..=max).contains(&hours) {
        return Err(AppError::invalid(
            Field::BorrowHours,
            Problem::OutOfRange { min: 1, max },
        ));
    }
    let (decision, lease_ms) = decision_for(&txn, &a, now).await?;
    // Whether it holds a floating license to borrow, or must take one (replacing one that
    // lapsed): refusals first, before the pool is counted.
    let taking = match decision {
        Decision::Licensed(out) if out.basis == Basis::Floating => Ok(out),
        Decision::Licensed(_) => return Err(AppError::conflict(ConflictKind::NotFloating)),
        Decision::ShutDown => return Err(AppError::AgentShutDown),
        Decision::Expired => return Err(AppError::LicenseExpired),
        Decision::Revoked => return Err(AppError::LicenseRevoked),
        Decision::TakeFloating => Err(false),
        Decision::ReplaceFloating => Err(true),
    };
    let borrowing_already = a.borrowed_until.is_some_and(|until| until > now);
    if !borrowing_already {
        keep_unborrowed(&txn, &a, &t, now).await?;
    }
    let out = match taking {
        Ok(out) => out,
        Err(replacing) => {
            if replacing {
                let h = held(&txn, &a).await?;
                release_floating(&txn, &a, h.as_ref(), Why::Lapsed, now).await?;
            }
            claim_floating(&txn, &a, now)
                .await?
                .ok_or(AppError::NoLicenseFree)?
        }
    };
    let asked = now + i64::from(hours) * HOUR_MS;
    let until = out.expires_at.map_or(asked, |e| e.min(asked));
    // Never shorter than a borrow already running: its lease is out there.
    let until = a
        .borrowed_until
        .filter(|_| borrowing_already)
        .map_or(until, |b| b.max(until));
    agent::Entity::update_many()
        .col_expr(agent::Column::BorrowedUntil, Expr::value(until))
        .filter(agent::Column::Id.eq(a.id.clone()))
        .exec(&txn)
        .await?;
    let license = out.license_id.clone().unwrap_or_default();
    txn.commit(
        by.entry(&a, AuditKind::AgentBorrow, now)
            .said(Detail::Borrowed {
                license: license.to_string(),
                hours,
            }),
    )
    .await?;
    let a = agent::Model {
        borrowed_until: Some(until),
        state: AgentState::Running.as_str().to_string(),
        ..a
    };
    Ok(ledger.leases.grant(&a, out, lease_ms, now))
}

/// Refuses a new borrow that would leave fewer of the tenant's pool unborrowed than it keeps.
async fn keep_unborrowed(
    txn: &super::Change,
    a: &agent::Model,
    t: &crate::tenants::entity::Model,
    now: i64,
) -> Result<(), AppError> {
    let pool = certificate::Entity::find()
        .filter(pool_condition(&a.tenant_id, now))
        .count(txn)
        .await?;
    let borrowed = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(a.tenant_id.clone()))
        .filter(agent::Column::LicenseId.is_not_null())
        .filter(agent::Column::BorrowedUntil.gt(now))
        .count(txn)
        .await?;
    let keep = u64::try_from(t.keep_unborrowed).unwrap_or(0);
    if borrowed + 1 + keep > pool {
        return Err(AppError::conflict(ConflictKind::KeptUnborrowed));
    }
    Ok(())
}

/// The agent gives its borrow back early: its license stays its own, under leases of the
/// tenant's lease time again. Giving back nothing changes nothing.
pub async fn give_back(ledger: &Ledger, agent_id: &str, now: i64) -> Result<(), AppError> {
    let mut txn = ledger.begin_for_agent(agent_id, now).await?;
    let a = agent::Entity::find_by_id(agent_id.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::BadAgentCredentials)?;
    if a.borrowed_until.is_none_or(|until| until <= now) {
        txn.reaches(None);
        return txn.commit_unaudited().await.map(drop);
    }
    agent::Entity::update_many()
        .col_expr(
            agent::Column::BorrowedUntil,
            Expr::value(Option::<i64>::None),
        )
        .filter(agent::Column::Id.eq(agent_id))
        .exec(&txn)
        .await?;
    txn.commit(Borrower::Agent.entry(&a, AuditKind::AgentReturnBorrow, now))
        .await
}
