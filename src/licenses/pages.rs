//! Settings > Licenses: the list an administrator lives in, the license request, and the upload
//! with its preview. Every form is a plain form, so all of it works without JavaScript.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::{
    ConfirmUpload, DeleteAllLicenses, get_licenses_summary, get_upload_outcome, list_licenses,
    request_licenses,
};
use super::domain::{Expiry, Status};
use super::format::{Binding, BlockRefusal, LicenseType, Mode, PackageRefusal, Refusal};
use super::model::{
    Effect, LicensePage, LicenseRow, LicensesSummary, ListQuery, Preview, RequestFile, SortColumn,
    UploadOutcome, VendorContact,
};
use crate::expiry::model::ClockWarning;
use crate::i18n::*;
use crate::ui::dates::{format_date_ms, format_time_ms};
use crate::ui::errors::ErrorMessage;
use crate::ui::names::{ExpiryText, LicenseTypeName, StatusBadge, StatusName};
use crate::ui::pager::Pager;
use crate::ui::url::encode_component;

#[component]
fn Breadcrumbs(#[prop(optional)] here: Option<AnyView>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <nav class="breadcrumbs" aria-label="breadcrumbs">
            <span>{t!(i18n, nav.settings)}</span>
            " > "
            <a href="/settings/licenses">{t!(i18n, nav.licenses)}</a>
            {here.map(|h| view! { " > " <span>{h}</span> })}
        </nav>
    }
}

#[component]
fn ModeName(mode: Mode) -> impl IntoView {
    let i18n = use_i18n();
    match mode {
        Mode::Subscription => t!(i18n, modes.subscription).into_any(),
        Mode::Buyout => t!(i18n, modes.buyout).into_any(),
        Mode::Test => t!(i18n, modes.test).into_any(),
    }
}

#[component]
pub fn LicensesPage() -> impl IntoView {
    let i18n = use_i18n();
    let query_map = use_query_map();
    let query = Memo::new(move |_| {
        let map = query_map.read();
        ListQuery::from_params(|k| map.get(k))
    });
    let delete = ServerAction::<DeleteAllLicenses>::new();
    let summary = Resource::new(move || delete.version().get(), |_| get_licenses_summary());
    let page = Resource::new(
        move || (query.get(), delete.version().get()),
        |(q, _)| list_licenses(q),
    );
    let notice = move || {
        let map = query_map.read();
        let installed = map.get("installed")?.parse::<i32>().ok()?;
        let already = map
            .get("already")
            .and_then(|a| a.parse::<i32>().ok())
            .unwrap_or(0);
        Some((installed, already))
    };
    view! {
        <div class="page wide">
            <Breadcrumbs />
            <h1>{t!(i18n, licenses.title)}</h1>
            {move || {
                notice()
                    .map(|(installed, already)| {
                        view! {
                            <p class="notice" role="status">
                                {t!(i18n, licenses.confirmed, count = move || installed)}
                                " "
                                {t!(i18n, licenses.confirmed_already, count = move || already)}
                            </p>
                        }
                    })
            }}
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match summary.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(s) => view! { <SummaryView summary=s /> }.into_any(),
                    }
                })}
            </Suspense>
            <ListFilters query />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(p) => view! { <LicenseTable page=p /> }.into_any(),
                    }
                })}
            </Transition>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match summary.await {
                        Ok(s) if s.can_delete && s.licenses_installed > 0 => {
                            view! { <DeleteAll action=delete /> }.into_any()
                        }
                        _ => ().into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn SummaryView(summary: LicensesSummary) -> impl IntoView {
    let i18n = use_i18n();
    let keys = summary.vendor_keys.clone();
    let contact = summary.vendor_contact.clone();
    let clock = summary
        .clock_warning
        .map(|warning| view! { <ClockWarningNote warning /> });
    view! {
        {clock}
        <div class="actions">
            <Show when=move || summary.can_request>
                <a class="button-quiet" href="/settings/licenses/request">
                    {t!(i18n, licenses.request)}
                </a>
            </Show>
            <Show when=move || summary.can_upload>
                <a class="button-primary" href="/settings/licenses/upload">
                    {t!(i18n, licenses.upload)}
                </a>
            </Show>
        </div>
        <dl class="facts">
            <dt>{t!(i18n, licenses.installation_id)}</dt>
            <dd>
                <code data-testid="installation-id">{summary.installation_id}</code>
            </dd>
            <dt>{t!(i18n, licenses.vendor_keys)}</dt>
            <dd data-testid="vendor-keys">
                {if keys.is_empty() {
                    view! { <span class="muted">{t!(i18n, licenses.no_vendor_keys)}</span> }
                        .into_any()
                } else {
                    keys.into_iter()
                        .map(|k| view! { <code class="key-id">{k}</code> " " })
                        .collect_view()
                        .into_any()
                }}
            </dd>
            <dt>{t!(i18n, licenses.vendor_contact)}</dt>
            <dd data-testid="vendor-contact">
                {if contact.is_set() {
                    let VendorContact { email, url } = contact;
                    view! {
                        {email.map(|e| view! { <a href=format!("mailto:{e}")>{e.clone()}</a> " " })}
                        {url.map(|u| view! { <a href=u.clone() rel="noopener noreferrer">{u.clone()}</a> })}
                    }
                        .into_any()
                } else {
                    view! { <span class="muted">{t!(i18n, licenses.no_vendor_contact)}</span> }
                        .into_any()
                }}
            </dd>
            <dt>{t!(i18n, licenses.lease_key)}</dt>
            <dd data-testid="lease-key">
                <code class="key-id">{summary.lease_key_id}</code>
                <details class="lease-key">
                    <summary>{t!(i18n, licenses.lease_key_public)}</summary>
                    <pre>{summary.lease_public_key}</pre>
                </details>
            </dd>
            <dt>{t!(i18n, licenses.tenants)}</dt>
            <dd>
                <ul class="plain">
                    {summary
                        .tenants
                        .into_iter()
                        .map(|t| {
                            view! {
                                <li>
                                    {t.tenant.name}
                                    {t.tenant.is_default.then(|| view! {
                                        " "
                                        <span class="tag">{t!(i18n, licenses.default_tenant)}</span>
                                    })}
                                    " · "
                                    {match t.platform {
                                        None => view! {
                                            <span class="muted">{t!(i18n, licenses.no_platform_license)}</span>
                                        }.into_any(),
                                        Some(e) => view! {
                                            {t!(i18n, licenses.platform_until)}
                                            " "
                                            <ExpiryText expiry=Some(e) />
                                        }.into_any(),
                                    }}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </dd>
        </dl>
        {(summary.licenses_installed == 0)
            .then(|| {
                view! {
                    <div class="empty">
                        <p>{t!(i18n, licenses.none_installed)}</p>
                    </div>
                }
            })}
    }
}

/// Search and filters: a GET form, so the view lives in the URL.
#[component]
fn ListFilters(query: Memo<ListQuery>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <form class="filters" method="get" action="/settings/licenses" role="search">
            <label for="license-search">{t!(i18n, licenses.search)}</label>
            <input
                id="license-search"
                type="search"
                name="q"
                value=move || query.get().q
                placeholder=move || t_string!(i18n, licenses.search_hint).to_string()
            />
            <label for="license-status">{t!(i18n, licenses.status)}</label>
            <select id="license-status" name="status">
                <option value="" selected=move || query.get().status.is_none()>
                    {t!(i18n, licenses.any)}
                </option>
                {Status::ALL
                    .into_iter()
                    .map(|s| {
                        view! {
                            <option value=s.as_str() selected=move || query.get().status == Some(s)>
                                <StatusName status=s />
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="license-type">{t!(i18n, licenses.license_type)}</label>
            <select id="license-type" name="type">
                <option value="" selected=move || query.get().license_type.is_none()>
                    {t!(i18n, licenses.any)}
                </option>
                {LicenseType::ALL
                    .into_iter()
                    .map(|t| {
                        view! {
                            <option
                                value=t.as_str()
                                selected=move || query.get().license_type == Some(t)
                            >
                                <LicenseTypeName license_type=t />
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <input type="hidden" name="sort" value=move || query.get().sort.as_str() />
            <input
                type="hidden"
                name="dir"
                value=move || if query.get().descending { "desc" } else { "asc" }
            />
            <button type="submit" class="button-quiet">{t!(i18n, licenses.apply_filters)}</button>
        </form>
    }
}

#[component]
fn SortHeader(page_query: ListQuery, column: SortColumn, children: Children) -> impl IntoView {
    let next = page_query.sorted_by(column);
    let aria = if page_query.sort == column {
        if page_query.descending {
            "descending"
        } else {
            "ascending"
        }
    } else {
        "none"
    };
    let arrow = match aria {
        "ascending" => " ▲",
        "descending" => " ▼",
        _ => "",
    };
    view! {
        <th scope="col" aria-sort=aria>
            <a href=format!("/settings/licenses?{}", next.to_params())>{children()} {arrow}</a>
        </th>
    }
}

#[component]
fn LicenseTable(page: LicensePage) -> impl IntoView {
    let i18n = use_i18n();
    let q = page.query.clone();
    let pages = page.pages();
    let current = q.page;
    let (total, more) = (page.total, page.more);
    if page.rows.is_empty() {
        return view! {
            <p class="muted" data-testid="no-matches">{t!(i18n, licenses.no_matches)}</p>
        }
        .into_any();
    }
    view! {
        <table class="grid licenses" data-testid="licenses">
            <thead>
                <tr>
                    <SortHeader page_query=q.clone() column=SortColumn::Type>
                        {t!(i18n, licenses.license_type)}
                    </SortHeader>
                    <SortHeader page_query=q.clone() column=SortColumn::Product>
                        {t!(i18n, licenses.product)}
                    </SortHeader>
                    <SortHeader page_query=q.clone() column=SortColumn::Mode>
                        {t!(i18n, licenses.mode)}
                    </SortHeader>
                    <SortHeader page_query=q.clone() column=SortColumn::Start>
                        {t!(i18n, licenses.start)}
                    </SortHeader>
                    <SortHeader page_query=q.clone() column=SortColumn::Due>
                        {t!(i18n, licenses.due)}
                    </SortHeader>
                    <SortHeader page_query=q.clone() column=SortColumn::Status>
                        {t!(i18n, licenses.status)}
                    </SortHeader>
                    <th scope="col">{t!(i18n, licenses.bound_to)}</th>
                    <th scope="col">{t!(i18n, licenses.seats)}</th>
                </tr>
            </thead>
            <tbody>
                {page.rows.into_iter().map(|row| view! { <LicenseRowView row /> }).collect_view()}
            </tbody>
        </table>
        <Pager
            current
            pages
            total
            more
            href=move |n| format!("/settings/licenses?{}", q.at_page(n).to_params())
        />
    }
    .into_any()
}

#[component]
fn LicenseRowView(row: LicenseRow) -> impl IntoView {
    let i18n = use_i18n();
    let detail = match (row.binding, row.feature.clone()) {
        (Some(Binding::Fixed), _) => Some(t!(i18n, bindings.fixed).into_any()),
        (Some(Binding::Floating), _) => Some(t!(i18n, bindings.floating).into_any()),
        (_, Some(feature)) => Some(view! { {feature} }.into_any()),
        _ => None,
    };
    let bound = match (row.tenant_name, row.agent) {
        (Some(t), _) => Some(t),
        (None, Some(a)) => Some(a),
        _ => None,
    };
    view! {
        <tr data-id=row.id.clone()>
            <td>
                <LicenseTypeName license_type=row.license_type />
                {detail.map(|d| view! { <div class="sub">{d}</div> })}
            </td>
            <td>
                <div>
                    <a href=format!("/settings/licenses/product/{}", encode_component(&row.product))>
                        {row.product_name}
                    </a>
                </div>
                <div class="sub"><code>{row.product}</code></div>
            </td>
            <td><ModeName mode=row.mode /></td>
            <td>
                {match row.waits_until {
                    Some(ms) => view! {
                        <span class="muted">
                            {t!(i18n, licenses.not_before, date = move || format_date_ms(i18n.get_locale(), ms))}
                        </span>
                    }
                    .into_any(),
                    None => view! { <ExpiryText expiry=row.start.map(Expiry::At) /> }.into_any(),
                }}
            </td>
            <td><ExpiryText expiry=row.due /></td>
            <td><StatusBadge status=row.status /></td>
            <td>{bound.unwrap_or_default()}</td>
            <td>
                {row
                    .seats_total
                    .map(|total| format!("{}/{}", row.seats_used, total))
                    .unwrap_or_default()}
            </td>
        </tr>
    }
}

#[component]
fn DeleteAll(action: ServerAction<DeleteAllLicenses>) -> impl IntoView {
    let i18n = use_i18n();
    let error = move || action.value().get().and_then(Result::err);
    view! {
        <section class="card danger">
            <h2>{t!(i18n, licenses.delete_all_title)}</h2>
            <p>{t!(i18n, licenses.delete_all_body)}</p>
            <ActionForm action attr:class="inline">
                <label for="delete-confirmation">{t!(i18n, licenses.delete_all_type)}</label>
                <input id="delete-confirmation" name="confirmation" type="text" autocomplete="off" />
                <button type="submit" class="button-danger">{t!(i18n, licenses.delete_all)}</button>
            </ActionForm>
            {move || error().map(|err| view! { <ErrorMessage err /> })}
        </section>
    }
}

/// Settings > Licenses > Request licenses: a GET form, so the request is a link too.
#[component]
pub fn RequestPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let company = move || query.read().get("company_id").unwrap_or_default();
    let version = move || query.read().get("target_version").unwrap_or_default();
    let made = Resource::new(
        move || (company(), version()),
        |(c, v)| async move {
            if c.is_empty() && v.is_empty() {
                None
            } else {
                Some(request_licenses(c, v).await)
            }
        },
    );
    view! {
        <div class="page">
            <Breadcrumbs here=t!(i18n, licenses.request).into_any() />
            <h1>{t!(i18n, licenses.request)}</h1>
            <p class="muted">{t!(i18n, licenses.request_intro)}</p>
            <form method="get" action="/settings/licenses/request" class="card form-grid">
                <label for="company-id">{t!(i18n, licenses.company_id)}</label>
                <input id="company-id" name="company_id" type="text" value=company required />
                <label for="target-version">{t!(i18n, licenses.target_version)}</label>
                <input id="target-version" name="target_version" type="text" value=version required />
                <div class="form-actions">
                    <button type="submit" class="button-primary">
                        {t!(i18n, licenses.make_request)}
                    </button>
                </div>
            </form>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match made.await {
                        None => ().into_any(),
                        Some(Err(err)) => view! { <ErrorMessage err /> }.into_any(),
                        Some(Ok(file)) => {
                            let href = format!(
                                "data:application/octet-stream;charset=utf-8,{}",
                                encode_component(&file.text),
                            );
                            view! {
                                <section class="card wide-card">
                                    <h2>{t!(i18n, licenses.request_ready)}</h2>
                                    <p>{t!(i18n, licenses.request_send)}</p>
                                    <p>
                                        <a class="button-primary" href=href download=file.file_name.clone()>
                                            {t!(i18n, licenses.download)} " " {file.file_name.clone()}
                                        </a>
                                    </p>
                                    <SendTo file=file.clone() />
                                    <label for="request-text">{t!(i18n, licenses.request_text)}</label>
                                    <textarea id="request-text" readonly rows="12">{file.text}</textarea>
                                </section>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

/// The longest request text a `mailto:` link carries in its body; a longer one is attached (mail
/// programs cut links of a few thousand characters, and every byte but a letter or digit of the
/// text is percent-encoded into three).
const MAILTO_BODY_MAX: usize = 1_500;

/// Where the request goes: a `mailto:` link to the vendor's licensing address (the subject, and
/// the request itself in the body when it fits) and their portal, or how to name them.
#[component]
fn SendTo(file: RequestFile) -> impl IntoView {
    let i18n = use_i18n();
    let RequestFile {
        file_name,
        text,
        vendor,
    } = file;
    if !vendor.is_set() {
        return view! { <p class="muted" data-testid="send-to">{t!(i18n, licenses.vendor_contact_unset)}</p> }
            .into_any();
    }
    let fits = text.len() <= MAILTO_BODY_MAX;
    let attach_name = file_name.clone();
    let mail = vendor.email.map(|email| {
        let label = email.clone();
        let href = move || {
            let locale = i18n.get_locale();
            let subject =
                td_string!(locale, licenses.mail_subject, file = file_name.clone()).to_string();
            let body = if fits {
                format!(
                    "{}\n\n{text}",
                    td_string!(locale, licenses.mail_body_inline)
                )
            } else {
                td_string!(
                    locale,
                    licenses.mail_body_attached,
                    file = file_name.clone()
                )
                .to_string()
            };
            // The address as it is: the configuration allows nothing a link would escape.
            format!(
                "mailto:{}?subject={}&body={}",
                email,
                encode_component(&subject),
                encode_component(&body)
            )
        };
        view! {
            <a class="button-quiet" href=href data-testid="mail-vendor">
                {t!(i18n, licenses.mail_vendor)} " " {label}
            </a>
        }
    });
    let portal = vendor.url.map(|url| {
        view! {
            <a class="button-quiet" href=url.clone() target="_blank" rel="noopener noreferrer" data-testid="vendor-portal">
                {t!(i18n, licenses.open_portal)}
            </a>
        }
    });
    view! {
        <div data-testid="send-to">
            <p class="actions">{mail} " " {portal}</p>
            {(!fits)
                .then(|| {
                    view! {
                        <p class="muted">
                            {move || {
                                t_string!(i18n, licenses.mail_attach, file = attach_name.clone())
                                    .to_string()
                            }}
                        </p>
                    }
                })}
        </div>
    }
    .into_any()
}

/// Settings > Licenses > Upload: the file goes to `/licenses/upload` as a plain form post.
#[component]
pub fn UploadPage() -> impl IntoView {
    let i18n = use_i18n();
    let summary = Resource::new(|| (), |_| get_licenses_summary());
    view! {
        <div class="page">
            <Breadcrumbs here=t!(i18n, licenses.upload).into_any() />
            <h1>{t!(i18n, licenses.upload)}</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match summary.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(s) if s.vendor_keys.is_empty() => {
                            view! {
                                <p class="error" role="alert">{t!(i18n, licenses.upload_no_keys)}</p>
                            }
                                .into_any()
                        }
                        Ok(s) => {
                            view! {
                                <p class="muted">
                                    {t!(i18n, licenses.upload_intro)} " "
                                    {s.vendor_keys.join(", ")}
                                </p>
                                <form
                                    class="card form-grid"
                                    method="post"
                                    action="/licenses/upload"
                                    enctype="multipart/form-data"
                                >
                                    <label for="package-file">{t!(i18n, licenses.package_file)}</label>
                                    <input id="package-file" name="package" type="file" accept=".lcs,text/plain" required />
                                    <div class="form-actions">
                                        <button type="submit" class="button-primary">
                                            {t!(i18n, licenses.check_package)}
                                        </button>
                                    </div>
                                </form>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
pub fn UploadPreviewPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let outcome = Resource::new(id, get_upload_outcome);
    let confirm = ServerAction::<ConfirmUpload>::new();
    view! {
        <div class="page">
            <Breadcrumbs here=t!(i18n, licenses.preview).into_any() />
            <h1>{t!(i18n, licenses.preview)}</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match outcome.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(UploadOutcome::Refused { file_name, refusal }) => {
                            view! { <RefusalView file_name refusal /> }.into_any()
                        }
                        Ok(UploadOutcome::Preview(p)) => {
                            view! { <PreviewView preview=p id=id() confirm /> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn PreviewView(
    preview: Preview,
    id: String,
    confirm: ServerAction<ConfirmUpload>,
) -> impl IntoView {
    let i18n = use_i18n();
    let error = move || confirm.value().get().and_then(Result::err);
    let more = preview.total.saturating_sub(preview.items.len());
    let (total, new) = (preview.total as i32, preview.new as i32);
    view! {
        <p>
            <strong>{preview.file_name.clone()}</strong>
            ": "
            {t!(i18n, licenses.preview_counts, count = move || total, new = move || new)}
        </p>
        <section class="card wide-card">
            <h2>{t!(i18n, licenses.preview_summary)}</h2>
            <ul class="effects" data-testid="preview-summary">
                {preview
                    .summary
                    .into_iter()
                    .map(|line| {
                        view! {
                            <li>
                                <EffectText effect=line.effect count=line.count />
                                " — "
                                {line.product_name}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
        <table class="grid" data-testid="preview">
            <thead>
                <tr>
                    <th scope="col">"#"</th>
                    <th scope="col">{t!(i18n, licenses.license_type)}</th>
                    <th scope="col">{t!(i18n, licenses.product)}</th>
                    <th scope="col">{t!(i18n, licenses.mode)}</th>
                    <th scope="col">{t!(i18n, licenses.effect)}</th>
                    <th scope="col">{t!(i18n, licenses.certificate_id)}</th>
                </tr>
            </thead>
            <tbody>
                {preview
                    .items
                    .into_iter()
                    .map(|item| {
                        let revokes = item.revokes as i32;
                        view! {
                            <tr>
                                <td>{item.block}</td>
                                <td><LicenseTypeName license_type=item.license_type /></td>
                                <td>{item.product_name}</td>
                                <td><ModeName mode=item.mode /></td>
                                <td>
                                    <EffectText effect=item.effect count=1 />
                                    {(revokes > 0).then(|| view! {
                                        <div class="sub">{t!(i18n, licenses.revokes, count = move || revokes)}</div>
                                    })}
                                </td>
                                <td><code class="sub">{item.id}</code></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        {(more > 0).then(|| {
            let more = more as i32;
            view! { <p class="muted">{t!(i18n, licenses.preview_more, count = move || more)}</p> }
        })}
        <ActionForm action=confirm attr:class="confirm-bar">
            <input type="hidden" name="id" value=id />
            <button type="submit" class="button-primary">{t!(i18n, licenses.confirm)}</button>
            <a href="/settings/licenses/upload" class="button-quiet">{t!(i18n, licenses.cancel)}</a>
        </ActionForm>
        {move || error().map(|err| view! { <ErrorMessage err /> })}
    }
}

/// What a certificate (or `count` alike) will do, in words.
#[component]
fn EffectText(effect: Effect, count: usize) -> impl IntoView {
    let i18n = use_i18n();
    let n = count as i32;
    match effect {
        Effect::AlreadyInstalled => t!(i18n, effects.already_installed, count = move || n).into_any(),
        Effect::ArrivesRevoked => t!(i18n, effects.arrives_revoked, count = move || n).into_any(),
        Effect::ExtendsTenant { tenant, until, unlimited_agents } => {
            view! {
                {match until {
                    Expiry::Never => t!(i18n, effects.tenant_permanent, tenant = move || tenant.clone()).into_any(),
                    Expiry::At(ms) => t!(
                        i18n,
                        effects.extends_tenant,
                        tenant = move || tenant.clone(),
                        date = move || format_date_ms(i18n.get_locale(), ms)
                    ).into_any(),
                }}
                {unlimited_agents.then(|| view! { " " {t!(i18n, effects.unlimited_agents)} })}
            }
            .into_any()
        }
        Effect::ExtendsTenantFrom { tenant, from, unlimited_agents } => view! {
            {t!(
                i18n,
                effects.extends_tenant_from,
                tenant = move || tenant.clone(),
                date = move || format_date_ms(i18n.get_locale(), from)
            )}
            {unlimited_agents.then(|| view! { " " {t!(i18n, effects.unlimited_agents)} })}
        }
        .into_any(),
        Effect::AwaitsTenant { .. } => t!(i18n, effects.awaits_tenant, count = move || n).into_any(),
        Effect::AddsAgentLicense { binding: Binding::Fixed } => {
            t!(i18n, effects.adds_fixed_agents, count = move || n).into_any()
        }
        Effect::AddsAgentLicense { binding: Binding::Floating } => {
            t!(i18n, effects.adds_floating_agents, count = move || n).into_any()
        }
        Effect::AddsSeats { seats } => {
            let seats = seats as i32;
            t!(i18n, effects.adds_seats, count = move || seats).into_any()
        }
        Effect::UnlocksFeature { feature, until } => match until {
            Expiry::Never => t!(i18n, effects.unlocks_feature_permanent, feature = move || feature.clone()).into_any(),
            Expiry::At(ms) => t!(
                i18n,
                effects.unlocks_feature,
                feature = move || feature.clone(),
                date = move || format_date_ms(i18n.get_locale(), ms)
            )
            .into_any(),
        },
        Effect::UnlocksFeatureFrom { feature, from } => t!(
            i18n,
            effects.unlocks_feature_from,
            feature = move || feature.clone(),
            date = move || format_date_ms(i18n.get_locale(), from)
        )
        .into_any(),
    }
}

#[component]
fn RefusalView(file_name: String, refusal: PackageRefusal) -> impl IntoView {
    let i18n = use_i18n();
    // The page of a refused package answers with the refusal's status, as the upload did.
    crate::ui::set_status(if matches!(refusal, PackageRefusal::TooLarge { .. }) {
        413
    } else {
        422
    });
    let body = match refusal {
        PackageRefusal::Empty => t!(i18n, refusals.empty).into_any(),
        PackageRefusal::TooLarge { limit_bytes } => {
            let mib = format!("{:.1}", limit_bytes as f64 / 1_048_576.0);
            t!(i18n, refusals.too_large, limit = move || mib.clone()).into_any()
        }
        PackageRefusal::TooManyCertificates { limit } => {
            t!(i18n, refusals.over_count, limit = move || limit).into_any()
        }
        PackageRefusal::NotText => t!(i18n, refusals.not_text).into_any(),
        PackageRefusal::NoCertificates => t!(i18n, refusals.no_certificates).into_any(),
        PackageRefusal::NoTrustedKeys => t!(i18n, licenses.upload_no_keys).into_any(),
        PackageRefusal::BadCertificates { blocks } => view! {
            {t!(i18n, refusals.bad_certificates)}
            <ul class="refusals" data-testid="refusals">
                {blocks.into_iter().map(|b| view! { <BlockRefusalView refusal=b /> }).collect_view()}
            </ul>
        }
        .into_any(),
    };
    view! {
        <div class="error" role="alert" data-testid="refusal">
            <p><strong>{file_name}</strong> ": " {t!(i18n, refusals.refused)}</p>
            <div>{body}</div>
        </div>
        <p>
            <a href="/settings/licenses/upload" class="button-quiet">{t!(i18n, licenses.try_another)}</a>
        </p>
    }
}

#[component]
fn BlockRefusalView(refusal: BlockRefusal) -> impl IntoView {
    let i18n = use_i18n();
    let block = refusal.block;
    let id = refusal.id.unwrap_or_else(|| "—".to_string());
    let reason = match refusal.refusal {
        Refusal::Malformed { detail } => {
            t!(i18n, refusals.malformed, detail = move || detail.clone()).into_any()
        }
        Refusal::UnsupportedAlgorithm { alg } => t!(
            i18n,
            refusals.unsupported_algorithm,
            alg = move || alg.clone()
        )
        .into_any(),
        Refusal::UnknownKey { kid } => {
            t!(i18n, refusals.unknown_key, kid = move || kid.clone()).into_any()
        }
        Refusal::BadSignature => t!(i18n, refusals.bad_signature).into_any(),
        Refusal::UnsupportedFormat { format } => {
            t!(i18n, refusals.unsupported_format, format = move || format).into_any()
        }
        Refusal::OtherInstallation => t!(i18n, refusals.other_installation).into_any(),
        Refusal::InvalidCertificate { detail } => t!(
            i18n,
            refusals.invalid_certificate,
            detail = move || detail.clone()
        )
        .into_any(),
        Refusal::AlreadyExpired { not_after } => t!(
            i18n,
            refusals.already_expired,
            date = move || not_after.clone()
        )
        .into_any(),
        Refusal::DuplicateInPackage => t!(i18n, refusals.duplicate).into_any(),
    };
    view! {
        <li>
            {t!(i18n, refusals.block, block = move || block, id = move || id.clone())}
            ": "
            {reason}
        </li>
    }
}

/// The clock warning on Settings > Licenses.
#[component]
pub fn ClockWarningNote(warning: ClockWarning) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <p class="error" role="alert" data-testid="clock-warning">
            {t!(
                i18n,
                expiry.clock_warning,
                system = move || format_time_ms(i18n.get_locale(), warning.system_ms),
                seen = move || format_time_ms(i18n.get_locale(), warning.seen_ms)
            )}
        </p>
    }
}
