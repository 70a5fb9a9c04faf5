//! Reminders posted to `TESSERA_WEBHOOK_URL` as JSON, signed with HMAC-SHA256 over
//! `"{timestamp}.{body}"` with `TESSERA_WEBHOOK_SECRET`, retried with exponential backoff. A
//! delivery is queued in the transaction that made its reminder, so none is lost to a crash.
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::Sha256;

use super::entity::delivery;
use super::model::SubjectKind;
use crate::error::{AppError, internal};
use crate::licenses::format::LicenseType;
use crate::server::config::WebhookConfig;

/// Attempts before a delivery is given up (and logged as such).
pub const MAX_ATTEMPTS: i32 = 10;
/// How long a delivery claimed by one instance is left to it: longer than a post may take.
pub const CLAIM_MS: i64 = 60_000;
/// How long a post may take.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub const SIGNATURE_HEADER: &str = "x-tessera-signature";
pub const TIMESTAMP_HEADER: &str = "x-tessera-timestamp";
pub const DELIVERY_HEADER: &str = "x-tessera-delivery";

/// A time in a delivery's body: RFC 3339, UTC, to the second.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The JSON a reminder is delivered as.
pub fn body(
    reminder_id: &str,
    kind: SubjectKind,
    subject_name: &str,
    license_type: LicenseType,
    expires_at: i64,
    days_before: u32,
    made_at: i64,
) -> String {
    serde_json::json!({
        "event": "license.expiring",
        "reminder_id": reminder_id,
        "subject": kind.as_str(),
        "name": subject_name,
        "license_type": license_type.as_str(),
        "expires_at": rfc3339(expires_at),
        "days_before": days_before,
        "made_at": rfc3339(made_at),
    })
    .to_string()
}

/// The body of a `license.shortage` delivery: a tenant's agents were refused `refusals`
/// checkouts (`agents` of them) for want of a free license in the hour from `hour_start`.
pub fn shortage_body(
    reminder_id: &str,
    tenant_id: &str,
    tenant_name: &str,
    hour_start: i64,
    refusals: i64,
    agents: i64,
    made_at: i64,
) -> String {
    serde_json::json!({
        "event": "license.shortage",
        "reminder_id": reminder_id,
        "tenant_id": tenant_id,
        "tenant": tenant_name,
        "hour_start": rfc3339(hour_start),
        "refusals": refusals,
        "agents_refused": agents,
        "made_at": rfc3339(made_at),
    })
    .to_string()
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!(
        "sha256={}",
        hmac_sha256_hex(secret.as_bytes(), format!("{timestamp}.{body}").as_bytes())
    )
}

fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(data);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Milliseconds to wait after `attempts` failed attempts: 1 s, 2 s, 4 s, ... up to an hour.
pub fn backoff_ms(attempts: i32) -> i64 {
    let exp = attempts.clamp(1, 30) - 1;
    (1_000i64 << exp).min(3_600_000)
}

/// Posts the deliveries that are due; answers how many were delivered.
pub async fn deliver_due(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    config: &WebhookConfig,
    now: i64,
) -> Result<usize, AppError> {
    let due = delivery::Entity::find()
        .filter(delivery::Column::DeliveredAt.is_null())
        .filter(delivery::Column::GaveUp.eq(false))
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(delivery::Column::NextAttemptAt)
        .limit(50)
        .all(db)
        .await?;
    let mut delivered = 0;
    for d in due {
        // Claimed first: its next attempt moved past the post's time limit, only if no other
        // instance moved it since it was read. Of instances reading it at once, one posts it;
        // after a crash mid-post, it is posted again once the claim runs out (the receiver tells
        // a repeat by its `X-Tessera-Delivery`).
        let claimed = delivery::Entity::update_many()
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(now + CLAIM_MS))
            .filter(delivery::Column::Id.eq(d.id.clone()))
            .filter(delivery::Column::NextAttemptAt.eq(d.next_attempt_at))
            .filter(delivery::Column::DeliveredAt.is_null())
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let ts = now / 1000;
        let result = client
            .post(&config.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&config.secret, ts, &d.body))
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(DELIVERY_HEADER, &d.id)
            .body(d.body.clone())
            .timeout(POST_TIMEOUT)
            .send()
            .await;
        let failure = match result {
            Ok(res) if res.status().is_success() => None,
            Ok(res) => Some(format!("answered {}", res.status())),
            Err(e) => Some(format!("could not post: {}", kind_of(&e))),
        };
        let attempts = d.attempts + 1;
        let mut update = delivery::Entity::update_many()
            .col_expr(delivery::Column::Attempts, Expr::value(attempts))
            .filter(delivery::Column::Id.eq(d.id.clone()));
        match &failure {
            None => {
                update = update.col_expr(delivery::Column::DeliveredAt, Expr::value(now));
                tracing::info!(delivery = %d.id, attempts, "webhook delivered");
                metrics::counter!("tessera_webhook_deliveries_total", "result" => "delivered")
                    .increment(1);
                delivered += 1;
            }
            Some(why) => {
                let gave_up = attempts >= MAX_ATTEMPTS;
                update = update
                    .col_expr(delivery::Column::LastError, Expr::value(why.clone()))
                    .col_expr(
                        delivery::Column::NextAttemptAt,
                        Expr::value(now + backoff_ms(attempts)),
                    )
                    .col_expr(delivery::Column::GaveUp, Expr::value(gave_up));
                let result = if gave_up { "given_up" } else { "failed" };
                metrics::counter!("tessera_webhook_deliveries_total", "result" => result)
                    .increment(1);
                if gave_up {
                    tracing::error!(delivery = %d.id, attempts, error = %why, "webhook given up");
                } else {
                    tracing::warn!(delivery = %d.id, attempts, error = %why, "webhook failed, will retry");
                }
            }
        }
        update.exec(db).await?;
    }
    Ok(delivered)
}

/// What went wrong, without the URL (which may hold credentials).
fn kind_of(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else if e.is_request() {
        "the request failed".into()
    } else {
        "the answer could not be read".into()
    }
}

/// The HTTP client deliveries are posted with.
pub fn client() -> Result<reqwest::Client, AppError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| internal(format_args!("webhook client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let sig = signature("Jefe", 7, "{}");
        assert_eq!(sig, format!("sha256={}", hmac_sha256_hex(b"Jefe", b"7.{}")));
        assert_ne!(sig, signature("Jefe", 8, "{}"));
        assert_ne!(sig, signature("Jefe", 7, "{ }"));
        assert_ne!(sig, signature("Jeff", 7, "{}"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(30), 3_600_000);
    }
}
