//! Certificate ids are UUIDs compared case-insensitively, kept in lower case. Versions before
//! kept them as the package wrote them: this rewrites those stored in upper (or mixed) case, and
//! every reference to them (revocations, agents' holdings, seats, reminders), so that a package
//! naming one in another case finds it. An id whose lower-case form is installed already (the
//! same license installed twice under two cases) is left as it is.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each statement runs on SQLite and PostgreSQL alike.
const REWRITES: [&str; 6] = [
    "UPDATE certificates SET id = LOWER(id) \
     WHERE id <> LOWER(id) AND LOWER(id) NOT IN (SELECT id FROM certificates)",
    "UPDATE certificates SET revoked_by = LOWER(revoked_by) \
     WHERE revoked_by <> LOWER(revoked_by) AND LOWER(revoked_by) IN (SELECT id FROM certificates)",
    // A JSON array of ids: nothing in it but ids changes case.
    "UPDATE certificates SET revokes = LOWER(revokes) WHERE revokes <> LOWER(revokes)",
    "UPDATE agents SET license_id = LOWER(license_id) \
     WHERE license_id <> LOWER(license_id) AND LOWER(license_id) IN (SELECT id FROM certificates)",
    "UPDATE seats SET certificate_id = LOWER(certificate_id) \
     WHERE certificate_id <> LOWER(certificate_id) \
     AND LOWER(certificate_id) IN (SELECT id FROM certificates)",
    "UPDATE reminders SET subject_id = LOWER(subject_id) \
     WHERE subject_kind = 'certificate' AND subject_id <> LOWER(subject_id) \
     AND LOWER(subject_id) IN (SELECT id FROM certificates) \
     AND NOT EXISTS (SELECT 1 FROM reminders AS r \
       WHERE r.subject_kind = reminders.subject_kind AND r.subject_id = LOWER(reminders.subject_id) \
       AND r.expires_at = reminders.expires_at AND r.days_before = reminders.days_before)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in REWRITES {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    /// Nothing to undo: lower case is what every version reads.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
