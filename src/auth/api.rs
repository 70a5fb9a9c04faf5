//! Sign-in, sign-out and "who am I": the server functions of the auth capability.
use leptos::prelude::*;

use super::model::Viewer;
use crate::error::AppError;

/// Signs in and goes to `next` (a path on this site) or the role's start page; answers the
/// language the user chose, if any. Works as a plain form post without JavaScript: errors come
/// back in the URL.
#[server(endpoint = "login")]
pub async fn login(
    user_name: String,
    password: String,
    next: Option<String>,
) -> Result<Option<String>, AppError> {
    use super::server::throttle::{self, Attempt, Refusal};
    // Signing in is how a caller becomes known: nobody is, yet.
    let who = super::server::anyone()?;
    let client = crate::server::client::current(&who.state().config.trusted_proxies);
    let attempt = Attempt::new(&user_name, client);
    let result = sign_in(&who, &attempt, user_name.clone(), password, next).await;
    if let Err(err) = &result
        && !user_name.trim().is_empty()
        && let Some(refusal) = Refusal::of(err)
    {
        // Counted, not written to the audit log one by one: the sweeper appends one entry per
        // name, address and window (throttle::close_windows). The name as typed, never the
        // password.
        if let Err(e) =
            throttle::count_refusal(who.db(), &user_name, &attempt, who.now(), refusal).await
        {
            tracing::warn!("could not count a refused sign-in: {e}");
        }
    }
    result
}

#[cfg(feature = "ssr")]
async fn sign_in(
    who: &crate::server::caller::Caller<super::server::Anyone>,
    attempt: &super::server::throttle::Attempt,
    user_name: String,
    password: String,
    next: Option<String>,
) -> Result<Option<String>, AppError> {
    use super::model::{PASSWORD_MAX, Role, USER_NAME_MAX, safe_next, validate_user_name};
    use super::server::{middleware, sessions, throttle, tokens::Claims};
    use crate::error::{Field, Problem};
    use crate::users::entity as user;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

    let (state, db, now) = (who.state(), who.db(), who.now());
    // What no account can have is refused before any work: no name, or one or a password longer
    // than any that can be set.
    if user_name.trim().is_empty() {
        return Err(AppError::invalid(Field::UserName, Problem::Required));
    }
    if user_name.trim().chars().count() > USER_NAME_MAX {
        return Err(AppError::invalid(
            Field::UserName,
            Problem::TooLong {
                max: USER_NAME_MAX as u32,
            },
        ));
    }
    if password.chars().count() > PASSWORD_MAX {
        return Err(AppError::invalid(
            Field::Password,
            Problem::TooLong {
                max: PASSWORD_MAX as u32,
            },
        ));
    }
    // A place in line for the password check first: when too many wait, refused at once.
    let ticket = state.passwords.ticket()?;
    // Counted before the password is checked, so that a burst cannot outrun the count.
    let reservation = throttle::reserve(db, attempt, now).await?;

    let found = match validate_user_name(&user_name) {
        Ok(name) => {
            user::Entity::find()
                .filter(user::Column::Name.eq(name))
                .one(db)
                .await?
        }
        Err(_) => None,
    };
    let matches = ticket
        .verify(password, found.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let user = match found {
        Some(u) if matches => u,
        _ => {
            // The reservation stays: it is this failure.
            tracing::info!(
                user_name = %attempt.name,
                address = %attempt.address,
                "failed sign-in"
            );
            return Err(AppError::BadCredentials);
        }
    };
    throttle::release(db, reservation).await?;
    if user.disabled {
        return Err(AppError::AccountDisabled);
    }
    let role = Role::parse(&user.role).ok_or_else(|| {
        crate::error::internal(format_args!("user {} has an unknown role", user.id))
    })?;

    let ttl_ms = state.config.session_ttl_secs * 1000;
    // The session and its entry in the audit log are made together.
    let txn = db.begin().await?;
    let session = sessions::create(&txn, &user.id, now, ttl_ms).await?;
    let viewer = Viewer {
        id: user.id.clone(),
        name: user.name.clone(),
        role,
        tenant_id: user.tenant_id.clone(),
        // Not read by the audit entry; the pages resolve it per request.
        platform_expired_at: None,
    };
    crate::audit::store::record(
        &txn,
        crate::audit::store::Entry::by(
            &viewer,
            now,
            crate::audit::model::AuditKind::SignIn,
            &user.name,
        ),
    )
    .await?;
    txn.commit().await?;
    let token = state
        .tokens
        .issue(&Claims {
            sub: user.id.clone(),
            jti: session.id,
            iss: state.installation_id.to_string(),
            iat: now / 1000,
            nbf: now / 1000,
            exp: session.expires_at / 1000,
        })
        .map_err(crate::error::internal)?;
    crate::server::respond::append_set_cookie(&middleware::session_cookie(
        &token,
        state.config.session_ttl_secs,
        middleware::secure_cookies(state)?,
    ))?;
    if let Some(locale) = &user.locale {
        // The language this user chose follows them to any browser.
        crate::server::respond::append_set_cookie(&crate::ui::language::locale_cookie(locale))?;
    }
    tracing::info!(user = %user.name, "signed in");
    // While anything licensed has expired, those who can renew land where they renew it.
    let to =
        if role.can_view_licenses() && crate::ledger::platform::anything_expired(db, now).await? {
            "/settings/licenses".to_string()
        } else {
            safe_next(next.as_deref(), role)
        };
    leptos_axum::redirect(&to);
    Ok(user.locale)
}

/// Ends this browser's session at once and returns to the sign-in page.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::server::{middleware, sessions, signed_in};

    let who = signed_in()?;
    sessions::end(who.db(), &who.session_id).await?;
    crate::audit::store::record(
        who.db(),
        crate::audit::store::Entry::by(
            &who.viewer,
            who.now(),
            crate::audit::model::AuditKind::SignOut,
            &who.viewer.name,
        ),
    )
    .await?;
    crate::server::respond::append_set_cookie(&middleware::clear_cookie(
        middleware::secure_cookies(who.state())?,
    ))?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user, or `None`. Anyone may ask.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Viewer>, AppError> {
    Ok(super::server::current().map(|a| a.viewer))
}
