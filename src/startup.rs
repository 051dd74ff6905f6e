//! Builds the server on a listener (port 0 in tests) around one [`Gateway`].

use crate::clock::Clock;
use crate::config::Settings;
use crate::http::caller::Limiters;
use crate::service::Gateway;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpMessage, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use std::net::TcpListener;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing_actix_web::{RequestId, TracingLogger};

pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` on its own address (`GATEWAY_METRICS_LISTEN`), and that port.
    metrics: Option<(u16, Server)>,
    gateway: web::Data<Gateway>,
    /// The loops beside the server (the outbox with its deliveries in flight, the gauges, the
    /// limiters' pruning): they run through the server's drain and are aborted once it has
    /// stopped, so a stopped gateway no longer leases deliveries another process should send.
    /// Dropping the set aborts them too.
    background: JoinSet<()>,
}

impl Application {
    /// Opens the database (migrating it), binds `listen` and prepares the server.
    pub fn build(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        listen: &str,
    ) -> anyhow::Result<Application> {
        let gateway = web::Data::new(Gateway::open(settings, clock)?);
        let listener = TcpListener::bind(listen)?;
        let port = listener.local_addr()?.port();
        let limiters = web::Data::from(Limiters::new(
            settings.limits,
            settings.trusted_proxies.clone(),
        ));
        let mut background = JoinSet::new();
        background.spawn(prune_limiters(limiters.clone().into_inner()));
        // The outbox gauges, every five seconds (a grouped count of a small table); the standing
        // of suspended, disabled and rotated accounts, twice a second.
        background.spawn(periodically(
            gateway.clone().into_inner(),
            std::time::Duration::from_secs(5),
            "counting the outbox",
            Gateway::refresh_outbox_metrics,
        ));
        background.spawn(periodically(
            gateway.clone().into_inner(),
            crate::service::standing::RELOAD_EVERY,
            "reloading account standing",
            Gateway::reload_standing,
        ));
        // Unmatched paths share one label, so random 404s cannot grow the series without bound.
        let prometheus = PrometheusMetricsBuilder::new("gateway")
            .registry(gateway.metrics().registry.clone())
            .mask_unmatched_patterns("UNMATCHED");
        let metrics_here = settings.metrics_listen.is_none();
        let console = crate::http::console::ConsoleSettings {
            secure_cookies: settings
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://")),
            provider: settings
                .idp
                .as_ref()
                .and_then(|idp| idp.sign_in.as_ref())
                .map(|sign_in| {
                    crate::http::console::provider::Provider::new(
                        sign_in,
                        settings.public_url.as_deref(),
                    )
                })
                .transpose()
                .map_err(|e| anyhow::anyhow!("the identity provider's sign-in: {e}"))?
                .map(web::Data::new),
        };
        let prometheus = if metrics_here {
            prometheus.endpoint("/metrics")
        } else {
            prometheus
        }
        .build()
        .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        let metrics_server = settings
            .metrics_listen
            .as_deref()
            .map(|address| metrics_server(gateway.metrics().registry.clone(), address))
            .transpose()?;
        let json_limit = settings.json_limit_bytes;
        let bureau = match settings.bureau.clone() {
            Some(bureau) => {
                let client = crate::outbox::client(&bureau)
                    .map_err(|e| anyhow::anyhow!("the bureau's TLS settings: {e}"))?;
                Some((bureau, client))
            }
            None => None,
        };
        let platforms = crate::outbox::platform_client(&settings.webhooks)
            .map_err(|e| anyhow::anyhow!("the webhook client: {e}"))?;
        background.spawn(crate::outbox::run(
            gateway.clone().into_inner(),
            crate::outbox::Targets {
                bureau,
                webhooks: settings.webhooks.clone(),
                platforms,
            },
        ));
        tracing::info!(
            port,
            database = ?settings.database_url,
            "gateway listening"
        );
        let shared = gateway.clone();
        let server = HttpServer::new(move || {
            crate::http::app(json_limit, metrics_here, console.clone())
                .app_data(gateway.clone())
                .app_data(limiters.clone())
                .wrap(actix_web::middleware::from_fn(request_id_header))
                .wrap(prometheus.clone())
                .wrap(actix_web::middleware::from_fn(standard_methods_only))
                .wrap(TracingLogger::default())
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            metrics: metrics_server,
            gateway: shared,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `/metrics` when it listens on its own address.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The use cases behind the server, for tools and tests that share its keys.
    pub fn gateway(&self) -> Arc<Gateway> {
        self.gateway.clone().into_inner()
    }

    /// The server's handle, for tests that stop a gateway in-process: `stop(true)` drains
    /// requests as SIGTERM does (without stopping the actix system).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM (or [`Self::handle`]'s stop), then drains in-flight
    /// requests and ends the loops beside the server.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(_, metrics)| {
            let handle = metrics.handle();
            tokio::spawn(metrics);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            // Nothing to drain: a scrape cut short is simply taken again.
            metrics.stop(false).await;
        }
        self.background.shutdown().await;
        served
    }
}

/// `/metrics` alone, on an address that need not face the internet.
fn metrics_server(registry: prometheus::Registry, listen: &str) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(listen)?;
    let port = listener.local_addr()?.port();
    tracing::info!(port, "metrics listening");
    let server = HttpServer::new(move || {
        let registry = registry.clone();
        actix_web::App::new().route(
            "/metrics",
            web::get().to(move || {
                let families = registry.gather();
                async move {
                    match prometheus::TextEncoder::new().encode_to_string(&families) {
                        Ok(text) => actix_web::HttpResponse::Ok()
                            .content_type(prometheus::TEXT_FORMAT)
                            .body(text),
                        Err(e) => {
                            tracing::error!(error = %e, "metrics could not be encoded");
                            actix_web::HttpResponse::InternalServerError().finish()
                        }
                    }
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}

/// Forgets, every half minute, the callers whose limits are full again.
async fn prune_limiters(limiters: Arc<Limiters>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        every.tick().await;
        limiters.prune();
    }
}

/// Runs `work` on the blocking pool every `period`, logging a failure and going on.
async fn periodically(
    gateway: Arc<Gateway>,
    period: std::time::Duration,
    what: &'static str,
    work: fn(&Gateway) -> Result<(), crate::service::ServiceError>,
) {
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        let working = Arc::clone(&gateway);
        match tokio::task::spawn_blocking(move || work(&working)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "{what} failed"),
            Err(e) => tracing::warn!(error = %e, "{what} panicked"),
        }
    }
}

/// Methods outside HTTP's standard ones are answered 405 before the metrics see them: the
/// method is a label, and made-up methods must not add series.
async fn standard_methods_only(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::http::Method;
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    if STANDARD.contains(req.method()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refusal = crate::http::problem::ApiError::MethodNotAllowed(
        "GET, HEAD, POST, PUT, PATCH, DELETE".into(),
    );
    Ok(req.error_response(refusal).map_into_right_body())
}

/// Echoes the request id of the log lines as `x-request-id`, so a client can quote it.
async fn request_id_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}
