//! The upload of a license package: a plain multipart form post (it works without JavaScript),
//! checked against the limits before any parsing, staged with its preview, and answered with a
//! redirect to the preview page. A package refused whole is answered 413 or 422: a browser is
//! sent to the preview page, which says why (and is itself served with that status); any other
//! client gets the JSON error, naming the reason and that page.
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::store::Staged;
use crate::audit::model::AuditKind;
use crate::audit::store::{Entry, record_refusal};
use crate::auth::server::cap::UploadLicenses;
use crate::auth::server::guard::{Authenticated, grant};
use crate::error::{AppError, Field, Problem};
use crate::server::respond::error_response;
use crate::server::state::AppState;

pub async fn upload_package(
    State(state): State<AppState>,
    who: Option<axum::Extension<Authenticated>>,
    headers: http::HeaderMap,
    multipart: Multipart,
) -> Response {
    let who = who.map(|w| w.0);
    let viewer = who.as_ref().map(|w| w.viewer().clone());
    let browser = crate::server::respond::wants_html(&headers);
    match stage(&state, who, multipart).await {
        Ok(Staged {
            id,
            refusal: Some(refusal),
        }) if !browser => error_response(&AppError::PackageRefused {
            upload: format!("/settings/licenses/upload/{id}"),
            refusal,
        }),
        Ok(Staged { id, .. }) => {
            Redirect::to(&format!("/settings/licenses/upload/{id}")).into_response()
        }
        Err(e) => {
            // A staged upload records itself; a refused one is recorded here.
            if let Some(v) = &viewer {
                let entry = Entry::by(v, state.clock.now_ms(), AuditKind::LicenseUpload, "");
                record_refusal(&state.db, entry, &e).await;
            }
            error_response(&e)
        }
    }
}

async fn stage(
    state: &AppState,
    who: Option<Authenticated>,
    mut multipart: Multipart,
) -> Result<Staged, AppError> {
    let who = grant::<UploadLicenses>(who)?;
    let limit = state.limits.max_bytes;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| {
        AppError::invalid(
            Field::File,
            Problem::Malformed {
                detail: e.body_text(),
            },
        )
    })? {
        if field.name() != Some("package") {
            continue;
        }
        // Browsers send the base name; a path here comes from a crafted request.
        let file_name = field.file_name().unwrap_or("package.lcs").to_string();
        if !is_plain_file_name(&file_name) {
            return Err(AppError::invalid(Field::File, Problem::NotAFileName));
        }
        // Read at most one byte past the limit: a larger package is refused unread.
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            AppError::invalid(
                Field::File,
                Problem::Malformed {
                    detail: e.body_text(),
                },
            )
        })? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                bytes.truncate(0);
                bytes.extend(std::iter::repeat_n(0u8, (limit + 1) as usize));
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        let now = state.clock.now_ms();
        return super::store::stage_upload(
            &state.db,
            &who,
            &state.package_checks(),
            &file_name,
            bytes,
            now,
        )
        .await;
    }
    Err(AppError::invalid(Field::File, Problem::Required))
}

/// A name without a folder in it: no `/`, `\\`, `..` component or control character.
fn is_plain_file_name(name: &str) -> bool {
    !name.contains(['/', '\\'])
        && name != ".."
        && name != "."
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::is_plain_file_name;

    #[test]
    fn only_plain_file_names_pass() {
        for good in ["licenses.lcs", "acme 2026.lcs", "пакет.lcs", "a..b.lcs", ""] {
            assert!(is_plain_file_name(good), "{good}");
        }
        for bad in [
            "../../x.lcs",
            "..\\..\\x.lcs",
            "/etc/passwd",
            "..",
            ".",
            "a\nb.lcs",
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
