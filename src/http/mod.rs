//! HTTP: routes over the use cases, the caller extractor, and problem+json errors.

mod bodies;
pub mod caller;
mod handlers;
pub mod problem;

use crate::service::FieldError;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, Error, HttpResponse};
use problem::{ApiError, Problem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_actix_web::{service_config::ServiceConfig, AppExt};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Subsidy billing gateway",
        description = "Meters certified vocational-training completions against the province's limits, exactly.",
        version = "1.0.0"
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, FieldError))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

fn routes(cfg: &mut ServiceConfig) {
    use handlers::*;
    cfg.service(issue_token)
        .service(create_platform)
        .service(list_platforms)
        .service(get_platform)
        .service(update_platform)
        .service(create_user)
        .service(create_payer)
        .service(list_payers)
        .service(create_schedule)
        .service(list_schedules)
        .service(put_course)
        .service(list_courses)
        .service(get_course)
        .service(post_completions)
        .service(revoke_completion)
        .service(post_followup)
        .service(get_usage)
        .service(my_subsidy)
        .service(run_invoices)
        .service(list_invoices)
        .service(get_invoice)
        .service(issue_invoice)
        .service(approve_invoice)
        .service(reject_invoice)
        .service(mark_invoice_paid)
        .service(confirm_payment)
        .service(export_invoice_csv)
        .service(export_invoice_xlsx)
        .service(export_run_xlsx)
        .service(audit_events)
        .service(reconciliation)
        .service(healthz)
        .service(readyz);
}

/// The OpenAPI document, built from the routes themselves.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1
}

/// The gateway's routes; the caller adds state and middleware.
pub fn app(
    json_limit: usize,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = Error,
        InitError = (),
    >,
> {
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    app.app_data(
        web::JsonConfig::default()
            .limit(json_limit)
            .error_handler(problem::json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(problem::query_error))
    .app_data(web::PathConfig::default().error_handler(problem::path_error))
    .route(
        "/openapi.json",
        web::get().to(move || {
            let api = api.clone();
            async move { HttpResponse::Ok().json(api) }
        }),
    )
    // Answered by the Prometheus middleware; the route only keeps the request out of the 404s.
    .route("/metrics", web::get().to(HttpResponse::Ok))
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::RouteNotFound)
    }))
}
