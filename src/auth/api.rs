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
    let outcome = match &result {
        Ok(_) => "signed_in",
        Err(e) => e.code(),
    };
    metrics::counter!("tessera_sign_ins_total", "result" => outcome).increment(1);
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
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

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
    let txn = crate::server::db::begin_write(db).await?;
    let session = sessions::create(&txn, &user.id, now, ttl_ms).await?;
    let viewer = Viewer {
        id: user.id.clone(),
        name: user.name.clone(),
        role,
        tenant_id: user.tenant_id.clone(),
        // Not read by the audit entry; the pages resolve it per request.
        platform_expired_at: None,
        time_zone: user.time_zone.clone(),
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

/// The time zone the signed-in user reads times in: an IANA name (`Europe/Moscow`), or empty for
/// UTC. Theirs alone; returns to Your account.
#[server(endpoint = "account/time_zone")]
pub async fn set_time_zone(time_zone: String) -> Result<(), AppError> {
    use crate::error::{Field, Problem};
    let who = super::server::signed_in()?;
    let time_zone = time_zone.trim();
    let chosen = if time_zone.is_empty() {
        None
    } else {
        let zone: chrono_tz::Tz = time_zone
            .parse()
            .map_err(|_| AppError::invalid(Field::TimeZone, Problem::Unknown))?;
        Some(zone.name())
    };
    super::server::sessions::remember_time_zone(who.db(), &who.viewer.id, chosen).await?;
    leptos_axum::redirect("/account?zone");
    Ok(())
}

/// Changes the signed-in user's own password. The current one is required, so that a session left
/// open cannot be turned into its owner's lockout; a wrong one counts against the sign-in
/// throttle as a wrong sign-in would. The user's other sessions end; this one stays.
#[server(endpoint = "account/password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    password_repeat: String,
) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    let who = super::server::signed_in()?;
    let name = who.viewer.name.clone();
    audited(AuditKind::PasswordChange, name, async move {
        change_own_password(&who, current_password, new_password, password_repeat).await
    })
    .await
}

#[cfg(feature = "ssr")]
async fn change_own_password(
    who: &crate::server::caller::Caller<super::server::Authenticated>,
    current_password: String,
    new_password: String,
    password_repeat: String,
) -> Result<(), AppError> {
    use super::model::{PASSWORD_MAX, validate_new_password};
    use super::server::{sessions, throttle};
    use crate::error::{Field, Problem};
    use crate::users::entity as user;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    let (state, db, now) = (who.state(), who.db(), who.now());
    // What is wrong with the form is said before any password is checked.
    if current_password.is_empty() {
        return Err(AppError::invalid(Field::CurrentPassword, Problem::Required));
    }
    if current_password.chars().count() > PASSWORD_MAX {
        return Err(AppError::invalid(
            Field::CurrentPassword,
            Problem::TooLong {
                max: PASSWORD_MAX as u32,
            },
        ));
    }
    validate_new_password(&new_password).map_err(|e| match e {
        AppError::Invalid { problem, .. } => AppError::invalid(Field::NewPassword, problem),
        other => other,
    })?;
    if password_repeat != new_password {
        return Err(AppError::invalid(
            Field::PasswordRepeat,
            Problem::NotRepeated,
        ));
    }
    let me = user::Entity::find_by_id(who.viewer.id.clone())
        .one(db)
        .await?
        .ok_or(AppError::NotSignedIn)?;
    let ticket = state.passwords.ticket()?;
    let client = crate::server::client::current(&state.config.trusted_proxies);
    let attempt = throttle::Attempt::new(&me.name, client);
    let reservation = throttle::reserve(db, &attempt, now).await?;
    if !ticket
        .verify(current_password, Some(me.password_hash.clone()))
        .await?
    {
        // The reservation stays: it is this failure.
        return Err(AppError::invalid(
            Field::CurrentPassword,
            Problem::Incorrect,
        ));
    }
    throttle::release(db, reservation).await?;
    let hash = state.passwords.hash(new_password).await?;
    let txn = crate::server::db::begin_write(db).await?;
    let mut m: user::ActiveModel = me.into();
    m.password_hash = Set(hash);
    m.update(&txn).await?;
    sessions::end_others_for_user(&txn, &who.viewer.id, &who.session_id).await?;
    crate::audit::store::record(
        &txn,
        crate::audit::store::Entry::by(
            &who.viewer,
            now,
            crate::audit::model::AuditKind::PasswordChange,
            &who.viewer.name,
        ),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user = %who.viewer.name, "changed their password");
    leptos_axum::redirect("/account?changed=1");
    Ok(())
}

/// The signed-in user, or `None`. Anyone may ask.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Viewer>, AppError> {
    Ok(super::server::current().map(|a| a.viewer))
}
