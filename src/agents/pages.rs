//! Settings > Agents: every agent with its license and state; an agent's own page with the date
//! until which it is licensed, binding a fixed license, shutting it down and deleting it.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::console::{
    BindAgentLicense, BorrowAgentLicense, DeleteAgent, ResetAgentRegistration, ShutDownAgent,
    get_agent, list_agents,
};
use super::model::{AGENTS_PAGE, AgentRow, AgentState, Basis, FixedLicense, HeldLicense};
use super::reference::{
    ApiReference, Auth, Operation, Property, SchemaDoc, Shape, agent_api_reference,
};
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
            <p class="muted">
                <a href="/settings/agent-api">{t!(i18n, agent_api.title)}</a>
                ": "
                {t!(i18n, agent_api.link_help)}
            </p>
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
    let borrow = ServerAction::<BorrowAgentLicense>::new();
    let detail = Resource::new(
        move || {
            (
                id(),
                bind.version().get(),
                shut_down.version().get(),
                reset.version().get() + borrow.version().get(),
            )
        },
        |(id, _, _, _)| get_agent(id),
    );
    let query = use_query_map();
    let bound = move || query.read().get("done").is_some_and(|d| d == "bound");
    let was_reset = move || query.read().get("done").is_some_and(|d| d == "reset");
    let borrowed = move || query.read().get("done").is_some_and(|d| d == "borrowed");
    let error = move || {
        [
            bind.value().get().and_then(Result::err),
            shut_down.value().get().and_then(Result::err),
            delete.value().get().and_then(Result::err),
            reset.value().get().and_then(Result::err),
            borrow.value().get().and_then(Result::err),
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
                                <Show when=borrowed>
                                    <p class="notice" role="status">{t!(i18n, agents.done_borrowed)}</p>
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
                                    {d
                                        .borrowed_until
                                        .map(|ms| {
                                            view! {
                                                <dt>{t!(i18n, agents.borrowed_until)}</dt>
                                                <dd data-testid="borrowed-until">
                                                    <LastSeen ms />
                                                </dd>
                                            }
                                        })}
                                    {d
                                        .license_held_until
                                        .map(|ms| {
                                            view! {
                                                <dt>{t!(i18n, agents.license_returns)}</dt>
                                                <dd data-testid="license-returns">
                                                    <LastSeen ms />
                                                    <div class="sub">{t!(i18n, agents.license_returns_help)}</div>
                                                </dd>
                                            }
                                        })}
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
                                        view! {
                                            <BorrowForm
                                                agent_id=agent_id.clone()
                                                max_hours=d.max_borrow_hours
                                                borrow
                                            />
                                        }
                                    })}
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

/// Borrowing the agent's floating license, where its tenant allows it; where it does not, how to
/// allow it.
#[component]
fn BorrowForm(
    agent_id: String,
    max_hours: Option<u32>,
    borrow: ServerAction<BorrowAgentLicense>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card">
            <h2>{t!(i18n, agents.borrow_title)}</h2>
            {match max_hours {
                None => view! { <p class="muted">{t!(i18n, agents.borrowing_off)}</p> }.into_any(),
                Some(max) => {
                    view! {
                        <p class="muted" id="borrow-help">{t!(i18n, agents.borrow_help)}</p>
                        <ActionForm action=borrow attr:class="inline">
                            <input type="hidden" name="agent_id" value=agent_id />
                            <label for="borrow-hours">{t!(i18n, fields.borrow_hours)}</label>
                            <input
                                id="borrow-hours"
                                name="hours"
                                type="number"
                                min="1"
                                max=max.to_string()
                                value=max.min(24).to_string()
                                class="short"
                                required
                                aria-describedby="borrow-help"
                            />
                            <span class="muted">
                                {t!(i18n, agents.borrow_max, count = move || max as i32)}
                            </span>
                            <button type="submit" class="button-quiet">{t!(i18n, agents.borrow_action)}</button>
                        </ActionForm>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// Settings > Agents > Agent API: the OpenAPI document for people, every route with what it
/// takes, needs and answers, and every schema with its constraints.
#[component]
pub fn AgentApiPage() -> impl IntoView {
    let i18n = use_i18n();
    let reference = Resource::new(|| (), |_| agent_api_reference());
    view! {
        <div class="page wide api-reference">
            <Breadcrumbs here=t_string!(i18n, agent_api.title).to_string() />
            <h1>{t!(i18n, agent_api.title)}</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match reference.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(r) => view! { <Reference r /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn Reference(r: ApiReference) -> impl IntoView {
    let i18n = use_i18n();
    let version = r.version.clone();
    view! {
        <p lang="en">{r.description}</p>
        <p class="muted">{t!(i18n, agent_api.english)}</p>
        <p class="muted">
            {t!(i18n, agent_api.document, version = move || version.clone())} " "
            <a href="/api/v1/openapi.json">
                <code>"/api/v1/openapi.json"</code>
            </a>
        </p>
        <nav aria-labelledby="api-routes">
            <h2 id="api-routes">{t!(i18n, agent_api.routes)}</h2>
            <ul>
                {r
                    .operations
                    .iter()
                    .map(|op| {
                        let href = format!("#{}", operation_anchor(op));
                        view! {
                            <li>
                                <a href=href>
                                    <code>{op.method.clone()} " " {op.path.clone()}</code>
                                </a>
                                " · "
                                <span lang="en">{op.summary.clone()}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </nav>
        {r.operations.into_iter().map(|op| view! { <OperationDoc op /> }).collect_view()}
        <h2>{t!(i18n, agent_api.schemas)}</h2>
        {r.schemas.into_iter().map(|s| view! { <SchemaSection s /> }).collect_view()}
    }
}

fn operation_anchor(op: &Operation) -> String {
    format!(
        "{}-{}",
        op.method.to_lowercase(),
        op.path.trim_start_matches('/').replace(['/', '.'], "-")
    )
}

#[component]
fn SchemaLink(name: String) -> impl IntoView {
    view! {
        <a href=format!("#schema-{name}")>
            <code>{name.clone()}</code>
        </a>
    }
}

#[component]
fn OperationDoc(op: Operation) -> impl IntoView {
    let i18n = use_i18n();
    let id = operation_anchor(&op);
    let auth = match op.auth {
        Auth::Bearer => t!(i18n, agent_api.auth_bearer).into_any(),
        Auth::Optional => t!(i18n, agent_api.auth_optional).into_any(),
        Auth::None => t!(i18n, agent_api.auth_none).into_any(),
    };
    view! {
        <section id=id class="card">
            <h3>
                <code>{op.method} " " {op.path}</code>
            </h3>
            <p lang="en">
                <strong>{op.summary}</strong>
            </p>
            {(!op.description.is_empty()).then(|| view! { <p lang="en">{op.description}</p> })}
            <dl class="facts">
                <dt>{t!(i18n, agent_api.auth)}</dt>
                <dd>{auth}</dd>
                <dt>{t!(i18n, agent_api.request_body)}</dt>
                <dd>
                    {match op.request {
                        Some(name) => view! { <SchemaLink name /> }.into_any(),
                        None => t!(i18n, agent_api.no_body).into_any(),
                    }}
                </dd>
            </dl>
            <table class="grid">
                <caption>{t!(i18n, agent_api.responses)}</caption>
                <thead>
                    <tr>
                        <th scope="col">{t!(i18n, agent_api.status)}</th>
                        <th scope="col">{t!(i18n, agent_api.meaning)}</th>
                        <th scope="col">{t!(i18n, agent_api.body)}</th>
                    </tr>
                </thead>
                <tbody>
                    {op
                        .responses
                        .into_iter()
                        .map(|a| {
                            view! {
                                <tr>
                                    <td>
                                        <code>{a.status}</code>
                                    </td>
                                    <td lang="en">{a.description}</td>
                                    <td>{a.schema.map(|name| view! { <SchemaLink name /> })}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn SchemaSection(s: SchemaDoc) -> impl IntoView {
    let i18n = use_i18n();
    let body = match s.shape {
        Shape::Object(properties) => view! { <Properties properties /> }.into_any(),
        Shape::Values(values) => view! {
            <p>
                {t!(i18n, agent_api.one_of_values)} " "
                {values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| view! { {(i > 0).then_some(", ")} <code>{v}</code> })
                    .collect_view()}
            </p>
        }
        .into_any(),
        Shape::Variants { tag, variants } => view! {
            <table class="grid">
                <thead>
                    <tr>
                        <th scope="col">
                            <code>{tag}</code>
                        </th>
                        <th scope="col">{t!(i18n, agent_api.with)}</th>
                        <th scope="col">{t!(i18n, agent_api.description)}</th>
                    </tr>
                </thead>
                <tbody>
                    {variants
                        .into_iter()
                        .map(|v| {
                            view! {
                                <tr>
                                    <td>
                                        <code>{v.name}</code>
                                    </td>
                                    <td>
                                        {v
                                            .properties
                                            .into_iter()
                                            .map(|p| view! { <div><PropertyName p /></div> })
                                            .collect_view()}
                                    </td>
                                    <td lang="en">{v.description}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any(),
    };
    let id = format!("schema-{}", s.name);
    view! {
        <section id=id class="card">
            <h3>
                <code>{s.name}</code>
            </h3>
            {(!s.description.is_empty()).then(|| view! { <p lang="en">{s.description}</p> })}
            {body}
        </section>
    }
}

/// A property's name and type, as one line: `machine_id: string`, `problem: Problem`.
#[component]
fn PropertyName(p: Property) -> impl IntoView {
    view! {
        <code>{p.name} ": "</code>
        {p.reference.map(|name| view! { <SchemaLink name /> })}
        <code>{p.types.join(" | ")}</code>
    }
}

#[component]
fn Properties(properties: Vec<Property>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <table class="grid">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, agent_api.property)}</th>
                    <th scope="col">{t!(i18n, agent_api.value_type)}</th>
                    <th scope="col">{t!(i18n, agent_api.required)}</th>
                    <th scope="col">{t!(i18n, agent_api.constraints)}</th>
                    <th scope="col">{t!(i18n, agent_api.description)}</th>
                </tr>
            </thead>
            <tbody>
                {properties
                    .into_iter()
                    .map(|p| {
                        let (min, max, pattern) = (p.min_length, p.max_length, p.pattern.clone());
                        view! {
                            <tr>
                                <td>
                                    <code>{p.name}</code>
                                </td>
                                <td>
                                    {p.reference.map(|name| view! { <SchemaLink name /> })}
                                    {(!p.types.is_empty()).then(|| view! { " " <code>{p.types.join(" | ")}</code> })}
                                </td>
                                <td>
                                    {if p.required {
                                        t!(i18n, agent_api.yes).into_any()
                                    } else {
                                        t!(i18n, agent_api.no).into_any()
                                    }}
                                </td>
                                <td>
                                    {min.map(|n| view! { <div>{t!(i18n, agent_api.min_length, count = move || n as i32)}</div> })}
                                    {max.map(|n| view! { <div>{t!(i18n, agent_api.max_length, count = move || n as i32)}</div> })}
                                    {pattern.map(|re| view! {
                                        <div>{t!(i18n, agent_api.pattern)} " " <code>{re}</code></div>
                                    })}
                                </td>
                                <td lang="en">{p.description}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
