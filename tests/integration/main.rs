//! Integration tests: a real Tessera over HTTP, on SQLite and on PostgreSQL.
mod access;
mod agents;
mod audit;
mod auth;
mod language;
mod licenses;
mod seats;
mod startup;
mod support;
mod tenants;
mod users;
