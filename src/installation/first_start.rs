//! First start: the installation id, the token key, the lease key, the default tenant and the
//! administrator. Each is made once; a later start finds them and changes nothing.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};

use super::entity as installation;
use crate::auth::model::Role;
use crate::auth::server::passwords::PasswordHasher;
use crate::error::{AppError, internal};
use crate::tenants::{DEFAULT_TENANT_NAME, entity as tenant};
use crate::users::{entity as user, store as users};

pub struct Installed {
    pub installation_id: String,
    pub token_secret: Vec<u8>,
    /// The key that signs agents' leases (`ledger::leases`).
    pub lease_key: SigningKey,
    /// The latest time an instance has seen (see `server::clock`).
    pub clock_seen_at: Option<i64>,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| internal(format_args!("getrandom: {e}")))?;
    Ok(buf)
}

/// A random password for the first administrator: 20 characters without look-alikes.
pub fn random_password() -> Result<String, AppError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Ok(random_bytes::<20>()?
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

pub async fn ensure(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    admin_password: Option<&str>,
    now: i64,
) -> Result<Installed, AppError> {
    let txn = crate::server::db::begin_write(db).await?;
    let row = match installation::Entity::find_by_id(1).one(&txn).await? {
        Some(row) => row,
        None => {
            let row = installation::ActiveModel {
                id: Set(1),
                installation_id: Set(uuid::Uuid::new_v4().to_string()),
                token_secret: Set(STANDARD.encode(random_bytes::<32>()?)),
                created_at: Set(now),
                clock_seen_at: Set(Some(now)),
                lease_key: Set(Some(STANDARD.encode(random_bytes::<32>()?))),
            }
            .insert(&txn)
            .await?;
            tracing::info!(installation_id = %row.installation_id, "new installation");
            row
        }
    };

    // An installation made before leases gets its key now. Instances starting together on one
    // PostgreSQL database may both get here: only the first write lands, and every instance then
    // reads the key that did.
    let row = match row.lease_key {
        Some(_) => row,
        None => {
            installation::Entity::update_many()
                .col_expr(
                    installation::Column::LeaseKey,
                    sea_orm::sea_query::Expr::value(STANDARD.encode(random_bytes::<32>()?)),
                )
                .filter(installation::Column::Id.eq(1))
                .filter(installation::Column::LeaseKey.is_null())
                .exec(&txn)
                .await?;
            installation::Entity::find_by_id(1)
                .one(&txn)
                .await?
                .ok_or_else(|| internal("the installation row is missing"))?
        }
    };

    let default_tenant = match tenant::Entity::find().filter_default().one(&txn).await? {
        Some(t) => t,
        None => {
            tenant::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                name: Set(DEFAULT_TENANT_NAME.to_string()),
                is_default: Set(true),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };

    if user::Entity::find().count(&txn).await? == 0 {
        let (password, printed) = match admin_password {
            Some(p) => (p.to_string(), false),
            None => (random_password()?, true),
        };
        let hash = passwords.hash(password.clone()).await?;
        users::insert(
            &txn,
            "admin".to_string(),
            hash,
            Role::Administrator,
            default_tenant.id,
            now,
        )
        .await?;
        if printed {
            // Printed once, on the start that made the account; never again.
            tracing::warn!(
                "created the administrator \"admin\" with the password {password} \
                 (set TESSERA_ADMIN_PASSWORD to choose it)"
            );
        } else {
            tracing::info!("created the administrator \"admin\" with TESSERA_ADMIN_PASSWORD");
        }
    }
    crate::tenants::store::ensure_enrollment_keys(&txn).await?;
    txn.commit().await?;

    let token_secret = STANDARD
        .decode(&row.token_secret)
        .map_err(|e| internal(format_args!("token secret: {e}")))?;
    let lease_seed: [u8; 32] = row
        .lease_key
        .as_deref()
        .and_then(|k| STANDARD.decode(k).ok())
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| internal("the installation's lease key is not 32 bytes of base64"))?;
    Ok(Installed {
        installation_id: row.installation_id,
        token_secret,
        lease_key: SigningKey::from_bytes(&lease_seed),
        clock_seen_at: row.clock_seen_at,
    })
}

trait DefaultTenant {
    fn filter_default(self) -> Self;
}

impl DefaultTenant for sea_orm::Select<tenant::Entity> {
    fn filter_default(self) -> Self {
        self.filter(tenant::Column::IsDefault.eq(true))
    }
}
