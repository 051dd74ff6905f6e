//! Who is calling: the bearer token, checked, and the caller's rate limit.

use super::problem::{retry_after, ApiError};
use crate::auth::{Principal, Role};
use crate::config::RateLimits;
use crate::service::Gateway;
use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::future::{ready, Ready};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// The per-caller and per-address limiters, shared by every worker.
pub struct Limiters {
    per_caller: DefaultKeyedRateLimiter<String>,
    token_per_address: DefaultKeyedRateLimiter<IpAddr>,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Arc<Limiters> {
        Arc::new(Limiters {
            per_caller: RateLimiter::keyed(
                Quota::per_second(nonzero(limits.per_caller_per_second))
                    .allow_burst(nonzero(limits.per_caller_burst)),
            ),
            token_per_address: RateLimiter::keyed(Quota::per_minute(nonzero(
                limits.token_per_minute_per_address,
            ))),
        })
    }

    /// Counts a token request from this address.
    pub fn check_token_request(&self, address: IpAddr) -> Result<(), ApiError> {
        self.token_per_address
            .check_key(&address)
            .map_err(|not_until| ApiError::RateLimited {
                retry_after_secs: retry_after(
                    not_until.wait_time_from(DefaultClock::default().now()),
                ),
            })
    }
}

/// An authenticated caller. Extracting it checks the token and counts the request.
pub struct Caller(pub Principal);

impl Caller {
    /// Refuses roles not listed: 403.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The platform a platform token speaks for.
    pub fn platform(&self) -> Result<&str, ApiError> {
        self.require(&[Role::Platform])?;
        Ok(self
            .0
            .platform
            .as_deref()
            .expect("platform tokens carry a platform"))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let gateway = req
        .app_data::<web::Data<Gateway>>()
        .expect("gateway is registered");
    let limiters = req
        .app_data::<web::Data<Limiters>>()
        .expect("limiters are registered");
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthenticated("send Authorization: Bearer <token>".into()))?;
    let principal = gateway
        .tokens()
        .verify(token.trim())
        .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    let key = format!("{}:{}", principal.role.as_str(), principal.subject);
    limiters
        .per_caller
        .check_key(&key)
        .map_err(|not_until| ApiError::RateLimited {
            retry_after_secs: retry_after(not_until.wait_time_from(DefaultClock::default().now())),
        })?;
    Ok(Caller(principal))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
