//! The security suite: function-level and object-level (BOLA) authorisation over every route of
//! the served OpenAPI document, JWT attacks with the gateway's own key, and mass assignment.

mod common;

use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use subsidy_gateway::config::{IdpSettings, KeySource};
use subsidy_gateway::keys::{Keys, SigningKey};

const DEC_2022: &str = "2022-12-15T10:00:00+08:00";
const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";
const ROLES: [&str; 6] = [
    "admin",
    "finance",
    "platform",
    "learner",
    "bureau",
    "voucher_system",
];

/// Who may call each route, written out independently of the code. `None`: no token needed.
fn allowed() -> Vec<(&'static str, &'static str, Option<&'static [&'static str]>)> {
    const STAFF: &[&str] = &["admin", "finance"];
    const ADMIN: &[&str] = &["admin"];
    const FINANCE: &[&str] = &["finance"];
    const PLATFORM: &[&str] = &["platform"];
    const PLATFORM_OR_STAFF: &[&str] = &["platform", "admin", "finance"];
    const INVOICE_READERS: &[&str] = &["platform", "admin", "finance", "bureau"];
    const VOUCHER_ISSUERS: &[&str] = &["admin", "voucher_system"];
    vec![
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("POST", "/v1/auth/token", None),
        ("GET", "/v1/audit-events", Some(STAFF)),
        ("GET", "/v1/reconciliation", Some(STAFF)),
        ("POST", "/v1/completions", Some(PLATFORM)),
        ("POST", "/v1/completions/{event_id}/revoke", Some(PLATFORM)),
        ("POST", "/v1/offline-followups", Some(PLATFORM)),
        ("PUT", "/v1/courses/{code}", Some(PLATFORM)),
        ("GET", "/v1/courses", Some(PLATFORM_OR_STAFF)),
        ("GET", "/v1/courses/{code}", Some(PLATFORM_OR_STAFF)),
        ("GET", "/v1/usage", Some(PLATFORM_OR_STAFF)),
        ("GET", "/v1/me/subsidy", Some(&["learner"])),
        ("POST", "/v1/invoice-runs", Some(STAFF)),
        ("GET", "/v1/invoice-runs/export.xlsx", Some(STAFF)),
        ("GET", "/v1/invoices", Some(PLATFORM_OR_STAFF)),
        ("GET", "/v1/invoices/{id}", Some(INVOICE_READERS)),
        (
            "GET",
            "/v1/invoices/{id}/completions",
            Some(INVOICE_READERS),
        ),
        ("GET", "/v1/invoices/{id}/export.csv", Some(INVOICE_READERS)),
        (
            "GET",
            "/v1/invoices/{id}/export.xlsx",
            Some(INVOICE_READERS),
        ),
        ("POST", "/v1/invoices/{id}/issue", Some(FINANCE)),
        ("POST", "/v1/invoices/{id}/approve", Some(FINANCE)),
        ("POST", "/v1/invoices/{id}/reject", Some(FINANCE)),
        ("POST", "/v1/invoices/{id}/mark-paid", Some(FINANCE)),
        ("POST", "/v1/invoices/{id}/payment", Some(&["bureau"])),
        ("GET", "/v1/payers", Some(STAFF)),
        ("POST", "/v1/payers", Some(ADMIN)),
        ("PATCH", "/v1/payers/{code}", Some(ADMIN)),
        ("POST", "/v1/vouchers", Some(VOUCHER_ISSUERS)),
        ("GET", "/v1/vouchers", Some(VOUCHER_ISSUERS)),
        ("POST", "/v1/vouchers/{code}/cancel", Some(ADMIN)),
        ("GET", "/v1/vouchers/{code}", Some(PLATFORM)),
        ("GET", "/v1/me/vouchers", Some(&["learner"])),
        ("POST", "/v1/webhook-endpoints", Some(PLATFORM)),
        ("GET", "/v1/webhook-endpoints", Some(PLATFORM)),
        ("GET", "/v1/webhook-endpoints/{id}", Some(PLATFORM)),
        ("DELETE", "/v1/webhook-endpoints/{id}", Some(PLATFORM)),
        (
            "POST",
            "/v1/webhook-endpoints/{id}/rotate-secret",
            Some(PLATFORM),
        ),
        ("POST", "/v1/webhook-endpoints/{id}/enable", Some(PLATFORM)),
        ("POST", "/v1/webhook-endpoints/{id}/test", Some(PLATFORM)),
        ("GET", "/v1/webhook-endpoints/{id}/attempts", Some(PLATFORM)),
        ("GET", "/v1/webhook-endpoints/{id}/messages", Some(PLATFORM)),
        (
            "POST",
            "/v1/webhook-endpoints/{id}/messages/{msg_id}/resend",
            Some(PLATFORM),
        ),
        ("PUT", "/v1/targets/{year}", Some(ADMIN)),
        ("GET", "/v1/progress", Some(STAFF)),
        ("GET", "/v1/progress/export.xlsx", Some(STAFF)),
        ("GET", "/v1/platforms", Some(STAFF)),
        ("POST", "/v1/platforms", Some(ADMIN)),
        ("GET", "/v1/platforms/{code}", Some(STAFF)),
        ("PATCH", "/v1/platforms/{code}", Some(ADMIN)),
        ("POST", "/v1/platforms/{code}/rotate-secret", Some(ADMIN)),
        ("GET", "/v1/users", Some(ADMIN)),
        ("PATCH", "/v1/users/{username}", Some(ADMIN)),
        ("PUT", "/v1/users/{username}/password", Some(STAFF)),
        ("GET", "/v1/rate-schedules", Some(STAFF)),
        ("POST", "/v1/rate-schedules", Some(ADMIN)),
        ("POST", "/v1/users", Some(ADMIN)),
    ]
}

fn concrete(path: &str) -> String {
    path.replace("{event_id}", "e1")
        .replace("{username}", "u1")
        .replace("{year}", "2022")
        .replace("{code}", "C")
        .replace("{id}", "0190a6c0-0000-7000-8000-000000000000")
        .replace("{msg_id}", "msg_0")
}

#[tokio::test]
async fn every_route_of_the_document_refuses_roles_it_does_not_serve() {
    let app = TestApp::at(DEC_2022).await;
    let platform = app.platform("p1").await;
    let tokens: Vec<(&str, String)> = ROLES
        .iter()
        .map(|role| {
            let token = match *role {
                "platform" => platform.clone(),
                "learner" => app.token("learner", &id_number(1), None),
                other => app.token(other, &format!("{other}-user"), None),
            };
            (*role, token)
        })
        .collect();
    // The table covers exactly the routes the server documents: a new route must be added here.
    let (_, document) = app.get("/openapi.json", app.admin()).await;
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let table = allowed();
    let listed: BTreeSet<(String, String)> = table
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, listed);

    let mut tried = 0;
    for (method, path, roles) in table {
        let method: Method = method.parse().unwrap();
        let path = concrete(path);
        let Some(roles) = roles else { continue };
        let (code, problem) = app.json(method.clone(), &path, None, Some(json!({}))).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "unauthorized");
        for (role, token) in &tokens {
            let (code, problem) = app
                .json(method.clone(), &path, Some(token), Some(json!({})))
                .await;
            tried += 1;
            if roles.contains(role) {
                assert!(
                    code != StatusCode::UNAUTHORIZED && code != StatusCode::FORBIDDEN,
                    "{role} may {method} {path}: {code} {problem}"
                );
            } else {
                assert_eq!(
                    code,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {problem}"
                );
                assert_eq!(
                    problem["code"], "forbidden",
                    "{role} {method} {path}: {problem}"
                );
            }
        }
    }
    assert_eq!(tried, 54 * ROLES.len());
    // A known path with a method it does not serve: 405 and the methods it does.
    for (method, path, allow) in [
        (Method::DELETE, "/v1/platforms", "GET, POST"),
        (Method::PUT, "/v1/invoices/x/approve", "POST"),
        (Method::TRACE, "/healthz", "GET"),
    ] {
        let response = app
            .call(method.clone(), path, Some(app.admin()), None)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow);
    }
    app.assert_books_clean().await;
}

#[tokio::test]
async fn no_caller_reaches_another_tenants_objects() {
    let app = TestApp::at(DEC_2022).await;
    let p1 = app.platform("p1").await;
    let p2 = app.platform("p2").await;
    app.course(&p1, "C", "junior", 10).await;
    let (code, _) = app
        .post("/v1/completions", &p1, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, invoices) = app
        .post(
            "/v1/invoice-runs",
            app.admin(),
            json!({"period": "2022-11", "payer": "province"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{invoices}");
    let invoice = invoices[0]["id"].as_str().unwrap().to_owned();

    // p2 against each of p1's objects: not found, whatever the verb.
    for (method, path, body) in [
        (Method::GET, "/v1/courses/C".to_owned(), None),
        (
            Method::POST,
            "/v1/completions/e1/revoke".to_owned(),
            Some(json!({"reason": "mine now"})),
        ),
        (Method::GET, format!("/v1/invoices/{invoice}"), None),
        (
            Method::GET,
            format!("/v1/invoices/{invoice}/export.csv"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/invoices/{invoice}/export.xlsx"),
            None,
        ),
    ] {
        let (code, problem) = app.json(method.clone(), &path, Some(&p2), body).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "p2 {method} {path}: {problem}");
        assert_eq!(problem["code"], "not_found");
    }
    // Naming p1 in a query changes nothing for p2.
    for path in [
        "/v1/invoices?platform=p1",
        "/v1/courses?platform=p1",
        "/v1/usage?year=2022&platform=p1",
    ] {
        let (code, body) = app.get(path, &p2).await;
        assert_eq!(code, StatusCode::OK, "{path}");
        let text = body.to_string();
        assert!(!text.contains("\"p1\""), "{path} shows p1's data: {text}");
    }
    // p2's own course C is another object: p1's stays as it was.
    app.course(&p2, "C", "senior", 99).await;
    let (_, course) = app.get("/v1/courses/C", &p1).await;
    assert_eq!(
        (course["level"].as_str(), course["class_hours"].as_i64()),
        (Some("junior"), Some(10))
    );
    let (_, usage) = app.get("/v1/usage?year=2022", &p1).await;
    assert_eq!(usage["granted"], "30.00", "p1's grant was not revoked");
    // A learner reaches only their own subsidy, whatever the query says.
    let other = app.token("learner", &id_number(2), None);
    let (_, subsidy) = app
        .get(
            &format!("/v1/me/subsidy?year=2022&id_number={}", id_number(1)),
            &other,
        )
        .await;
    assert_eq!(subsidy["used"], "0.00");
    app.assert_books_clean().await;
}

/// Claims the gateway would accept, to be altered one at a time.
fn claims(overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({"sub": "ops", "role": "admin", "iss": "subsidy-gateway", "aud": "subsidy-gateway", "exp": now + 600, "iat": now});
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

#[tokio::test]
async fn jwt_attacks_are_refused_even_when_signed_with_the_right_key() {
    let secret = "a-known-test-secret-of-enough-length-0123456789";
    let idp_public = include_str!("fixtures/idp-test-public.pem");
    let app = TestApp::with(DEC_2022, |settings| {
        settings.keys = Some(KeySource::Given(Keys {
            signing: vec![SigningKey {
                kid: "test".into(),
                secret: secret.into(),
            }],
            id_hash: "an-id-hash-key-of-enough-length-0123456789".into(),
        }));
        settings.idp = Some(IdpSettings {
            public_key_pem: idp_public.to_owned(),
            issuer: "shanxi-idp".into(),
            sign_in: None,
        });
    })
    .await;
    let key = EncodingKey::from_secret(secret.as_bytes());
    let with_kid = |alg: Algorithm, kid: Option<&str>| Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    };
    let sign = |alg: Algorithm, claims: Value| {
        encode(&with_kid(alg, Some("test")), &claims, &key).unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let good = sign(Algorithm::HS256, claims(json!({})));
    let (code, _) = app.get("/v1/platforms", &good).await;
    assert_eq!(code, StatusCode::OK, "the control token works");

    let attacks = [
        (
            "expired",
            sign(Algorithm::HS256, claims(json!({"exp": now - 120}))),
        ),
        (
            "exp as a string",
            sign(
                Algorithm::HS256,
                claims(json!({"exp": (now + 600).to_string()})),
            ),
        ),
        (
            "no exp",
            sign(Algorithm::HS256, claims(json!({"exp": null}))),
        ),
        (
            "future nbf",
            sign(Algorithm::HS256, claims(json!({"nbf": now + 3600}))),
        ),
        (
            "wrong aud",
            sign(Algorithm::HS256, claims(json!({"aud": "another-service"}))),
        ),
        (
            "wrong iss",
            sign(Algorithm::HS256, claims(json!({"iss": "someone-else"}))),
        ),
        (
            "no sub",
            sign(Algorithm::HS256, claims(json!({"sub": null}))),
        ),
        (
            "unknown role",
            sign(Algorithm::HS256, claims(json!({"role": "root"}))),
        ),
        (
            "HS512 with the right key",
            sign(Algorithm::HS512, claims(json!({}))),
        ),
        (
            "no key id",
            encode(&with_kid(Algorithm::HS256, None), &claims(json!({})), &key).unwrap(),
        ),
        (
            "a key id the gateway does not hold",
            encode(
                &with_kid(Algorithm::HS256, Some("retired")),
                &claims(json!({})),
                &key,
            )
            .unwrap(),
        ),
        (
            // Key confusion: the identity provider's public key used as an HMAC secret.
            "HS256 keyed with the RSA public key",
            encode(
                &Header::new(Algorithm::HS256),
                &claims(json!({"iss": "shanxi-idp", "role": "learner", "sub": id_number(1)})),
                &EncodingKey::from_secret(idp_public.as_bytes()),
            )
            .unwrap(),
        ),
        ("alg none", {
            use base64::Engine;
            let b64 =
                |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            format!(
                "{}.{}.",
                b64(json!({"alg": "none", "typ": "JWT"})),
                b64(claims(json!({})))
            )
        }),
        ("tampered signature", {
            let mut t = good.clone();
            let last = t.pop().unwrap();
            t.push(if last == 'A' { 'B' } else { 'A' });
            t
        }),
        ("tampered claims", {
            let parts: Vec<&str> = good.split('.').collect();
            use base64::Engine;
            let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(claims(json!({"role": "admin", "sub": "mallory"})).to_string());
            format!("{}.{forged}.{}", parts[0], parts[2])
        }),
    ];
    for (name, token) in &attacks {
        for path in ["/v1/platforms", "/v1/me/subsidy?year=2022"] {
            let (code, problem) = app.get(path, token).await;
            assert_eq!(
                code,
                StatusCode::UNAUTHORIZED,
                "{name} on {path}: {problem}"
            );
            assert_eq!(problem["code"], "unauthorized");
            assert!(
                !problem.to_string().contains(secret),
                "the answer never shows key material"
            );
        }
    }
    // A token in the URL or in a cookie is not a token.
    for request in [
        app.client
            .get(format!("{}/v1/platforms?access_token={good}", app.address)),
        app.client
            .get(format!("{}/v1/platforms", app.address))
            .header("cookie", format!("token={good}")),
        app.client
            .get(format!("{}/v1/platforms", app.address))
            .header("authorization", format!("Basic {good}")),
    ] {
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    app.assert_books_clean().await;
}

#[tokio::test]
async fn fields_the_server_owns_cannot_be_set_by_callers() {
    let app = TestApp::at(DEC_2022).await;
    // A platform cannot be created suspended or with a chosen secret hash or client id.
    let (code, created) = app
        .post(
            "/v1/platforms",
            app.admin(),
            json!({"code": "p1", "name": "P1", "status": "suspended", "client_secret_hash": "x", "client_id": "chosen", "created_at": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "active");
    assert_ne!(created["client_id"], "chosen");
    let p = app.token("platform", "test:p1", Some("p1"));
    app.course(&p, "C", "junior", 10).await;
    // An uncertified completion that claims to be accepted and paid is still uncertified.
    let mut forged = event("e1", "C", 1, 10, JUNE_2022);
    forged.as_object_mut().unwrap().remove("certificate_no");
    for (k, v) in [
        ("status", json!("accepted")),
        ("granted", json!("300.00")),
        ("gross", json!("300.00")),
        ("limited_by", json!(null)),
        ("training_year", json!(2021)),
        ("replayed", json!(true)),
    ] {
        forged[k] = v;
    }
    let (code, result) = app.post("/v1/completions", &p, forged).await;
    assert_eq!(code, StatusCode::OK, "{result}");
    assert_eq!(
        (
            result["status"].as_str(),
            result["granted"].as_str(),
            result["replayed"].as_bool()
        ),
        (Some("uncertified"), Some("0.00"), Some(false))
    );
    // A run makes drafts whatever the body says about status, amounts or approvers (30.00
    // granted, halved: no learner went on to offline training).
    app.post("/v1/completions", &p, event("e2", "C", 2, 10, JUNE_2022))
        .await;
    let (code, invoices) = app
        .post(
            "/v1/invoice-runs",
            app.admin(),
            json!({"period": "2022-11", "payer": "province", "status": "approved", "approved_by": "mallory", "amount": "1000000.00", "number": "X-1"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{invoices}");
    let invoice = &invoices[0];
    assert_eq!(
        (
            invoice["status"].as_str(),
            invoice["amount"].as_str(),
            invoice["number"].as_str()
        ),
        (Some("draft"), Some("15.00"), None)
    );
    assert!(invoice["approved_by"].is_null());
    let id = invoice["id"].as_str().unwrap();
    // Issuing cannot pick the number, the status or the issuer.
    let finance = app.token("finance", "fin1", None);
    let (code, issued) = app
        .post(
            &format!("/v1/invoices/{id}/issue"),
            &finance,
            json!({"status": "paid", "number": "X-1", "issued_by": "someone", "amount": "1.00"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{issued}");
    assert_eq!(
        (
            issued["status"].as_str(),
            issued["number"].as_str(),
            issued["amount"].as_str()
        ),
        (Some("issued"), Some("PROVINCE-2022-000001"), Some("15.00"))
    );
    // The issuer cannot approve by naming another approver.
    let (code, problem) = app
        .post(
            &format!("/v1/invoices/{id}/approve"),
            &finance,
            json!({"approved_by": "fin2"}),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("separation_of_duties"))
    );
    app.assert_books_clean().await;
}

#[tokio::test]
async fn hostile_text_in_queries_never_breaks_an_answer() {
    // Found by schemathesis: a control character in `payer` once reached a header (500).
    let app = TestApp::at(DEC_2022).await;
    let (code, problem) = app
        .get(
            "/v1/invoice-runs/export.xlsx?payer=%C3%BCb%C2%8C%05S&period=2022-11",
            app.admin(),
        )
        .await;
    assert_eq!(
        (code, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_payer"))
    );
    let response = app
        .call(
            Method::GET,
            "/v1/invoice-runs/export.xlsx?period=2022-11",
            Some(app.admin()),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"province-2022-11.xlsx\""
    );
    app.assert_books_clean().await;
}
