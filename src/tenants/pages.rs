//! Settings > Tenants: each tenant's platform license, agents and enrollment key at a glance;
//! create, rename and delete tenants; assign licenses to them. Every form is a plain form.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::{
    AssignLicense, CreateTenant, DeleteTenant, RenameTenant, RotateEnrollmentKey, SetBorrowing,
    SetLeaseTime, SetMaxAgents, SetReleaseAfter, list_tenants,
};
use super::model::{AssignableLicense, TenantRow};
use crate::error::AppError;
use crate::i18n::*;
use crate::licenses::format::{Binding, LicenseType};
use crate::ui::copy::CopyField;
use crate::ui::dates::format_date_ms;
use crate::ui::errors::ErrorMessage;
use crate::ui::names::{ExpiryText, LicenseTypeName};
use crate::ui::url::encode_component;

#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateTenant>,
    rename: ServerAction<RenameTenant>,
    delete: ServerAction<DeleteTenant>,
    rotate: ServerAction<RotateEnrollmentKey>,
    release: ServerAction<SetReleaseAfter>,
    max_agents: ServerAction<SetMaxAgents>,
    lease_time: ServerAction<SetLeaseTime>,
    borrowing: ServerAction<SetBorrowing>,
    assign: ServerAction<AssignLicense>,
}

impl Actions {
    fn latest_error(self) -> Option<AppError> {
        [
            self.create.value().get().and_then(Result::err),
            self.rename.value().get().and_then(Result::err),
            self.delete.value().get().and_then(Result::err),
            self.rotate.value().get().and_then(Result::err),
            self.release.value().get().and_then(Result::err),
            self.max_agents.value().get().and_then(Result::err),
            self.lease_time.value().get().and_then(Result::err),
            self.borrowing.value().get().and_then(Result::err),
            self.assign.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
    }

    fn version(self) -> usize {
        self.create.version().get()
            + self.rename.version().get()
            + self.delete.version().get()
            + self.rotate.version().get()
            + self.release.version().get()
            + self.max_agents.version().get()
            + self.lease_time.version().get()
            + self.borrowing.version().get()
            + self.assign.version().get()
    }
}

#[component]
pub fn TenantsPage() -> impl IntoView {
    let i18n = use_i18n();
    let actions = Actions {
        create: ServerAction::new(),
        rename: ServerAction::new(),
        delete: ServerAction::new(),
        rotate: ServerAction::new(),
        release: ServerAction::new(),
        max_agents: ServerAction::new(),
        lease_time: ServerAction::new(),
        borrowing: ServerAction::new(),
        assign: ServerAction::new(),
    };
    let listing = Resource::new(move || actions.version(), |_| list_tenants());
    let query = use_query_map();
    let done = move || query.read().get("done");
    view! {
        <div class="page wide">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " > "
                <span>{t!(i18n, nav.tenants)}</span>
            </nav>
            <h1>{t!(i18n, tenants.title)}</h1>
            {move || done().map(|what| view! { <DoneNotice what /> })}
            {move || actions.latest_error().map(|err| view! { <ErrorMessage err /> })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match listing.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(l) => {
                            let tenants = l.tenants.clone();
                            view! {
                                <div class="tenant-grid">
                                    {l
                                        .tenants
                                        .into_iter()
                                        .map(|t| view! { <TenantCard tenant=t actions /> })
                                        .collect_view()}
                                </div>
                                <AssignForm licenses=l.assignable tenants actions />
                                <CreateForm actions />
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn DoneNotice(what: String) -> impl IntoView {
    let i18n = use_i18n();
    let text = match what.as_str() {
        "created" => t!(i18n, tenants.done_created).into_any(),
        "renamed" => t!(i18n, tenants.done_renamed).into_any(),
        "deleted" => t!(i18n, tenants.done_deleted).into_any(),
        "rotated" => t!(i18n, tenants.done_rotated).into_any(),
        "saved" => t!(i18n, tenants.done_saved).into_any(),
        "assigned" => t!(i18n, tenants.done_assigned).into_any(),
        "scheduled" => t!(i18n, tenants.done_scheduled).into_any(),
        _ => return ().into_any(),
    };
    view! {
        <p class="notice" role="status">
            {text}
        </p>
    }
    .into_any()
}

/// A platform license waiting for its first valid day: "activates on DATE".
#[component]
fn ActivatesOn(from: i64) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span class="tag" data-testid="platform-activates-on">
            {move || {
                let date = format_date_ms(i18n.get_locale(), from);
                t_string!(i18n, tenants.platform_activates_on, date = date).to_string()
            }}
        </span>
    }
}

#[component]
fn TenantCard(tenant: TenantRow, actions: Actions) -> impl IntoView {
    let i18n = use_i18n();
    let TenantRow {
        id,
        name,
        is_default,
        platform,
        platform_activates_on,
        unlimited_agents,
        enrollment_key,
        release_after_minutes,
        max_agents,
        lease_seconds,
        max_borrow_hours,
        keep_unborrowed,
        agents,
        agents_with_license,
        users,
        pool_free,
        agent_glance,
    } = tenant;
    let more = agents as usize - agent_glance.len().min(agents as usize);
    let all_agents = format!("/settings/agents?tenant={}", encode_component(&id));
    let key_id = format!("key-{id}");
    let release_id = format!("release-{id}");
    let max_agents_id = format!("max-agents-{id}");
    let lease_id = format!("lease-{id}");
    let lease_help_id = format!("lease-help-{id}");
    let lease_described_by = lease_help_id.clone();
    let borrow_id = format!("borrow-{id}");
    let keep_id = format!("keep-{id}");
    let borrow_help_id = format!("borrow-help-{id}");
    let (borrow_described_by, keep_described_by) = (borrow_help_id.clone(), borrow_help_id.clone());
    let (id5, id6, id7) = (id.clone(), id.clone(), id.clone());
    let rename_id = format!("rename-{id}");
    let heading_id = format!("tenant-{id}");
    let labelled_by = heading_id.clone();
    let (id1, id2, id3, id4) = (id.clone(), id.clone(), id.clone(), id.clone());
    let unlimited_valid = unlimited_agents.is_some();
    let can_delete = !is_default && agents == 0 && users == 0;
    let (data_name, heading) = (name.clone(), name.clone());
    view! {
        <section class="card tenant-card" data-tenant=data_name aria-labelledby=labelled_by>
            <header class="tenant-head">
                <h2 id=heading_id>{heading}</h2>
                {is_default.then(|| view! { <span class="tag">{t!(i18n, tenants.default)}</span> })}
            </header>
            <dl class="facts compact">
                <dt>{t!(i18n, tenants.platform)}</dt>
                <dd data-testid="platform-until">
                    {match (platform, platform_activates_on) {
                        (None, Some(from)) => view! { <ActivatesOn from /> }.into_any(),
                        (None, None) => view! { <span class="tag tag-off">{t!(i18n, tenants.no_platform)}</span> }.into_any(),
                        (Some(_), _) => view! { <ExpiryText expiry=platform /> }.into_any(),
                    }}
                    {unlimited_valid
                        .then(|| {
                            view! {
                                " "
                                <span class="tag tag-on">{t!(i18n, tenants.unlimited_agents)}</span>
                            }
                        })}
                </dd>
                <dt>{t!(i18n, tenants.agents)}</dt>
                <dd>
                    {t!(i18n, tenants.agents_count, count = move || agents as i32)}
                    <span class="muted">
                        " · "
                        {t!(i18n, tenants.agents_licensed, count = move || agents_with_license as i32)}
                        " · "
                        {t!(i18n, tenants.pool_free, count = move || pool_free as i32)}
                    </span>
                    <ul class="glance">
                        {agent_glance
                            .into_iter()
                            .map(|a| {
                                let href = format!("/settings/agents/{}", a.id);
                                let tag = match (a.running, a.has_license) {
                                    (false, _) => view! { <span class="tag tag-off">{t!(i18n, agents.shut_down)}</span> }.into_any(),
                                    (true, true) => view! { <span class="tag tag-on">{t!(i18n, tenants.licensed)}</span> }.into_any(),
                                    (true, false) => view! { <span class="tag tag-off">{t!(i18n, agents.no_license)}</span> }.into_any(),
                                };
                                view! {
                                    <li>
                                        <a href=href>{a.machine_id}</a>
                                        " "
                                        {tag}
                                    </li>
                                }
                            })
                            .collect_view()}
                        {(more > 0)
                            .then(|| {
                                view! {
                                    <li>
                                        <a href=all_agents.clone()>
                                            {t!(i18n, tenants.more_agents, count = move || more as i32)}
                                        </a>
                                    </li>
                                }
                            })}
                    </ul>
                </dd>
                <dt>{t!(i18n, tenants.users)}</dt>
                <dd>{users}</dd>
                <dt>
                    <label for=key_id.clone()>{t!(i18n, tenants.enrollment_key)}</label>
                </dt>
                <dd class="key-row">
                    <CopyField
                        value=enrollment_key
                        id=key_id
                        label=t_string!(i18n, tenants.copy).to_string()
                        copied=t_string!(i18n, tenants.copied).to_string()
                    />
                    <ActionForm action=actions.rotate attr:class="inline">
                        <input type="hidden" name="tenant_id" value=id1 />
                        <button type="submit" class="button-quiet">{t!(i18n, tenants.rotate)}</button>
                    </ActionForm>
                </dd>
                <dd class="muted small">{t!(i18n, tenants.key_help)}</dd>
                <dt>
                    <label for=max_agents_id.clone()>{t!(i18n, tenants.max_agents)}</label>
                </dt>
                <dd>
                    <ActionForm action=actions.max_agents attr:class="inline">
                        <input type="hidden" name="tenant_id" value=id5 />
                        <NumberField
                            id=max_agents_id
                            name="max"
                            max=1_000_000
                            value=max_agents.map(|m| m.to_string()).unwrap_or_default()
                            placeholder=t_string!(i18n, tenants.max_agents_none).to_string()
                        >
                            {t!(i18n, tenants.agents_unit)}
                        </NumberField>
                        <button type="submit" class="button-quiet">{t!(i18n, tenants.save)}</button>
                    </ActionForm>
                </dd>
                <dt>
                    <label for=lease_id.clone()>{t!(i18n, tenants.lease_time)}</label>
                </dt>
                <dd>
                    <ActionForm action=actions.lease_time attr:class="inline">
                        <input type="hidden" name="tenant_id" value=id6 />
                        <NumberField
                            id=lease_id
                            name="seconds"
                            min=2
                            max=86_400
                            value=lease_seconds.to_string()
                            described_by=lease_described_by
                        >
                            {t!(i18n, tenants.seconds_unit)}
                        </NumberField>
                        <button type="submit" class="button-quiet">{t!(i18n, tenants.save)}</button>
                    </ActionForm>
                </dd>
                <dd class="muted small" id=lease_help_id>{t!(i18n, tenants.lease_help)}</dd>
                <dt>
                    <label for=borrow_id.clone()>{t!(i18n, tenants.borrowing)}</label>
                </dt>
                <dd>
                    <ActionForm action=actions.borrowing attr:class="inline">
                        <input type="hidden" name="tenant_id" value=id7 />
                        <NumberField
                            id=borrow_id
                            name="max_hours"
                            max=crate::agents::model::BORROW_HOURS_MAX
                            value=max_borrow_hours.map(|h| h.to_string()).unwrap_or_default()
                            placeholder=t_string!(i18n, tenants.borrowing_off).to_string()
                            described_by=borrow_described_by
                        >
                            {t!(i18n, tenants.hours_at_most)}
                        </NumberField>
                        <label for=keep_id.clone()>{t!(i18n, tenants.keep_unborrowed)}</label>
                        <NumberField
                            id=keep_id
                            name="keep"
                            max=1_000_000
                            value=keep_unborrowed.to_string()
                            described_by=keep_described_by
                        >
                            {t!(i18n, tenants.licenses_unit)}
                        </NumberField>
                        <button type="submit" class="button-quiet">{t!(i18n, tenants.save)}</button>
                    </ActionForm>
                </dd>
                <dd class="muted small" id=borrow_help_id>{t!(i18n, tenants.borrow_help)}</dd>
                <dt>
                    <label for=release_id.clone()>{t!(i18n, tenants.release_after)}</label>
                </dt>
                <dd>
                    <ActionForm action=actions.release attr:class="inline">
                        <input type="hidden" name="tenant_id" value=id2 />
                        <NumberField
                            id=release_id
                            name="minutes"
                            max=10_080
                            value=release_after_minutes.map(|m| m.to_string()).unwrap_or_default()
                            placeholder=t_string!(i18n, tenants.release_never).to_string()
                        >
                            {t!(i18n, tenants.minutes)}
                        </NumberField>
                        <button type="submit" class="button-quiet">{t!(i18n, tenants.save)}</button>
                    </ActionForm>
                </dd>
            </dl>
            <div class="tenant-actions">
                <ActionForm action=actions.rename attr:class="inline">
                    <input type="hidden" name="tenant_id" value=id3 />
                    <label class="visually-hidden" for=rename_id.clone()>
                        {t!(i18n, tenants.new_name)}
                    </label>
                    <input id=rename_id name="name" type="text" value=name required maxlength="64" />
                    <button type="submit" class="button-quiet">{t!(i18n, tenants.rename)}</button>
                </ActionForm>
                {can_delete
                    .then(|| {
                        view! {
                            <ActionForm action=actions.delete attr:class="inline">
                                <input type="hidden" name="tenant_id" value=id4 />
                                <button type="submit" class="button-danger">{t!(i18n, tenants.delete)}</button>
                            </ActionForm>
                        }
                    })}
            </div>
        </section>
    }
}

/// One number of a tenant's setting, with its unit after it; the form around it saves it.
#[component]
fn NumberField(
    id: String,
    name: &'static str,
    #[prop(optional)] min: u32,
    max: u32,
    value: String,
    #[prop(optional, into)] placeholder: Option<String>,
    #[prop(optional, into)] described_by: Option<String>,
    children: Children,
) -> impl IntoView {
    view! {
        <input
            id=id
            name=name
            type="number"
            min=min.to_string()
            max=max.to_string()
            class="short"
            placeholder=placeholder
            aria-describedby=described_by
            value=value
        />
        <span class="muted">{children()}</span>
    }
}

#[component]
fn AssignableName(license: AssignableLicense) -> impl IntoView {
    let i18n = use_i18n();
    let days = license.validity_days;
    view! {
        {license.product_name}
        " · "
        <LicenseTypeName license_type=license.license_type />
        {match license.binding {
            Some(Binding::Fixed) => view! { " · " {t!(i18n, bindings.fixed)} }.into_any(),
            Some(Binding::Floating) => view! { " · " {t!(i18n, bindings.floating)} }.into_any(),
            None => ().into_any(),
        }}
        " · "
        {match days {
            Some(d) => t!(i18n, tenants.days, count = move || d as i32).into_any(),
            None => t!(i18n, licenses.permanent).into_any(),
        }}
        {license.assigned_tenant.map(|t| view! { " · " {t} })}
    }
}

#[component]
fn LicenseOptions(licenses: Vec<AssignableLicense>) -> impl IntoView {
    licenses
        .into_iter()
        .map(|l| {
            let id = l.id.clone();
            view! { <option value=id><AssignableName license=l /></option> }
        })
        .collect_view()
}

#[component]
fn AssignForm(
    licenses: Vec<AssignableLicense>,
    tenants: Vec<TenantRow>,
    actions: Actions,
) -> impl IntoView {
    let i18n = use_i18n();
    if licenses.is_empty() {
        return view! {
            <section class="card wide-card">
                <h2>{t!(i18n, tenants.assign_title)}</h2>
                <p class="muted">{t!(i18n, tenants.nothing_to_assign)}</p>
            </section>
        }
        .into_any();
    }
    let (platform, agent): (Vec<_>, Vec<_>) = licenses
        .into_iter()
        .partition(|l| l.license_type != LicenseType::Agent);
    view! {
        <section class="card wide-card">
            <h2>{t!(i18n, tenants.assign_title)}</h2>
            <p class="muted">{t!(i18n, tenants.assign_help)}</p>
            <ActionForm action=actions.assign attr:class="form-grid">
                <label for="assign-license">{t!(i18n, fields.license)}</label>
                <select id="assign-license" name="license_id" required>
                    <optgroup label=move || t_string!(i18n, tenants.platform_licenses).to_string()>
                        <LicenseOptions licenses=platform />
                    </optgroup>
                    <optgroup label=move || t_string!(i18n, tenants.agent_licenses).to_string()>
                        <LicenseOptions licenses=agent />
                    </optgroup>
                </select>
                <label for="assign-tenant">{t!(i18n, fields.tenant)}</label>
                <select id="assign-tenant" name="tenant_id">
                    {tenants
                        .into_iter()
                        .map(|t| view! { <option value=t.id selected=t.is_default>{t.name}</option> })
                        .collect_view()}
                    <option value="">{t!(i18n, tenants.shared_pool)}</option>
                </select>
                <div class="form-actions">
                    <button type="submit" class="button-primary">{t!(i18n, tenants.assign)}</button>
                </div>
            </ActionForm>
        </section>
    }
    .into_any()
}

#[component]
fn CreateForm(actions: Actions) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card">
            <h2>{t!(i18n, tenants.create_title)}</h2>
            <ActionForm action=actions.create attr:class="form-grid">
                <label for="new-tenant-name">{t!(i18n, fields.tenant_name)}</label>
                <input id="new-tenant-name" name="name" type="text" maxlength="64" required />
                <div class="form-actions">
                    <button type="submit" class="button-primary">{t!(i18n, tenants.create)}</button>
                </div>
            </ActionForm>
        </section>
    }
}
