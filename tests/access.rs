//! Who may do what: tokens, roles, tenants, rate limits, body limits, admin configuration.

mod common;

use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use subsidy_gateway::config::IdpSettings;

const DEC_2022: &str = "2022-12-15T10:00:00+08:00";
const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";

#[tokio::test]
async fn platforms_and_staff_sign_in_with_their_credentials() {
    let app = TestApp::at(DEC_2022).await;
    let (code, platform) = app
        .post(
            "/v1/platforms",
            app.admin(),
            json!({"code": "p1", "name": "One"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let secret = platform["client_secret"].as_str().unwrap().to_owned();
    let client_id = platform["client_id"].as_str().unwrap().to_owned();
    // The secret is shown once.
    let (_, again) = app.get("/v1/platforms/p1", app.admin()).await;
    assert!(again.get("client_secret").is_none());

    let grant = json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret});
    let (code, token) = app
        .json(Method::POST, "/v1/auth/token", None, Some(grant.clone()))
        .await;
    assert_eq!(code, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let platform_token = token["access_token"].as_str().unwrap();
    app.course(platform_token, "C", "junior", 10).await;

    let wrong = json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"});
    let (code, problem) = app
        .json(Method::POST, "/v1/auth/token", None, Some(wrong))
        .await;
    assert_eq!(
        (code, problem["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "RFC 6749 §5.2"
    );

    let (code, _) = app
        .post(
            "/v1/users",
            app.admin(),
            json!({"username": "fin1", "role": "finance", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, problem) = app
        .post(
            "/v1/users",
            app.admin(),
            json!({"username": "fin2", "role": "bureau", "password": "short"}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
    let login =
        json!({"grant_type": "password", "username": "fin1", "password": "correct horse battery"});
    let (code, token) = app
        .json(Method::POST, "/v1/auth/token", None, Some(login))
        .await;
    assert_eq!(code, StatusCode::OK);
    let finance = token["access_token"].as_str().unwrap();
    let (code, _) = app.get("/v1/platforms", finance).await;
    assert_eq!(code, StatusCode::OK);
    let (code, problem) = app
        .post("/v1/payers", finance, json!({"code": "x", "name": "x"}))
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (code, _) = app
        .json(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(
                json!({"grant_type": "password", "username": "fin1", "password": "wrong password"}),
            ),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "RFC 6749 §5.2: invalid_grant"
    );

    // Suspension: webhooks 403, and no new tokens.
    let (code, _) = app
        .json(
            Method::PATCH,
            "/v1/platforms/p1",
            Some(app.admin()),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, problem) = app
        .post(
            "/v1/completions",
            platform_token,
            event("e1", "C", 1, 10, JUNE_2022),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("platform_suspended"))
    );
    let (code, refused) = app
        .json(Method::POST, "/v1/auth/token", None, Some(grant))
        .await;
    assert_eq!(
        (code, refused["error"].as_str(), refused["code"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("unauthorized_client"),
            Some("platform_suspended")
        )
    );
    let (code, _) = app
        .json(
            Method::PATCH,
            "/v1/platforms/p1",
            Some(app.admin()),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = app
        .post(
            "/v1/completions",
            platform_token,
            event("e1", "C", 1, 10, JUNE_2022),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, problem) = app
        .json(
            Method::PATCH,
            "/v1/platforms/p1",
            Some(app.admin()),
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_status"))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_caller_never_sees_another_tenants_objects() {
    let app = TestApp::at(DEC_2022).await;
    let p1 = app.platform("p1").await;
    let p2 = app.platform("p2").await;
    app.course(&p1, "C", "junior", 10).await;
    app.post("/v1/completions", &p1, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    let (code, _) = app.get("/v1/courses/C", &p2).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, courses) = app.get("/v1/courses", &p2).await;
    assert_eq!(courses, json!([]));
    // p2 naming p1 in the query still sees its own figures.
    let usage = app.usage(&p2, "year=2022&platform=p1").await;
    assert_eq!(
        (usage["platform"].as_str(), usage["granted"].as_str()),
        (Some("p2"), Some("0.00"))
    );
    let (code, _) = app
        .post("/v1/completions", &p2, event("e9", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(
        code,
        StatusCode::UNPROCESSABLE_ENTITY,
        "p1's course code is unknown to p2"
    );
    // Staff see a platform's figures by naming it.
    let usage = app.usage(app.admin(), "year=2022&platform=p1").await;
    assert_eq!(usage["granted"], "30.00");
    let (code, problem) = app.get("/v1/usage?year=2022", app.admin()).await;
    assert_eq!(
        (code, problem["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("platform"))
    );
    let (code, course) = app.get("/v1/courses/C?platform=p1", app.admin()).await;
    assert_eq!(
        (code, course["granted_total"].as_str()),
        (StatusCode::OK, Some("30.00"))
    );
    // A learner sees only their own subsidy.
    let other = app.token("learner", &id_number(2), None);
    let (_, subsidy) = app.get("/v1/me/subsidy?year=2022", &other).await;
    assert_eq!(
        (
            subsidy["used"].as_str(),
            subsidy["completions"].as_array().map(Vec::len)
        ),
        (Some("0.00"), Some(0))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = TestApp::at(DEC_2022).await;
    let good = app.admin().to_owned();
    let claims = |overrides: Value| {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({"sub": "ops", "role": "admin", "iss": "subsidy-gateway", "aud": "subsidy-gateway", "exp": now + 600, "iat": now});
        for (k, v) in overrides.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let foreign_key = EncodingKey::from_secret(b"not-the-gateway-key-not-the-gateway-key");
    let hs = |c: Value| encode(&Header::new(Algorithm::HS256), &c, &foreign_key).unwrap();
    let unsigned = {
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(claims(json!({})))
        )
    };
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    for token in [
        unsigned,
        hs(claims(json!({}))),
        tampered,
        "garbage".to_owned(),
    ] {
        let (code, _) = app.get("/v1/platforms", &token).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{token}");
    }
    let (code, _) = app.get("/v1/platforms", &good).await;
    assert_eq!(code, StatusCode::OK);
    // A token in the URL is not a token.
    let (code, _) = app
        .json(
            Method::GET,
            &format!("/v1/platforms?access_token={good}"),
            None,
            None,
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn learner_tokens_come_from_the_identity_provider_when_configured() {
    let app = TestApp::with(DEC_2022, |settings| {
        settings.idp = Some(IdpSettings {
            public_key_pem: include_str!("fixtures/idp-test-public.pem").to_owned(),
            issuer: "shanxi-idp".into(),
            sign_in: None,
        });
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let sign = |pem: &str, iss: &str, role: &str| {
        let claims = json!({"sub": id_number(1), "role": role, "iss": iss, "aud": "subsidy-gateway", "exp": now + 600, "iat": now});
        encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let idp = include_str!("fixtures/idp-test-private.pem");
    let (code, body) = app
        .get(
            "/v1/me/subsidy?year=2022",
            &sign(idp, "shanxi-idp", "learner"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    for token in [
        sign(
            include_str!("fixtures/other-private.pem"),
            "shanxi-idp",
            "learner",
        ),
        sign(idp, "someone-else", "learner"),
        sign(idp, "shanxi-idp", "admin"),
        app.token("learner", &id_number(1), None),
    ] {
        let (code, _) = app.get("/v1/me/subsidy?year=2022", &token).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
    }
    app.assert_books_clean().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = TestApp::with(DEC_2022, |settings| {
        settings.limits.per_caller_per_second = 1;
        settings.limits.per_caller_burst = 3;
        settings.limits.token_per_minute_per_address = 2;
    })
    .await;
    let mut codes = vec![];
    for _ in 0..5 {
        codes.push(
            app.call(Method::GET, "/v1/payers", Some(app.admin()), None)
                .await
                .status(),
        );
    }
    assert_eq!(
        codes.iter().filter(|c| **c == StatusCode::OK).count(),
        3,
        "{codes:?}"
    );
    let limited = app
        .call(Method::GET, "/v1/payers", Some(app.admin()), None)
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get("retry-after").is_some());
    // Another caller has its own allowance.
    let other = app.token("admin", "someone-else", None);
    assert_eq!(
        app.call(Method::GET, "/v1/payers", Some(&other), None)
            .await
            .status(),
        StatusCode::OK
    );
    let attempt =
        json!({"grant_type": "password", "username": "nobody", "password": "whatever-long"});
    let mut codes = vec![];
    for _ in 0..3 {
        codes.push(
            app.call(Method::POST, "/v1/auth/token", None, Some(attempt.clone()))
                .await,
        );
    }
    assert_eq!(codes[0].status(), StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(codes[2].status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = codes[2].headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let app = TestApp::with(DEC_2022, |settings| settings.json_limit_bytes = 4096).await;
    let p = app.platform("p1").await;
    let big = json!({"events": (0..100).map(|i| event(&format!("e{i}"), "C", i, 1, JUNE_2022)).collect::<Vec<_>>()});
    let (code, problem) = app.post("/v1/completions", &p, big).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let response = app
        .client
        .post(format!("{}/v1/completions", app.address))
        .bearer_auth(&p)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let response = app
        .client
        .post(format!("{}/v1/completions", app.address))
        .bearer_auth(&p)
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (code, problem) = app.get("/v1/nowhere", &p).await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn rate_schedules_are_versioned_and_frozen_once_used() {
    let app = TestApp::at(DEC_2022).await;
    let (_, schedules) = app.get("/v1/rate-schedules", app.admin()).await;
    let seed = &schedules[0];
    assert_eq!(
        (seed["payer"].as_str(), seed["effective_year"].as_i64()),
        (Some("province"), Some(2022))
    );
    assert_eq!(
        seed["rates"],
        json!({"junior": "3.00", "intermediate": "4.00", "senior": "5.00"})
    );
    assert_eq!(seed["learner_annual_cap"], "300.00");
    assert_eq!(seed["platform_annual_ceiling"], "3000000.00");
    // Until it prices a completion, the version of a year can be replaced.
    let mut cheaper = default_schedule("province", 2022);
    cheaper["rates"]["junior"] = json!("2.50");
    let (code, body) = app
        .post("/v1/rate-schedules", app.admin(), cheaper.clone())
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let p = app.platform("p1").await;
    app.course(&p, "C", "junior", 10).await;
    let (_, r) = app
        .post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(r["gross"], "25.00");
    let (code, problem) = app
        .post(
            "/v1/rate-schedules",
            app.admin(),
            default_schedule("province", 2022),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("schedule_in_use"))
    );
    // A later year takes a new version, which prices that year from then on.
    let mut next = default_schedule("province", 2023);
    next["rates"]["junior"] = json!("3.50");
    let (code, _) = app.post("/v1/rate-schedules", app.admin(), next).await;
    assert_eq!(code, StatusCode::CREATED);
    let (_, r) = app
        .post(
            "/v1/completions",
            &p,
            event("e2", "C", 2, 10, "2022-12-02T10:00:00+08:00"),
        )
        .await;
    assert_eq!(
        (r["training_year"].as_i64(), r["gross"].as_str()),
        (Some(2023), Some("35.00"))
    );
    let mut bad = default_schedule("nobody", 1999);
    bad["rates"]["junior"] = json!("1.234");
    bad["offline_ratio_threshold"] = json!("1.5");
    let (code, problem) = app.post("/v1/rate-schedules", app.admin(), bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["effective_year", "rates.junior", "offline_ratio_threshold"]
    );
    let (code, problem) = app
        .post(
            "/v1/rate-schedules",
            app.admin(),
            default_schedule("nobody", 2024),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_payer"))
    );
    let (code, _) = app
        .post(
            "/v1/payers",
            app.admin(),
            json!({"code": "province", "name": "again"}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (_, payers) = app.get("/v1/payers", app.admin()).await;
    assert_eq!(payers[0]["code"], "province");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn lists_page_with_a_cursor_and_a_capped_limit() {
    let app = TestApp::at(DEC_2022).await;
    for code in ["a", "b", "c"] {
        app.platform(code).await;
    }
    let first = app
        .call(
            Method::GET,
            "/v1/platforms?limit=2",
            Some(app.admin()),
            None,
        )
        .await;
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(link, "</v1/platforms?after=b&limit=2>; rel=\"next\"");
    let codes: Vec<Value> = first.json().await.unwrap();
    assert_eq!(
        codes
            .iter()
            .map(|p| p["code"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    let next = app
        .call(
            Method::GET,
            "/v1/platforms?after=b&limit=2",
            Some(app.admin()),
            None,
        )
        .await;
    assert!(next.headers().get("link").is_none());
    let rest: Vec<Value> = next.json().await.unwrap();
    assert_eq!(rest.len(), 1);
    let tiny = app
        .call(
            Method::GET,
            "/v1/platforms?limit=0",
            Some(app.admin()),
            None,
        )
        .await;
    assert_eq!(
        tiny.json::<Vec<Value>>().await.unwrap().len(),
        1,
        "limits are clamped to 1..=100"
    );
    // Other filters stay in the next link.
    let p = app.token("platform", "x", Some("a"));
    app.course(&p, "c1", "junior", 1).await;
    app.course(&p, "c2", "junior", 1).await;
    let courses = app
        .call(
            Method::GET,
            "/v1/courses?platform=a&payer=province&limit=1",
            Some(app.admin()),
            None,
        )
        .await;
    assert_eq!(
        courses.headers()["link"].to_str().unwrap(),
        "</v1/courses?platform=a&payer=province&after=c1&limit=1>; rel=\"next\""
    );
    let (code, _) = app.get("/v1/invoices?limit=500", app.admin()).await;
    assert_eq!(code, StatusCode::OK);
    app.assert_books_clean().await;
}

#[tokio::test]
async fn platform_staff_have_passwords_of_their_own() {
    let app = TestApp::at(JUNE_2022).await;
    app.platform("p1").await;
    let user = |body: Value| app.post("/v1/users", app.admin(), body);
    // A platform user names an existing platform; staff name none.
    let refusals = [
        json!({"username": "pat", "role": "platform", "password": "correct horse battery"}),
        json!({"username": "pat", "role": "platform", "password": "correct horse battery", "platform": "nope"}),
        json!({"username": "fin", "role": "finance", "password": "correct horse battery", "platform": "p1"}),
    ];
    for body in refusals {
        let (code, problem) = user(body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
    let (code, created) = user(json!({"username": "pat", "role": "platform",
        "password": "correct horse battery", "platform": "p1"}))
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["platform"], "p1");
    let login =
        json!({"grant_type": "password", "username": "pat", "password": "correct horse battery"});
    let (code, token) = app
        .json(Method::POST, "/v1/auth/token", None, Some(login.clone()))
        .await;
    assert_eq!(code, StatusCode::OK, "{token}");
    let pat = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.usage(&pat, "").await["platform"], "p1");
    let (code, _) = app.get("/v1/invoices", &pat).await;
    assert_eq!(code, StatusCode::OK, "a platform's reads");
    let (code, _) = app.get("/v1/platforms", &pat).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "not staff's");

    // Rotating the platform's secret leaves its users' tokens; suspending it stops them;
    // disabling the user stops theirs.
    app.post("/v1/platforms/p1/rotate-secret", app.admin(), json!({}))
        .await;
    let (code, _) = app.get("/v1/usage", &pat).await;
    assert_eq!(code, StatusCode::OK);
    app.patch(
        "/v1/platforms/p1",
        app.admin(),
        json!({"status": "suspended"}),
    )
    .await;
    let (code, problem) = app.get("/v1/usage", &pat).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "platform_suspended");
    app.patch("/v1/platforms/p1", app.admin(), json!({"status": "active"}))
        .await;
    app.patch("/v1/users/pat", app.admin(), json!({"status": "disabled"}))
        .await;
    let (code, _) = app.get("/v1/usage", &pat).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, refusal) = app
        .json(Method::POST, "/v1/auth/token", None, Some(login))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(refusal["error"], "invalid_grant", "RFC 6749 §5.2");
}
