//! The license request (.tlr) and package (.lcs) formats of LICENSE-FORMAT.md, as plain types
//! shared by the server, the WASM client and the vendor tool. They live in the format crate
//! (crates/license-format); re-exported here so that `crate::licenses::format` paths stay.
pub use tessera_license::format::*;
