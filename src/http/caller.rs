//! Who is calling: the bearer token, checked, and the caller's rate limit.

use super::problem::{retry_after, ApiError};
use crate::auth::{Principal, Role};
use crate::config::RateLimits;
use crate::service::standing::Refusal;
use crate::service::{Gateway, ServiceError};
use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// The per-caller, per-address and per-account limiters, shared by every worker, and the proxies
/// whose `X-Forwarded-For` is believed.
pub struct Limiters {
    per_caller: DefaultKeyedRateLimiter<String>,
    token_per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Token attempts per client id or username, whatever address they come from.
    token_per_account: DefaultKeyedRateLimiter<String>,
    trusted_proxies: Vec<IpNet>,
}

/// One `X-Forwarded-For` hop as an address: with or without a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), IPv4-mapped IPv6 read as IPv4.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let bare = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()));
    bare.map(|ip| ip.to_canonical())
}

fn rate_limited(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: retry_after(not_until.wait_time_from(DefaultClock::default().now())),
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

impl Limiters {
    pub fn new(limits: RateLimits, trusted_proxies: Vec<IpNet>) -> Arc<Limiters> {
        let token_quota = Quota::per_minute(nonzero(limits.token_per_minute_per_address));
        Arc::new(Limiters {
            per_caller: RateLimiter::keyed(
                Quota::per_second(nonzero(limits.per_caller_per_second))
                    .allow_burst(nonzero(limits.per_caller_burst)),
            ),
            token_per_address: RateLimiter::keyed(token_quota),
            token_per_account: RateLimiter::keyed(token_quota),
            trusted_proxies,
        })
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` that is not one (a client can write anything further left).
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        // From the right: past trusted proxies to the first hop they did not add. An unreadable
        // hop ends the walk at the last proxy, whose address is then the best known.
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            match hop_address(hop) {
                Some(ip) if trusted(&ip) => nearest = ip,
                Some(ip) => return Some(ip),
                None => break,
            }
        }
        Some(nearest)
    }

    /// Counts a token request from the client's address.
    pub fn check_token_address(&self, req: &HttpRequest) -> Result<(), ApiError> {
        match self.client_address(req) {
            Some(address) => self
                .token_per_address
                .check_key(&address)
                .map_err(rate_limited),
            None => Ok(()),
        }
    }

    /// Counts a token request for an account (`client:<id>` or `user:<name>`), so that guessing
    /// one account's secret from many addresses is as slow as from one.
    pub fn check_token_account(&self, account: &str) -> Result<(), ApiError> {
        self.token_per_account
            .check_key(&account.to_owned())
            .map_err(rate_limited)
    }

    /// Forgets callers whose limits are back to full, so that memory follows the callers of
    /// the last minute, not every caller ever seen.
    pub fn prune(&self) {
        self.per_caller.retain_recent();
        self.token_per_address.retain_recent();
        self.token_per_account.retain_recent();
        self.per_caller.shrink_to_fit();
        self.token_per_address.shrink_to_fit();
        self.token_per_account.shrink_to_fit();
    }

    /// How many callers, addresses and accounts are remembered.
    pub fn remembered(&self) -> usize {
        self.per_caller.len() + self.token_per_address.len() + self.token_per_account.len()
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
    gateway
        .standing()
        .admits(&principal)
        .map_err(|refusal| match refusal {
            Refusal::PlatformSuspended => ApiError::Service(ServiceError::Forbidden {
                code: "platform_suspended",
                detail: "this platform is suspended".into(),
            }),
            Refusal::Revoked => ApiError::Unauthenticated("the token was revoked".into()),
        })?;
    let key = format!("{}:{}", principal.role.as_str(), principal.subject);
    limiters.per_caller.check_key(&key).map_err(rate_limited)?;
    Ok(Caller(principal))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits() -> RateLimits {
        RateLimits {
            per_caller_per_second: 1_000_000,
            per_caller_burst: 1,
            token_per_minute_per_address: 1_000_000,
        }
    }

    #[test]
    fn memory_follows_recent_callers_not_every_caller_ever_seen() {
        let limiters = Limiters::new(limits(), vec![]);
        for n in 0..100_000u32 {
            limiters
                .per_caller
                .check_key(&format!("platform:{n}"))
                .unwrap();
            limiters
                .token_per_address
                .check_key(&IpAddr::from(n.to_be_bytes()))
                .unwrap();
            limiters
                .check_token_account(&format!("client:{n}"))
                .unwrap();
        }
        assert_eq!(limiters.remembered(), 300_000);
        // At these rates every limit is full again within microseconds.
        std::thread::sleep(std::time::Duration::from_millis(20));
        limiters.prune();
        assert_eq!(limiters.remembered(), 0);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpNet = "10.0.0.0/8".parse().unwrap();
        let forwarded = |peer: &str, header: &str| {
            TestRequest::default()
                .peer_addr(format!("{peer}:5000").parse().unwrap())
                .insert_header(("X-Forwarded-For", header))
                .to_http_request()
        };
        let limiters = Limiters::new(limits(), vec![proxy]);
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        // Not from a proxy: the header is the client's own claim and is ignored.
        let direct = forwarded("203.0.113.9", "198.51.100.1");
        assert_eq!(limiters.client_address(&direct), ip("203.0.113.9"));
        // From the proxy: the nearest untrusted hop, whatever the client wrote to its left.
        let proxied = forwarded("10.1.2.3", "6.6.6.6, 198.51.100.1, 10.9.9.9");
        assert_eq!(limiters.client_address(&proxied), ip("198.51.100.1"));
        // Ports and IPv4-mapped IPv6 addresses, as proxies write them.
        let mapped = forwarded(
            "[::ffff:10.1.2.3]",
            "198.51.100.2:5678, [::ffff:10.9.9.9]:80",
        );
        assert_eq!(limiters.client_address(&mapped), ip("198.51.100.2"));
        let no_header = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(limiters.client_address(&no_header), ip("10.1.2.3"));
    }
}
