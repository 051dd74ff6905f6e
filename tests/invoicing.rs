//! Invoices through the API: the true-up of the worked example, the lifecycle with separation
//! of duties, exports, and forwarding to a stand-in bureau on loopback.

mod common;

use std::sync::{Arc, Mutex};

use common::bureau::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use subsidy_gateway::config::BureauSettings;

const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";

async fn run(app: &TestApp, token: &str, period: &str) -> Vec<Value> {
    let (code, body) = app
        .post(
            "/v1/invoice-runs",
            token,
            json!({"period": period, "payer": "province"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    body.as_array().unwrap().clone()
}

async fn act(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post(&format!("/v1/invoices/{id}/{action}"), token, body)
        .await
}

/// The worked example's platform P: 30.00 junior and 20.00 intermediate for learner A.
async fn worked_example(app: &TestApp) -> String {
    let p = app.platform("P").await;
    let q = app.platform("Q").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "I", "intermediate", 10).await;
    app.course(&q, "S", "senior", 50).await;
    app.post("/v1/completions", &p, event("a1", "C", 1, 10, JUNE_2022))
        .await;
    app.post("/v1/completions", &q, event("a2", "S", 1, 50, JUNE_2022))
        .await;
    app.post("/v1/completions", &p, event("a3", "I", 1, 10, JUNE_2022))
        .await;
    app.post("/v1/completions", &p, event("a4", "C", 1, 10, JUNE_2022))
        .await;
    p
}

/// The text cells of a workbook.
fn xlsx_strings(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an xlsx is a zip");
    let mut text = String::new();
    archive
        .by_name("xl/sharedStrings.xml")
        .expect("shared strings")
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn sum_lines(invoice: &Value) -> i64 {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| fen(&l["amount"]))
        .sum()
}

#[tokio::test]
async fn worked_example_withholds_then_releases_25_00() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = worked_example(&app).await;
    let finance = app.token("finance", "fin1", None);
    let approver = app.token("finance", "fin2", None);

    let drafts = run(&app, &finance, "2022-06").await;
    let june = drafts.iter().find(|i| i["platform"] == "P").unwrap();
    assert_eq!(
        (june["granted_ytd"].as_str(), june["payable_ytd"].as_str()),
        (Some("50.00"), Some("25.00"))
    );
    assert_eq!(
        (
            june["amount"].as_str(),
            june["previously_invoiced"].as_str()
        ),
        (Some("25.00"), Some("0.00"))
    );
    assert_eq!(june["offline_ratio"], "0.00");
    assert_eq!(sum_lines(june), 2500);
    let kinds: Vec<_> = june["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["level", "level", "offline_reduction"]);
    assert_eq!(
        june["lines"][0],
        json!({"kind": "level", "level": "junior", "class_hours": 10, "amount": "30.00"})
    );
    assert_eq!(
        june["completions"].as_array().unwrap().len(),
        2,
        "the duplicate claim earns nothing and is not listed"
    );
    let id = june["id"].as_str().unwrap().to_owned();
    assert_eq!(june["completions_total"], 2);
    // The same completions a page at a time, as an invoice of a million completions lists them.
    let mut paged = vec![];
    let mut after = String::new();
    loop {
        let (code, page) = app
            .get(
                &format!("/v1/invoices/{id}/completions?limit=1{after}"),
                &finance,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(page["completions_total"], 2);
        paged.extend(page["completions"].as_array().unwrap().clone());
        match page["completions_next_after"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(json!(paged), june["completions"]);

    let (code, issued) = act(&app, &finance, &id, "issue", json!({})).await;
    assert_eq!(code, StatusCode::OK, "{issued}");
    assert_eq!(issued["number"], "PROVINCE-2022-000001");
    let (code, problem) = act(&app, &finance, &id, "approve", json!({})).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("separation_of_duties"))
    );
    let (code, approved) = act(&app, &approver, &id, "approve", json!({})).await;
    assert_eq!(
        (code, approved["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );
    assert_eq!(approved["approved_by"], "finance:fin2");
    let (code, paid) = act(
        &app,
        &finance,
        &id,
        "mark-paid",
        json!({"reference": "TX-1"}),
    )
    .await;
    assert_eq!(
        (code, paid["status"].as_str()),
        (StatusCode::OK, Some("paid"))
    );

    // Next month A's follow-up is recorded: ratio 1/1, payable 50.00, invoice 25.00.
    app.clock.set(at("2022-08-02T10:00:00+08:00"));
    app.post(
        "/v1/offline-followups",
        &p,
        json!({"learner": {"id_number": id_number(1), "name": "学员1"}, "attended_on": "2022-07-10", "program": "workshop"}),
    )
    .await;
    let drafts = run(&app, &finance, "2022-07").await;
    let july = drafts.iter().find(|i| i["platform"] == "P").unwrap();
    assert_eq!(
        (
            july["payable_ytd"].as_str(),
            july["previously_invoiced"].as_str()
        ),
        (Some("50.00"), Some("25.00"))
    );
    assert_eq!(july["amount"], "25.00");
    assert_eq!(july["offline_ratio"], "1.00");
    assert_eq!(sum_lines(july), 2500);
    assert_eq!(july["completions"], json!([]), "nothing new since June");
    let id = july["id"].as_str().unwrap().to_owned();
    let (_, issued) = act(&app, &finance, &id, "issue", json!({})).await;
    assert_eq!(issued["number"], "PROVINCE-2022-000002");

    // A run for June now is refused: July was issued.
    let (code, problem) = app
        .post("/v1/invoice-runs", &finance, json!({"period": "2022-06"}))
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("period_already_invoiced"))
    );

    // The platform sees its own invoices only; the CSV carries a BOM.
    let (_, page) = app.get("/v1/invoices", &p).await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["platform"] == "P"));
    let q = app.token("platform", "q", Some("Q"));
    let (code, _) = app.get(&format!("/v1/invoices/{id}"), &q).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let csv = app
        .call(
            Method::GET,
            &format!("/v1/invoices/{id}/export.csv"),
            Some(&p),
            None,
        )
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    assert!(String::from_utf8_lossy(&bytes).contains("amount,25.00"));
    let xlsx = app
        .call(
            Method::GET,
            &format!("/v1/invoices/{id}/export.xlsx"),
            Some(&finance),
            None,
        )
        .await;
    assert_eq!(xlsx.status(), StatusCode::OK);
    let strings = xlsx_strings(&xlsx.bytes().await.unwrap());
    assert!(
        strings.contains("PROVINCE-2022-000002") && strings.contains("25.00"),
        "{strings}"
    );
    let run_book = app
        .call(
            Method::GET,
            "/v1/invoice-runs/export.xlsx?period=2022-07",
            Some(&finance),
            None,
        )
        .await;
    assert_eq!(run_book.status(), StatusCode::OK);
    let strings = xlsx_strings(&run_book.bytes().await.unwrap());
    assert!(
        strings.contains("PROVINCE-2022-000002") && strings.contains("platform"),
        "{strings}"
    );

    // Every transition is on the audit trail.
    let (_, audit) = app
        .get(&format!("/v1/audit-events?object_id={id}"), &finance)
        .await;
    let actions: Vec<_> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["invoice.drafted", "invoice.issued"]);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn rejection_reinvoices_and_a_falling_ratio_gives_a_credit_note() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    app.post(
        "/v1/offline-followups",
        &p,
        json!({"learner": {"id_number": id_number(1), "name": "学员1"}, "attended_on": "2022-06-10", "program": "workshop"}),
    )
    .await;
    let (fin1, fin2) = (
        app.token("finance", "fin1", None),
        app.token("finance", "fin2", None),
    );
    let june = run(&app, &fin1, "2022-06").await.remove(0);
    assert_eq!(june["amount"], "30.00");
    let id = june["id"].as_str().unwrap().to_owned();
    act(&app, &fin1, &id, "issue", json!({})).await;
    let (code, problem) = act(&app, &fin2, &id, "reject", json!({})).await;
    assert_eq!(
        code,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {problem}"
    );
    let (code, rejected) = act(
        &app,
        &fin2,
        &id,
        "reject",
        json!({"reason": "hours disputed"}),
    )
    .await;
    assert_eq!(
        (code, rejected["status"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    let (code, _) = act(&app, &fin2, &id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT);

    // Re-running includes the rejected amount again; the re-run replaces its own drafts.
    let again = run(&app, &fin1, "2022-06").await.remove(0);
    assert_eq!(
        (
            again["amount"].as_str(),
            again["completions"].as_array().map(Vec::len)
        ),
        (Some("30.00"), Some(1))
    );
    let replaced = run(&app, &fin1, "2022-06").await.remove(0);
    let (code, _) = app
        .get(
            &format!("/v1/invoices/{}", again["id"].as_str().unwrap()),
            &fin1,
        )
        .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "the earlier draft was replaced"
    );
    let id = replaced["id"].as_str().unwrap().to_owned();
    act(&app, &fin1, &id, "issue", json!({})).await;
    let (_, approved) = act(&app, &fin2, &id, "approve", json!({})).await;
    assert_eq!(approved["status"], "approved");

    // A second learner without follow-up: ratio 1/2 is still not below 0.50; a third drops it.
    app.clock.set(at("2022-08-02T10:00:00+08:00"));
    app.course(&p, "D", "junior", 1).await;
    app.post(
        "/v1/completions",
        &p,
        event("e2", "D", 2, 1, "2022-07-01T10:00:00+08:00"),
    )
    .await;
    app.post(
        "/v1/completions",
        &p,
        event("e3", "D", 3, 1, "2022-07-01T10:00:00+08:00"),
    )
    .await;
    let july = run(&app, &fin1, "2022-07").await.remove(0);
    // granted 36.00, ratio 1/3 → payable 18.00, previously 30.00 → credit note −12.00.
    assert_eq!(
        (july["granted_ytd"].as_str(), july["payable_ytd"].as_str()),
        (Some("36.00"), Some("18.00"))
    );
    assert_eq!(july["amount"], "-12.00");
    assert_eq!(sum_lines(&july), -1200);
    assert_eq!(july["offline_ratio"], "0.3333");

    // A revocation appears as a negative line.
    app.post(
        "/v1/completions/e3/revoke",
        &p,
        json!({"reason": "withdrawn"}),
    )
    .await;
    let july = run(&app, &fin1, "2022-07").await.remove(0);
    let revocations = july["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "revocations")
        .unwrap();
    assert_eq!(revocations["amount"], "-3.00");
    assert_eq!(sum_lines(&july), fen(&july["amount"]));
    app.assert_books_clean().await;
}

/// Every completion an invoice lists, a page of one at a time (the cursor crosses both halves
/// of a later invoice's window).
async fn listed(app: &TestApp, token: &str, invoice: &Value) -> Vec<String> {
    let id = invoice["id"].as_str().unwrap();
    let (mut events, mut after) = (Vec::<String>::new(), String::new());
    loop {
        let (code, page) = app
            .get(
                &format!("/v1/invoices/{id}/completions?limit=1{after}"),
                token,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(page["completions_total"], invoice["completions_total"]);
        events.extend(
            page["completions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["event_id"].as_str().unwrap().to_owned()),
        );
        match page["completions_next_after"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(invoice["completions_total"], json!(events.len()));
    events
}

/// An invoice holds the books as its snapshot saw them: what arrives or is revoked after the
/// run changes neither its amount nor its list, and the next invoice lists exactly what the
/// counted one before did not: late arrivals of earlier months, and its own month's completions
/// whether recorded before the run before it or after.
#[tokio::test]
async fn an_invoice_lists_the_books_as_of_its_run() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 1).await;
    for (event_id, learner) in [("e1", 1), ("e2", 2)] {
        app.post(
            "/v1/completions",
            &p,
            event(event_id, "C", learner, 1, JUNE_2022),
        )
        .await;
    }
    // Certified in July, recorded before June's run: July's, not June's.
    app.post(
        "/v1/completions",
        &p,
        event("e0", "C", 5, 1, "2022-07-01T10:00:00+08:00"),
    )
    .await;
    let (fin1, fin2) = (
        app.token("finance", "fin1", None),
        app.token("finance", "fin2", None),
    );
    // No learner went on to offline follow-up: half of the 6.00 granted is payable.
    let june = run(&app, &fin1, "2022-06").await.remove(0);
    assert_eq!(june["amount"], "3.00");

    // After the run: a late June completion, and a revocation of one the draft holds.
    app.post("/v1/completions", &p, event("e3", "C", 3, 1, JUNE_2022))
        .await;
    let (code, _) = app
        .post(
            "/v1/completions/e1/revoke",
            &p,
            json!({"reason": "withdrawn"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let id = june["id"].as_str().unwrap().to_owned();
    let (_, june) = app.get(&format!("/v1/invoices/{id}"), &fin1).await;
    assert_eq!(june["amount"], "3.00");
    assert_eq!(listed(&app, &fin1, &june).await, ["e1", "e2"]);
    act(&app, &fin1, &id, "issue", json!({})).await;
    let (_, approved) = act(&app, &fin2, &id, "approve", json!({})).await;
    assert_eq!(approved["status"], "approved");

    app.clock.set(at("2022-08-02T10:00:00+08:00"));
    app.post(
        "/v1/completions",
        &p,
        event("e4", "C", 4, 1, "2022-07-01T10:00:00+08:00"),
    )
    .await;
    let july = run(&app, &fin1, "2022-07").await.remove(0);
    // Live year to date 12.00 (e0, e2, e3, e4; e1's 3.00 revoked), half payable, 3.00 invoiced.
    assert_eq!(july["amount"], "3.00", "{july}");
    assert_eq!(listed(&app, &fin1, &july).await, ["e0", "e3", "e4"]);
    assert_eq!(july["completions_total"], 3);
    app.assert_books_clean().await;
}

/// A draft made before an earlier period was issued would bill that period's money again: it
/// is refused until the period is run again, and the new draft deducts it.
#[tokio::test]
async fn a_draft_overtaken_by_an_earlier_issue_is_run_again() {
    let app = TestApp::at("2022-08-02T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 1).await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 1, JUNE_2022))
        .await;
    app.post(
        "/v1/completions",
        &p,
        event("e2", "C", 2, 1, "2022-07-01T10:00:00+08:00"),
    )
    .await;
    let fin1 = app.token("finance", "fin1", None);
    let june = run(&app, &fin1, "2022-06").await.remove(0);
    let july = run(&app, &fin1, "2022-07").await.remove(0);
    assert_eq!(
        (june["amount"].as_str(), july["amount"].as_str()),
        (Some("1.50"), Some("3.00")),
        "July drafted while June was a draft: nothing deducted yet"
    );
    let (code, issued) = act(
        &app,
        &fin1,
        june["id"].as_str().unwrap(),
        "issue",
        json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{issued}");
    let (code, problem) = act(
        &app,
        &fin1,
        july["id"].as_str().unwrap(),
        "issue",
        json!({}),
    )
    .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("draft_stale")),
        "{problem}"
    );
    let july = run(&app, &fin1, "2022-07").await.remove(0);
    assert_eq!(
        (
            july["amount"].as_str(),
            july["previously_invoiced"].as_str()
        ),
        (Some("1.50"), Some("1.50"))
    );
    assert_eq!(listed(&app, &fin1, &july).await, ["e2"]);
    let (code, issued) = act(
        &app,
        &fin1,
        july["id"].as_str().unwrap(),
        "issue",
        json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{issued}");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn december_invoices_the_next_year_and_runs_close_with_the_claim_window() {
    let app = TestApp::at("2023-01-02T10:00:00+08:00").await;
    let finance = app.token("finance", "fin1", None);
    let (code, problem) = app
        .post("/v1/invoice-runs", &finance, json!({"period": "2022-11"}))
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("claim_window_closed")
        )
    );
    app.clock.set(at("2022-12-20T10:00:00+08:00"));
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.post(
        "/v1/completions",
        &p,
        event("e1", "C", 1, 10, "2022-12-05T10:00:00+08:00"),
    )
    .await;
    app.post(
        "/v1/completions",
        &p,
        event("e2", "C", 2, 10, "2022-11-05T10:00:00+08:00"),
    )
    .await;
    let december = run(&app, &finance, "2022-12").await.remove(0);
    assert_eq!(
        (
            december["training_year"].as_i64(),
            december["granted_ytd"].as_str()
        ),
        (Some(2023), Some("30.00"))
    );
    let november = run(&app, &finance, "2022-11").await.remove(0);
    assert_eq!(
        (
            november["training_year"].as_i64(),
            november["granted_ytd"].as_str()
        ),
        (Some(2022), Some("30.00"))
    );
    let (code, problem) = app
        .post("/v1/invoice-runs", &finance, json!({"period": "2022-13"}))
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_period"))
    );
    let platform = app.token("platform", "x", Some("P"));
    let (code, _) = app
        .post("/v1/invoice-runs", &platform, json!({"period": "2022-12"}))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    app.assert_books_clean().await;
}

async fn approved_invoice(app: &TestApp) -> String {
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    let (fin1, fin2) = (
        app.token("finance", "fin1", None),
        app.token("finance", "fin2", None),
    );
    let id = run(app, &fin1, "2022-06").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    act(app, &fin1, &id, "issue", json!({})).await;
    let (code, body) = act(app, &fin2, &id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    id
}

/// Polls for up to 10 s: deliveries here back off from 20 ms.
async fn wait_for(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let finance = app.token("finance", "fin1", None);
    for _ in 0..200 {
        let (_, invoice) = app.get(&format!("/v1/invoices/{id}"), &finance).await;
        if done(&invoice) {
            return invoice;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("invoice {id} never reached the expected state");
}

fn bureau_settings(url: &str, timeout_ms: u64) -> BureauSettings {
    BureauSettings {
        url: url.to_owned(),
        timeout_ms,
        poll_ms: 20,
        base_delay_ms: 20,
        give_up_after_secs: 3600,
        signing_secret: BUREAU_SECRET.parse().unwrap(),
        ca_file: None,
        client_identity_file: None,
    }
}

async fn app_with_bureau(url: &str, timeout_ms: u64) -> TestApp {
    let bureau = bureau_settings(url, timeout_ms);
    TestApp::with("2022-07-02T10:00:00+08:00", move |settings| {
        settings.bureau = Some(bureau)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approved_invoices_reach_the_bureau_after_retries() {
    // 500 then 200: retried with backoff, submitted once accepted, same idempotency key.
    let stand_in = bureau(vec![500, 200], Duration::ZERO).await;
    let app = app_with_bureau(&stand_in.address, 2000).await;
    let id = approved_invoice(&app).await;
    let invoice = wait_for(&app, &id, |i| i["status"] == "submitted").await;
    assert_eq!(invoice["delivery"]["status"], "delivered");
    assert_eq!(invoice["delivery"]["attempts"], 2);
    let received = stand_in.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert!(received
        .iter()
        .all(|(key, body)| key == "PROVINCE-2022-000001" && body["amount"] == "15.00"));
    // The bureau confirms payment; staff may not mark it paid by hand.
    let finance = app.token("finance", "fin1", None);
    let (code, problem) = act(&app, &finance, &id, "mark-paid", json!({"reference": "x"})).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("bureau_confirms_payments"))
    );
    let bureau_token = app.token("bureau", "bureau", None);
    let (code, paid) = act(
        &app,
        &bureau_token,
        &id,
        "payment",
        json!({"reference": "BUREAU-1", "number": "PROVINCE-2022-000001", "amount": "15.00"}),
    )
    .await;
    assert_eq!(
        (code, paid["status"].as_str()),
        (StatusCode::OK, Some("paid"))
    );
    app.assert_books_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bureau_pays_only_what_it_was_sent() {
    let bureau_token = |app: &TestApp| app.token("bureau", "bureau", None);
    let report = |number: &str, amount: &str| json!({"reference": "BUREAU-1", "number": number, "amount": amount});
    // Approved but never delivered (the bureau answers 500): the bureau cannot see it or pay it.
    let failing = bureau(vec![500], Duration::ZERO).await;
    let app = app_with_bureau(&failing.address, 2000).await;
    let id = approved_invoice(&app).await;
    let (code, _) = app
        .get(&format!("/v1/invoices/{id}"), &bureau_token(&app))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = act(
        &app,
        &bureau_token(&app),
        &id,
        "payment",
        report("PROVINCE-2022-000001", "15.00"),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Delivered: paid only with its own number and amount, and only once.
    let accepting = bureau(vec![200], Duration::ZERO).await;
    let app = app_with_bureau(&accepting.address, 2000).await;
    let id = approved_invoice(&app).await;
    wait_for(&app, &id, |i| i["status"] == "submitted").await;
    for wrong in [
        report("PROVINCE-2022-000001", "15.01"),
        report("PROVINCE-2022-000002", "15.00"),
    ] {
        let (code, problem) = act(&app, &bureau_token(&app), &id, "payment", wrong).await;
        assert_eq!(
            (code, problem["code"].as_str()),
            (StatusCode::CONFLICT, Some("payment_mismatch")),
            "{problem}"
        );
    }
    let (code, problem) = act(
        &app,
        &bureau_token(&app),
        &id,
        "payment",
        json!({"reference": "BUREAU-1"}),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let right = report("PROVINCE-2022-000001", "15.00");
    let (code, paid) = act(&app, &bureau_token(&app), &id, "payment", right.clone()).await;
    assert_eq!(
        (code, paid["status"].as_str()),
        (StatusCode::OK, Some("paid"))
    );
    let (code, _) = act(&app, &bureau_token(&app), &id, "payment", right).await;
    assert_eq!(code, StatusCode::CONFLICT, "paid once");
    app.assert_books_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_are_signed_and_forgeries_refused() {
    // The gateway's deliveries pass the independent Standard Webhooks check.
    let stand_in = bureau(vec![200], Duration::ZERO).await;
    let app = app_with_bureau(&stand_in.address, 2000).await;
    let id = approved_invoice(&app).await;
    wait_for(&app, &id, |i| i["status"] == "submitted").await;
    assert_eq!(*stand_in.unverified.lock().unwrap(), 0);
    assert_eq!(stand_in.received.lock().unwrap().len(), 1);
    // The outbox gauge follows (counted every five seconds).
    let mut counted = false;
    for _ in 0..70 {
        let metrics = metrics_text(&app.client, &app.address).await;
        if metrics.contains("gateway_outbox_deliveries{kind=\"bureau\",status=\"delivered\"} 1") {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counted, "the outbox gauge shows the delivery");

    // The stand-in's check is real: a tampered body and a stale timestamp are refused.
    let signer = standardwebhooks::Webhook::new(BUREAU_SECRET).unwrap();
    let post = |body: &'static str, timestamp: i64, signed_body: &'static str| {
        let signature = signer
            .sign("msg_1", timestamp, signed_body.as_bytes())
            .unwrap();
        app.client
            .post(format!("{}/payment-requests", stand_in.address))
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    let genuine = r#"{"amount":"15.00"}"#;
    let cases = [
        (genuine, now, genuine, StatusCode::OK),
        (
            r#"{"amount":"99.00"}"#,
            now,
            genuine,
            StatusCode::UNAUTHORIZED,
        ),
        (genuine, now - 6 * 60, genuine, StatusCode::UNAUTHORIZED),
    ];
    for (body, timestamp, signed, expected) in cases {
        let answer = post(body, timestamp, signed).await.unwrap();
        assert_eq!(answer.status(), expected, "{body} at {timestamp}");
    }
    assert_eq!(*stand_in.unverified.lock().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redirecting_bureau_is_not_followed() {
    // A bureau answering 307 to another address: the delivery fails there and is retried; the
    // other address never hears of it.
    let elsewhere = bureau(vec![200], Duration::ZERO).await;
    let target = format!("{}/payment-requests", elsewhere.address);
    let redirecting = actix_web::HttpServer::new(move || {
        let target = target.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            let target = target.clone();
            async move {
                actix_web::HttpResponse::TemporaryRedirect()
                    .insert_header(("Location", target))
                    .finish()
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}", redirecting.addrs()[0]);
    tokio::spawn(redirecting.run());
    let app = app_with_bureau(&address, 2000).await;
    let id = approved_invoice(&app).await;
    let invoice = wait_for(&app, &id, |i| i["delivery"]["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(invoice["status"], "approved");
    assert!(invoice["delivery"]["last_error"]
        .as_str()
        .unwrap()
        .contains("307"));
    assert!(elsewhere.received.lock().unwrap().is_empty());
}

/// A bureau on TLS that only talks to clients holding a certificate from its CA: its CA
/// certificate (PEM), the gateway's identity (certificate and key, PEM), and its address.
async fn bureau_over_mutual_tls(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    String,
    Arc<Mutex<usize>>,
) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (certificate, key)
    };
    let (server, server_key) = leaf("localhost");
    let (client, client_key) = leaf("gateway");
    let ca_file = dir.join("bureau-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let identity_file = dir.join("gateway-identity.pem");
    std::fs::write(&identity_file, client.pem() + &client_key.serialize_pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(clients)
        .with_single_cert(
            vec![server.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )
        .unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let counted = accepted.clone();
    let server = actix_web::HttpServer::new(move || {
        let counted = counted.clone();
        actix_web::App::new().route(
            "/payment-requests",
            actix_web::web::post().to(
                move |req: actix_web::HttpRequest, raw: actix_web::web::Bytes| {
                    let counted = counted.clone();
                    async move {
                        if !verified(&req, &raw) {
                            return actix_web::HttpResponse::Unauthorized().finish();
                        }
                        *counted.lock().unwrap() += 1;
                        actix_web::HttpResponse::Ok().finish()
                    }
                },
            ),
        )
    })
    .workers(1)
    .bind_rustls_0_23("127.0.0.1:0", config)
    .unwrap();
    let address = format!("https://localhost:{}", server.addrs()[0].port());
    tokio::spawn(server.run());
    (ca_file, identity_file, address, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bureau_can_require_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, identity_file, address, accepted) = bureau_over_mutual_tls(dir.path()).await;
    // Without its client certificate the gateway is turned away at the handshake.
    let (ca, url) = (ca_file.clone(), address.clone());
    let app = TestApp::with("2022-07-02T10:00:00+08:00", move |settings| {
        let mut bureau = bureau_settings(&url, 2000);
        bureau.ca_file = Some(ca);
        settings.bureau = Some(bureau);
    })
    .await;
    let id = approved_invoice(&app).await;
    let invoice = wait_for(&app, &id, |i| i["delivery"]["attempts"].as_i64() >= Some(1)).await;
    assert_eq!(invoice["status"], "approved");
    assert!(invoice["delivery"]["last_error"]
        .as_str()
        .unwrap()
        .contains("transport"));
    // With it, over TLS verified against the bureau's own CA: delivered.
    let app = TestApp::with("2022-07-02T10:00:00+08:00", move |settings| {
        let mut bureau = bureau_settings(&address, 2000);
        bureau.ca_file = Some(ca_file);
        bureau.client_identity_file = Some(identity_file);
        settings.bureau = Some(bureau);
    })
    .await;
    let id = approved_invoice(&app).await;
    wait_for(&app, &id, |i| i["status"] == "submitted").await;
    assert_eq!(*accepted.lock().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_409_counts_as_delivered_and_other_4xx_fail_for_good() {
    let stand_in = bureau(vec![409], Duration::ZERO).await;
    let app = app_with_bureau(&stand_in.address, 2000).await;
    let id = approved_invoice(&app).await;
    wait_for(&app, &id, |i| i["status"] == "submitted").await;

    let refusing = bureau(vec![422], Duration::ZERO).await;
    let app = app_with_bureau(&refusing.address, 2000).await;
    let id = approved_invoice(&app).await;
    let invoice = wait_for(&app, &id, |i| i["delivery"]["status"] == "failed").await;
    assert_eq!(invoice["status"], "approved");
    assert!(invoice["delivery"]["last_error"]
        .as_str()
        .unwrap()
        .contains("bureau says 422"));
    // The queue of failed deliveries holds it, and only it.
    let admin = app.admin().to_owned();
    for (delivery, expected) in [("failed", 1), ("delivered", 0)] {
        let (code, page) = app
            .get(&format!("/v1/invoices?delivery={delivery}"), &admin)
            .await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            expected,
            "{delivery}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        refusing.received.lock().unwrap().len(),
        1,
        "a permanent failure is not retried"
    );
    app.assert_books_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_or_absent_bureau_is_retried() {
    // Slower than the timeout at first is a transient failure; the key stays the same.
    let slow = bureau(vec![200], Duration::from_millis(400)).await;
    let app = app_with_bureau(&slow.address, 200).await;
    let id = approved_invoice(&app).await;
    let invoice = wait_for(&app, &id, |i| {
        i["delivery"]["attempts"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    assert_eq!(invoice["delivery"]["status"], "pending");
    assert!(invoice["delivery"]["last_error"]
        .as_str()
        .unwrap()
        .contains("transport"));

    // Nobody listening: retried, never lost.
    let app = app_with_bureau("http://127.0.0.1:9", 200).await;
    let id = approved_invoice(&app).await;
    let invoice = wait_for(&app, &id, |i| {
        i["delivery"]["attempts"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    assert_eq!(
        (
            invoice["status"].as_str(),
            invoice["delivery"]["status"].as_str()
        ),
        (Some("approved"), Some("pending"))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn every_money_and_configuration_change_is_on_the_audit_trail() {
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    app.post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await; // a replay records nothing
    app.post(
        "/v1/completions/e1/revoke",
        &p,
        json!({"reason": "withdrawn"}),
    )
    .await;
    app.json(
        Method::PATCH,
        "/v1/platforms/P",
        Some(app.admin()),
        Some(json!({"status": "suspended"})),
    )
    .await;
    app.post(
        "/v1/rate-schedules",
        app.admin(),
        default_schedule("province", 2023),
    )
    .await;

    let mut actions = vec![];
    let mut after = String::new();
    loop {
        let (code, page) = app
            .get(&format!("/v1/audit-events?limit=2{after}"), app.admin())
            .await;
        assert_eq!(code, StatusCode::OK, "{page}");
        actions.extend(page["items"].as_array().unwrap().iter().map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        }));
        match page["next_after"].as_str() {
            Some(cursor) => after = format!("&after={cursor}"),
            None => break,
        }
    }
    let expected = [
        ("platform.created", "admin:ops"),
        ("completion.recorded", "platform:P"),
        ("completion.revoked", "platform:P"),
        ("platform.status_changed", "admin:ops"),
        ("rate_schedule.stored", "admin:ops"),
    ];
    assert_eq!(
        actions,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    // A recording is derived from its completion row, and filtered like the stored entries.
    let (_, recorded) = app
        .get(
            "/v1/audit-events?actor=platform:P&object_type=completion",
            app.admin(),
        )
        .await;
    let recorded = recorded["items"].as_array().unwrap();
    assert_eq!(recorded.len(), 2, "recorded and revoked: {recorded:?}");
    assert_eq!(recorded[0]["action"], "completion.recorded");
    assert_eq!(
        recorded[0]["after"],
        json!({"event_id": "e1", "payer": "province", "status": "accepted", "training_year": 2022,
               "gross": "30.00", "granted": "30.00", "limited_by": null})
    );
    let completion = recorded[0]["object_id"].as_str().unwrap();
    let (_, one) = app
        .get(
            &format!("/v1/audit-events?object_id={completion}"),
            app.admin(),
        )
        .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 2);
    for other in [
        "actor=admin:ops",
        "object_type=platform",
        "action=completion.revoked",
    ] {
        let (_, page) = app
            .get(&format!("/v1/audit-events?{other}"), app.admin())
            .await;
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["action"] != "completion.recorded"),
            "{other}: {page}"
        );
    }
    let (_, revoked) = app
        .get("/v1/audit-events?action=completion.revoked", app.admin())
        .await;
    assert_eq!(revoked["items"][0]["before"]["granted"], "30.00");
    assert_eq!(revoked["items"][0]["after"]["released"], "30.00");
    let (_, status) = app
        .get(
            "/v1/audit-events?object_type=platform&action=platform.status_changed",
            app.admin(),
        )
        .await;
    assert_eq!(
        (
            status["items"][0]["before"]["status"].as_str(),
            status["items"][0]["after"]["status"].as_str()
        ),
        (Some("active"), Some("suspended"))
    );
    let learner = app.token("learner", &id_number(1), None);
    let (code, _) = app.get("/v1/audit-events", &learner).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    app.assert_books_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_delivery_survives_a_restart_and_is_sent_once() {
    // The bureau is down while the first process holds the approved invoice.
    let mut app = app_with_bureau("http://127.0.0.1:9", 200).await;
    let id = approved_invoice(&app).await;
    wait_for(&app, &id, |i| {
        i["delivery"]["attempts"].as_i64().unwrap_or(0) >= 1
    })
    .await;
    // Restarted on the same database with the bureau back: it delivers, exactly once.
    let stand_in = bureau(vec![200], Duration::ZERO).await;
    let bureau_now = bureau_settings(&stand_in.address, 2000);
    app.restart(move |settings| settings.bureau = Some(bureau_now))
        .await;
    let invoice = wait_for(&app, &id, |i| i["status"] == "submitted").await;
    assert_eq!(invoice["delivery"]["status"], "delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stand_in.received.lock().unwrap().len(), 1);
    let (_, audit) = app
        .get(
            &format!("/v1/audit-events?object_id={id}&action=invoice.submitted"),
            app.admin(),
        )
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn the_reduction_rounds_down_to_the_fen() {
    // Granted 1,234.57 with ratio 2/5 = 0.40: payable 617.28 (RULES.md §5).
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    app.payer_with(
        "city",
        2022,
        json!({"rates": {"junior": "246.91", "intermediate": "4.00", "senior": "246.93"}, "learner_annual_cap": "1000.00"}),
    )
    .await;
    let p = app.platform("P").await;
    app.course(&p, "J", "junior", 1).await;
    app.course(&p, "S", "senior", 1).await;
    for (learner, course) in [(1, "J"), (2, "J"), (3, "J"), (4, "J"), (5, "S")] {
        let mut e = event(&format!("e{learner}"), course, learner, 1, JUNE_2022);
        e["payer"] = json!("city");
        let (code, body) = app.post("/v1/completions", &p, e).await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    for learner in [1, 2] {
        let learner_body =
            json!({"id_number": id_number(learner), "name": format!("学员{learner}")});
        app.post(
            "/v1/offline-followups",
            &p,
            json!({"learner": learner_body, "attended_on": "2022-06-10", "program": "workshop"}),
        )
        .await;
    }
    let finance = app.token("finance", "fin1", None);
    let (code, drafts) = app
        .post(
            "/v1/invoice-runs",
            &finance,
            json!({"period": "2022-06", "payer": "city"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{drafts}");
    let invoice = &drafts[0];
    assert_eq!(
        (
            invoice["granted_ytd"].as_str(),
            invoice["offline_ratio"].as_str()
        ),
        (Some("1234.57"), Some("0.40"))
    );
    assert_eq!(
        (invoice["payable_ytd"].as_str(), invoice["amount"].as_str()),
        (Some("617.28"), Some("617.28"))
    );
    assert_eq!(sum_lines(invoice), 61728);
    app.assert_books_clean().await;
}
