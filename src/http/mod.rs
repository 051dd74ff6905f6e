//! HTTP: routes over the use cases, the caller extractor, and problem+json errors. One module
//! per resource, each with its `routes()`; `common` holds what they share.

mod bodies;
pub mod caller;
mod common;
mod completions;
pub mod console;
mod courses;
mod invoices;
mod oauth;
mod operations;
mod payers;
mod platforms;
pub mod problem;
mod progress;
mod tokens;
mod usage;
mod users;
mod vouchers;
mod webhooks;

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
    cfg.configure(tokens::routes)
        .configure(platforms::routes)
        .configure(users::routes)
        .configure(payers::routes)
        .configure(vouchers::routes)
        .configure(progress::routes)
        .configure(courses::routes)
        .configure(completions::routes)
        .configure(usage::routes)
        .configure(invoices::routes)
        .configure(operations::routes)
        .configure(webhooks::routes);
}

/// The OpenAPI document, built from the routes themselves.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut api = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1;
    document_errors(&mut api);
    api
}

/// Every operation can answer with a problem: errors are `application/problem+json`, and any
/// status an operation does not list (401, 413, 429, 503, …) is its `default` response. The
/// token endpoint's refusals (400, 401) are `application/json`, as RFC 6749 §5.2 says.
fn document_errors(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    const PROBLEM: &str = "application/problem+json";
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let oauth = operation.operation_id.as_deref() == Some("issue_token");
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                let problem = status.starts_with(['4', '5'])
                    && !(oauth && matches!(status.as_str(), "400" | "401"));
                if let (true, RefOr::T(response)) = (problem, response) {
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response.content.insert(PROBLEM.into(), content);
                    }
                }
            }
            responses.entry("default".into()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description("A problem: `code` is stable, `errors` lists every bad field.")
                        .content(
                            PROBLEM,
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .build(),
                )
            });
        }
    }
}

/// The documented methods of the route a path matches, for 405 answers with `Allow`.
fn methods_of(api: &utoipa::openapi::OpenApi, path: &str) -> Option<Vec<&'static str>> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    api.paths.paths.iter().find_map(|(template, item)| {
        let pattern: Vec<&str> = template.split('/').collect();
        let matches = pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()));
        matches.then(|| {
            [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter_map(|(method, present)| present.then_some(method))
            .collect()
        })
    })
}

/// The gateway's routes; the caller adds state and middleware. `metrics_here`: `/metrics` is
/// answered on this server (else it is a 404 here, served on its own address).
pub fn app(
    json_limit: usize,
    metrics_here: bool,
    console: console::ConsoleSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = Error,
        InitError = (),
    >,
> {
    let (app, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    document_errors(&mut api);
    let known = api.clone();
    let app = app
        .app_data(
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
        );
    // Answered by the Prometheus middleware; the route only keeps the request out of the 404s.
    let app = if metrics_here {
        app.route("/metrics", web::get().to(HttpResponse::Ok))
    } else {
        app
    };
    // The console's pages beside the API, on the same use cases.
    app.service(web::scope("/console").configure(|cfg| console::routes(cfg, console.clone())))
        .default_service(web::to(move |request: actix_web::HttpRequest| {
            let allowed = methods_of(&known, request.path());
            async move {
                Err::<HttpResponse, _>(match allowed {
                    Some(methods) => ApiError::MethodNotAllowed(methods.join(", ")),
                    None => ApiError::RouteNotFound,
                })
            }
        }))
}
