//! The one way a request reaches the database: a [`Caller`], made only from a proof of who is
//! calling. `AppState`'s connection is private to the server module, so a server function or
//! handler that skips its permission check has no connection to use, and does not compile.
//!
//! The proofs are the auth module's (it alone can make them): `Granted<C>` for a permission,
//! `Authenticated` for self-service, `Agent` for an agent's bearer token, and `Anyone` for the
//! few operations that run before anyone is known (signing in, registering an agent).
//!
//! Outside the server module, the state's connection cannot be reached:
//! ```compile_fail,E0616
//! fn skip_the_check(state: &tessera::server::state::AppState) {
//!     let _ = &state.db;
//! }
//! ```
//! nor a caller made without a proof from the auth module:
//! ```compile_fail,E0624
//! fn claim(state: tessera::server::state::AppState) {
//!     let _ = tessera::server::caller::Caller::new(state, ());
//! }
//! ```
//! nor a permission claimed without the check:
//! ```compile_fail,E0451
//! use tessera::auth::server::{Granted, cap::ManageUsers};
//! fn forge(viewer: tessera::auth::model::Viewer) -> Granted<ManageUsers> {
//!     Granted { viewer, _capability: std::marker::PhantomData }
//! }
//! ```
use std::ops::Deref;

use sea_orm::DatabaseConnection;

use super::state::AppState;
use crate::auth::server::Proof;
use crate::ledger::Ledger;

/// Who is calling, with what they may use: the database, the ledger and the clock.
pub struct Caller<P> {
    proof: P,
    state: AppState,
}

impl<P: Proof> Caller<P> {
    /// Pairs a proof with the state it may use; proofs are made by the auth module alone.
    pub(crate) fn new(state: AppState, proof: P) -> Caller<P> {
        Caller { proof, state }
    }
}

impl<P> Caller<P> {
    pub fn proof(&self) -> &P {
        &self.proof
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.state.db()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// The server's clock, now, in Unix milliseconds.
    pub fn now(&self) -> i64 {
        self.state.clock.now_ms()
    }

    /// The rest of the shared state (configuration, password hasher, keys); not its connection.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

/// A caller is used where its proof is asked for: `store::f(who.db(), &who, who.now())`.
impl<P> Deref for Caller<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.proof
    }
}
