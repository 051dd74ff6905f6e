//! The contract around the API: the OpenAPI file, the migrations of both dialects, operations
//! endpoints, and the durability settings of the embedded database.

mod common;

use common::*;
use diesel::sql_types::{BigInt, Text};
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
