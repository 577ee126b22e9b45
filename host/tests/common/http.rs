//! Talking to a running `serve` like a client: HTTP requests, the job bodies
//! the tests submit, polling a job, and reading a job's WebSocket to the end.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use super::paths::testdata;
use super::process::Process;
use super::setup::Setup;

/// The token of the first admin of every server the kit starts
/// (`TRAINHOST_AUTH_BOOTSTRAP_TOKEN`); the helpers without `_as` use it.
pub const ADMIN_TOKEN: &str = "th_test_admin_0000000000000000000000000000000000000000000000000000";

/// A client without credentials.
pub fn anonymous_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("building an HTTP client")
}

/// A client that sends `token` on every request.
pub fn client_as(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is header text");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder().timeout(Duration::from_secs(30)).default_headers(headers).build().expect("building an HTTP client")
}

/// A client signed in as the kit's admin.
pub fn client() -> reqwest::Client {
    client_as(ADMIN_TOKEN)
}

pub async fn upload(url: &str, file: &Path) -> Value {
    upload_as(url, ADMIN_TOKEN, file).await
}

pub async fn upload_as(url: &str, token: &str, file: &Path) -> Value {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    let name = file.file_name().and_then(|n| n.to_str()).expect("a file name").to_string();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
    let response = client_as(token).post(format!("{url}/datasets")).multipart(form).send().await.expect("POST /datasets");
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.expect("a JSON answer")["data"].clone()
}

pub async fn post_json(url: &str, path: &str, body: &Value) -> (u16, Value) {
    post_json_as(url, ADMIN_TOKEN, path, body).await
}

pub async fn post_json_as(url: &str, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = client_as(token).post(format!("{url}{path}")).json(body).send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(url: &str, path: &str) -> (u16, Value) {
    get_json_as(url, ADMIN_TOKEN, path).await
}

pub async fn get_json_as(url: &str, token: &str, path: &str) -> (u16, Value) {
    let response = client_as(token).get(format!("{url}{path}")).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The status and body of `GET path` (a model download, say).
pub async fn get_bytes(url: &str, path: &str) -> (u16, bytes::Bytes) {
    get_bytes_as(url, ADMIN_TOKEN, path).await
}

pub async fn get_bytes_as(url: &str, token: &str, path: &str) -> (u16, bytes::Bytes) {
    let response = client_as(token).get(format!("{url}{path}")).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap_or_else(|e| panic!("reading GET {path}: {e}")))
}

pub async fn submit(url: &str, body: &Value) -> String {
    submit_as(url, ADMIN_TOKEN, body).await
}

pub async fn submit_as(url: &str, token: &str, body: &Value) -> String {
    let (status, response) = post_json_as(url, token, "/train", body).await;
    assert_eq!(status, 202, "{response}");
    response["data"]["jobId"].as_str().expect("a submitted job has an id").to_string()
}

/// Creates a user through the admin API; returns its token.
pub async fn add_user(url: &str, name: &str, role: &str) -> String {
    let (status, body) = post_json(url, "/admin/users", &serde_json::json!({ "name": name, "role": role })).await;
    assert_eq!(status, 201, "{body}");
    body["data"]["token"].as_str().expect("a new user comes with a token").to_string()
}

pub fn baseline_job(dataset: &str) -> Value {
    serde_json::json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}})
}

pub fn slow_job(dataset: &str, epochs: u32, millis: u32) -> Value {
    serde_json::json!({"datasetId": dataset, "taskType": "clustering", "modelConfig": {"selectedModel": "slow", "epochs": epochs, "epochMillis": millis}})
}

pub async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client().get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never became ready");
}

/// `serve` on the embedded broker in `dir`, ready, with penguins.csv uploaded
/// (its dataset id returned).
pub async fn serve_with_penguins(dir: &Path) -> (Process, String) {
    let server = Process::serve(&Setup::embedded(dir), &[]);
    wait_ready(&server.url).await;
    let dataset = upload(&server.url, &testdata("penguins.csv")).await;
    (server, dataset["id"].as_str().expect("an uploaded dataset has an id").to_string())
}

/// Polls until the job is in one of `statuses`.
pub async fn wait_status(url: &str, job: &str, statuses: &[&str], within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, body) = get_json(url, &format!("/jobs/{job}")).await;
        let status = body["data"]["status"].as_str().unwrap_or("").to_string();
        if statuses.contains(&status.as_str()) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "job {job} still {status}, wanted {statuses:?}: {body}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn open_ws(url: &str, job: &str) -> Socket {
    open_ws_as(url, ADMIN_TOKEN, job).await
}

/// The job's socket with `Authorization: Bearer token`.
pub async fn open_ws_as(url: &str, token: &str, job: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = ws_url(url, job).into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("a token is header text"));
    tokio_tungstenite::connect_async(request).await.expect("opening the WebSocket").0
}

/// `ws://.../ws/{job}`.
pub fn ws_url(url: &str, job: &str) -> String {
    format!("{}/ws/{job}", url.replacen("http", "ws", 1))
}

/// Every text message until the server closes the socket.
pub async fn collect(mut socket: Socket, within: Duration) -> Vec<Value> {
    let mut events = vec![];
    let result = tokio::time::timeout(within, async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(tokio_tungstenite::tungstenite::Message::Text(text)) => events.push(serde_json::from_str::<Value>(&text).expect("every event is JSON")),
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(result.is_ok(), "the socket did not close in time; got {events:?}");
    events
}

/// Each event exactly once, seq 1..n in order, ending with one terminal event.
pub fn assert_complete_sequence(events: &[Value], terminal: &str) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("every event has a seq")).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "events: {events:?}");
    assert_eq!(events.last().expect("at least one event")["type"], terminal, "events: {events:?}");
    let terminals = events.iter().filter(|e| matches!(e["type"].as_str(), Some("complete" | "error" | "cancelled"))).count();
    assert_eq!(terminals, 1);
}

pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("a JSON object").keys().cloned().collect();
    keys.sort();
    keys
}
