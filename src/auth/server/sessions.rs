//! Server-side sessions. A token is good only while its session row exists, so signing out,
//! disabling a user or changing their password ends their sessions at once, on every instance.
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use super::entity::session;
use crate::auth::model::{Role, Viewer};
use crate::error::AppError;
use crate::users::entity as user;

/// How stale a session's `last_seen_at` may grow before a request writes it again: a signed-in
/// browser costs one write a minute, not one per request. An idle timeout is thus kept to within
/// this much.
pub const TOUCH_MS: i64 = 60 * 1000;

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
        last_seen_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The signed-in user of a live session, if the session exists, has neither expired nor gone
/// unused for longer than `idle_ms`, belongs to `user_id`, and the user is enabled. Counts as the
/// session's use.
pub async fn resolve(
    db: &impl ConnectionTrait,
    session_id: &str,
    user_id: &str,
    now: i64,
    idle_ms: i64,
) -> Result<Option<Viewer>, AppError> {
    let Some(s) = session::Entity::find_by_id(session_id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if s.user_id != user_id || !alive(&s, now, idle_ms) {
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_MS {
        // Only forward: of two instances touching at once, the later time stays.
        session::Entity::update_many()
            .col_expr(
                session::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::Id.eq(s.id.clone()))
            .filter(session::Column::LastSeenAt.lt(now))
            .exec(db)
            .await?;
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
        time_zone: u.time_zone,
    }))
}

/// Whether a session is still good at `now`: before its end, and used within `idle_ms`.
pub fn alive(s: &session::Model, now: i64, idle_ms: i64) -> bool {
    s.expires_at > now && now - s.last_seen_at < idle_ms
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

/// Ends every session of a user but one (their own, when they change their password).
pub async fn end_others_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    keep: &str,
) -> Result<(), AppError> {
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::Id.ne(keep))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the sessions that ended, by their lifetime or by going unused (the sweeper). Answers
/// how many.
pub async fn purge_ended(
    db: &impl ConnectionTrait,
    now: i64,
    idle_ms: i64,
) -> Result<u64, AppError> {
    let ended = session::Entity::delete_many()
        .filter(
            Condition::any()
                .add(session::Column::ExpiresAt.lte(now))
                .add(session::Column::LastSeenAt.lte(now - idle_ms)),
        )
        .exec(db)
        .await?;
    Ok(ended.rows_affected)
}

/// Remembers the time zone a user chose to read times in (`None`: UTC), for themselves.
pub async fn remember_time_zone(
    db: &impl ConnectionTrait,
    user_id: &str,
    time_zone: Option<&str>,
) -> Result<(), AppError> {
    user::Entity::update_many()
        .col_expr(
            user::Column::TimeZone,
            sea_orm::sea_query::Expr::value(time_zone.map(str::to_string)),
        )
        .filter(user::Column::Id.eq(user_id))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: i64, last_seen_at: i64) -> session::Model {
        session::Model {
            id: "s".into(),
            user_id: "u".into(),
            created_at: 0,
            expires_at,
            last_seen_at,
        }
    }

    #[test]
    fn a_session_ends_at_its_end_or_after_going_unused() {
        let idle = 30 * 60 * 1000;
        assert!(alive(&session(100_000_000, 0), idle - 1, idle));
        assert!(
            !alive(&session(100_000_000, 0), idle, idle),
            "idle too long"
        );
        assert!(!alive(&session(1_000, 999), 1_000, idle), "past its end");
        assert!(alive(
            &session(100_000_000, 50_000_000),
            50_000_000 + idle - 1,
            idle
        ));
    }
}
