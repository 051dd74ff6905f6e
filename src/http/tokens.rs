//! The token endpoint (OAuth 2.0 client credentials and password grants).

use super::bodies::*;
use super::caller::Limiters;
use super::common::*;
use super::oauth;
use super::problem::Problem;
use crate::service::access::TokenGrant;
use crate::service::Gateway;
use actix_web::{post, web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

/// Exchanges credentials for a token: JSON, or an OAuth 2.0 form (RFC 6749 §4.4, §4.3) with
/// the client authenticated by HTTP Basic or in the body. Refusals as RFC 6749 §5.2.
#[utoipa::path(tag = "auth",
    request_body(content(
        (TokenRequest = "application/json"),
        (TokenRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = TokenGrant), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 429, body = Problem)))]
#[post("/v1/auth/token")]
async fn issue_token(
    gateway: web::Data<Gateway>,
    limiters: web::Data<Limiters>,
    req: HttpRequest,
    body: web::Bytes,
) -> Answer {
    limiters.check_token_address(&req)?;
    let request = oauth::token_request(&req, &body)?;
    limiters.check_token_account(&request.credentials.account())?;
    let client = request.is_client();
    let grant = run(gateway, move |g| g.grant_token(request.credentials))
        .await
        .map_err(|e| oauth::refusal(client, e))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(grant))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(issue_token);
}
