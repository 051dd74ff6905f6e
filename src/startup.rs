//! Builds the server on a listener (port 0 in tests) around one [`Gateway`].

use crate::clock::Clock;
use crate::config::Settings;
use crate::http::caller::Limiters;
use crate::service::Gateway;
use actix_web::dev::Server;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpMessage, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::{RequestId, TracingLogger};

pub struct Application {
    port: u16,
    server: Server,
    gateway: web::Data<Gateway>,
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
        let limiters = web::Data::from(Limiters::new(settings.limits));
        let prometheus = PrometheusMetricsBuilder::new("gateway")
            .registry(gateway.metrics().registry.clone())
            .endpoint("/metrics")
            .build()
            .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        let json_limit = settings.json_limit_bytes;
        if let Some(bureau) = settings.bureau.clone() {
            tokio::spawn(crate::outbox::run(gateway.clone().into_inner(), bureau));
        }
        tracing::info!(
            port,
            database = ?settings.database_url,
            "gateway listening"
        );
        let shared = gateway.clone();
        let server = HttpServer::new(move || {
            crate::http::app(json_limit)
                .app_data(gateway.clone())
                .app_data(limiters.clone())
                .wrap(actix_web::middleware::from_fn(request_id_header))
                .wrap(prometheus.clone())
                .wrap(TracingLogger::default())
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            gateway: shared,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The use cases behind the server, for tools and tests that share its keys.
    pub fn gateway(&self) -> Arc<Gateway> {
        self.gateway.clone().into_inner()
    }

    /// Serves until SIGINT or SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
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
