//! The HTTP API (axum): routes, WebSocket delivery, request validation, and
//! the ONE place errors become HTTP responses (`error`: `ApiError` and its
//! `ErrorCode`s, `{"error": {"code", "message", "field"?}}` with the right status).
//!
//! Owns the wire format of the older contract (field names exactly as the old
//! clients send and read them). It must not run training or touch storage
//! paths directly: it calls the broker, `storage::datasets` and `training::predict`.
//! What reaches the routes at all is decided at the edge: `guard` (hosts,
//! origins, content types, headers, framework errors) and `connections`
//! (connection cap and timeouts).

pub mod connections;
mod datasets;
pub mod docs;
mod error;
mod guard;
mod jobs;
mod ui;
pub mod validate;
pub mod wire;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::queue::Broker;
use crate::runtime::SharedRegistry;
use crate::storage::Storage;
use crate::telemetry::COUNTERS;
pub use error::{ApiError, ApiResult, ErrorCode};

#[derive(Clone)]
pub struct AppState {
    pub broker: Arc<dyn Broker>,
    pub storage: Arc<dyn Storage>,
    /// Swapped on reload: take one `current()` snapshot per request.
    pub registry: SharedRegistry,
    /// The config the process started with. Its plugin list may be stale
    /// after a reload: plugins are looked up in `registry`.
    pub config: Arc<Config>,
    /// Where uploads are streamed before they are profiled and stored.
    pub upload_dir: PathBuf,
}

/// The whole application as served on `bound` (the address the listener got,
/// whose port the default `Host` allow-list names).
pub fn router(state: AppState, bound: SocketAddr) -> Router {
    let upload_limit = (state.config.server.upload_limit_mib as usize).saturating_mul(1 << 20);
    let policy = Arc::new(guard::EdgePolicy::new(&state.config.server, bound));
    let json = || axum::middleware::from_fn(guard::json_body);
    let api = Router::new()
        .route("/train", post(jobs::submit).layer(json()))
        .route("/jobs", get(jobs::list).post(jobs::submit).layer(json()))
        .route("/jobs/{id}", get(jobs::get_job))
        .route("/jobs/{id}/cancel", post(jobs::cancel).layer(json()))
        .route(crate::jobs::MODEL_ROUTE, get(jobs::model))
        .route("/jobs/{id}/predict", post(jobs::predict).layer(json()))
        .route(
            "/datasets",
            get(datasets::list)
                .post(datasets::upload)
                .layer(DefaultBodyLimit::max(upload_limit.saturating_add(1 << 20)))
                .layer(axum::middleware::from_fn(guard::multipart_body)),
        )
        .route("/datasets/{id}", get(datasets::get_dataset).delete(datasets::delete))
        .route("/plugins", get(plugins));
    let routes = Router::new()
        .merge(api.clone())
        .nest("/api", api)
        .route("/ws/{id}", get(ws::handler))
        .route("/healthz", get(|| async { Json(wire::to_json(&wire::Health { status: "ok".into() })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .merge(ui::routes())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route; see /docs") })
        .layer(cors(&state.config))
        .with_state(state);
    guard::edge(routes, policy).layer(axum::middleware::map_response(count_response))
}

async fn count_response(response: Response) -> Response {
    COUNTERS.http_requests.inc();
    if response.status().is_client_error() {
        COUNTERS.http_client_errors.inc();
    } else if response.status().is_server_error() {
        COUNTERS.http_server_errors.inc();
    }
    response
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config.server.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let layer = CorsLayer::new().allow_methods([Method::GET, Method::POST, Method::DELETE]).allow_headers(tower_http::cors::Any);
    if config.server.cors_origins.iter().any(|o| o == "*") {
        layer.allow_origin(tower_http::cors::Any)
    } else {
        layer.allow_origin(AllowOrigin::list(origins))
    }
}

async fn plugins(State(state): State<AppState>) -> Json<serde_json::Value> {
    let registry = state.registry.current();
    let enabled = registry
        .iter()
        .map(|(name, plugin)| wire::PluginView {
            name: name.clone(),
            version: plugin.schema.version.clone(),
            description: plugin.schema.description.clone(),
            tasks: plugin.schema.tasks.iter().map(|t| t.to_string()).collect(),
            params: plugin.schema.params.clone(),
            limits: plugin.limits,
        })
        .collect();
    Json(wire::to_json(&wire::PluginList { data: enabled, unavailable: registry.failures().clone() }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.broker.ping().await {
        Ok(()) => Json(wire::to_json(&wire::Ready { status: "ready".into(), plugins: state.registry.current().iter().count() })).into_response(),
        Err(e) => ApiError::new(ErrorCode::NotReady, e.to_string()).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let depth = state.broker.queue_depth().await.ok();
    let text = crate::telemetry::render(depth, state.registry.current().iter().count());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
