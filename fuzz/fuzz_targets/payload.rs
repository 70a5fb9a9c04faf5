//! Fuzzer-chosen certificate JSON, signed with the trusted vendor key: the checks behind the
//! signature (strict JSON without duplicate keys, field types, dates, format, installation, type,
//! mode, binding, seats, feature, validity, expiry, duplicates in a package), which the `package`
//! target rarely reaches because nearly every mutation there breaks the signature.
//!
//! The input is one or more payloads separated by a 0xFF byte (never in UTF-8 text), at most
//! [`MAX_PAYLOADS`]; each is signed and armored as one CERTIFICATE block, exactly as the vendor
//! tool does. Since every signature is good, no block may be refused for its algorithm, key or
//! signature, and the package can only be refused for its certificates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{VENDOR_KEY, check_outcome, checks, verify};
use tessera_license::{Limits, PackageRefusal, Refusal, key_id, sign_certificate};

const MAX_PAYLOADS: usize = 6;

fuzz_target!(|data: &[u8]| {
    let payloads: Vec<&[u8]> = data.split(|&b| b == 0xFF).take(MAX_PAYLOADS).collect();
    let package = payloads
        .iter()
        .map(|p| sign_certificate(&VENDOR_KEY, p))
        .collect::<Vec<_>>()
        .join("\n");
    let limits = Limits::default();
    let outcome = verify(&checks(&limits), package.as_bytes());
    check_outcome(package.as_bytes(), &limits, &outcome);
    match &outcome {
        Ok(certs) => {
            assert_eq!(certs.len(), payloads.len(), "a signed block went missing");
            let kid = key_id(VENDOR_KEY.verifying_key().as_bytes());
            for (cert, payload) in certs.iter().zip(&payloads) {
                assert_eq!(
                    cert.payload_json.as_bytes(),
                    *payload,
                    "the payload kept is not the one signed"
                );
                assert_eq!(cert.kid, kid);
            }
        }
        Err(PackageRefusal::BadCertificates { blocks }) => {
            for b in blocks {
                assert!(
                    !matches!(
                        b.refusal,
                        Refusal::UnsupportedAlgorithm { .. }
                            | Refusal::UnknownKey { .. }
                            | Refusal::BadSignature
                    ),
                    "a block signed with the trusted key refused: {b:?}"
                );
            }
        }
        Err(other) => panic!(
            "a package of {} signed blocks refused whole: {other:?}",
            payloads.len()
        ),
    }
});
