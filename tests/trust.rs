//! The trust suite (issue #9): keys outside the database, separation of duties, revocable
//! access, the OAuth 2.0 token endpoint, signed bureau traffic and bounded resources.

mod common;

use common::process::BINARY;
use common::*;
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use subsidy_gateway::clock::SystemClock;
use subsidy_gateway::config::{KeySource, Settings};
use subsidy_gateway::keys::Keys;
use subsidy_gateway::service::Gateway;
use subsidy_gateway::store::StoreError;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn keys_in_database(db: &TestDatabase) -> i64 {
    db.open_store()
        .unwrap()
        .read(|conn| {
            Ok::<_, StoreError>(
                diesel::sql_query("SELECT COUNT(*) AS n FROM gateway_secrets")
                    .get_result::<Count>(conn)?,
            )
        })
        .map(|c| c.n)
        .unwrap()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_keys_live_outside_the_database() {
    let db = TestDatabase::fresh();
    let unconfigured = Settings::defaults(db.url.parse().unwrap());
    match &unconfigured.database_url {
        subsidy_gateway::store::DatabaseUrl::Sqlite(path) => {
            // The embedded default makes them on first start, in a file beside the database.
            let first = Gateway::open(&unconfigured, Arc::new(SystemClock)).unwrap();
            let file = subsidy_gateway::keys::beside(path);
            #[cfg(unix)]
            assert_eq!(mode(&file), 0o600);
            let token = first.tokens().mint(
                subsidy_gateway::auth::Role::Admin,
                "ops",
                None,
                chrono::Utc::now().timestamp(),
            );
            drop(first);
            let again = Gateway::open(&unconfigured, Arc::new(SystemClock)).unwrap();
            assert!(again.tokens().verify(&token).is_ok(), "the same keys again");
            drop(again);
            // Restored without its key file: refused, rather than new keys for old learners.
            let kept = file.with_extension("kept");
            std::fs::rename(&file, &kept).unwrap();
            let refused = Gateway::open(&unconfigured, Arc::new(SystemClock))
                .err()
                .expect("refused without its key file")
                .to_string();
            assert!(refused.contains("is missing"), "{refused}");
            assert!(!file.exists(), "no new keys made");
            std::fs::rename(&kept, &file).unwrap();
        }
        subsidy_gateway::store::DatabaseUrl::Postgres(_) => {
            // A PostgreSQL deployment refuses to start without them and says how to make them.
            let refused = Gateway::open(&unconfigured, Arc::new(SystemClock))
                .err()
                .expect("refused without keys")
                .to_string();
            assert!(refused.contains("gateway keys generate"), "{refused}");
        }
    }
    // Other keys than the ones its learners were found by: refused, on either engine.
    if db.is_postgres() {
        let mut configured = unconfigured.clone();
        configured.keys = Some(KeySource::File(db.keys_file.clone()));
        Gateway::open(&configured, Arc::new(SystemClock)).unwrap();
    }
    let other = db.keys_file.with_file_name("other.json");
    Keys::generate().create(&other).unwrap();
    let mut wrong = unconfigured.clone();
    wrong.keys = Some(KeySource::File(other));
    let refused = Gateway::open(&wrong, Arc::new(SystemClock))
        .err()
        .expect("refused with other keys")
        .to_string();
    assert!(refused.contains("not the ones"), "{refused}");
    assert_eq!(keys_in_database(&db), 0, "no key in the database");
}

#[test]
fn keys_an_earlier_version_kept_in_the_database_are_moved_out_once() {
    let db = TestDatabase::fresh();
    let gateway = |args: &[&str], keys: Option<&std::path::Path>| {
        let mut command = Command::new(BINARY);
        command.args(args).env("DATABASE_URL", &db.url);
        if let Some(keys) = keys {
            command.env("GATEWAY_KEYS_FILE", keys);
        }
        command.output().unwrap()
    };
    assert!(gateway(&["migrate"], Some(&db.keys_file)).status.success());
    let (signing, id_hash) = ("s".repeat(64), "i".repeat(64));
    db.open_store()
        .unwrap()
        .write(|conn| {
            for (name, value) in [("jwt_hs256", &signing), ("id_number_hmac", &id_hash)] {
                diesel::sql_query(format!(
                    "INSERT INTO gateway_secrets (name, value, created_at) \
                     VALUES ('{name}', '{value}', CURRENT_TIMESTAMP)"
                ))
                .execute(conn)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();

    let refused = gateway(&["migrate"], Some(&db.keys_file));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(said.contains("gateway keys export"), "{said}");

    let out = db.keys_file.with_file_name("exported.json");
    // An ID-number key configured unlike the stored one would orphan the learners: refused.
    let differing = Command::new(BINARY)
        .args(["keys", "export", "--out", out.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .env("GATEWAY_JWT_SECRET", "j".repeat(40))
        .env("GATEWAY_ID_HASH_KEY", "x".repeat(40))
        .output()
        .unwrap();
    assert!(!differing.status.success());
    assert!(String::from_utf8_lossy(&differing.stderr).contains("differs"));
    assert!(!out.exists());
    let export = gateway(&["keys", "export", "--out", out.to_str().unwrap()], None);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);
    let exported = Keys::load(&out).unwrap();
    assert_eq!(exported.signing[0].secret, signing);
    assert_eq!(exported.id_hash, id_hash, "learners stay findable");
    assert_eq!(keys_in_database(&db), 0, "deleted from the database");
    assert!(gateway(&["migrate"], Some(&out)).status.success());
    // Once only: the file is never overwritten.
    let twice = gateway(&["keys", "export", "--out", out.to_str().unwrap()], None);
    assert!(!twice.status.success());
    assert_eq!(Keys::load(&out).unwrap().id_hash, id_hash);
}

#[test]
fn generated_and_rotated_key_files_work_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.json");
    let run = |args: &[&str]| Command::new(BINARY).args(args).output().unwrap();
    let path = file.to_str().unwrap();
    assert!(run(&["keys", "generate", "--out", path]).status.success());
    assert!(!run(&["keys", "generate", "--out", path]).status.success());
    let before = Keys::load(&file).unwrap();
    assert!(run(&["keys", "rotate", "--file", path]).status.success());
    let rotated = Keys::load(&file).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert_eq!(rotated.signing.len(), 2);
    assert_eq!(rotated.signing[0].kid, before.signing[0].kid, "still signs");
    assert_eq!(rotated.id_hash, before.id_hash);
    let new = rotated.signing[1].kid.clone();
    assert!(run(&["keys", "promote", "--file", path, "--kid", &new])
        .status
        .success());
    let promoted = Keys::load(&file).unwrap();
    assert_eq!(promoted.signing[0].kid, new);
    assert_eq!(promoted.signing[1].kid, before.signing[0].kid);
    assert!(!run(&["keys", "promote", "--file", path, "--kid", "nope"])
        .status
        .success());
}

#[tokio::test]
async fn only_finance_moves_money_and_an_approver_is_another_account() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let (code, _) = app
        .post(
            "/v1/completions",
            &p,
            event("e1", "C", 1, 10, "2022-06-01T10:00:00+08:00"),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    // Admins may run a period (drafts move nothing) but not issue, approve, reject or pay.
    let (code, drafts) = app
        .post(
            "/v1/invoice-runs",
            app.admin(),
            json!({"period": "2022-06", "payer": "province"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{drafts}");
    let id = drafts[0]["id"].as_str().unwrap().to_owned();
    let act = |token: String, action: &'static str| {
        let (app, id) = (&app, &id);
        async move {
            let body = json!({"reason": "r", "reference": "r"});
            app.post(&format!("/v1/invoices/{id}/{action}"), &token, body)
                .await
        }
    };
    for action in ["issue", "approve", "reject", "mark-paid"] {
        let (code, _) = act(app.token("admin", "ops", None), action).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "admin may not {action}");
    }
    let (code, issued) = act(app.token("finance", "ops", None), "issue").await;
    assert_eq!(code, StatusCode::OK, "{issued}");
    // The same account under another role name is still the issuer.
    let (code, _) = act(app.token("admin", "ops", None), "approve").await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, problem) = act(app.token("finance", "ops", None), "approve").await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("separation_of_duties"))
    );
    let (code, approved) = act(app.token("finance", "fin2", None), "approve").await;
    assert_eq!(code, StatusCode::OK, "{approved}");
    assert_eq!(approved["issued_by"], "finance:ops");
    assert_eq!(approved["approved_by"], "finance:fin2");
    app.assert_books_clean().await;
}

/// A platform's client id and secret, as the admin answer shows them once.
async fn platform_credentials(app: &TestApp, code: &str) -> (String, String) {
    let (status, platform) = app
        .post(
            "/v1/platforms",
            app.admin(),
            json!({"code": code, "name": code}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{platform}");
    (
        platform["client_id"].as_str().unwrap().to_owned(),
        platform["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_standard_oauth2_client_gets_tokens_and_reads_refusals() {
    use oauth2::basic::{BasicClient, BasicErrorResponseType};
    use oauth2::{
        AuthType, ClientId, ClientSecret, RequestTokenError, ResourceOwnerPassword,
        ResourceOwnerUsername, TokenResponse, TokenUrl,
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let (id, secret) = platform_credentials(&app, "p1").await;
    let token_url = TokenUrl::new(format!("{}/v1/auth/token", app.address)).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = |secret: &str, auth: AuthType| {
        BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.to_owned()))
            .set_token_uri(token_url.clone())
            .set_auth_type(auth)
    };
    // client_secret_basic and client_secret_post, as RFC 6749 §2.3.1 describes them.
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let token = client(&secret, auth.clone())
            .exchange_client_credentials()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        let (code, _) = app.get("/v1/courses", token.access_token().secret()).await;
        assert_eq!(code, StatusCode::OK, "{auth:?}");
        assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));
    }
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        match client("wrong", auth.clone())
            .exchange_client_credentials()
            .request_async(&http)
            .await
        {
            Err(RequestTokenError::ServerResponse(refusal)) => {
                assert_eq!(*refusal.error(), BasicErrorResponseType::InvalidClient)
            }
            other => panic!("{auth:?}: {other:?}"),
        }
    }
    // Staff sign in with the password grant.
    let (code, _) = app
        .post(
            "/v1/users",
            app.admin(),
            json!({"username": "fin1", "role": "finance", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let staff = BasicClient::new(ClientId::new("console".into())).set_token_uri(token_url.clone());
    let signed_in = staff
        .exchange_password(
            &ResourceOwnerUsername::new("fin1".into()),
            &ResourceOwnerPassword::new("correct horse battery".into()),
        )
        .request_async(&http)
        .await
        .unwrap();
    let (code, _) = app
        .get("/v1/platforms", signed_in.access_token().secret())
        .await;
    assert_eq!(code, StatusCode::OK);
    match staff
        .exchange_password(
            &ResourceOwnerUsername::new("fin1".into()),
            &ResourceOwnerPassword::new("wrong".into()),
        )
        .request_async(&http)
        .await
    {
        Err(RequestTokenError::ServerResponse(refusal)) => {
            assert_eq!(*refusal.error(), BasicErrorResponseType::InvalidGrant)
        }
        other => panic!("{other:?}"),
    }
    app.assert_books_clean().await;
}

#[tokio::test]
async fn the_token_endpoint_answers_as_rfc_6749_says() {
    use base64::Engine;
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let (id, secret) = platform_credentials(&app, "p1").await;
    let url = format!("{}/v1/auth/token", app.address);
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let form = |body: &str, authorization: Option<String>| {
        let mut request = app
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send()
    };
    let ok = form("grant_type=client_credentials", Some(basic(&id, &secret)))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // The scheme's name is case-insensitive (RFC 7235).
    let lower = basic(&id, &secret).replacen("Basic", "basic", 1);
    let ok = form("grant_type=client_credentials", Some(lower))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["cache-control"], "no-store");

    let cases = [
        // (body, Authorization, status, error, challenge: every 401 has one)
        (
            "grant_type=client_credentials".to_owned(),
            Some(basic(&id, "wrong")),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            true,
        ),
        (
            format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"),
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            true,
        ),
        (
            "grant_type=client_credentials".to_owned(),
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            true,
        ),
        (
            format!("grant_type=client_credentials&client_secret={secret}"),
            Some(basic(&id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            "grant_type=authorization_code&code=x".to_owned(),
            None,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            false,
        ),
        (
            format!("client_id={id}&client_secret={secret}"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            "grant_type=password&grant_type=password&username=a&password=b".to_owned(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            "grant_type=password&username=fin1".to_owned(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            "grant_type=password&username=nobody&password=whatever".to_owned(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            false,
        ),
    ];
    for (body, authorization, status, error, challenge) in cases {
        let answer = form(&body, authorization).await.unwrap();
        assert_eq!(answer.status(), status, "{body}");
        let headers = answer.headers().clone();
        assert_eq!(headers["content-type"], "application/json", "{body}");
        assert_eq!(headers["cache-control"], "no-store", "{body}");
        assert_eq!(
            headers.contains_key("www-authenticate"),
            challenge,
            "{body}"
        );
        let refusal: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(refusal["error"], error, "{body}: {refusal}");
        assert!(refusal["error_description"].is_string());
        assert!(!refusal.to_string().contains(&secret));
    }
    // Neither JSON nor a form.
    let text = app
        .client
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::BAD_REQUEST);
    let refusal: serde_json::Value = text.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_request");
}

#[tokio::test]
async fn token_attempts_are_limited_per_account_and_per_real_address() {
    let app = TestApp::with("2022-07-02T10:00:00+08:00", |settings| {
        settings.limits.token_per_minute_per_address = 3;
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let attempt = |username: &str, forwarded_for: &str| {
        app.client
            .post(format!("{}/v1/auth/token", app.address))
            .header("X-Forwarded-For", forwarded_for)
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", "guess"),
            ])
            .send()
    };
    // One account guessed from many addresses: the fourth attempt is refused.
    for n in 1..=3 {
        let answer = attempt("fin1", &format!("198.51.100.{n}")).await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }
    let fourth = attempt("fin1", "198.51.100.4").await.unwrap();
    assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(fourth.headers().contains_key("retry-after"));
    // Behind the trusted proxy, each client address has its own allowance: another account
    // from a fresh address is still heard, three times, then that address is refused.
    for n in 1..=3 {
        let answer = attempt(&format!("user{n}"), "203.0.113.7").await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "attempt {n}");
    }
    let answer = attempt("user4", "203.0.113.7").await.unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);

    // Not behind a trusted proxy, X-Forwarded-For is the client's own claim: ignored.
    let direct = TestApp::with("2022-07-02T10:00:00+08:00", |settings| {
        settings.limits.token_per_minute_per_address = 3;
    })
    .await;
    let mut statuses = vec![];
    for n in 1..=4 {
        let answer = direct
            .client
            .post(format!("{}/v1/auth/token", direct.address))
            .header("X-Forwarded-For", format!("198.51.100.{n}"))
            .form(&[
                ("grant_type", "password"),
                ("username", &format!("someone{n}")),
                ("password", "guess"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(answer.status());
    }
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

/// The metric series `/metrics` lists at `address`, and its text.
async fn series(client: &reqwest::Client, address: &str) -> (usize, String) {
    let text = metrics_text(client, address).await;
    let count = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .count();
    (count, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_paths_share_one_metrics_label() {
    use futures_util::StreamExt;
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let unknown = |n: u32| {
        let url = format!("{}/no/such/{n}/{}", app.address, uuid::Uuid::now_v7());
        app.client.get(url).send()
    };
    assert_eq!(unknown(0).await.unwrap().status(), StatusCode::NOT_FOUND);
    series(&app.client, &app.address).await;
    let (before, _) = series(&app.client, &app.address).await;
    let answered = futures_util::stream::iter(1..=10_000)
        .map(unknown)
        .buffer_unordered(32)
        .filter(|answer| std::future::ready(answer.is_ok()))
        .count()
        .await;
    assert_eq!(answered, 10_000);
    // Made-up methods too: refused before the metrics see them.
    for n in 0..200 {
        let method = reqwest::Method::from_bytes(format!("M{n}X").as_bytes()).unwrap();
        let answer = app
            .client
            .request(method, format!("{}/v1/platforms", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let (after, text) = series(&app.client, &app.address).await;
    assert_eq!(after, before, "10,000 unknown paths added series");
    assert!(text.contains("endpoint=\"UNMATCHED\""));
    assert!(!text.contains("/no/such/"));
    // What an operator pages on is there.
    for name in [
        "gateway_write_group_events",
        "gateway_write_wait_seconds",
        "gateway_ingest_queue_events",
        "gateway_db_pool_wait_seconds",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[tokio::test]
async fn metrics_can_listen_apart_from_the_api() {
    let app = TestApp::with("2022-07-02T10:00:00+08:00", |settings| {
        settings.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let (code, _) = app.json(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "not beside the API");
    let (_, _) = app.get("/v1/platforms", app.admin()).await;
    let apart = app.metrics_address.clone().expect("its own address");
    let (count, text) = series(&app.client, &apart).await;
    assert!(count > 0);
    assert!(text.contains("gateway_http_requests_total"), "{text}");
}

#[tokio::test]
async fn learner_names_and_id_numbers_are_in_no_answer_but_the_learners_own() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let mut completion = event("e1", "C", 1, 10, "2022-06-01T10:00:00+08:00");
    completion["learner"]["name"] = json!("王小明");
    let full_id = id_number(1);
    let finance = app.token("finance", "fin1", None);
    let mut answers = vec![];
    answers.push(app.post("/v1/completions", &p, completion).await.1);
    let followup = json!({"learner": {"id_number": full_id, "name": "王小明"},
        "attended_on": "2022-06-10", "program": "offline"});
    answers.push(app.post("/v1/offline-followups", &p, followup).await.1);
    let (_, drafts) = app
        .post(
            "/v1/invoice-runs",
            &finance,
            json!({"period": "2022-06", "payer": "province"}),
        )
        .await;
    let id = drafts[0]["id"].as_str().unwrap().to_owned();
    answers.push(drafts);
    for (token, path) in [
        (&p, "/v1/usage?payer=province".to_owned()),
        (&finance, "/v1/usage?platform=P&payer=province".to_owned()),
        (&finance, "/v1/audit-events".to_owned()),
        (&finance, format!("/v1/invoices/{id}")),
        (&finance, format!("/v1/invoices/{id}/completions")),
        (&p, format!("/v1/invoices/{id}")),
    ] {
        let (code, answer) = app.get(&path, token).await;
        assert_eq!(code, StatusCode::OK, "{path}: {answer}");
        answers.push(answer);
    }
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains("小明"), "a learner's name in {text}");
        assert!(!text.contains(&full_id), "a full ID number in {text}");
    }
    // The learner's own view shows their subsidy, with the ID number masked even there.
    let learner = app.token("learner", &full_id, None);
    let (code, own) = app
        .get("/v1/me/subsidy?payer=province&year=2022", &learner)
        .await;
    assert_eq!(code, StatusCode::OK, "{own}");
    assert!(!own.to_string().contains(&full_id));
}

/// Asserts that `token` is answered `refused` at `address` within a second (polled every
/// 20 ms), and is admitted until then.
async fn refused_within_a_second(
    client: &reqwest::Client,
    address: &str,
    path: &str,
    token: &str,
    refused: StatusCode,
) {
    let began = std::time::Instant::now();
    while began.elapsed() < Duration::from_secs(1) {
        let status = client
            .get(format!("{address}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status();
        if status == refused {
            return;
        }
        assert_eq!(status, StatusCode::OK, "{path}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} still admitted the token after a second");
}

async fn grant(
    client: &reqwest::Client,
    address: &str,
    form: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let answer = client
        .post(format!("{address}/v1/auth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.json().await.unwrap())
}

async fn sign_in(
    client: &reqwest::Client,
    address: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let form = [
        ("grant_type", "password"),
        ("username", "fin1"),
        ("password", password),
    ];
    grant(client, address, &form).await
}

async fn client_grant(
    client: &reqwest::Client,
    address: &str,
    id: &str,
    secret: &str,
) -> (StatusCode, serde_json::Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    grant(client, address, &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoked_access_stops_within_a_second_on_every_replica() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let other = app.replica(|_| {}).await;
    let client = &app.client;
    let admin = app.admin().to_owned();
    let (code, _) = app
        .post(
            "/v1/users",
            &admin,
            json!({"username": "fin1", "role": "finance", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, staff) = sign_in(client, &other, "correct horse battery").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(staff["expires_in"], 900, "staff tokens live 15 minutes");
    let staff = staff["access_token"].as_str().unwrap().to_owned();

    // Disabled on one replica: refused on the other within a second, and no new token.
    let (code, _) = app
        .patch("/v1/users/fin1", &admin, json!({"status": "disabled"}))
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = app.get("/v1/platforms", &staff).await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "at once where it was disabled"
    );
    refused_within_a_second(
        client,
        &other,
        "/v1/platforms",
        &staff,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        sign_in(client, &other, "correct horse battery").await.0,
        StatusCode::BAD_REQUEST
    );

    // Enabled again: the old token stays revoked, a new one works.
    let (code, _) = app
        .patch("/v1/users/fin1", &admin, json!({"status": "active"}))
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = app.get("/v1/platforms", &staff).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, fresh) = sign_in(client, &other, "correct horse battery").await;
    assert_eq!(code, StatusCode::OK);
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();

    // The user changes their own password: the current one is required; the token it was
    // changed with and every other stop working.
    let change = |body: serde_json::Value| {
        client
            .put(format!("{}/v1/users/fin1/password", app.address))
            .bearer_auth(&fresh)
            .json(&body)
            .send()
    };
    let wrong = change(json!({"password": "a new long password", "current_password": "nope"}))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let changed = change(
        json!({"password": "a new long password", "current_password": "correct horse battery"}),
    )
    .await
    .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    refused_within_a_second(
        client,
        &other,
        "/v1/platforms",
        &fresh,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        sign_in(client, &other, "correct horse battery").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sign_in(client, &other, "a new long password").await.0,
        StatusCode::OK
    );
    // Nobody else's password: another finance user's account is not theirs to see.
    let fin2 = app.token("finance", "fin2", None);
    let (code, _) = app
        .json(
            reqwest::Method::PUT,
            "/v1/users/fin1/password",
            Some(&fin2),
            Some(json!({"password": "a third long password", "current_password": "x"})),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A platform's secret rotated: its tokens and old secret stop working, the new one works.
    let (client_id, secret) = platform_credentials(&app, "p1").await;
    let (code, platform) = client_grant(client, &other, &client_id, &secret).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(platform["expires_in"], 3600);
    let platform = platform["access_token"].as_str().unwrap().to_owned();
    let (code, rotated) = app
        .post("/v1/platforms/p1/rotate-secret", &admin, json!({}))
        .await;
    assert_eq!(code, StatusCode::OK, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    refused_within_a_second(
        client,
        &other,
        "/v1/courses",
        &platform,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        client_grant(client, &other, &client_id, &secret).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (code, renewed) = client_grant(client, &other, &client_id, &new_secret).await;
    assert_eq!(code, StatusCode::OK);
    let renewed = renewed["access_token"].as_str().unwrap().to_owned();

    // Suspended: its tokens are refused everywhere, not only its webhooks.
    let (code, _) = app
        .patch("/v1/platforms/p1", &admin, json!({"status": "suspended"}))
        .await;
    assert_eq!(code, StatusCode::OK);
    refused_within_a_second(
        client,
        &other,
        "/v1/courses",
        &renewed,
        StatusCode::FORBIDDEN,
    )
    .await;

    let (_, trail) = app.get("/v1/audit-events?limit=100", &admin).await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "user.disabled",
        "user.enabled",
        "user.password_changed",
        "platform.secret_rotated",
        "platform.status_changed",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
}
