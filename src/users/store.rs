//! Persistence of users. Every change takes the proof that its caller may manage users.
use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};

use super::entity as user;
use super::model::{HeldSeat, SeatProduct, USERS_PAGE, UserRow};
use crate::audit::model::{AuditKind, Detail};
use crate::audit::store::{Entry, record};
use crate::auth::model::{Role, validate_new_password, validate_user_name};
use crate::auth::server::passwords::PasswordHasher;
use crate::auth::server::{
    Granted,
    cap::{ManageSeats, ManageUsers},
    sessions,
};
use crate::error::{AppError, ConflictKind, Field, Problem};
use crate::seats::entity as seat;
use crate::tenants::{Tenant, entity as tenant};

pub struct NewUser {
    pub name: String,
    pub password: String,
    pub role: Role,
    pub tenant_id: String,
}

/// A page of users whose name or tenant contains `q` (any case), by name, with the seats each
/// holds. Administrators and License managers (who give seats here) may list them.
pub async fn list(
    db: &impl ConnectionTrait,
    who: &Granted<ManageSeats>,
    tenants: &[Tenant],
    products: &[SeatProduct],
    q: &str,
    page: u64,
) -> Result<(Vec<UserRow>, u64), AppError> {
    let q = q.trim().to_lowercase();
    let mut find = user::Entity::find();
    // A License manager lists their own tenant's users only.
    if let Some(own) = who.tenant_scope() {
        find = find.filter(user::Column::TenantId.eq(own));
    }
    if !q.is_empty() {
        let pattern = format!("%{}%", q.replace(['%', '_'], ""));
        let by_tenant: Vec<String> = tenants
            .iter()
            .filter(|t| t.name.to_lowercase().contains(&q))
            .map(|t| t.id.clone())
            .collect();
        find = find.filter(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(user::Column::Name))).like(&pattern))
                .add(user::Column::TenantId.is_in(by_tenant)),
        );
    }
    let total = find.clone().count(db).await?;
    let rows = find
        .order_by_asc(user::Column::Name)
        .offset(crate::ui::listing::offset(page, USERS_PAGE)?)
        .limit(USERS_PAGE)
        .all(db)
        .await?;
    let mut held: HashMap<String, Vec<HeldSeat>> = HashMap::new();
    let names: HashMap<&str, &str> = products
        .iter()
        .map(|p| (p.product.as_str(), p.product_name.as_str()))
        .collect();
    if !rows.is_empty() {
        let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
        for (user_id, product) in seat::Entity::find()
            .select_only()
            .column(seat::Column::UserId)
            .column(seat::Column::Product)
            .filter(seat::Column::UserId.is_in(ids))
            .order_by_asc(seat::Column::Product)
            .into_tuple::<(String, String)>()
            .all(db)
            .await?
        {
            let product_name = names
                .get(product.as_str())
                .map_or_else(|| product.clone(), |n| n.to_string());
            held.entry(user_id).or_default().push(HeldSeat {
                product,
                product_name,
            });
        }
    }
    let users = rows
        .into_iter()
        .map(|u| UserRow {
            tenant_name: tenants
                .iter()
                .find(|t| t.id == u.tenant_id)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            role: Role::parse(&u.role).unwrap_or(Role::User),
            seats: held.remove(&u.id).unwrap_or_default(),
            id: u.id,
            name: u.name,
            tenant_id: u.tenant_id,
            disabled: u.disabled,
        })
        .collect();
    Ok((users, total))
}

/// Checks a new user's fields; the name and password rules come from `auth::model`.
pub fn validate(name: &str, password: &str) -> Result<String, AppError> {
    let name = validate_user_name(name)?;
    validate_new_password(password)?;
    Ok(name)
}

/// Inserts a user whose password is already hashed; used by first start and by [`create`].
pub async fn insert(
    db: &impl ConnectionTrait,
    name: String,
    password_hash: String,
    role: Role,
    tenant_id: String,
    now: i64,
) -> Result<user::Model, AppError> {
    let model = user::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(name),
        password_hash: Set(password_hash),
        role: Set(role.as_str().to_string()),
        tenant_id: Set(tenant_id),
        disabled: Set(false),
        locale: Set(None),
        time_zone: Set(None),
        created_at: Set(now),
    };
    model.insert(db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::invalid(Field::UserName, Problem::Taken)
        }
        _ => AppError::from(e),
    })
}

pub async fn create(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    who: &Granted<ManageUsers>,
    new: NewUser,
    now: i64,
) -> Result<UserRow, AppError> {
    let name = validate(&new.name, &new.password)?;
    let Some(t) = tenant::Entity::find_by_id(new.tenant_id.clone())
        .one(db)
        .await?
    else {
        return Err(AppError::invalid(Field::Tenant, Problem::Unknown));
    };
    if user::Entity::find()
        .filter(user::Column::Name.eq(name.clone()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(AppError::invalid(Field::UserName, Problem::Taken));
    }
    let hash = passwords.hash(new.password).await?;
    let txn = crate::server::db::begin_write(db).await?;
    let u = insert(&txn, name, hash, new.role, t.id.clone(), now).await?;
    record(
        &txn,
        Entry::by(who.viewer(), now, AuditKind::UserCreate, &u.name).said(Detail::UserCreated {
            role: new.role.as_str().to_string(),
            tenant: t.name.clone(),
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(UserRow {
        id: u.id,
        name: u.name,
        role: new.role,
        tenant_id: t.id,
        tenant_name: t.name,
        disabled: false,
        seats: Vec::new(),
    })
}

async fn find_other(
    db: &impl ConnectionTrait,
    who: &Granted<ManageUsers>,
    user_id: &str,
) -> Result<user::Model, AppError> {
    let u = user::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::invalid(Field::User, Problem::Unknown))?;
    // An administrator cannot lock themselves out.
    if u.id == who.viewer().id {
        return Err(AppError::Conflict {
            kind: ConflictKind::OwnAccount,
        });
    }
    Ok(u)
}

pub async fn set_role(
    db: &DatabaseConnection,
    who: &Granted<ManageUsers>,
    user_id: &str,
    role: Role,
    now: i64,
) -> Result<(), AppError> {
    let u = find_other(db, who, user_id).await?;
    let entry =
        Entry::by(who.viewer(), now, AuditKind::UserSetRole, &u.name).said(Detail::RoleChanged {
            from: u.role.clone(),
            to: role.as_str().to_string(),
        });
    let txn = crate::server::db::begin_write(db).await?;
    let mut m: user::ActiveModel = u.into();
    m.role = Set(role.as_str().to_string());
    m.update(&txn).await?;
    record(&txn, entry).await?;
    txn.commit().await?;
    Ok(())
}

/// Disables (ending every session of the user at once) or enables a user.
pub async fn set_disabled(
    db: &DatabaseConnection,
    who: &Granted<ManageUsers>,
    user_id: &str,
    disabled: bool,
    now: i64,
) -> Result<(), AppError> {
    let u = find_other(db, who, user_id).await?;
    let kind = if disabled {
        AuditKind::UserDisable
    } else {
        AuditKind::UserEnable
    };
    let entry = Entry::by(who.viewer(), now, kind, &u.name);
    let txn = crate::server::db::begin_write(db).await?;
    let id = u.id.clone();
    let mut m: user::ActiveModel = u.into();
    m.disabled = Set(disabled);
    m.update(&txn).await?;
    if disabled {
        sessions::end_all_for_user(&txn, &id).await?;
    }
    record(&txn, entry).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password and ends every session of the user.
pub async fn reset_password(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    who: &Granted<ManageUsers>,
    user_id: &str,
    password: String,
    now: i64,
) -> Result<(), AppError> {
    // Their own password an administrator changes as everyone does, with the current one.
    if user_id == who.viewer().id {
        return Err(AppError::conflict(ConflictKind::OwnPassword));
    }
    validate_new_password(&password)?;
    let u = user::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .ok_or(AppError::invalid(Field::User, Problem::Unknown))?;
    // The password itself is never logged.
    let entry = Entry::by(who.viewer(), now, AuditKind::UserResetPassword, &u.name);
    set_password(db, passwords, u, password, entry).await
}

/// Who the audit log names for a change made at the command line, on the machine itself.
pub const COMMAND_LINE: &str = "command line";

/// Sets a new password for the user named `name` from the machine Tessera runs on (`tessera user
/// reset-password`: the way in when the administrator's password is lost; whoever can run the
/// binary against the database holds the installation already). Every session of the user ends,
/// the sign-in throttle forgets the name, and the audit log records it.
pub async fn reset_password_from_the_machine(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    name: &str,
    password: String,
    now: i64,
) -> Result<(), AppError> {
    validate_new_password(&password)?;
    let u = user::Entity::find()
        .filter(user::Column::Name.eq(name.trim()))
        .one(db)
        .await?
        .ok_or(AppError::invalid(Field::User, Problem::Unknown))?;
    let entry = Entry::named(COMMAND_LINE, now, AuditKind::UserResetPassword, &u.name);
    set_password(db, passwords, u, password, entry).await?;
    crate::auth::server::throttle::forget_name(db, name).await
}

/// Stores the hash of `password`, ends the user's sessions and records `entry`, in one
/// transaction.
async fn set_password(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    u: user::Model,
    password: String,
    entry: Entry,
) -> Result<(), AppError> {
    let hash = passwords.hash(password).await?;
    let txn = crate::server::db::begin_write(db).await?;
    let id = u.id.clone();
    let mut m: user::ActiveModel = u.into();
    m.password_hash = Set(hash);
    m.update(&txn).await?;
    sessions::end_all_for_user(&txn, &id).await?;
    record(&txn, entry).await?;
    txn.commit().await?;
    Ok(())
}
