//! The upload of a license package: a plain multipart form post (it works without JavaScript),
//! checked against the limits before any parsing, staged with its preview, and answered with a
//! redirect to the preview page. A package refused whole is answered 413 or 422: a browser is
//! sent to the preview page, which says why (and is itself served with that status); any other
//! client gets the JSON error, naming the reason and that page.
use axum::extract::Multipart;
use axum::response::{IntoResponse, Redirect, Response};

use super::store::Staged;
use crate::audit::model::AuditKind;
use crate::audit::store::{Entry, record_refusal};
use crate::auth::model::Viewer;
use crate::auth::server::cap::UploadLicenses;
use crate::auth::server::{Granted, Refused};
use crate::error::{AppError, Field, Problem};
use crate::server::caller::Caller;
use crate::server::respond::error_response;

pub async fn upload_package(
    who: Result<Caller<Granted<UploadLicenses>>, Refused>,
    headers: http::HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let browser = crate::server::respond::wants_html(&headers);
    let who = match who {
        Ok(who) => who,
        Err(refused) => {
            if let Some(signed_in) = &refused.signed_in {
                record(signed_in, signed_in.viewer(), &refused.error).await;
            }
            return refused.into_response();
        }
    };
    let staged = stage(&who, &mut multipart).await;
    drain(&mut multipart).await;
    match staged {
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
            record(&who, who.viewer(), &e).await;
            error_response(&e)
        }
    }
}

/// Records a refused upload in the name of who tried it.
async fn record<P>(who: &Caller<P>, viewer: &Viewer, e: &AppError) {
    let entry = Entry::by(viewer, who.now(), AuditKind::LicenseUpload, "");
    record_refusal(who.db(), entry, e).await;
}

/// Reads what is left of the form (its closing boundary, fields after the package), so that the
/// answer never comes before the request is read: hyper closes a connection with bytes unread,
/// and a client still writing them can lose the answer (seen as a reset). Bounded by the body
/// limit; an error here ends the reading, the answer is already decided.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

async fn stage(
    who: &Caller<Granted<UploadLicenses>>,
    multipart: &mut Multipart,
) -> Result<Staged, AppError> {
    let limit = who.state().limits.max_bytes;
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
        let now = who.now();
        return super::store::stage_upload(
            who.db(),
            who,
            &who.state().package_checks(),
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
