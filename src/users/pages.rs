//! Settings > Users: every form is a plain form, so the page works before hydration and without
//! JavaScript.
use leptos::prelude::*;

use leptos_router::hooks::use_query_map;

use super::api::{CreateUser, ResetUserPassword, SetUserDisabled, SetUserRole, list_users};
use super::model::{SeatProduct, USERS_PAGE, UserRow};
use crate::auth::model::Role;
use crate::error::AppError;
use crate::i18n::*;
use crate::seats::api::{ApplySeats, RecallSeats};
use crate::tenants::Tenant;
use crate::ui::errors::ErrorMessage;
use crate::ui::names::RoleName;
use crate::ui::pager::Pager;
use crate::ui::session::use_session;
use crate::ui::url::encode_component;

#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateUser>,
    set_role: ServerAction<SetUserRole>,
    set_disabled: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetUserPassword>,
    give: ServerAction<ApplySeats>,
    recall: ServerAction<RecallSeats>,
}

/// Settings > Users. Administrators manage users here; they and License managers also give and
/// recall seats here, user by user (the product page gives many at once).
#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let actions = Actions {
        create: ServerAction::new(),
        set_role: ServerAction::new(),
        set_disabled: ServerAction::new(),
        reset: ServerAction::new(),
        give: ServerAction::new(),
        recall: ServerAction::new(),
    };
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let page_no = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(1)
    };
    let page = Resource::new(
        move || {
            (
                q(),
                page_no(),
                actions.create.version().get(),
                actions.set_role.version().get(),
                actions.set_disabled.version().get(),
                actions.reset.version().get(),
                actions.give.version().get(),
                actions.recall.version().get(),
            )
        },
        |(q, page, ..)| list_users(Some(q), Some(page)),
    );
    view! {
        <div class="page wide">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " > "
                <span>{t!(i18n, nav.users)}</span>
            </nav>
            <h1>{t!(i18n, users.title)}</h1>
            <DoneNotice />
            <ActionErrors actions />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(p) => {
                            let tenants = p.tenants.clone();
                            let can_manage = p.can_manage_users;
                            let pages = p.total.div_ceil(USERS_PAGE).max(1);
                            let (current, total) = (p.page, p.total);
                            let search = q();
                            view! {
                                <LicenseActions can_request=p.can_request can_upload=p.can_upload />
                                <SearchForm q=search.clone() total />
                                <UsersTable
                                    users=p.users
                                    products=p.products
                                    can_manage
                                    actions
                                />
                                <Pager
                                    current
                                    pages
                                    total
                                    href=move |n| {
                                        format!(
                                            "/settings/users?q={}&page={n}",
                                            encode_component(&search),
                                        )
                                    }
                                />
                                {can_manage.then(|| view! { <CreateUserForm tenants actions /> })}
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </div>
    }
}

/// What the last seat change did, as the address says after a form post.
#[component]
fn DoneNotice() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    move || {
        let text = match query.read().get("done").as_deref() {
            Some("applied") => t!(i18n, seats.done_applied).into_any(),
            Some("recalled") => t!(i18n, seats.done_recalled).into_any(),
            _ => return None,
        };
        Some(view! { <p class="notice" role="status">{text}</p> })
    }
}

/// "Request licenses" and "Upload licenses", as the CRM offers them from its user list.
#[component]
fn LicenseActions(can_request: bool, can_upload: bool) -> impl IntoView {
    let i18n = use_i18n();
    (can_request || can_upload).then(|| {
        view! {
            <div class="actions">
                {can_request
                    .then(|| {
                        view! {
                            <a class="button-quiet" href="/settings/licenses/request">
                                {t!(i18n, licenses.request)}
                            </a>
                        }
                    })}
                {can_upload
                    .then(|| {
                        view! {
                            <a class="button-quiet" href="/settings/licenses/upload">
                                {t!(i18n, users.upload_licenses)}
                            </a>
                        }
                    })}
            </div>
        }
    })
}

#[component]
fn SearchForm(q: String, total: u64) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <form method="get" action="/settings/users" class="filters" role="search">
            <input
                type="search"
                name="q"
                value=q
                aria-label=move || t_string!(i18n, users.search).to_string()
                placeholder=move || t_string!(i18n, users.search).to_string()
            />
            <button type="submit" class="button-quiet">{t!(i18n, seats.find)}</button>
            <span class="muted">{t!(i18n, users.found, count = move || total)}</span>
        </form>
    }
}

/// The latest refusal of any action on the page, where the person looks.
#[component]
fn ActionErrors(actions: Actions) -> impl IntoView {
    let latest = move || -> Option<AppError> {
        let errs = [
            actions.set_role.value().get().and_then(Result::err),
            actions.set_disabled.value().get().and_then(Result::err),
            actions.reset.value().get().and_then(Result::err),
            actions.give.value().get().and_then(Result::err),
            actions.recall.value().get().and_then(Result::err),
        ];
        errs.into_iter().flatten().next()
    };
    move || latest().map(|err| view! { <ErrorMessage err /> })
}

#[component]
fn UsersTable(
    users: Vec<UserRow>,
    products: Vec<SeatProduct>,
    can_manage: bool,
    actions: Actions,
) -> impl IntoView {
    let i18n = use_i18n();
    if users.is_empty() {
        return view! { <p class="muted">{t!(i18n, users.no_matches)}</p> }.into_any();
    }
    view! {
        <table class="grid" data-testid="users">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, users.name)}</th>
                    <th scope="col">{t!(i18n, users.role)}</th>
                    <th scope="col">{t!(i18n, users.tenant)}</th>
                    <th scope="col">{t!(i18n, users.status)}</th>
                    <th scope="col">{t!(i18n, users.seats)}</th>
                    {can_manage.then(|| view! { <th scope="col">{t!(i18n, users.password)}</th> })}
                </tr>
            </thead>
            <tbody>
                {users
                    .into_iter()
                    .map(|u| {
                        let products = products.clone();
                        view! { <UserRowView user=u products can_manage actions /> }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn UserRowView(
    user: UserRow,
    products: Vec<SeatProduct>,
    can_manage: bool,
    actions: Actions,
) -> impl IntoView {
    let i18n = use_i18n();
    let disabled = user.disabled;
    // An administrator cannot change their own role or disable themselves (the server refuses
    // it too): their own row offers neither.
    let own = use_session()
        .viewer
        .get_untracked()
        .and_then(Result::ok)
        .flatten()
        .is_some_and(|v| v.id == user.id);
    let (id1, id2, id3) = (user.id.clone(), user.id.clone(), user.id.clone());
    let (name1, name2, name3) = (user.name.clone(), user.name.clone(), user.name.clone());
    let role = user.role;
    let status = view! {
        <span class=if disabled { "tag tag-off" } else { "tag tag-on" }>
            {if disabled {
                t!(i18n, users.disabled).into_any()
            } else {
                t!(i18n, users.enabled).into_any()
            }}
        </span>
    };
    view! {
        <tr class:row-disabled=disabled data-user=name1>
            <td>
                {name2}
                {own.then(|| view! { " " <span class="tag">{t!(i18n, users.you)}</span> })}
            </td>
            <td>
                {if own || !can_manage {
                    view! { <RoleName role /> }.into_any()
                } else {
                    view! {
                        <ActionForm action=actions.set_role attr:class="inline">
                            <input type="hidden" name="user_id" value=id1 />
                            <RoleSelect name="role" selected=role label=name3 />
                            <button type="submit" class="button-quiet">
                                {t!(i18n, users.change_role)}
                            </button>
                        </ActionForm>
                    }
                        .into_any()
                }}
            </td>
            <td>{user.tenant_name.clone()}</td>
            <td>
                {if can_manage {
                    view! {
                        <ActionForm action=actions.set_disabled attr:class="inline">
                            <input type="hidden" name="user_id" value=id2 />
                            <input type="hidden" name="disabled" value=(!disabled).to_string() />
                            {status}
                            {(!own)
                                .then(|| {
                                    view! {
                                        <button type="submit" class="button-quiet">
                                            {if disabled {
                                                t!(i18n, users.enable).into_any()
                                            } else {
                                                t!(i18n, users.disable).into_any()
                                            }}
                                        </button>
                                    }
                                })}
                        </ActionForm>
                    }
                        .into_any()
                } else {
                    status.into_any()
                }}
            </td>
            <td>
                <UserSeats user=user.clone() products actions />
            </td>
            {can_manage
                .then(|| {
                    view! {
                        <td>
                            <ActionForm action=actions.reset attr:class="inline">
                                <input type="hidden" name="user_id" value=id3 />
                                <input
                                    type="password"
                                    name="password"
                                    autocomplete="new-password"
                                    aria-label=move || t_string!(i18n, users.new_password).to_string()
                                    placeholder=move || t_string!(i18n, users.new_password).to_string()
                                    required
                                />
                                <button type="submit" class="button-quiet">
                                    {t!(i18n, users.reset_password)}
                                </button>
                            </ActionForm>
                        </td>
                    }
                })}
        </tr>
    }
}

/// The seats a user holds, each with its recall button, and a form giving one more: a product
/// the user holds no seat of and that has a seat free. Disabled users are given none.
#[component]
fn UserSeats(user: UserRow, products: Vec<SeatProduct>, actions: Actions) -> impl IntoView {
    let i18n = use_i18n();
    let givable: Vec<SeatProduct> = products
        .into_iter()
        .filter(|p| p.free > 0 && !user.seats.iter().any(|s| s.product == p.product))
        .collect();
    let name = user.name.clone();
    let give_label = format!("{} {name}", t_string!(i18n, users.give_label));
    let user_id = user.id.clone();
    view! {
        <div class="seat-list">
            {user
                .seats
                .into_iter()
                .map(|s| {
                    let label = format!(
                        "{} {} ({name})",
                        t_string!(i18n, seats.recall),
                        s.product_name,
                    );
                    let user_id = user_id.clone();
                    view! {
                        <ActionForm action=actions.recall attr:class="inline seat">
                            <input type="hidden" name="product" value=s.product />
                            <input type="hidden" name="user_ids[0]" value=user_id />
                            <input type="hidden" name="back" value="users" />
                            <span class="tag tag-on">{s.product_name}</span>
                            <button type="submit" class="button-quiet" aria-label=label>
                                {t!(i18n, seats.recall)}
                            </button>
                        </ActionForm>
                    }
                })
                .collect_view()}
            {(!user.disabled && !givable.is_empty())
                .then(|| {
                    view! {
                        <ActionForm action=actions.give attr:class="inline seat">
                            <input type="hidden" name="user_ids[0]" value=user_id.clone() />
                            <input type="hidden" name="back" value="users" />
                            <select name="product" aria-label=give_label>
                                {givable
                                    .into_iter()
                                    .map(|p| view! { <option value=p.product>{p.product_name}</option> })
                                    .collect_view()}
                            </select>
                            <button type="submit" class="button-quiet">{t!(i18n, users.give)}</button>
                        </ActionForm>
                    }
                })}
        </div>
    }
}

#[component]
fn RoleSelect(name: &'static str, selected: Role, label: String) -> impl IntoView {
    view! {
        <select name=name aria-label=label>
            {Role::ALL
                .into_iter()
                .map(|r| {
                    view! {
                        <option value=r.as_str() selected=r == selected>
                            <RoleName role=r />
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

#[component]
fn CreateUserForm(tenants: Vec<Tenant>, actions: Actions) -> impl IntoView {
    let i18n = use_i18n();
    let error = move || actions.create.value().get().and_then(Result::err);
    let query = leptos_router::hooks::use_query_map();
    let created = move || query.read().get("created");
    view! {
        <section class="card">
            <h2>{t!(i18n, users.create_title)}</h2>
            <ActionForm action=actions.create attr:class="form-grid">
                <label for="new-user-name">{t!(i18n, users.name)}</label>
                <input id="new-user-name" name="user_name" type="text" autocomplete="off" required />
                <label for="new-user-password">{t!(i18n, users.password)}</label>
                <input
                    id="new-user-password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength="8"
                    required
                />
                <label for="new-user-role">{t!(i18n, users.role)}</label>
                <select id="new-user-role" name="role">
                    {Role::ALL
                        .into_iter()
                        .map(|r| {
                            view! {
                                <option value=r.as_str() selected=r == Role::User>
                                    <RoleName role=r />
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
                <label for="new-user-tenant">{t!(i18n, users.tenant)}</label>
                <select id="new-user-tenant" name="tenant_id">
                    {tenants
                        .into_iter()
                        .map(|t| view! { <option value=t.id selected=t.is_default>{t.name}</option> })
                        .collect_view()}
                </select>
                <div class="form-actions">
                    <button type="submit" class="button-primary">{t!(i18n, users.create)}</button>
                </div>
            </ActionForm>
            {move || error().map(|err| view! { <ErrorMessage err /> })}
            {move || {
                created()
                    .map(|name| {
                        view! {
                            <p class="notice" role="status">
                                {t!(i18n, users.created, name = move || name.clone())}
                            </p>
                        }
                    })
            }}
        </section>
    }
}
