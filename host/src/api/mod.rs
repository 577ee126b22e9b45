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

mod accounts;
pub mod auth;
pub mod connections;
mod datasets;
pub mod docs;
mod error;
mod guard;
mod jobs;
mod predictions;
mod runs;
mod sweeps;
pub mod tls;
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
use axum::routing::{get, patch, post, MethodRouter};
use axum::{Json, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::accounts::AccountStore;
use crate::config::{Config, SharedConfig};
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
    /// The config, swapped on reload: `auth` and `quotas` apply to the
    /// requests after it; the rest is what the process started with. Its
    /// plugin list is not what serves: plugins are looked up in `registry`.
    pub config: SharedConfig,
    /// Where uploads are streamed before they are profiled and stored.
    pub upload_dir: PathBuf,
    /// Users, tokens and quota bookkeeping (kept where the broker keeps jobs).
    pub accounts: Arc<dyn AccountStore>,
    /// Failed authentications per client address.
    pub failed: auth::Failed,
    /// Whether the server speaks TLS (session cookies are then `Secure`).
    pub tls: bool,
    /// The sweeps' store and the drivers this process runs.
    pub sweeps: Arc<crate::sweeps::driver::SweepContext>,
}

/// A route of the application: its path and methods, as `route_table` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub path: String,
    pub methods: Vec<&'static str>,
}

/// Adds routes, keeping the table of what was added: every route goes
/// through `add`, so that the table (and the test that tries every route
/// without a token) cannot miss one.
struct Routes {
    router: Router<AppState>,
    table: Vec<RouteEntry>,
}

impl Routes {
    fn add(mut self, path: &str, methods: &[&'static str], handler: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, handler);
        self.table.push(RouteEntry { path: path.to_string(), methods: methods.to_vec() });
        self
    }

    /// Adds each of `other`'s routes under `prefix` too.
    fn nest(mut self, prefix: &str, other: Routes) -> Routes {
        self.table.extend(other.table.iter().map(|r| RouteEntry { path: format!("{prefix}{}", r.path), methods: r.methods.clone() }));
        self.router = self.router.nest(prefix, other.router);
        self
    }

    fn merge(mut self, other: Routes) -> Routes {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }
}

fn empty() -> Routes {
    Routes { router: Router::new(), table: vec![] }
}

/// The JSON routes, served at `/` and under `/api`.
fn api_routes(upload_limit: usize) -> Routes {
    let json = || axum::middleware::from_fn(guard::json_body);
    empty()
        .add("/train", &["POST"], post(jobs::submit).layer(json()))
        .add("/jobs", &["GET", "POST"], get(jobs::list).post(jobs::submit).layer(json()))
        .add("/jobs/compare", &["GET"], get(runs::compare))
        .add("/jobs/{id}", &["GET"], get(jobs::get_job))
        .add("/jobs/{id}/rerun", &["POST"], post(runs::rerun).layer(json()))
        .add("/jobs/{id}/cancel", &["POST"], post(jobs::cancel).layer(json()))
        .add(crate::jobs::MODEL_ROUTE, &["GET"], get(jobs::model))
        .add("/jobs/{id}/predict", &["POST"], post(jobs::predict).layer(json()))
        .add("/sweeps", &["GET", "POST"], get(sweeps::list).post(sweeps::submit).layer(json()))
        .add("/sweeps/{id}", &["GET"], get(sweeps::get_sweep))
        .add("/sweeps/{id}/cancel", &["POST"], post(sweeps::cancel).layer(json()))
        .add("/sweeps/{id}/model", &["GET"], get(sweeps::model))
        .add(
            "/datasets",
            &["GET", "POST"],
            get(datasets::list)
                .post(datasets::upload)
                .layer(DefaultBodyLimit::max(upload_limit.saturating_add(1 << 20)))
                .layer(axum::middleware::from_fn(guard::multipart_body)),
        )
        .add("/datasets/{id}", &["GET", "DELETE"], get(datasets::get_dataset).delete(datasets::delete))
        .add("/plugins", &["GET"], get(plugins))
        .add("/me", &["GET"], get(accounts::me))
        .add("/admin/users", &["GET", "POST"], get(accounts::list_users).post(accounts::create_user).layer(json()))
        .add("/admin/users/{name}", &["PATCH"], patch(accounts::update_user).layer(json()))
        .add("/admin/users/{name}/tokens", &["POST", "DELETE"], post(accounts::create_token).delete(accounts::revoke_tokens).layer(json()))
}

/// Every route of the application, unauthenticated paths included.
fn all_routes(upload_limit: usize) -> Routes {
    let json = || axum::middleware::from_fn(guard::json_body);
    empty()
        .merge(api_routes(upload_limit))
        .nest("/api", api_routes(upload_limit))
        .add("/auth/session", &["POST", "DELETE"], post(accounts::start_session).delete(accounts::end_session).layer(json()))
        .add("/ws/{id}", &["GET"], get(ws::handler))
        .add("/ws/sweeps/{id}", &["GET"], get(ws::sweep_handler))
        .add("/healthz", &["GET"], get(|| async { Json(wire::to_json(&wire::Health { status: "ok".into() })) }))
        .add("/readyz", &["GET"], get(readyz))
        .add("/metrics", &["GET"], get(metrics))
        .add("/openapi.json", &["GET"], get(docs::openapi))
        .add("/docs", &["GET"], get(docs::page))
        .merge(Routes { router: ui::routes(), table: ui::ROUTES.iter().map(|p| RouteEntry { path: p.to_string(), methods: vec!["GET"] }).collect() })
}

/// The routes of the application with their methods, as the router serves them.
pub fn route_table() -> Vec<RouteEntry> {
    all_routes(0).table
}

/// The whole application as served on `bound` (the address the listener got,
/// whose port the default `Host` allow-list names).
pub fn router(state: AppState, bound: SocketAddr) -> Router {
    let config = state.config.current();
    let upload_limit = (config.server.upload_limit_mib as usize).saturating_mul(1 << 20);
    let policy = Arc::new(guard::EdgePolicy::new(&config.server, bound, state.tls));
    let routes = all_routes(upload_limit)
        .router
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route; see /docs") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(cors(&config))
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
    let layer = CorsLayer::new().allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE]).allow_headers(tower_http::cors::Any);
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
            parallel: plugin.parallelism,
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
