//! Metering through the API: the worked numbers of RULES.md and every limit, end to end.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

const DEC_2022: &str = "2022-12-15T10:00:00+08:00";
const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";

#[tokio::test]
async fn worked_example_of_the_rules() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    let q = app.platform("Q").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "I", "intermediate", 10).await;
    app.course(&q, "S", "senior", 50).await;

    let steps = [
        (
            &p,
            event("a1", "C", 1, 10, JUNE_2022),
            "accepted",
            "30.00",
            "30.00",
            json!(null),
        ),
        (
            &q,
            event("a2", "S", 1, 50, JUNE_2022),
            "accepted",
            "250.00",
            "250.00",
            json!(null),
        ),
        (
            &p,
            event("a3", "I", 1, 10, JUNE_2022),
            "accepted",
            "40.00",
            "20.00",
            json!("learner_annual_cap"),
        ),
        (
            &p,
            event("a4", "C", 1, 10, JUNE_2022),
            "duplicate_claim",
            "30.00",
            "0.00",
            json!(null),
        ),
    ];
    for (token, event, status, gross, granted, limited_by) in steps {
        let (code, result) = app.post("/v1/completions", token, event).await;
        assert_eq!(code, StatusCode::OK, "{result}");
        assert_eq!(result["status"], status, "{result}");
        assert_eq!(result["training_year"], 2022);
        assert_eq!(result["gross"], gross);
        assert_eq!(result["granted"], granted);
        assert_eq!(result["limited_by"], limited_by);
        assert_eq!(result["replayed"], false);
    }

    // Step 5: granted_ytd 50.00, no follow-up: ratio 0/1, payable 25.00.
    let usage = app.usage(&p, "year=2022").await;
    assert_eq!(usage["granted"], "50.00");
    assert_eq!(usage["remaining"], "2999950.00");
    assert_eq!(usage["learners"], 1);
    assert_eq!(usage["learners_with_followup"], 0);
    assert_eq!(usage["offline_ratio"], "0.00");
    assert_eq!(usage["reduction_applies"], true);
    assert_eq!(usage["payable"], "25.00");

    let (code, followup) = app
        .post(
            "/v1/offline-followups",
            &p,
            json!({"learner": {"id_number": id_number(1), "name": "学员1"}, "attended_on": "2022-07-01", "program": "workshop"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{followup}");
    let usage = app.usage(&p, "year=2022").await;
    assert_eq!(usage["offline_ratio"], "1.00");
    assert_eq!(usage["reduction_applies"], false);
    assert_eq!(usage["payable"], "50.00");

    // The learner sees 300.00 used across both platforms.
    let learner = app.token("learner", &id_number(1), None);
    let (code, subsidy) = app.get("/v1/me/subsidy?year=2022", &learner).await;
    assert_eq!(code, StatusCode::OK, "{subsidy}");
    assert_eq!(subsidy["cap"], "300.00");
    assert_eq!(subsidy["used"], "300.00");
    assert_eq!(subsidy["remaining"], "0.00");
    assert_eq!(
        subsidy["by_platform"],
        json!([{"platform": "P", "granted": "50.00"}, {"platform": "Q", "granted": "250.00"}])
    );
    assert_eq!(subsidy["completions"].as_array().unwrap().len(), 4);
    assert_eq!(
        subsidy["learner"],
        format!("{}********{}", &id_number(1)[..6], &id_number(1)[14..])
    );
    app.assert_books_clean().await;
}

/// A replica's writer keeps the catalog rows it read while only other replicas' groups write
/// (their counters it reads again), and reads the catalog again once anything else was written:
/// a payer's voucher requirement, set through one replica, refuses the next event on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_change_on_one_replica_holds_for_the_next_event_on_another() {
    let app = TestApp::at(DEC_2022).await;
    let other = app.replica(|_| {}).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let post = |address: &String, event_id: &str, learner: u32| {
        let event = event(event_id, "C", learner, 10, JUNE_2022);
        let (client, p, address) = (app.client.clone(), p.clone(), address.clone());
        async move {
            post_concurrently(&client, &[address], &p, vec![event])
                .await
                .remove(0)
        }
    };
    // Each group after the first follows one of the other writer's.
    for (address, event_id, learner) in [
        (&other, "a1", 1),
        (&app.address, "a2", 2),
        (&other, "a3", 3),
        (&app.address, "a4", 4),
    ] {
        let (code, answer) = post(address, event_id, learner).await;
        assert_eq!(
            (code, &answer["granted"]),
            (StatusCode::OK, &json!("30.00")),
            "{answer}"
        );
    }
    // Required from a later instant than the four were received at.
    app.clock.set(at("2022-12-15T11:00:00+08:00"));
    let (code, payer) = app
        .patch(
            "/v1/payers/province",
            app.admin(),
            json!({"voucher_required": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{payer}");
    let (code, refusal) = post(&other, "a5", 5).await;
    assert_eq!(
        (code, &refusal["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("voucher_required")),
        "{refusal}"
    );
    assert_eq!(app.usage(&p, "year=2022").await["granted"], "120.00");
    app.assert_books_clean().await;
}

/// A catalog change another writer commits while a group waits for the ledger lock is what that
/// group decides by, though its writer held the catalog from before: on PostgreSQL the locking
/// update reads the ledger row as that change left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_change_committed_while_a_group_waits_for_the_lock_holds_for_it() {
    use diesel::prelude::*;
    use subsidy_gateway::store::{schema::platforms, StoreError};
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let warm = vec![event("a1", "C", 1, 10, JUNE_2022)];
    let (code, _) =
        post_concurrently(&app.client, std::slice::from_ref(&app.address), &p, warm).await[0];
    assert_eq!(code, StatusCode::OK);

    let store = app.db.open_store().unwrap();
    let (locked, lock_held) = std::sync::mpsc::channel();
    let suspending = std::thread::spawn(move || {
        store
            .write(|conn| {
                diesel::update(platforms::table.find("P"))
                    .set(platforms::status.eq("suspended"))
                    .execute(conn)?;
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(500));
                Ok::<_, StoreError>(())
            })
            .unwrap();
    });
    tokio::task::spawn_blocking(move || lock_held.recv().unwrap())
        .await
        .unwrap();
    // Let in while the platform was active; its group waits for the lock.
    let waiting = vec![event("a2", "C", 2, 10, JUNE_2022)];
    let answers =
        post_concurrently(&app.client, std::slice::from_ref(&app.address), &p, waiting).await;
    suspending.join().unwrap();
    let (code, refusal) = &answers[0];
    assert_eq!(*code, StatusCode::FORBIDDEN, "{refusal}");
    assert_eq!(refusal["code"], "platform_suspended");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_partial_grant_stops_at_the_learner_cap() {
    // RULES.md §2: 296.00 used, a 2-hour intermediate course (gross 8.00) is granted 4.00.
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "senior-58", "senior", 58).await;
    app.course(&p, "junior-2", "junior", 2).await;
    app.course(&p, "inter-2", "intermediate", 2).await;
    let (_, r) = app
        .post(
            "/v1/completions",
            &p,
            event("e1", "senior-58", 7, 58, JUNE_2022),
        )
        .await;
    assert_eq!(r["granted"], "290.00");
    let (_, r) = app
        .post(
            "/v1/completions",
            &p,
            event("e2", "junior-2", 7, 2, JUNE_2022),
        )
        .await;
    assert_eq!(r["granted"], "6.00");
    let (_, r) = app
        .post(
            "/v1/completions",
            &p,
            event("e3", "inter-2", 7, 2, JUNE_2022),
        )
        .await;
    assert_eq!(
        (r["gross"].as_str(), r["granted"].as_str()),
        (Some("8.00"), Some("4.00"))
    );
    assert_eq!(r["limited_by"], "learner_annual_cap");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn december_belongs_to_the_next_training_year() {
    let app = TestApp::at("2022-12-20T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let (code, r) = app
        .post(
            "/v1/completions",
            &p,
            event("e1", "C", 1, 10, "2022-11-30T17:30:00Z"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["training_year"], 2023);
    let (_, r) = app
        .post(
            "/v1/completions",
            &p,
            event("e2", "C", 2, 10, "2022-11-30T15:59:59Z"),
        )
        .await;
    assert_eq!(r["training_year"], 2022);
    assert_eq!(app.usage(&p, "year=2023").await["granted"], "30.00");
    assert_eq!(app.usage(&p, "year=2022").await["granted"], "30.00");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn claims_close_after_31_december_and_future_certificates_are_refused() {
    let app = TestApp::at("2022-12-31T23:59:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let (code, _) = app
        .post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(code, StatusCode::OK);
    app.clock.set(at("2023-01-01T00:00:00+08:00"));
    let (code, problem) = app
        .post("/v1/completions", &p, event("e2", "C", 2, 10, JUNE_2022))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "claim_window_closed");
    assert_eq!(problem["errors"][0]["field"], "certified_at");
    let (code, problem) = app
        .post(
            "/v1/completions",
            &p,
            event("e3", "C", 3, 10, "2023-01-01T00:06:00+08:00"),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "certified_in_future");
    let (code, _) = app
        .post(
            "/v1/completions",
            &p,
            event("e4", "C", 4, 10, "2023-01-01T00:04:00+08:00"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "within five minutes of skew");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn uncertified_and_duplicate_claims_earn_nothing() {
    let app = TestApp::at(DEC_2022).await;
    app.payer_with("city-a", 2022, json!({})).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let mut uncertified = event("u1", "C", 1, 10, JUNE_2022);
    uncertified["certificate_no"] = json!(null);
    let (_, r) = app.post("/v1/completions", &p, uncertified).await;
    assert_eq!(
        (
            r["status"].as_str(),
            r["gross"].as_str(),
            r["granted"].as_str()
        ),
        (Some("uncertified"), Some("30.00"), Some("0.00"))
    );
    assert_eq!(r["limited_by"], json!(null));
    let (_, r) = app
        .post("/v1/completions", &p, event("c1", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(r["status"], "accepted");
    // The same learner and course billed to another payer is still a duplicate claim.
    let mut other_payer = event("c2", "C", 1, 10, JUNE_2022);
    other_payer["payer"] = json!("city-a");
    let (_, r) = app.post("/v1/completions", &p, other_payer).await;
    assert_eq!(
        (r["status"].as_str(), r["granted"].as_str()),
        (Some("duplicate_claim"), Some("0.00"))
    );
    // A certificate number is used once.
    let mut reused = event("c3", "C", 2, 10, JUNE_2022);
    reused["certificate_no"] = json!("CERT-c1");
    let (code, problem) = app.post("/v1/completions", &p, reused).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "certificate_already_used");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_saturated_course_enters_the_free_phase_for_good() {
    let app = TestApp::at(DEC_2022).await;
    // Saturation 10.00 per class-hour: a 1-hour junior course saturates at 10.00.
    app.payer_with("city-a", 2022, json!({"saturation_per_class_hour": {"junior": "10.00", "intermediate": "4000.00", "senior": "5000.00"}})).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 1).await;
    let mut granted = vec![];
    for learner in 1..=5 {
        let mut e = event(&format!("e{learner}"), "C", learner, 1, JUNE_2022);
        e["payer"] = json!("city-a");
        let (_, r) = app.post("/v1/completions", &p, e).await;
        granted.push((
            r["granted"].as_str().unwrap().to_owned(),
            r["limited_by"].clone(),
        ));
    }
    assert_eq!(
        granted,
        vec![
            ("3.00".into(), json!(null)),
            ("3.00".into(), json!(null)),
            ("3.00".into(), json!(null)),
            ("1.00".into(), json!("course_saturated")),
            ("0.00".into(), json!("course_saturated")),
        ]
    );
    let (_, course) = app.get("/v1/courses/C?payer=city-a", &p).await;
    assert_eq!(
        (course["granted_total"].as_str(), course["phase"].as_str()),
        (Some("10.00"), Some("free"))
    );
    assert_eq!(course["saturation_limit"], "10.00");
    // Revoking releases the counter, but the free phase stays.
    let (code, _) = app
        .post(
            "/v1/completions/e1/revoke",
            &p,
            json!({"reason": "withdrawn"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, course) = app.get("/v1/courses/C?payer=city-a", &p).await;
    assert_eq!(
        (course["granted_total"].as_str(), course["phase"].as_str()),
        (Some("7.00"), Some("free"))
    );
    let mut late = event("e9", "C", 9, 1, JUNE_2022);
    late["payer"] = json!("city-a");
    let (_, r) = app.post("/v1/completions", &p, late).await;
    assert_eq!(
        (r["granted"].as_str(), r["limited_by"].as_str()),
        (Some("0.00"), Some("course_saturated"))
    );
    // The province's counter of the same course is its own.
    let (_, course) = app.get("/v1/courses/C", &p).await;
    assert_eq!(
        (course["granted_total"].as_str(), course["phase"].as_str()),
        (Some("0.00"), Some("subsidised"))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn the_platform_ceiling_binds_last_in_rule_order() {
    let app = TestApp::at(DEC_2022).await;
    app.payer_with("city-a", 2022, json!({"platform_annual_ceiling": "35.00"}))
        .await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "D", "junior", 10).await;
    let mut first = event("e1", "C", 1, 10, JUNE_2022);
    first["payer"] = json!("city-a");
    app.post("/v1/completions", &p, first).await;
    let mut second = event("e2", "D", 2, 10, JUNE_2022);
    second["payer"] = json!("city-a");
    let (_, r) = app.post("/v1/completions", &p, second).await;
    assert_eq!(
        (r["granted"].as_str(), r["limited_by"].as_str()),
        (Some("5.00"), Some("platform_annual_ceiling"))
    );
    let usage = app.usage(&p, "year=2022&payer=city-a").await;
    assert_eq!(
        (usage["granted"].as_str(), usage["remaining"].as_str()),
        (Some("35.00"), Some("0.00"))
    );
    // The province's ceiling is untouched.
    assert_eq!(app.usage(&p, "year=2022").await["granted"], "0.00");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn replays_answer_the_stored_result_and_conflicts_are_refused() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let original = event("e1", "C", 1, 10, JUNE_2022);
    let (_, first) = app.post("/v1/completions", &p, original.clone()).await;
    let (code, again) = app.post("/v1/completions", &p, original.clone()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["granted"], first["granted"]);
    let mut changed = original.clone();
    changed["class_hours"] = json!(9);
    let (code, problem) = app.post("/v1/completions", &p, changed).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "event_id_conflict");
    assert_eq!(app.usage(&p, "year=2022").await["granted"], "30.00");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn batches_answer_per_event_in_order() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let batch = json!({"events": [
        event("b1", "C", 1, 10, JUNE_2022),
        event("b2", "C", 1, 10, JUNE_2022),
        event("b1", "C", 1, 10, JUNE_2022),
        event("b3", "C", 2, 10, JUNE_2022),
    ]});
    let (code, body) = app.post("/v1/completions", &p, batch).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    let summary: Vec<_> = results
        .iter()
        .map(|r| {
            (
                r["event_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["replayed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("b1", "accepted", false),
            ("b2", "duplicate_claim", false),
            ("b1", "accepted", true),
            ("b3", "accepted", false)
        ]
    );
    let too_many = json!({"events": (0..1001).map(|i| event(&format!("x{i}"), "C", i, 10, JUNE_2022)).collect::<Vec<_>>()});
    let (code, problem) = app.post("/v1/completions", &p, too_many).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "invalid_batch");
    let full = json!({"events": (0..1000).map(|i| event(&format!("y{i}"), "C", 100 + i, 10, JUNE_2022)).collect::<Vec<_>>()});
    let (code, body) = app.post("/v1/completions", &p, full).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["results"].as_array().unwrap().len(), 1000);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_bad_batch_lists_every_bad_field_and_stores_nothing() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let mut bad_id = event("b2", "C", 2, 10, JUNE_2022);
    bad_id["learner"]["id_number"] = json!("110105194912310021");
    let mut unknown_course = event("b3", "nope", 3, 10, JUNE_2022);
    unknown_course["class_hours"] = json!(0);
    let batch = json!({"events": [event("b1", "C", 1, 10, JUNE_2022), bad_id, unknown_course, event("b4", "C", 4, 11, JUNE_2022)]});
    let (code, problem) = app.post("/v1/completions", &p, batch).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "validation_failed");
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        vec!["events[1].learner.id_number", "events[2].class_hours"]
    );
    // Parsing passed on the second try; the stored state decides the rest.
    let mut fixed = event("b2", "C", 2, 10, JUNE_2022);
    fixed["course_code"] = json!("nope");
    let batch = json!({"events": [event("b1", "C", 1, 10, JUNE_2022), fixed, event("b4", "C", 4, 11, JUNE_2022)]});
    let (code, problem) = app.post("/v1/completions", &p, batch).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let errors: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                "events[1].course_code".to_owned(),
                "unknown_course".to_owned()
            ),
            (
                "events[2].class_hours".to_owned(),
                "class_hours_exceed_course".to_owned()
            ),
        ]
    );
    let usage = app.usage(&p, "year=2022").await;
    assert_eq!(
        (usage["granted"].as_str(), usage["learners"].as_i64()),
        (Some("0.00"), Some(0))
    );
    let (code, problem) = app
        .json(
            Method::POST,
            "/v1/completions",
            Some(&p),
            Some(json!("text")),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "body");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_learner_keeps_the_name_first_seen() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "D", "junior", 10).await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    let mut renamed = event("e2", "D", 1, 10, JUNE_2022);
    renamed["learner"]["name"] = json!("李四");
    let (code, problem) = app.post("/v1/completions", &p, renamed).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "learner_name_mismatch");
    assert_eq!(problem["errors"][0]["field"], "learner.name");
    // Lower-case x is the same learner.
    let mut lower = event("e3", "D", 1, 10, JUNE_2022);
    let upper = id_number(1);
    lower["learner"]["id_number"] = json!(upper.to_lowercase());
    let (code, r) = app.post("/v1/completions", &p, lower).await;
    assert_eq!(code, StatusCode::OK, "{r}");
    let learner = app.token("learner", &upper, None);
    let (_, subsidy) = app.get("/v1/me/subsidy?year=2022", &learner).await;
    assert_eq!(subsidy["used"], "60.00");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn revocation_releases_all_three_counters() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    let q = app.platform("Q").await;
    app.course(&p, "C", "junior", 10).await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    let (code, r) = app
        .post(
            "/v1/completions/e1/revoke",
            &p,
            json!({"reason": "certificate withdrawn"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert!(r["revoked_at"].is_string());
    let usage = app.usage(&p, "year=2022").await;
    assert_eq!(
        (usage["granted"].as_str(), usage["learners"].as_i64()),
        (Some("0.00"), Some(0))
    );
    let (_, course) = app.get("/v1/courses/C", &p).await;
    assert_eq!(course["granted_total"], "0.00");
    let learner = app.token("learner", &id_number(1), None);
    let (_, subsidy) = app.get("/v1/me/subsidy?year=2022", &learner).await;
    assert_eq!(subsidy["used"], "0.00");
    // Twice is a conflict; another platform's event is not found; a reason is required.
    let (code, problem) = app
        .post("/v1/completions/e1/revoke", &p, json!({"reason": "again"}))
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_revoked"))
    );
    let (code, _) = app
        .post(
            "/v1/completions/e1/revoke",
            &q,
            json!({"reason": "not mine"}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, problem) = app.post("/v1/completions/e1/revoke", &p, json!({})).await;
    assert_eq!(
        (code, problem["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    // The learner may claim the course again with a new certificate.
    let (_, r) = app
        .post("/v1/completions", &p, event("e2", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(
        (r["status"].as_str(), r["granted"].as_str()),
        (Some("accepted"), Some("30.00"))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn course_level_and_hours_freeze_once_completed() {
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let put =
        |body: serde_json::Value| app.json(Method::PUT, "/v1/courses/C", Some(&p), Some(body));
    let (code, _) = put(json!({"title": "Renamed", "level": "senior", "class_hours": 12})).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "free to reshape before any completion"
    );
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    let (code, problem) =
        put(json!({"title": "Renamed", "level": "junior", "class_hours": 12})).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("course_frozen"))
    );
    let (code, course) =
        put(json!({"title": "New title", "level": "senior", "class_hours": 12})).await;
    assert_eq!(
        (code, course["title"].as_str()),
        (StatusCode::OK, Some("New title"))
    );
    let (code, problem) = put(json!({"title": "", "level": "expert", "class_hours": "ten"})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3);

    // Any stored completion freezes its course, an uncertified one too, every course of a batch
    // at once; a refused request's do not.
    for course in ["D", "E", "F", "G"] {
        app.course(&p, course, "junior", 10).await;
    }
    let mut uncertified = event("d1", "D", 2, 10, JUNE_2022);
    uncertified["certificate_no"] = json!(null);
    let batch = json!({"events": [uncertified, event("e-first", "E", 3, 10, JUNE_2022)]});
    let (code, answer) = app.post("/v1/completions", &p, batch).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let refused = json!({"events": [
        event("f1", "F", 4, 10, JUNE_2022),
        event("g1", "G", 4, 10, JUNE_2022),
        event("f2", "NO-SUCH-COURSE", 5, 10, JUNE_2022),
    ]});
    let (code, _) = app.post("/v1/completions", &p, refused).await;
    assert!(code.is_client_error(), "{code}");
    // G's first completion, its row as the writer kept it (not frozen) since the refusal.
    let (code, _) = app
        .post("/v1/completions", &p, event("g2", "G", 6, 10, JUNE_2022))
        .await;
    assert_eq!(code, StatusCode::OK);
    let (app, p) = (&app, &p);
    let reshape = |course: &'static str, class_hours: u32| {
        let path = format!("/v1/courses/{course}");
        let body = json!({"title": course, "level": "senior", "class_hours": class_hours});
        async move { app.json(Method::PUT, &path, Some(p), Some(body)).await.0 }
    };
    assert_eq!(reshape("D", 20).await, StatusCode::CONFLICT);
    assert_eq!(reshape("E", 20).await, StatusCode::CONFLICT);
    assert_eq!(reshape("F", 20).await, StatusCode::OK);
    assert_eq!(reshape("G", 20).await, StatusCode::CONFLICT);
    app.assert_books_clean().await;

    // A course whose mark is taken away behind the gateway's back is named by reconciliation.
    let course_e: String = app
        .db
        .open_store()
        .unwrap()
        .write(|conn| {
            use diesel::prelude::*;
            use subsidy_gateway::store::schema::courses;
            let e = courses::table.filter(courses::code.eq("E"));
            diesel::update(e)
                .set(courses::frozen.eq(false))
                .execute(conn)?;
            Ok::<_, subsidy_gateway::store::StoreError>(e.select(courses::id).first(conn)?)
        })
        .unwrap();
    let (_, report) = app.get("/v1/reconciliation", app.admin()).await;
    let breaches: Vec<[&str; 3]> = report["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| ["invariant", "subject", "detail"].map(|k| b[k].as_str().unwrap()))
        .collect();
    let subject = format!("course {course_e}");
    assert_eq!(
        breaches,
        [[
            "course_unfrozen",
            &subject,
            "has completions, but is not frozen"
        ]],
        "{report:#}"
    );
}

/// A full writer queue refuses with 503 `ingest_queue_full` and `Retry-After`, storing nothing
/// of the refused request: resent, every one of its events is metered for the first time.
#[tokio::test]
async fn a_full_queue_answers_503_and_stores_nothing() {
    let app = TestApp::with(DEC_2022, |s| s.ingest_queue_events = 1000).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let batches: Vec<_> = (0..16u32)
        .map(|b| {
            json!({"events": (0..1000u32)
                .map(|i| event(&format!("q{b}-{i}"), "C", 10_000 + b * 1000 + i, 10, JUNE_2022))
                .collect::<Vec<_>>()})
        })
        .collect();
    let answers = futures_util::future::join_all(batches.iter().map(|batch| {
        app.client
            .post(format!("{}/v1/completions", app.address))
            .bearer_auth(&p)
            .json(batch)
            .send()
    }))
    .await;
    let mut refused = vec![];
    for (batch, answer) in batches.iter().zip(answers) {
        let answer = answer.expect("answered");
        match answer.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.headers()["retry-after"], "1");
                let problem: serde_json::Value = answer.json().await.unwrap();
                assert_eq!(problem["code"], "ingest_queue_full");
                refused.push(batch);
            }
            other => panic!("unexpected {other}: {}", answer.text().await.unwrap()),
        }
    }
    assert!(
        !refused.is_empty(),
        "16 batches at once fill a queue of 1,000 events"
    );
    for batch in refused {
        let (code, body) = app.post("/v1/completions", &p, batch.clone()).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let results = body["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["replayed"] == false));
    }
    app.assert_books_clean().await;
}

/// Reconciliation, on the real queries of either backend, finds every kind of breach a
/// tampered database can hold.
#[tokio::test]
async fn reconciliation_finds_tampered_books() {
    use diesel::RunQueryDsl;
    let app = TestApp::at(DEC_2022).await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "D", "junior", 10).await;
    for (id, course, learner) in [("e1", "C", 1), ("e2", "C", 1), ("e3", "D", 2)] {
        let (code, body) = app
            .post(
                "/v1/completions",
                &p,
                event(id, course, learner, 10, JUNE_2022),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    let clean = app.assert_books_clean().await;
    assert_eq!(clean["checked"]["completions"], 3);
    assert_eq!(clean["checked"]["claims"], 2);
    assert_eq!(clean["checked"]["counters"], 5);

    let store = app.db.open_store().unwrap();
    let completion =
        |event: &str| format!("(SELECT id FROM completions WHERE event_id = '{event}')");
    let course = |code: &str| format!("(SELECT id FROM courses WHERE code = '{code}')");
    let tampering = [
        // e2 was a second claim of the same course: now a second payment, which only a database
        // that lost its claim index can hold.
        "DROP INDEX completions_by_claim".to_owned(),
        "UPDATE completions SET status = 'accepted' WHERE event_id = 'e2'".to_owned(),
        format!(
            "UPDATE completions SET granted_fen = gross_fen + 1 WHERE id = {}",
            completion("e1")
        ),
        format!("DELETE FROM course_usage WHERE course_id = {}", course("D")),
        "UPDATE platform_year_usage SET granted_fen = 300000001".to_owned(),
    ];
    store
        .write(|conn| {
            for sql in &tampering {
                diesel::sql_query(sql).execute(conn)?;
            }
            Ok::<_, subsidy_gateway::store::StoreError>(())
        })
        .unwrap();
    // A completion naming a course that does not exist (SQLite's foreign keys would refuse it,
    // so they are off on this connection for the purpose).
    let dangling = "UPDATE completions SET course_id = 'no-such-course' WHERE event_id = 'e3'";
    store
        .read(|conn| {
            use diesel::connection::SimpleConnection;
            if !app.db.is_postgres() {
                conn.batch_execute("PRAGMA foreign_keys = OFF")?;
            }
            diesel::sql_query(dangling).execute(conn)?;
            Ok::<_, subsidy_gateway::store::StoreError>(())
        })
        .unwrap();
    let (code, report) = app.get("/v1/reconciliation", app.admin()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(report["status"], "breached");
    let mut found: Vec<&str> = report["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["invariant"].as_str().unwrap())
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(
        found,
        [
            "claim_index_missing",
            "counter_mismatch",
            "counter_missing",
            "grant_out_of_range",
            "over_limit",
            "paid_twice",
            "reference_missing"
        ],
        "{report:#}"
    );
}
