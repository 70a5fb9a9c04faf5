//! What the seat server functions answer, shared by the server and the client.
use serde::{Deserialize, Serialize};

/// A product's seats after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCount {
    pub total: u32,
    pub used: u32,
    pub free: u32,
}

/// The most users one Apply may name.
pub const APPLY_MAX: usize = 10_000;
