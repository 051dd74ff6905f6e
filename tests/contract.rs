//! The contract around the API: the OpenAPI file, the migrations of both dialects, operations
//! endpoints, and the durability settings of the embedded database.

mod common;

use common::*;
use diesel::sql_types::{BigInt, Binary, Bool, Text};
use diesel::{QueryableByName, RunQueryDsl};
use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn the_openapi_file_is_what_the_routes_say() {
    let generated = subsidy_gateway::http::api_doc().to_yaml().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.yaml");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(
        stored == generated,
        "openapi/openapi.yaml is stale: run `cargo run -- openapi > openapi/openapi.yaml`"
    );
    for route in [
        "/v1/auth/token",
        "/v1/platforms",
        "/v1/platforms/{code}",
        "/v1/users",
        "/v1/payers",
        "/v1/rate-schedules",
        "/v1/courses",
        "/v1/courses/{code}",
        "/v1/completions",
        "/v1/completions/{event_id}/revoke",
        "/v1/offline-followups",
        "/v1/usage",
        "/v1/me/subsidy",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            generated.contains(&format!("  {route}:\n")),
            "{route} missing from the document"
        );
    }
}

fn migration_names(dialect: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_dialects_have_the_same_migrations() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
    for name in &sqlite {
        for dialect in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(dialect)
                    .join(name)
                    .join(file);
                assert!(path.exists(), "{} missing", path.display());
            }
        }
    }
}

/// The platform P and its course c1, as the books of the migration tests name them.
const CATALOG: &str = "INSERT INTO platforms (code, name, status, client_id, client_secret_hash, \
    created_at, updated_at, token_version) VALUES ('P', 'P', 'active', 'c', 'h', \
    '2022-06-01 00:00:00', '2022-06-01 00:00:00', 0); \
    INSERT INTO courses (id, platform_code, code, title, level, class_hours, created_at, \
    updated_at) VALUES ('c1', 'P', 'C1', 't', 'junior', 10, '2022-06-01 00:00:00', \
    '2022-06-01 00:00:00'); ";

/// Migrates a fresh test database up to the migration whose name ends with `$name`, writes
/// `$books`, runs that migration, and reads `$query` as `$row`s whatever came of it: whether it
/// ran, and the rows. The books are written past SQLite's foreign keys, which are back on, as in
/// the gateway's own connections, when the migration runs.
macro_rules! migrate_over {
    ($name:expr, $books:expr, $query:expr, $row:ty) => {{
        use diesel::{Connection, PgConnection, SqliteConnection};
        use subsidy_gateway::store::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
        let database = TestDatabase::fresh();
        if database.is_postgres() {
            let conn = &mut PgConnection::establish(&database.url).unwrap();
            migrate_over!(@on conn, POSTGRES_MIGRATIONS, "", "", $name, $books, $query, $row)
        } else {
            let path = database.url.trim_start_matches("sqlite://");
            let conn = &mut SqliteConnection::establish(path).unwrap();
            let (off, on) = ("PRAGMA foreign_keys = OFF;", "PRAGMA foreign_keys = ON;");
            migrate_over!(@on conn, SQLITE_MIGRATIONS, off, on, $name, $books, $query, $row)
        }
    }};
    (@on $conn:expr, $migrations:expr, $keys_off:expr, $keys_on:expr,
        $name:expr, $books:expr, $query:expr, $row:ty) => {{
        use diesel::connection::SimpleConnection;
        use diesel_migrations::MigrationHarness;
        let conn = $conn;
        subsidy_gateway::store::migrate_until(conn, $migrations, $name).unwrap();
        conn.batch_execute(&format!("{}{}{}", $keys_off, $books, $keys_on))
            .unwrap();
        let migrated = conn.run_next_migration($migrations).is_ok();
        let rows: Vec<$row> = diesel::sql_query($query).load(conn).unwrap();
        (migrated, rows)
    }};
}

/// Learners get numbers in the order they were first seen (migration `learner_keys`), and every
/// row naming a learner follows its learner; a row naming a learner that does not exist stops the
/// migration with the books as they were. On the test database's engine: SQLite rebuilds the
/// tables, PostgreSQL changes each column's type in place.
#[test]
fn the_learner_keys_migration_numbers_learners_by_first_sight_and_stops_on_an_orphan() {
    #[derive(QueryableByName)]
    struct Named {
        #[diesel(sql_type = Text)]
        holder: String,
        #[diesel(sql_type = Text)]
        learner: String,
    }
    // Every row that names a learner, with the key it names, in an order both engines share.
    const NAMED: &str = "SELECT 'learner ' || id_hash AS holder, CAST(id AS TEXT) AS learner \
        FROM learners UNION ALL SELECT id, CAST(learner_id AS TEXT) FROM completions \
        UNION ALL SELECT 'counter', CAST(learner_id AS TEXT) FROM learner_year_usage \
        UNION ALL SELECT id, CAST(learner_id AS TEXT) FROM offline_followups ORDER BY holder";
    // uuid-b was seen before uuid-a, though its text sorts after; x2 names `{orphan}`.
    let books = |orphan: &str| {
        format!(
            "{CATALOG}INSERT INTO learners (id, id_hash, id_masked, name, created_at) VALUES \
             ('uuid-a', 'ha', 'm', 'A', '2022-06-02 00:00:00'), \
             ('uuid-b', 'hb', 'm', 'B', '2022-06-01 00:00:00'); \
             INSERT INTO completions (id, platform_code, event_id, content_hash, course_id, \
             learner_id, payer_code, class_hours, level, status, gross_fen, granted_fen, \
             received_at) VALUES \
             ('x1', 'P', 'e1', 'h', 'c1', 'uuid-b', 'province', 1, 'junior', 'accepted', 300, 300, '2022-06-03 00:00:00'), \
             ('x2', 'P', 'e2', 'h', 'c1', '{orphan}', 'province', 1, 'junior', 'accepted', 300, 300, '2022-06-03 00:00:00'); \
             INSERT INTO learner_year_usage (payer_code, learner_id, training_year, granted_fen) \
             VALUES ('province', 'uuid-b', 2022, 300); \
             INSERT INTO offline_followups (id, platform_code, learner_id, attended_on, program, \
             created_at) VALUES ('f1', 'P', 'uuid-a', '2022-06-01', 'x', '2022-06-01 00:00:00');"
        )
    };
    let migrate = |orphan: &str| {
        let (migrated, named) = migrate_over!("learner_keys", books(orphan), NAMED, Named);
        let named: Vec<(String, String)> =
            named.into_iter().map(|n| (n.holder, n.learner)).collect();
        (migrated, named)
    };
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(r, l)| ((*r).into(), (*l).into()))
            .collect()
    };

    let (migrated, named) = migrate("uuid-gone");
    assert!(!migrated, "a completion of an unknown learner must stop it");
    assert_eq!(
        named,
        pairs(&[
            ("counter", "uuid-b"),
            ("f1", "uuid-a"),
            ("learner ha", "uuid-a"),
            ("learner hb", "uuid-b"),
            ("x1", "uuid-b"),
            ("x2", "uuid-gone"),
        ]),
        "and the books stay as they were"
    );

    let (migrated, named) = migrate("uuid-a");
    assert!(migrated);
    assert_eq!(
        named,
        pairs(&[
            ("counter", "1"),
            ("f1", "2"),
            ("learner ha", "2"),
            ("learner hb", "1"),
            ("x1", "1"),
            ("x2", "2"),
        ])
    );
}

/// The migration `frozen_courses` freezes the courses that have completions (an uncertified one
/// counts) and no other, on the test database's engine.
#[test]
fn the_frozen_courses_migration_freezes_the_courses_with_completions() {
    #[derive(QueryableByName)]
    struct Course {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Bool)]
        frozen: bool,
    }
    let books = format!(
        "{CATALOG}INSERT INTO courses (id, platform_code, code, title, level, class_hours, \
         created_at, updated_at) VALUES \
         ('c2', 'P', 'C2', 't', 'junior', 10, '2022-06-01 00:00:00', '2022-06-01 00:00:00'); \
         INSERT INTO completions (id, platform_code, event_id, content_hash, course_id, \
         learner_id, payer_code, class_hours, level, status, gross_fen, granted_fen, \
         received_at) VALUES ('x1', 'P', 'e1', 'h', 'c1', 1, 'province', 1, 'junior', \
         'uncertified', 300, 0, '2022-06-01 00:00:00');"
    );
    let (migrated, courses) = migrate_over!(
        "frozen_courses",
        books,
        "SELECT id, frozen FROM courses ORDER BY id",
        Course
    );
    assert!(migrated);
    let frozen: Vec<(String, bool)> = courses.into_iter().map(|c| (c.id, c.frozen)).collect();
    assert_eq!(frozen, [("c1".into(), true), ("c2".into(), false)]);
}

/// A learner's keyed hash, the one a voucher names and an event's content hash become the 32
/// bytes their hex spelled (migration `raw_hashes`); a hash that is not hex, or not 32 bytes,
/// stops the migration with every hash as it was.
#[test]
fn the_raw_hashes_migration_keeps_each_digest_as_its_bytes_and_stops_on_one_that_is_not_32_bytes_of_hex(
) {
    #[derive(QueryableByName)]
    struct Hashed {
        #[diesel(sql_type = Text)]
        holder: String,
        #[diesel(sql_type = Binary)]
        hash: Vec<u8>,
    }
    const HASHES: &str = "SELECT 'completion' AS holder, content_hash AS hash FROM completions \
        UNION ALL SELECT 'learner', id_hash FROM learners \
        UNION ALL SELECT 'voucher', learner_hash FROM vouchers ORDER BY holder";
    let (learner, content) = ("0f".repeat(32), "a1".repeat(32));
    let books = |voucher: &str| {
        format!(
            "{CATALOG}INSERT INTO learners (id, id_hash, id_masked, name, created_at) VALUES \
             (1, '{learner}', 'm', 'A', '2022-06-01 00:00:00'); \
             INSERT INTO completions (id, platform_code, event_id, content_hash, course_id, \
             learner_id, payer_code, class_hours, level, status, gross_fen, granted_fen, \
             received_at) VALUES ('x1', 'P', 'e1', '{content}', 'c1', 1, 'province', 1, \
             'junior', 'accepted', 300, 300, '2022-06-01 00:00:00'); \
             INSERT INTO vouchers (code, payer_code, learner_hash, learner_masked, valid_from, \
             valid_until, status, created_at, created_by) VALUES ('V1', 'province', '{voucher}', \
             'm', '2022-06-01 00:00:00', '2022-12-31 00:00:00', 'issued', \
             '2022-06-01 00:00:00', 'admin');"
        )
    };
    let migrate = |voucher: &str| {
        let (migrated, hashed) = migrate_over!("raw_hashes", books(voucher), HASHES, Hashed);
        let hashed: Vec<(String, Vec<u8>)> =
            hashed.into_iter().map(|h| (h.holder, h.hash)).collect();
        (migrated, hashed)
    };
    let held = |pairs: [(&str, &[u8]); 3]| -> Vec<(String, Vec<u8>)> {
        pairs
            .into_iter()
            .map(|(holder, hash)| (holder.into(), hash.to_vec()))
            .collect()
    };

    for (voucher, why) in [("not hex", "not hex"), ("0f0f", "not 32 bytes")] {
        let (migrated, hashed) = migrate(voucher);
        assert!(!migrated, "a hash {why} must stop it");
        assert_eq!(
            hashed,
            held([
                ("completion", content.as_bytes()),
                ("learner", learner.as_bytes()),
                ("voucher", voucher.as_bytes()),
            ]),
            "and every hash stays as it was"
        );
    }

    let (migrated, hashed) = migrate(&learner);
    assert!(migrated);
    assert_eq!(
        hashed,
        held([
            ("completion", &[0xa1; 32]),
            ("learner", &[0x0f; 32]),
            ("voucher", &[0x0f; 32]),
        ])
    );
}

/// After `raw_hashes` a learner's or a voucher's hash written as hex text, as a gateway from
/// before it would write it, is refused (on SQLite by a trigger, on PostgreSQL by the column's
/// type and length): such a learner would never be found again by their bytes, and would get a
/// second record with a cap of its own.
#[test]
fn a_hash_written_as_hex_text_is_refused() {
    use subsidy_gateway::store::StoreError;
    let database = TestDatabase::fresh();
    let store = database.open_store().unwrap();
    let hex = "0f".repeat(32);
    let insert = |sql: String| {
        store.read(|conn| {
            diesel::sql_query(sql)
                .execute(conn)
                .map_err(StoreError::from)
        })
    };
    let learner = |id: i64, hash: &str| {
        format!(
            "INSERT INTO learners (id, id_hash, id_masked, name, created_at) \
             VALUES ({id}, {hash}, 'm', 'A', '2022-06-01 00:00:00')"
        )
    };
    let voucher = |hash: &str| {
        format!(
            "INSERT INTO vouchers (code, payer_code, learner_hash, learner_masked, valid_from, \
             valid_until, status, created_at, created_by) VALUES ('V1', 'province', {hash}, 'm', \
             '2022-06-01 00:00:00', '2022-12-31 00:00:00', 'issued', '2022-06-01 00:00:00', 'x')"
        )
    };
    assert!(
        insert(learner(1, &format!("'{hex}'"))).is_err(),
        "a learner's hex"
    );
    assert!(
        insert(voucher(&format!("'{hex}'"))).is_err(),
        "a voucher's hex"
    );
    // The same hash as its bytes is taken, which also shows the statements are right.
    let bytes = if database.is_postgres() {
        format!("decode('{hex}', 'hex')")
    } else {
        format!("unhex('{hex}')")
    };
    assert_eq!(insert(learner(1, &bytes)).unwrap(), 1);
    assert_eq!(insert(voucher(&bytes)).unwrap(), 1);
}

/// A gateway older than its database's schema refuses to start, instead of misreading the books
/// or writing beside them in an older form (on SQLite a learner's hash as hex text next to the
/// same learner's bytes would be a second learner).
#[test]
fn a_gateway_refuses_a_database_migrated_by_a_newer_version() {
    use subsidy_gateway::store::StoreError;
    let database = TestDatabase::fresh();
    let open = || database.open_store();
    open()
        .unwrap()
        .read(|conn| {
            diesel::sql_query(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000001')",
            )
            .execute(conn)
            .map_err(StoreError::from)
        })
        .unwrap();
    let refused = open().err().expect("a newer schema refused").to_string();
    assert!(
        refused.contains("migrated by a newer gateway") && refused.contains("29991231000001"),
        "{refused}"
    );
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let app = TestApp::at("2022-12-15T10:00:00+08:00").await;
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().contains_key("x-request-id"));
    let (code, ready) = app.json(Method::GET, "/readyz", None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        ready["database"],
        if app.db.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    let (code, spec) = app.json(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        spec,
        serde_json::to_value(subsidy_gateway::http::api_doc()).unwrap()
    );
    let p = app.platform("p1").await;
    app.course(&p, "C", "junior", 10).await;
    app.post(
        "/v1/completions",
        &p,
        event("e1", "C", 1, 10, "2022-06-01T10:00:00+08:00"),
    )
    .await;
    let metrics = app
        .call(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gateway_completions_total{status=\"accepted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("gateway_granted_fen_total 3000"));
    assert!(metrics.contains("gateway_http_requests_total"));
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

#[derive(QueryableByName)]
struct Synchronous {
    #[diesel(sql_type = BigInt)]
    synchronous: i64,
}

#[test]
fn sqlite_commits_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/g.db", dir.path().display());
    let store = subsidy_gateway::store::Store::open(
        &url.parse().unwrap(),
        2,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let (journal, sync) = store
        .read(|conn| {
            let journal: JournalMode = diesel::sql_query("PRAGMA journal_mode").get_result(conn)?;
            let sync: Synchronous = diesel::sql_query("PRAGMA synchronous").get_result(conn)?;
            Ok::<_, subsidy_gateway::store::StoreError>((journal.journal_mode, sync.synchronous))
        })
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(sync, 2, "synchronous = FULL");
}

#[test]
fn answers_unlike_the_document_fail_the_tests() {
    use serde_json::json;
    let check = |method: Method, path: &str, status: u16, answer: serde_json::Value| {
        let status = StatusCode::from_u16(status).unwrap();
        std::panic::catch_unwind(|| {
            common::documented::check(&method, path, status, "application/json", &answer)
        })
        .is_ok()
    };
    let result = json!({"event_id": "e1", "status": "accepted", "training_year": 2022,
        "gross": "30.00", "granted": "30.00", "replayed": false});
    // What the document says: both answers of POST /v1/completions, the probes.
    assert!(check(Method::POST, "/v1/completions", 200, result.clone()));
    assert!(check(
        Method::POST,
        "/v1/completions",
        200,
        json!({"results": [result]})
    ));
    assert!(check(Method::GET, "/healthz", 200, json!({"status": "ok"})));
    assert!(check(
        Method::GET,
        "/readyz",
        200,
        json!({"status": "ready", "database": "sqlite"})
    ));
    // And what it does not.
    assert!(!check(
        Method::POST,
        "/v1/completions",
        200,
        json!({"results": "x"})
    ));
    assert!(!check(Method::GET, "/healthz", 200, json!({"status": 5})));
    assert!(!check(
        Method::GET,
        "/v1/invoices/0190a6c0-0000-7000-8000-000000000000",
        200,
        json!({"id": 1})
    ));
    assert!(
        !check(Method::GET, "/v1/platforms", 418, json!({})),
        "a problem has its fields"
    );
}
