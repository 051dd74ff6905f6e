//! Limits hold exactly under concurrent requests, in one process.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_exactly_under_64_concurrent_requests() {
    let app = TestApp::at("2022-12-15T10:00:00+08:00").await;
    let addresses = vec![app.address.clone()];
    let mint = |code: &str| app.token("platform", &format!("test:{code}"), Some(code));
    limits_hold_under_concurrency(
        &app.client,
        &addresses,
        app.admin(),
        &mint,
        "2022-06-01T10:00:00+08:00",
        2022,
        64,
        32,
    )
    .await;
    app.assert_books_clean().await;
}
