//! Settings > Agents: every agent with its license and state; an agent's own page with the date
//! until which it is licensed, binding a fixed license, shutting it down and deleting it.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::console::{
    BindAgentLicense, DeleteAgent, ResetAgentRegistration, ShutDownAgent, get_agent, list_agents,
};
use super::model::{AGENTS_PAGE, AgentRow, AgentState, Basis, FixedLicense, HeldLicense};
use crate::i18n::*;
use crate::licenses::format::Binding;
use crate::ui::dates::format_time_ms;
use crate::ui::errors::ErrorMessage;
use crate::ui::names::{ExpiryText, StatusBadge};
use crate::ui::pager::Pager;
use crate::ui::url::encode_component;

#[component]
fn Breadcrumbs(#[prop(optional)] here: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <nav class="breadcrumbs" aria-label="breadcrumbs">
            <span>{t!(i18n, nav.settings)}</span>
            " > "
            <a href="/settings/agents">{t!(i18n, nav.agents)}</a>
            {here.map(|h| view! { " > " <span>{h}</span> })}
        </nav>
    }
}

#[component]
fn StateTag(state: AgentState) -> impl IntoView {
    let i18n = use_i18n();
    match state {
        AgentState::Running => {
            view! { <span class="tag tag-on">{t!(i18n, agents.running)}</span> }.into_any()
        }
        AgentState::ShutDown => {
            view! { <span class="tag tag-off">{t!(i18n, agents.shut_down)}</span> }.into_any()
        }
    }
}

#[component]
fn BindingName(binding: Binding) -> impl IntoView {
    let i18n = use_i18n();
    match binding {
        Binding::Fixed => t!(i18n, bindings.fixed).into_any(),
        Binding::Floating => t!(i18n, bindings.floating).into_any(),
    }
}

#[component]
fn LicenseCell(license: Option<HeldLicense>, basis: Option<Basis>) -> impl IntoView {
    let i18n = use_i18n();
    match (license, basis) {
        (_, Some(Basis::UnlimitedAgents)) => {
            view! { <span class="tag tag-on">{t!(i18n, tenants.unlimited_agents)}</span> }
                .into_any()
        }
        (Some(l), _) => view! {
            {l.product_name}
            <div class="sub">
                <BindingName binding=l.binding />
                " "
                <StatusBadge status=l.status />
            </div>
        }
        .into_any(),
        (None, _) => view! { <span class="muted">{t!(i18n, agents.no_license)}</span> }.into_any(),
    }
}

#[component]
fn LastSeen(ms: i64) -> impl IntoView {
    let i18n = use_i18n();
    move || format_time_ms(i18n.get_locale(), ms)
}

#[component]
pub fn AgentsPage() -> impl IntoView {
    let i18n = use_i18n();
    let shut_down = ServerAction::<ShutDownAgent>::new();
    let query = use_query_map();
    let tenant = move || query.read().get("tenant").filter(|t| !t.is_empty());
    let page_no = move || query.read().get("page").and_then(|p| p.parse::<u64>().ok());
    let listing = Resource::new(
        move || (tenant(), page_no(), shut_down.version().get()),
        |(tenant, page, _)| list_agents(tenant, page),
    );
    let deleted = move || query.read().get("done").is_some_and(|d| d == "deleted");
    view! {
        <div class="page wide">
            <Breadcrumbs />
            <h1>{t!(i18n, agents.title)}</h1>
            <Show when=deleted>
                <p class="notice" role="status">{t!(i18n, agents.done_deleted)}</p>
            </Show>
            {move || {
                shut_down.value().get().and_then(Result::err).map(|err| view! { <ErrorMessage err /> })
            }}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match listing.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(l) => {
                            let (held, total) = (l.floating_held, l.floating_total);
                            let fixed_free = l.fixed_free;
                            let pages = l.total.div_ceil(AGENTS_PAGE);
                            let (current, count) = (l.page, l.total);
                            let filter = l.tenant.clone().map(|t| t.id);
                            view! {
                                <p class="muted" data-testid="floating-usage">
                                    {t!(
                                        i18n, agents.floating_usage, held = move || held, count = move
                                        || total as i32
                                    )}
                                    " · "
                                    {t!(i18n, agents.fixed_free, count = move || fixed_free as i32)}
                                </p>
                                {l
                                    .tenant
                                    .map(|t| {
                                        view! {
                                            <p class="filters">
                                                {t!(i18n, agents.of_tenant, name = move || t.name.clone())}
                                                " · "
                                                <a href="/settings/agents">{t!(i18n, agents.all_tenants)}</a>
                                            </p>
                                        }
                                    })}
                                {if l.agents.is_empty() {
                                    view! { <p class="empty">{t!(i18n, agents.none)}</p> }.into_any()
                                } else {
                                    view! { <AgentsTable agents=l.agents shut_down /> }.into_any()
                                }}
                                {(pages > 1)
                                    .then(|| {
                                        view! {
                                            <Pager
                                                current
                                                pages
                                                total=count
                                                href=move |n| match &filter {
                                                    Some(t) => {
                                                        format!(
                                                            "/settings/agents?tenant={}&page={n}",
                                                            encode_component(t),
                                                        )
                                                    }
                                                    None => format!("/settings/agents?page={n}"),
                                                }
                                            />
                                        }
                                    })}
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
fn AgentsTable(agents: Vec<AgentRow>, shut_down: ServerAction<ShutDownAgent>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <table class="grid">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, agents.machine)}</th>
                    <th scope="col">{t!(i18n, fields.tenant)}</th>
                    <th scope="col">{t!(i18n, agents.state)}</th>
                    <th scope="col">{t!(i18n, fields.license)}</th>
                    <th scope="col">{t!(i18n, agents.licensed_until)}</th>
                    <th scope="col">{t!(i18n, agents.last_seen)}</th>
                    <th scope="col">{t!(i18n, agents.refused)}</th>
                    <th scope="col"></th>
                </tr>
            </thead>
            <tbody>
                {agents
                    .into_iter()
                    .map(|a| {
                        let href = format!("/settings/agents/{}", a.id);
                        let id = a.id.clone();
                        let running = a.state == AgentState::Running;
                        let machine = a.machine_id.clone();
                        view! {
                            <tr data-agent=machine>
                                <td>
                                    <a href=href>{a.machine_id}</a>
                                </td>
                                <td>{a.tenant_name}</td>
                                <td>
                                    <StateTag state=a.state />
                                </td>
                                <td>
                                    <LicenseCell license=a.license basis=a.basis />
                                </td>
                                <td>
                                    <ExpiryText expiry=a.licensed_until />
                                </td>
                                <td>
                                    <LastSeen ms=a.last_seen_at />
                                </td>
                                <td>{a.refused_count}</td>
                                <td>
                                    {running
                                        .then(|| {
                                            view! {
                                                <ActionForm action=shut_down attr:class="inline">
                                                    <input type="hidden" name="agent_id" value=id />
                                                    <button type="submit" class="button-quiet">
                                                        {t!(i18n, agents.shut_down_action)}
                                                    </button>
                                                </ActionForm>
                                            }
                                        })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn AgentPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let bind = ServerAction::<BindAgentLicense>::new();
    let shut_down = ServerAction::<ShutDownAgent>::new();
    let delete = ServerAction::<DeleteAgent>::new();
    let reset = ServerAction::<ResetAgentRegistration>::new();
    let detail = Resource::new(
        move || {
            (
                id(),
                bind.version().get(),
                shut_down.version().get(),
                reset.version().get(),
            )
        },
        |(id, _, _, _)| get_agent(id),
    );
    let query = use_query_map();
    let bound = move || query.read().get("done").is_some_and(|d| d == "bound");
    let was_reset = move || query.read().get("done").is_some_and(|d| d == "reset");
    let error = move || {
        [
            bind.value().get().and_then(Result::err),
            shut_down.value().get().and_then(Result::err),
            delete.value().get().and_then(Result::err),
            reset.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
    };
    view! {
        <div class="page">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match detail.await {
                        Err(err) => view! { <Breadcrumbs /> <ErrorMessage err /> }.into_any(),
                        Ok(d) => {
                            let a = d.agent;
                            let agent_id = a.id.clone();
                            let running = a.state == AgentState::Running;
                            view! {
                                <Breadcrumbs here=a.machine_id.clone() />
                                <h1>{a.machine_id.clone()}</h1>
                                <Show when=bound>
                                    <p class="notice" role="status">{t!(i18n, agents.done_bound)}</p>
                                </Show>
                                <Show when=was_reset>
                                    <p class="notice" role="status">{t!(i18n, agents.done_reset)}</p>
                                </Show>
                                {move || error().map(|err| view! { <ErrorMessage err /> })}
                                <dl class="facts">
                                    <dt>{t!(i18n, fields.tenant)}</dt>
                                    <dd>{a.tenant_name}</dd>
                                    <dt>{t!(i18n, agents.state)}</dt>
                                    <dd>
                                        <StateTag state=a.state />
                                    </dd>
                                    <dt>{t!(i18n, fields.license)}</dt>
                                    <dd>
                                        <LicenseCell license=a.license basis=a.basis />
                                    </dd>
                                    <dt>{t!(i18n, agents.licensed_until)}</dt>
                                    <dd data-testid="licensed-until">
                                        {match a.licensed_until {
                                            None => view! { <span class="tag tag-off">{t!(i18n, agents.not_licensed)}</span> }.into_any(),
                                            e => view! { <ExpiryText expiry=e /> }.into_any(),
                                        }}
                                    </dd>
                                    <dt>{t!(i18n, agents.last_seen)}</dt>
                                    <dd>
                                        <LastSeen ms=a.last_seen_at />
                                    </dd>
                                    <dt>{t!(i18n, agents.refused)}</dt>
                                    <dd>{a.refused_count}</dd>
                                </dl>
                                <BindForm agent_id=agent_id.clone() licenses=d.fixed_free bind />
                                {running
                                    .then(|| {
                                        let id = agent_id.clone();
                                        view! {
                                            <section class="card">
                                                <h2>{t!(i18n, agents.shut_down_title)}</h2>
                                                <p class="muted">{t!(i18n, agents.shut_down_help)}</p>
                                                <ActionForm action=shut_down attr:class="inline">
                                                    <input type="hidden" name="agent_id" value=id />
                                                    <button type="submit" class="button-quiet">
                                                        {t!(i18n, agents.shut_down_action)}
                                                    </button>
                                                </ActionForm>
                                            </section>
                                        }
                                    })}
                                {d
                                    .can_delete
                                    .then(|| {
                                        let id = agent_id.clone();
                                        view! {
                                            <section class="card">
                                                <h2>{t!(i18n, agents.reset_title)}</h2>
                                                <p class="muted">{t!(i18n, agents.reset_help)}</p>
                                                <ActionForm action=reset attr:class="inline">
                                                    <input type="hidden" name="agent_id" value=id />
                                                    <button type="submit" class="button-quiet">
                                                        {t!(i18n, agents.reset_action)}
                                                    </button>
                                                </ActionForm>
                                            </section>
                                        }
                                    })}
                                {d
                                    .can_delete
                                    .then(|| {
                                        let id = agent_id.clone();
                                        view! {
                                            <section class="card danger">
                                                <h2>{t!(i18n, agents.delete_title)}</h2>
                                                <p class="muted">{t!(i18n, agents.delete_help)}</p>
                                                <ActionForm action=delete attr:class="inline">
                                                    <input type="hidden" name="agent_id" value=id />
                                                    <button type="submit" class="button-danger">
                                                        {t!(i18n, agents.delete_action)}
                                                    </button>
                                                </ActionForm>
                                            </section>
                                        }
                                    })}
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
fn BindForm(
    agent_id: String,
    licenses: Vec<FixedLicense>,
    bind: ServerAction<BindAgentLicense>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card">
            <h2>{t!(i18n, agents.bind_title)}</h2>
            {if licenses.is_empty() {
                view! { <p class="muted">{t!(i18n, agents.no_fixed_free)}</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=bind attr:class="stack">
                        <input type="hidden" name="agent_id" value=agent_id />
                        <label for="bind-license">{t!(i18n, fields.license)}</label>
                        <select id="bind-license" name="license_id" required>
                            {licenses
                                .into_iter()
                                .map(|l| {
                                    let days = l.validity_days;
                                    view! {
                                        <option value=l.id>
                                            {l.product_name}
                                            " · "
                                            {match days {
                                                Some(d) => t!(i18n, tenants.days, count = move || d as i32).into_any(),
                                                None => t!(i18n, licenses.permanent).into_any(),
                                            }}
                                        </option>
                                    }
                                })
                                .collect_view()}
                        </select>
                        <label class="check">
                            <input type="checkbox" name="understood" value="yes" required />
                            " "
                            {t!(i18n, agents.bind_understood)}
                        </label>
                        <div>
                            <button type="submit" class="button-primary">{t!(i18n, agents.bind_action)}</button>
                        </div>
                    </ActionForm>
                }
                    .into_any()
            }}
        </section>
    }
}
