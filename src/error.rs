//! The one application error. Every server function and API handler returns it; each variant is
//! something a person can act on, and none carries SQL, a path or a panic message.
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A form field an [`AppError::Invalid`] points at.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    UserName,
    Password,
    Role,
    Tenant,
    User,
    Language,
    CompanyId,
    TargetVersion,
    Confirmation,
    File,
    MachineId,
    Request,
    TenantName,
    License,
    Agent,
    ReleaseAfter,
    MaxAgents,
    /// A tenant's lease time, in seconds.
    LeaseTime,
    /// How many hours to borrow a floating license for.
    BorrowHours,
    /// A tenant's longest borrow, in hours.
    MaxBorrowHours,
    /// How many of a tenant's pool licenses are never borrowed.
    KeepUnborrowed,
    Product,
    /// The kind of an audit log entry (a filter).
    AuditKind,
    /// The first day of a date range.
    DateFrom,
    /// The last day of a date range.
    DateTo,
    /// The page of a listing.
    Page,
    /// A listing's search text.
    Search,
    /// The password the signed-in user has now (to change it).
    CurrentPassword,
    TimeZone,
    /// The password that replaces it.
    NewPassword,
    /// The new password typed a second time.
    PasswordRepeat,
    /// The period a report covers.
    Period,
}

/// What is wrong with a field, in words the UI translates.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum Problem {
    Required,
    TooShort {
        min: u32,
    },
    TooLong {
        max: u32,
    },
    BadCharacters,
    Taken,
    Unknown,
    /// It does not say what it must (the typed confirmation word).
    Mismatch,
    /// The request itself could not be read (a missing or mistyped argument).
    Malformed {
        detail: String,
    },
    /// A license of another type than the operation takes.
    WrongType,
    /// Outside the range the operation accepts.
    OutOfRange {
        min: u32,
        max: u32,
    },
    /// Not a date written as YYYY-MM-DD.
    NotADate,
    /// A path where a plain file name belongs (`/`, `\\`, `..` or a control character).
    NotAFileName,
    /// Not what is stored (the current password, when changing it).
    Incorrect,
    /// Typed twice, differently.
    NotRepeated,
    /// The last day of a range comes before its first.
    BeforeFrom,
}

/// Why a change was refused although the input was well formed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    OwnAccount,
    /// The license is bound to an agent already; a fixed binding never changes.
    AlreadyBound,
    /// The platform license is assigned to a tenant already.
    AlreadyAssigned,
    /// The license has expired or was revoked, so it can be neither assigned nor bound.
    LicenseUnusable,
    /// The default tenant cannot be deleted.
    DefaultTenant,
    /// The tenant still has agents or users.
    TenantInUse,
    /// The license is in another tenant's pool.
    OtherTenant,
    /// The user is disabled.
    UserDisabled,
    /// The user already holds a seat of this product.
    AlreadyHolds,
    /// The user holds no seat of this product.
    NotHeld,
    /// The machine has an agent already: registering again takes that agent's own token, or an
    /// administrator resetting its registration.
    MachineRegistered,
    /// The tenant has as many agents as it allows.
    AgentLimit,
    /// Administrators change their own password as every user does, giving the current one:
    /// resetting it on the users' page would let a borrowed session lock its owner out.
    OwnPassword,
    /// The agent's tenant does not allow borrowing (its maximum borrow is not set).
    BorrowingOff,
    /// One more borrowed license would leave fewer of the tenant's pool unborrowed than it keeps.
    KeptUnborrowed,
    /// The agent is licensed by a fixed license or its tenant's unlimited agents: it borrows no
    /// floating license.
    NotFloating,
}

/// Every error's JSON is an object whose `error` names it, with its details beside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "error")]
pub enum AppError {
    #[error("sign in first")]
    NotSignedIn,
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("too many attempts, try again in {minutes} minutes")]
    TooManyAttempts { minutes: u32 },
    /// Too many sign-ins are waiting for their password to be checked: none is queued further.
    #[error("too many sign-ins are being checked, try again in {seconds} seconds")]
    Busy { seconds: u32 },
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("refused: the request came from another site")]
    CrossSite,
    #[error("{field:?}: {problem:?}")]
    Invalid { field: Field, problem: Problem },
    #[error("conflict: {kind:?}")]
    Conflict { kind: ConflictKind },
    #[error("not found")]
    NotFound,
    /// An agent's enrollment key or bearer token is missing, unknown, rotated or revoked.
    #[error("unknown agent credentials")]
    BadAgentCredentials,
    #[error("no license is free")]
    NoLicenseFree,
    /// More users than free seats: nothing was given.
    #[error("only {free} seats are free")]
    NotEnoughSeats { free: u32 },
    /// The license cannot be activated before `from` (its `not_before`, Unix ms).
    #[error("the license cannot be activated before its first valid day")]
    NotYetValid { from: i64 },
    #[error("the license has expired")]
    LicenseExpired,
    #[error("the license was revoked")]
    LicenseRevoked,
    #[error("the agent was shut down")]
    AgentShutDown,
    /// The caller's tenant's platform license expired at `on` (Unix ms): only Settings >
    /// Licenses works until a new one is uploaded.
    #[error("the platform license expired: upload a new license")]
    PlatformExpired { on: i64 },
    /// A license package refused whole; its preview page (`upload`) names every reason.
    #[error("the package is refused: {refusal}")]
    PackageRefused {
        upload: String,
        #[cfg_attr(feature = "ssr", schema(value_type = Object))]
        refusal: crate::licenses::format::PackageRefusal,
    },
    #[error("the database is unavailable, try again shortly")]
    Unavailable,
    /// The database gave up this request's transaction for another's (PostgreSQL's deadlock or
    /// serialization failure, SQLSTATE 40P01 or 40001); nothing it did was kept. Checkout tries
    /// again itself; anything else answers it (503, `Retry-After: 1`).
    #[error("the database chose this request to give way to another, try again")]
    Contended,
    #[error("internal error (request {request_id})")]
    Internal { request_id: String },
    /// The client could not reach the server or read its answer.
    #[error("could not reach Tessera: {detail}")]
    Transport { detail: String },
}

impl AppError {
    pub fn invalid(field: Field, problem: Problem) -> Self {
        AppError::Invalid { field, problem }
    }

    pub fn conflict(kind: ConflictKind) -> Self {
        AppError::Conflict { kind }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::NotSignedIn | AppError::BadCredentials | AppError::BadAgentCredentials => 401,
            AppError::NoLicenseFree => 402,
            AppError::LicenseExpired | AppError::LicenseRevoked | AppError::AgentShutDown => 403,
            AppError::PlatformExpired { .. } => 403,
            AppError::AccountDisabled | AppError::Forbidden | AppError::CrossSite => 403,
            AppError::TooManyAttempts { .. } | AppError::Busy { .. } => 429,
            AppError::Invalid { .. } => 400,
            AppError::Conflict { .. }
            | AppError::NotEnoughSeats { .. }
            | AppError::NotYetValid { .. } => 409,
            AppError::NotFound => 404,
            AppError::PackageRefused { refusal, .. } => match refusal {
                crate::licenses::format::PackageRefusal::TooLarge { .. } => 413,
                _ => 422,
            },
            AppError::Unavailable | AppError::Contended => 503,
            AppError::Internal { .. } => 500,
            AppError::Transport { .. } => 502,
        }
    }
}

impl AppError {
    /// The `Retry-After` this error is answered with, in seconds, if it asks the client to wait.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::Unavailable => Some(5),
            AppError::Contended => Some(1),
            AppError::Busy { seconds } => Some(u64::from(*seconds)),
            AppError::TooManyAttempts { minutes } => Some(u64::from(*minutes) * 60),
            _ => None,
        }
    }
}

impl AppError {
    /// The error's name as its JSON says it (`{"error": "no_license_free"}`), without the
    /// details: a label for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotSignedIn => "not_signed_in",
            AppError::BadCredentials => "bad_credentials",
            AppError::AccountDisabled => "account_disabled",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::Busy { .. } => "busy",
            AppError::Forbidden => "forbidden",
            AppError::CrossSite => "cross_site",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict { .. } => "conflict",
            AppError::NotFound => "not_found",
            AppError::BadAgentCredentials => "bad_agent_credentials",
            AppError::NoLicenseFree => "no_license_free",
            AppError::NotEnoughSeats { .. } => "not_enough_seats",
            AppError::NotYetValid { .. } => "not_yet_valid",
            AppError::LicenseExpired => "license_expired",
            AppError::LicenseRevoked => "license_revoked",
            AppError::AgentShutDown => "agent_shut_down",
            AppError::PlatformExpired { .. } => "platform_expired",
            AppError::PackageRefused { .. } => "package_refused",
            AppError::Unavailable => "unavailable",
            AppError::Contended => "contended",
            AppError::Internal { .. } => "internal",
            AppError::Transport { .. } => "transport",
        }
    }
}

/// Logs an unexpected failure with the request's id (a fresh one outside a request) and returns
/// the error the caller sees, which holds only that id.
#[cfg(feature = "ssr")]
pub fn internal(detail: impl std::fmt::Display) -> AppError {
    use crate::server::request_id;
    let request_id = request_id::current().unwrap_or_else(request_id::fresh);
    tracing::error!(request_id = %request_id, "internal error: {detail}");
    AppError::Internal { request_id }
}

#[cfg(feature = "ssr")]
impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        if database_unavailable(&e) {
            tracing::warn!("database unavailable: {e}");
            AppError::Unavailable
        } else if gave_way(&e) {
            tracing::warn!("database: {e}");
            AppError::Contended
        } else {
            internal(format_args!("database: {e}"))
        }
    }
}

/// Whether the database could not be reached, as opposed to refusing a statement: no connection,
/// a connection lost mid-query, or a server shutting down or starting (SQLSTATE classes 08 and
/// 57). Such a request is answered 503 and may be retried.
#[cfg(feature = "ssr")]
pub fn database_unavailable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether PostgreSQL gave up the statement's transaction for another's: a deadlock it broke
/// (40P01) or a serialization failure (40001). The transaction is rolled back and may be run
/// again.
#[cfg(feature = "ssr")]
pub fn gave_way(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "40P01" || code == "40001"),
        _ => false,
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The arguments could not be read: the caller sent something malformed.
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::Deserialization(detail) => {
                AppError::invalid(Field::Request, Problem::Malformed { detail })
            }
            ServerFnErrorErr::MissingArg(detail) => {
                AppError::invalid(Field::Request, Problem::Malformed { detail })
            }
            ServerFnErrorErr::Request(detail) | ServerFnErrorErr::Response(detail) => {
                AppError::Transport { detail }
            }
            other => AppError::Transport {
                detail: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_4xx_and_only_internal_is_500() {
        let refusals = [
            AppError::NotSignedIn,
            AppError::BadCredentials,
            AppError::AccountDisabled,
            AppError::TooManyAttempts { minutes: 3 },
            AppError::Busy { seconds: 1 },
            AppError::Forbidden,
            AppError::CrossSite,
            AppError::invalid(Field::Password, Problem::TooShort { min: 8 }),
            AppError::Conflict {
                kind: ConflictKind::OwnAccount,
            },
            AppError::NotFound,
        ];
        for e in refusals {
            assert!((400..500).contains(&e.status()), "{e:?}");
        }
        assert_eq!(
            AppError::Internal {
                request_id: "x".into()
            }
            .status(),
            500
        );
    }

    #[test]
    fn malformed_arguments_become_a_400_naming_the_problem() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args(
            "missing field `password`".into(),
        ));
        assert_eq!(e.status(), 400);
        assert!(
            matches!(e, AppError::Invalid { field: Field::Request, problem: Problem::Malformed { ref detail } } if detail.contains("password"))
        );
    }

    #[test]
    fn an_errors_code_is_the_name_its_json_gives() {
        let all = [
            AppError::NotSignedIn,
            AppError::TooManyAttempts { minutes: 3 },
            AppError::invalid(Field::Password, Problem::TooShort { min: 8 }),
            AppError::NoLicenseFree,
            AppError::NotYetValid { from: 1 },
            AppError::AgentShutDown,
            AppError::PlatformExpired { on: 1 },
            AppError::Unavailable,
            AppError::Contended,
            AppError::Internal {
                request_id: "x".into(),
            },
        ];
        for e in all {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["error"], e.code(), "{e:?}");
        }
    }

    #[test]
    fn errors_round_trip_through_json() {
        let e = AppError::TooManyAttempts { minutes: 7 };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), e);
    }
}
