//! The server half of sign-in: sessions, tokens, passwords, throttling and the permission check.
pub mod agent;
pub mod entity;
pub mod guard;
pub mod middleware;
pub mod passwords;
pub mod sessions;
pub mod throttle;
pub mod tokens;

pub use agent::Agent;
pub use guard::{
    Anyone, Authenticated, Granted, Proof, Refused, Scraper, anyone, cap, current, require,
    signed_in,
};
