//! The index the Licenses search reads on SQLite (issue 24): an FTS5 table with the trigram
//! tokenizer over each certificate's product name, product code, id and feature, so a search of
//! three characters or more finds its rows without reading every license (case folded for every
//! alphabet, which SQLite's `lower()` is not). A trigger fills it with each new certificate; the
//! searched columns never change after install (they are the vendor's signed payload). It is
//! matched by certificate id, not by rowid: `VACUUM` (and `VACUUM INTO`, the backup) may renumber
//! a table's rowids. PostgreSQL's trigram indexes are made at start instead
//! (`licenses::search::prepare`), because the `pg_trgm` extension may be missing.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE VIRTUAL TABLE certificates_search USING fts5(\
             certificate_id UNINDEXED, product_name, product, certificate, feature, \
             tokenize = 'trigram')",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO certificates_search \
             (certificate_id, product_name, product, certificate, feature) \
             SELECT id, product_name, product, id, feature FROM certificates",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN \
             INSERT INTO certificates_search \
             (certificate_id, product_name, product, certificate, feature) \
             VALUES (new.id, new.product_name, new.product, new.id, new.feature); END",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS certificates_search_insert")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS certificates_search")
            .await?;
        Ok(())
    }
}
