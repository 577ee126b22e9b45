//! The web UI: a few static files embedded in the binary and served at `/`
//! and `/ui/{file}`. The request only selects an entry of a fixed list; no
//! part of it is ever used as a file path. The UI uses the public API and
//! the WebSocket only.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{ApiError, AppState, ErrorCode};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// (name under /ui/, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", HTML, include_bytes!("../../ui/index.html")),
    ("style.css", CSS, include_bytes!("../../ui/style.css")),
    ("app.js", JS, include_bytes!("../../ui/app.js")),
    ("api.js", JS, include_bytes!("../../ui/api.js")),
    ("dom.js", JS, include_bytes!("../../ui/dom.js")),
    ("charts.js", JS, include_bytes!("../../ui/charts.js")),
    ("evaluation.js", JS, include_bytes!("../../ui/evaluation.js")),
    ("datasets.js", JS, include_bytes!("../../ui/datasets.js")),
    ("train.js", JS, include_bytes!("../../ui/train.js")),
    ("job.js", JS, include_bytes!("../../ui/job.js")),
    ("jobs.js", JS, include_bytes!("../../ui/jobs.js")),
    ("compare.js", JS, include_bytes!("../../ui/compare.js")),
    ("tune.js", JS, include_bytes!("../../ui/tune.js")),
    ("admin.js", JS, include_bytes!("../../ui/admin.js")),
    ("signin.js", JS, include_bytes!("../../ui/signin.js")),
    ("favicon.svg", SVG, include_bytes!("../../ui/favicon.svg")),
];

/// Only this origin: no CDN, no external request of any kind.
pub(super) const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The paths `routes` serves.
pub const ROUTES: [&str; 2] = ["/", "/ui/{file}"];

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(|| async { serve("index.html") })).route("/ui/{file}", get(|Path(file): Path<String>| async move { serve(&file) }))
}

fn serve(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::new(ErrorCode::NotFound, format!("no UI file `{name}`")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed_once_and_not_empty() {
        let mut names: Vec<&str> = FILES.iter().map(|(n, _, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FILES.len());
        assert!(FILES.iter().all(|(_, _, b)| !b.is_empty()));
    }

    #[test]
    fn unknown_and_traversing_names_are_not_found() {
        for name in ["../Cargo.toml", "..%2Fmain.rs", "nope.js", ""] {
            assert_eq!(serve(name).status(), axum::http::StatusCode::NOT_FOUND);
        }
        assert_eq!(serve("app.js").headers()[header::CONTENT_TYPE], JS);
    }
}
