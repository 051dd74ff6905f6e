//! Tokens and credentials: JWTs with a pinned algorithm and every registered claim required,
//! argon2 hashes for platform secrets and staff passwords.

use crate::config::{IdpSettings, JwtSettings};
use crate::keys::SigningKey;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header};
use jsonwebtoken::{TokenData, Validation};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Finance,
    Platform,
    Learner,
    Bureau,
    /// The province's voucher system: issues vouchers into the gateway and lists them.
    VoucherSystem,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Platform => "platform",
            Role::Learner => "learner",
            Role::Bureau => "bureau",
            Role::VoucherSystem => "voucher_system",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        [
            Role::Admin,
            Role::Finance,
            Role::Platform,
            Role::Learner,
            Role::Bureau,
            Role::VoucherSystem,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
        .ok_or_else(|| format!("unknown role {text:?}"))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The version of the account the token was issued under (absent: 0). Tokens older than
    /// their account's version are revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
}

/// Who is calling, once their token checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    pub subject: String,
    pub platform: Option<String>,
    /// The account version the token was issued under.
    pub version: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
#[error("identity provider key: {0}")]
pub struct KeyError(String);

pub struct TokenKeys {
    /// The newest signing key, with its id.
    encoding: (String, EncodingKey),
    /// Every signing key still trusted, by id.
    own: Vec<(String, DecodingKey)>,
    own_validation: Validation,
    idp: Option<(DecodingKey, Validation)>,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
    staff_ttl_seconds: u64,
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    validation
}

impl TokenKeys {
    /// `signing` newest first, as the key file lists them (checked there: never empty).
    pub fn new(
        signing: &[SigningKey],
        jwt: &JwtSettings,
        idp: Option<&IdpSettings>,
    ) -> Result<TokenKeys, KeyError> {
        let idp = idp
            .map(|idp| {
                DecodingKey::from_rsa_pem(idp.public_key_pem.as_bytes())
                    .map(|key| {
                        (
                            key,
                            validation(Algorithm::RS256, &idp.issuer, &jwt.audience),
                        )
                    })
                    .map_err(|e| KeyError(e.to_string()))
            })
            .transpose()?;
        let newest = signing
            .first()
            .ok_or_else(|| KeyError("no signing key".into()))?;
        Ok(TokenKeys {
            encoding: (
                newest.kid.clone(),
                EncodingKey::from_secret(newest.secret.as_bytes()),
            ),
            own: signing
                .iter()
                .map(|k| (k.kid.clone(), DecodingKey::from_secret(k.secret.as_bytes())))
                .collect(),
            own_validation: validation(Algorithm::HS256, &jwt.issuer, &jwt.audience),
            idp,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            ttl_seconds: jwt.ttl_seconds,
            staff_ttl_seconds: jwt.staff_ttl_seconds,
        })
    }

    /// How long a token of this role lives: staff (who move money and configure) briefly.
    pub fn ttl_seconds(&self, role: Role) -> u64 {
        match role {
            Role::Admin | Role::Finance => self.staff_ttl_seconds,
            Role::Platform | Role::Learner | Role::Bureau | Role::VoucherSystem => self.ttl_seconds,
        }
    }

    /// Signs a token with the gateway's own key (HS256), at account version 0.
    pub fn mint(&self, role: Role, subject: &str, platform: Option<&str>, now: i64) -> String {
        self.mint_at_version(role, subject, platform, 0, now)
    }

    /// Signs a token issued under this version of its account.
    pub fn mint_at_version(
        &self,
        role: Role,
        subject: &str,
        platform: Option<&str>,
        version: i64,
        now: i64,
    ) -> String {
        let now = u64::try_from(now).unwrap_or(0);
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + self.ttl_seconds(role),
            iat: now,
            platform: platform.map(str::to_owned),
            ver: (version != 0).then_some(version),
        };
        let (kid, key) = &self.encoding;
        let header = Header {
            kid: Some(kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        encode(&header, &claims, key).expect("HS256 signing cannot fail")
    }

    /// Checks signature, algorithm, issuer, audience and expiry. With an identity provider
    /// configured, learner tokens must come from it and nothing else may.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| TokenError::Invalid(e.to_string());
        let header = decode_header(token).map_err(invalid)?;
        let data: TokenData<Claims> = match (header.alg, &self.idp) {
            (Algorithm::HS256, _) => {
                let key = self
                    .own
                    .iter()
                    .find(|(kid, _)| Some(kid) == header.kid.as_ref())
                    .map(|(_, key)| key)
                    .ok_or_else(|| TokenError::Invalid("unknown or missing key id".into()))?;
                decode(token, key, &self.own_validation).map_err(invalid)?
            }
            (Algorithm::RS256, Some((key, validation))) => {
                let data: TokenData<Claims> = decode(token, key, validation).map_err(invalid)?;
                if data.claims.role != Role::Learner {
                    return Err(TokenError::Invalid(
                        "identity provider tokens are for learners only".into(),
                    ));
                }
                data
            }
            (alg, _) => {
                return Err(TokenError::Invalid(format!(
                    "algorithm {alg:?} is not accepted"
                )))
            }
        };
        let claims = data.claims;
        if header.alg == Algorithm::HS256 && claims.role == Role::Learner && self.idp.is_some() {
            return Err(TokenError::Invalid(
                "learner tokens must come from the identity provider".into(),
            ));
        }
        match (claims.role, &claims.platform) {
            (Role::Platform, None) => {
                return Err(TokenError::Invalid(
                    "platform token without platform".into(),
                ))
            }
            (Role::Platform, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(TokenError::Invalid(
                    "only platform tokens name a platform".into(),
                ))
            }
        }
        Ok(Principal {
            role: claims.role,
            subject: claims.sub,
            platform: claims.platform,
            version: claims.ver.unwrap_or(0),
        })
    }
}

/// An argon2id hash in PHC form.
pub fn hash_secret(secret: &str) -> String {
    Argon2::default()
        .hash_password(secret.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("argon2 hashing with default parameters")
        .to_string()
}

pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fresh random credential, URL-safe.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buffer = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> JwtSettings {
        JwtSettings {
            issuer: "gw".into(),
            audience: "gw".into(),
            ttl_seconds: 600,
            staff_ttl_seconds: 300,
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&crate::keys::Keys::generate().signing, &jwt(), None).unwrap()
    }

    #[test]
    fn a_rotated_key_signs_and_the_old_one_still_verifies() {
        let old = crate::keys::Keys::generate();
        let before = TokenKeys::new(&old.signing, &jwt(), None).unwrap();
        let now = chrono::Utc::now().timestamp();
        let issued_before = before.mint(Role::Admin, "ops", None, now);
        let (rotated, new) = old.rotated();
        let rotated = rotated.promoted(&new).unwrap();
        let after = TokenKeys::new(&rotated.signing, &jwt(), None).unwrap();
        assert!(after.verify(&issued_before).is_ok());
        let issued_after = after.mint(Role::Admin, "ops", None, now);
        assert_eq!(
            decode_header(&issued_after).unwrap().kid.as_deref(),
            Some(rotated.signing[0].kid.as_str())
        );
        // Once the old key is dropped from the file, its tokens stop verifying.
        let dropped = TokenKeys::new(&rotated.signing[..1], &jwt(), None).unwrap();
        assert!(dropped.verify(&issued_before).is_err());
        assert!(dropped.verify(&issued_after).is_ok());
    }

    #[test]
    fn round_trips_a_platform_token() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp();
        let token = keys.mint(Role::Platform, "cl_1", Some("p1"), now);
        let principal = keys.verify(&token).unwrap();
        assert_eq!(principal.role, Role::Platform);
        assert_eq!(principal.platform.as_deref(), Some("p1"));
    }

    #[test]
    fn refuses_expired_and_foreign_tokens() {
        let keys = keys();
        let expired = keys.mint(Role::Admin, "ops", None, 1_000_000);
        assert!(keys.verify(&expired).is_err());
        let now = chrono::Utc::now().timestamp();
        let mut tampered = keys.mint(Role::Admin, "ops", None, now);
        tampered.push('x');
        assert!(keys.verify(&tampered).is_err());
        assert!(keys.verify("not a token").is_err());
        let platform_without_code = keys.mint(Role::Platform, "x", None, now);
        assert!(keys.verify(&platform_without_code).is_err());
    }

    #[test]
    fn hashes_verify_only_their_secret() {
        let hash = hash_secret("s3cret");
        assert!(verify_secret("s3cret", &hash));
        assert!(!verify_secret("other", &hash));
        assert!(!verify_secret("s3cret", "garbage"));
    }
}
