//! Test harness: the real server on port 0 against a fresh database per test: a SQLite file in
//! a temporary folder, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set.
#![allow(dead_code)] // each test binary uses part of the harness

pub mod bureau;
pub mod documented;
pub mod process;

use actix_web::dev::ServerHandle;
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use subsidy_gateway::clock::{Clock, ManualClock, SystemClock};
use subsidy_gateway::config::{KeySource, Settings};
use subsidy_gateway::keys::Keys;
use subsidy_gateway::service::Gateway;
use subsidy_gateway::startup::Application;
use tokio::runtime::RuntimeFlavor;
use tokio::task::JoinHandle;

/// A database that exists for one test and is dropped after it, with its own key file.
pub struct TestDatabase {
    pub url: String,
    pub keys_file: PathBuf,
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

/// What a child process needs to open a test database: its URL and its key file.
#[derive(Clone)]
pub struct DatabaseAccess {
    pub url: String,
    pub keys_file: PathBuf,
}

/// The test server is on loopback: its connections need no TLS. Without, no connection touches
/// OpenSSL, whose exit handler can crash a test process whose threads (a replica's pool, its
/// writer) still hold TLS connections as it exits (diesel-rs/diesel#3441: all 15 tests passed,
/// then SIGSEGV). An `sslmode` the URL names is kept.
fn without_tls(url: String) -> String {
    if url.contains("sslmode=") {
        url
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

impl TestDatabase {
    pub fn fresh() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys_file = dir.path().join("keys.json");
        Keys::generate().create(&keys_file).expect("key file");
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let admin_url = without_tls(admin_url);
                let name = format!("gw_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn =
                    PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL reachable");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                let (path, query) = admin_url.split_once('?').unwrap_or((&admin_url, ""));
                let base = path.rsplit_once('/').map_or(path, |(base, _)| base);
                TestDatabase {
                    url: format!("{base}/{name}?{query}"),
                    keys_file,
                    _dir: dir,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
            None => {
                let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
                TestDatabase {
                    url,
                    keys_file,
                    _dir: dir,
                    postgres: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The gateway's store on this database, for a test that reads or changes the books
    /// around the API.
    pub fn open_store(
        &self,
    ) -> Result<subsidy_gateway::store::Store, subsidy_gateway::store::StoreError> {
        subsidy_gateway::store::Store::open(
            &self.url.parse().unwrap(),
            1,
            std::time::Duration::from_secs(5),
        )
    }

    pub fn access(&self) -> DatabaseAccess {
        DatabaseAccess {
            url: self.url.clone(),
            keys_file: self.keys_file.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// `/metrics` on its own address, when the settings give it one.
    pub metrics_address: Option<String>,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub db: TestDatabase,
    pub settings: Settings,
    gateway: Arc<Gateway>,
    admin: String,
    /// The server that `address` reaches.
    serving: Serving,
    /// Those that `replica` started.
    replicas: Mutex<Vec<Serving>>,
}

/// A server running in the background: its handle, and its task until it has been awaited.
struct Serving {
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    /// Stops the server and waits for its task, which ends once the server has stopped and its
    /// loops are aborted (blocking work they had started may still finish); `None` when an
    /// earlier stop already waited.
    async fn stop(
        &mut self,
        graceful: bool,
    ) -> Option<Result<std::io::Result<()>, tokio::task::JoinError>> {
        self.handle.stop(graceful).await;
        Some(self.task.take()?.await)
    }
}

/// A gateway built on port 0 and serving in the background.
struct Started {
    address: String,
    metrics_address: Option<String>,
    gateway: Arc<Gateway>,
    serving: Serving,
}

fn start(settings: &Settings, clock: Arc<ManualClock>) -> Started {
    let app = Application::build(settings, clock, "127.0.0.1:0").expect("server builds");
    Started {
        address: format!("http://127.0.0.1:{}", app.port()),
        metrics_address: app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}")),
        gateway: app.gateway(),
        serving: Serving {
            handle: app.handle(),
            task: Some(tokio::spawn(app.run_until_stopped())),
        },
    }
}

/// Stops the servers and aborts their loops before the database is dropped. On a multi-threaded
/// runtime they would go on running, and a loop that finds its database gone retries connecting
/// for the connect timeout (5 s) while the runtime's shutdown waits for it.
impl Drop for TestApp {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if runtime.runtime_flavor() == RuntimeFlavor::MultiThread {
            let replicas = self.replicas.get_mut();
            let replicas = replicas.unwrap_or_else(PoisonError::into_inner);
            let servers = std::iter::once(&mut self.serving).chain(replicas.iter_mut());
            tokio::task::block_in_place(|| {
                runtime.block_on(async {
                    for server in servers {
                        let _ = server.stop(false).await;
                    }
                })
            });
        }
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

impl TestApp {
    /// A server whose clock stands at `now`.
    pub async fn at(now: &str) -> TestApp {
        Self::with(now, |_| {}).await
    }

    pub async fn with(now: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDatabase::fresh();
        let mut settings = Settings::defaults(db.url.parse().unwrap());
        settings.keys = Some(KeySource::File(db.keys_file.clone()));
        settings.db_pool_size = 8;
        settings.limits.token_per_minute_per_address = 1000;
        settings.limits.per_caller_per_second = 10_000;
        settings.limits.per_caller_burst = 10_000;
        adjust(&mut settings);
        let clock = Arc::new(ManualClock::at(at(now)));
        let started = start(&settings, clock.clone());
        let mut app = TestApp {
            address: started.address,
            metrics_address: started.metrics_address,
            client: Client::new(),
            clock,
            db,
            settings,
            gateway: started.gateway,
            admin: String::new(),
            serving: started.serving,
            replicas: Mutex::default(),
        };
        app.admin = app.token("admin", "ops", None);
        app
    }

    /// Starts another gateway process on the same database (a replica) and returns its address.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Settings)) -> String {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        let started = start(&settings, self.clock.clone());
        self.replicas.lock().unwrap().push(started.serving);
        started.address
    }

    /// Stops this gateway as SIGTERM would (in-flight requests drained, its outbox and other
    /// loops ended), then starts it again on the same database with `adjust`ed settings.
    pub async fn restart(&mut self, adjust: impl FnOnce(&mut Settings)) {
        self.serving
            .stop(true)
            .await
            .expect("a running server")
            .expect("the server's task ends")
            .expect("the server ran");
        adjust(&mut self.settings);
        let started = start(&self.settings, self.clock.clone());
        self.address = started.address;
        self.metrics_address = started.metrics_address;
        self.gateway = started.gateway;
        self.serving = started.serving;
    }

    /// Reconciliation through the API, as every money test ends: the books must be clean.
    pub async fn assert_books_clean(&self) -> Value {
        let (code, report) = self.get("/v1/reconciliation", self.admin()).await;
        assert_eq!(code, StatusCode::OK, "{report}");
        assert_eq!(report["status"], "clean", "{report:#}");
        report
    }

    /// A token as `gateway token` would print it: the server's own key, the wall clock.
    pub fn token(&self, role: &str, sub: &str, platform: Option<&str>) -> String {
        self.gateway.tokens().mint(
            role.parse().unwrap(),
            sub,
            platform,
            SystemClock.now().timestamp(),
        )
    }

    pub fn admin(&self) -> &str {
        &self.admin
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// Calls and returns the status and the JSON body, which must be what the OpenAPI document
    /// says this operation answers with this status.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.call(method.clone(), path, token, body).await;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        documented::check(&method, path, status, &content_type, &value);
        (status, value)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.json(Method::GET, path, Some(token), None).await
    }

    /// Creates a platform and returns a token for it.
    pub async fn platform(&self, code: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/platforms",
                &self.admin,
                json!({"code": code, "name": format!("Platform {code}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.token("platform", &format!("test:{code}"), Some(code))
    }

    pub async fn course(&self, platform: &str, code: &str, level: &str, hours: u32) {
        let (status, body) = self
            .json(
                Method::PUT,
                &format!("/v1/courses/{code}"),
                Some(platform),
                Some(json!({"title": format!("Course {code}"), "level": level, "class_hours": hours})),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }

    /// Adds a payer with a schedule of the defaults changed by `overrides`, effective `year`.
    pub async fn payer_with(&self, code: &str, year: i32, overrides: Value) {
        let (status, body) = self
            .post(
                "/v1/payers",
                &self.admin,
                json!({"code": code, "name": format!("Payer {code}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut schedule = default_schedule(code, year);
        for (key, value) in overrides.as_object().unwrap() {
            schedule[key] = value.clone();
        }
        let (status, body) = self.post("/v1/rate-schedules", &self.admin, schedule).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn usage(&self, platform: &str, query: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/usage?{query}"), platform).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// What `/metrics` answers at `address`.
pub async fn metrics_text(client: &Client, address: &str) -> String {
    client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn default_schedule(payer: &str, year: i32) -> Value {
    json!({
        "payer": payer, "effective_year": year,
        "rates": {"junior": "3.00", "intermediate": "4.00", "senior": "5.00"},
        "saturation_per_class_hour": {"junior": "3000.00", "intermediate": "4000.00", "senior": "5000.00"},
        "learner_annual_cap": "300.00", "platform_annual_ceiling": "3000000.00",
        "offline_ratio_threshold": "0.50", "offline_reduction_factor": "0.50"
    })
}

/// A valid ID number for test learner `n` (distinct for n below 50,000).
pub fn id_number(n: u32) -> String {
    subsidy_gateway::domain::IdNumber::complete(&format!(
        "140105{:04}0101{:03}",
        1950 + (n / 1000) % 50,
        n % 1000
    ))
}

/// A completion event with the defaults most tests want.
pub fn event(event_id: &str, course: &str, learner: u32, hours: u32, certified_at: &str) -> Value {
    json!({
        "event_id": event_id,
        "course_code": course,
        "learner": {"id_number": id_number(learner), "name": format!("学员{learner}")},
        "class_hours": hours,
        "certificate_no": format!("CERT-{event_id}"),
        "certified_at": certified_at,
    })
}

/// Posts `events` all at once, spread over `addresses`, and returns each answer's status and body.
pub async fn post_concurrently(
    client: &Client,
    addresses: &[String],
    token: &str,
    events: Vec<Value>,
) -> Vec<(StatusCode, Value)> {
    let requests = events.into_iter().enumerate().map(|(i, event)| {
        let url = format!("{}/v1/completions", addresses[i % addresses.len()]);
        let request = client.post(url).bearer_auth(token).json(&event);
        async move {
            let response = request.send().await.expect("request sent");
            let status = response.status();
            (status, response.json::<Value>().await.expect("JSON answer"))
        }
    });
    futures_util::future::join_all(requests).await
}

pub fn fen(amount: &Value) -> i64 {
    let text = amount.as_str().expect("money is a string");
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (yuan, fen) = digits.split_once('.').expect("two decimals");
    sign * (yuan.parse::<i64>().unwrap() * 100 + fen.parse::<i64>().unwrap())
}

/// The three concurrency scenarios of the limits, against one or several gateway processes on
/// one database: `requests` at once for one learner, for a nearly saturated course, and for a
/// platform near its ceiling, then `copies` of one event at once. Whatever the interleaving,
/// the totals are exactly what any sequential order gives: the limits.
#[allow(clippy::too_many_arguments)]
pub async fn limits_hold_under_concurrency(
    client: &Client,
    addresses: &[String],
    admin: &str,
    platform_token: &dyn Fn(&str) -> String,
    certified_at: &str,
    year: i32,
    requests: u32,
    copies: usize,
) {
    let call = |method: Method, path: &str, token: &str, body: Value| {
        client
            .request(method, format!("{}{path}", addresses[0]))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    for (payer, overrides) in [
        ("cap", json!({})),
        (
            "saturation",
            json!({"saturation_per_class_hour": {"junior": "100.00", "intermediate": "4000.00", "senior": "5000.00"}}),
        ),
        ("ceiling", json!({"platform_annual_ceiling": "50.00"})),
    ] {
        let response = call(
            Method::POST,
            "/v1/payers",
            admin,
            json!({"code": payer, "name": payer}),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let mut schedule = default_schedule(payer, year);
        for (key, value) in overrides.as_object().unwrap() {
            schedule[key] = value.clone();
        }
        let response = call(Method::POST, "/v1/rate-schedules", admin, schedule)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{:?}",
            response.text().await
        );
    }
    let create_platform = |code: &'static str| {
        call(
            Method::POST,
            "/v1/platforms",
            admin,
            json!({"code": code, "name": code}),
        )
    };
    assert!(create_platform("conc").await.unwrap().status().is_success());
    let p = platform_token("conc");
    let course = |code: String, hours: u32| {
        call(
            Method::PUT,
            &format!("/v1/courses/{code}"),
            &p,
            json!({"title": code, "level": "junior", "class_hours": hours}),
        )
    };
    for i in 0..requests {
        assert!(course(format!("cap-{i}"), 10)
            .await
            .unwrap()
            .status()
            .is_success());
    }
    assert!(course("sat".into(), 1).await.unwrap().status().is_success());
    assert!(course("ceil".into(), 10)
        .await
        .unwrap()
        .status()
        .is_success());
    let with_payer = |mut event: Value, payer: &str| {
        event["payer"] = json!(payer);
        event
    };

    // One learner, every course at once: 300.00 in all, never more.
    let events = (0..requests)
        .map(|i| {
            with_payer(
                event(
                    &format!("cap-{i}"),
                    &format!("cap-{i}"),
                    1,
                    10,
                    certified_at,
                ),
                "cap",
            )
        })
        .collect();
    let answers = post_concurrently(client, addresses, &p, events).await;
    assert!(
        answers.iter().all(|(status, _)| *status == StatusCode::OK),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().map(|(_, r)| fen(&r["granted"])).sum::<i64>(),
        30_000
    );

    // A course 90.00 into its 100.00 saturation, many learners at once: 10.00 more, exactly.
    let prefill = json!({"events": (0..30).map(|i| with_payer(event(&format!("sat-pre-{i}"), "sat", 2000 + i, 1, certified_at), "saturation")).collect::<Vec<_>>()});
    let response = call(Method::POST, "/v1/completions", &p, prefill)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = (0..requests)
        .map(|i| {
            with_payer(
                event(&format!("sat-{i}"), "sat", 3000 + i, 1, certified_at),
                "saturation",
            )
        })
        .collect();
    let answers = post_concurrently(client, addresses, &p, events).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK));
    assert_eq!(
        answers.iter().map(|(_, r)| fen(&r["granted"])).sum::<i64>(),
        1_000
    );
    assert_eq!(
        answers
            .iter()
            .filter(|(_, r)| r["limited_by"] == "course_saturated")
            .count(),
        requests as usize - 3,
        "three full grants of 3.00, then 1.00 limited by the saturation, then nothing"
    );

    // A platform with a 50.00 ceiling, many learners at once: 50.00.
    let events = (0..requests)
        .map(|i| {
            with_payer(
                event(&format!("ceil-{i}"), "ceil", 4000 + i, 10, certified_at),
                "ceiling",
            )
        })
        .collect();
    let answers = post_concurrently(client, addresses, &p, events).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK));
    assert_eq!(
        answers.iter().map(|(_, r)| fen(&r["granted"])).sum::<i64>(),
        5_000
    );

    // The counters agree with the answers.
    for (payer, expected) in [
        ("cap", "300.00"),
        ("saturation", "100.00"),
        ("ceiling", "50.00"),
    ] {
        let usage: Value = call(
            Method::GET,
            &format!("/v1/usage?year={year}&payer={payer}"),
            &p,
            Value::Null,
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(usage["granted"], expected, "{payer}");
    }

    // The same event many times at once: one grant, every answer the same result.
    let same = event("once", "ceil", 9000, 10, certified_at);
    let answers = post_concurrently(client, addresses, &p, vec![same; copies]).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK));
    assert_eq!(
        answers
            .iter()
            .filter(|(_, r)| r["replayed"] == false)
            .count(),
        1
    );
    assert!(answers
        .iter()
        .all(|(_, r)| r["granted"] == "30.00" && r["status"] == "accepted"));
}
