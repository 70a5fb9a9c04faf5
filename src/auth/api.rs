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
    use crate::audit::{model::AuditKind, store};
    let typed = user_name.clone();
    let result = sign_in(user_name, password, next).await;
    if let Err(err) = &result
        && !typed.trim().is_empty()
    {
        // The name as typed, never the password.
        let who = super::server::anyone()?;
        let entry = store::Entry::named(&typed, who.now(), AuditKind::SignInFailed, "");
        store::record_refusal(who.db(), entry, err).await;
    }
    result
}

#[cfg(feature = "ssr")]
async fn sign_in(
    user_name: String,
    password: String,
    next: Option<String>,
) -> Result<Option<String>, AppError> {
    use super::model::{Role, safe_next, validate_user_name};
    use super::server::{middleware, sessions, throttle, tokens::Claims};
    use crate::users::entity as user;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

    // Signing in is how a caller becomes known: nobody is, yet.
    let who = super::server::anyone()?;
    let (state, db, now) = (who.state(), who.db(), who.now());
    if user_name.trim().is_empty() {
        return Err(AppError::invalid(
            crate::error::Field::UserName,
            crate::error::Problem::Required,
        ));
    }
    throttle::check(db, &user_name, now).await?;

    let found = match validate_user_name(&user_name) {
        Ok(name) => {
            user::Entity::find()
                .filter(user::Column::Name.eq(name))
                .one(db)
                .await?
        }
        Err(_) => None,
    };
    let matches = state
        .passwords
        .verify(password, found.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let user = match found {
        Some(u) if matches => u,
        _ => {
            throttle::record_failure(db, &user_name, now).await?;
            tracing::info!(user_name = %throttle::key(&user_name), "failed sign-in");
            return Err(AppError::BadCredentials);
        }
    };
    if user.disabled {
        return Err(AppError::AccountDisabled);
    }
    let role = Role::parse(&user.role).ok_or_else(|| {
        crate::error::internal(format_args!("user {} has an unknown role", user.id))
    })?;

    throttle::clear(db, &user_name).await?;
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
