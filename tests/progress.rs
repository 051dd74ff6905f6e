//! Progress against the plan's targets (issue #10, part 3), on both backends.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An ID number of the city `city` (its first four digits).
fn of_city(city: &str, n: u32) -> String {
    subsidy_gateway::domain::IdNumber::complete(&format!("{city}05{:04}0101{:03}", 1960 + n, n))
}

fn event_of(event_id: &str, course: &str, id_number: &str, certified: bool) -> Value {
    json!({
        "event_id": event_id,
        "course_code": course,
        "learner": {"id_number": id_number, "name": format!("学员{event_id}")},
        "class_hours": 10,
        "certificate_no": if certified { Some(format!("CERT-{event_id}")) } else { None },
        "certified_at": "2022-06-01T10:00:00+08:00",
    })
}

#[tokio::test]
async fn progress_per_city_against_the_plan() {
    // Mid-October: 60 % of each city's target is due.
    let app = TestApp::at("2022-10-15T10:00:00+08:00").await;
    let admin = app.admin().to_owned();

    // The 2022 table of 附件1, as shipped.
    let shipped: Value = serde_json::from_str(include_str!("../targets/2022.json")).unwrap();
    let (code, loaded) = app
        .json(Method::PUT, "/v1/targets/2022", Some(&admin), Some(shipped))
        .await;
    assert_eq!(code, StatusCode::OK, "{loaded}");
    let loaded = loaded.as_array().unwrap();
    assert_eq!(loaded.len(), 11);
    let total: i64 = loaded.iter().map(|c| c["trainees"].as_i64().unwrap()).sum();
    assert_eq!(total, 300_000, "附件1's total");

    let (code, problem) = app
        .json(
            Method::PUT,
            "/v1/targets/2022",
            Some(&admin),
            Some(json!([
                {"city_code": "14x1", "name": "?", "trainees": 1, "certificates": 1},
                {"city_code": "1402", "name": "大同市", "trainees": 1, "certificates": 1},
                {"city_code": "1402", "name": "大同市", "trainees": 1, "certificates": 1},
            ])),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["[0].city_code", "[2].city_code"]);

    // Small targets, to read the shares.
    let (code, _) = app
        .json(
            Method::PUT,
            "/v1/targets/2022",
            Some(&admin),
            Some(json!([
                {"city_code": "1401", "name": "太原市", "trainees": 5, "certificates": 4},
                {"city_code": "1402", "name": "大同市", "trainees": 2, "certificates": 2},
                {"city_code": "1403", "name": "阳泉市", "trainees": 1, "certificates": 1},
            ])),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let events = [
        event_of("a1", "C", &of_city("1401", 1), true),
        event_of("a2", "C", &of_city("1401", 2), true),
        event_of("a3", "C", &of_city("1401", 3), false),
        event_of("b1", "C", &of_city("1402", 1), true),
        event_of("c1", "C", &of_city("1403", 1), true),
        event_of("x1", "C", &of_city("1101", 1), true),
    ];
    for event in events {
        let (code, answer) = app.post("/v1/completions", &p, event).await;
        assert_eq!(code, StatusCode::OK, "{answer}");
    }
    // A revoked completion no longer counts.
    let (code, _) = app
        .post("/v1/completions/c1/revoke", &p, json!({"reason": "fraud"}))
        .await;
    assert_eq!(code, StatusCode::OK);

    let (code, progress) = app.get("/v1/progress?year=2022", &admin).await;
    assert_eq!(code, StatusCode::OK, "{progress}");
    let rows: Vec<(String, i64, i64, Value, bool)> = progress
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["city_code"].as_str().unwrap().to_owned(),
                c["learners"].as_i64().unwrap(),
                c["certified"].as_i64().unwrap(),
                c["share"].clone(),
                c["behind_schedule"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("1401".into(), 3, 2, json!("0.6000"), false),
            ("1402".into(), 1, 1, json!("0.5000"), true),
            ("1403".into(), 0, 0, json!("0.0000"), true),
            ("other".into(), 1, 1, Value::Null, false),
        ]
    );
    // Finance reads it too; platforms do not.
    let finance = app.token("finance", "fin1", None);
    assert_eq!(
        app.get("/v1/progress?year=2022", &finance).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/progress?year=2022", &p).await.0,
        StatusCode::FORBIDDEN
    );

    let workbook = app
        .call(
            Method::GET,
            "/v1/progress/export.xlsx?year=2022",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(workbook.status(), StatusCode::OK);
    assert_eq!(
        workbook.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = workbook.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip");
    app.assert_books_clean().await;
}
