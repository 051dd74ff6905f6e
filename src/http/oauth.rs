//! The token endpoint's request, as OAuth 2.0 clients send it (RFC 6749 §4.4, §4.3, §2.3.1) or as
//! JSON: the grant and the credentials, with the client authenticated by HTTP Basic or in the body.

use super::problem::{ApiError, TokenRefusal};
use crate::service::access::Credentials;
use crate::service::ServiceError;
use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine;
use std::collections::HashMap;

/// The longest identifier and secret accepted, in characters.
const MAX_ID: usize = 128;
const MAX_SECRET: usize = 256;

/// A parsed token request.
pub struct TokenRequest {
    pub credentials: Credentials,
}

impl TokenRequest {
    pub fn is_client(&self) -> bool {
        matches!(self.credentials, Credentials::Client { .. })
    }
}

fn invalid_request(detail: impl Into<String>) -> TokenRefusal {
    TokenRefusal::new("invalid_request", detail)
}

/// The parameters the endpoint reads; any other is ignored.
const PARAMETERS: [&str; 5] = [
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
];

/// The body's parameters: a JSON object of strings, or a form. A parameter the endpoint reads
/// may not be repeated (RFC 6749 §3.2); the others are ignored.
fn parameters(req: &HttpRequest, body: &[u8]) -> Result<HashMap<String, String>, TokenRefusal> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| invalid_request("the form could not be read"))?;
            let mut parameters = HashMap::with_capacity(PARAMETERS.len());
            for (name, value) in pairs {
                if !PARAMETERS.contains(&name.as_str()) {
                    continue;
                }
                if parameters.insert(name.clone(), value).is_some() {
                    return Err(invalid_request(format!("{name} is repeated")));
                }
            }
            Ok(parameters)
        }
        "application/json" => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|_| invalid_request("the body is not valid JSON"))?;
            let object = value
                .as_object()
                .ok_or_else(|| invalid_request("the body must be a JSON object"))?;
            object
                .iter()
                .filter(|(name, value)| PARAMETERS.contains(&name.as_str()) && !value.is_null())
                .map(|(name, value)| match value.as_str() {
                    Some(text) => Ok((name.clone(), text.to_owned())),
                    None => Err(invalid_request(format!("{name} must be a string"))),
                })
                .collect()
        }
        _ => Err(invalid_request(
            "send application/x-www-form-urlencoded or application/json",
        )),
    }
}

/// `Authorization: Basic` as RFC 6749 §2.3.1 writes it: the id and secret form-encoded, then
/// joined by a colon and base64-encoded. The scheme's name is case-insensitive; other schemes
/// (a bearer token sent along) do not authenticate a client here.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, TokenRefusal> {
    let Some(encoded) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded)
    else {
        return Ok(None);
    };
    let unreadable = || TokenRefusal::invalid_client("the Basic credentials could not be read");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(unreadable)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(unreadable)?;
    let decode = |text: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={text}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, value)| value)
            .ok_or_else(unreadable)
    };
    Ok(Some((decode(id)?, decode(secret)?)))
}

fn required(
    parameters: &mut HashMap<String, String>,
    name: &str,
    max: usize,
) -> Result<String, TokenRefusal> {
    checked(name, parameters.remove(name), max)
}

/// A parameter that must be present: 1 to `max` printable characters.
fn checked(name: &str, value: Option<String>, max: usize) -> Result<String, TokenRefusal> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_request(format!("{name} is required")))?;
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid_request(format!(
            "{name} must be 1 to {max} printable characters"
        )));
    }
    Ok(value)
}

/// Reads a token request; every refusal is an RFC 6749 §5.2 error.
pub fn token_request(req: &HttpRequest, body: &[u8]) -> Result<TokenRequest, TokenRefusal> {
    let mut parameters = parameters(req, body)?;
    let basic = basic_credentials(req)?;
    let grant_type = required(&mut parameters, "grant_type", 64)?;
    let credentials = match grant_type.as_str() {
        "client_credentials" => {
            let in_body = (
                parameters.remove("client_id"),
                parameters.remove("client_secret"),
            );
            let (id, secret) = match (&basic, in_body) {
                (Some(_), (_, Some(_))) => {
                    return Err(invalid_request(
                        "authenticate the client by one method only: Basic or the body",
                    ))
                }
                (Some((id, secret)), _) => (id.clone(), secret.clone()),
                (None, (Some(id), Some(secret))) => (id, secret),
                (None, _) => {
                    return Err(TokenRefusal::invalid_client(
                        "client authentication is required",
                    ))
                }
            };
            Credentials::Client {
                id: checked("client_id", Some(id), MAX_ID)?,
                secret: checked("client_secret", Some(secret), MAX_SECRET)?,
            }
        }
        "password" => Credentials::Staff {
            username: required(&mut parameters, "username", MAX_ID)?,
            password: required(&mut parameters, "password", MAX_SECRET)?,
        },
        _ => {
            return Err(TokenRefusal::new(
                "unsupported_grant_type",
                "grant_type must be client_credentials or password",
            ))
        }
    };
    Ok(TokenRequest { credentials })
}

/// The use case's refusal as RFC 6749 §5.2 says: wrong client credentials are `invalid_client`
/// (401), a wrong password `invalid_grant`, a suspended platform `unauthorized_client`.
pub fn refusal(client: bool, error: ApiError) -> ApiError {
    match error {
        ApiError::Service(ServiceError::Unauthenticated(_)) if client => {
            TokenRefusal::invalid_client("invalid client credentials").into()
        }
        ApiError::Service(ServiceError::Unauthenticated(_)) => {
            TokenRefusal::new("invalid_grant", "invalid username or password").into()
        }
        ApiError::Service(ServiceError::Forbidden { code, detail }) => TokenRefusal {
            code,
            ..TokenRefusal::new("unauthorized_client", detail)
        }
        .into(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_bearer_token_sent_along_is_not_client_authentication() {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer abc"))
            .to_http_request();
        assert!(matches!(basic_credentials(&req), Ok(None)));
    }

    #[test]
    fn basic_credentials_are_read_whatever_the_scheme_s_case() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("cl_a-b:s_c%3Ad");
        for scheme in ["Basic", "basic", "BASIC"] {
            let req = TestRequest::default()
                .insert_header((header::AUTHORIZATION, format!("{scheme} {encoded}")))
                .to_http_request();
            let (id, secret) = basic_credentials(&req).ok().flatten().expect(scheme);
            assert_eq!((id.as_str(), secret.as_str()), ("cl_a-b", "s_c:d"));
        }
    }
}
