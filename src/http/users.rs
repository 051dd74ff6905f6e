//! Staff users and their passwords.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::Problem;
use crate::auth::Role;
use crate::service::admin::UserView;
use crate::service::audit::actor;
use crate::service::Gateway;
use actix_web::{get, patch, post, put, web, HttpRequest, HttpResponse};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;

#[utoipa::path(tag = "admin", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 409, body = Problem)))]
#[post("/v1/users")]
async fn create_user(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Created().json(run(gateway, move |g| g.create_user(&actor, &body)).await?))
}

/// Staff users by username, a page at a time.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(Paging), responses((status = 200, body = Vec<UserView>)))]
#[get("/v1/users")]
async fn list_users(
    gateway: web::Data<Gateway>,
    caller: Caller,
    req: HttpRequest,
    paging: web::Query<Paging>,
) -> Answer {
    caller.require(&[Role::Admin])?;
    let page = paging.cursor();
    let items = run(gateway, move |g| g.list_users(&page)).await?;
    Ok(paged(&req, &paging, items, |u| u.username.clone()))
}

/// Disables or re-enables a staff user; their tokens stop working within a second.
#[utoipa::path(tag = "admin", request_body = UserStatusChange, security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 404, body = Problem)))]
#[patch("/v1/users/{username}")]
async fn update_user(
    gateway: web::Data<Gateway>,
    caller: Caller,
    username: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.update_user(&actor, &username, &body)).await?))
}

/// Sets a password: an admin for any user, a user for themselves with `current_password`.
/// The user's other tokens stop working.
#[utoipa::path(tag = "admin", request_body = PasswordChange, security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/v1/users/{username}/password")]
async fn change_password(
    gateway: web::Data<Gateway>,
    caller: Caller,
    username: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let principal = caller.require(STAFF)?.clone();
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.change_password(&principal, &username, &body)
        })
        .await?,
    ))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_user)
        .service(list_users)
        .service(update_user)
        .service(change_password);
}
