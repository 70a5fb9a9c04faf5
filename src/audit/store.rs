//! Writing and reading the audit log. A change records its entry inside its own transaction, so
//! an entry exists exactly when the change does; a refusal is recorded after the fact by the
//! server function that was refused ([`audited`]). Nothing here updates or deletes an entry.
use std::future::Future;

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, Set,
};

use super::entity as audit;
use super::model::{
    AuditKind, AuditPage, AuditRow, CheckedFilter, Detail, DetailData, OUTCOME_OK, PAGE_SIZE,
};
use crate::auth::model::Viewer;
use crate::auth::server::{Granted, cap::ViewAudit};
use crate::error::AppError;

/// The longest subject or detail kept, in characters.
const TEXT_MAX: usize = 1000;
/// The longest actor name kept (the column's width; user names are at most 64).
const NAME_MAX: usize = 64;

fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// An entry about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub kind: AuditKind,
    pub subject: String,
    pub detail: String,
    /// The detail as codes, for each reader's language.
    pub data: DetailData,
    pub outcome: String,
}

impl Entry {
    /// `actor` did `kind` to `subject` at `at`, successfully (until [`Entry::refused`]).
    pub fn by(actor: &Viewer, at: i64, kind: AuditKind, subject: impl AsRef<str>) -> Entry {
        Entry {
            at,
            actor_id: Some(actor.id.clone()),
            actor_name: clip(&actor.name, NAME_MAX),
            kind,
            subject: clip(subject.as_ref(), TEXT_MAX),
            detail: String::new(),
            data: DetailData::default(),
            outcome: OUTCOME_OK.to_string(),
        }
    }

    /// Someone known only by the name they typed (a failed sign-in).
    pub fn named(name: &str, at: i64, kind: AuditKind, subject: impl AsRef<str>) -> Entry {
        Entry {
            at,
            actor_id: None,
            actor_name: clip(name.trim(), NAME_MAX),
            kind,
            subject: clip(subject.as_ref(), TEXT_MAX),
            detail: String::new(),
            data: DetailData::default(),
            outcome: OUTCOME_OK.to_string(),
        }
    }

    pub fn detail(mut self, detail: impl AsRef<str>) -> Entry {
        self.detail = clip(detail.as_ref(), TEXT_MAX);
        self
    }

    /// What was done, as a code with its parameters (each reader reads it in their language)
    /// and in English words (the stored text, which the search and the CSV read).
    pub fn said(mut self, detail: Detail) -> Entry {
        self.detail = clip(&detail.to_string(), TEXT_MAX);
        self.data.said = Some(detail);
        self
    }

    /// An outcome other than `ok` that is not an [`AppError`] (a package refused on upload).
    pub fn outcome(mut self, outcome: &str) -> Entry {
        self.outcome = outcome.to_string();
        self
    }

    /// The operation was refused with `err`: its kind is the outcome, its text the detail.
    pub fn refused(mut self, err: &AppError) -> Entry {
        self.outcome = outcome_of(err);
        self.data.refused = Some(err.clone());
        let why = err.to_string();
        self.detail = clip(
            &if self.detail.is_empty() {
                why
            } else {
                format!("{}; {why}", self.detail)
            },
            TEXT_MAX,
        );
        self
    }
}

/// The error's kind as the API names it (`forbidden`, `conflict`, `invalid`...).
pub fn outcome_of(err: &AppError) -> String {
    serde_json::to_value(err)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "error".to_string())
}

/// Writes an entry. Pass the change's transaction, so that the entry commits with it.
pub async fn record(db: &impl ConnectionTrait, entry: Entry) -> Result<(), AppError> {
    audit::ActiveModel {
        at: Set(entry.at),
        actor_id: Set(entry.actor_id),
        actor_name: Set(entry.actor_name),
        kind: Set(entry.kind.as_str().to_string()),
        subject: Set(entry.subject),
        detail: Set(entry.detail),
        detail_data: Set((entry.data != DetailData::default())
            .then(|| serde_json::to_string(&entry.data))
            .transpose()
            .map_err(crate::error::internal)?),
        outcome: Set(entry.outcome),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records a refusal. The refusal is what the caller sees, so a failure to record it is logged,
/// not answered.
pub async fn record_refusal(db: &impl ConnectionTrait, entry: Entry, err: &AppError) {
    if let Err(e) = record(db, entry.refused(err)).await {
        tracing::warn!("could not record a refusal in the audit log: {e}");
    }
}

/// Runs a server function's operation and records its refusal, if it was refused (its success
/// records itself, in its transaction). An anonymous caller's refusal is not recorded: there is
/// nobody to name, and the sign-in records its own failures.
pub async fn audited<T>(
    kind: AuditKind,
    subject: impl AsRef<str>,
    op: impl Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = op.await;
    if let Err(err) = &result
        && let Ok(who) = crate::auth::server::signed_in()
    {
        let entry = Entry::by(who.viewer(), who.now(), kind, subject);
        record_refusal(who.db(), entry, err).await;
    }
    result
}

fn filtered(filter: &CheckedFilter) -> Select<audit::Entity> {
    use audit::Column as C;
    let mut select = audit::Entity::find();
    if let Some(k) = filter.kind {
        select = select.filter(C::Kind.eq(k.as_str()));
    }
    if let Some(u) = &filter.user {
        select =
            select.filter(Expr::expr(Func::lower(Expr::col(C::ActorName))).like(format!("%{u}%")));
    }
    if let Some(from) = filter.from_ms {
        select = select.filter(C::At.gte(from));
    }
    if let Some(until) = filter.until_ms {
        select = select.filter(C::At.lt(until));
    }
    select
}

fn row(m: audit::Model) -> AuditRow {
    AuditRow {
        id: m.id,
        at: m.at,
        actor_name: m.actor_name,
        kind: m.kind,
        subject: m.subject,
        detail: m.detail,
        // A code this build does not know (a newer instance's) is shown as its English words.
        data: m.detail_data.and_then(|d| serde_json::from_str(&d).ok()),
        outcome: m.outcome,
    }
}

/// One page of the entries that match, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    _who: &Granted<ViewAudit>,
    filter: &CheckedFilter,
) -> Result<AuditPage, AppError> {
    let select = filtered(filter);
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by(audit::Column::Id, Order::Desc)
        .offset(crate::ui::listing::offset(filter.page, PAGE_SIZE)?)
        .limit(PAGE_SIZE)
        .all(db)
        .await?;
    Ok(AuditPage {
        rows: rows.into_iter().map(row).collect(),
        total,
        page: filter.page,
    })
}

/// Up to `limit` matching entries older than entry `before` (all, if `None`), newest first: the
/// CSV export walks the whole log this way, a batch at a time.
pub async fn batch(
    db: &impl ConnectionTrait,
    _who: &Granted<ViewAudit>,
    filter: &CheckedFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRow>, AppError> {
    let mut select = filtered(filter);
    if let Some(id) = before {
        select = select.filter(audit::Column::Id.lt(id));
    }
    Ok(select
        .order_by(audit::Column::Id, Order::Desc)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(row)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::model::Role;
    use crate::error::ConflictKind;

    fn alice() -> Viewer {
        Viewer {
            id: "u1".into(),
            name: "alice".into(),
            role: Role::Administrator,
            tenant_id: "t".into(),
            platform_expired_at: None,
            time_zone: None,
        }
    }

    #[test]
    fn a_refusal_names_its_kind_and_reason() {
        let e = Entry::by(&alice(), 5, AuditKind::TenantDelete, "Acme")
            .refused(&AppError::conflict(ConflictKind::DefaultTenant));
        assert_eq!(e.outcome, "conflict");
        assert!(e.detail.contains("DefaultTenant"), "{}", e.detail);
        assert_eq!(outcome_of(&AppError::Forbidden), "forbidden");
        assert_eq!(
            outcome_of(&AppError::NotEnoughSeats { free: 1 }),
            "not_enough_seats"
        );
    }

    #[test]
    fn typed_names_are_clipped_and_lose_control_characters() {
        let e = Entry::named(
            &format!(" bob\n{}", "x".repeat(100)),
            1,
            AuditKind::SignInFailed,
            "",
        );
        assert_eq!(e.actor_name.chars().count(), NAME_MAX);
        assert!(e.actor_name.starts_with("bobx"));
        assert_eq!(e.actor_id, None);
    }
}
