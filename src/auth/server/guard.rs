//! The check every server function starts with. An operation that needs a permission takes a
//! `Granted<C>`, which only [`require`] can make, so a forgotten check does not compile.
use std::marker::PhantomData;

use crate::auth::model::{Permission, Viewer};
use crate::error::AppError;

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
}

/// The caller of the current request, if signed in.
pub fn current() -> Option<Authenticated> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    parts.extensions.get::<Authenticated>().cloned()
}

/// The caller, who must be signed in.
pub fn signed_in() -> Result<Authenticated, AppError> {
    current().ok_or(AppError::NotSignedIn)
}

/// The caller, who must hold `C`'s permission.
pub fn require<C: Capability>() -> Result<Granted<C>, AppError> {
    grant(current())
}

/// The same check for a plain axum handler, given the caller the middleware resolved.
pub fn grant<C: Capability>(who: Option<Authenticated>) -> Result<Granted<C>, AppError> {
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
