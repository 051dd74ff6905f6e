//! Use cases. Each public method owns its transaction; handlers above only translate HTTP.

pub mod access;
pub mod admin;
pub mod audit;
pub mod courses;
pub mod delivery;
pub mod error;
mod group;
pub mod ingest;
mod input;
pub mod invoicing;
pub mod learners;
pub mod progress;
pub mod reconcile;
pub mod sessions;
pub mod standing;
pub mod usage;
pub mod vouchers;
pub mod webhooks;
mod writer;

pub use error::{FieldError, ServiceError};

use crate::auth::TokenKeys;
use crate::clock::Clock;
use crate::config::{KeySource, Settings};
use crate::domain::{IdNumber, LearnerHash, Money, RateSchedule, TrainingYear};
use crate::keys::{Keys, KeysError, SigningKey};
use crate::metrics::Metrics;
use crate::store::models::RateScheduleRow;
use crate::store::{secrets, DatabaseUrl, DbConn, Store};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// Everything a use case needs: storage, the clock, keys and counters.
pub struct Gateway {
    store: Store,
    clock: Arc<dyn Clock>,
    tokens: TokenKeys,
    ids: IdHasher,
    metrics: Metrics,
    bureau_configured: bool,
    webhooks: crate::config::WebhookSettings,
    writer: writer::Writer,
    standing: standing::Standing,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Names the setting, so an operator knows where to look.
    #[error("DATABASE_URL {url}: {source}")]
    Store {
        url: String,
        source: crate::store::StoreError,
    },
    #[error("{0}")]
    Keys(#[from] crate::auth::KeyError),
    #[error("{0}")]
    KeyFile(#[from] KeysError),
    #[error(
        "a PostgreSQL deployment needs its keys configured: make a key file once with \
         `gateway keys generate --out /etc/gateway/keys.json` and give every replica \
         GATEWAY_KEYS_FILE=/etc/gateway/keys.json (or GATEWAY_JWT_SECRET and GATEWAY_ID_HASH_KEY)"
    )]
    NoKeys,
    #[error(
        "the database still holds the keys an earlier version generated into it: move them \
         out once with `gateway keys export --out FILE`, then start with GATEWAY_KEYS_FILE=FILE"
    )]
    KeysInDatabase,
    #[error(
        "the key file {0} is missing, but this database's learners were found with its keys: \
         restore it (new keys would make every learner a stranger)"
    )]
    KeysMissing(std::path::PathBuf),
    #[error(
        "the configured keys are not the ones this database's learners were found by (their \
         ID-number key differs): configure the right key file"
    )]
    KeysDoNotMatch,
}

impl Gateway {
    /// Opens the database, applies migrations and loads (or first creates) the keys.
    pub fn open(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Gateway, StartError> {
        let database = |source| StartError::Store {
            url: format!("{:?}", settings.database_url),
            source,
        };
        let metrics = Metrics::new();
        let store = Store::open_observed(
            &settings.database_url,
            settings.db_pool_size,
            Duration::from_millis(settings.db_connect_timeout_ms),
            Some(metrics.db_pool_wait_seconds.clone()),
        )
        .map_err(database)?;
        // Checked before a fresh key file is made: new keys would orphan every learner.
        if !store.read(secrets::held).map_err(database)?.is_empty() {
            return Err(StartError::KeysInDatabase);
        }
        let recorded = store.read(secrets::id_key_check).map_err(database)?;
        let keys = configured_keys(settings, recorded.is_some())?;
        match recorded {
            Some(check) if check != keys.id_key_check() => return Err(StartError::KeysDoNotMatch),
            Some(_) => {}
            None => store
                .write(|conn| secrets::record_id_key_check(conn, &keys.id_key_check()))
                .map_err(database)?,
        }
        let tokens = TokenKeys::new(&keys.signing, &settings.jwt, settings.idp.as_ref())?;
        let gateway = Gateway {
            writer: writer::Writer::start(
                store
                    .dedicated_writer(&settings.database_url)
                    .map_err(database)?,
                store.clone(),
                Arc::clone(&clock),
                settings.ingest_queue_events,
                metrics.clone(),
            ),
            store,
            clock,
            tokens,
            ids: IdHasher(keys.id_hash.into_bytes()),
            metrics,
            bureau_configured: settings.bureau.is_some(),
            webhooks: settings.webhooks.clone(),
            standing: standing::Standing::default(),
        };
        gateway.reload_standing().map_err(|e| StartError::Store {
            url: format!("{:?}", settings.database_url),
            source: crate::store::StoreError::Unavailable(e.to_string()),
        })?;
        Ok(gateway)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Whether the database answers (for `/readyz`).
    pub fn ready(&self) -> bool {
        self.store.ping().is_ok()
    }

    fn today(&self) -> chrono::NaiveDate {
        self.now()
            .with_timezone(&crate::domain::training_year::china_standard_time())
            .date_naive()
    }

    fn stamp(&self) -> NaiveDateTime {
        self.now().naive_utc()
    }

    /// The current training year, for queries that name none.
    pub fn current_year(&self) -> TrainingYear {
        TrainingYear::of(self.now())
    }
}

/// The keys as configured; on the embedded default, the file beside the database, made on
/// first start (never for a database whose learners were found with keys: `in_use`).
fn configured_keys(settings: &Settings, in_use: bool) -> Result<Keys, StartError> {
    match (&settings.keys, &settings.database_url) {
        (Some(KeySource::File(path)), _) => Ok(Keys::load(path)?),
        (Some(KeySource::Given(keys)), _) => Ok(keys.clone().checked()?),
        (None, DatabaseUrl::Sqlite(database)) => {
            let path = crate::keys::beside(database);
            if in_use && !path.exists() {
                return Err(StartError::KeysMissing(path));
            }
            Ok(Keys::load_or_create(&path)?)
        }
        (None, DatabaseUrl::Postgres(_)) => Err(StartError::NoKeys),
    }
}

/// `gateway keys export`: writes the keys an earlier version used to a new key file (mode 0600),
/// then deletes them from the database. As before, a configured key wins over a stored one; a
/// signing key neither configured nor stored is made fresh. The ID-number key must come along,
/// since learners are found by it.
pub fn export_database_keys(settings: &Settings, out: &std::path::Path) -> Result<(), StartError> {
    let database = |source| StartError::Store {
        url: format!("{:?}", settings.database_url),
        source,
    };
    let store = Store::open(
        &settings.database_url,
        1,
        Duration::from_millis(settings.db_connect_timeout_ms),
    )
    .map_err(database)?;
    let held = store.read(secrets::held).map_err(database)?;
    let configured = match &settings.keys {
        Some(KeySource::Given(keys)) => Some(keys.clone()),
        Some(KeySource::File(path)) => Some(Keys::load(path)?),
        None => None,
    };
    let keys = match (configured, held.signing, held.id_hash) {
        // Learners were found by the stored key: a configured one that differs would orphan them.
        (Some(keys), _, Some(stored)) if keys.id_hash != stored => {
            return Err(KeysError::Invalid(
                "the configured ID-number key differs from the one the database holds, by which \
                 its learners were found: configure that one (or none) and export again"
                    .into(),
            )
            .into())
        }
        (Some(keys), _, _) => keys,
        (None, signing, Some(id_hash)) => Keys {
            signing: match signing {
                Some(secret) => vec![SigningKey {
                    kid: "db".into(),
                    secret,
                }],
                None => Keys::generate().signing,
            },
            id_hash,
        },
        (None, _, None) => {
            return Err(
                KeysError::Invalid("the database holds no ID-number key to export".into()).into(),
            )
        }
    };
    let keys = keys.checked()?;
    keys.create(out)?;
    store
        .write(|conn| {
            secrets::forget(conn)?;
            secrets::replace_id_key_check(conn, &keys.id_key_check())
        })
        .map_err(database)?;
    tracing::info!(path = %out.display(), "keys moved out of the database");
    Ok(())
}

/// Keyed hash of ID numbers: finds a learner without storing the number.
struct IdHasher(Vec<u8>);

impl IdHasher {
    fn hash(&self, id: &IdNumber) -> LearnerHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.expose().as_bytes());
        LearnerHash::from(<[u8; 32]>::from(mac.finalize().into_bytes()))
    }
}

/// The cursor of the page after `rows`: its last key when the page is full, else none.
pub fn next_after<T>(rows: &[T], limit: i64, key: impl Fn(&T) -> &String) -> Option<String> {
    let full = i64::try_from(rows.len()).is_ok_and(|n| n == limit);
    rows.last().filter(|_| full).map(|last| key(last).clone())
}

/// A new time-ordered identifier.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

fn fraction(text: &str) -> Decimal {
    text.parse()
        .expect("stored fractions were parsed before storing")
}

/// The stored schedule as the domain's value.
fn schedule_of(row: &RateScheduleRow) -> RateSchedule {
    use crate::domain::schedule::PerLevel;
    RateSchedule {
        effective_year: TrainingYear::new(row.effective_year).expect("stored year is in range"),
        rates: PerLevel {
            junior: Money::from_fen(row.junior_rate_fen),
            intermediate: Money::from_fen(row.intermediate_rate_fen),
            senior: Money::from_fen(row.senior_rate_fen),
        },
        saturation_per_class_hour: PerLevel {
            junior: Money::from_fen(row.junior_saturation_fen),
            intermediate: Money::from_fen(row.intermediate_saturation_fen),
            senior: Money::from_fen(row.senior_saturation_fen),
        },
        learner_annual_cap: Money::from_fen(row.learner_annual_cap_fen),
        platform_annual_ceiling: Money::from_fen(row.platform_annual_ceiling_fen),
        offline_ratio_threshold: fraction(&row.offline_ratio_threshold),
        offline_reduction_factor: fraction(&row.offline_reduction_factor),
    }
}

/// Refuses work for a platform that is unknown or suspended.
fn active_platform(conn: &mut DbConn, code: &str) -> Result<(), ServiceError> {
    match crate::store::catalog::find_platform(conn, code)? {
        None => Err(ServiceError::NotFound("platform")),
        Some(p) if p.status != "active" => Err(ServiceError::Forbidden {
            code: "platform_suspended",
            detail: format!("platform {code} is suspended"),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// The keyed hash learners were stored under: HMAC-SHA-256 of the ID number, the answer from
    /// another implementation (Python's `hmac`). Its bytes are what the books keep, its hex what
    /// they kept before.
    #[test]
    fn a_learner_is_hashed_as_hmac_sha256_of_the_id_number() {
        let today = NaiveDate::from_ymd_opt(2022, 12, 15).unwrap();
        let id = IdNumber::parse("11010519491231002X", today).unwrap();
        let hash = IdHasher(b"an-id-hash-key".to_vec()).hash(&id);
        assert_eq!(
            hash.to_hex(),
            "e4a1a619f13473b5ab0d2bb97f2b931e02476d651d6b0589ab13e7afe3e42d9d"
        );
    }
}
