//! `GET /openapi.json`, built from the route table below (the same table the
//! tests walk to check every documented route answers) with the request and
//! response schemas derived from the types the handlers parse and answer with
//! (`validate::TrainRequest`, `wire::*` and the records they carry, through
//! utoipa's `ToSchema`), so the document cannot drift from the wire; and
//! `GET /docs`, a self-contained page that renders it with no network access.
//!
//! Owns the route table and the document's assembly. It must not define a
//! wire type: those live with the code that builds them.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use utoipa::openapi::{schema::Schema, RefOr};
use utoipa::ToSchema;

use super::validate::TrainRequest;
use super::wire::*;
use super::AppState;
use crate::runtime::ParamSchema;

/// The named schemas a document refers to, gathered as routes name them.
type Schemas = Vec<(String, RefOr<Schema>)>;
/// Adds a type's schema (and every schema it refers to) and returns its name.
type SchemaOf = fn(&mut Schemas) -> String;

fn schema_of<T: ToSchema>(all: &mut Schemas) -> String {
    T::schemas(all);
    let name = T::name().into_owned();
    all.push((name.clone(), T::schema()));
    name
}

/// What a request or response carries.
pub enum Body {
    /// JSON of a type's schema, with an example for the `/docs` page ("" for none).
    Json(SchemaOf, &'static str),
    /// `multipart/form-data` with a file field `file`.
    Upload,
    /// `application/octet-stream`.
    Binary,
    /// `text/plain`.
    Text,
    /// `text/html`.
    Page,
    /// Any JSON (this document).
    AnyJson,
    /// JSON described by its example only: the account routes, whose
    /// handlers build their answers with `json!` (no wire type to derive a schema from yet).
    Example(&'static str),
    /// Nothing (a WebSocket upgrade).
    Nothing,
    /// JSON of a type's schema, or `text/csv` when the query asks for it.
    JsonOrCsv(SchemaOf, &'static str),
}

/// A query or header parameter.
pub struct Param {
    pub name: &'static str,
    /// `query` or `header`.
    pub location: &'static str,
    pub required: bool,
    pub description: &'static str,
    /// A JSON schema for the value, as JSON text.
    pub schema: &'static str,
}

const fn query(name: &'static str, description: &'static str, schema: &'static str) -> Param {
    Param { name, location: "query", required: false, description, schema }
}

const fn header(name: &'static str, description: &'static str, schema: &'static str) -> Param {
    Param { name, location: "header", required: true, description, schema }
}

pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub request: Option<Body>,
    /// Query and header parameters (path parameters come from `path`).
    pub params: &'static [Param],
    /// (status, description, body)
    pub responses: &'static [(u16, &'static str, Body)],
}

const ERROR: Body = Body::Json(
    schema_of::<ErrorBody>,
    r#"{"error":{"code":"invalid_parameter","message":"modelConfig.maxDepth: must be between 0 and 10000, got 20000","field":"modelConfig.maxDepth"}}"#,
);
const ACCEPTED: Body = Body::Json(schema_of::<JobAcceptedBody>, r#"{"data":{"jobId":"<uuid>","status":"queued","message":"Training job queued"}}"#);
const TRAIN: Body = Body::Json(
    schema_of::<TrainRequest>,
    r#"{"datasetId":"<uuid>","targetColumn":"species","taskType":"classification","modelConfig":{"selectedModel":"baseline"},"seed":42,"testFraction":0.2,"pluginValidationFraction":0.1,"name":"baseline on penguins","tags":["penguins"]}"#,
);
const DATASET: Body = Body::Json(
    schema_of::<DatasetBody>,
    r#"{"data":{"id":"<uuid>","name":"penguins.csv","format":"csv","sizeBytes":13478,"rows":344,"columns":[{"name":"species","kind":"categorical","dtype":"str","missing":0,"distinct":3}],"preview":[],"createdAt":0}}"#,
);
/// `limit` and `offset` are read as unsigned 64-bit numbers.
const JOB_QUERY: &[Param] = &[
    query(
        "status",
        "queued, running, completed, failed or cancelled (empty: any)",
        r#"{"type":"string","enum":["","queued","running","completed","failed","cancelled"]}"#,
    ),
    query("plugin", "Only jobs of this plugin.", r#"{"type":"string"}"#),
    query("datasetId", "Only jobs on this dataset.", r#"{"type":"string"}"#),
    query("tag", "Only jobs carrying this tag (empty: any).", r#"{"type":"string"}"#),
    query(
        "sort",
        "created (default): newest first; score: best `score` first (the headline metric on test rows), jobs with no score after.",
        r#"{"type":"string","enum":["","created","score"]}"#,
    ),
    query(
        "limit",
        "Jobs per page: 1 to 500 (smaller and larger values are taken as 1 and 500), default 50.",
        r#"{"type":"integer","minimum":0,"maximum":18446744073709551615}"#,
    ),
    query("offset", "Jobs to skip, default 0.", r#"{"type":"integer","minimum":0,"maximum":18446744073709551615}"#),
];
/// What makes a GET a WebSocket upgrade (RFC 6455); without them it is a 400.
const UPGRADE: &[Param] = &[
    header("Connection", "Upgrade.", r#"{"type":"string","enum":["Upgrade","upgrade"]}"#),
    header("Upgrade", "websocket.", r#"{"type":"string","enum":["websocket"]}"#),
    header("Sec-WebSocket-Version", "13.", r#"{"type":"string","enum":["13"]}"#),
    header("Sec-WebSocket-Key", "16 random bytes in base64.", r#"{"type":"string","pattern":"^[A-Za-z0-9+/]{22}==$"}"#),
];

pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "post",
        path: "/train",
        summary: "Queue a training job (older contract; same as POST /api/jobs). The rows are split three ways (seeded; stratified by class for classification; clustering is not split): testFraction (default 0.2) is judged by the host for the results and never handed to the plugin; validationFraction is its older name, used when testFraction is absent; pluginValidationFraction (default 0.1, or what testFraction leaves of 0.9; 0 for none) is handed to the plugin as its validation table for early stopping, and not judged. Each is 0 to 0.9, together at most 0.9 (else 422 naming the field). Parameters are checked against the plugin's schema (bounds included) and, when given, by the plugin itself on the dataset's columns: a setting it would refuse is a 422 naming `modelConfig.<name>`. results.summary gives rows_train, rows_validation and rows_test. folds (0 or absent: none; else 2 to 20, else 400 naming `folds`; not for clustering) cross-validates first: K fits on stratified folds of the training part, each validated and scored by the host on the fold it held out (the test rows are in no fold), reported in results.crossValidation as {folds, metrics: {name: {mean, std, values}}}; then the final fit as without folds. Progress events of a fold carry `fold`, and a status event names each fit (`fold 2 of 5`). A class with fewer training rows than folds is a 422 naming `folds`.",
        request: Some(TRAIN),
        params: &[],
        responses: &[(202, "Queued", ACCEPTED), (400, "Malformed request", ERROR), (404, "Unknown dataset", ERROR), (422, "Invalid plugin, task, parameter or column", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/api/jobs",
        summary: "Queue a training job; the same body, split fields and checks as POST /train.",
        request: Some(TRAIN),
        params: &[],
        responses: &[(202, "Queued", ACCEPTED), (400, "Malformed request", ERROR), (404, "Unknown dataset", ERROR), (422, "Invalid request", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/jobs",
        summary: "List jobs, newest first, filtered by status, plugin and dataset.",
        request: None,
        params: JOB_QUERY,
        responses: &[(200, "A page of jobs", Body::Json(schema_of::<JobPage>, r#"{"data":[{"jobId":"<uuid>","status":"completed","progress":100}],"total":1,"limit":50,"offset":0}"#)), (400, "A bad filter", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/jobs",
        summary: "Queue a training job; the same body, split fields and checks as POST /train.",
        request: Some(TRAIN),
        params: &[],
        responses: &[(202, "Queued", ACCEPTED), (400, "Malformed request", ERROR), (404, "Unknown dataset", ERROR), (422, "Invalid request", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/api/jobs",
        summary: "List jobs; the same query and answer as GET /jobs.",
        request: None,
        params: JOB_QUERY,
        responses: &[(200, "A page of jobs", Body::Json(schema_of::<JobPage>, "")), (400, "A bad filter", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/jobs/{id}",
        summary: "One job: status, progress, request, timings, attempts, results or error.",
        request: None,
        params: &[],
        responses: &[(200, "The job", Body::Json(schema_of::<JobBody>, r#"{"data":{"jobId":"<uuid>","status":"running","progress":40,"datasetId":"<uuid>","targetColumn":"species","taskType":"classification","modelConfig":{"selectedModel":"baseline"},"attempts":1,"results":null,"error":null}}"#)), (404, "No such job", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/jobs/compare",
        summary: "Compare 2 to 10 of the caller's jobs side by side: each job's parameters in force (set or default), which parameters differ, the host's metrics and score, and the per-epoch curves the plugin reported (while the job's events are kept). An id that is not the caller's job is a 404 naming it.",
        request: None,
        params: &[Param { name: "ids", location: "query", required: true, description: "2 to 10 job ids, comma-separated.", schema: r#"{"type":"string"}"# }],
        responses: &[
            (200, "The jobs side by side", Body::Json(schema_of::<ComparisonBody>, r#"{"data":{"jobs":[{"jobId":"<uuid>","name":"deep trees","tags":["penguins"],"status":"completed","score":0.97,"plugin":"random_forest","params":{"nTrees":100},"metrics":{"accuracy":0.97},"curves":{"oob_accuracy":[{"epoch":1,"value":0.9}]}}],"differingParams":["nTrees"]}}"#)),
            (400, "Fewer than 2 or more than 10 ids", ERROR),
            (404, "No such job", ERROR),
        ],
    },
    RouteDoc {
        method: "post",
        path: "/jobs/{id}/rerun",
        summary: "Re-run a job: its request (dataset, target, task, parameters, seed, split, folds, columns, name and tags) is submitted again, with the same checks and quota as POST /train, as a new job whose `rerunOf` names the original.",
        request: None,
        params: &[],
        responses: &[(202, "The new job, queued", Body::Json(schema_of::<JobAcceptedBody>, r#"{"data":{"jobId":"<uuid>","status":"queued","message":"Re-run of job <uuid> queued"}}"#)), (404, "No such job, or its dataset is gone", ERROR), (422, "The plugin or its parameters are no longer accepted", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/jobs/{id}/cancel",
        summary: "Cancel a job: a queued job ends at once; a running one stops within a second.",
        request: None,
        params: &[],
        responses: &[(202, "Cancelled or requested", Body::Json(schema_of::<JobAcceptedBody>, r#"{"data":{"jobId":"<uuid>","status":"running","message":"Cancellation requested; the job stops within a second"}}"#)), (404, "No such job", ERROR), (409, "Already ended", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: crate::jobs::MODEL_ROUTE,
        summary: "Download the model file of a completed job (use with `trainhost predict --model`).",
        request: None,
        params: &[],
        responses: &[(200, "The model file", Body::Binary), (404, "No such job or model", ERROR), (409, "Not completed", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/jobs/{id}/predict",
        summary: "Predict with a completed job's model on an uploaded dataset or on JSON rows. Number and date columns must hold numbers and dates (422 naming column and row); every column the model needs must be there. When the table holds the model's target column, `score` gives the host's metrics on the rows with a known target value. `?format=csv` answers a CSV instead: `row` (1 for the first row), the input columns as given, `prediction` (or `cluster`) and `p(<class>)` rounded to four decimals.",
        request: Some(Body::Json(schema_of::<PredictRequest>, r#"{"rows":[{"bill_length_mm":39.1,"island":"Torgersen"}]}"#)),
        params: &[query("format", "json (default) or csv.", r#"{"type":"string","enum":["","json","csv"]}"#)],
        responses: &[
            (200, "Predictions", Body::JsonOrCsv(schema_of::<PredictionBody>, r#"{"data":{"task":"classification","rows":1,"labels":["Adelie"],"classes":["Adelie","Chinstrap","Gentoo"],"probabilities":[[0.44,0.2,0.36]],"score":{"target":"species","rowsScored":1,"rowsWithoutTarget":0,"headlineMetric":"accuracy","metrics":{"accuracy":1.0}}}}"#)),
            (400, "Malformed request", ERROR),
            (404, "No such job, model or dataset", ERROR),
            (409, "Not completed", ERROR),
            (422, "Rows or table that do not fit the model", ERROR),
        ],
    },
    RouteDoc {
        method: "post",
        path: "/sweeps",
        summary: "Start a sweep: trials (ordinary jobs on the shared queue, counted in the caller's quota) over a search space per plugin (a value, `{\"values\": [...]}`, or `{\"min\", \"max\", \"scale\": \"linear\"|\"log\"}` per parameter, inside the plugin's bounds), by strategy grid, random, asha (pruned at rungs of the plugin's epochs: a trial outside the top 1/eta of the validation scores at a rung is cancelled) or auto (asha over every enabled plugin that does the task). `trials` and/or `budgetSeconds` bound it (a grid's default: all its points). Trials are ranked by `metric` on the judged rows.",
        request: Some(Body::Json(
            schema_of::<super::sweeps::SweepRequest>,
            r#"{"datasetId":"<uuid>","targetColumn":"species","taskType":"classification","metric":"accuracy","strategy":"asha","trials":16,"budgetSeconds":600,"seed":1,"space":[{"selectedModel":"random_forest","nEstimators":200,"maxDepth":{"values":[4,8,0]},"maxSamples":{"min":0.3,"max":1.0}},{"selectedModel":"gbdt","learningRate":{"min":0.01,"max":0.3,"scale":"log"}}]}"#,
        )),
        params: &[],
        responses: &[
            (202, "Queued", Body::Example(r#"{"data":{"sweepId":"<uuid>","status":"queued"}}"#)),
            (400, "Malformed request, or no trials and no budget", ERROR),
            (404, "No such dataset", ERROR),
            (422, "Unknown plugin or parameter, range outside the plugin's bounds, metric not of the task", ERROR),
        ],
    },
    RouteDoc {
        method: "get",
        path: "/sweeps",
        summary: "The caller's sweeps, newest first (an admin's: everyone's), with status and best trial.",
        request: None,
        params: &[],
        responses: &[(200, "Sweeps", Body::Example(r#"{"data":[{"sweepId":"<uuid>","status":"running","strategy":"asha","metric":"accuracy","trialCount":5,"best":{"jobId":"<uuid>","plugin":"gbdt","params":{"learningRate":0.1},"score":0.97}}],"total":1}"#))],
    },
    RouteDoc {
        method: "get",
        path: "/sweeps/{id}",
        summary: "A sweep: status, every trial (jobId, plugin, params, status, score on the judged rows, validationScore, rung scores), the best trial (whose job's model is the sweep's: predict and download it through /jobs/{jobId}) and the leaderboard (completed trials, best first).",
        request: None,
        params: &[],
        responses: &[
            (200, "The sweep", Body::Example(r#"{"data":{"sweepId":"<uuid>","status":"completed","trials":[{"jobId":"<uuid>","plugin":"gbdt","params":{"learningRate":0.1},"status":"completed","score":0.97}],"best":{"jobId":"<uuid>","plugin":"gbdt","params":{"learningRate":0.1},"score":0.97},"leaderboard":[]}}"#)),
            (404, "No such sweep", ERROR),
        ],
    },
    RouteDoc {
        method: "post",
        path: "/sweeps/{id}/cancel",
        summary: "Cancel a sweep: its queued and running trials are cancelled within a second and it ends cancelled.",
        request: None,
        params: &[],
        responses: &[(202, "Requested", Body::Example(r#"{"data":{"sweepId":"<uuid>","status":"running","message":"Cancellation requested; the sweep cancels its trials within a second"}}"#)), (404, "No such sweep", ERROR), (409, "Already ended", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/sweeps/{id}/model",
        summary: "The model file of the sweep's best trial (as /jobs/{bestJobId}/model).",
        request: None,
        params: &[],
        responses: &[(200, "The model file", Body::Binary), (404, "No such sweep or model", ERROR), (409, "No completed trial yet", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/datasets",
        summary: "Upload a CSV or Parquet table (multipart field `file`), streamed to storage under the upload limit; a table past `[limits]` (cells, decoded MiB) is refused before it is decoded (413 `table_too_large`). `?purpose=predict` marks a table uploaded only to predict on (`predictOnly` in the record and the list).",
        request: Some(Body::Upload),
        params: &[query("purpose", "train (default) or predict.", r#"{"type":"string","enum":["","train","predict"]}"#)],
        responses: &[(201, "The dataset with its columns and preview", DATASET), (400, "No file field", ERROR), (413, "File or table too large", ERROR), (415, "Not CSV or Parquet", ERROR), (422, "Unreadable table", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/datasets",
        summary: "List datasets, newest first, as summaries (`columns` is a count; the profiles and preview are at /datasets/{id}).",
        request: None,
        params: &[],
        responses: &[(200, "Datasets", Body::Json(schema_of::<DatasetListBody>, r#"{"data":[{"id":"<uuid>","name":"penguins.csv","format":"csv","sizeBytes":13478,"rows":344,"columns":8,"createdAt":0}]}"#))],
    },
    RouteDoc {
        method: "get",
        path: "/datasets/{id}",
        summary: "A dataset's schema (columns with kind, dtype, missing and distinct counts) and preview: at most 10 rows and 50 columns, text cut at 200 characters and marked `… [cut, N characters]`.",
        request: None,
        params: &[],
        responses: &[(200, "The dataset", DATASET), (404, "No such dataset", ERROR)],
    },
    RouteDoc {
        method: "delete",
        path: "/datasets/{id}",
        summary: "Delete a dataset; its queued and running jobs are cancelled, saying why.",
        request: None,
        params: &[],
        responses: &[(200, "Deleted", Body::Json(schema_of::<DeletedBody>, r#"{"data":{"id":"<uuid>","deleted":true}}"#)), (404, "No such dataset", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/plugins",
        summary: "Enabled plugins with their describe() schema (tasks, typed parameters with defaults and bounds) and limits.",
        request: None,
        params: &[],
        responses: &[(200, "Plugins", Body::Json(schema_of::<PluginList>, r#"{"data":[{"name":"baseline","version":"0.1.0","tasks":["classification","regression","clustering"],"params":[]}],"unavailable":{}}"#))],
    },
    RouteDoc {
        method: "get",
        path: "/ws/{id}",
        summary: "WebSocket of a job's events: every event once, in seq order (replayed, then live), closed after complete/error/cancelled. Messages: {type:status,seq,status}, {type:progress,seq,progress,epoch,total_epochs,metrics,message}, {type:complete,seq,progress:100,results:{status,accuracy,metrics,model_path},message}, {type:error|cancelled,seq,message}. A plain GET (no upgrade) is a 400.",
        request: None,
        params: UPGRADE,
        responses: &[(101, "Switching protocols", Body::Nothing), (400, "Not a WebSocket upgrade", ERROR), (404, "No such job", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/ws/sweeps/{id}",
        summary: "WebSocket of a sweep's events: every event once, in seq order (replayed, then live), closed after the sweep ends. Messages: {type:trial,seq,event:queued|started|rung|pruned|completed|failed|cancelled,trial,jobId,plugin,params,status,epoch,score,validationScore,message} (a rung: {event:rung,epoch,score,kept}), {type:leaderboard,seq,leaderboard:[{jobId,plugin,params,score}]}, {type:sweep,seq,status,message,best}; each with sweepId and `at` (Unix ms).",
        request: None,
        params: UPGRADE,
        responses: &[(101, "Switching protocols", Body::Nothing), (400, "Not a WebSocket upgrade", ERROR), (404, "No such sweep", ERROR)],
    },
    RouteDoc {
        method: "get",
        path: "/me",
        summary: "Who the caller is: name, role, quota in force and usage (with the session's CSRF value when signed in by cookie).",
        request: None, params: &[],
        responses: &[(200, "The caller", Body::Example(r#"{"data":{"name":"alice","role":"member","disabled":false,"quota":{"activeJobs":4,"datasetBytes":10737418240,"uploadBytes":536870912,"jobsPerHour":100},"usage":{"activeJobs":1,"datasetBytes":13519,"jobsLastHour":3}}}"#)), (401, "No or bad token", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/auth/session",
        summary: "The web UI's sign-in: a token (bearer header or body) for a session cookie (HttpOnly, SameSite=Strict). Changes made with the cookie need the returned csrf value in the X-CSRF-Token header.",
        request: Some(Body::Example(r#"{"token":"th_..."}"#)), params: &[],
        responses: &[(201, "Signed in; Set-Cookie: trainhost_session", Body::Example(r#"{"data":{"name":"alice","role":"member","csrf":"<hex>","expiresAt":1764600000000}}"#)), (401, "Bad token", ERROR)],
    },
    RouteDoc { method: "delete", path: "/auth/session", summary: "Sign out: ends the cookie's session.", request: None, params: &[], responses: &[(200, "Signed out", Body::Example(r#"{"data":{"signedOut":true}}"#))] },
    RouteDoc {
        method: "post",
        path: "/admin/users",
        summary: "Admins: create a user (role admin or member); the answer holds its first token, shown once.",
        request: Some(Body::Example(r#"{"name":"alice","role":"member"}"#)), params: &[],
        responses: &[(201, "Created", Body::Example(r#"{"data":{"name":"alice","role":"member","token":"th_..."}}"#)), (403, "Not an admin", ERROR), (409, "Name taken", ERROR)],
    },
    RouteDoc { method: "get", path: "/admin/users", summary: "Admins: every user with role, state, quota and usage.", request: None, params: &[], responses: &[(200, "Users", Body::Example(r#"{"data":[{"name":"alice","role":"member","disabled":false}]}"#)), (403, "Not an admin", ERROR)] },
    RouteDoc {
        method: "patch",
        path: "/admin/users/{name}",
        summary: "Admins: change a user's role, disabled flag or quota (activeJobs, datasetBytes, uploadBytes, jobsPerHour; absent: the config's default; 0: no limit).",
        request: Some(Body::Example(r#"{"disabled":false,"quota":{"activeJobs":2}}"#)), params: &[],
        responses: &[(200, "The user", Body::Example(r#"{"data":{"name":"alice","role":"member","disabled":false}}"#)), (404, "No such user", ERROR)],
    },
    RouteDoc {
        method: "post",
        path: "/admin/users/{name}/tokens",
        summary: "Admins: issue a new token for a user (optional expiresInHours), shown once.",
        request: Some(Body::Example(r#"{"expiresInHours":720}"#)), params: &[],
        responses: &[(201, "A token", Body::Example(r#"{"data":{"name":"alice","token":"th_...","expiresAt":null}}"#)), (404, "No such user", ERROR)],
    },
    RouteDoc { method: "delete", path: "/admin/users/{name}/tokens", summary: "Admins: revoke every token (and session) of a user, on every node at once.", request: None, params: &[], responses: &[(200, "Revoked", Body::Example(r#"{"data":{"name":"alice","revoked":2}}"#))] },
    RouteDoc { method: "get", path: "/healthz", summary: "Liveness.", request: None, params: &[], responses: &[(200, "Alive", Body::Json(schema_of::<Health>, r#"{"status":"ok"}"#))] },
    RouteDoc {
        method: "get",
        path: "/readyz",
        summary: "Readiness: the broker answers (and has not lost its data).",
        request: None,
        params: &[],
        responses: &[(200, "Ready", Body::Json(schema_of::<Ready>, r#"{"status":"ready","plugins":1}"#)), (503, "Broker unreachable or its data lost", ERROR)],
    },
    RouteDoc { method: "get", path: "/metrics", summary: "Prometheus metrics.", request: None, params: &[], responses: &[(200, "text/plain exposition", Body::Text)] },
    RouteDoc { method: "get", path: "/openapi.json", summary: "This document.", request: None, params: &[], responses: &[(200, "OpenAPI 3.1", Body::AnyJson)] },
    RouteDoc { method: "get", path: "/docs", summary: "A readable page of this document.", request: None, params: &[], responses: &[(200, "HTML", Body::Page)] },
];

/// A request or response body's `content`, adding any schema it names to `schemas`.
fn content(body: &Body, schemas: &mut Schemas) -> Option<Value> {
    Some(match body {
        Body::Json(schema, example) => {
            let name = schema(schemas);
            let mut media = json!({ "schema": { "$ref": format!("#/components/schemas/{name}") } });
            if let Ok(example) = serde_json::from_str::<Value>(example) {
                media["example"] = example;
            }
            json!({ "application/json": media })
        }
        Body::Upload => {
            json!({ "multipart/form-data": { "schema": { "type": "object", "required": ["file"], "properties": { "file": { "type": "string", "format": "binary" } } } } })
        }
        Body::Binary => json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }),
        Body::Text => json!({ "text/plain": { "schema": { "type": "string" } } }),
        Body::Page => json!({ "text/html": { "schema": { "type": "string" } } }),
        Body::AnyJson => json!({ "application/json": { "schema": { "type": "object" } } }),
        Body::Example(example) => {
            let mut media = json!({ "schema": { "type": "object" } });
            if let Ok(example) = serde_json::from_str::<Value>(example) {
                media["example"] = example;
            }
            json!({ "application/json": media })
        }
        Body::JsonOrCsv(schema, example) => {
            let mut both = content(&Body::Json(*schema, example), schemas)?;
            both["text/csv"] = json!({ "schema": { "type": "string" } });
            both
        }
        Body::Nothing => return None,
    })
}

fn operation(route: &RouteDoc, schemas: &mut Schemas) -> Value {
    let mut responses = Map::new();
    for (status, description, body) in route.responses {
        let mut response = json!({ "description": description });
        if let Some(content) = content(body, schemas) {
            response["content"] = content;
        }
        responses.insert(status.to_string(), response);
    }
    // The edge's own refusals (Host, Origin, content type, method, body size,
    // broker outage...) can answer any route, always in the error shape.
    let error = content(&ERROR, schemas);
    responses.insert("default".into(), json!({ "description": "Any other refusal or fault, in the error shape", "content": error }));
    let mut op = json!({ "summary": route.summary, "responses": responses });
    let path_params = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}').map(str::to_string))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }));
    let query = route.params.iter().map(|p| {
        let schema = serde_json::from_str::<Value>(p.schema).unwrap_or_else(|_| json!({ "type": "string" }));
        json!({ "name": p.name, "in": p.location, "required": p.required, "description": p.description, "schema": schema })
    });
    let params: Vec<Value> = path_params.chain(query).collect();
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(body) = &route.request {
        op["requestBody"] = json!({ "required": true, "content": content(body, schemas) });
    }
    op
}

pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Schemas::new();
    for route in ROUTES {
        let op = operation(route, &mut schemas);
        let entry = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        entry[route.method] = op;
    }
    let components: Map<String, Value> = schemas.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();
    json!({
        "openapi": "3.1.0",
        "info": { "title": "trainhost", "version": env!("CARGO_PKG_VERSION"), "description": "Training service whose algorithms are sandboxed WebAssembly plugins. Every JSON route is also served under /api. Errors: {\"error\":{\"code\",\"message\",\"field\"?}}. Every route but /healthz, /readyz, /docs, /openapi.json, the UI's files and POST /auth/session needs `Authorization: Bearer <token>` (or the UI's session cookie; a WebSocket also takes ?access_token=): 401 unauthorized without one, 403 forbidden for a member on /admin, 429 quota_exceeded (with quota, limit, used and, where waiting helps, Retry-After) over a quota. Another member's dataset, job or model answers as a missing one (404)." },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": { "schemas": components },
    })
}

pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    let mut doc = openapi_document();
    let registry = state.registry.current();
    let plugins: Vec<&str> = registry.iter().map(|(n, _)| n.as_str()).collect();
    doc["info"]["x-enabled-plugins"] = json!(plugins);
    let configs: Vec<Value> = registry.iter().map(|(name, plugin)| model_config_of(name, &plugin.schema.params)).collect();
    if !configs.is_empty() {
        doc["components"]["schemas"]["ModelConfig"] = json!({
            "description": "`selectedModel`, one of the enabled plugins, and its parameters (GET /plugins), by its own schema",
            "oneOf": configs,
        });
    }
    Json(doc)
}

/// `modelConfig` for one plugin, from the schema its `describe()` declared:
/// each parameter's type, bounds and choices, as the submit check reads them
/// (numbers may also come as text, and null means the default).
pub fn model_config_of(name: &str, params: &[ParamSchema]) -> Value {
    let mut properties = Map::new();
    properties.insert("selectedModel".into(), json!({ "type": "string", "const": name }));
    for p in params {
        let mut number = json!({ "type": if p.kind == "int" { "integer" } else { "number" } });
        if let Some(min) = p.min {
            number["minimum"] = json!(min);
        }
        if let Some(max) = p.max {
            number["maximum"] = json!(max);
        }
        let text = json!({ "type": "string", "description": "the same value as text" });
        let choices = json!({ "enum": p.choices.clone().unwrap_or_default() });
        let forms = match p.kind {
            "int" | "float" => vec![number, text],
            "bool" => vec![json!({ "type": "boolean" }), json!({ "type": "string", "enum": ["true", "false"] })],
            "choice" => vec![choices],
            _ => vec![choices, number, text],
        };
        let mut any_of = forms;
        any_of.push(json!({ "type": "null" }));
        properties.insert(p.name.clone(), json!({ "description": p.help, "anyOf": any_of }));
    }
    json!({ "type": "object", "required": ["selectedModel"], "properties": properties, "additionalProperties": false })
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
        if(code==='default')continue;
        const pre=document.createElement('pre');const c=r.content&&r.content['application/json'];
        const name=c&&c.schema&&c.schema.$ref?' ('+c.schema.$ref.split('/').pop()+')':'';
        pre.textContent=code+' '+r.description+name+(c&&c.example!==undefined?'\n'+JSON.stringify(c.example,null,2):'');d.append(pre);}
      ops.append(d);
    }
  }
}).catch(e=>{document.getElementById('ops').textContent='Could not load /openapi.json: '+e});
"#;

const DOCS_END: &str = r#"</body></html>"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_the_schemas_are_the_wire_types() {
        let doc = openapi_document();
        let mut found = vec![];
        refs(&doc, &mut found);
        assert!(found.len() > 30, "{found:?}");
        for target in &found {
            let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{target}"));
            assert!(doc["components"]["schemas"][name].is_object(), "{target} is not in components");
        }
        let schemas = &doc["components"]["schemas"];
        // The request as `TrainRequest` parses it: camelCase names, the fractions' bounds.
        let train = &schemas["TrainRequest"]["properties"];
        for field in ["datasetId", "targetColumn", "taskType", "modelConfig", "seed", "testFraction", "validationFraction", "pluginValidationFraction", "folds"]
        {
            assert!(train[field].is_object(), "TrainRequest lacks {field}: {train}");
        }
        assert_eq!(train["testFraction"]["maximum"], 0.9);
        // A job as `JobView` serialises it, and the error every route may answer.
        assert!(schemas["JobView"]["properties"]["cancelRequested"].is_object());
        assert!(schemas["ErrorDetail"]["required"].as_array().unwrap().contains(&json!("code")));
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for (method, op) in methods.as_object().unwrap() {
                assert!(op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"].is_string(), "{method} {path}");
            }
        }
    }

    #[test]
    fn a_served_body_has_the_fields_its_schema_requires() {
        let doc = openapi_document();
        let schemas = &doc["components"]["schemas"];
        let body = crate::api::wire::to_json(&ErrorBody { error: ErrorDetail { code: "not_found".into(), message: "m".into(), field: None } });
        for field in schemas["ErrorDetail"]["required"].as_array().unwrap() {
            assert!(body["error"][field.as_str().unwrap()].is_string(), "{field} in {body}");
        }
        assert_eq!(body["error"].as_object().unwrap().len(), 2, "an absent field is left out, not null: {body}");
    }

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
