//! The usage record and its rollups, as stored (see the migration `m20261203_000015_usage`).

/// One change of what is in use, written by the ledger in the change's own transaction.
pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: i64,
        pub kind: String,
        pub reason: Option<String>,
        /// The tenant whose pool the license is drawn from; `""`: the shared pool.
        pub pool: String,
        /// The tenant of the agent or user that holds it (`""`: none).
        pub tenant_id: String,
        pub product: String,
        pub license_kind: String,
        /// The agent or user.
        pub subject: String,
        pub certificate_id: Option<String>,
        /// The change in the number in use under this key.
        pub delta: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Refused checkouts of one agent in one minute, for one reason.
pub mod refused {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_refused")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub start: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub agent_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reason: String,
        pub tenant_id: String,
        pub refusals: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What was in use under one key in one minute, hour or day.
pub mod rollup {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_rollups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub span: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub start: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub pool: String,
        /// `"*"`: every tenant together.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub product: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub license_kind: String,
        pub peak: i32,
        pub low: i32,
        /// In use, integrated over the bucket: the mean times the bucket's length.
        pub used_ms: i64,
        /// Owned in the pool (on the rows of every tenant together; 0 on a tenant's own).
        pub owned: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Refused checkouts of one tenant in one minute, hour or day, for one reason.
pub mod refusal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_refusals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub span: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub start: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reason: String,
        pub refusals: i64,
        /// Distinct agents refused.
        pub agents: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// How far each span is rolled up: every bucket before these is final.
pub mod progress {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_progress")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub minutes_until: i64,
        pub hours_until: i64,
        pub days_until: i64,
        /// Lapses by time are recorded until here.
        pub lapses_until: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
