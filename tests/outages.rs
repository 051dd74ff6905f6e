//! The database going away and coming back, and settings that cannot work.
//!
//! The outage runs on PostgreSQL (a TCP proxy between gateway and server is cut and restored);
//! an embedded SQLite file has no server to lose, so on SQLite the test says so and stops.

mod common;

use common::process::BINARY;
use common::*;
use reqwest::StatusCode;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";

/// Forwards 127.0.0.1:<port> to the database server until cut; a cut drops every connection
/// and refuses new ones until restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn to(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::<AbortHandle>::new()));
        let (accepting, tracked) = (up.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_database_gives_503_and_the_gateway_recovers_by_itself() {
    let probe = TestDatabase::fresh();
    if !probe.is_postgres() {
        eprintln!("skipped on SQLite: an embedded file has no server to lose");
        return;
    }
    drop(probe);
    // postgres://user@host:port/db → the same database through the proxy.
    let direct = TestDatabase::fresh();
    let (head, tail) = direct.url.split_once('@').unwrap();
    let (host_port, db_name) = tail.split_once('/').unwrap();
    let proxy = Proxy::to(host_port.to_owned()).await;
    let through_proxy = format!("{head}@127.0.0.1:{}/{db_name}", proxy.port);
    let app = TestApp::with(JUNE_2022, |settings| {
        settings.database_url = through_proxy.parse().unwrap();
        settings.db_connect_timeout_ms = 1000;
    })
    .await;
    let p = app.platform("p1").await;
    app.course(&p, "C", "junior", 10).await;
    let (code, _) = app.get("/readyz", "").await;
    assert_eq!(code, StatusCode::OK);

    proxy.cut();
    let started = Instant::now();
    let response = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    for i in 0..5 {
        let response = app
            .call(
                reqwest::Method::POST,
                "/v1/completions",
                Some(&p),
                Some(event(&format!("down-{i}"), "C", i, 10, JUNE_2022)),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "database_unavailable", "{problem}");
    }
    let outage_answers = started.elapsed();
    assert!(
        outage_answers < Duration::from_secs(10),
        "answers come fast while the database is down: {outage_answers:?}"
    );

    proxy.restore();
    let restored = Instant::now();
    loop {
        let (code, _) = app.get("/readyz", "").await;
        if code == StatusCode::OK {
            break;
        }
        assert!(
            restored.elapsed() < Duration::from_secs(15),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_in = restored.elapsed();
    // What was refused was not stored: the same events now count for the first time.
    for i in 0..5 {
        let (code, result) = app
            .post(
                "/v1/completions",
                &p,
                event(&format!("down-{i}"), "C", i, 10, JUNE_2022),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{result}");
        assert_eq!(result["replayed"], false);
    }
    app.assert_books_clean().await;
    eprintln!(
        "database cut: 6 answers of 503 in {outage_answers:?}; ready again {recovered_in:?} after it came back"
    );
}

/// `gateway migrate` with one bad setting: exits non-zero and the message names the setting.
#[test]
fn bad_or_missing_settings_fail_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/g.db", dir.path().display());
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let idp_key: Vec<(&str, String)> = vec![
        ("GATEWAY_IDP_ISSUER", "shanxi-idp".into()),
        (
            "GATEWAY_IDP_PUBLIC_KEY_FILE",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/idp-test-public.pem"
            )
            .into(),
        ),
    ];
    let idp_endpoints = |scheme: &str| -> Vec<(&str, String)> {
        vec![
            (
                "GATEWAY_IDP_AUTHORIZE_URL",
                format!("{scheme}://idp.example/authorize"),
            ),
            (
                "GATEWAY_IDP_TOKEN_URL",
                format!("{scheme}://idp.example/token"),
            ),
            ("GATEWAY_IDP_CLIENT_ID", "gateway".into()),
        ]
    };
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("DATABASE_URL", "mysql://localhost/gw".into())],
            "DATABASE_URL",
        ),
        (
            vec![(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/nowhere".into(),
            )],
            "DATABASE_URL",
        ),
        (
            // A folder that cannot be made: its parent is a file.
            vec![(
                "DATABASE_URL",
                format!("sqlite://{}/g.db", blocker.display()),
            )],
            "DATABASE_URL",
        ),
        (
            vec![("GATEWAY_RATE_PER_SECOND", "lots".into())],
            "GATEWAY_RATE_PER_SECOND",
        ),
        (
            vec![("GATEWAY_DB_POOL_SIZE", "0".into())],
            "GATEWAY_DB_POOL_SIZE",
        ),
        (
            vec![("GATEWAY_DB_CONNECT_TIMEOUT_MS", "-5".into())],
            "GATEWAY_DB_CONNECT_TIMEOUT_MS",
        ),
        (
            vec![("GATEWAY_JWT_SECRET", "short".into())],
            "GATEWAY_JWT_SECRET",
        ),
        (
            vec![("GATEWAY_ID_HASH_KEY", "x".repeat(40))],
            "GATEWAY_JWT_SECRET",
        ),
        (
            vec![("GATEWAY_KEYS_FILE", "/nonexistent/keys.json".into())],
            "/nonexistent/keys.json",
        ),
        (
            vec![("GATEWAY_BUREAU_URL", "ftp://bureau".into())],
            "GATEWAY_BUREAU_URL",
        ),
        (
            vec![("GATEWAY_BUREAU_URL", "http://bureau.example".into())],
            "GATEWAY_BUREAU_URL",
        ),
        (
            vec![("GATEWAY_BUREAU_URL", "https://bureau.example".into())],
            "GATEWAY_BUREAU_SECRET",
        ),
        (
            vec![
                ("GATEWAY_BUREAU_URL", "https://bureau.example".into()),
                ("GATEWAY_BUREAU_SECRET", "not-whsec".into()),
            ],
            "GATEWAY_BUREAU_SECRET",
        ),
        (
            vec![
                ("GATEWAY_BUREAU_URL", "http://127.0.0.1:9".into()),
                ("GATEWAY_BUREAU_ALLOW_HTTP", "true".into()),
                (
                    "GATEWAY_BUREAU_SECRET",
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                ),
                ("GATEWAY_BUREAU_TIMEOUT_SECONDS", "0".into()),
            ],
            "GATEWAY_BUREAU_TIMEOUT_SECONDS",
        ),
        (
            vec![("GATEWAY_IDP_ISSUER", "shanxi-idp".into())],
            "GATEWAY_IDP_PUBLIC_KEY_FILE",
        ),
        (
            vec![
                ("GATEWAY_IDP_ISSUER", "shanxi-idp".into()),
                ("GATEWAY_IDP_PUBLIC_KEY_FILE", "/nonexistent/key.pem".into()),
            ],
            "GATEWAY_IDP_PUBLIC_KEY_FILE",
        ),
        (
            vec![("GATEWAY_JSON_LIMIT_BYTES", "1e9".into())],
            "GATEWAY_JSON_LIMIT_BYTES",
        ),
        // The identity provider's sign-in: its endpoints all or none, over TLS, with the
        // provider's key to check what it issues and the address browsers come back to.
        (
            [
                idp_key.clone(),
                vec![(
                    "GATEWAY_IDP_AUTHORIZE_URL",
                    "https://idp.example/authorize".into(),
                )],
            ]
            .concat(),
            "GATEWAY_IDP_TOKEN_URL",
        ),
        (
            [idp_key.clone(), idp_endpoints("http")].concat(),
            "GATEWAY_IDP_AUTHORIZE_URL",
        ),
        (
            [idp_key.clone(), idp_endpoints("https")].concat(),
            "GATEWAY_PUBLIC_URL",
        ),
        (idp_endpoints("https"), "GATEWAY_IDP_PUBLIC_KEY_FILE"),
        (
            vec![("GATEWAY_IDP_CLIENT_SECRET", "s3cret".into())],
            "GATEWAY_IDP_CLIENT_ID",
        ),
    ];
    for (env, named) in cases {
        let output = Command::new(BINARY)
            .arg("migrate")
            .env("DATABASE_URL", &sqlite)
            .env("GATEWAY_DB_CONNECT_TIMEOUT_MS", "500")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} was accepted");
        assert!(stderr.contains(named), "{env:?}: {stderr}");
    }
    // And the good settings start.
    let output = Command::new(BINARY)
        .arg("migrate")
        .env("DATABASE_URL", &sqlite)
        .output()
        .unwrap();
    assert!(output.status.success());
}
