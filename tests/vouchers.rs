//! Electronic vouchers at cash-out (issue #10, part 1), on both backends: issued, required,
//! redeemed only by a granted completion, released by revocation, cancelled, seen by learners,
//! checked by platforms, reconciled; and imported from CSV by the CLI.

mod common;

use common::process::BINARY;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;

const NOW: &str = "2022-07-02T10:00:00+08:00";
const JUNE_1: &str = "2022-06-01T10:00:00+08:00";
const JUNE_15: &str = "2022-06-15T10:00:00+08:00";

fn voucher(code: &str, learner: u32, from: &str, until: &str) -> Value {
    json!({"code": code, "payer": "province", "id_number": id_number(learner),
        "valid_from": from, "valid_until": until})
}

fn with_voucher(mut event: Value, code: &str) -> Value {
    event["voucher_code"] = json!(code);
    event
}

async fn refusal(app: &TestApp, platform: &str, event: Value) -> (StatusCode, String) {
    let (code, problem) = app.post("/v1/completions", platform, event).await;
    (
        code,
        problem["code"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The status of each of the learner's vouchers, by code.
async fn statuses(app: &TestApp, learner: u32) -> Vec<(String, String)> {
    let token = app.token("learner", &id_number(learner), None);
    let (code, vouchers) = app.get("/v1/me/vouchers", &token).await;
    assert_eq!(code, StatusCode::OK, "{vouchers}");
    vouchers
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(!v.to_string().contains(&id_number(learner)), "masked");
            (
                v["code"].as_str().unwrap().to_owned(),
                v["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_payer_that_requires_vouchers_pays_only_against_one() {
    let app = TestApp::at(NOW).await;
    let admin = app.admin().to_owned();
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "C2", "junior", 10).await;
    let (code, payer) = app
        .patch(
            "/v1/payers/province",
            &admin,
            json!({"voucher_required": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{payer}");
    assert_eq!(payer["voucher_required"], true);

    // Issued: a batch, all or none.
    let batch = json!({"vouchers": [
        voucher("V1", 1, "2022-05-01T00:00:00+08:00", "2022-06-30T23:59:59+08:00"),
        voucher("V2", 2, "2022-06-10T00:00:00+08:00", "2022-06-30T23:59:59+08:00"),
        {"code": "V3", "payer": "province", "id_number": id_number(3), "level": "senior",
         "valid_from": "2022-01-01T00:00:00+08:00", "valid_until": "2022-12-31T00:00:00+08:00"},
    ]});
    let (code, issued) = app.post("/v1/vouchers", &admin, batch).await;
    assert_eq!(code, StatusCode::CREATED, "{issued}");
    assert_eq!(issued.as_array().unwrap().len(), 3);
    let (code, _) = app
        .post(
            "/v1/vouchers",
            &admin,
            voucher(
                "V4",
                1,
                "2022-01-01T00:00:00+08:00",
                "2022-12-31T23:59:59+08:00",
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, problem) = app
        .post(
            "/v1/vouchers",
            &admin,
            voucher(
                "V1",
                1,
                "2022-05-01T00:00:00+08:00",
                "2022-06-30T23:59:59+08:00",
            ),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("voucher_exists"))
    );
    let bad = json!({"vouchers": [
        voucher("V9", 1, "2022-05-01T00:00:00+08:00", "2022-04-01T00:00:00+08:00"),
        {"code": "V10", "payer": "province", "id_number": "123",
         "valid_from": "2022-01-01T00:00:00+08:00", "valid_until": "2022-12-31T00:00:00+08:00"},
    ]});
    let (code, problem) = app.post("/v1/vouchers", &admin, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["vouchers[0].valid_until", "vouchers[1].id_number"]);
    assert_eq!(
        statuses(&app, 1).await,
        pairs(&[("V1", "issued"), ("V4", "issued")]),
        "nothing of the refused batch"
    );

    // Refused, nothing stored: no voucher, unknown, another learner's, not yet valid, for
    // another level.
    for (event, expected) in [
        (event("e1", "C", 1, 10, JUNE_1), "voucher_required"),
        (
            with_voucher(event("e1", "C", 1, 10, JUNE_1), "NOPE"),
            "voucher_invalid",
        ),
        (
            with_voucher(event("e1", "C", 1, 10, JUNE_15), "V2"),
            "voucher_invalid",
        ),
        (
            with_voucher(event("e1", "C", 2, 10, JUNE_1), "V2"),
            "voucher_expired",
        ),
        (
            with_voucher(event("e1", "C", 3, 10, JUNE_1), "V3"),
            "voucher_invalid",
        ),
    ] {
        let (code, refused) = refusal(&app, &p, event).await;
        assert_eq!(
            (code, refused.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected)
        );
    }

    // Granted: redeemed in the same transaction; a second completion cannot use it.
    let (code, result) = app
        .post(
            "/v1/completions",
            &p,
            with_voucher(event("e1", "C", 1, 10, JUNE_1), "V1"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{result}");
    assert_eq!(
        (result["status"].as_str(), result["granted"].as_str()),
        (Some("accepted"), Some("30.00"))
    );
    let (code, refused) = refusal(
        &app,
        &p,
        with_voucher(event("e2", "C2", 1, 10, JUNE_1), "V1"),
    )
    .await;
    assert_eq!(
        (code, refused.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "voucher_redeemed")
    );
    // The same event again is a replay, not a second redemption.
    let (code, replay) = app
        .post(
            "/v1/completions",
            &p,
            with_voucher(event("e1", "C", 1, 10, JUNE_1), "V1"),
        )
        .await;
    assert_eq!(
        (code, replay["replayed"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    // A duplicate claim and an uncertified event consume nothing.
    let (code, duplicate) = app
        .post(
            "/v1/completions",
            &p,
            with_voucher(event("e3", "C", 1, 10, JUNE_15), "V4"),
        )
        .await;
    assert_eq!(
        (code, duplicate["status"].as_str()),
        (StatusCode::OK, Some("duplicate_claim"))
    );
    let mut uncertified = with_voucher(event("e4", "C", 2, 10, JUNE_15), "V2");
    uncertified["certificate_no"] = Value::Null;
    let (code, result) = app.post("/v1/completions", &p, uncertified).await;
    assert_eq!(
        (code, result["status"].as_str()),
        (StatusCode::OK, Some("uncertified"))
    );
    // A batch with one bad voucher stores nothing, and redeems nothing.
    let batch = json!({"events": [
        with_voucher(event("e5", "C", 2, 10, JUNE_15), "V2"),
        with_voucher(event("e6", "C2", 2, 10, JUNE_15), "V2"),
    ]});
    let (code, problem) = app.post("/v1/completions", &p, batch).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "events[1].voucher_code");
    assert_eq!(problem["errors"][0]["code"], "voucher_redeemed");
    assert_eq!(
        statuses(&app, 1).await,
        pairs(&[("V1", "redeemed"), ("V4", "issued")])
    );
    assert_eq!(statuses(&app, 2).await, pairs(&[("V2", "issued")]));

    // Platforms check a voucher before the course: only valid or not, for that learner, now.
    let check =
        |code: &str, learner: u32| format!("/v1/vouchers/{code}?id_number={}", id_number(learner));
    for (path, valid) in [
        (check("V4", 1), true),
        (check("V1", 1), false),
        (check("V4", 2), false),
        (check("NOPE", 1), false),
        (check("V2", 2), false),
    ] {
        let (code, answer) = app.get(&path, &p).await;
        assert_eq!(code, StatusCode::OK, "{path}");
        assert_eq!(answer, json!({"valid": valid}), "{path}");
    }

    // Revoked: the voucher is usable again, by another completion of that learner.
    let (code, _) = app
        .post(
            "/v1/completions/e1/revoke",
            &p,
            json!({"reason": "withdrawn"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        statuses(&app, 1).await,
        pairs(&[("V1", "issued"), ("V4", "issued")])
    );
    let (code, result) = app
        .post(
            "/v1/completions",
            &p,
            with_voucher(event("e7", "C2", 1, 10, JUNE_1), "V1"),
        )
        .await;
    assert_eq!(
        (code, result["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );

    // Cancelled while unused; a used one or a cancelled one is not.
    let (code, cancelled) = app.post("/v1/vouchers/V4/cancel", &admin, json!({})).await;
    assert_eq!(
        (code, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    for used in ["V4", "V1"] {
        let (code, problem) = app
            .post(&format!("/v1/vouchers/{used}/cancel"), &admin, json!({}))
            .await;
        assert_eq!(
            (code, problem["code"].as_str()),
            (StatusCode::CONFLICT, Some("voucher_not_cancellable"))
        );
    }
    let (code, _) = app
        .json(
            Method::POST,
            "/v1/vouchers/NOPE/cancel",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let report = app.assert_books_clean().await;
    assert_eq!(report["checked"]["vouchers"], 1, "V1, held by e7");
}

#[tokio::test]
async fn reconciliation_holds_every_voucher_to_one_live_completion() {
    let app = TestApp::at(NOW).await;
    let admin = app.admin().to_owned();
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    // Recorded before the payer required vouchers: needs none.
    let (code, _) = app
        .post("/v1/completions", &p, event("e0", "C", 9, 10, JUNE_1))
        .await;
    assert_eq!(code, StatusCode::OK);
    app.clock.set(at("2022-07-02T11:00:00+08:00"));
    app.patch(
        "/v1/payers/province",
        &admin,
        json!({"voucher_required": true}),
    )
    .await;
    app.post(
        "/v1/vouchers",
        &admin,
        voucher(
            "V1",
            1,
            "2022-01-01T00:00:00+08:00",
            "2022-12-31T00:00:00+08:00",
        ),
    )
    .await;
    let (code, _) = app
        .post(
            "/v1/completions",
            &p,
            with_voucher(event("e1", "C", 1, 10, JUNE_1), "V1"),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    app.assert_books_clean().await;

    // Someone cancels the held voucher behind the gateway's back: the completion holds a
    // voucher it may not. Then the completion loses its voucher: it was paid without one.
    let store = subsidy_gateway::store::Store::open(
        &app.db.url.parse().unwrap(),
        1,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    // A second live holder of V1 cannot even be stored (e0 is live and holds none).
    let second_holder = store.write(|conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query("UPDATE completions SET voucher_code = 'V1' WHERE voucher_code IS NULL")
            .execute(conn)?;
        Ok::<_, subsidy_gateway::store::StoreError>(())
    });
    assert!(second_holder.is_err(), "one live holder per voucher");
    // Last, the voucher is stored as redeemed with no completion holding it (as an earlier
    // version could leave it): an orphan, never usable again.
    for (tampering, expected) in [
        (
            "UPDATE vouchers SET status = 'cancelled'",
            &["voucher_mismatch"][..],
        ),
        (
            "UPDATE completions SET voucher_code = NULL",
            &["voucher_missing"],
        ),
        (
            "UPDATE vouchers SET status = 'redeemed'",
            &["voucher_orphaned", "voucher_missing"],
        ),
    ] {
        store
            .write(|conn| {
                use diesel::RunQueryDsl;
                diesel::sql_query(tampering).execute(conn)?;
                Ok::<_, subsidy_gateway::store::StoreError>(())
            })
            .unwrap();
        let (code, report) = app.get("/v1/reconciliation", &admin).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(report["status"], "breached");
        let codes: Vec<&str> = report["breaches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["invariant"].as_str().unwrap())
            .collect();
        assert_eq!(codes, expected, "{report:#}");
    }
    let (_, check) = app
        .get(&format!("/v1/vouchers/V1?id_number={}", id_number(1)), &p)
        .await;
    assert_eq!(check["valid"], false, "an orphan is not usable");
}

#[test]
fn the_cli_imports_vouchers_from_csv_a_thousand_at_a_time() {
    let db = TestDatabase::fresh();
    let dir = tempfile::tempdir().unwrap();
    let gateway = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("GATEWAY_KEYS_FILE", &db.keys_file)
            .output()
            .unwrap()
    };
    assert!(gateway(&["migrate"]).status.success());
    let header = "code,payer,id_number,valid_from,valid_until,level,course_code\n";
    let row = |n: u32| {
        format!(
            "CSV-{n:05},province,{},2022-01-01T00:00:00+08:00,2022-12-31T23:59:59+08:00,,\n",
            id_number(n)
        )
    };
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        header.to_owned() + &(1..=2500).map(row).collect::<String>(),
    )
    .unwrap();
    let imported = gateway(&["vouchers", "import", good.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&imported.stderr);
    assert!(imported.status.success(), "{said}");
    assert!(said.contains("2500 vouchers issued"), "{said}");

    // A bad row stops the import at its thousand and names its line; the thousands before
    // stay issued.
    let bad = dir.path().join("bad.csv");
    let mut text = header.to_owned() + &(3001..=4500).map(row).collect::<String>();
    text = text.replace(
        &format!("CSV-04200,province,{}", id_number(4200)),
        "CSV-04200,province,not-an-id",
    );
    std::fs::write(&bad, text).unwrap();
    let refused = gateway(&["vouchers", "import", bad.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(said.contains("line 1201: id_number"), "{said}");
    assert!(
        said.contains("1000 vouchers before them were issued"),
        "{said}"
    );
}

#[tokio::test]
async fn the_voucher_system_issues_as_the_contract_writes_and_lists_by_payer_and_status() {
    let app = TestApp::at(NOW).await;
    let system = app.token("voucher_system", "taiyuan-vouchers", None);
    // The learner as API.md writes it: an object with the ID number and the name.
    let issued: Vec<Value> = (1..=5)
        .map(|n| {
            json!({"code": format!("V-{n}"), "payer": "province",
                "learner": {"id_number": id_number(n), "name": format!("学员{n}")},
                "valid_from": JUNE_1, "valid_until": "2022-11-30T23:59:59+08:00"})
        })
        .collect();
    let (code, answer) = app
        .post("/v1/vouchers", &system, json!({"vouchers": issued}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{answer}");
    assert_eq!(answer.as_array().unwrap().len(), 5);
    let (code, _) = app
        .post("/v1/vouchers/V-5/cancel", app.admin(), json!({}))
        .await;
    assert_eq!(code, StatusCode::OK);
    // A bad learner is named by its path.
    let (code, problem) = app
        .post(
            "/v1/vouchers",
            &system,
            json!({"code": "V-9", "payer": "province", "learner": {"id_number": "123"},
                "valid_from": JUNE_1, "valid_until": JUNE_15}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["errors"][0]["field"], "learner.id_number",
        "{problem}"
    );

    let (code, page) = app
        .get("/v1/vouchers?payer=province&status=issued&limit=3", &system)
        .await;
    assert_eq!(code, StatusCode::OK, "{page}");
    let codes = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(codes(&page), ["V-1", "V-2", "V-3"]);
    let after = page["next_after"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/v1/vouchers?payer=province&status=issued&limit=3&after={after}"),
            &system,
        )
        .await;
    assert_eq!(codes(&rest), ["V-4"]);
    assert!(rest["next_after"].is_null());
    let (_, cancelled) = app.get("/v1/vouchers?status=cancelled", app.admin()).await;
    assert_eq!(codes(&cancelled), ["V-5"]);
    let (_, none) = app.get("/v1/vouchers?payer=elsewhere", &system).await;
    assert_eq!(codes(&none), Vec::<String>::new());
    let (code, _) = app.get("/v1/vouchers?status=lost", &system).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    // The issuer is on record.
    let (_, audit) = app.get("/v1/audit-events?object_id=V-1", app.admin()).await;
    assert!(
        audit
            .to_string()
            .contains("voucher_system:taiyuan-vouchers"),
        "{audit}"
    );
}
