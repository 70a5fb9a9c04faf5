//! The application: the HTML shell, the routes, and who is signed in.
mod layout;
mod pages;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::agents::pages::{AgentApiPage, AgentPage, AgentsPage};
use crate::audit::pages::AuditLogPage;
use crate::auth::api::{Logout, whoami};
use crate::auth::model::Permission;
use crate::auth::pages::LoginPage;
use crate::expiry::pages::NotificationsPage;
use crate::i18n::*;
use crate::licenses::pages::{LicensesPage, RequestPage, UploadPage, UploadPreviewPage};
use crate::seats::pages::ProductPage;
use crate::tenants::pages::TenantsPage;
use crate::ui::session::Session;
use crate::usage::pages::UsagePage;
use crate::users::pages::UsersPage;
use layout::{Header, RequirePermission, SettingsLayout};
use pages::{HomePage, NotFoundPage};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let logout = ServerAction::<Logout>::new();
    let viewer = Resource::new(|| (), |_| whoami());
    provide_context(Session { logout, viewer });
    crate::expiry::pages::provide_alerts();

    view! {
        <I18nContextProvider>
            <Stylesheet id="leptos" href="/pkg/tessera.css" />
            <TitleText />
            <Router>
                <Header />
                <crate::expiry::pages::Banner />
                <main>
                    <Routes fallback=NotFoundPage>
                        <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                        <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                        <Route
                            path=path!("/account")
                            view=crate::auth::pages::AccountPage
                            ssr=SsrMode::Async
                        />
                        <ParentRoute
                            path=path!("/settings")
                            view=SettingsLayout
                            ssr=SsrMode::Async
                        >
                            <Route
                                path=path!("")
                                view=|| view! { <Redirect path="/settings/licenses" /> }
                            />
                            <Route
                                path=path!("licenses")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ViewLicenses>
                                            <LicensesPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("licenses/request")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::RequestLicenses>
                                            <RequestPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("licenses/upload")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::UploadLicenses>
                                            <UploadPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("licenses/upload/:id")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::UploadLicenses>
                                            <UploadPreviewPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("licenses/product/:product")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ViewLicenses>
                                            <ProductPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("tenants")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ManageTenants>
                                            <TenantsPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("agents")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::BindAgents>
                                            <AgentsPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("agents/:id")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::BindAgents>
                                            <AgentPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("agent-api")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::BindAgents>
                                            <AgentApiPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("notifications")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ViewLicenses>
                                            <NotificationsPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("users")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ManageSeats>
                                            <UsersPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("usage")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ViewUsage>
                                            <UsagePage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                            <Route
                                path=path!("audit")
                                view=|| {
                                    view! {
                                        <RequirePermission permission=Permission::ViewAudit>
                                            <AuditLogPage />
                                        </RequirePermission>
                                    }
                                }
                                ssr=SsrMode::Async
                            />
                        </ParentRoute>
                    </Routes>
                </main>
            </Router>
        </I18nContextProvider>
    }
}

#[component]
fn TitleText() -> impl IntoView {
    let i18n = use_i18n();
    // A plain string, read once: a reactive title is rendered into <head> after the page's
    // reactive owner may be gone, which panicked about once in a hundred concurrent page loads
    // (the soak found it). The language changes by reloading the page, so nothing is lost.
    let title = untrack(|| t_string!(i18n, app.title).to_string());
    view! { <Title text=title /> }
}
