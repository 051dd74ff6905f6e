//! Storage: one diesel code base over SQLite (embedded default) and PostgreSQL (replicas).
//!
//! Every transaction that moves money goes through [`Store::write`], which serialises writers
//! twice: a mutex inside this process (so waiting costs nothing), and the `ledger` row of
//! `ledger_locks`, updated first thing in the transaction, across processes. On PostgreSQL that
//! update takes a row lock held to commit; on SQLite it takes the database's write lock. Either
//! way each money transaction sees every earlier one committed, so limits hold exactly.
//! Every write to the ledger's tables goes through it: the ledger writer keeps counters for as
//! long as the generation it bumps says nobody else wrote, and catalog rows for as long as
//! nothing but writers' groups ([`Store::write_group`]) took the lock (`catalog_generation`,
//! kept by a trigger; `service::group::Kept`), so a change made around it (by hand, or a data
//! migration while gateways run) must bump `ledger_locks.generation` too, or be followed by a
//! restart.

/// Inserts many rows: `COPY … FROM STDIN (FORMAT binary)` on PostgreSQL (one round trip, no
/// statement of thousands of parameters to parse), one cached prepared statement per row on
/// embedded SQLite (no round trip to save; a multi-row statement would be parsed anew each time).
/// Diesel's multi-backend connection has no batch insert, so each backend gets its own here.
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        match &mut *$conn {
            DbConn::Sqlite(c) => {
                for row in $rows.iter() {
                    diesel::insert_into($table).values(row).execute(c)?;
                }
            }
            DbConn::Postgres(c) => {
                if !$rows.is_empty() {
                    diesel::copy_from($table)
                        .from_insertable($rows.as_slice())
                        .execute(c)?;
                }
            }
        }
    };
}

pub mod billing;
pub mod books;
pub mod catalog;
pub mod group;
pub mod ledger;
pub mod models;
pub mod progress;
pub mod schema;
pub mod secrets;
pub mod sessions;
pub mod vouchers;
pub mod webhooks;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies the pending migrations, unless the database carries one this binary does not know: a
/// newer version migrated it, and this one would misread its books or write beside them in the
/// old form (on SQLite a learner's hash as hex text next to the same learner's bytes: a second
/// learner, with a cap of their own).
fn migrate_known<C, DB>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
) -> diesel::migration::Result<()>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    use diesel::migration::MigrationSource;
    let known: std::collections::HashSet<String> = migrations
        .migrations()?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let unknown: Vec<String> = conn
        .applied_migrations()?
        .into_iter()
        .map(|v| v.to_string())
        .filter(|v| !known.contains(v))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the database was migrated by a newer gateway (migrations {} are unknown to this \
             one): run that version or a later one",
            unknown.join(", ")
        )
        .into());
    }
    conn.run_pending_migrations(migrations).map(|_| ())
}

/// Runs the migrations before the one whose name ends with `name`, which is then the next to run:
/// how the migration tests write books as they stood before it.
pub fn migrate_until<C, DB>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
    name: &str,
) -> diesel::migration::Result<()>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    use diesel::migration::MigrationSource;
    let all = migrations.migrations()?;
    let before = all
        .iter()
        .position(|m| m.name().to_string().ends_with(name))
        .ok_or_else(|| format!("no migration named …{name}"))?;
    // Reading what ran makes diesel's table of applied migrations, which `run_migration` fills.
    conn.applied_migrations()?;
    for migration in &all[..before] {
        conn.run_migration(migration.as_ref())?;
    }
    Ok(())
}

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`, relative (`sqlite://data/gateway.db`) or absolute (`sqlite:///var/x.db`).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, handed to libpq as is.
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL must start with sqlite:// or postgres:// (got scheme {0:?})")]
pub struct UnsupportedDatabaseUrl(String);

impl FromStr for DatabaseUrl {
    type Err = UnsupportedDatabaseUrl;
    fn from_str(url: &str) -> Result<DatabaseUrl, UnsupportedDatabaseUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !path.is_empty() {
                return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let scheme = url.split("://").next().unwrap_or(url);
        Err(UnsupportedDatabaseUrl(scheme.to_owned()))
    }
}

impl fmt::Debug for DatabaseUrl {
    /// Never prints a PostgreSQL password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => {
                let host = url.rsplit('@').next().unwrap_or_default();
                let host = host.split("://").last().unwrap_or(host);
                write!(f, "postgres://…@{host}")
            }
        }
    }
}

impl DatabaseUrl {
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[from] DieselError),
}

impl StoreError {
    /// The database could not be reached, or went away mid-request: not the query's fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Query(DieselError::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
                ) || CONNECTION_LOST.iter().any(|m| info.message().contains(m))
            }
            _ => false,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// What libpq says when the server went away between statements.
const CONNECTION_LOST: [&str; 3] = [
    "server closed the connection",
    "terminating connection",
    "no connection to the server",
];

/// Opens connections of the backend the URL names (never guessing from a failed attempt).
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// The ingest writer's own connection (see [`Store::dedicated_writer`]).
    ingest_writer: bool,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL with synchronous=FULL: an acknowledged commit survives power loss.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                if self.ingest_writer {
                    conn.batch_execute(INGEST_WRITER_PRAGMAS)
                        .map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // A group binds its keys as one array (`= ANY($1)`). A generic plan cannot see
                // the array's size and scans it linearly for every row; a custom plan hashes it
                // and picks index or scan by the real size. Planning these queries is cheap.
                conn.batch_execute("SET plan_cache_mode = force_custom_plan")
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection given back while its thread panics, or still inside a transaction (a
    /// panic unwound past the commit), is closed, never reused: reused, its open transaction
    /// would swallow later commits as savepoints and keep holding the ledger lock.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

pub type Conn = PooledConnection<ConnectionManager>;

/// A page of a list: the rows after a key, at most `limit` of them.
#[derive(Clone, Debug)]
pub struct Cursor {
    pub after: Option<String>,
    pub limit: i64,
}

/// The ledger's generation: bumped by every money transaction, stamped on what it records.
#[derive(QueryableByName)]
struct Generation {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generation: i64,
}

/// What the ledger writer's group learns as it takes the ledger lock.
#[derive(QueryableByName, Debug, Clone, Copy)]
pub struct Stamp {
    /// The generation this group writes.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub generation: i64,
    /// The generation of the last transaction that may have changed the catalog.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub catalog_generation: i64,
}

/// The generation of the last money transaction this connection's snapshot sees: inside
/// [`Store::snapshot`], the books are exactly those of the transactions up to it.
pub fn ledger_generation(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(schema::ledger_locks::table
        .find("ledger")
        .select(schema::ledger_locks::generation)
        .first(conn)?)
}

/// Times the waits for a pooled connection (checkouts, and the ones that timed out).
#[derive(Debug)]
struct PoolWaits(Option<prometheus::Histogram>);

impl r2d2::HandleEvent for PoolWaits {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        if let Some(waits) = &self.0 {
            waits.observe(event.duration().as_secs_f64());
        }
    }

    fn handle_timeout(&self, event: r2d2::event::TimeoutEvent) {
        if let Some(waits) = &self.0 {
            waits.observe(event.timeout().as_secs_f64());
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager>,
    writer: Arc<Mutex<()>>,
    backend: &'static str,
    /// Set while the database is unreachable: requests then fail fast instead of each waiting
    /// the full connect timeout (writers queue behind one mutex). Cleared by the next success.
    down: Arc<AtomicBool>,
}

/// The ingest writer's SQLite connection keeps the hot pages of the indexes a group inserts
/// into (32 MiB instead of 2), and leaves checkpoints to the [`checkpointer`] thread except
/// as a backstop when the log reaches 40 MiB: a checkpoint run inside a commit (every 4 MiB by
/// default) copies the log into the database and syncs it while the next group waits.
const INGEST_WRITER_PRAGMAS: &str =
    "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 10000; PRAGMA foreign_keys = OFF;";

/// How long a request tries for a connection while the database is known to be down.
const WHILE_DOWN: Duration = Duration::from_millis(250);

impl Store {
    /// Opens the database (creating a SQLite file and its folder if needed) and applies the
    /// pending migrations of its dialect.
    pub fn open(
        url: &DatabaseUrl,
        pool_size: u32,
        connect_timeout: Duration,
    ) -> Result<Store, StoreError> {
        Store::open_observed(url, pool_size, connect_timeout, None)
    }

    /// [`Store::open`], timing every wait for a pooled connection into `pool_waits`.
    pub fn open_observed(
        url: &DatabaseUrl,
        pool_size: u32,
        connect_timeout: Duration,
        pool_waits: Option<prometheus::Histogram>,
    ) -> Result<Store, StoreError> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let pool = Pool::builder()
            .max_size(pool_size)
            // Connections open on demand and none is kept warm: a CLI call holds one, not a
            // pool, and no pool thread is still connecting when a short-lived process exits
            // (libpq torn down under a connecting thread crashes the process).
            .min_idle(Some(0))
            .connection_timeout(connect_timeout)
            .event_handler(Box::new(PoolWaits(pool_waits)))
            .build(ConnectionManager {
                url: url.clone(),
                ingest_writer: false,
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = Store {
            pool,
            writer: Arc::new(Mutex::new(())),
            backend: url.backend(),
            down: Arc::new(AtomicBool::new(false)),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The same database through one connection of its own, for the ingest writer. SQLite
    /// keeps a page cache per connection and drops it whenever another connection wrote: a
    /// writer that always writes through the same connection finds the indexes it inserts
    /// into still cached from its last group instead of reading them again.
    pub fn dedicated_writer(&self, url: &DatabaseUrl) -> Result<Store, StoreError> {
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(self.pool.connection_timeout())
            .build(ConnectionManager {
                url: url.clone(),
                ingest_writer: true,
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Store {
            pool,
            writer: Arc::clone(&self.writer),
            backend: self.backend,
            down: Arc::clone(&self.down),
        })
    }

    fn conn(&self) -> Result<Conn, StoreError> {
        let attempt = if self.down.load(Ordering::Relaxed) {
            self.pool.get_timeout(WHILE_DOWN)
        } else {
            self.pool.get()
        };
        self.down.store(attempt.is_err(), Ordering::Relaxed);
        attempt.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let outcome = match &mut *conn {
            DbConn::Sqlite(c) => migrate_known(c, SQLITE_MIGRATIONS),
            DbConn::Postgres(c) => {
                // Replicas starting together take turns, so each migration runs once.
                c.batch_execute("SELECT pg_advisory_lock(7207001)")?;
                let outcome = migrate_known(c, POSTGRES_MIGRATIONS);
                c.batch_execute("SELECT pg_advisory_unlock(7207001)")?;
                outcome
            }
        };
        outcome.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// A connection for reads. `E` is the caller's error type.
    pub fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn()?;
        work(&mut conn)
    }

    /// A money transaction: one writer at a time across all gateway processes, all or nothing.
    pub fn write<T, E>(&self, work: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError> + From<DieselError>,
    {
        self.write_stamped(|conn, _| work(conn))
    }

    /// A money transaction whose work learns the ledger generation it writes, to stamp the
    /// completions and revocations it records (see [`ledger_generation`]).
    pub fn write_stamped<T, E>(
        &self,
        work: impl FnOnce(&mut DbConn, i64) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError> + From<DieselError>,
    {
        // Moves `catalog_generation` along too (the trigger): the ledger writer reads the
        // catalog again.
        self.locked(
            "UPDATE ledger_locks SET generation = generation + 1 WHERE name = 'ledger' \
             RETURNING generation",
            |conn, Generation { generation }| work(conn, generation),
        )
    }

    /// The ledger writer's money transaction: it adds completions, learners and counters and
    /// leaves the catalog as it was but for `courses.frozen`, which it only ever sets (a writer
    /// that kept a course as not frozen sets it again, to no effect), and it says so by
    /// stamping `group_generation` (the trigger
    /// then leaves `catalog_generation` where it was). Only the ledger row's own columns are
    /// read here: on PostgreSQL a subquery in this statement would read the snapshot taken
    /// before the wait for the lock, blind to the group that held it.
    pub fn write_group<T, E>(
        &self,
        work: impl FnOnce(&mut DbConn, Stamp) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError> + From<DieselError>,
    {
        self.locked(
            "UPDATE ledger_locks SET generation = generation + 1, \
             group_generation = generation + 1 WHERE name = 'ledger' \
             RETURNING generation, catalog_generation",
            work,
        )
    }

    /// A transaction that holds the ledger lock: `take` updates the ledger row first thing
    /// (taking that row is the lock), and `work` gets what it returns (both engines answer
    /// RETURNING).
    fn locked<S, T, E>(
        &self,
        take: &str,
        work: impl FnOnce(&mut DbConn, S) -> Result<T, E>,
    ) -> Result<T, E>
    where
        S: QueryableByName<<DbConn as Connection>::Backend> + 'static,
        E: From<StoreError> + From<DieselError>,
    {
        let _one_writer_here = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            let taken: S = diesel::sql_query(take).get_result(&mut **conn)?;
            work(conn, taken)
        })
    }

    /// A consistent, read-only view of the committed books that blocks no writer: on SQLite
    /// the read transaction's WAL snapshot, on PostgreSQL `REPEATABLE READ`.
    pub fn snapshot<T, E>(&self, work: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError> + From<DieselError>,
    {
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            if let DbConn::Postgres(pg) = &mut **conn {
                pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
            }
            work(conn)
        })
    }

    /// Copies what the write-ahead log holds into the SQLite database file, as far as no
    /// reader still needs it, without blocking writers (`PASSIVE`). Nothing to do on PostgreSQL.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == "sqlite" {
            self.conn()?
                .batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
        }
        Ok(())
    }

    /// Whether the database answers now (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn()?.batch_execute("SELECT 1")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            "sqlite://data/gateway.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("data/gateway.db"))
        );
        assert_eq!(
            "sqlite:///var/lib/gateway/gateway.db"
                .parse::<DatabaseUrl>()
                .unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/gateway/gateway.db"))
        );
        assert!(matches!(
            "postgres://u:p@localhost/db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        let err = "mysql://localhost/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(err.to_string().contains("mysql"));
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
    }

    /// A fresh SQLite database in `dir`, migrated up to the migration whose name ends with
    /// `name`, which is the next to run.
    fn migrated_until(dir: &tempfile::TempDir, name: &str) -> SqliteConnection {
        let mut conn =
            SqliteConnection::establish(dir.path().join("gateway.db").to_str().unwrap()).unwrap();
        migrate_until(&mut conn, SQLITE_MIGRATIONS, name).unwrap();
        // Rows without all they name: only what the migration reads.
        conn.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        conn
    }

    /// The claims table goes only when it agrees with the live grants: a stale claim stops the
    /// migration with the table kept; agreeing books become the unique index, which refuses a
    /// second live grant of the same learner and course.
    #[test]
    fn the_claims_table_becomes_an_index_only_when_it_agrees_with_the_live_grants() {
        let migrate = |claims: &str| {
            let dir = tempfile::tempdir().unwrap();
            let mut conn = migrated_until(&dir, "claims_as_index");
            // l1 holds c1 with x1 (x3 was its duplicate claim); l2's x2 was revoked.
            conn.batch_execute(&format!(
                "INSERT INTO completions (id, platform_code, event_id, content_hash, course_id, \
                 learner_id, payer_code, class_hours, level, status, gross_fen, granted_fen, \
                 received_at, revoked_at) VALUES \
                 ('x1', 'P', 'e1', 'h', 'c1', 'l1', 'province', 1, 'junior', 'accepted', 300, 300, '2022-06-01 00:00:00', NULL), \
                 ('x2', 'P', 'e2', 'h', 'c1', 'l2', 'province', 1, 'junior', 'accepted', 300, 300, '2022-06-01 00:00:00', '2022-06-02 00:00:00'), \
                 ('x3', 'P', 'e3', 'h', 'c1', 'l1', 'province', 1, 'junior', 'duplicate_claim', 300, 0, '2022-06-01 00:00:00', NULL); \
                 INSERT INTO claims (learner_id, course_id, completion_id) VALUES {claims};"
            ))
            .unwrap();
            let migrated = conn.run_next_migration(SQLITE_MIGRATIONS).is_ok();
            #[derive(QueryableByName)]
            struct Tables {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                tables: i64,
            }
            let claims_table = diesel::sql_query(
                "SELECT COUNT(*) AS tables FROM sqlite_master WHERE type = 'table' AND name = 'claims'",
            )
            .get_result::<Tables>(&mut conn)
            .unwrap()
            .tables;
            (migrated, claims_table, conn, dir)
        };

        let (migrated, claims_table, _, _) = migrate("('l1', 'c1', 'x1'), ('l2', 'c1', 'x2')");
        assert!(
            !migrated,
            "a claim held by a revoked completion must stop the migration"
        );
        assert_eq!(claims_table, 1, "and the claims table stays");
        let (migrated, _, _, _) = migrate("('l1', 'c2', 'x1')");
        assert!(
            !migrated,
            "a live grant without its claim must stop the migration"
        );

        let (migrated, claims_table, mut conn, _dir) = migrate("('l1', 'c1', 'x1')");
        assert!(migrated);
        assert_eq!(claims_table, 0);
        let second =
            diesel::sql_query("UPDATE completions SET status = 'accepted' WHERE id = 'x3'")
                .execute(&mut conn);
        assert!(second.is_err(), "the index refuses a second live grant");
        diesel::sql_query(
            "UPDATE completions SET revoked_at = '2022-06-03 00:00:00' WHERE id = 'x1'",
        )
        .execute(&mut conn)
        .unwrap();
        diesel::sql_query("UPDATE completions SET status = 'accepted' WHERE id = 'x3'")
            .execute(&mut conn)
            .expect("a revocation releases the claim");
    }

    /// Invoices drafted before the cut-off migration list, after it, exactly what they linked,
    /// and the next run includes what none of them did (a late arrival, a later month).
    #[test]
    fn the_cut_off_migration_keeps_what_old_invoices_linked() {
        use diesel::sql_types::{BigInt, Nullable, Text};
        let dir = tempfile::tempdir().unwrap();
        // Invoices and their links as they stood before the cut-off.
        let mut conn = migrated_until(&dir, "invoice_cutoff");
        conn.batch_execute(include_str!("../../tests/fixtures/linked_invoices.sql"))
            .unwrap();
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();

        #[derive(QueryableByName, PartialEq, Debug)]
        struct Stamp {
            #[diesel(sql_type = Text)]
            id: String,
            #[diesel(sql_type = BigInt)]
            generation: i64,
            #[diesel(sql_type = Nullable<BigInt>)]
            revoked_generation: Option<i64>,
        }
        let stamps: Vec<Stamp> = diesel::sql_query(
            "SELECT id, generation, revoked_generation FROM completions ORDER BY id",
        )
        .load(&mut conn)
        .unwrap();
        let stamp = |id: &str, generation, revoked_generation| Stamp {
            id: id.into(),
            generation,
            revoked_generation,
        };
        assert_eq!(
            stamps,
            [
                stamp("x1", 1, Some(3)),
                stamp("x2", 1, None),
                stamp("x3", 2, None),
                stamp("x4", 2, None),
                stamp("x5", 3, None),
            ]
        );
        let mut conn = DbConn::Sqlite(conn);
        let invoices: Vec<models::InvoiceRow> = schema::invoices::table
            .order(schema::invoices::id)
            .load(&mut conn)
            .unwrap();
        let listed = |conn: &mut DbConn, invoice: &models::InvoiceRow, until: &str| {
            let window = billing::Window {
                platform: invoice.platform_code.clone(),
                payer: invoice.payer_code.clone(),
                year: invoice.training_year,
                until: until.parse().unwrap(),
                cutoff: invoice.cutoff_generation,
                covered: invoice.covered_until.zip(invoice.covered_generation),
            };
            let page = Cursor {
                after: None,
                limit: 100,
            };
            let rows = billing::completions_of(conn, &window, &page).unwrap();
            rows.into_iter().map(|(event, _)| event).collect::<Vec<_>>()
        };
        // June's approved invoice linked e1 (revoked since) and e2; July's draft the late June
        // arrival e3 and July's e4; e5 came after both runs.
        assert_eq!(
            listed(&mut conn, &invoices[0], "2022-06-30T16:00:00"),
            ["e1", "e2"]
        );
        assert_eq!(
            listed(&mut conn, &invoices[1], "2022-07-31T16:00:00"),
            ["e3", "e4"]
        );
        assert_eq!(
            (invoices[0].completions_total, invoices[1].completions_total),
            (2, 2)
        );
        let next = ledger_generation(&mut conn).unwrap();
        assert!(next >= 3, "later runs include what none did: {next}");
    }

    /// A panic inside a money transaction rolls it back, and the connection is not reused with
    /// the transaction still open (which would turn the next commits into savepoints).
    #[test]
    fn a_panic_in_a_money_transaction_rolls_back_and_the_next_commits() {
        use diesel::RunQueryDsl;
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("gateway.db"));
        let store = Store::open(&url, 1, Duration::from_secs(5)).unwrap();
        let payer = |conn: &mut DbConn, code: &str| {
            diesel::sql_query(format!(
                "INSERT INTO payers (code, name, created_at) VALUES ('{code}', '{code}', CURRENT_TIMESTAMP)"
            ))
            .execute(conn)
            .map_err(StoreError::from)
        };
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            store.write(|conn| -> Result<(), StoreError> {
                payer(conn, "lost")?;
                panic!("a bug mid-transaction");
            })
        }));
        assert!(panicked.is_err());
        store.write(|conn| payer(conn, "kept")).unwrap();
        // Another process's view: only what was committed.
        let other = Store::open(&url, 1, Duration::from_secs(5)).unwrap();
        let codes: Vec<String> = other
            .read(|conn| {
                schema::payers::table
                    .select(schema::payers::code)
                    .load(conn)
                    .map_err(StoreError::from)
            })
            .unwrap();
        assert!(codes.contains(&"kept".to_owned()), "{codes:?}");
        assert!(!codes.contains(&"lost".to_owned()), "{codes:?}");
    }

    #[test]
    fn debug_hides_the_password() {
        let url: DatabaseUrl = "postgres://user:secret@db.local/gw".parse().unwrap();
        assert!(!format!("{url:?}").contains("secret"));
    }
}
