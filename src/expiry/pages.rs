//! What people see of expiry: the bell and the banner in the header, the notifications page,
//! and the renewal page of a lapsed tenant.
use leptos::prelude::*;

use super::api::{MarkRead, get_alerts, list_notifications};
use super::model::{Reminder, SubjectKind};
use crate::i18n::*;
use crate::ui::dates::{format_date_ms, format_time_ms};
use crate::ui::errors::ErrorMessage;
use crate::ui::names::LicenseTypeName;

/// The header's alerts, asked once per page for the bell and the banner.
#[derive(Clone, Copy)]
pub struct PageAlerts(Resource<Result<super::model::Alerts, crate::error::AppError>>);

/// Asks for the alerts of the page being rendered; call once, in the application.
pub fn provide_alerts() {
    provide_context(PageAlerts(Resource::new(|| (), |_| get_alerts())));
}

/// The bell, with how many reminders are unread; in the header of every page.
#[component]
pub fn Bell() -> impl IntoView {
    let i18n = use_i18n();
    let PageAlerts(alerts) = expect_context::<PageAlerts>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let unread = alerts.await.map(|a| a.unread).unwrap_or_default();
                (unread > 0)
                    .then(|| {
                        view! {
                            <a
                                class="bell"
                                href="/settings/notifications"
                                aria-label=move || {
                                    t_string!(i18n, expiry.bell_unread, count = unread as i64)
                                        .to_string()
                                }
                            >
                                <svg
                                    class="bell-icon"
                                    viewBox="0 0 24 24"
                                    width="18"
                                    height="18"
                                    aria-hidden="true"
                                >
                                    <path
                                        fill="currentColor"
                                        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z"
                                    />
                                </svg>
                                <span class="bell-count" data-testid="bell-count">{unread}</span>
                            </a>
                        }
                    })
            })}
        </Transition>
    }
}

/// For Administrators, under the header of every page: what expires soon, and when.
#[component]
pub fn Banner() -> impl IntoView {
    let i18n = use_i18n();
    let PageAlerts(alerts) = expect_context::<PageAlerts>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let banner = alerts.await.map(|a| a.banner).unwrap_or_default();
                (!banner.is_empty())
                    .then(|| {
                        view! {
                            <div
                                class="banner"
                                role="region"
                                data-testid="expiry-banner"
                                aria-label=move || t_string!(i18n, expiry.banner_title).to_string()
                            >
                                <strong>{t!(i18n, expiry.banner_title)}</strong>
                                <ul>
                                    {banner
                                        .into_iter()
                                        .map(|r| view! { <li><ReminderText reminder=r /></li> })
                                        .collect_view()}
                                </ul>
                                <a href="/settings/notifications">{t!(i18n, expiry.see_all)}</a>
                            </div>
                        }
                    })
            })}
        </Transition>
    }
}

/// "Platform license of tenant Default expires on December 10, 2026".
#[component]
fn ReminderText(reminder: Reminder) -> impl IntoView {
    let i18n = use_i18n();
    let name = reminder.subject_name.clone();
    let what = match reminder.subject_kind {
        SubjectKind::TenantPlatform => {
            t!(i18n, expiry.platform_of, name = move || name.clone()).into_any()
        }
        SubjectKind::TenantUnlimitedAgents => {
            t!(i18n, expiry.unlimited_of, name = move || name.clone()).into_any()
        }
        SubjectKind::Certificate => view! {
            {name}
            " ("
            <LicenseTypeName license_type=reminder.license_type />
            ")"
        }
        .into_any(),
        SubjectKind::Shortage => {
            let (hour, count) = (reminder.expires_at, reminder.refusals.unwrap_or(0) as i64);
            return view! {
                <span class="reminder">
                    {t!(
                        i18n,
                        expiry.shortage,
                        name = move || name.clone(),
                        count = move || count,
                        time = move || format_time_ms(i18n.get_locale(), hour)
                    )}
                </span>
            }
            .into_any();
        }
    };
    let expires = reminder.expires_at;
    view! {
        <span class="reminder">
            {what}
            " "
            {t!(i18n, expiry.expires_on, date = move || format_date_ms(i18n.get_locale(), expires))}
        </span>
    }
    .into_any()
}

/// Settings > Notifications: every reminder, newest first; mark one or all as read.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let i18n = use_i18n();
    let mark = ServerAction::<MarkRead>::new();
    let page = Resource::new(move || mark.version().get(), |_| list_notifications());
    view! {
        <div class="page wide">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " > "
                <span>{t!(i18n, expiry.title)}</span>
            </nav>
            <h1>{t!(i18n, expiry.title)}</h1>
            {move || mark.value().get().and_then(Result::err).map(|err| view! { <ErrorMessage err /> })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(err) => view! { <ErrorMessage err /> }.into_any(),
                        Ok(n) if n.reminders.is_empty() => {
                            view! { <p class="empty">{t!(i18n, expiry.none)}</p> }.into_any()
                        }
                        Ok(n) => {
                            view! {
                                {(n.unread > 0)
                                    .then(|| {
                                        view! {
                                            <ActionForm action=mark attr:class="confirm-bar">
                                                <button type="submit" class="button-quiet">
                                                    {t!(i18n, expiry.mark_all_read)}
                                                </button>
                                            </ActionForm>
                                        }
                                    })}
                                <ul class="notifications" data-testid="notifications">
                                    {n
                                        .reminders
                                        .into_iter()
                                        .map(|r| view! { <NotificationItem reminder=r mark /> })
                                        .collect_view()}
                                </ul>
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
fn NotificationItem(reminder: Reminder, mark: ServerAction<MarkRead>) -> impl IntoView {
    let i18n = use_i18n();
    let (id, read, made, days) = (
        reminder.id.clone(),
        reminder.read,
        reminder.made_at,
        reminder.days_before,
    );
    // A shortage alert is not a reminder of an expiry some days ahead.
    let ahead = reminder.subject_kind != SubjectKind::Shortage;
    view! {
        <li class:unread=!read>
            <ReminderText reminder />
            <span class="muted">
                {ahead
                    .then(|| {
                        view! {
                            " · "
                            {t!(i18n, expiry.days_before, count = move || days)}
                        }
                    })}
                " · "
                {move || format_time_ms(i18n.get_locale(), made)}
            </span>
            {(!read)
                .then(|| {
                    view! {
                        <ActionForm action=mark attr:class="inline">
                            <input type="hidden" name="id" value=id />
                            <button type="submit" class="button-quiet">
                                {t!(i18n, expiry.mark_read)}
                            </button>
                        </ActionForm>
                    }
                })}
        </li>
    }
}

/// Shown instead of any page but Settings > Licenses while the viewer's tenant's platform
/// license has lapsed.
#[component]
pub fn RenewalPage(expired_at: i64, can_upload: bool) -> impl IntoView {
    let i18n = use_i18n();
    crate::ui::set_status(403);
    view! {
        <div class="page narrow status-page renewal" data-testid="renewal">
            <h1>{t!(i18n, expiry.renewal_title)}</h1>
            <p>
                {t!(
                    i18n,
                    expiry.renewal_body,
                    date = move || format_date_ms(i18n.get_locale(), expired_at)
                )}
            </p>
            {if can_upload {
                view! {
                    <p>
                        <a class="button-primary" href="/settings/licenses/upload">
                            {t!(i18n, expiry.renewal_upload)}
                        </a>
                    </p>
                }
                    .into_any()
            } else {
                view! { <p>{t!(i18n, expiry.renewal_ask)}</p> }.into_any()
            }}
        </div>
    }
}
