//! Settings > Audit log: a GET filter form, the entries, paging links and the CSV download, all
//! plain forms and links (the view lives in the address). Read-only: nothing here changes an
//! entry.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::list_audit;
use super::model::{AuditFilter, AuditKind, AuditPage, AuditRow, Detail, DetailData, OUTCOME_OK};
use crate::auth::model::Role;
use crate::i18n::*;
use crate::licenses::format::PackageRefusal;
use crate::ui::dates::{DayField, format_date_ms, format_time_ms};
use crate::ui::errors::{ErrorMessage, ErrorText};
use crate::ui::pager::Pager;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let i18n = use_i18n();
    let query_map = use_query_map();
    let filter = Memo::new(move |_| {
        let map = query_map.read();
        AuditFilter::from_params(|k| map.get(k))
    });
    let page = Resource::new(move || filter.get(), list_audit);
    view! {
        <div class="page wide">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " > "
                <span>{t!(i18n, nav.audit)}</span>
            </nav>
            <h1>{t!(i18n, audit.title)}</h1>
            <p class="muted">{t!(i18n, audit.intro)}</p>
            <Filters filter />
            <p>
                <a
                    class="button-quiet"
                    href=move || format!("/settings/audit.csv?{}", filter.get().to_params(None))
                    download="tessera-audit.csv"
                >
                    {t!(i18n, audit.download_csv)}
                </a>
            </p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(p) => view! { <Entries page=p filter=filter.get_untracked() /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// The filter: a GET form, so it works without JavaScript.
#[component]
fn Filters(filter: Memo<AuditFilter>) -> impl IntoView {
    let i18n = use_i18n();
    let text = move |f: fn(&AuditFilter) -> &Option<String>| {
        move || f(&filter.get()).clone().unwrap_or_default()
    };
    view! {
        <form class="filters" method="get" action="/settings/audit" role="search">
            <label for="audit-kind">{t!(i18n, audit.kind)}</label>
            <select id="audit-kind" name="kind">
                <option
                    value=""
                    selected=move || filter.get().kind.as_deref().is_none_or(str::is_empty)
                >
                    {t!(i18n, audit.any)}
                </option>
                {AuditKind::ALL
                    .into_iter()
                    .map(|k| {
                        view! {
                            <option
                                value=k.as_str()
                                selected=move || filter.get().kind.as_deref() == Some(k.as_str())
                            >
                                <KindName kind=k />
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="audit-user">{t!(i18n, audit.user)}</label>
            <input
                id="audit-user"
                type="search"
                name="user"
                value=text(|f| &f.user)
                placeholder=move || t_string!(i18n, audit.user_hint).to_string()
            />
            <label for="audit-from">{t!(i18n, audit.from)}</label>
            <DayField id="audit-from" name="from" value=Signal::derive(move || filter.get().from) />
            <label for="audit-to">{t!(i18n, audit.to)}</label>
            <DayField id="audit-to" name="to" value=Signal::derive(move || filter.get().to) />
            <button type="submit" class="button-quiet">{t!(i18n, audit.filter)}</button>
        </form>
    }
}

#[component]
fn Entries(page: AuditPage, filter: AuditFilter) -> impl IntoView {
    let i18n = use_i18n();
    let pages = page.pages();
    let current = page.page;
    let total = page.total;
    if page.rows.is_empty() {
        return view! {
            <p class="muted" data-testid="no-entries">{t!(i18n, audit.no_entries)}</p>
        }
        .into_any();
    }
    view! {
        <table class="grid audit" data-testid="audit">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, audit.when)}</th>
                    <th scope="col">{t!(i18n, audit.who)}</th>
                    <th scope="col">{t!(i18n, audit.kind)}</th>
                    <th scope="col">{t!(i18n, audit.subject)}</th>
                    <th scope="col">{t!(i18n, audit.result)}</th>
                </tr>
            </thead>
            <tbody>
                {page.rows.into_iter().map(|row| view! { <EntryRow row /> }).collect_view()}
            </tbody>
        </table>
        <Pager
            current
            pages
            total
            href=move |p| format!("/settings/audit?{}", filter.to_params(Some(p)))
        />
    }
    .into_any()
}

#[component]
fn EntryRow(row: AuditRow) -> impl IntoView {
    let i18n = use_i18n();
    let AuditRow {
        at,
        actor_name,
        kind,
        subject,
        detail,
        data,
        outcome,
        ..
    } = row;
    let kind = match AuditKind::parse(&kind) {
        Some(k) => view! { <KindName kind=k /> }.into_any(),
        None => kind.into_any(),
    };
    let ok = outcome == OUTCOME_OK;
    let class = if ok { "outcome-ok" } else { "outcome-refused" };
    let outcome = if ok {
        t!(i18n, audit.ok).into_any()
    } else {
        outcome.into_any()
    };
    let detail = match data {
        Some(data) => Some(
            view! { <div class="sub" data-testid="detail"><DetailView data /></div> }.into_any(),
        ),
        // Before migration 21: the words as stored.
        None => (!detail.is_empty()).then(move || {
            view! { <div class="sub" data-testid="detail">{detail}</div> }.into_any()
        }),
    };
    view! {
        <tr>
            <td>{move || format_time_ms(i18n.get_locale(), at)}</td>
            <td>{actor_name}</td>
            <td>{kind}</td>
            <td>{subject} {detail}</td>
            <td class=class>{outcome}</td>
        </tr>
    }
}

#[component]
fn KindName(kind: AuditKind) -> impl IntoView {
    let i18n = use_i18n();
    match kind {
        AuditKind::LicenseRequest => t!(i18n, audit_kinds.license_request).into_any(),
        AuditKind::LicenseUpload => t!(i18n, audit_kinds.license_upload).into_any(),
        AuditKind::LicenseConfirm => t!(i18n, audit_kinds.license_confirm).into_any(),
        AuditKind::LicensesDeleteAll => t!(i18n, audit_kinds.licenses_delete_all).into_any(),
        AuditKind::LicenseActivate => t!(i18n, audit_kinds.license_activate).into_any(),
        AuditKind::TenantCreate => t!(i18n, audit_kinds.tenant_create).into_any(),
        AuditKind::TenantRename => t!(i18n, audit_kinds.tenant_rename).into_any(),
        AuditKind::TenantDelete => t!(i18n, audit_kinds.tenant_delete).into_any(),
        AuditKind::TenantAssign => t!(i18n, audit_kinds.tenant_assign).into_any(),
        AuditKind::TenantPool => t!(i18n, audit_kinds.tenant_pool).into_any(),
        AuditKind::TenantRotateKey => t!(i18n, audit_kinds.tenant_rotate_key).into_any(),
        AuditKind::TenantSetRelease => t!(i18n, audit_kinds.tenant_set_release).into_any(),
        AuditKind::TenantSetAgentLimit => t!(i18n, audit_kinds.tenant_set_agent_limit).into_any(),
        AuditKind::TenantSetLeaseTime => t!(i18n, audit_kinds.tenant_set_lease_time).into_any(),
        AuditKind::TenantSetBorrowing => t!(i18n, audit_kinds.tenant_set_borrowing).into_any(),
        AuditKind::AgentBorrow => t!(i18n, audit_kinds.agent_borrow).into_any(),
        AuditKind::AgentReturnBorrow => t!(i18n, audit_kinds.agent_return_borrow).into_any(),
        AuditKind::AgentRegister => t!(i18n, audit_kinds.agent_register).into_any(),
        AuditKind::AgentBind => t!(i18n, audit_kinds.agent_bind).into_any(),
        AuditKind::AgentShutDown => t!(i18n, audit_kinds.agent_shut_down).into_any(),
        AuditKind::AgentResetRegistration => {
            t!(i18n, audit_kinds.agent_reset_registration).into_any()
        }
        AuditKind::AgentDelete => t!(i18n, audit_kinds.agent_delete).into_any(),
        AuditKind::SeatsApply => t!(i18n, audit_kinds.seats_apply).into_any(),
        AuditKind::SeatsRecall => t!(i18n, audit_kinds.seats_recall).into_any(),
        AuditKind::SignIn => t!(i18n, audit_kinds.sign_in).into_any(),
        AuditKind::SignInFailed => t!(i18n, audit_kinds.sign_in_failed).into_any(),
        AuditKind::SignOut => t!(i18n, audit_kinds.sign_out).into_any(),
        AuditKind::UserCreate => t!(i18n, audit_kinds.user_create).into_any(),
        AuditKind::UserSetRole => t!(i18n, audit_kinds.user_set_role).into_any(),
        AuditKind::UserDisable => t!(i18n, audit_kinds.user_disable).into_any(),
        AuditKind::UserEnable => t!(i18n, audit_kinds.user_enable).into_any(),
        AuditKind::UserResetPassword => t!(i18n, audit_kinds.user_reset_password).into_any(),
        AuditKind::PasswordChange => t!(i18n, audit_kinds.password_change).into_any(),
    }
}

/// An entry's detail in the reader's language: what was done, and why it was refused.
#[component]
fn DetailView(data: DetailData) -> impl IntoView {
    let i18n = use_i18n();
    let DetailData { said, refused } = data;
    let both = said.is_some() && refused.is_some();
    view! {
        {said.map(|d| move || said_text(i18n.get_locale(), &d))}
        {both.then_some("; ")}
        {refused.map(|err| view! { <ErrorText err /> })}
    }
}

/// A role's name as stored, in `locale`; a name this build does not know, as stored.
fn role_text(locale: Locale, role: &str) -> String {
    match Role::parse(role) {
        Some(Role::Administrator) => td_string!(locale, roles.administrator).to_string(),
        Some(Role::LicenseManager) => td_string!(locale, roles.license_manager).to_string(),
        Some(Role::User) => td_string!(locale, roles.user).to_string(),
        None => role.to_string(),
    }
}

/// What a refused package was refused for, in short (its upload's page said it all).
fn refusal_text(locale: Locale, refusal: &PackageRefusal) -> String {
    match refusal {
        PackageRefusal::Empty => td_string!(locale, refusals.empty).to_string(),
        PackageRefusal::TooLarge { limit_bytes } => {
            let mib = format!("{:.1}", *limit_bytes as f64 / 1_048_576.0);
            td_string!(locale, refusals.too_large, limit = mib).to_string()
        }
        PackageRefusal::TooManyCertificates { limit } => {
            td_string!(locale, refusals.over_count, limit = *limit).to_string()
        }
        PackageRefusal::NotText => td_string!(locale, refusals.not_text).to_string(),
        PackageRefusal::NoCertificates => td_string!(locale, refusals.no_certificates).to_string(),
        PackageRefusal::NoTrustedKeys => td_string!(locale, licenses.upload_no_keys).to_string(),
        PackageRefusal::BadCertificates { blocks } => {
            let ids: Vec<String> = blocks
                .iter()
                .map(|b| b.id.clone().unwrap_or_else(|| format!("#{}", b.block)))
                .collect();
            format!(
                "{} {}",
                td_string!(locale, refusals.bad_certificates),
                ids.join(", ")
            )
        }
    }
}

fn said_text(locale: Locale, detail: &Detail) -> String {
    match detail {
        Detail::UserCreated { role, tenant } => td_string!(
            locale,
            audit_detail.user_created,
            role = role_text(locale, role),
            tenant = tenant
        )
        .to_string(),
        Detail::RoleChanged { from, to } => td_string!(
            locale,
            audit_detail.changed,
            from = role_text(locale, from),
            to = role_text(locale, to)
        )
        .to_string(),
        Detail::Renamed { from, to } => {
            td_string!(locale, audit_detail.changed, from = from, to = to).to_string()
        }
        Detail::AgentRegistered {
            tenant,
            again: false,
        } => td_string!(locale, audit_detail.registered, tenant = tenant).to_string(),
        Detail::AgentRegistered {
            tenant,
            again: true,
        } => td_string!(locale, audit_detail.registered_again, tenant = tenant).to_string(),
        Detail::SignInsRefused {
            total,
            from,
            to,
            failed,
            throttled,
            other,
        } => td_string!(
            locale,
            audit_detail.sign_ins_refused,
            total = *total,
            from = format_time_ms(locale, *from),
            to = format_time_ms(locale, *to),
            failed = *failed,
            throttled = *throttled,
            other = *other
        )
        .to_string(),
        Detail::PackageChecked { certificates, new } => td_string!(
            locale,
            audit_detail.package_checked,
            certificates = *certificates,
            new = *new
        )
        .to_string(),
        Detail::PackageRefused { refusal } => refusal_text(locale, refusal),
        Detail::Requested { target_version } => {
            td_string!(locale, audit_detail.requested, version = target_version).to_string()
        }
        Detail::License { id, product } => {
            td_string!(locale, audit_detail.license, id = id, product = product).to_string()
        }
        Detail::LicenseWaits { id, product, from } => td_string!(
            locale,
            audit_detail.license_waits,
            id = id,
            product = product,
            date = format_date_ms(locale, *from)
        )
        .to_string(),
        Detail::Installed { installed, already } => td_string!(
            locale,
            audit_detail.installed,
            installed = *installed,
            already = *already
        )
        .to_string(),
        Detail::Borrowed { license, hours } => td_string!(
            locale,
            audit_detail.borrowed,
            license = license,
            hours = *hours
        )
        .to_string(),
        Detail::ReleaseAfter { minutes: Some(m) } => {
            td_string!(locale, audit_detail.release_after, minutes = *m).to_string()
        }
        Detail::ReleaseAfter { minutes: None }
        | Detail::Borrowing {
            max_hours: None, ..
        } => td_string!(locale, audit_detail.off).to_string(),
        Detail::AgentLimit { max: Some(m) } => {
            td_string!(locale, audit_detail.agent_limit, max = *m).to_string()
        }
        Detail::AgentLimit { max: None } => td_string!(locale, audit_detail.no_limit).to_string(),
        Detail::LeaseTime { seconds } => {
            td_string!(locale, audit_detail.lease_time, seconds = *seconds).to_string()
        }
        Detail::Borrowing {
            max_hours: Some(h),
            kept,
        } => td_string!(locale, audit_detail.borrowing, hours = *h, kept = *kept).to_string(),
    }
}
