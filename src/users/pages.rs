//! Settings > Users: every form is a plain form, so the page works before hydration and without
//! JavaScript.
use leptos::prelude::*;

use super::api::{CreateUser, ResetUserPassword, SetUserDisabled, SetUserRole, list_users};
use super::model::UserRow;
use crate::app::use_session;
use crate::auth::model::Role;
use crate::error::AppError;
use crate::i18n::*;
use crate::tenants::Tenant;
use crate::ui::errors::ErrorMessage;

#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateUser>,
    set_role: ServerAction<SetUserRole>,
    set_disabled: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetUserPassword>,
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let actions = Actions {
        create: ServerAction::new(),
        set_role: ServerAction::new(),
        set_disabled: ServerAction::new(),
        reset: ServerAction::new(),
    };
    let page = Resource::new(
        move || {
            (
                actions.create.version().get(),
                actions.set_role.version().get(),
                actions.set_disabled.version().get(),
                actions.reset.version().get(),
            )
        },
        |_| list_users(),
    );
    view! {
        <div class="page">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " > "
                <span>{t!(i18n, nav.users)}</span>
            </nav>
            <h1>{t!(i18n, users.title)}</h1>
            <ActionErrors actions />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(p) => {
                            let tenants = p.tenants.clone();
                            view! {
                                <UsersTable users=p.users actions />
                                <CreateUserForm tenants actions />
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </div>
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
        ];
        errs.into_iter().flatten().next()
    };
    move || latest().map(|err| view! { <ErrorMessage err /> })
}

#[component]
fn UsersTable(users: Vec<UserRow>, actions: Actions) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <table class="grid">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, users.name)}</th>
                    <th scope="col">{t!(i18n, users.role)}</th>
                    <th scope="col">{t!(i18n, users.tenant)}</th>
                    <th scope="col">{t!(i18n, users.status)}</th>
                    <th scope="col">{t!(i18n, users.password)}</th>
                </tr>
            </thead>
            <tbody>
                {users
                    .into_iter()
                    .map(|u| view! { <UserRowView user=u actions /> })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn UserRowView(user: UserRow, actions: Actions) -> impl IntoView {
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
    let (id1, id2, id3) = (user.id.clone(), user.id.clone(), user.id);
    let (name1, name2, name3) = (user.name.clone(), user.name.clone(), user.name);
    let role = user.role;
    view! {
        <tr class:row-disabled=disabled data-user=name1>
            <td>
                {name2}
                {own.then(|| view! { " " <span class="tag">{t!(i18n, users.you)}</span> })}
            </td>
            <td>
                {if own {
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
            <td>{user.tenant_name}</td>
            <td>
                <ActionForm action=actions.set_disabled attr:class="inline">
                    <input type="hidden" name="user_id" value=id2 />
                    <input type="hidden" name="disabled" value=(!disabled).to_string() />
                    <span class=if disabled { "tag tag-off" } else { "tag tag-on" }>
                        {if disabled {
                            t!(i18n, users.disabled).into_any()
                        } else {
                            t!(i18n, users.enabled).into_any()
                        }}
                    </span>
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
            </td>
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
        </tr>
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
pub fn RoleName(role: Role) -> impl IntoView {
    let i18n = use_i18n();
    match role {
        Role::Administrator => t!(i18n, roles.administrator).into_any(),
        Role::LicenseManager => t!(i18n, roles.license_manager).into_any(),
        Role::User => t!(i18n, roles.user).into_any(),
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
