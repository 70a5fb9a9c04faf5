//! Notifications are read per user (issue 25): `reminder_reads` holds who read which reminder,
//! and when. A reminder read before this migration (`reminders.read_at`, once for the whole
//! installation) stays read for every user it was read for then: all of them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReminderReads {
    Table,
    UserId,
    ReminderId,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReminderReads::Table)
                    .if_not_exists()
                    .col(string_len(ReminderReads::UserId, 36))
                    .col(string_len(ReminderReads::ReminderId, 36))
                    .col(big_integer(ReminderReads::ReadAt))
                    // A user's unread reminders are those without a row of theirs: by user first.
                    .primary_key(
                        Index::create()
                            .col(ReminderReads::UserId)
                            .col(ReminderReads::ReminderId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO reminder_reads (user_id, reminder_id, read_at) \
                 SELECT u.id, r.id, r.read_at FROM reminders r CROSS JOIN users u \
                 WHERE r.read_at IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReminderReads::Table).to_owned())
            .await
    }
}
