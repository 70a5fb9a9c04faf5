//! Integration tests: a real Tessera over HTTP, on SQLite and on PostgreSQL.
mod access;
mod agents;
mod audit;
mod auth;
mod expiry;
mod faults;
mod first_day;
mod language;
mod ledger;
mod licenses;
mod model;
mod resilience;
mod seats;
mod startup;
mod support;
mod tenants;
mod users;
