//! Learners sign in through the province's real-name identity provider, where one is configured:
//! OAuth 2.0's authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636). The access token the
//! provider issues for the gateway is the learner token the API takes, and is checked the same
//! way: its key, issuer, audience, expiry and role.

use super::page::{page, Lang};
use super::sign_in::{console_cookie, open_session_cookie};
use super::{same_secret, ConsoleError};
use crate::auth::Role;
use crate::config::IdpSignIn;
use crate::http::caller::Limiters;
use crate::service::Gateway;
use actix_web::cookie::{time::Duration, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use std::borrow::Cow;

/// The flow's state and PKCE verifier, between leaving for the provider and coming back.
const FLOW_COOKIE: &str = "gw_idp";
/// How long a visitor may take at the provider's sign-in page.
const FLOW_MINUTES: i64 = 10;

type ProviderClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The provider's endpoints and the gateway's client registration with it.
pub struct Provider {
    client: ProviderClient,
    http: reqwest::Client,
    /// Where browsers reach the gateway, if configured; else the request says.
    public_url: Option<String>,
}

impl Provider {
    pub fn new(settings: &IdpSignIn, public_url: Option<&str>) -> Result<Provider, String> {
        let mut client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_auth_uri(AuthUrl::new(settings.authorize_url.clone()).map_err(|e| e.to_string())?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone()).map_err(|e| e.to_string())?);
        if let Some(secret) = &settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        // The token endpoint must answer itself: following a redirect could hand the code on.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Provider {
            client,
            http,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
        })
    }

    /// Where the provider sends the browser back: registered with it as the redirect URI.
    /// Configured (`GATEWAY_PUBLIC_URL`, which the settings require with a provider); without
    /// it (tests, a gateway reached directly) the request's own `Host`, never the forwarded
    /// headers a client could add.
    fn redirect_uri(&self, req: &HttpRequest) -> Result<RedirectUrl, ConsoleError> {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let scheme = if req.app_config().secure() {
                    "https"
                } else {
                    "http"
                };
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_else(|| req.app_config().host());
                format!("{scheme}://{host}")
            }
        };
        RedirectUrl::new(format!("{base}/console/idp/callback")).map_err(|e| {
            tracing::error!(error = %e, "no redirect URI for the identity provider");
            ConsoleError::Refused {
                lang: Lang::of(req),
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "no redirect URI".into(),
            }
        })
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/idp", web::get().to(leave_for_provider))
        .route("/idp/callback", web::get().to(back_from_provider));
}

/// Whether learners can sign in through the provider here.
pub fn offered(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<Provider>>().is_some()
}

fn not_offered(lang: Lang) -> ConsoleError {
    ConsoleError::Refused {
        lang,
        status: StatusCode::NOT_FOUND,
        message: lang
            .t(
                "本网关未配置实名认证平台登录。",
                "Sign-in through the identity provider is not configured here.",
            )
            .to_owned(),
    }
}

/// Sends the browser to the provider's sign-in page with a fresh state and PKCE challenge,
/// which the browser keeps meanwhile.
async fn leave_for_provider(
    req: HttpRequest,
    provider: Option<web::Data<Provider>>,
) -> Result<HttpResponse, ConsoleError> {
    let provider = provider.ok_or_else(|| not_offered(Lang::of(&req)))?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect = provider.redirect_uri(&req)?;
    let (to, state) = provider
        .client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .set_redirect_uri(Cow::Owned(redirect))
        .url();
    let mut flow = console_cookie(
        &req,
        FLOW_COOKIE,
        format!("{}.{}", state.secret(), verifier.secret()),
    );
    // The provider sends the browser back from its own site: a Strict cookie would stay behind.
    flow.set_same_site(SameSite::Lax);
    flow.set_path("/console/idp");
    flow.set_max_age(Duration::minutes(FLOW_MINUTES));
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.as_str()))
        .finish();
    response.add_cookie(&flow).expect("a valid cookie");
    Ok(response)
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider's answer: the state must be the one this browser left with; the code is
/// exchanged with the PKCE verifier for a learner token, which opens a learner's session.
async fn back_from_provider(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    limiters: web::Data<Limiters>,
    provider: Option<web::Data<Provider>>,
    answer: web::Query<Callback>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = Lang::of(&req);
    let provider = provider.ok_or_else(|| not_offered(lang))?;
    let failed = |status: StatusCode, zh: &str, en: &str| ConsoleError::Refused {
        lang,
        status,
        message: lang.t(zh, en).to_owned(),
    };
    let flow = req.cookie(FLOW_COOKIE).map(|c| c.value().to_owned());
    let (state, verifier) = flow
        .as_deref()
        .and_then(|flow| flow.split_once('.'))
        .ok_or_else(|| {
            failed(
                StatusCode::BAD_REQUEST,
                "登录已超时或不是从本站发起的，请重新登录。",
                "This sign-in timed out or did not start here; sign in again.",
            )
        })?;
    if !answer
        .state
        .as_deref()
        .is_some_and(|given| same_secret(given, state))
    {
        // Another sign-in started since (a second tab), or a forged answer: start again.
        tracing::warn!("identity provider answer with a state this browser did not leave with");
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "此登录已失效（可能在另一个窗口中重新发起了登录），请重新登录。",
            "This sign-in is no longer valid (another may have started since); sign in again.",
        ));
    }
    if let Some(error) = &answer.error {
        tracing::info!(error = %error.chars().take(64).collect::<String>(), "identity provider refused the sign-in");
        return Err(failed(
            StatusCode::UNAUTHORIZED,
            "实名认证平台未完成登录。",
            "The identity provider did not sign you in.",
        ));
    }
    // Each answer costs a call to the provider: as limited as the token endpoint.
    limiters
        .check_token_address(&req)
        .map_err(ConsoleError::api(lang))?;
    let code = answer.code.clone().ok_or_else(|| {
        failed(
            StatusCode::BAD_REQUEST,
            "实名认证平台的回复缺少授权码。",
            "The identity provider's answer carried no code.",
        )
    })?;
    let token = provider
        .client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .set_redirect_uri(Cow::Owned(provider.redirect_uri(&req)?))
        .request_async(&provider.http)
        .await
        .map_err(|e| match e {
            // A code used already or expired (the back button): the visitor's to start again.
            RequestTokenError::ServerResponse(refusal) => {
                tracing::info!(error = %refusal.error(), "the identity provider refused the code");
                failed(
                    StatusCode::BAD_REQUEST,
                    "此登录已失效，请重新登录。",
                    "This sign-in is no longer valid; sign in again.",
                )
            }
            other => {
                tracing::warn!(error = %other, "the identity provider's token endpoint failed");
                failed(
                    StatusCode::BAD_GATEWAY,
                    "实名认证平台未能完成登录，请稍后重试。",
                    "The identity provider could not complete the sign-in; try again later.",
                )
            }
        })?;
    let principal = gateway
        .tokens()
        .verify(token.access_token().secret())
        .ok()
        .filter(|principal| principal.role == Role::Learner)
        .ok_or_else(|| {
            tracing::warn!("the identity provider's token is not a learner token of this gateway");
            failed(
                StatusCode::UNAUTHORIZED,
                "实名认证平台签发的凭证无效。",
                "The identity provider's token is not valid here.",
            )
        })?;
    let opened = super::run(&gateway, lang, move |g| {
        g.sign_in_learner(&principal.subject)
    })
    .await?;
    // The browser arrived from the provider's site: a redirect would carry on that cross-site
    // navigation, without the Strict session cookie. A refresh from this page is same-site.
    let mut response = page(
        lang,
        lang.t("已登录", "Signed in"),
        None,
        html! {
            p { a href="/console" { (lang.t("进入控制台", "Go to the console")) } }
        },
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("refresh"),
        header::HeaderValue::from_static("0; url=/console"),
    );
    open_session_cookie(&req, &mut response, opened);
    let mut spent = console_cookie(&req, FLOW_COOKIE, String::new());
    spent.set_path("/console/idp");
    spent.make_removal();
    response.add_cookie(&spent).expect("a valid cookie");
    Ok(response)
}
