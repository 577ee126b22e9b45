//! `GET /openapi.json`, built from the route table below (the same table the
//! tests walk to check every documented route answers), and `GET /docs`, a
//! self-contained page that renders it with no network access.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::AppState;

pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub request: Option<&'static str>,
    /// (status, description, example body)
    pub responses: &'static [(u16, &'static str, &'static str)],
}

const UNAUTHORIZED: &str = r#"{"error":{"code":"unauthorized","message":"sign in: send `Authorization: Bearer <token>` (see /docs)"}}"#;
const FORBIDDEN: &str = r#"{"error":{"code":"forbidden","message":"this needs an admin"}}"#;
const ERR: &str = r#"{"error":{"code":"invalid_parameter","message":"modelConfig.maxDepth: must be at most 50","field":"modelConfig.maxDepth"}}"#;

pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "post",
        path: "/train",
        summary: "Queue a training job (older contract; same as POST /api/jobs). The rows are split three ways (seeded; stratified by class for classification; clustering is not split): testFraction (default 0.2) is judged by the host for the results and never handed to the plugin; validationFraction is its older name, used when testFraction is absent; pluginValidationFraction (default 0.1, or what testFraction leaves of 0.9; 0 for none) is handed to the plugin as its validation table for early stopping, and not judged. Each is 0 to 0.9, together at most 0.9 (else 422 naming the field). results.summary gives rows_train, rows_validation and rows_test.",
        request: Some(r#"{"datasetId":"<uuid>","targetColumn":"species","taskType":"classification","modelConfig":{"selectedModel":"baseline"},"seed":42,"testFraction":0.2,"pluginValidationFraction":0.1}"#),
        responses: &[(202, "Queued", r#"{"data":{"jobId":"<uuid>","status":"queued","message":"Training job queued"}}"#), (400, "Malformed request", ERR), (404, "Unknown dataset", ERR), (422, "Invalid plugin, task, parameter or column", ERR)],
    },
    RouteDoc {
        method: "post",
        path: "/api/jobs",
        summary: "Queue a training job; the same body and split fields as POST /train.",
        request: Some(r#"{"datasetId":"<uuid>","targetColumn":"species","taskType":"classification","modelConfig":{"selectedModel":"baseline"}}"#),
        responses: &[(202, "Queued", r#"{"data":{"jobId":"<uuid>","status":"queued","message":"Training job queued"}}"#), (422, "Invalid request", ERR)],
    },
    RouteDoc {
        method: "get",
        path: "/jobs",
        summary: "List jobs, newest first. Query: status, plugin, datasetId, limit (1-500, default 50), offset.",
        request: None,
        responses: &[(200, "A page of jobs", r#"{"data":[{"jobId":"<uuid>","status":"completed","progress":100}],"total":1,"limit":50,"offset":0}"#)],
    },
    RouteDoc {
        method: "get",
        path: "/jobs/{id}",
        summary: "One job: status, progress, request, timings, attempts, results or error.",
        request: None,
        responses: &[(200, "The job", r#"{"data":{"jobId":"<uuid>","status":"running","progress":40,"datasetId":"<uuid>","targetColumn":"species","taskType":"classification","modelConfig":{"selectedModel":"baseline"},"attempts":1,"results":null,"error":null}}"#), (404, "No such job", ERR)],
    },
    RouteDoc {
        method: "post",
        path: "/jobs/{id}/cancel",
        summary: "Cancel a job: a queued job ends at once; a running one stops within a second.",
        request: None,
        responses: &[(202, "Cancelled or requested", r#"{"data":{"jobId":"<uuid>","status":"running","message":"Cancellation requested; the job stops within a second"}}"#), (409, "Already ended", ERR)],
    },
    RouteDoc {
        method: "get",
        path: crate::jobs::MODEL_ROUTE,
        summary: "Download the model file of a completed job (use with `trainhost predict --model`).",
        request: None,
        responses: &[(200, "application/octet-stream", ""), (409, "Not completed", ERR)],
    },
    RouteDoc {
        method: "post",
        path: "/jobs/{id}/predict",
        summary: "Predict with a completed job's model on an uploaded dataset or on JSON rows.",
        request: Some(r#"{"rows":[{"bill_length_mm":39.1,"island":"Torgersen"}]}"#),
        responses: &[(200, "Predictions", r#"{"data":{"task":"classification","rows":1,"labels":["Adelie"],"classes":["Adelie","Chinstrap","Gentoo"],"probabilities":[[0.44,0.2,0.36]]}}"#)],
    },
    RouteDoc {
        method: "post",
        path: "/datasets",
        summary: "Upload a CSV or Parquet table (multipart field `file`), streamed to storage under the upload limit; a table past `[limits]` (cells, decoded MiB) is refused before it is decoded (413 `table_too_large`).",
        request: Some("multipart/form-data; file=<table.csv>"),
        responses: &[(201, "The dataset with its columns and preview", r#"{"data":{"id":"<uuid>","name":"penguins.csv","format":"csv","sizeBytes":13478,"rows":344,"columns":[{"name":"species","kind":"categorical","dtype":"str","missing":0,"distinct":3}],"preview":[]}}"#), (413, "File or table too large", ERR), (415, "Not CSV or Parquet", ERR), (422, "Unreadable table", ERR)],
    },
    RouteDoc {
        method: "get",
        path: "/datasets",
        summary: "List datasets, newest first, as summaries (`columns` is a count; the profiles and preview are at /datasets/{id}).",
        request: None,
        responses: &[(200, "Datasets", r#"{"data":[{"id":"<uuid>","name":"penguins.csv","format":"csv","sizeBytes":13478,"rows":344,"columns":8,"createdAt":0}]}"#)],
    },
    RouteDoc {
        method: "get",
        path: "/datasets/{id}",
        summary: "A dataset's schema (columns with kind, dtype, missing and distinct counts) and preview: at most 10 rows and 50 columns, text cut at 200 characters and marked `… [cut, N characters]`.",
        request: None,
        responses: &[(200, "The dataset", r#"{"data":{"id":"<uuid>"}}"#), (404, "No such dataset", ERR)],
    },
    RouteDoc { method: "delete", path: "/datasets/{id}", summary: "Delete a dataset.", request: None, responses: &[(200, "Deleted", r#"{"data":{"id":"<uuid>","deleted":true}}"#), (404, "No such dataset", ERR)] },
    RouteDoc {
        method: "get",
        path: "/plugins",
        summary: "Enabled plugins with their describe() schema (tasks, typed parameters with defaults and bounds) and limits.",
        request: None,
        responses: &[(200, "Plugins", r#"{"data":[{"name":"baseline","version":"0.1.0","tasks":["classification","regression","clustering"],"params":[]}],"unavailable":{}}"#)],
    },
    RouteDoc {
        method: "get",
        path: "/ws/{id}",
        summary: "WebSocket of a job's events: every event once, in seq order (replayed, then live), closed after complete/error/cancelled. Messages: {type:status,seq,status}, {type:progress,seq,progress,epoch,total_epochs,metrics,message}, {type:complete,seq,progress:100,results:{status,accuracy,metrics,model_path},message}, {type:error|cancelled,seq,message}.",
        request: None,
        responses: &[(101, "Switching protocols", r#"{"type":"progress","seq":3,"jobId":"<uuid>","progress":50,"epoch":5,"total_epochs":10,"metrics":{"accuracy":0.85},"message":"Epoch 5/10 - accuracy: 0.8500"}"#)],
    },
    RouteDoc {
        method: "get",
        path: "/me",
        summary: "Who the caller is: name, role, quota in force and usage (with the session's CSRF value when signed in by cookie).",
        request: None,
        responses: &[(200, "The caller", r#"{"data":{"name":"alice","role":"member","disabled":false,"quota":{"activeJobs":4,"datasetBytes":10737418240,"uploadBytes":536870912,"jobsPerHour":100},"usage":{"activeJobs":1,"datasetBytes":13519,"jobsLastHour":3}}}"#), (401, "No or bad token", UNAUTHORIZED)],
    },
    RouteDoc {
        method: "post",
        path: "/auth/session",
        summary: "The web UI's sign-in: a token (bearer header or body) for a session cookie (HttpOnly, SameSite=Strict). Changes made with the cookie need the returned csrf value in the X-CSRF-Token header.",
        request: Some(r#"{"token":"th_..."}"#),
        responses: &[(201, "Signed in; Set-Cookie: trainhost_session", r#"{"data":{"name":"alice","role":"member","csrf":"<hex>","expiresAt":1764600000000}}"#), (401, "Bad token", UNAUTHORIZED)],
    },
    RouteDoc { method: "delete", path: "/auth/session", summary: "Sign out: ends the cookie's session.", request: None, responses: &[(200, "Signed out", r#"{"data":{"signedOut":true}}"#)] },
    RouteDoc {
        method: "post",
        path: "/admin/users",
        summary: "Admins: create a user (role admin or member); the answer holds its first token, shown once.",
        request: Some(r#"{"name":"alice","role":"member"}"#),
        responses: &[(201, "Created", r#"{"data":{"name":"alice","role":"member","token":"th_..."}}"#), (403, "Not an admin", FORBIDDEN), (409, "Name taken", ERR)],
    },
    RouteDoc { method: "get", path: "/admin/users", summary: "Admins: every user with role, state, quota and usage.", request: None, responses: &[(200, "Users", r#"{"data":[{"name":"alice","role":"member","disabled":false}]}"#), (403, "Not an admin", FORBIDDEN)] },
    RouteDoc {
        method: "patch",
        path: "/admin/users/{name}",
        summary: "Admins: change a user's role, disabled flag or quota (activeJobs, datasetBytes, uploadBytes, jobsPerHour; absent: the config's default; 0: no limit).",
        request: Some(r#"{"disabled":false,"quota":{"activeJobs":2}}"#),
        responses: &[(200, "The user", r#"{"data":{"name":"alice","role":"member","disabled":false}}"#), (404, "No such user", ERR)],
    },
    RouteDoc {
        method: "post",
        path: "/admin/users/{name}/tokens",
        summary: "Admins: issue a new token for a user (optional expiresInHours), shown once.",
        request: Some(r#"{"expiresInHours":720}"#),
        responses: &[(201, "A token", r#"{"data":{"name":"alice","token":"th_...","expiresAt":null}}"#), (404, "No such user", ERR)],
    },
    RouteDoc { method: "delete", path: "/admin/users/{name}/tokens", summary: "Admins: revoke every token (and session) of a user, on every node at once.", request: None, responses: &[(200, "Revoked", r#"{"data":{"name":"alice","revoked":2}}"#)] },
    RouteDoc { method: "get", path: "/healthz", summary: "Liveness.", request: None, responses: &[(200, "Alive", r#"{"status":"ok"}"#)] },
    RouteDoc { method: "get", path: "/readyz", summary: "Readiness: the broker answers.", request: None, responses: &[(200, "Ready", r#"{"status":"ready","plugins":1}"#), (503, "Broker unreachable", ERR)] },
    RouteDoc { method: "get", path: "/metrics", summary: "Prometheus metrics.", request: None, responses: &[(200, "text/plain exposition", "")] },
    RouteDoc { method: "get", path: "/openapi.json", summary: "This document.", request: None, responses: &[(200, "OpenAPI 3.0", "")] },
    RouteDoc { method: "get", path: "/docs", summary: "A readable page of this document.", request: None, responses: &[(200, "HTML", "")] },
];

pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut responses = Map::new();
        for (status, description, example) in route.responses {
            let mut response = json!({ "description": description });
            if let Ok(example) = serde_json::from_str::<Value>(example) {
                response["content"] = json!({ "application/json": { "example": example } });
            }
            responses.insert(status.to_string(), response);
        }
        let mut op = json!({ "summary": route.summary, "responses": responses });
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}').map(str::to_string))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(request) = route.request {
            op["requestBody"] = match serde_json::from_str::<Value>(request) {
                Ok(example) => json!({ "content": { "application/json": { "example": example } } }),
                Err(_) => {
                    json!({ "content": { "multipart/form-data": { "schema": { "type": "object", "properties": { "file": { "type": "string", "format": "binary" } } } } } })
                }
            };
        }
        let entry = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        entry[route.method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "trainhost", "version": env!("CARGO_PKG_VERSION"), "description": "Training service whose algorithms are sandboxed WebAssembly plugins. Every JSON route is also served under /api. Errors: {\"error\":{\"code\",\"message\",\"field\"?}}. Every route but /healthz, /readyz, /docs, /openapi.json, the UI's files and POST /auth/session needs `Authorization: Bearer <token>` (or the UI's session cookie; a WebSocket also takes ?access_token=): 401 unauthorized without one, 403 forbidden for a member on /admin, 429 quota_exceeded (with quota, limit, used and, where waiting helps, Retry-After) over a quota. Another member's dataset, job or model answers as a missing one (404)." },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    let mut doc = openapi_document();
    let registry = state.registry.current();
    let plugins: Vec<&str> = registry.iter().map(|(n, _)| n.as_str()).collect();
    doc["info"]["x-enabled-plugins"] = json!(plugins);
    Json(doc)
}

/// `/docs`, with a CSP that allows exactly its own style and script (by
/// hash) and requests to this server: the page needs no network beyond it.
pub async fn page() -> Response {
    ([(header::CONTENT_SECURITY_POLICY, DOCS_CSP.as_str())], Html(DOCS_PAGE.as_str())).into_response()
}

static DOCS_PAGE: LazyLock<String> = LazyLock::new(|| format!("{DOCS_HEAD}<style>{DOCS_STYLE}</style>{DOCS_BODY}<script>{DOCS_SCRIPT}</script>{DOCS_END}"));

static DOCS_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = |text: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
    format!(
        "default-src 'none'; connect-src 'self'; style-src 'sha256-{}'; script-src 'sha256-{}'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(DOCS_STYLE),
        hash(DOCS_SCRIPT)
    )
});

const DOCS_HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trainhost API</title>
"#;

const DOCS_STYLE: &str = r#"
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.delete{color:#c30}
code,pre{background:#f5f5f5;border-radius:4px}pre{padding:.5rem;overflow:auto;font-size:13px}
"#;

const DOCS_BODY: &str = r#"</head><body>
<h1>trainhost API</h1><p id="desc"></p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Plugins and their parameters: <a href="/plugins">/plugins</a>.</p>
<div id="ops">Loading…</div>
"#;

const DOCS_SCRIPT: &str = r#"
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
  document.getElementById('desc').textContent=doc.info.description;
  const ops=document.getElementById('ops');ops.textContent='';
  for(const [path,methods] of Object.entries(doc.paths)){
    for(const [method,op] of Object.entries(methods)){
      const d=document.createElement('div');d.className='op';
      const h=document.createElement('div');
      const m=document.createElement('span');m.className='m '+method;m.textContent=method;
      const p=document.createElement('code');p.textContent=path;
      h.append(m,p);d.append(h);
      const s=document.createElement('p');s.textContent=op.summary;d.append(s);
      const req=op.requestBody&&op.requestBody.content;
      if(req){const ex=Object.values(req)[0];const pre=document.createElement('pre');
        pre.textContent='Request: '+(ex.example?JSON.stringify(ex.example,null,2):Object.keys(req)[0]);d.append(pre);}
      for(const [code,r] of Object.entries(op.responses)){
        const pre=document.createElement('pre');const c=r.content&&r.content['application/json'];
        pre.textContent=code+' '+r.description+(c?'\n'+JSON.stringify(c.example,null,2):'');d.append(pre);}
      ops.append(d);
    }
  }
}).catch(e=>{document.getElementById('ops').textContent='Could not load /openapi.json: '+e});
"#;

const DOCS_END: &str = r#"</body></html>"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_csp_names_the_hashes_of_its_only_style_and_script() {
        let page = DOCS_PAGE.as_str();
        let between = |open: &str, close: &str| page.split_once(open).and_then(|(_, rest)| rest.split_once(close)).map(|(inside, _)| inside).unwrap();
        let hash = |text: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
        assert!(DOCS_CSP.contains(&format!("script-src 'sha256-{}'", hash(between("<script>", "</script>")))));
        assert!(DOCS_CSP.contains(&format!("style-src 'sha256-{}'", hash(between("<style>", "</style>")))));
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(page.matches("<style").count(), 1);
    }
}
