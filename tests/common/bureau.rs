//! A stand-in for the finance bureau's payment system on loopback.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stand-in for the bureau's payment system: answers from a script, records what it got.
pub struct Bureau {
    pub address: String,
    pub received: Arc<Mutex<Vec<(String, Value)>>>,
}

pub async fn bureau(script: Vec<u16>, delay: Duration) -> Bureau {
    let received = Arc::new(Mutex::new(vec![]));
    let script = Arc::new(Mutex::new(script));
    let (log, answers) = (received.clone(), script.clone());
    let server = HttpServer::new(move || {
        let (log, answers) = (log.clone(), answers.clone());
        App::new().route(
            "/payment-requests",
            web::post().to(move |req: HttpRequest, body: web::Json<Value>| {
                let (log, answers) = (log.clone(), answers.clone());
                async move {
                    // Recorded on arrival, so a test can act while the answer is pending.
                    let key = req
                        .headers()
                        .get("idempotency-key")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    log.lock().unwrap().push((key, body.into_inner()));
                    tokio::time::sleep(delay).await;
                    let status = {
                        let mut answers = answers.lock().unwrap();
                        if answers.len() > 1 {
                            answers.remove(0)
                        } else {
                            answers[0]
                        }
                    };
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
    Bureau { address, received }
}
