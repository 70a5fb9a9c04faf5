//! A product's page: its licenses, the seat chart, the holders (recall), and the picker (add).
//! Plain forms: the picker is a GET search; Apply and Recall post the checked users.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::{ApplySeats, RecallSeats, get_product, my_licenses, seat_candidates};
use super::model::{
    CANDIDATES_LOOKED_AT, Candidates, HOLDERS_PAGE, Holder, ProductLicense, SeatCount,
};
use crate::i18n::*;
use crate::licenses::domain::Expiry;
use crate::ui::errors::ErrorMessage;
use crate::ui::names::RoleName;
use crate::ui::names::{ExpiryText, LicenseTypeName, StatusBadge};
use crate::ui::pager::Pager;

#[component]
pub fn ProductPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let query = use_query_map();
    let product = move || params.read().get("product").unwrap_or_default();
    let q = move || query.read().get("q").unwrap_or_default();
    let apply = ServerAction::<ApplySeats>::new();
    let recall = ServerAction::<RecallSeats>::new();
    let holders_page = move || query.read().get("hp").and_then(|p| p.parse::<u64>().ok());
    let page = Resource::new(
        move || {
            (
                product(),
                holders_page(),
                apply.version().get(),
                recall.version().get(),
            )
        },
        |(p, hp, _, _)| get_product(p, hp),
    );
    let done = move || query.read().get("done");
    let error = move || {
        [apply.value().get(), recall.value().get()]
            .into_iter()
            .flatten()
            .find_map(Result::err)
    };
    view! {
        <div class="page wide">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(p) => {
                            let has_seats = p.licenses.iter().any(|l| l.seats.is_some());
                            let product_code = p.product.clone();
                            let candidates = Resource::new(
                                move || (product(), q()),
                                |(p, q)| seat_candidates(p, q),
                            );
                            view! {
                                <nav class="breadcrumbs" aria-label="breadcrumbs">
                                    <span>{t!(i18n, nav.settings)}</span>
                                    " > "
                                    <a href="/settings/licenses">{t!(i18n, nav.licenses)}</a>
                                    " > "
                                    <span>{p.product_name.clone()}</span>
                                </nav>
                                <h1>{p.product_name.clone()}</h1>
                                {move || done().map(|d| view! { <DoneNotice what=d /> })}
                                {move || error().map(|err| view! { <ErrorMessage err /> })}
                                <ProductLicenses licenses=p.licenses />
                                {has_seats
                                    .then(|| {
                                        view! {
                                            <SeatChart count=p.count />
                                            <Holders
                                                product=product_code.clone()
                                                holders=p.holders
                                                can_manage=p.can_manage
                                                recall
                                            />
                                            <HoldersPager
                                                product=product_code.clone()
                                                current=p.holders_page
                                                total=p.holders_total
                                            />
                                        }
                                    })}
                                {(has_seats && p.can_manage)
                                    .then(|| {
                                        view! {
                                            <Picker
                                                product=product_code.clone()
                                                q=q()
                                                free=p.count.free
                                                candidates
                                                apply
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
fn DoneNotice(what: String) -> impl IntoView {
    let i18n = use_i18n();
    let text = match what.as_str() {
        "applied" => t!(i18n, seats.done_applied).into_any(),
        "recalled" => t!(i18n, seats.done_recalled).into_any(),
        _ => return ().into_any(),
    };
    view! { <p class="notice" role="status">{text}</p> }.into_any()
}

#[component]
fn ProductLicenses(licenses: Vec<ProductLicense>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <table class="grid" data-testid="product-licenses">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, licenses.license_type)}</th>
                    <th scope="col">{t!(i18n, licenses.seats)}</th>
                    <th scope="col">{t!(i18n, licenses.start)}</th>
                    <th scope="col">{t!(i18n, licenses.due)}</th>
                    <th scope="col">{t!(i18n, licenses.status)}</th>
                </tr>
            </thead>
            <tbody>
                {licenses
                    .into_iter()
                    .map(|l| {
                        view! {
                            <tr>
                                <td>
                                    <LicenseTypeName license_type=l.license_type />
                                    {l.feature.map(|f| view! { <div class="sub">{t!(i18n, seats.unlocks)} " " {f}</div> })}
                                </td>
                                <td>
                                    {match l.seats {
                                        Some(n) => n.to_string().into_any(),
                                        None => view! { <span class="muted">{t!(i18n, seats.all_users)}</span> }.into_any(),
                                    }}
                                </td>
                                <td><ExpiryText expiry=l.start.map(Expiry::At) /></td>
                                <td><ExpiryText expiry=l.due /></td>
                                <td><StatusBadge status=l.status /></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// A pie of used against free seats, drawn by the app; the numbers stand beside it, so it reads
/// without colour.
#[component]
fn SeatChart(count: SeatCount) -> impl IntoView {
    let i18n = use_i18n();
    let SeatCount { total, used, free } = count;
    // A circle of circumference 100: the used share is a dash of that length.
    let r = 100.0 / (2.0 * std::f64::consts::PI);
    let share = if total == 0 {
        0.0
    } else {
        f64::from(used) * 100.0 / f64::from(total)
    };
    let dash = format!("{share:.2} {:.2}", 100.0 - share);
    view! {
        <section class="card seat-chart" data-testid="seat-chart">
            <svg viewBox="0 0 42 42" width="120" height="120" role="img" aria-hidden="true">
                <circle cx="21" cy="21" r=format!("{r:.4}") class="pie-free" />
                <circle
                    cx="21"
                    cy="21"
                    r=format!("{r:.4}")
                    class="pie-used"
                    stroke-dasharray=dash
                    stroke-dashoffset="25"
                />
            </svg>
            <dl class="seat-numbers" data-testid="seat-numbers">
                <dt><span class="swatch swatch-used"></span>{t!(i18n, seats.used)}</dt>
                <dd>{used}</dd>
                <dt><span class="swatch swatch-free"></span>{t!(i18n, seats.free)}</dt>
                <dd>{free}</dd>
                <dt>{t!(i18n, seats.total)}</dt>
                <dd>{total}</dd>
            </dl>
        </section>
    }
}

/// Pages of the holders, when there are more than one page of them.
#[component]
fn HoldersPager(product: String, current: u64, total: u64) -> impl IntoView {
    let pages = total.div_ceil(HOLDERS_PAGE);
    (pages > 1).then(|| {
        let path = format!(
            "/settings/licenses/product/{}",
            crate::ui::url::encode_component(&product)
        );
        view! { <Pager current pages total href=move |n| format!("{path}?hp={n}") /> }
    })
}

#[component]
fn Holders(
    product: String,
    holders: Vec<Holder>,
    can_manage: bool,
    recall: ServerAction<RecallSeats>,
) -> impl IntoView {
    let i18n = use_i18n();
    if holders.is_empty() {
        return view! { <p class="empty">{t!(i18n, seats.no_holders)}</p> }.into_any();
    }
    let row_forms = holders.clone();
    let bulk_product = product.clone();
    view! {
        <section class="card wide-card">
            <h2>{t!(i18n, seats.holders)}</h2>
            <ActionForm action=recall attr:id="recall-selected">
                <input type="hidden" name="product" value=bulk_product />
            </ActionForm>
            <table class="grid" data-testid="holders">
                <thead>
                    <tr>
                        {can_manage.then(|| view! { <th scope="col"></th> })}
                        <th scope="col">{t!(i18n, users.name)}</th>
                        <th scope="col">{t!(i18n, fields.tenant)}</th>
                        <th scope="col">{t!(i18n, users.role)}</th>
                        <th scope="col">{t!(i18n, seats.since)}</th>
                        {can_manage.then(|| view! { <th scope="col"></th> })}
                    </tr>
                </thead>
                <tbody>
                    {holders
                        .into_iter()
                        .enumerate()
                        .map(|(i, h)| {
                            let check_id = format!("holder-{i}");
                            let row_form = format!("recall-{i}");
                            let label = h.name.clone();
                            let data_user = h.name.clone();
                            let user_id = h.user_id.clone();
                            view! {
                                <tr data-user=data_user>
                                    {can_manage
                                        .then(|| {
                                            view! {
                                                <td>
                                                    <input
                                                        type="checkbox"
                                                        id=check_id.clone()
                                                        form="recall-selected"
                                                        name=format!("user_ids[{i}]")
                                                        value=user_id
                                                        aria-label=label
                                                    />
                                                </td>
                                            }
                                        })}
                                    <td>{h.name}</td>
                                    <td>{h.tenant_name}</td>
                                    <td><RoleName role=h.role /></td>
                                    <td><ExpiryText expiry=Some(Expiry::At(h.since)) /></td>
                                    {can_manage
                                        .then(|| {
                                            view! {
                                                <td>
                                                    <button type="submit" class="button-quiet" form=row_form>
                                                        {t!(i18n, seats.recall)}
                                                    </button>
                                                </td>
                                            }
                                        })}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {can_manage
                .then(|| {
                    view! {
                        <div class="confirm-bar">
                            <button type="submit" class="button-quiet" form="recall-selected">
                                {t!(i18n, seats.recall_selected)}
                            </button>
                        </div>
                    }
                })}
            {can_manage
                .then(|| {
                    row_forms
                        .into_iter()
                        .enumerate()
                        .map(|(i, h)| {
                            let product = product.clone();
                            view! {
                                <ActionForm action=recall attr:id=format!("recall-{i}") attr:class="hidden-form">
                                    <input type="hidden" name="product" value=product />
                                    <input type="hidden" name="user_ids[0]" value=h.user_id />
                                </ActionForm>
                            }
                        })
                        .collect_view()
                })}
        </section>
    }
    .into_any()
}

#[component]
fn Picker(
    product: String,
    q: String,
    free: u32,
    candidates: Resource<Result<Candidates, crate::error::AppError>>,
    apply: ServerAction<ApplySeats>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card wide-card" data-testid="picker">
            <h2>{t!(i18n, seats.add_title)}</h2>
            <p class="muted">{t!(i18n, seats.free_now, count = move || free as i32)}</p>
            <form method="get" class="filters">
                <label for="picker-q">{t!(i18n, seats.search)}</label>
                <input id="picker-q" type="search" name="q" value=q />
                <button type="submit" class="button-quiet">{t!(i18n, seats.find)}</button>
            </form>
            <Suspense fallback=|| ()>
                {move || {
                    let product = product.clone();
                    Suspend::new(async move {
                        match candidates.await {
                            Err(err) => view! { <ErrorMessage err /> }.into_any(),
                            Ok(Candidates { users, more: false }) if users.is_empty() => {
                                view! { <p class="muted">{t!(i18n, seats.no_candidates)}</p> }.into_any()
                            }
                            Ok(Candidates { users, more: true }) if users.is_empty() => {
                                view! {
                                    <p class="muted" data-testid="picker-more">
                                        {t!(i18n, seats.none_looked_at, looked = || CANDIDATES_LOOKED_AT)}
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok(Candidates { users: list, more }) => {
                                view! {
                                    {more
                                        .then(|| {
                                            view! {
                                                <p class="muted" data-testid="picker-more">
                                                    {t!(i18n, seats.more_candidates)}
                                                </p>
                                            }
                                        })}
                                    <ActionForm action=apply>
                                        <input type="hidden" name="product" value=product />
                                        <ul class="plain picker-list">
                                            {list
                                                .into_iter()
                                                .enumerate()
                                                .map(|(i, c)| {
                                                    let id = format!("candidate-{i}");
                                                    view! {
                                                        <li>
                                                            <input
                                                                type="checkbox"
                                                                id=id.clone()
                                                                name=format!("user_ids[{i}]")
                                                                value=c.user_id
                                                            />
                                                            " "
                                                            <label for=id>{c.name}</label>
                                                            <span class="muted">
                                                                " · " {c.tenant_name} " · " <RoleName role=c.role />
                                                            </span>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                        <button type="submit" class="button-primary">{t!(i18n, seats.apply)}</button>
                                    </ActionForm>
                                }
                                    .into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// The signed-in user's own licenses, on their start page.
#[component]
pub fn MyLicenses() -> impl IntoView {
    let i18n = use_i18n();
    let mine = Resource::new(|| (), |_| my_licenses());
    view! {
        <section class="card" data-testid="my-licenses">
            <h2>{t!(i18n, seats.mine_title)}</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match mine.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(list) if list.is_empty() => {
                            view! { <p class="muted">{t!(i18n, seats.mine_none)}</p> }.into_any()
                        }
                        Ok(list) => view! {
                            <ul class="plain">
                                {list
                                    .into_iter()
                                    .map(|l| {
                                        view! {
                                            <li>
                                                <strong>{l.product_name}</strong>
                                                {l.feature.map(|f| view! { " · " {t!(i18n, seats.unlocks)} " " {f} })}
                                                " · "
                                                <StatusBadge status=l.status />
                                                " "
                                                <ExpiryText expiry=l.due />
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
