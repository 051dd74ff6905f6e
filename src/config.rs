//! Settings from the environment, parsed once at start. A bad value names its variable.

use crate::keys::{Keys, SigningKey};
use crate::store::DatabaseUrl;
use ipnet::IpNet;
use std::env;
use std::path::PathBuf;
use std::str::FromStr;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gateway.db";

#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub db_pool_size: u32,
    /// Events waiting for the ledger writer at most; past it completions are answered 503.
    pub ingest_queue_events: usize,
    /// How long a request waits for a database connection before answering 503.
    pub db_connect_timeout_ms: u64,
    pub jwt: JwtSettings,
    pub idp: Option<IdpSettings>,
    /// Where the keys come from; unset, an SQLite database keeps them in a file beside it and a
    /// PostgreSQL deployment refuses to start.
    pub keys: Option<KeySource>,
    pub limits: RateLimits,
    pub json_limit_bytes: usize,
    /// The finance bureau's payment system; without it staff mark invoices paid by hand.
    pub bureau: Option<BureauSettings>,
    /// Delivery of signed messages to the endpoints platforms register.
    pub webhooks: WebhookSettings,
    /// `/metrics` on its own address instead of beside the API.
    pub metrics_listen: Option<String>,
    /// Proxies whose `X-Forwarded-For` names the client (addresses or CIDR blocks).
    pub trusted_proxies: Vec<IpNet>,
    /// Where browsers reach the gateway (`GATEWAY_PUBLIC_URL`); an `https://` address makes the
    /// console's cookies `Secure` even where a proxy does not say the request came over TLS.
    pub public_url: Option<String>,
}

/// Delivery of approved invoices to `{url}/payment-requests`.
#[derive(Clone, Debug)]
pub struct BureauSettings {
    pub url: String,
    pub timeout_ms: u64,
    pub poll_ms: u64,
    /// First retry delay; doubled per attempt up to an hour, with jitter.
    pub base_delay_ms: u64,
    /// After this long a delivery that never succeeded is a permanent failure.
    pub give_up_after_secs: u64,
    /// The key every delivery is signed with (Standard Webhooks), decoded from `whsec_<base64>`.
    pub signing_secret: BureauSecret,
    /// Extra root certificates (PEM) to trust for the bureau's TLS.
    pub ca_file: Option<PathBuf>,
    /// The gateway's client certificate and key (PEM, in one file) for mutual TLS.
    pub client_identity_file: Option<PathBuf>,
}

/// Messages to platforms' endpoints: retried with backoff for `give_up_after_secs` (about
/// three days), the endpoint disabled once every delivery failed for `disable_after_secs`.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Plain `http://` and loopback, private or link-local targets allowed (development, tests).
    pub allow_insecure: bool,
    pub timeout_ms: u64,
    /// How often the outbox is polled for due deliveries (shared with the bureau's).
    pub poll_ms: u64,
    /// First retry delay; doubled per attempt up to ten hours, with jitter.
    pub base_delay_ms: u64,
    pub give_up_after_secs: u64,
    pub disable_after_secs: u64,
}

/// The bureau's signing key; never printed.
#[derive(Clone)]
pub struct BureauSecret(pub Vec<u8>);

impl std::fmt::Debug for BureauSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BureauSecret(<set>)")
    }
}

impl std::str::FromStr for BureauSecret {
    type Err = String;
    /// `whsec_` and the base64 of at least 24 random bytes, as the specification writes them.
    fn from_str(text: &str) -> Result<BureauSecret, String> {
        use base64::Engine;
        let encoded = text
            .strip_prefix("whsec_")
            .ok_or("must start with whsec_ (whsec_ and base64)")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "must be whsec_ followed by base64")?;
        if key.len() < 24 {
            return Err("must hold at least 24 bytes of key".into());
        }
        Ok(BureauSecret(key))
    }
}

#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    /// Platform, bureau and learner tokens.
    pub ttl_seconds: u64,
    /// Admin and finance tokens.
    pub staff_ttl_seconds: u64,
}

/// The gateway's keys, never the database.
#[derive(Clone)]
pub enum KeySource {
    /// `GATEWAY_KEYS_FILE`.
    File(PathBuf),
    /// `GATEWAY_JWT_SECRET` and `GATEWAY_ID_HASH_KEY` (one signing key, id `env`).
    Given(Keys),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "File({})", path.display()),
            KeySource::Given(_) => f.write_str("Given(<from the environment>)"),
        }
    }
}

/// The real-name identity provider that signs learner tokens (RS256).
#[derive(Clone, Debug)]
pub struct IdpSettings {
    pub public_key_pem: String,
    pub issuer: String,
    /// Where learners sign in to the console through it; without it they use one-time links.
    pub sign_in: Option<IdpSignIn>,
}

/// The provider's OAuth 2.0 endpoints and the gateway's registration with it, for the
/// authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636).
#[derive(Clone)]
pub struct IdpSignIn {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for IdpSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpSignIn")
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    pub per_caller_per_second: u32,
    pub per_caller_burst: u32,
    pub token_per_minute_per_address: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl Settings {
    /// Reads every `GATEWAY_*` variable; `database_url` comes from the CLI (or `DATABASE_URL`).
    pub fn from_env(database_url: &str) -> Result<Settings, ConfigError> {
        let database_url = database_url.parse().map_err(|e| ConfigError {
            name: "DATABASE_URL",
            problem: format!("{e}"),
        })?;
        let sign_in = idp_sign_in()?;
        let idp = match (
            optional("GATEWAY_IDP_PUBLIC_KEY_FILE"),
            optional("GATEWAY_IDP_ISSUER"),
        ) {
            // The sign-in ends in a token the gateway must check with the provider's key.
            (None, None) if sign_in.is_some() => {
                return Err(missing("GATEWAY_IDP_PUBLIC_KEY_FILE"))
            }
            (None, None) => None,
            (Some(path), Some(issuer)) => Some(IdpSettings {
                public_key_pem: std::fs::read_to_string(&path).map_err(|e| ConfigError {
                    name: "GATEWAY_IDP_PUBLIC_KEY_FILE",
                    problem: format!("cannot read {path}: {e}"),
                })?,
                issuer,
                sign_in,
            }),
            (Some(_), None) => return Err(missing("GATEWAY_IDP_ISSUER")),
            (None, Some(_)) => return Err(missing("GATEWAY_IDP_PUBLIC_KEY_FILE")),
        };
        // The provider sends browsers back to where the gateway says it is, never to an
        // address a request names.
        if idp.as_ref().is_some_and(|idp| idp.sign_in.is_some())
            && optional("GATEWAY_PUBLIC_URL").is_none()
        {
            return Err(missing("GATEWAY_PUBLIC_URL"));
        }
        let keys = keys_from_env()?;
        let bureau = optional("GATEWAY_BUREAU_URL").map(bureau).transpose()?;
        let defaults = Settings::defaults(database_url);
        Ok(Settings {
            db_pool_size: parsed("GATEWAY_DB_POOL_SIZE", defaults.db_pool_size, 1..=512)?,
            ingest_queue_events: parsed(
                "GATEWAY_INGEST_QUEUE_EVENTS",
                defaults.ingest_queue_events,
                1000..=1_000_000,
            )?,
            db_connect_timeout_ms: parsed(
                "GATEWAY_DB_CONNECT_TIMEOUT_MS",
                defaults.db_connect_timeout_ms,
                100..=60_000,
            )?,
            jwt: JwtSettings {
                issuer: optional("GATEWAY_JWT_ISSUER").unwrap_or(defaults.jwt.issuer),
                audience: optional("GATEWAY_JWT_AUDIENCE").unwrap_or(defaults.jwt.audience),
                ttl_seconds: parsed(
                    "GATEWAY_TOKEN_TTL_SECONDS",
                    defaults.jwt.ttl_seconds,
                    60..=86_400,
                )?,
                staff_ttl_seconds: parsed(
                    "GATEWAY_STAFF_TOKEN_TTL_SECONDS",
                    defaults.jwt.staff_ttl_seconds,
                    60..=86_400,
                )?,
            },
            idp,
            keys,
            limits: RateLimits {
                per_caller_per_second: parsed(
                    "GATEWAY_RATE_PER_SECOND",
                    defaults.limits.per_caller_per_second,
                    1..=1_000_000,
                )?,
                per_caller_burst: parsed(
                    "GATEWAY_RATE_BURST",
                    defaults.limits.per_caller_burst,
                    1..=1_000_000,
                )?,
                token_per_minute_per_address: parsed(
                    "GATEWAY_TOKEN_RATE_PER_MINUTE",
                    defaults.limits.token_per_minute_per_address,
                    1..=1_000_000,
                )?,
            },
            json_limit_bytes: parsed(
                "GATEWAY_JSON_LIMIT_BYTES",
                defaults.json_limit_bytes,
                1024..=64 << 20,
            )?,
            database_url: defaults.database_url,
            bureau,
            webhooks: WebhookSettings {
                allow_insecure: optional("GATEWAY_WEBHOOKS_ALLOW_INSECURE")
                    .is_some_and(|v| v == "true"),
                timeout_ms: parsed("GATEWAY_WEBHOOKS_TIMEOUT_SECONDS", 10, 1..=60)? * 1000,
                poll_ms: parsed(
                    "GATEWAY_OUTBOX_POLL_MS",
                    defaults.webhooks.poll_ms,
                    10..=60_000,
                )?,
                base_delay_ms: parsed(
                    "GATEWAY_WEBHOOKS_BASE_DELAY_MS",
                    defaults.webhooks.base_delay_ms,
                    1..=600_000,
                )?,
                give_up_after_secs: parsed("GATEWAY_WEBHOOKS_GIVE_UP_HOURS", 72, 1..=720)? * 3600,
                disable_after_secs: parsed("GATEWAY_WEBHOOKS_DISABLE_AFTER_HOURS", 120, 1..=720)?
                    * 3600,
            },
            metrics_listen: optional("GATEWAY_METRICS_LISTEN"),
            trusted_proxies: trusted_proxies()?,
            public_url: optional("GATEWAY_PUBLIC_URL"),
        })
    }

    /// Defaults for a database, as if no `GATEWAY_*` variable were set (tests build on this).
    pub fn defaults(database_url: DatabaseUrl) -> Settings {
        Settings {
            database_url,
            db_pool_size: 16,
            ingest_queue_events: 16_000,
            db_connect_timeout_ms: 5000,
            jwt: JwtSettings {
                issuer: "subsidy-gateway".into(),
                audience: "subsidy-gateway".into(),
                ttl_seconds: 3600,
                staff_ttl_seconds: 900,
            },
            idp: None,
            keys: None,
            limits: RateLimits {
                per_caller_per_second: 200,
                per_caller_burst: 400,
                token_per_minute_per_address: 10,
            },
            json_limit_bytes: 2 * 1024 * 1024,
            bureau: None,
            webhooks: WebhookSettings {
                allow_insecure: false,
                timeout_ms: 10_000,
                poll_ms: 1000,
                base_delay_ms: 5000,
                give_up_after_secs: 72 * 3600,
                disable_after_secs: 120 * 3600,
            },
            metrics_listen: None,
            trusted_proxies: vec![],
            public_url: None,
        }
    }
}

/// The provider's sign-in endpoints: all three named, or none (learners then use links).
/// They are `https://` (plain `http://` only when allowed outright: the code, the PKCE
/// verifier and the learner's token cross them).
fn idp_sign_in() -> Result<Option<IdpSignIn>, ConfigError> {
    let allow_http = optional("GATEWAY_IDP_ALLOW_HTTP").is_some_and(|v| v == "true");
    let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
        optional(name)
            .map(|url| match reqwest::Url::parse(&url) {
                Ok(parsed) if parsed.scheme() == "https" => Ok(url),
                Ok(parsed) if allow_http && parsed.scheme() == "http" => Ok(url),
                _ => Err(ConfigError {
                    name,
                    problem: "must be an https:// address (http:// only with \
                              GATEWAY_IDP_ALLOW_HTTP=true)"
                        .into(),
                }),
            })
            .transpose()
    };
    let endpoints = (
        url("GATEWAY_IDP_AUTHORIZE_URL")?,
        url("GATEWAY_IDP_TOKEN_URL")?,
        optional("GATEWAY_IDP_CLIENT_ID"),
    );
    match endpoints {
        (None, None, None) if optional("GATEWAY_IDP_CLIENT_SECRET").is_some() => {
            Err(missing("GATEWAY_IDP_CLIENT_ID"))
        }
        (None, None, None) => Ok(None),
        (Some(authorize_url), Some(token_url), Some(client_id)) => Ok(Some(IdpSignIn {
            authorize_url,
            token_url,
            client_id,
            client_secret: optional("GATEWAY_IDP_CLIENT_SECRET"),
        })),
        (None, _, _) => Err(missing("GATEWAY_IDP_AUTHORIZE_URL")),
        (_, None, _) => Err(missing("GATEWAY_IDP_TOKEN_URL")),
        (_, _, None) => Err(missing("GATEWAY_IDP_CLIENT_ID")),
    }
}

/// The bureau's settings once its URL is set: `https://` (plain `http://` only when allowed
/// outright), the signing secret required.
fn bureau(url: String) -> Result<BureauSettings, ConfigError> {
    let allow_http = optional("GATEWAY_BUREAU_ALLOW_HTTP").is_some_and(|v| v == "true");
    if !(url.starts_with("https://") || allow_http && url.starts_with("http://")) {
        return Err(ConfigError {
            name: "GATEWAY_BUREAU_URL",
            problem: "must start with https:// (http:// only with GATEWAY_BUREAU_ALLOW_HTTP=true)"
                .into(),
        });
    }
    let signing_secret = optional("GATEWAY_BUREAU_SECRET")
        .ok_or_else(|| ConfigError {
            name: "GATEWAY_BUREAU_SECRET",
            problem: "is required with GATEWAY_BUREAU_URL: whsec_ and the base64 of a random key"
                .into(),
        })?
        .parse()
        .map_err(|problem| ConfigError {
            name: "GATEWAY_BUREAU_SECRET",
            problem,
        })?;
    Ok(BureauSettings {
        url: url.trim_end_matches('/').to_owned(),
        timeout_ms: parsed("GATEWAY_BUREAU_TIMEOUT_SECONDS", 10, 1..=300)? * 1000,
        poll_ms: parsed("GATEWAY_OUTBOX_POLL_MS", 1000, 10..=60_000)?,
        base_delay_ms: parsed("GATEWAY_OUTBOX_BASE_DELAY_MS", 2000, 1..=600_000)?,
        give_up_after_secs: parsed("GATEWAY_OUTBOX_GIVE_UP_HOURS", 24, 1..=720)? * 3600,
        signing_secret,
        ca_file: optional("GATEWAY_BUREAU_CA_FILE").map(PathBuf::from),
        client_identity_file: optional("GATEWAY_BUREAU_CLIENT_IDENTITY_FILE").map(PathBuf::from),
    })
}

fn trusted_proxies() -> Result<Vec<IpNet>, ConfigError> {
    let Some(list) = optional("GATEWAY_TRUSTED_PROXIES") else {
        return Ok(vec![]);
    };
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError {
                    name: "GATEWAY_TRUSTED_PROXIES",
                    problem: format!("{entry:?} is not an address or a CIDR block"),
                })
        })
        .collect()
}

fn keys_from_env() -> Result<Option<KeySource>, ConfigError> {
    let at_least_32 = |name, value: &String| {
        if value.len() < 32 {
            Err(ConfigError {
                name,
                problem: "must be at least 32 characters".into(),
            })
        } else {
            Ok(())
        }
    };
    let signing = optional("GATEWAY_JWT_SECRET");
    let id_hash = optional("GATEWAY_ID_HASH_KEY");
    if let Some(secret) = &signing {
        at_least_32("GATEWAY_JWT_SECRET", secret)?;
    }
    if let Some(key) = &id_hash {
        at_least_32("GATEWAY_ID_HASH_KEY", key)?;
    }
    match (optional("GATEWAY_KEYS_FILE"), signing, id_hash) {
        (Some(path), None, None) => Ok(Some(KeySource::File(path.into()))),
        (Some(_), _, _) => Err(ConfigError {
            name: "GATEWAY_KEYS_FILE",
            problem: "set either it or GATEWAY_JWT_SECRET and GATEWAY_ID_HASH_KEY, not both".into(),
        }),
        (None, Some(secret), Some(id_hash)) => Ok(Some(KeySource::Given(Keys {
            signing: vec![SigningKey {
                kid: "env".into(),
                secret,
            }],
            id_hash,
        }))),
        (None, Some(_), None) => Err(missing("GATEWAY_ID_HASH_KEY")),
        (None, None, Some(_)) => Err(missing("GATEWAY_JWT_SECRET")),
        (None, None, None) => Ok(None),
    }
}

fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn missing(name: &'static str) -> ConfigError {
    ConfigError {
        name,
        problem: "must be set as well".into(),
    }
}

fn parsed<T>(
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    let Some(text) = optional(name) else {
        return Ok(default);
    };
    match text.parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(ConfigError {
            name,
            problem: format!(
                "must be a number from {} to {} (got {text:?})",
                range.start(),
                range.end()
            ),
        }),
    }
}
