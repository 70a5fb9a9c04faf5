//! The console's language: chosen per user, else Accept-Language, else English; rendered on the
//! server in it.
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;

use crate::on_both_databases;
use crate::support::{Backend, TestApp, password_of};

async fn login_page_text(
    app: &TestApp,
    accept_language: Option<&str>,
    cookie: Option<&str>,
) -> String {
    let mut req = app
        .client()
        .get(format!("{}/login", app.base))
        .header("accept", "text/html");
    if let Some(al) = accept_language {
        req = req.header("accept-language", al);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap().text().await.unwrap()
}

async fn a_new_visitor_gets_the_browsers_language_else_english(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ru = login_page_text(&app, Some("ru-RU,ru;q=0.9,en;q=0.8"), None).await;
    assert!(ru.contains("Вход в Tessera"), "{ru}");
    assert!(ru.contains(r#"lang="ru""#));
    let en = login_page_text(&app, Some("de-DE,de;q=0.9"), None).await;
    assert!(en.contains("Sign in to Tessera"));
    let en = login_page_text(&app, None, None).await;
    assert!(en.contains("Sign in to Tessera"));
    // A choice made in this browser wins over the header.
    let chosen = login_page_text(&app, Some("ru"), Some("i18n_pref_locale=en")).await;
    assert!(chosen.contains("Sign in to Tessera"));
    app.stop().await;
}

async fn the_chosen_language_follows_the_user_to_another_browser(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin().await;
    app.create_user(&admin, "olga", "user").await;
    let olga = app.sign_in("olga", &password_of("olga")).await;
    let r = app.call(&olga, "language", &[("locale", "ru")]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("i18n_pref_locale=ru")
    );

    // Another browser: signing in brings the choice along, and pages render in it.
    let elsewhere = app.client();
    let r = app
        .call(
            &elsewhere,
            "login",
            &[("user_name", "olga"), ("password", &password_of("olga"))],
        )
        .await;
    assert_eq!(r.body, "ru");
    let cookies: Vec<_> = r.headers.get_all(SET_COOKIE).iter().collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("i18n_pref_locale=ru"))
    );
    let page = app.get(&elsewhere, "/").await.text().await.unwrap();
    assert!(page.contains("<p>Вы вошли как "), "{page}");
    assert!(page.contains(r#"lang="ru""#));

    // An unknown language is a 400 naming the field, and changes nothing.
    let r = app.call(&olga, "language", &[("locale", "xx")]).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("language"))
    );
    app.stop().await;
}

on_both_databases!(
    a_new_visitor_gets_the_browsers_language_else_english,
    the_chosen_language_follows_the_user_to_another_browser,
);
