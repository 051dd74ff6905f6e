//! Crashes of the real binary: `kill -9` under load with the client retrying what was not
//! acknowledged, SIGTERM draining in-flight requests, and the outbox worker killed while the
//! bureau holds its request. Each ends with `gateway check`.
//!
//! CI runs smaller counts; `CRASH_EVENTS=3000 CRASH_ROUNDS=10` gives the full figures of
//! RELIABILITY.md.

mod common;

use common::bureau::{bureau, BUREAU_SECRET};
use common::process::*;
use common::*;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use subsidy_gateway::domain::TrainingYear;

const COURSES: usize = 20;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh database with a platform `crash` and its courses; returns the tokens.
struct Scene {
    db: TestDatabase,
    admin: String,
    platform: String,
    certified_at: String,
    year: i32,
    client: Client,
}

async fn scene(db: TestDatabase, gateway: &Process) -> Scene {
    let admin = cli_token(&db.access(), &["--role", "admin", "--sub", "ops"]);
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/v1/platforms", gateway.address))
        .bearer_auth(&admin)
        .json(&json!({"code": "crash", "name": "crash"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let platform = cli_token(&db.access(), &["--role", "platform", "--platform", "crash"]);
    for k in 0..COURSES {
        let response = client
            .put(format!("{}/v1/courses/K{k}", gateway.address))
            .bearer_auth(&platform)
            .json(&json!({"title": "course", "level": "junior", "class_hours": 10}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    let now = chrono::Utc::now() - chrono::Duration::hours(1);
    Scene {
        db,
        admin,
        platform,
        certified_at: now.to_rfc3339(),
        year: TrainingYear::of(now).value(),
        client,
    }
}

impl Scene {
    /// Event i: learner i / 20 on course i % 20. Each learner is offered 20 × 30.00 and ends
    /// at the 300.00 cap, whatever the order.
    fn event(&self, i: usize) -> Value {
        event(
            &format!("ev-{i}"),
            &format!("K{}", i % COURSES),
            u32::try_from(100 + i / COURSES).unwrap(),
            10,
            &self.certified_at,
        )
    }

    async fn post(&self, address: &str, body: &Value) -> Result<(StatusCode, Value), String> {
        let response = self
            .client
            .post(format!("{address}/v1/completions"))
            .bearer_auth(&self.platform)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    async fn get(&self, url: String, token: &str) -> Value {
        let response = self.client.get(url).bearer_auth(token).send().await;
        response.unwrap().json().await.unwrap()
    }

    async fn granted_total(&self, address: &str) -> Value {
        let path = format!("{address}/v1/usage?year={}", self.year);
        self.get(path, &self.platform).await["granted"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_and_doubles_nothing() {
    let events = setting("CRASH_EVENTS", 600) / COURSES * COURSES;
    let rounds = setting("CRASH_ROUNDS", 3).max(1);
    let db = TestDatabase::fresh();
    let mut gateway = spawn_gateway(&db.access());
    let scene = std::sync::Arc::new(scene(db, &gateway).await);
    // event index → the first acknowledged answer
    let mut acked: BTreeMap<usize, Value> = BTreeMap::new();
    let mut committed_but_unacknowledged = 0;
    let mut kills_under_load = 0;
    for round in 0..=rounds {
        let last = round == rounds;
        let pending: Vec<usize> = (0..events).filter(|i| !acked.contains_key(i)).collect();
        // Kill once a third of this round's events are answered: always under load.
        let target = (pending.len() / 3).max(1);
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let address = gateway.address.clone();
        let (load_scene, progress) = (scene.clone(), answered.clone());
        let load = tokio::spawn(async move {
            futures_util::stream::iter(pending)
                .map(|i| {
                    let (scene, address) = (load_scene.clone(), address.clone());
                    let progress = progress.clone();
                    async move {
                        let answer = scene.post(&address, &scene.event(i)).await;
                        progress.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        (i, answer)
                    }
                })
                .buffer_unordered(16)
                .collect::<Vec<_>>()
                .await
        });
        if !last {
            while answered.load(std::sync::atomic::Ordering::SeqCst) < target && !load.is_finished()
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            kills_under_load += usize::from(!load.is_finished());
            gateway.kill_9();
        }
        let mut lost = 0;
        for (i, answer) in load.await.unwrap() {
            match answer {
                Ok((StatusCode::OK, body)) => {
                    if body["replayed"] == true {
                        // Committed before the crash, acknowledged only now.
                        committed_but_unacknowledged += 1;
                    }
                    acked.insert(i, body);
                }
                Ok((status, body)) => panic!("event {i}: {status} {body}"),
                Err(_) => lost += 1,
            }
        }
        eprintln!(
            "round {round}: {} acknowledged so far, {lost} requests unanswered (cut off or refused)",
            acked.len()
        );
        if !last {
            gateway = spawn_gateway(&scene.db.access());
        } else {
            assert_eq!(lost, 0, "no kill in the last round");
        }
    }
    assert_eq!(acked.len(), events);
    assert!(kills_under_load > 0, "at least one kill landed under load");
    // Every acknowledged event is stored exactly once, with the answer it was acknowledged with.
    let replays = futures_util::stream::iter(0..events)
        .map(|i| {
            let (scene, address) = (scene.clone(), gateway.address.clone());
            async move { (i, scene.post(&address, &scene.event(i)).await.unwrap()) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for (i, (status, body)) in replays {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["replayed"], true, "event {i} was stored");
        for field in ["status", "granted", "gross", "limited_by", "training_year"] {
            assert_eq!(body[field], acked[&i][field], "event {i}: {field}");
        }
    }
    let learners = events / COURSES;
    let granted: i64 = acked.values().map(|a| fen(&a["granted"])).sum();
    assert_eq!(
        granted,
        30_000 * learners as i64,
        "every learner exactly at the cap"
    );
    assert_eq!(
        fen(&scene.granted_total(&gateway.address).await),
        granted,
        "the platform counter agrees with the answers"
    );
    let report = cli_check(&scene.db.access());
    assert_eq!(report["checked"]["completions"], events);
    eprintln!(
        "{events} events, {rounds} kill -9 ({kills_under_load} under load), {committed_but_unacknowledged} committed but unacknowledged (replayed on retry), 0 lost, 0 doubled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_in_flight_requests_before_exit() {
    let db = TestDatabase::fresh();
    let mut gateway = spawn_gateway(&db.access());
    let scene = std::sync::Arc::new(scene(db, &gateway).await);
    // Eight batches of 1,000 events, in flight together: more than a fast machine meters in the
    // 100 ms before the signal (four of 500 once all finished before it).
    let batches: Vec<Value> = (0..8)
        .map(|b| json!({"events": (b * 1000..(b + 1) * 1000).map(|i| scene.event(i)).collect::<Vec<_>>()}))
        .collect();
    let address = gateway.address.clone();
    let load_scene = scene.clone();
    let load = tokio::spawn(async move {
        let posts = batches.iter().map(|batch| async {
            let answer = load_scene.post(&address, batch).await;
            (answer, Instant::now())
        });
        futures_util::future::join_all(posts).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked_to_stop = Instant::now();
    gateway.terminate();
    let answers = load.await.unwrap();
    let status = gateway
        .wait_exit(Duration::from_secs(40))
        .expect("the gateway exits after draining");
    assert!(status.success(), "{status:?}");
    let (mut drained, mut answered, mut never_accepted) = (0, 0, 0);
    for (answer, at) in answers {
        // On a loaded machine a request may not have reached the server when it stopped
        // listening: refused before it was accepted, it must have stored nothing (below).
        let Ok((code, body)) = answer else {
            never_accepted += 1;
            continue;
        };
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["results"].as_array().map(Vec::len), Some(1000));
        answered += 1;
        drained += usize::from(at > asked_to_stop);
    }
    assert!(drained > 0, "at least one batch finished after SIGTERM");
    assert!(gateway.log.lock().unwrap().contains("gateway stopped"));
    // Every accepted request was metered and answered; none was stored unanswered.
    let report = cli_check(&scene.db.access());
    assert_eq!(report["checked"]["completions"], 1000 * answered);
    eprintln!("SIGTERM with 8 batches × 1,000 sent: {drained} finished after the signal, {answered} answered 200, {never_accepted} refused before being accepted, exit 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_worker_killed_mid_delivery_delivers_once_after_restart() {
    // The bureau holds every request for 2 s; the gateway waits up to 3 s, and a lease lasts 9 s.
    let stand_in = bureau(vec![200], Duration::from_secs(2)).await;
    let env = [
        ("GATEWAY_BUREAU_URL", stand_in.address.as_str()),
        ("GATEWAY_BUREAU_ALLOW_HTTP", "true"),
        ("GATEWAY_BUREAU_SECRET", BUREAU_SECRET),
        ("GATEWAY_BUREAU_TIMEOUT_SECONDS", "3"),
        ("GATEWAY_OUTBOX_POLL_MS", "20"),
        ("GATEWAY_OUTBOX_BASE_DELAY_MS", "20"),
    ];
    let db = TestDatabase::fresh();
    let mut gateway = spawn_gateway_with(&db.access(), &env);
    let scene = scene(db, &gateway).await;
    let (code, _) = scene.post(&gateway.address, &scene.event(0)).await.unwrap();
    assert_eq!(code, StatusCode::OK);
    let finance = |sub: &str| cli_token(&scene.db.access(), &["--role", "finance", "--sub", sub]);
    let (fin1, fin2) = (finance("fin1"), finance("fin2"));
    let period = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let act = |token: &str, path: String, body: Value| {
        scene
            .client
            .post(format!("{}{path}", gateway.address))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let drafts: Value = act(
        &fin1,
        "/v1/invoice-runs".into(),
        json!({"period": period, "payer": "province"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = drafts[0]["id"].as_str().expect("a draft").to_owned();
    let issued: Value = act(&fin1, format!("/v1/invoices/{id}/issue"), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let number = issued["number"].as_str().unwrap().to_owned();
    let response = act(&fin2, format!("/v1/invoices/{id}/approve"), json!({}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The worker has sent the request and waits for the bureau's answer: kill it now.
    let start = Instant::now();
    while stand_in.received.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worker never called"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateway.kill_9();
    let restarted = spawn_gateway_with(&scene.db.access(), &env);
    let start = Instant::now();
    let invoice = loop {
        let invoice = scene
            .get(format!("{}/v1/invoices/{id}", restarted.address), &fin1)
            .await;
        if invoice["status"] == "submitted" {
            break invoice;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "never delivered: {invoice}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(invoice["delivery"]["status"], "delivered");
    let received = stand_in.received.lock().unwrap().clone();
    assert!(received.len() >= 2, "the cut-off request was sent again");
    assert!(
        received.iter().all(|(key, _)| *key == number),
        "every attempt carries the same Idempotency-Key, so the bureau pays once"
    );
    let audit = scene
        .get(
            format!(
                "{}/v1/audit-events?object_id={id}&action=invoice.submitted",
                restarted.address
            ),
            &scene.admin,
        )
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
    cli_check(&scene.db.access());
    eprintln!(
        "outbox worker killed mid-delivery: {} attempts, one key, submitted once",
        received.len()
    );
}
