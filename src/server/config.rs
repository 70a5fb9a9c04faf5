//! Configuration from the environment (PRODUCT.md, "How it runs"). A wrong value stops start-up
//! with one line that names the variable and what is wrong with it.
use std::net::SocketAddr;
use std::path::PathBuf;

/// When the session cookie is marked `Secure`, so that a browser never sends it over plain HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookies {
    /// When the request came over HTTPS: as a TLS-terminating proxy says with
    /// `X-Forwarded-Proto: https` or `Forwarded: proto=https`.
    Auto,
    /// Always (a proxy that does not say).
    Always,
    /// Never (plain HTTP on a trusted network).
    Never,
}

impl SecureCookies {
    pub fn for_request(self, headers: &http::HeaderMap) -> bool {
        match self {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => {
                let says_https = |name: &str, f: fn(&str) -> bool| {
                    headers
                        .get_all(name)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .any(f)
                };
                says_https("x-forwarded-proto", |v| {
                    v.split(',')
                        .next()
                        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
                }) || says_https("forwarded", |v| {
                    v.split([';', ','])
                        .filter_map(|pair| pair.trim().split_once('='))
                        .any(|(k, p)| {
                            k.eq_ignore_ascii_case("proto")
                                && p.trim_matches('"').eq_ignore_ascii_case("https")
                        })
                })
            }
        }
    }
}

pub use crate::usage::UsageRetention;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub site_addr: SocketAddr,
    /// Where the compiled client (pkg/) and public assets are served from.
    pub site_root: String,
    /// The PEM text of the trusted vendor public keys, if configured.
    pub vendor_keys_pem: Option<String>,
    /// Where license requests go: the vendor's licensing address and portal, if configured
    /// (`TESSERA_VENDOR_EMAIL`, `TESSERA_VENDOR_URL`).
    pub vendor_contact: crate::licenses::model::VendorContact,
    pub admin_password: Option<String>,
    /// When the session cookie is marked `Secure`.
    pub secure_cookies: SecureCookies,
    /// How long a session lasts, in seconds.
    pub session_ttl_secs: i64,
    /// How long a session may go unused before it ends, in seconds.
    pub session_idle_secs: i64,
    /// The largest license package accepted, in bytes.
    pub max_package_bytes: u64,
    /// The most certificates one package may hold.
    pub max_certificates: u64,
    /// How long usage history is kept, per span.
    pub usage_retention: UsageRetention,
    /// More refused checkouts than this in an hour for want of a free license make a tenant's
    /// shortage alert (`TESSERA_SHORTAGE_REFUSALS`, default 10).
    pub shortage_refusals: u64,
    /// Where reminders are posted as signed JSON, if anywhere.
    pub webhook: Option<WebhookConfig>,
    /// `TESSERA_TEST_CLOCK=1`: mount `POST /__test/clock` (Administrators move the clock). Only
    /// a build with the cargo feature `test-clock` has that route; any other ignores this.
    pub test_clock: bool,
    /// `TESSERA_TRUSTED_PROXIES`: the reverse proxies (addresses or blocks, comma-separated)
    /// whose `X-Forwarded-For` names the client. Empty: the client is the socket's address, and
    /// the header is ignored (anyone could write it).
    pub trusted_proxies: Vec<super::client::Cidr>,
    /// `TESSERA_METRICS=1`: `/metrics` answers (Prometheus' text format); off, it is 404.
    pub metrics: bool,
    /// `TESSERA_METRICS_TOKEN`: the bearer token `/metrics` asks for, if any.
    pub metrics_token: Option<Token>,
}

/// A secret the configuration holds; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl std::ops::Deref for Token {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(hidden)")
    }
}

/// `TESSERA_WEBHOOK_URL` and the `TESSERA_WEBHOOK_SECRET` its deliveries are signed with.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for WebhookConfig {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn err(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/tessera.db";

/// An e-mail address a `mailto:` link can name as it is: one `@` between a plain name and a
/// domain, at most 254 characters (RFC 5321's longest path). Not every address RFC 5322 allows:
/// a vendor's licensing address is a plain one.
fn check_email(e: &str) -> Result<String, String> {
    // Letters, digits and `._+-` in the name, letters, digits, `.` and `-` in the domain: nothing
    // a `mailto:` link would have to escape.
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
    };
    let domain_ok = |s: &str| {
        s.contains('.')
            && !s.starts_with('.')
            && !s.ends_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    };
    let plain = e.len() <= 254
        && matches!(e.split_once('@'), Some((name, domain)) if name_ok(name) && domain_ok(domain));
    if plain {
        Ok(e.to_string())
    } else {
        Err(format!(
            "{e:?} is not an e-mail address such as licensing@vendor.example"
        ))
    }
}

/// A web address people open in a browser: http:// or https://.
fn check_web_address(u: &str) -> Result<String, String> {
    match url::Url::parse(u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(parsed.to_string()),
        Ok(_) => Err(format!("{u:?} must start with http:// or https://")),
        Err(e) => Err(format!("{u:?} is not a web address: {e}")),
    }
}

impl Config {
    /// Reads configuration through `get`: the command line's settings (each a flag or its
    /// environment variable, `main.rs`), or a test's own variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let database_url = get("TESSERA_DATABASE_URL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        check_database_url(&database_url)?;

        let site_addr = match get("LEPTOS_SITE_ADDR").filter(|s| !s.is_empty()) {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(s) => s.parse().map_err(|_| {
                err(
                    "LEPTOS_SITE_ADDR",
                    format!("cannot parse {s:?}: expected an address such as 127.0.0.1:3000"),
                )
            })?,
        };

        let vendor_keys_pem = match get("TESSERA_VENDOR_KEYS").filter(|s| !s.is_empty()) {
            None => None,
            Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                err(
                    "TESSERA_VENDOR_KEYS",
                    format!("cannot read the key file {path:?}: {e}"),
                )
            })?),
        };

        let vendor_contact = crate::licenses::model::VendorContact {
            email: match get("TESSERA_VENDOR_EMAIL").map(|s| s.trim().to_string()) {
                None => None,
                Some(e) if e.is_empty() => None,
                Some(e) => Some(check_email(&e).map_err(|why| err("TESSERA_VENDOR_EMAIL", why))?),
            },
            url: match get("TESSERA_VENDOR_URL").map(|s| s.trim().to_string()) {
                None => None,
                Some(u) if u.is_empty() => None,
                Some(u) => {
                    Some(check_web_address(&u).map_err(|why| err("TESSERA_VENDOR_URL", why))?)
                }
            },
        };

        let admin_password = get("TESSERA_ADMIN_PASSWORD").filter(|s| !s.is_empty());
        if let Some(p) = &admin_password {
            crate::auth::model::validate_new_password(p).map_err(|_| {
                err(
                    "TESSERA_ADMIN_PASSWORD",
                    "too short: use at least 8 characters",
                )
            })?;
        }

        let secure_cookies = match get("TESSERA_SECURE_COOKIES").as_deref() {
            None | Some("") | Some("auto") => SecureCookies::Auto,
            Some("false") | Some("0") => SecureCookies::Never,
            Some("true") | Some("1") => SecureCookies::Always,
            Some(other) => {
                return Err(err(
                    "TESSERA_SECURE_COOKIES",
                    format!("{other:?} is not auto, true or false"),
                ));
            }
        };

        // A whole number of `unit` in `range`, or `default` when unset.
        let within = |name: &'static str,
                      default: i64,
                      range: std::ops::RangeInclusive<i64>,
                      unit: &str|
         -> Result<i64, ConfigError> {
            match get(name).filter(|s| !s.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        err(
                            name,
                            format!(
                                "{v:?} is not a number of {unit} between {} and {}",
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
            }
        };
        let session_ttl_secs = within("TESSERA_SESSION_HOURS", 12, 1..=24 * 30, "hours")? * 3600;
        // Up to the longest session (720 hours): past its session's end, it changes nothing.
        let session_idle_secs =
            within("TESSERA_SESSION_IDLE_MINUTES", 30, 1..=720 * 60, "minutes")? * 60;
        let shortage_refusals = within(
            "TESSERA_SHORTAGE_REFUSALS",
            10,
            0..=1_000_000_000,
            "refusals",
        )?;
        let usage_retention = UsageRetention {
            events_days: within("TESSERA_USAGE_EVENTS_DAYS", 90, 2..=36_500, "days")?,
            // At least two days: the day's rollup counts distinct agents from the minutes.
            minutes_days: within("TESSERA_USAGE_MINUTES_DAYS", 14, 2..=3_650, "days")?,
            hours_days: within("TESSERA_USAGE_HOURS_DAYS", 400, 2..=36_500, "days")?,
            days_days: match within("TESSERA_USAGE_DAYS_DAYS", 0, 0..=365_000, "days")? {
                0 => None,
                d => Some(d),
            },
        };

        let positive = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name).filter(|s| !s.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| err(name, format!("{v:?} is not a positive whole number"))),
            }
        };
        let max_package_bytes = positive("TESSERA_MAX_PACKAGE_BYTES", 8 * 1024 * 1024)?;
        let max_certificates = positive("TESSERA_MAX_CERTIFICATES", 20_000)?;

        let webhook = match get("TESSERA_WEBHOOK_URL").filter(|s| !s.is_empty()) {
            None => None,
            Some(u) => {
                let parsed = url::Url::parse(&u)
                    .map_err(|e| err("TESSERA_WEBHOOK_URL", format!("{u:?} is not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(err(
                        "TESSERA_WEBHOOK_URL",
                        format!("{u:?} is not an http:// or https:// URL"),
                    ));
                }
                let secret = get("TESSERA_WEBHOOK_SECRET")
                    .filter(|s| s.len() >= 16)
                    .ok_or_else(|| {
                        err(
                            "TESSERA_WEBHOOK_SECRET",
                            "needed with TESSERA_WEBHOOK_URL: at least 16 characters to sign deliveries with",
                        )
                    })?;
                Some(WebhookConfig { url: u, secret })
            }
        };
        let test_clock = get("TESSERA_TEST_CLOCK").as_deref() == Some("1");
        let metrics = match get("TESSERA_METRICS").as_deref() {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(err(
                    "TESSERA_METRICS",
                    format!("{other:?} is not true or false (1 or 0)"),
                ));
            }
        };
        let metrics_token = match get("TESSERA_METRICS_TOKEN").filter(|s| !s.is_empty()) {
            None => None,
            Some(t) if t.len() >= 16 && t.bytes().all(|b| b.is_ascii_graphic()) => Some(Token(t)),
            Some(_) => {
                return Err(err(
                    "TESSERA_METRICS_TOKEN",
                    "use 16 or more printable characters, without spaces",
                ));
            }
        };
        let trusted_proxies = super::client::parse_list(
            &get("TESSERA_TRUSTED_PROXIES").unwrap_or_default(),
        )
        .map_err(|bad| {
            err(
                "TESSERA_TRUSTED_PROXIES",
                format!(
                    "{bad:?} is not an IP address or block: list the proxies' addresses, e.g. 10.0.0.5,fd00::/8"
                ),
            )
        })?;

        Ok(Config {
            metrics,
            metrics_token,
            webhook,
            test_clock,
            trusted_proxies,
            max_package_bytes,
            max_certificates,
            database_url,
            site_addr,
            site_root: get("LEPTOS_SITE_ROOT")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "target/site".to_string()),
            vendor_keys_pem,
            vendor_contact,
            admin_password,
            secure_cookies,
            session_ttl_secs,
            session_idle_secs,
            usage_retention,
            shortage_refusals: u64::try_from(shortage_refusals).unwrap_or(10),
        })
    }

    /// The SQLite file's folder, to create before connecting.
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        self.sqlite_file()?
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
    }

    /// The SQLite database's file, if the database is SQLite on a file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let path = self.database_url.strip_prefix("sqlite://")?;
        let path = path.split('?').next().unwrap_or(path);
        (!path.is_empty() && !path.starts_with(':')).then(|| PathBuf::from(path))
    }
}

fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let name = "TESSERA_DATABASE_URL";
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() || path.starts_with('?') {
            return Err(err(
                name,
                "sqlite:// needs a file path, e.g. sqlite://data/tessera.db",
            ));
        }
        return Ok(());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return url::Url::parse(url)
            .map(|_| ())
            .map_err(|e| err(name, format!("cannot parse the PostgreSQL URL: {e}")));
    }
    Err(err(
        name,
        "cannot parse: expected sqlite://PATH or postgres://USER@HOST/DATABASE",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_cookie_is_secure_when_the_proxy_says_https_or_when_told() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, http::HeaderValue::from_static(v));
            }
            h
        };
        let auto = SecureCookies::Auto;
        assert!(!auto.for_request(&headers(&[])));
        assert!(auto.for_request(&headers(&[("x-forwarded-proto", "https")])));
        assert!(auto.for_request(&headers(&[("x-forwarded-proto", "HTTPS, http")])));
        assert!(!auto.for_request(&headers(&[("x-forwarded-proto", "http")])));
        assert!(auto.for_request(&headers(&[("forwarded", "for=1.2.3.4;proto=https")])));
        assert!(auto.for_request(&headers(&[("forwarded", "proto=\"https\"")])));
        assert!(!auto.for_request(&headers(&[("forwarded", "proto=http")])));
        assert!(SecureCookies::Always.for_request(&headers(&[])));
        assert!(!SecureCookies::Never.for_request(&headers(&[("x-forwarded-proto", "https")])));
        assert_eq!(
            config(&[("TESSERA_SECURE_COOKIES", "true")])
                .map(|c| c.secure_cookies)
                .ok(),
            Some(SecureCookies::Always)
        );
        assert_eq!(
            config(&[("TESSERA_SECURE_COOKIES", "false")])
                .map(|c| c.secure_cookies)
                .ok(),
            Some(SecureCookies::Never)
        );
    }

    #[test]
    fn defaults_to_sqlite_under_data_on_port_3000() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.sqlite_dir(), Some(PathBuf::from("data")));
        assert!(c.vendor_keys_pem.is_none());
        assert_eq!(c.secure_cookies, SecureCookies::Auto);
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(
            (c.session_ttl_secs, c.session_idle_secs),
            (12 * 3600, 30 * 60)
        );
    }

    #[test]
    fn the_vendor_contact_is_an_e_mail_address_and_a_web_address() {
        let c = config(&[
            ("TESSERA_VENDOR_EMAIL", " licensing@vendor.example "),
            (
                "TESSERA_VENDOR_URL",
                "https://portal.vendor.example/licenses",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.vendor_contact.email.as_deref(),
            Some("licensing@vendor.example")
        );
        assert_eq!(
            c.vendor_contact.url.as_deref(),
            Some("https://portal.vendor.example/licenses")
        );
        assert_eq!(config(&[]).unwrap().vendor_contact, Default::default());
        for bad in [
            "licensing",
            "a@b",
            "a b@vendor.example",
            "@vendor.example",
            "a@@vendor.example",
        ] {
            let e = config(&[("TESSERA_VENDOR_EMAIL", bad)]).unwrap_err();
            assert_eq!(e.variable, "TESSERA_VENDOR_EMAIL", "{bad}");
        }
        for bad in [
            "portal.vendor.example",
            "ftp://vendor.example/",
            "javascript:alert(1)",
        ] {
            let e = config(&[("TESSERA_VENDOR_URL", bad)]).unwrap_err();
            assert_eq!(e.variable, "TESSERA_VENDOR_URL", "{bad}");
        }
    }

    #[test]
    fn the_idle_timeout_is_minutes_up_to_the_longest_session() {
        let idle = |v| config(&[("TESSERA_SESSION_IDLE_MINUTES", v)]).map(|c| c.session_idle_secs);
        assert_eq!(idle("5").ok(), Some(300));
        assert_eq!(idle("43200").ok(), Some(43_200 * 60));
        for bad in ["0", "-1", "43201", "half an hour"] {
            let e = idle(bad).expect_err(bad);
            assert!(
                e.to_string().contains("TESSERA_SESSION_IDLE_MINUTES"),
                "{e}"
            );
        }
    }

    #[test]
    fn usage_history_is_kept_14_and_400_days_and_days_for_ever_unless_told() {
        let kept = |vars: &[(&str, &str)]| config(vars).map(|c| c.usage_retention);
        assert_eq!(
            kept(&[]).ok(),
            Some(UsageRetention {
                events_days: 90,
                minutes_days: 14,
                hours_days: 400,
                days_days: None
            })
        );
        let told = kept(&[
            ("TESSERA_USAGE_MINUTES_DAYS", "3"),
            ("TESSERA_USAGE_DAYS_DAYS", "3650"),
        ])
        .expect("valid");
        assert_eq!((told.minutes_days, told.days_days), (3, Some(3650)));
        for (name, bad) in [
            ("TESSERA_USAGE_MINUTES_DAYS", "1"),
            ("TESSERA_USAGE_HOURS_DAYS", "a year"),
            ("TESSERA_USAGE_DAYS_DAYS", "-1"),
        ] {
            let e = kept(&[(name, bad)]).expect_err(bad);
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_and_blocks() {
        let c = config(&[("TESSERA_TRUSTED_PROXIES", "10.0.0.5, fd00::/8,")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
    }

    #[test]
    fn each_wrong_value_names_its_variable() {
        let cases: [(&str, &str); 7] = [
            ("TESSERA_DATABASE_URL", "mysql://x"),
            ("TESSERA_DATABASE_URL", "postgres://[bad"),
            ("LEPTOS_SITE_ADDR", "localhost"),
            ("TESSERA_VENDOR_KEYS", "/nonexistent/keys.pem"),
            ("TESSERA_ADMIN_PASSWORD", "short"),
            ("TESSERA_SECURE_COOKIES", "maybe"),
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
        ];
        for (var, value) in cases {
            let e = config(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var, "{value}");
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn postgres_urls_are_accepted() {
        let c = config(&[(
            "TESSERA_DATABASE_URL",
            "postgres://postgres@127.0.0.1/tessera",
        )])
        .unwrap();
        assert_eq!(c.sqlite_dir(), None);
    }
}
