//! Session tokens: a JWT signed with HS256 (the only algorithm accepted), always with `exp`,
//! naming the installation (`iss`) and the server-side session (`jti`).
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, internal};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The session's id: the token is only good while that session exists.
    pub jti: String,
    /// The installation that issued it.
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8], installation_id: &str) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub", "jti"]);
        validation.set_issuer(&[installation_id]);
        // Times are checked in `verify` against the application clock, which tests move.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a well-signed, current token of this installation; `None` for anything else.
    /// `now` is the application clock, in seconds.
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let leeway = self.validation.leeway as i64;
        (claims.exp > now - leeway && claims.nbf <= now + leeway).then_some(claims)
    }
}

/// 32 random bytes, URL-safe base64: the secret of an agent token or an enrollment key.
pub fn random_token() -> Result<String, AppError> {
    use base64::Engine;
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| internal(format_args!("getrandom: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const INSTALLATION: &str = "0b7c8a4e-0000-4000-8000-000000000001";

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", INSTALLATION)
    }

    fn claims(now: i64) -> Claims {
        Claims {
            sub: "user-1".into(),
            jti: "session-1".into(),
            iss: INSTALLATION.into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_fresh_token_verifies_and_round_trips() {
        let c = claims(now());
        let t = keys().issue(&c).unwrap();
        assert_eq!(keys().verify(&t, now()), Some(c));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let c = Claims {
            exp: now() - 60,
            ..claims(now() - 4000)
        };
        let t = keys().issue(&c).unwrap();
        assert_eq!(keys().verify(&t, now()), None);
    }

    #[test]
    fn a_token_refused_when_the_application_clock_passed_its_expiry() {
        let t = keys().issue(&claims(now())).unwrap();
        assert_eq!(keys().verify(&t, now() + 7200), None);
    }

    #[test]
    fn a_far_future_nbf_is_refused() {
        let c = Claims {
            nbf: now() + 86_400,
            exp: now() + 90_000,
            ..claims(now())
        };
        let t = keys().issue(&c).unwrap();
        assert_eq!(keys().verify(&t, now()), None);
    }

    #[test]
    fn another_key_or_installation_is_refused() {
        let t = TokenKeys::new(b"another secret of thirty-two b!!", INSTALLATION)
            .issue(&claims(now()))
            .unwrap();
        assert_eq!(keys().verify(&t, now()), None);
        let other = Claims {
            iss: "another-installation".into(),
            ..claims(now())
        };
        let t = keys().issue(&other).unwrap();
        assert_eq!(keys().verify(&t, now()), None);
    }

    #[test]
    fn alg_none_and_a_changed_payload_are_refused() {
        let t = keys().issue(&claims(now())).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            keys().verify(&format!("{none_header}.{}.", parts[1]), now()),
            None
        );
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                sub: "admin".into(),
                ..claims(now())
            })
            .unwrap(),
        );
        assert_eq!(
            keys().verify(&format!("{}.{forged}.{}", parts[0], parts[2]), now()),
            None
        );
    }

    #[test]
    fn a_missing_or_string_exp_is_refused() {
        let t = keys().issue(&claims(now())).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let header = parts[0];
        // Sign payloads by hand with the right key so only the claim is wrong.
        for payload in [
            format!(r#"{{"sub":"u","jti":"s","iss":"{INSTALLATION}","iat":1,"nbf":1}}"#),
            format!(
                r#"{{"sub":"u","jti":"s","iss":"{INSTALLATION}","iat":1,"nbf":1,"exp":"9999999999"}}"#
            ),
        ] {
            let body = URL_SAFE_NO_PAD.encode(payload.as_bytes());
            let signing_input = format!("{header}.{body}");
            let sig = jsonwebtoken::crypto::sign(
                signing_input.as_bytes(),
                &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
                Algorithm::HS256,
            )
            .unwrap();
            assert_eq!(
                keys().verify(&format!("{signing_input}.{sig}"), now()),
                None,
                "{payload}"
            );
        }
    }
}
