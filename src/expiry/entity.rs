//! Reminders made, who has read them, and their webhook deliveries.
pub mod reminder {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reminders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub subject_kind: String,
        pub subject_id: String,
        pub subject_name: String,
        pub license_type: String,
        pub tenant_id: Option<String>,
        pub expires_at: i64,
        pub days_before: i32,
        pub due_at: i64,
        pub made_at: i64,
        /// Read before notifications were read per user (migration 20 copied it to every
        /// user's reads); no longer written.
        pub read_at: Option<i64>,
        /// A shortage alert's checkouts refused in its hour (`expires_at` holds the hour's start).
        pub refusals: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A reminder read by a user: each user reads their own notifications.
pub mod read {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reminder_reads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reminder_id: String,
        pub read_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub reminder_id: String,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        pub attempts: i32,
        pub next_attempt_at: i64,
        pub delivered_at: Option<i64>,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        pub gave_up: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
