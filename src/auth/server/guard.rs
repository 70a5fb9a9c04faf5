//! The check every server function and handler starts with. It answers a
//! [`Caller`](crate::server::caller::Caller) holding the proof of who is calling, which is the only
//! way to the database: an operation that needs a permission takes a `Granted<C>`, which only
//! [`require`] (or the handlers' extractor) makes, and a forgotten check has no connection to use.
use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::auth::model::{Permission, Viewer};
use crate::error::AppError;
use crate::server::caller::Caller;
use crate::server::state::AppState;

mod sealed {
    pub trait Sealed {}
}

/// What a [`Caller`] can be made from: a proof of who is calling. Only this module's types are
/// proofs, and only the auth module makes their values.
pub trait Proof: sealed::Sealed {}

/// Who is calling: resolved once per request by the session middleware, the only place that
/// makes one (its fields are the auth module's), so no other code can claim to be someone.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub(in crate::auth) viewer: Viewer,
    pub(in crate::auth) session_id: String,
}

impl Authenticated {
    pub fn viewer(&self) -> &Viewer {
        &self.viewer
    }
}

/// A permission, as a type.
pub trait Capability {
    const PERMISSION: Permission;
}

macro_rules! capabilities {
    ($($name:ident),* $(,)?) => {
        /// One marker type per [`Permission`].
        pub mod cap {
            use super::{Capability, Permission};
            $(
                pub struct $name;
                impl Capability for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        }
    };
}

capabilities!(
    ViewLicenses,
    RequestLicenses,
    UploadLicenses,
    DeleteLicenses,
    ManageSeats,
    BindAgents,
    ManageUsers,
    ManageTenants,
    DeleteAgents,
    ViewAudit,
    ViewUsage,
    MoveTestClock,
);

/// Proof that the caller holds `C`'s permission.
pub struct Granted<C: Capability> {
    viewer: Viewer,
    _capability: PhantomData<fn() -> C>,
}

impl<C: Capability> Granted<C> {
    pub fn viewer(&self) -> &Viewer {
        &self.viewer
    }

    /// The tenant the caller acts within: `None` for an Administrator, who acts on every tenant;
    /// their own for anyone else (a License manager manages their tenant's agents, users and
    /// seats only). Stores and the ledger filter their queries by it.
    pub fn tenant_scope(&self) -> Option<&str> {
        (self.viewer.role != crate::auth::model::Role::Administrator)
            .then_some(self.viewer.tenant_id.as_str())
    }

    /// Whether the caller may act on something of `tenant_id`.
    pub fn reaches_tenant(&self, tenant_id: &str) -> bool {
        self.tenant_scope().is_none_or(|own| own == tenant_id)
    }
}

/// Proof of nothing: the caller is not known yet. Made by [`anyone`] for what runs before anyone
/// can be (signing in, an agent registering with its enrollment key, recording a refusal).
pub struct Anyone(());

impl sealed::Sealed for Authenticated {}
impl Proof for Authenticated {}
impl<C: Capability> sealed::Sealed for Granted<C> {}
impl<C: Capability> Proof for Granted<C> {}
impl sealed::Sealed for Anyone {}
impl Proof for Anyone {}
impl sealed::Sealed for super::agent::Agent {}
impl Proof for super::agent::Agent {}

/// The caller of the current request, if signed in.
pub fn current() -> Option<Authenticated> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    parts.extensions.get::<Authenticated>().cloned()
}

/// The caller, who must be signed in: for what everyone does for themselves.
pub fn signed_in() -> Result<Caller<Authenticated>, AppError> {
    let who = current().ok_or(AppError::NotSignedIn)?;
    Ok(Caller::new(app_state()?, who))
}

/// The caller, who must hold `C`'s permission.
pub fn require<C: Capability>() -> Result<Caller<Granted<C>>, AppError> {
    let granted = grant(current())?;
    Ok(Caller::new(app_state()?, granted))
}

/// Whoever is calling, unchecked: only for what runs before anyone is known.
pub fn anyone() -> Result<Caller<Anyone>, AppError> {
    Ok(Caller::new(app_state()?, Anyone(())))
}

/// The same, for code that holds the state already (the session middleware, the agent API).
pub(crate) fn anyone_with(state: AppState) -> Caller<Anyone> {
    Caller::new(state, Anyone(()))
}

fn app_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        crate::error::internal("the application state is missing from the request context")
    })
}

fn grant<C: Capability>(who: Option<Authenticated>) -> Result<Granted<C>, AppError> {
    let who = who.ok_or(AppError::NotSignedIn)?;
    if let Some(on) = who.viewer.platform_expired_at
        && !C::PERMISSION.works_while_platform_expired()
    {
        return if who.viewer.role.allows(C::PERMISSION) {
            Err(AppError::PlatformExpired { on })
        } else {
            Err(AppError::Forbidden)
        };
    }
    if who.viewer.role.allows(C::PERMISSION) {
        Ok(Granted {
            viewer: who.viewer,
            _capability: PhantomData,
        })
    } else {
        Err(AppError::Forbidden)
    }
}

/// A plain handler for anyone (an agent registering with its enrollment key): `who: Caller<Anyone>`.
impl FromRequestParts<AppState> for Caller<Anyone> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(anyone_with(state.clone()))
    }
}

/// A plain handler's refused caller: what was refused, and who asked if anyone signed in (so a
/// refusal can be recorded in their name).
pub struct Refused {
    pub error: AppError,
    pub signed_in: Option<Caller<Authenticated>>,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        crate::server::respond::error_response(&self.error)
    }
}

/// The check for a plain axum handler: `who: Caller<Granted<C>>` among its arguments.
impl<C: Capability> FromRequestParts<AppState> for Caller<Granted<C>> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refused> {
        let who = parts.extensions.get::<Authenticated>().cloned();
        match grant::<C>(who.clone()) {
            Ok(granted) => Ok(Caller::new(state.clone(), granted)),
            Err(error) => Err(Refused {
                error,
                signed_in: who.map(|who| Caller::new(state.clone(), who)),
            }),
        }
    }
}

/// A metrics scraper: metrics are enabled (`TESSERA_METRICS`), and the request carries the bearer
/// token when one is configured (`TESSERA_METRICS_TOKEN`). The handler of `/metrics` takes
/// `who: Caller<Scraper>`.
pub struct Scraper(());

impl sealed::Sealed for Scraper {}
impl Proof for Scraper {}

impl FromRequestParts<AppState> for Caller<Scraper> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        use sha2::{Digest, Sha256};
        if !state.config.metrics {
            return Err(crate::server::respond::error_response(&AppError::NotFound));
        }
        if let Some(token) = &state.config.metrics_token {
            let given = parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            // Compared as digests: equal lengths, no early exit on the token's own bytes.
            let same = given
                .is_some_and(|g| Sha256::digest(g.as_bytes()) == Sha256::digest(token.as_bytes()));
            if !same {
                let mut refused = crate::server::respond::error_response(&AppError::NotSignedIn);
                refused.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer realm=\"tessera metrics\""),
                );
                return Err(refused);
            }
        }
        Ok(Caller::new(state.clone(), Scraper(())))
    }
}
