//! Signed messages to platforms' endpoints, checked by a stand-in receiver that verifies every
//! signature with an independent implementation of Standard Webhooks (the `standardwebhooks`
//! crate): the events of an invoice's life, of a course and a ceiling, a revocation; retries of
//! a receiver that is down for a while; a rotated secret; an endpoint disabled after failing;
//! the URL checks.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::bureau::{next_answer, verified_with};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";

/// What the receiver got: each verified message's `webhook-id` and body, and how many
/// requests failed verification.
#[derive(Clone, Default)]
struct Received {
    messages: Vec<(String, Value)>,
    unverified: usize,
    requests: usize,
}

/// A platform's receiver on loopback. It verifies with the secrets it is given (any of them
/// may match), and answers from a script (the last status repeats).
struct Receiver {
    url: String,
    secrets: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<Vec<u16>>>,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Receiver {
        let secrets: Arc<Mutex<Vec<String>>> = Arc::default();
        let script = Arc::new(Mutex::new(script));
        let received: Arc<Mutex<Received>> = Arc::default();
        let (keys, answers, log) = (secrets.clone(), script.clone(), received.clone());
        let server = HttpServer::new(move || {
            let (keys, answers, log) = (keys.clone(), answers.clone(), log.clone());
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, raw: web::Bytes| {
                    let (keys, answers, log) = (keys.clone(), answers.clone(), log.clone());
                    async move {
                        let verified = keys
                            .lock()
                            .unwrap()
                            .iter()
                            .any(|secret| verified_with(secret, &req, &raw));
                        let status = next_answer(&answers);
                        let mut log = log.lock().unwrap();
                        log.requests += 1;
                        if !verified {
                            log.unverified += 1;
                            return HttpResponse::Unauthorized().body("signature refused");
                        }
                        let id = req
                            .headers()
                            .get("webhook-id")
                            .unwrap()
                            .to_str()
                            .unwrap()
                            .to_owned();
                        log.messages
                            .push((id, serde_json::from_slice(&raw).unwrap()));
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                            .body(answer_body(status))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}/hook", server.addrs()[0]);
        tokio::spawn(server.run());
        Receiver {
            url,
            secrets,
            script,
            received,
        }
    }

    /// Waits until `done` holds for what was received (at most 15 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&Received) -> bool) {
        let started = Instant::now();
        while !done(&self.received.lock().unwrap()) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "waited in vain for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn snapshot(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    fn types(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .messages
            .iter()
            .map(|(_, body)| body["type"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// What the receiver says: a short line, or after a failure a megabyte of it (the gateway
/// reads at most 4 KiB of an answer and keeps less).
fn answer_body(status: u16) -> String {
    let line = format!("receiver says {status}\n");
    if status >= 500 {
        line.repeat((1 << 20) / line.len())
    } else {
        line
    }
}

/// The endpoint's attempts once `n` are recorded (the receiver sees a message before the
/// gateway records its answer).
async fn attempts(app: &TestApp, platform: &str, endpoint: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (code, attempts) = app
            .get(
                &format!("/v1/webhook-endpoints/{endpoint}/attempts"),
                platform,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{attempts}");
        let attempts = attempts.as_array().unwrap().clone();
        if attempts.len() >= n {
            return attempts;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{attempts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A gateway that may post to loopback over plain HTTP, polling and retrying quickly.
async fn app() -> TestApp {
    TestApp::with(JUNE_2022, |s| {
        s.webhooks.allow_insecure = true;
        s.webhooks.poll_ms = 20;
        s.webhooks.base_delay_ms = 30;
    })
    .await
}

/// Registers the receiver for `types`; it verifies with the secret the answer shows.
async fn register(app: &TestApp, platform: &str, receiver: &Receiver, types: &[&str]) -> Value {
    let (code, created) = app
        .post(
            "/v1/webhook-endpoints",
            platform,
            json!({"url": receiver.url, "event_types": types}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.secrets.lock().unwrap().push(secret.to_owned());
    created
}

#[tokio::test]
async fn an_invoice_life_and_a_revocation_reach_the_platform_signed() {
    let app = app().await;
    let receiver = Receiver::start(vec![200]).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let endpoint = register(
        &app,
        &p,
        &receiver,
        &[
            "invoice.issued",
            "invoice.approved",
            "invoice.paid",
            "completion.revoked",
        ],
    )
    .await;
    let (code, _) = app
        .post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(code, StatusCode::OK);
    app.post("/v1/completions", &p, event("e2", "C", 2, 10, JUNE_2022))
        .await;

    let (fin1, fin2) = (
        app.token("finance", "fin1", None),
        app.token("finance", "fin2", None),
    );
    let (code, drafts) = app
        .post(
            "/v1/invoice-runs",
            &fin1,
            json!({"period": "2022-06", "payer": "province"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{drafts}");
    let id = drafts[0]["id"].as_str().unwrap().to_owned();
    for (token, action, body) in [
        (&fin1, "issue", json!({})),
        (&fin2, "approve", json!({})),
        (&fin1, "mark-paid", json!({"reference": "BANK-1"})),
    ] {
        let (code, answer) = app
            .post(&format!("/v1/invoices/{id}/{action}"), token, body)
            .await;
        assert_eq!(code, StatusCode::OK, "{action}: {answer}");
    }
    let (code, _) = app
        .post(
            "/v1/completions/e2/revoke",
            &p,
            json!({"reason": "certificate withdrawn"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    receiver
        .wait_for("four messages", |r| r.messages.len() >= 4)
        .await;
    let mut types = receiver.types();
    types.sort();
    assert_eq!(
        types,
        [
            "completion.revoked",
            "invoice.approved",
            "invoice.issued",
            "invoice.paid"
        ]
    );
    let received = receiver.snapshot();
    assert_eq!(received.unverified, 0);
    let paid = &received
        .messages
        .iter()
        .find(|(_, m)| m["type"] == "invoice.paid")
        .unwrap()
        .1;
    assert_eq!(paid["data"]["invoice_id"], id.as_str());
    // 60.00 granted, halved: no learner went on to offline follow-up (RULES.md §4).
    assert_eq!(paid["data"]["amount"], "30.00");
    assert_eq!(paid["data"]["status"], "paid");
    assert!(paid["timestamp"].is_string());
    let revoked = &received
        .messages
        .iter()
        .find(|(_, m)| m["type"] == "completion.revoked")
        .unwrap()
        .1;
    assert_eq!(revoked["data"]["event_id"], "e2");
    assert_eq!(revoked["data"]["released"], "30.00");
    // Message ids are the specification's kind: unique per message.
    let ids: std::collections::HashSet<&String> =
        received.messages.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 4);

    let endpoint_id = endpoint["id"].as_str().unwrap();
    let attempts = attempts(&app, &p, endpoint_id, 4).await;
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert!(attempts
        .iter()
        .all(|a| a["outcome"] == "succeeded" && a["answer_code"] == 200));

    // The secret is shown once: never in the listing.
    let (_, listed) = app.get("/v1/webhook-endpoints", &p).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none(), "{listed}");
    // Another platform sees none of it.
    let q = app.platform("Q").await;
    let (code, _) = app
        .get(&format!("/v1/webhook-endpoints/{endpoint_id}"), &q)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_course_turning_free_and_the_ceiling_thresholds_are_announced_once() {
    let app = app().await;
    let receiver = Receiver::start(vec![200]).await;
    // Saturation 60.00 for a 10-hour junior course; a ceiling of 100.00.
    app.payer_with(
        "city",
        2022,
        json!({
            "saturation_per_class_hour": {"junior": "6.00", "intermediate": "8.00", "senior": "10.00"},
            "platform_annual_ceiling": "100.00",
        }),
    )
    .await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "D", "junior", 10).await;
    register(
        &app,
        &p,
        &receiver,
        &[
            "course.saturated",
            "platform.ceiling_warning",
            "platform.ceiling_reached",
        ],
    )
    .await;
    let city = |id: &str, course: &str, learner: u32| {
        let mut e = event(id, course, learner, 10, JUNE_2022);
        e["payer"] = json!("city");
        e
    };
    // 30 + 30 on C: C saturates. 30 on D: 90 of 100, past 80 %. 10 more: the ceiling.
    let (code, answer) = app
        .post(
            "/v1/completions",
            &p,
            json!({"events": [city("e1", "C", 1), city("e2", "C", 2)]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    for (id, course, learner) in [("e3", "D", 3), ("e4", "D", 4), ("e5", "D", 5)] {
        let (code, answer) = app
            .post("/v1/completions", &p, city(id, course, learner))
            .await;
        assert_eq!(code, StatusCode::OK, "{answer}");
    }
    receiver
        .wait_for("three messages", |r| r.messages.len() >= 3)
        .await;
    // Nothing more comes: each threshold is announced once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.snapshot();
    let by_type = |t: &str| -> Vec<&Value> {
        received
            .messages
            .iter()
            .filter(|(_, m)| m["type"] == t)
            .map(|(_, m)| &m["data"])
            .collect()
    };
    let saturated = by_type("course.saturated");
    assert_eq!(saturated.len(), 1);
    assert_eq!(saturated[0]["course_code"], "C");
    assert_eq!(saturated[0]["by_event_id"], "e2");
    let warning = by_type("platform.ceiling_warning");
    assert_eq!(warning.len(), 1);
    assert_eq!(warning[0]["granted"], "90.00");
    assert_eq!(warning[0]["ceiling"], "100.00");
    let reached = by_type("platform.ceiling_reached");
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0]["granted"], "100.00");
    assert_eq!(reached[0]["by_event_id"], "e4");
    assert_eq!(received.messages.len(), 3);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_the_same_message_until_it_answers() {
    let app = app().await;
    // Down, then a redirect (never followed: the endpoint is what was registered), then up.
    let receiver = Receiver::start(vec![503, 307, 200]).await;
    let p = app.platform("P").await;
    let endpoint = register(&app, &p, &receiver, &["invoice.paid"]).await;
    let id = endpoint["id"].as_str().unwrap();
    let (code, queued) = app
        .post(&format!("/v1/webhook-endpoints/{id}/test"), &p, json!({}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{queued}");
    let message_id = queued["message_id"].as_str().unwrap().to_owned();
    receiver
        .wait_for("three deliveries", |r| r.messages.len() >= 3)
        .await;
    {
        let received = receiver.snapshot();
        assert!(received
            .messages
            .iter()
            .all(|(id, body)| *id == message_id && body["type"] == "webhook.test"));
        // The same body each time: the signature verified over it on every retry.
        assert_eq!(received.messages[0].1, received.messages[2].1);
    }
    let outcomes: Vec<(String, i64)> = attempts(&app, &p, id, 3)
        .await
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap().to_owned(),
                a["answer_code"].as_i64().unwrap(),
            )
        })
        .collect();
    // Newest first; of the megabyte the 503 came with, only the start is kept.
    let listed = attempts(&app, &p, id, 3).await;
    let kept = listed[2]["error"].as_str().unwrap();
    assert!(kept.starts_with("503"), "{kept}");
    assert!(kept.len() <= 600, "{} bytes kept", kept.len());
    assert_eq!(
        outcomes,
        [
            ("succeeded".to_owned(), 200),
            ("failed".to_owned(), 307),
            ("failed".to_owned(), 503)
        ]
    );
    let (_, endpoint) = app.get(&format!("/v1/webhook-endpoints/{id}"), &p).await;
    assert_eq!(endpoint["status"], "enabled");
    assert!(endpoint["failing_since"].is_null(), "{endpoint}");

    // A delivered message can be sent again, with the same id.
    let (code, _) = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/messages/{message_id}/resend"),
            &p,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    receiver
        .wait_for("the resent message", |r| r.messages.len() >= 4)
        .await;
    assert_eq!(receiver.received.lock().unwrap().messages[3].0, message_id);
    let (code, _) = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/messages/msg_unknown/resend"),
            &p,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_previous_one() {
    let app = app().await;
    let receiver = Receiver::start(vec![200]).await;
    let p = app.platform("P").await;
    let endpoint = register(&app, &p, &receiver, &["invoice.paid"]).await;
    let id = endpoint["id"].as_str().unwrap();
    let old = endpoint["secret"].as_str().unwrap().to_owned();
    let (code, rotated) = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &p,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // A receiver that already switched to the new secret, then one still on the old: both
    // verify, because each message carries a signature by each.
    for secret in [new, old] {
        *receiver.secrets.lock().unwrap() = vec![secret];
        let before = receiver.received.lock().unwrap().messages.len();
        app.post(&format!("/v1/webhook-endpoints/{id}/test"), &p, json!({}))
            .await;
        receiver
            .wait_for("a message", |r| r.messages.len() > before)
            .await;
    }
    assert_eq!(receiver.received.lock().unwrap().unverified, 0);
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_and_says_why() {
    let app = TestApp::with(JUNE_2022, |s| {
        s.webhooks.allow_insecure = true;
        s.webhooks.poll_ms = 20;
        s.webhooks.base_delay_ms = 30;
        s.webhooks.disable_after_secs = 1;
    })
    .await;
    let receiver = Receiver::start(vec![500]).await;
    let p = app.platform("P").await;
    let endpoint = register(&app, &p, &receiver, &["invoice.paid"]).await;
    let id = endpoint["id"].as_str().unwrap();
    app.post(&format!("/v1/webhook-endpoints/{id}/test"), &p, json!({}))
        .await;
    let started = Instant::now();
    let disabled = loop {
        let (_, endpoint) = app.get(&format!("/v1/webhook-endpoints/{id}"), &p).await;
        if endpoint["status"] == "disabled" {
            break endpoint;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{endpoint}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("500"), "{reason}");
    assert!(disabled["failing_since"].is_string(), "{disabled}");
    // Its message is held, not given up; nor is one written while it is disabled.
    let (_, messages) = app
        .get(&format!("/v1/webhook-endpoints/{id}/messages"), &p)
        .await;
    assert_eq!(messages[0]["status"], "held", "{messages}");
    // Disabled, it is sent nothing; enabled again, it gets what was held.
    let (code, problem) = app
        .post(&format!("/v1/webhook-endpoints/{id}/test"), &p, json!({}))
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "webhook_endpoint_disabled");
    *receiver.script.lock().unwrap() = vec![200];
    let before = receiver.received.lock().unwrap().messages.len();
    let (code, enabled) = app
        .post(&format!("/v1/webhook-endpoints/{id}/enable"), &p, json!({}))
        .await;
    assert_eq!(code, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["status"], "enabled");
    let (code, _) = app
        .post(&format!("/v1/webhook-endpoints/{id}/test"), &p, json!({}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    receiver
        .wait_for("the held and the new message", |r| {
            r.messages.len() > before + 1
        })
        .await;
    let started = Instant::now();
    loop {
        let (_, messages) = app
            .get(&format!("/v1/webhook-endpoints/{id}/messages"), &p)
            .await;
        let statuses: Vec<&str> = messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["status"].as_str().unwrap())
            .collect();
        if statuses == ["delivered", "delivered"] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{messages}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn endpoint_urls_must_be_public_https_and_nothing_is_stored_otherwise() {
    let app = TestApp::at(JUNE_2022).await;
    let p = app.platform("P").await;
    for (url, types) in [
        ("http://8.8.8.8/hook", json!(["invoice.paid"])),
        ("https://127.0.0.1/hook", json!(["invoice.paid"])),
        ("https://localhost/hook", json!(["invoice.paid"])),
        (
            "https://169.254.169.254/latest/meta-data",
            json!(["invoice.paid"]),
        ),
        ("https://[::1]/hook", json!(["invoice.paid"])),
        ("https://8.8.8.8/hook", json!(["invoice.lost"])),
        ("https://8.8.8.8/hook", json!([])),
    ] {
        let (code, problem) = app
            .post(
                "/v1/webhook-endpoints",
                &p,
                json!({"url": url, "event_types": types}),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
    }
    let (_, problem) = app
        .post(
            "/v1/webhook-endpoints",
            &p,
            json!({"url": "https://10.0.0.8/hook", "event_types": ["invoice.paid"]}),
        )
        .await;
    assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    assert_eq!(problem["errors"][0]["code"], "invalid_webhook_url");
    let (_, listed) = app.get("/v1/webhook-endpoints", &p).await;
    assert_eq!(listed, json!([]));
    // Only platforms hold endpoints.
    let (code, _) = app.get("/v1/webhook-endpoints", app.admin()).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
}
