//! An application error, said in the reader's language, where the action happened.
use leptos::prelude::*;

use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::i18n::*;

#[component]
pub fn ErrorMessage(err: AppError) -> impl IntoView {
    view! {
        <p class="error" role="alert">
            <ErrorText err />
        </p>
    }
}

#[component]
pub fn ErrorText(err: AppError) -> impl IntoView {
    let i18n = use_i18n();
    match err {
        AppError::NotSignedIn => t!(i18n, errors.not_signed_in).into_any(),
        AppError::BadCredentials => t!(i18n, errors.bad_credentials).into_any(),
        AppError::AccountDisabled => t!(i18n, errors.account_disabled).into_any(),
        AppError::TooManyAttempts { minutes } => t!(
            i18n,
            errors.too_many_attempts,
            count = move || minutes as i32
        )
        .into_any(),
        AppError::Busy { .. } => t!(i18n, errors.busy).into_any(),
        AppError::Forbidden => t!(i18n, errors.forbidden).into_any(),
        AppError::CrossSite => t!(i18n, errors.cross_site).into_any(),
        AppError::Invalid { field, problem } => view! {
            <FieldName field />
            ": "
            <ProblemText problem />
        }
        .into_any(),
        AppError::Conflict { kind } => match kind {
            ConflictKind::OwnAccount => t!(i18n, errors.own_account).into_any(),
            ConflictKind::AlreadyBound => t!(i18n, errors.already_bound).into_any(),
            ConflictKind::AlreadyAssigned => t!(i18n, errors.already_assigned).into_any(),
            ConflictKind::LicenseUnusable => t!(i18n, errors.license_unusable).into_any(),
            ConflictKind::DefaultTenant => t!(i18n, errors.default_tenant).into_any(),
            ConflictKind::TenantInUse => t!(i18n, errors.tenant_in_use).into_any(),
            ConflictKind::OtherTenant => t!(i18n, errors.other_tenant).into_any(),
            ConflictKind::UserDisabled => t!(i18n, errors.user_disabled).into_any(),
            ConflictKind::AlreadyHolds => t!(i18n, errors.already_holds).into_any(),
            ConflictKind::NotHeld => t!(i18n, errors.not_held).into_any(),
            ConflictKind::MachineRegistered => t!(i18n, errors.machine_registered).into_any(),
            ConflictKind::AgentLimit => t!(i18n, errors.agent_limit).into_any(),
            ConflictKind::OwnPassword => t!(i18n, errors.own_password).into_any(),
            ConflictKind::BorrowingOff => t!(i18n, errors.borrowing_off).into_any(),
            ConflictKind::KeptUnborrowed => t!(i18n, errors.kept_unborrowed).into_any(),
            ConflictKind::NotFloating => t!(i18n, errors.not_floating).into_any(),
        },
        AppError::NotFound => t!(i18n, errors.not_found).into_any(),
        AppError::BadAgentCredentials => t!(i18n, errors.bad_agent_credentials).into_any(),
        AppError::NoLicenseFree => t!(i18n, errors.no_license_free).into_any(),
        AppError::NotEnoughSeats { free } => {
            t!(i18n, errors.not_enough_seats, count = move || free as i32).into_any()
        }
        AppError::NotYetValid { from } => t!(
            i18n,
            errors.not_yet_valid,
            date = move || crate::ui::dates::format_date_ms(i18n.get_locale(), from)
        )
        .into_any(),
        AppError::LicenseExpired => t!(i18n, errors.license_expired).into_any(),
        AppError::LicenseRevoked => t!(i18n, errors.license_revoked).into_any(),
        AppError::AgentShutDown => t!(i18n, errors.agent_shut_down).into_any(),
        AppError::PlatformExpired { on } => t!(
            i18n,
            errors.platform_expired,
            date = move || crate::ui::dates::format_date_ms(i18n.get_locale(), on)
        )
        .into_any(),
        AppError::PackageRefused { .. } => t!(i18n, errors.package_refused).into_any(),
        AppError::Unavailable => t!(i18n, errors.unavailable).into_any(),
        AppError::Contended => t!(i18n, errors.contended).into_any(),
        AppError::Internal { request_id } => {
            t!(i18n, errors.internal, id = move || request_id.clone()).into_any()
        }
        AppError::Transport { detail } => {
            t!(i18n, errors.transport, detail = move || detail.clone()).into_any()
        }
    }
}

#[component]
fn FieldName(field: Field) -> impl IntoView {
    let i18n = use_i18n();
    match field {
        Field::UserName => t!(i18n, fields.user_name).into_any(),
        Field::Password => t!(i18n, fields.password).into_any(),
        Field::Role => t!(i18n, fields.role).into_any(),
        Field::Tenant => t!(i18n, fields.tenant).into_any(),
        Field::User => t!(i18n, fields.user).into_any(),
        Field::Language => t!(i18n, fields.language).into_any(),
        Field::CompanyId => t!(i18n, fields.company_id).into_any(),
        Field::TargetVersion => t!(i18n, fields.target_version).into_any(),
        Field::Confirmation => t!(i18n, fields.confirmation).into_any(),
        Field::File => t!(i18n, fields.file).into_any(),
        Field::MachineId => t!(i18n, fields.machine_id).into_any(),
        Field::Request => t!(i18n, fields.request).into_any(),
        Field::TenantName => t!(i18n, fields.tenant_name).into_any(),
        Field::License => t!(i18n, fields.license).into_any(),
        Field::Agent => t!(i18n, fields.agent).into_any(),
        Field::ReleaseAfter => t!(i18n, fields.release_after).into_any(),
        Field::MaxAgents => t!(i18n, fields.max_agents).into_any(),
        Field::LeaseTime => t!(i18n, fields.lease_time).into_any(),
        Field::BorrowHours => t!(i18n, fields.borrow_hours).into_any(),
        Field::MaxBorrowHours => t!(i18n, fields.max_borrow_hours).into_any(),
        Field::KeepUnborrowed => t!(i18n, fields.keep_unborrowed).into_any(),
        Field::Product => t!(i18n, fields.product).into_any(),
        Field::AuditKind => t!(i18n, fields.audit_kind).into_any(),
        Field::DateFrom => t!(i18n, fields.date_from).into_any(),
        Field::DateTo => t!(i18n, fields.date_to).into_any(),
        Field::Page => t!(i18n, fields.page).into_any(),
        Field::Search => t!(i18n, fields.search).into_any(),
        Field::CurrentPassword => t!(i18n, fields.current_password).into_any(),
        Field::TimeZone => t!(i18n, fields.time_zone).into_any(),
        Field::NewPassword => t!(i18n, fields.new_password).into_any(),
        Field::PasswordRepeat => t!(i18n, fields.password_repeat).into_any(),
        Field::Period => t!(i18n, fields.period).into_any(),
    }
}

#[component]
fn ProblemText(problem: Problem) -> impl IntoView {
    let i18n = use_i18n();
    match problem {
        Problem::Required => t!(i18n, problems.required).into_any(),
        Problem::TooShort { min } => {
            t!(i18n, problems.too_short, count = move || min as i32).into_any()
        }
        Problem::TooLong { max } => {
            t!(i18n, problems.too_long, count = move || max as i32).into_any()
        }
        Problem::BadCharacters => t!(i18n, problems.bad_characters).into_any(),
        Problem::Taken => t!(i18n, problems.taken).into_any(),
        Problem::Unknown => t!(i18n, problems.unknown).into_any(),
        Problem::Mismatch => t!(i18n, problems.mismatch).into_any(),
        Problem::WrongType => t!(i18n, problems.wrong_type).into_any(),
        Problem::NotADate => t!(i18n, problems.not_a_date).into_any(),
        Problem::NotAFileName => t!(i18n, problems.not_a_file_name).into_any(),
        Problem::Incorrect => t!(i18n, problems.incorrect).into_any(),
        Problem::NotRepeated => t!(i18n, problems.not_repeated).into_any(),
        Problem::BeforeFrom => t!(i18n, problems.before_from).into_any(),
        Problem::OutOfRange { min, max } => t!(
            i18n,
            problems.out_of_range,
            min = move || min,
            max = move || max
        )
        .into_any(),
        Problem::Malformed { detail } => {
            t!(i18n, problems.malformed, detail = move || detail.clone()).into_any()
        }
    }
}
