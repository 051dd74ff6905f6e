//! A stand-in for the finance bureau's payment system on loopback.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The key the gateway signs deliveries with in the tests, as the specification writes it.
pub const BUREAU_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A stand-in for the bureau's payment system: verifies each request's Standard Webhooks
/// signature with an independent implementation (the `standardwebhooks` crate; 401 and counted
/// when it fails), answers the rest from a script, records what it got.
pub struct Bureau {
    pub address: String,
    pub received: Arc<Mutex<Vec<(String, Value)>>>,
    pub unverified: Arc<Mutex<usize>>,
}

/// The Standard Webhooks check, over the raw body and the three headers, with `secret`.
pub fn verified_with(secret: &str, req: &HttpRequest, body: &[u8]) -> bool {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        if let Some(value) = req.headers().get(name) {
            headers.insert(
                name,
                http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
    }
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(body, &headers)
        .is_ok()
}

pub fn verified(req: &HttpRequest, body: &[u8]) -> bool {
    verified_with(BUREAU_SECRET, req, body)
}

/// The next status of a stand-in's script; the last one repeats.
pub fn next_answer(script: &Mutex<Vec<u16>>) -> u16 {
    let mut answers = script.lock().unwrap();
    if answers.len() > 1 {
        answers.remove(0)
    } else {
        answers[0]
    }
}

pub async fn bureau(script: Vec<u16>, delay: Duration) -> Bureau {
    let received = Arc::new(Mutex::new(vec![]));
    let unverified = Arc::new(Mutex::new(0));
    let script = Arc::new(Mutex::new(script));
    let (log, answers, refused) = (received.clone(), script.clone(), unverified.clone());
    let server = HttpServer::new(move || {
        let (log, answers, refused) = (log.clone(), answers.clone(), refused.clone());
        App::new().route(
            "/payment-requests",
            web::post().to(move |req: HttpRequest, raw: web::Bytes| {
                let (log, answers, refused) = (log.clone(), answers.clone(), refused.clone());
                async move {
                    if !verified(&req, &raw) {
                        *refused.lock().unwrap() += 1;
                        return HttpResponse::Unauthorized().body("signature refused");
                    }
                    let body: Value = serde_json::from_slice(&raw).unwrap();
                    // Recorded on arrival, so a test can act while the answer is pending.
                    let key = req
                        .headers()
                        .get("idempotency-key")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    log.lock().unwrap().push((key, body));
                    tokio::time::sleep(delay).await;
                    let status = next_answer(&answers);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .body(format!("bureau says {status}"))
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    Bureau {
        address,
        received,
        unverified,
    }
}
