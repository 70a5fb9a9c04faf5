//! Server-side sessions (one per signed-in browser), sign-in attempts (for throttling) and the
//! refused sign-ins counted per window (for the audit log).
pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        /// The token's `jti`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub created_at: i64,
        pub expires_at: i64,
        /// The latest request made with it, kept to [`crate::auth::server::sessions::TOUCH_MS`]:
        /// idle longer than `TESSERA_SESSION_IDLE_MINUTES`, it has ended.
        pub last_seen_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A sign-in attempt, reserved before its password is checked; kept when it failed, deleted when
/// it succeeded.
pub mod login_failure {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_failures")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Lower-cased, as typed.
        pub user_name: String,
        /// The client's address as throttled (`server::client::throttle_key`); empty for rows
        /// from before addresses were kept.
        pub address: String,
        pub at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Refused sign-ins of one name from one address in one window, counted until the window closes
/// and they become one audit entry.
pub mod sign_in_refusal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sign_in_refusals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The throttle's key of the name; empty for "any name" once an address has tried many.
        pub user_name: String,
        pub address: String,
        /// The window's first millisecond (a multiple of the window's length).
        pub window_start: i64,
        /// The name as first typed in the window.
        pub shown_name: String,
        pub first_at: i64,
        pub last_at: i64,
        /// Wrong user name or password.
        pub failed: i64,
        /// Refused before the password was checked (too many attempts, too busy).
        pub throttled: i64,
        /// Any other refusal (a disabled account, a password too long).
        pub other: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
