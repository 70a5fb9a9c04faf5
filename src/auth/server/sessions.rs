//! Server-side sessions. A token is good only while its session row exists, so signing out,
//! disabling a user or changing their password ends their sessions at once, on every instance.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entity::session;
use crate::auth::model::{Role, Viewer};
use crate::error::AppError;
use crate::users::entity as user;

pub async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<session::Model, AppError> {
    Ok(session::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(user_id.to_string()),
        created_at: Set(now),
        expires_at: Set(now + ttl_ms),
    }
    .insert(db)
    .await?)
}

/// The signed-in user of a live session, if the session exists, has not expired, belongs to `user_id`
/// and the user is enabled.
pub async fn resolve(
    db: &impl ConnectionTrait,
    session_id: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<Viewer>, AppError> {
    let Some(s) = session::Entity::find_by_id(session_id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if s.user_id != user_id || s.expires_at <= now {
        return Ok(None);
    }
    let Some(u) = user::Entity::find_by_id(s.user_id).one(db).await? else {
        return Ok(None);
    };
    if u.disabled {
        return Ok(None);
    }
    let Some(role) = Role::parse(&u.role) else {
        return Ok(None);
    };
    let platform_expired_at =
        crate::ledger::platform::platform_expired_at(db, &u.tenant_id, now).await?;
    Ok(Some(Viewer {
        id: u.id,
        name: u.name,
        role,
        tenant_id: u.tenant_id,
        platform_expired_at,
    }))
}

pub async fn end(db: &impl ConnectionTrait, session_id: &str) -> Result<(), AppError> {
    session::Entity::delete_by_id(session_id.to_string())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn end_all_for_user(db: &impl ConnectionTrait, user_id: &str) -> Result<(), AppError> {
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn purge_expired(db: &impl ConnectionTrait, now: i64) -> Result<(), AppError> {
    session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(())
}

/// Remembers the language a user chose (any signed-in user, for themselves).
pub async fn remember_locale(
    db: &impl ConnectionTrait,
    user_id: &str,
    locale: &str,
) -> Result<(), AppError> {
    user::Entity::update_many()
        .col_expr(
            user::Column::Locale,
            sea_orm::sea_query::Expr::value(locale),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
