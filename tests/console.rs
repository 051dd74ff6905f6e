//! The web console in a real browser: Debian's Chromium driven over WebDriver (chromedriver,
//! through the `fantoccini` crate) against the real server. Screenshots of each page go to
//! `target/console-screenshots/`.
//!
//! Without `/usr/bin/chromedriver` these tests say so and pass, unless `CONSOLE_BROWSER=required`
//! (as `.ci/run` sets, after installing Chromium): a check that cannot run must not pass there.

mod common;

use common::process::cli_print;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use subsidy_gateway::domain::money::in_figures;
use subsidy_gateway::domain::Money;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const JUNE_2022: &str = "2022-06-01T10:00:00+08:00";

/// A headless Chromium with its own driver and profile, gone when dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Stops the driver and every Chromium process of this profile: killing the driver alone
    /// leaves the browser it started running (a test run once left 1,300 behind).
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = Command::new("pkill")
            .args(["-9", "-f"])
            .arg(self._profile.path())
            .status();
    }
}

/// A desktop window, or a 360-pixel-wide phone screen.
#[derive(Clone, Copy, PartialEq)]
enum Screen {
    Desktop,
    Phone,
}

/// `None` (and a note) where the machine has no Chromium and the run does not require one.
async fn browser(screen: Screen) -> Option<Browser> {
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        assert_ne!(
            std::env::var("CONSOLE_BROWSER").as_deref(),
            Ok("required"),
            "CONSOLE_BROWSER=required but {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    let mut options = json!({
            "binary": "/usr/bin/chromium",
            // This machine has no internet: keep Chromium from reaching out at all.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--lang=zh-CN", format!("--user-data-dir={}", profile.path().display())],
            // Its users are Chinese: the pages' default language is what the tests read.
            "prefs": {"intl.accept_languages": "zh-CN,zh"}
    });
    if screen == Screen::Phone {
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2.0}});
    }
    capabilities.insert("goog:chromeOptions".into(), options);
    let url = format!("http://127.0.0.1:{port}");
    // The driver speaks plain HTTP on loopback; the client still wants a TLS provider chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let client = loop {
        let attempt = ClientBuilder::rustls()
            .expect("a TLS configuration")
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(client) => break client,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("chromedriver did not answer: {e}"),
        }
    };
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

impl Browser {
    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap(),
            Err(e) => panic!("{css}: {e}\n{}", self.client.source().await.unwrap()),
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn fill(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(value)
            .await
            .unwrap();
    }

    /// Clicks something that leaves the page, and waits until the next page has loaded (the
    /// old page's mark is gone and the new one is complete).
    async fn click(&self, css: &str) {
        self.client
            .execute("window.leaving = true", vec![])
            .await
            .unwrap();
        self.toggle(css).await;
        let started = Instant::now();
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.leaving === undefined && document.readyState === 'complete'",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(Value::Bool(true))) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{css}: no next page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks something on the page (it stays).
    async fn toggle(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// A screenshot under `target/console-screenshots/`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The session cookie's value, to call the console as this browser would.
    async fn session_cookie(&self) -> String {
        self.client
            .get_named_cookie("gw_session")
            .await
            .expect("signed in")
            .value()
            .to_owned()
    }

    /// Signs in with the tests' password; where the console went.
    async fn sign_in_as(&self, app: &TestApp, username: &str) -> String {
        self.sign_in(app, username, "correct horse battery").await;
        self.path().await
    }

    async fn sign_in(&self, app: &TestApp, username: &str, password: &str) {
        self.client.delete_all_cookies().await.unwrap();
        self.open(&format!("{}/console/sign-in", app.address)).await;
        self.fill("input[name=username]", username).await;
        self.fill("input[name=password]", password).await;
        self.click("form.stack button[type=submit]").await;
    }

    /// Drafts a period's invoices from the queue's "run a period" form.
    async fn run_period(&self, period: &str) {
        self.toggle("details summary").await;
        self.fill(
            "form[action='/console/invoice-runs'] input[name=period]",
            period,
        )
        .await;
        self.click("form[action='/console/invoice-runs'] button")
            .await;
    }

    /// Signs in through a link printed by `gateway login-link`.
    async fn follow_link(&self, app: &TestApp, args: &[&str]) {
        let base = ["login-link", "--base", app.address.as_str()];
        let link = cli_print(&app.db.access(), &[&base[..], args].concat());
        assert!(
            link.starts_with(&format!("{}/console/link?token=", app.address)),
            "{link}"
        );
        self.client.delete_all_cookies().await.unwrap();
        self.open(&link).await;
        self.click("form.stack button[type=submit]").await;
    }
}

/// An API amount as the pages write it.
fn yuan(amount: &Value) -> String {
    in_figures(Money::from_fen(fen(amount)))
}

async fn finance_user(app: &TestApp, username: &str) {
    let (code, body) = app
        .post(
            "/v1/users",
            app.admin(),
            json!({"username": username, "password": "correct horse battery", "role": "finance"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

/// Platform P's June: 30.00 junior and 20.00 intermediate for one learner, no follow-up.
async fn june(app: &TestApp) -> String {
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    app.course(&p, "I", "intermediate", 10).await;
    for (id, course) in [("a1", "C"), ("a3", "I")] {
        let (code, body) = app
            .post("/v1/completions", &p, event(id, course, 1, 10, JUNE_2022))
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    p
}

#[tokio::test]
async fn two_officers_run_issue_approve_and_pay_a_period() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    june(&app).await;
    finance_user(&app, "alice").await;
    finance_user(&app, "bob").await;

    // A wrong password: the form again, nothing more.
    browser.sign_in(&app, "alice", "wrong").await;
    assert_eq!(browser.path().await, "/console/sign-in");
    assert_eq!(browser.count(".error").await, 1);

    browser
        .sign_in(&app, "alice", "correct horse battery")
        .await;
    assert_eq!(browser.path().await, "/console/invoices");
    browser.screenshot("invoices-empty").await;
    browser.run_period("2022-06").await;
    assert_eq!(browser.path().await, "/console/invoices");
    assert_eq!(browser.count("tbody tr").await, 1, "one draft for P");
    browser.screenshot("invoices-drafts").await;
    browser.click("tbody tr td a").await;
    let invoice_path = browser.path().await;
    let id = invoice_path.rsplit('/').next().unwrap().to_owned();
    // 30.00 junior and 40.00 intermediate, halved: no learner went on to follow-up training.
    assert_eq!(browser.text("#amount").await, "¥35.00");
    browser.click("button[value=issue]").await;
    assert!(browser.text("#status").await.contains("已开具"));
    // The issuer is offered no approval, and told why.
    assert_eq!(browser.count("button[value=approve]").await, 0);
    assert!(browser
        .text("#why-not-approve")
        .await
        .contains("须由另一位财务人员审批"));
    assert_eq!(browser.count("button[value=reject]").await, 1);
    browser.screenshot("invoice-issued").await;

    browser.sign_in(&app, "bob", "correct horse battery").await;
    browser
        .open(&format!("{}{invoice_path}", app.address))
        .await;
    browser.click("button[value=approve]").await;
    assert!(browser.text("#status").await.contains("已审批"));
    browser
        .fill("input[name=reference]", "BANK-2022-0001")
        .await;
    browser.click("button[value=mark_paid]").await;
    assert!(browser.text("#status").await.contains("已支付"));
    browser.screenshot("invoice-paid").await;

    // The approval slip: the amount in figures and in capitals, who issued and approved it.
    browser.click("a[href$='/slip']").await;
    assert_eq!(browser.text("#figures").await, "¥35.00");
    assert_eq!(browser.text("#capitals").await, "人民币叁拾伍元整");
    let slip = browser.client.source().await.unwrap();
    assert!(slip.contains("finance:alice") && slip.contains("finance:bob"));
    browser.screenshot("approval-slip").await;

    // The same page in English, by the switch.
    browser.click("a[href='/console/lang?to=en']").await;
    assert_eq!(browser.text("h1").await, "Training subsidy approval slip");

    // The API agrees, and the CSV the page links to carries the invoice's amount.
    let finance = app.token("finance", "carol", None);
    let (_, api) = app.get(&format!("/v1/invoices/{id}"), &finance).await;
    assert_eq!(api["status"], "paid");
    assert_eq!(api["approved_by"], "finance:bob");
    let csv = app
        .client
        .get(format!("{}/console/invoices/{id}/export.csv", app.address))
        .header(
            "Cookie",
            format!("gw_session={}", browser.session_cookie().await),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert!(text.lines().any(|line| line == "amount,35.00,,"), "{text}");
    app.assert_books_clean().await;
}

#[tokio::test]
async fn a_platform_sees_the_figures_of_its_usage() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    let p = june(&app).await;
    browser
        .follow_link(&app, &["--role", "platform", "--platform", "P"])
        .await;
    assert_eq!(browser.path().await, "/console/platform");
    let usage = app.usage(&p, "").await;
    assert_eq!(browser.text("#granted").await, yuan(&usage["granted"]));
    assert_eq!(browser.text("#payable").await, yuan(&usage["payable"]));
    assert_eq!(
        browser.text("#learners").await,
        usage["learners"].to_string()
    );
    // Every grant was certified in June: the month's bar carries them all.
    assert_eq!(
        browser.count("svg.chart rect").await,
        12,
        "December to November"
    );
    let source = browser.client.source().await.unwrap();
    assert!(
        source.contains(&format!("2022-06: {}", yuan(&usage["granted"]))),
        "{source}"
    );
    browser.screenshot("platform-dashboard").await;
    // Completions found by event id, and by the learner's masked ID number.
    browser.fill("input[name=q]", "a3").await;
    browser.click("form[role=search] button").await;
    assert_eq!(browser.count("#found tbody tr").await, 1);
    assert_eq!(browser.text("#found tbody td").await, "a3");
    browser
        .open(&format!("{}/console/platform", app.address))
        .await;
    let masked = format!("{}********{}", &id_number(1)[..6], &id_number(1)[14..]);
    browser.fill("input[name=q]", &masked).await;
    browser.click("form[role=search] button").await;
    assert_eq!(
        browser.count("#found tbody tr").await,
        2,
        "both of the learner's"
    );
    browser
        .open(&format!("{}/console/platform?q=nobody", app.address))
        .await;
    assert_eq!(browser.count("#found-none").await, 1);
}

#[tokio::test]
async fn a_learner_reads_the_balance_on_a_phone() {
    let Some(browser) = browser(Screen::Phone).await else {
        return;
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    june(&app).await;
    let learner = id_number(1);
    browser
        .follow_link(&app, &["--role", "learner", "--sub", &learner])
        .await;
    assert_eq!(
        browser.path().await,
        "/console/me",
        "{}",
        browser.client.source().await.unwrap()
    );
    let (_, subsidy) = app
        .get("/v1/me/subsidy", &app.token("learner", &learner, None))
        .await;
    assert_eq!(
        browser.text("#remaining").await,
        format!("剩余 {}", yuan(&subsidy["remaining"]))
    );
    let width = browser
        .client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        width.as_u64().unwrap() <= 360,
        "no sideways scrolling: {width}"
    );
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains(&learner),
        "the ID number is shown masked only"
    );
    // Nor is it kept: the session and the link name the learner by the keyed hash.
    let store = app.db.open_store().unwrap();
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        subject: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        display: String,
    }
    let stored: Vec<Stored> = store
        .read(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(
                "SELECT subject, display FROM console_sessions \
                 UNION ALL SELECT subject, display FROM console_links",
            )
            .load(conn)
            .map_err(subsidy_gateway::store::StoreError::from)
        })
        .unwrap();
    assert!(!stored.is_empty());
    for row in &stored {
        assert!(!row.subject.contains(&learner[6..14]), "{}", row.subject);
        assert!(row.display.contains("********"), "{}", row.display);
    }
    browser.screenshot("learner-phone").await;
}

#[tokio::test]
async fn forms_need_their_token_and_sessions_end() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    finance_user(&app, "alice").await;
    browser
        .sign_in(&app, "alice", "correct horse battery")
        .await;
    let session = browser.session_cookie().await;

    // A form posted without its CSRF token (as another site's page would) is refused.
    let forged = app
        .client
        .post(format!("{}/console/invoice-runs", app.address))
        .header("Cookie", format!("gw_session={session}"))
        .form(&[("payer", "province"), ("period", "2022-06")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::BAD_REQUEST,
        "no csrf field at all"
    );
    let forged = app
        .client
        .post(format!("{}/console/invoice-runs", app.address))
        .header("Cookie", format!("gw_session={session}"))
        .form(&[
            ("csrf", "guess"),
            ("payer", "province"),
            ("period", "2022-06"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, invoices) = app.get("/v1/invoices", app.admin()).await;
    assert_eq!(invoices["items"], json!([]), "nothing was run");

    // A sign-in link's button posts the token its page set; posted from elsewhere, it is refused
    // (no one signs a visitor into their own account) and the link is not spent.
    let link = cli_print(
        &app.db.access(),
        &[
            "login-link",
            "--role",
            "admin",
            "--sub",
            "ops",
            "--base",
            &app.address,
        ],
    );
    let token = link.split("token=").nth(1).unwrap();
    let forged = app
        .client
        .post(format!("{}/console/link", app.address))
        .form(&[("csrf", "guess"), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Pages send a policy that allows no script and nothing from elsewhere.
    let page = app
        .client
        .get(format!("{}/console/invoices", app.address))
        .header("Cookie", format!("gw_session={session}"))
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");

    // An expired session returns to sign-in.
    let store = app.db.open_store().unwrap();
    store
        .write(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE console_sessions SET expires_at = created_at")
                .execute(conn)?;
            Ok::<_, subsidy_gateway::store::StoreError>(())
        })
        .unwrap();
    browser
        .open(&format!("{}/console/invoices", app.address))
        .await;
    assert_eq!(browser.path().await, "/console/sign-in");

    // Signing out ends the session: its cookie opens nothing any more.
    browser
        .sign_in(&app, "alice", "correct horse battery")
        .await;
    let session = browser.session_cookie().await;
    browser.click("header form button").await;
    assert_eq!(browser.path().await, "/console/sign-in");
    let after = app
        .client
        .get(format!("{}/console/invoices", app.address))
        .header("Cookie", format!("gw_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.url().path(),
        "/console/sign-in",
        "redirected to sign in"
    );
    browser.screenshot("sign-in").await;
}

#[tokio::test]
async fn several_invoices_are_issued_at_once_each_on_its_own() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    june(&app).await;
    let q = app.platform("Q").await;
    app.course(&q, "S", "senior", 10).await;
    app.post("/v1/completions", &q, event("q1", "S", 2, 10, JUNE_2022))
        .await;
    finance_user(&app, "alice").await;
    browser
        .sign_in(&app, "alice", "correct horse battery")
        .await;
    browser.run_period("2022-06").await;
    assert_eq!(browser.count("tbody input[type=checkbox]").await, 2);
    browser
        .toggle("tbody tr:nth-child(1) input[type=checkbox]")
        .await;
    browser
        .toggle("tbody tr:nth-child(2) input[type=checkbox]")
        .await;
    browser
        .click("form[action='/console/invoices/bulk'] button[type=submit]")
        .await;
    assert_eq!(browser.count("li .status.issued").await, 2, "both issued");
    // Approving them in bulk as their issuer: each refused on its own, nothing approved.
    browser
        .open(&format!("{}/console/invoices?status=issued", app.address))
        .await;
    browser
        .toggle("tbody tr:nth-child(1) input[type=checkbox]")
        .await;
    browser
        .toggle("tbody tr:nth-child(2) input[type=checkbox]")
        .await;
    let select = browser
        .client
        .find(Locator::Css("select[name=action]"))
        .await
        .unwrap();
    select.select_by_value("approve").await.unwrap();
    browser
        .click("form[action='/console/invoices/bulk'] button[type=submit]")
        .await;
    assert_eq!(browser.count("li .refusal").await, 2);
    assert!(browser
        .text("li .refusal")
        .await
        .contains("separation_of_duties"));
    browser.screenshot("bulk-refused").await;
    let (_, issued) = app.get("/v1/invoices?status=issued", app.admin()).await;
    assert_eq!(issued["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_admin_registers_a_platform_and_reads_the_books() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::at("2022-07-02T10:00:00+08:00").await;
    june(&app).await;
    browser
        .follow_link(&app, &["--role", "admin", "--sub", "ops"])
        .await;
    assert_eq!(browser.path().await, "/console/platforms");
    browser.fill("form.stack input[name=code]", "r").await;
    browser
        .fill("form.stack input[name=name]", "Platform R")
        .await;
    browser.click("form.stack button[type=submit]").await;
    // The secret, shown once, lets the platform get a token.
    let secret = browser.text("#secret").await;
    let (_, platform) = app.get("/v1/platforms/r", app.admin()).await;
    let token = app
        .client
        .post(format!("{}/v1/auth/token", app.address))
        .json(&json!({"grant_type": "client_credentials",
            "client_id": platform["client_id"], "client_secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    browser.screenshot("admin-platforms").await;
    browser
        .open(&format!("{}/console/platforms", app.address))
        .await;
    assert!(
        !browser.client.source().await.unwrap().contains(&secret),
        "shown once"
    );
    browser
        .click("form[action='/console/platforms/r'] button[value=suspend]")
        .await;
    let (_, platform) = app.get("/v1/platforms/r", app.admin()).await;
    assert_eq!(platform["status"], "suspended");

    browser
        .open(&format!("{}/console/users", app.address))
        .await;
    browser
        .fill("form.stack input[name=username]", "carol")
        .await;
    browser
        .fill("form.stack input[name=password]", "correct horse battery")
        .await;
    browser.click("form.stack button[type=submit]").await;
    let (_, users) = app.get("/v1/users", app.admin()).await;
    assert_eq!(users[0]["username"], "carol");

    // Platform staff with a password of their own: P's dashboard, through the console and
    // through the token endpoint's password grant.
    browser
        .open(&format!("{}/console/users", app.address))
        .await;
    browser.fill("form.stack input[name=username]", "pat").await;
    browser
        .fill("form.stack input[name=password]", "correct horse battery")
        .await;
    browser
        .client
        .find(Locator::Css("form.stack select[name=role]"))
        .await
        .unwrap()
        .select_by_value("platform")
        .await
        .unwrap();
    browser.fill("form.stack input[name=platform]", "P").await;
    browser.click("form.stack button[type=submit]").await;
    let grant = app
        .client
        .post(format!("{}/v1/auth/token", app.address))
        .json(&json!({"grant_type": "password", "username": "pat",
            "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), StatusCode::OK);
    let token: Value = grant.json().await.unwrap();
    let usage = app.usage(token["access_token"].as_str().unwrap(), "").await;
    assert_eq!(usage["platform"], "P");
    let staff = Browser::sign_in_as(&browser, &app, "pat").await;
    assert_eq!(staff, "/console/platform");
    assert_eq!(browser.text("#granted").await, yuan(&usage["granted"]));
    // Disabled, their session ends at once (within the standing's half-second reload).
    app.patch("/v1/users/pat", app.admin(), json!({"status": "disabled"}))
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    browser
        .open(&format!("{}/console/platform", app.address))
        .await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser
        .follow_link(&app, &["--role", "admin", "--sub", "ops"])
        .await;

    browser
        .open(&format!("{}/console/reconciliation", app.address))
        .await;
    assert_eq!(browser.count("#verdict .status.clean").await, 1);
    browser.screenshot("reconciliation").await;
    browser
        .open(&format!("{}/console/progress", app.address))
        .await;
    browser
        .click("form[action='/console/targets/2022'] button")
        .await;
    let (_, progress) = app.get("/v1/progress?year=2022", app.admin()).await;
    let taiyuan = progress
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["city_code"] == "1401")
        .unwrap()
        .clone();
    assert_eq!(taiyuan["trainees_target"], 35000, "附件1 loaded");
    assert!(browser.text("tbody").await.contains("太原市"));

    // A new rate version, started from the newest: the page says what it changes.
    browser
        .open(&format!("{}/console/payers", app.address))
        .await;
    browser.toggle("section.payer details summary").await;
    let cap = browser
        .client
        .find(Locator::Css("input[name=learner_annual_cap]"))
        .await
        .unwrap();
    cap.clear().await.unwrap();
    cap.send_keys("400.00").await.unwrap();
    browser
        .click("form[action='/console/rate-schedules'] button")
        .await;
    let changes = browser.text("ul.changes").await;
    assert!(changes.contains("300.00 → 400.00"), "{changes}");
    browser.screenshot("admin-rates").await;
    let (_, schedules) = app
        .get("/v1/rate-schedules?payer=province", app.admin())
        .await;
    assert_eq!(schedules.as_array().unwrap().len(), 2);
    // Finance pages are not an admin's to act on, and a learner's page is not theirs at all.
    browser.open(&format!("{}/console/me", app.address)).await;
    assert_eq!(browser.count("p.error").await, 1);
}

/// A learner token as the identity provider signs it.
fn provider_token(learner: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": learner, "role": "learner", "iss": "shanxi-idp",
        "aud": "subsidy-gateway", "exp": now + 600, "iat": now});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(
            include_str!("fixtures/idp-test-private.pem").as_bytes(),
        )
        .unwrap(),
    )
    .unwrap()
}

/// The province's identity provider, as far as a sign-in needs it, at `http://localhost:…`
/// (another site than the gateway's `127.0.0.1`, as a real one is). Its authorize endpoint signs
/// the visitor in as `learner` at once and sends the browser back with a code; its token
/// endpoint gives that code, sent once with the verifier of its PKCE challenge and the same
/// redirect URI, a learner token signed with the provider's key.
async fn identity_provider(learner: String) -> String {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use base64::Engine;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// A code handed out: its PKCE challenge and redirect URI.
    type Codes = Arc<Mutex<HashMap<String, (String, String)>>>;
    let codes: Codes = Arc::default();
    let server = HttpServer::new(move || {
        let learner = learner.clone();
        App::new()
            .app_data(web::Data::new(codes.clone()))
            .route(
                "/authorize",
                web::get().to(
                    |codes: web::Data<Codes>, q: web::Query<HashMap<String, String>>| async move {
                        assert_eq!(q["response_type"], "code");
                        assert_eq!(q["client_id"], "subsidy-gateway-console");
                        assert_eq!(q["code_challenge_method"], "S256");
                        let code = format!("code-{}", codes.lock().unwrap().len());
                        codes.lock().unwrap().insert(
                            code.clone(),
                            (q["code_challenge"].clone(), q["redirect_uri"].clone()),
                        );
                        let back =
                            format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
                        HttpResponse::Found()
                            .insert_header(("Location", back))
                            .finish()
                    },
                ),
            )
            .route(
                "/token",
                web::post().to(
                    move |codes: web::Data<Codes>, form: web::Form<HashMap<String, String>>| {
                        let learner = learner.clone();
                        async move {
                            let given = codes.lock().unwrap().remove(&form["code"]);
                            let verified = given.is_some_and(|(challenge, redirect)| {
                                let digest = Sha256::digest(form["code_verifier"].as_bytes());
                                form["grant_type"] == "authorization_code"
                                    && redirect == form["redirect_uri"]
                                    && base64::engine::general_purpose::URL_SAFE_NO_PAD
                                        .encode(digest)
                                        == challenge
                            });
                            if !verified {
                                return HttpResponse::BadRequest()
                                    .json(json!({"error": "invalid_grant"}));
                            }
                            HttpResponse::Ok()
                                .json(json!({"access_token": provider_token(&learner),
                                "token_type": "Bearer", "expires_in": 600}))
                        }
                    },
                ),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    format!("http://localhost:{port}")
}

#[tokio::test]
async fn a_learner_signs_in_through_the_identity_provider() {
    let learner = id_number(1);
    let provider = identity_provider(learner.clone()).await;
    let app = TestApp::with("2022-07-02T10:00:00+08:00", |settings| {
        settings.idp = Some(subsidy_gateway::config::IdpSettings {
            public_key_pem: include_str!("fixtures/idp-test-public.pem").to_owned(),
            issuer: "shanxi-idp".into(),
            sign_in: Some(subsidy_gateway::config::IdpSignIn {
                authorize_url: format!("{provider}/authorize"),
                token_url: format!("{provider}/token"),
                client_id: "subsidy-gateway-console".into(),
                client_secret: None,
            }),
        });
    })
    .await;
    june(&app).await;

    // An answer this browser did not leave for is refused, and opens no session.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = format!("{}/console/idp/callback", app.address);
    let answer = |query: &'static str, flow: Option<&'static str>| {
        let mut request = plain.get(format!("{callback}?{query}"));
        if let Some(flow) = flow {
            request = request.header("Cookie", format!("gw_idp={flow}"));
        }
        request.send()
    };
    let no_flow = answer("code=code-0&state=s", None).await.unwrap();
    assert_eq!(no_flow.status(), StatusCode::BAD_REQUEST);
    let other_state = answer("code=code-0&state=theirs", Some("mine.verifier"))
        .await
        .unwrap();
    assert_eq!(other_state.status(), StatusCode::BAD_REQUEST);
    // A code the provider never issued (or one used already): refused by its token endpoint.
    let unknown_code = answer("code=never-issued&state=mine", Some("mine.verifier"))
        .await
        .unwrap();
    assert_eq!(unknown_code.status(), StatusCode::BAD_REQUEST);
    let declined = answer("error=access_denied&state=mine", Some("mine.verifier"))
        .await
        .unwrap();
    assert_eq!(declined.status(), StatusCode::UNAUTHORIZED);
    for refused in [no_flow, other_state, unknown_code, declined] {
        assert!(refused
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("gw_session=")));
    }

    let Some(browser) = browser(Screen::Phone).await else {
        return;
    };
    browser
        .open(&format!("{}/console/sign-in", app.address))
        .await;
    browser.click("a.button[href='/console/idp']").await;
    // Out to the provider and back, then a refresh from the gateway's own page.
    let started = Instant::now();
    let arrived =
        "return location.pathname === '/console/me' && document.readyState === 'complete'";
    while browser.client.execute(arrived, vec![]).await.ok() != Some(Value::Bool(true)) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not signed in: {}",
            browser.client.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, subsidy) = app.get("/v1/me/subsidy", &provider_token(&learner)).await;
    assert_eq!(code, StatusCode::OK, "{subsidy}");
    assert_eq!(
        browser.text("#remaining").await,
        format!("剩余 {}", yuan(&subsidy["remaining"]))
    );
    assert!(!browser.client.source().await.unwrap().contains(&learner));
    assert!(
        browser.client.get_named_cookie("gw_idp").await.is_err(),
        "the flow's cookie is spent"
    );
    browser.screenshot("learner-identity-provider").await;
}

/// A platform's endpoint that takes every message (`204`), counting them.
async fn receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { HttpResponse::NoContent().finish() }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/hooks"), received)
}

#[tokio::test]
async fn platform_staff_run_their_webhooks_and_change_their_password() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::with(JUNE_2022, |settings| {
        settings.webhooks.allow_insecure = true;
        settings.webhooks.poll_ms = 50;
    })
    .await;
    app.platform("P").await;
    let (code, body) = app
        .post(
            "/v1/users",
            app.admin(),
            json!({"username": "pat", "role": "platform", "platform": "P",
                "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(browser.sign_in_as(&app, "pat").await, "/console/platform");

    // An endpoint registered: its secret shown once; a test message delivered to it.
    let (url, received) = receiver().await;
    browser
        .open(&format!("{}/console/webhooks", app.address))
        .await;
    browser.fill("form.stack input[name=url]", &url).await;
    browser
        .toggle("form.stack input[value='invoice.approved']")
        .await;
    browser.click("form.stack button[type=submit]").await;
    assert!(browser.text("#secret").await.starts_with("whsec_"));
    browser.screenshot("platform-webhooks").await;
    browser
        .click("form[action$='/test'] button:not([formaction])")
        .await;
    browser.click("td a[href^='/console/webhooks/']").await;
    let started = Instant::now();
    while browser.count("tbody .status.delivered").await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not delivered: {}",
            browser.client.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        browser.client.refresh().await.unwrap();
    }
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(browser.text("td.num").await, "1", "one attempt");
    assert_eq!(browser.count("tbody .status.succeeded").await, 1);
    // Another platform's endpoint is not theirs to see.
    let other = app.platform("Q").await;
    let (code, theirs) = app
        .post(
            "/v1/webhook-endpoints",
            &other,
            json!({"url": url, "event_types": ["invoice.paid"]}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{theirs}");
    browser
        .open(&format!(
            "{}/console/webhooks/{}",
            app.address,
            theirs["id"].as_str().unwrap()
        ))
        .await;
    assert!(browser.text("p.error").await.contains("not_found"));

    // Their password: the current one must be right, the new one typed twice alike.
    browser
        .open(&format!("{}/console/password", app.address))
        .await;
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let browser = &browser;
        async move {
            browser.fill("input[name=current_password]", current).await;
            browser.fill("input[name=password]", new).await;
            browser.fill("input[name=repeated]", again).await;
            browser.click("form.stack button[type=submit]").await;
        }
    };
    change(
        "not my password",
        "a longer new secret",
        "a longer new secret",
    )
    .await;
    assert_eq!(browser.text("p.error").await, "当前密码不正确。");
    change(
        "correct horse battery",
        "a longer new secret",
        "another one entirely",
    )
    .await;
    assert_eq!(browser.text("p.error").await, "两次输入的新密码不一致。");
    change(
        "correct horse battery",
        "a longer new secret",
        "a longer new secret",
    )
    .await;
    // Every session of the account ended with the change, this one too.
    assert_eq!(browser.path().await, "/console/sign-in");
    assert_eq!(
        browser.text("p.notice").await,
        "密码已修改，请用新密码登录。"
    );
    browser.sign_in(&app, "pat", "correct horse battery").await;
    assert_eq!(
        browser.path().await,
        "/console/sign-in",
        "the old one fails"
    );
    browser.sign_in(&app, "pat", "a longer new secret").await;
    assert_eq!(browser.path().await, "/console/platform");
}

#[tokio::test]
async fn admins_page_through_vouchers_cancel_one_and_read_the_audit_trail() {
    let Some(browser) = browser(Screen::Desktop).await else {
        return;
    };
    let app = TestApp::at(JUNE_2022).await;
    // 101 vouchers: one more than a page.
    let vouchers: Vec<Value> = (0..101)
        .map(|n| {
            json!({"code": format!("V{n:03}"), "payer": "province", "id_number": id_number(n + 1),
                "valid_from": "2022-06-01T00:00:00+08:00", "valid_until": "2022-12-31T23:59:59+08:00"})
        })
        .collect();
    let (code, body) = app
        .post("/v1/vouchers", app.admin(), json!({"vouchers": vouchers}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    browser
        .follow_link(&app, &["--role", "admin", "--sub", "ops"])
        .await;
    browser
        .open(&format!("{}/console/vouchers", app.address))
        .await;
    assert_eq!(browser.count("tbody tr").await, 100);
    assert!(
        !browser
            .client
            .source()
            .await
            .unwrap()
            .contains(&id_number(1)),
        "masked"
    );
    browser.click("nav.pager a[rel=next]").await;
    assert_eq!(browser.count("tbody tr").await, 1);
    assert_eq!(browser.text("tbody td").await, "V100");
    browser.click("nav.pager a").await;
    assert_eq!(browser.count("tbody tr").await, 100);

    // One issued by hand, then cancelled.
    browser.fill("form.stack input[name=code]", "W1/2").await;
    browser
        .fill("form.stack input[name=payer]", "province")
        .await;
    browser
        .fill("form.stack input[name=id_number]", &id_number(7))
        .await;
    for (field, value) in [
        ("valid_from", "2022-06-01T00:00"),
        ("valid_until", "2022-12-31T23:59"),
    ] {
        // A date-time field takes its value from script more surely than from key strokes.
        browser
            .client
            .execute(
                &format!("document.querySelector('input[name={field}]').value = '{value}'"),
                vec![],
            )
            .await
            .unwrap();
    }
    browser.click("form.stack button[type=submit]").await;
    let (_, hand) = app
        .get("/v1/vouchers?status=issued&after=V100", app.admin())
        .await;
    assert_eq!(hand["items"][0]["code"], "W1/2", "{hand}");
    // Read as China Standard Time, to the minute's last second at the end.
    assert_eq!(hand["items"][0]["valid_from"], "2022-05-31T16:00:00Z");
    assert_eq!(hand["items"][0]["valid_until"], "2022-12-31T15:59:59Z");
    browser
        .open(&format!(
            "{}/console/vouchers?status=issued&after=V100",
            app.address
        ))
        .await;
    browser
        .click("form[action='/console/vouchers/W1%2F2/cancel'] button")
        .await;
    let (_, cancelled) = app.get("/v1/vouchers?status=cancelled", app.admin()).await;
    assert_eq!(cancelled["items"][0]["code"], "W1/2", "{cancelled}");
    browser.screenshot("admin-vouchers").await;

    // The trail as a whole, newest first, completions' recordings among the changes; then
    // filtered to that voucher.
    let p = app.platform("P").await;
    app.course(&p, "C", "junior", 10).await;
    let (code, body) = app
        .post("/v1/completions", &p, event("e1", "C", 1, 10, JUNE_2022))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    browser
        .open(&format!("{}/console/audit", app.address))
        .await;
    let actions = browser
        .client
        .execute(
            "return [...document.querySelectorAll('tbody tr td:nth-child(3)')].map(td => td.textContent)",
            vec![],
        )
        .await
        .unwrap();
    let actions: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "completion.recorded", "{actions:?}");
    let cancelled = actions.iter().position(|a| *a == "voucher.cancelled");
    let issued = actions.iter().position(|a| *a == "voucher.issued");
    assert!(cancelled.is_some() && cancelled < issued, "{actions:?}");
    browser.screenshot("audit-trail").await;
    browser
        .open(&format!(
            "{}/console/audit?object_type=voucher&object_id=W1%2F2",
            app.address
        ))
        .await;
    assert_eq!(browser.count("tbody tr").await, 2, "issued, then cancelled");
    let trail = browser.text("tbody").await;
    assert!(trail.contains("voucher.issued"), "{trail}");
    assert!(trail.contains("admin:ops"), "{trail}");

    // Vouchers are the admins'; the trail is staff's.
    browser
        .follow_link(&app, &["--role", "finance", "--sub", "fin"])
        .await;
    browser
        .open(&format!("{}/console/vouchers", app.address))
        .await;
    assert_eq!(browser.text("p.error").await, "此页面不对您的角色开放。");
    browser
        .follow_link(&app, &["--role", "learner", "--sub", &id_number(1)])
        .await;
    browser
        .open(&format!("{}/console/audit", app.address))
        .await;
    assert_eq!(browser.text("p.error").await, "此页面不对您的角色开放。");
}
