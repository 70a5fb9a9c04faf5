//! Who may do what: the roles, their permissions, and the rules for names and passwords.
//! This is the one place that says what each role may do.
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Field, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Administrator,
    /// Holds the `CanManageLicUsers` permission.
    LicenseManager,
    User,
}

/// Everything a role can be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// See Settings > Licenses and the licenses in it.
    ViewLicenses,
    /// Make a license request for the vendor.
    RequestLicenses,
    /// Upload signed packages.
    UploadLicenses,
    /// Delete licenses (back to demo mode).
    DeleteLicenses,
    /// Give personal seats to users and recall them.
    ManageSeats,
    /// Bind agent licenses to agents, shut agents down.
    BindAgents,
    /// Create users, change their role, disable them, reset passwords.
    ManageUsers,
    /// Create, rename and delete tenants; assign platform licenses.
    ManageTenants,
    /// Delete agents (the licenses bound to them end).
    DeleteAgents,
    /// Read the audit log and export it.
    ViewAudit,
    /// Read usage history and export it (a License manager: their tenant's).
    ViewUsage,
    /// Move the server's clock: only in a build with the `test-clock` feature, for the browser
    /// tests (the route does not exist otherwise).
    MoveTestClock,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::ViewLicenses,
        Permission::RequestLicenses,
        Permission::UploadLicenses,
        Permission::DeleteLicenses,
        Permission::ManageSeats,
        Permission::BindAgents,
        Permission::ManageUsers,
        Permission::ManageTenants,
        Permission::DeleteAgents,
        Permission::ViewAudit,
        Permission::ViewUsage,
        Permission::MoveTestClock,
    ];
}

impl Permission {
    /// Settings > Licenses keeps working when a tenant's platform license has expired, so that
    /// a new one can be requested and uploaded; every other management operation is refused.
    /// (The browser tests move the clock past an expiry and on.)
    pub const fn works_while_platform_expired(self) -> bool {
        matches!(
            self,
            Permission::ViewLicenses
                | Permission::RequestLicenses
                | Permission::UploadLicenses
                | Permission::DeleteLicenses
                | Permission::ViewUsage
                | Permission::MoveTestClock
        )
    }
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Administrator, Role::LicenseManager, Role::User];

    /// The single table of what each role may do.
    pub const fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Administrator => true,
            Role::LicenseManager => {
                matches!(
                    permission,
                    ViewLicenses | ManageSeats | BindAgents | ViewUsage
                )
            }
            Role::User => false,
        }
    }

    pub const fn can_view_licenses(self) -> bool {
        self.allows(Permission::ViewLicenses)
    }

    pub const fn can_manage_users(self) -> bool {
        self.allows(Permission::ManageUsers)
    }

    pub const fn can_upload(self) -> bool {
        self.allows(Permission::UploadLicenses)
    }

    pub const fn can_manage_seats(self) -> bool {
        self.allows(Permission::ManageSeats)
    }

    /// Whether the Settings area has anything for this role.
    pub const fn sees_settings(self) -> bool {
        self.can_view_licenses() || self.can_manage_users()
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::LicenseManager => "license_manager",
            Role::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The signed-in person, as the pages and server functions see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub tenant_id: String,
    /// When the platform license of the viewer's tenant expired, if it has and nothing renewed
    /// it: every page but Settings > Licenses shows the renewal page, and every management
    /// operation is refused, until a new license is uploaded.
    pub platform_expired_at: Option<i64>,
    /// The IANA time zone the viewer reads times in (Your account); `None`: UTC.
    pub time_zone: Option<String>,
}

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;
pub const USER_NAME_MAX: usize = 64;

/// A user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`, trimmed.
pub fn validate_user_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid(Field::UserName, Problem::Required));
    }
    if name.chars().count() > USER_NAME_MAX {
        return Err(AppError::invalid(
            Field::UserName,
            Problem::TooLong {
                max: USER_NAME_MAX as u32,
            },
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(AppError::invalid(Field::UserName, Problem::BadCharacters));
    }
    Ok(name.to_string())
}

/// A password for a new or reset account: at least 8 characters, at most 256.
pub fn validate_new_password(password: &str) -> Result<(), AppError> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(AppError::invalid(
            Field::Password,
            Problem::TooShort {
                min: PASSWORD_MIN as u32,
            },
        ));
    }
    if len > PASSWORD_MAX {
        return Err(AppError::invalid(
            Field::Password,
            Problem::TooLong {
                max: PASSWORD_MAX as u32,
            },
        ));
    }
    Ok(())
}

/// Where to go after signing in: `next` if it is a path on this site, else the role's start page.
/// Server only: it parses with the `url` crate, which the WASM client does not carry.
#[cfg(feature = "ssr")]
pub fn safe_next(next: Option<&str>, role: Role) -> String {
    match next.and_then(same_site_path) {
        Some(path) => path,
        None if role.can_view_licenses() => "/settings/licenses".to_string(),
        None => "/".to_string(),
    }
}

/// The longest `next` kept; a longer one is not a page of this site.
#[cfg(feature = "ssr")]
pub const NEXT_MAX: usize = 2048;

/// `next` as a path (with its query and fragment) on this site, or `None`. Browsers forgive a
/// lot in a `Location` (they drop tabs and newlines, read `\` as `/`, and take `//host` as
/// another site), so the text must first be plain: one leading `/`, no white space, no control
/// character, no backslash. Then it is resolved against an origin of our own, and must stay on
/// it; what is answered is the resolved path, as the parser wrote it.
#[cfg(feature = "ssr")]
fn same_site_path(next: &str) -> Option<String> {
    const OWN: &str = "http://tessera.invalid";
    let plain = next.len() <= NEXT_MAX
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    if !plain {
        return None;
    }
    let own = url::Url::parse(OWN).ok()?;
    let resolved = own.join(next).ok()?;
    if resolved.origin() != own.origin() {
        return None;
    }
    let path = &resolved[url::Position::BeforePath..];
    (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrator_may_do_everything() {
        for p in Permission::ALL {
            assert!(Role::Administrator.allows(p), "{p:?}");
        }
    }

    #[test]
    fn license_manager_sees_distributes_and_binds_only() {
        let allowed: Vec<_> = Permission::ALL
            .into_iter()
            .filter(|p| Role::LicenseManager.allows(*p))
            .collect();
        assert_eq!(
            allowed,
            vec![
                Permission::ViewLicenses,
                Permission::ManageSeats,
                Permission::BindAgents,
                Permission::ViewUsage
            ]
        );
        assert!(!Role::LicenseManager.can_upload());
        assert!(!Role::LicenseManager.can_manage_users());
        assert!(!Role::LicenseManager.allows(Permission::ViewAudit));
    }

    #[test]
    fn only_administrators_read_the_audit_log() {
        let readers: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| r.allows(Permission::ViewAudit))
            .collect();
        assert_eq!(readers, vec![Role::Administrator]);
    }

    #[test]
    fn user_may_do_nothing_in_settings() {
        for p in Permission::ALL {
            assert!(!Role::User.allows(p), "{p:?}");
        }
        assert!(!Role::User.sees_settings());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn passwords_under_eight_characters_are_weak() {
        assert!(validate_new_password("1234567").is_err());
        assert!(validate_new_password("12345678").is_ok());
        // Characters, not bytes: seven Cyrillic letters are still too short.
        assert!(validate_new_password("пароль7").is_err());
        assert!(validate_new_password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn user_names_are_trimmed_and_checked() {
        assert_eq!(validate_user_name("  alice ").unwrap(), "alice");
        assert!(validate_user_name("").is_err());
        assert!(validate_user_name("a b").is_err());
        assert!(validate_user_name("<script>").is_err());
        assert!(validate_user_name(&"a".repeat(65)).is_err());
        assert!(validate_user_name("ivan.petrov@corp").is_ok());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(
            safe_next(Some("/settings/users"), Role::User),
            "/settings/users"
        );
        assert_eq!(
            safe_next(Some("//evil.example"), Role::Administrator),
            "/settings/licenses"
        );
        assert_eq!(safe_next(Some("https://evil.example"), Role::User), "/");
        assert_eq!(safe_next(Some("/\\evil.example"), Role::User), "/");
        assert_eq!(safe_next(None, Role::LicenseManager), "/settings/licenses");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn next_keeps_paths_of_this_site() {
        for (next, kept) in [
            ("/", "/"),
            ("/settings/users", "/settings/users"),
            (
                "/settings/users?q=ivan&page=2",
                "/settings/users?q=ivan&page=2",
            ),
            ("/settings/licenses#top", "/settings/licenses#top"),
            ("/settings/agents/3f2b", "/settings/agents/3f2b"),
            // Resolved as a browser would, and still on the site.
            ("/settings/../settings/users", "/settings/users"),
            (
                "/settings/%2F%2Fevil.example",
                "/settings/%2F%2Fevil.example",
            ),
            ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
            (
                "/settings?next=//evil.example",
                "/settings?next=//evil.example",
            ),
            (
                "/пользователи",
                "/%D0%BF%D0%BE%D0%BB%D1%8C%D0%B7%D0%BE%D0%B2%D0%B0%D1%82%D0%B5%D0%BB%D0%B8",
            ),
        ] {
            assert_eq!(safe_next(Some(next), Role::User), kept, "{next:?}");
        }
    }

    /// What browsers read as another site, or as something other than the plain path written.
    #[cfg(feature = "ssr")]
    #[test]
    fn next_refuses_every_way_off_the_site() {
        let hostile = [
            "",
            " ",
            "evil.example",
            "evil.example/x",
            "//evil.example",
            "///evil.example",
            "////evil.example",
            "/\t/evil.example/x",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            "/\u{0}/evil.example",
            "/\u{1f}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/\u{3000}/evil.example",
            "/ /evil.example",
            " //evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/x\\..\\..\\/evil.example",
            "http://evil.example",
            "https://evil.example/settings",
            "HTTPS://evil.example",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http:evil.example",
            "https:/evil.example",
            "http:\\\\evil.example",
            "/settings\n//evil.example",
            "?next=//evil.example",
            "#//evil.example",
            "./evil.example",
            "../evil.example",
            // Dot segments that a parser folds into `//host`.
            "/.//evil.example",
            "/..//evil.example",
            "/x/..//evil.example",
            "/%2e//evil.example",
        ];
        for next in hostile {
            assert_eq!(safe_next(Some(next), Role::User), "/", "{next:?}");
            assert_eq!(
                safe_next(Some(next), Role::Administrator),
                "/settings/licenses",
                "{next:?}"
            );
        }
        let long = format!("/{}", "a".repeat(NEXT_MAX));
        assert_eq!(safe_next(Some(&long), Role::User), "/");
    }
}
