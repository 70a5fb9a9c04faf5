//! Stored packages, certificates, and uploads awaiting confirmation.
pub mod certificate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "certificates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub package_id: String,
        pub block: i32,
        pub kid: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        pub sig: String,
        pub product: String,
        pub product_name: String,
        pub license_type: String,
        pub mode: String,
        pub validity_days: Option<i32>,
        pub not_before: Option<String>,
        /// `not_before` in Unix ms (a bare date: the start of that day, UTC).
        pub not_before_at: Option<i64>,
        pub not_after: Option<String>,
        pub not_after_at: Option<i64>,
        pub seats: Option<i32>,
        pub binding: Option<String>,
        pub feature: Option<String>,
        pub tenant_id: Option<String>,
        pub company_id: String,
        pub issued_at: String,
        #[sea_orm(column_type = "Text")]
        pub revokes: String,
        pub installed_at: i64,
        pub activated_at: Option<i64>,
        pub expires_at: Option<i64>,
        pub permanent: bool,
        pub assigned_tenant_id: Option<String>,
        pub bound_agent_id: Option<String>,
        pub revoked_by: Option<String>,
        pub ended_reason: Option<String>,
        /// A floating license taken from an agent that was shut down stays held until its last
        /// lease ends (Unix ms): no other agent takes it before.
        pub lease_held_until: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// The update that activates certificate `id` at `activated_at`, licensing until `until`;
    /// callers add what else the activation sets (a tenant, an agent) and their conditions.
    pub fn activate(
        id: &str,
        activated_at: i64,
        until: crate::licenses::domain::Expiry,
    ) -> sea_orm::UpdateMany<Entity> {
        use sea_orm::QueryFilter;
        use sea_orm::sea_query::Expr;
        let (expires_at, permanent) = until.to_parts();
        Entity::update_many()
            .col_expr(Column::ActivatedAt, Expr::value(activated_at))
            .col_expr(Column::ExpiresAt, Expr::value(expires_at))
            .col_expr(Column::Permanent, Expr::value(permanent))
            .filter(Column::Id.eq(id))
    }

    impl Model {
        /// Until when activating it now licenses what it licenses, from `current` (validity
        /// stacks; `not_after` caps).
        pub fn activation_until(
            &self,
            current: Option<crate::licenses::domain::Expiry>,
            now: i64,
        ) -> crate::licenses::domain::Expiry {
            crate::licenses::domain::stack_validity(
                current,
                now,
                self.validity_days.and_then(|d| u32::try_from(d).ok()),
                self.not_after_at,
            )
        }

        pub fn state(&self) -> crate::licenses::domain::CertificateState {
            use crate::licenses::domain::{CertificateState, Expiry};
            CertificateState {
                activated_at: self.activated_at,
                expires: self
                    .activated_at
                    .and_then(|_| Expiry::from_parts(self.expires_at, self.permanent)),
                not_before: self.not_before_at,
                not_after: self.not_after_at,
                revoked: self.revoked_by.is_some(),
                ended: self.ended_reason.is_some(),
            }
        }
    }
}

pub mod package {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "packages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub file_name: String,
        pub sha256: String,
        pub uploaded_by: String,
        pub uploaded_at: i64,
        pub certificate_count: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pending_upload {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_uploads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The administrator who uploaded it: only they may see and confirm it.
        pub uploaded_by: String,
        pub file_name: String,
        #[sea_orm(column_type = "Text")]
        pub content: String,
        /// The preview or refusal, as JSON, computed when it was uploaded.
        #[sea_orm(column_type = "Text")]
        pub outcome: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
