//! Any bytes, uploaded as a license package: the whole of `verify_package` as `stage_upload`
//! calls it (limits, BOM, UTF-8, armor, base64, the JSON envelope, the signature, the payload and
//! its checks, duplicates), with two trusted test keys so that mutated valid packages get past the
//! signature. Besides "no panic", every outcome must have the properties of
//! `tessera_fuzz::check_outcome` (the limits hold, what is accepted verifies and reads back the
//! same, refusals name blocks that exist).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{SMALL_LIMITS, check_outcome, checks, verify};

fuzz_target!(|bytes: &[u8]| {
    let outcome = verify(&checks(&SMALL_LIMITS), bytes);
    check_outcome(bytes, &SMALL_LIMITS, &outcome);
});
