//! Who is signed in, for the page being rendered: provided once by `app::App`, read by the
//! layout and the pages (kept here so that shared widgets need not import the app that composes
//! them).
use leptos::prelude::*;

use crate::auth::api::Logout;
use crate::auth::model::Viewer;
use crate::error::AppError;

/// Who is signed in, for the page being rendered.
#[derive(Clone, Copy)]
pub struct Session {
    pub logout: ServerAction<Logout>,
    pub viewer: Resource<Result<Option<Viewer>, AppError>>,
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
