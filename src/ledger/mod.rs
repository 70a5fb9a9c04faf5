//! The ledger: the one owner of license state. Who holds which license until when (certificate
//! activation, assignment, binding and revocation, agents' holdings, personal seats, each tenant's
//! platform expiry) is written here and nowhere else; capabilities change it only by calling the
//! operations below, each one [`Change`]: one transaction whose commit also writes its audit entry
//! and forgets the checkout grants it may have made stale, so no caller invalidates by hand and
//! none can forget to.
//!
//! The decisions the operations apply (validity stacking, restacking after a withdrawal, lapse,
//! the first valid day, status) are pure functions in `licenses::plan` and `licenses::domain`,
//! with their unit and property tests; this module reads, applies them, and writes.
//!
//! - [`packages`]: installing a confirmed package (certificates, activations, revocations) and
//!   deleting everything;
//! - [`platform`]: activating platform and server licenses (on upload, by assignment, on their
//!   first valid day), restacking a tenant after a withdrawal, agent pools;
//! - [`holdings`]: agents' licenses: the checkout claim, binding, releasing, shutting down,
//!   deleting, silent agents;
//! - [`leases`]: the signed lease every granted checkout carries;
//! - [`borrowing`]: an agent keeping its floating license, with a lease as long, while offline;
//! - [`refusals`]: refused checkouts, counted in memory and written together every second;
//! - [`seen`]: agents' last-seen times, noted in memory and written with them;
//! - [`seats`]: giving and recalling personal seats;
//! - [`isolation`]: the holdings made before tenant isolation that break it (listed at start);
//! - [`notify`]: telling the other instances sharing a PostgreSQL database what a change made
//!   stale;
//! - [`usage`]: the usage record, written in the same transaction as each change of what is in
//!   use.
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, ExecResult, QueryFilter, QueryResult, Statement,
};

use crate::agents::entity as agent;
use crate::audit::store::Entry;
use crate::error::AppError;
use crate::installation::entity as installation;
use grants::{Grants, Scope};

pub mod borrowing;
pub mod grants;
pub mod holdings;
pub mod isolation;
pub mod leases;
pub mod notify;
pub mod packages;
pub mod platform;
pub mod refusals;
pub mod seats;
pub mod seen;
pub mod status;
pub mod usage;

/// Who the audit log names for what Tessera does by itself.
pub const SYSTEM_ACTOR: &str = "tessera";

/// The database and the checkout grants remembered from it: every change to license state goes
/// through here.
#[derive(Clone)]
pub struct Ledger {
    db: DatabaseConnection,
    grants: Arc<Grants>,
    refusals: Arc<refusals::Refusals>,
    seen: Arc<seen::Seen>,
    heard: Arc<notify::Heard>,
    leases: Arc<leases::Leases>,
}

impl Ledger {
    pub fn new(db: DatabaseConnection, leases: leases::Leases) -> Ledger {
        Ledger {
            db,
            grants: Arc::default(),
            refusals: Arc::default(),
            seen: Arc::default(),
            heard: Arc::default(),
            leases: Arc::new(leases),
        }
    }

    /// The leases this instance signed (and the installation's public key that checks them).
    pub fn leases(&self) -> &leases::Leases {
        &self.leases
    }

    /// Starts listening for the changes other instances sharing the database make (PostgreSQL;
    /// see [`notify`]).
    pub fn listen(&self) {
        notify::spawn_listener(&self.db, self.clone());
    }

    /// What the listener for other instances' changes has heard.
    pub fn heard(&self) -> &notify::Heard {
        &self.heard
    }

    /// The checkout grants remembered from the ledger (read by the checkout fast path).
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// The refused checkouts counted on this instance and not yet written.
    pub fn refusals(&self) -> &refusals::Refusals {
        &self.refusals
    }

    /// Agents' last-seen times noted and not yet written.
    pub fn seen(&self) -> &seen::Seen {
        &self.seen
    }

    /// Writes the refused checkouts counted and the last-seen times noted, not yet written
    /// (every second, and at shutdown). Answers how many refusals it wrote.
    pub async fn flush_noted(&self) -> Result<u64, AppError> {
        let seen = seen::flush(&self.db, &self.seen).await;
        let refused = refusals::flush(&self.db, &self.refusals).await?;
        seen?;
        Ok(refused)
    }

    /// The test clock moved: grants were computed for another time. Only the test clock's route
    /// calls this.
    pub fn time_moved(&self) {
        self.grants.forget(Scope::Every);
    }

    /// Begins a change that may touch any license, tenant or agent. Such changes are serialised:
    /// on SQLite by the write lock its `BEGIN` takes ([`crate::server::db::begin_write`]), on
    /// PostgreSQL by its first statement, a write of the installation row, whose lock it holds
    /// until commit, across every instance sharing the database. Its commit forgets every grant, unless the change says it
    /// reaches less ([`Change::reaches`]).
    pub(crate) async fn begin(&self) -> Result<Change, AppError> {
        let txn = crate::server::db::begin_write(&self.db).await?;
        installation::Entity::update_many()
            .col_expr(
                installation::Column::CreatedAt,
                Expr::col(installation::Column::CreatedAt),
            )
            .filter(installation::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        Ok(Change {
            txn,
            grants: self.grants.clone(),
            stale: Some(Scope::Every),
        })
    }

    /// Begins a change of one agent's own holding (its claim at checkout, its release). Its first
    /// statement writes the agent's last-seen time, which takes the agent's row lock (PostgreSQL;
    /// SQLite's write lock is taken at `BEGIN`): one such change per agent at a time, and the lock order is the
    /// agent's row, then certificates. Its commit forgets only this agent's grants.
    pub(crate) async fn begin_for_agent(
        &self,
        agent_id: &str,
        now: i64,
    ) -> Result<Change, AppError> {
        let txn = crate::server::db::begin_write(&self.db).await?;
        agent::Entity::update_many()
            .col_expr(agent::Column::LastSeenAt, Expr::value(now))
            .filter(agent::Column::Id.eq(agent_id))
            .exec(&txn)
            .await?;
        Ok(Change {
            txn,
            grants: self.grants.clone(),
            stale: Some(Scope::Agent(agent_id.to_string())),
        })
    }
}

/// One change of license state in progress: a transaction (it reads and writes like one) that
/// is either committed with [`Change::commit`] or, when dropped, rolled back, changing nothing.
pub struct Change {
    txn: DatabaseTransaction,
    grants: Arc<Grants>,
    /// The grants its commit forgets; `None` when it changes nothing an agent is granted by.
    stale: Option<Scope>,
}

impl Change {
    /// Narrows what the commit forgets to the grants this change can have made stale: one
    /// tenant's agents, one agent, or none (`None`: seats, a tenant's name, a refused claim).
    pub(crate) fn reaches(&mut self, scope: Option<Scope>) {
        self.stale = scope;
    }

    /// Writes the change's audit entry and commits; then forgets the grants it made stale.
    pub(crate) async fn commit(self, entry: Entry) -> Result<(), AppError> {
        crate::audit::store::record(&self.txn, entry).await?;
        self.commit_unaudited().await.map(drop)
    }

    /// Commits a change the audit log does not record: an agent's own claim or release, which the
    /// usage record will keep instead, and what Tessera does for silent agents. Answers the grants'
    /// generation as of this commit: a grant decided inside this change may be remembered under
    /// it (see `Grants::put`), and any later change refuses it.
    pub(crate) async fn commit_unaudited(self) -> Result<u64, AppError> {
        if let Some(scope) = &self.stale {
            // Delivered to every instance at commit, never for a rollback.
            notify::send(&self.txn, scope).await?;
        }
        self.txn.commit().await?;
        Ok(match self.stale {
            Some(scope) => self.grants.forget(scope),
            None => self.grants.generation(),
        })
    }
}

/// A change reads and writes as its transaction does. Delegated by hand: sea-orm implements the
/// trait for its own connection types only.
#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for Change {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}
