//! `trainhost serve` against what a hostile web page can send through a
//! visitor's browser: JSON as text or as a form, requests and WebSockets from
//! another origin, a rebinding `Host`; and the edge's answers: the error JSON
//! for the framework's own rejections, security headers everywhere, close
//! codes for WebSocket clients that break the protocol.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"].clone())
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_sites_cannot_drive_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::embedded(dir.path());
    setup.env.push(("TRAINHOST_SERVER_CORS_ORIGINS".into(), "http://friend.example".into()));
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    let dataset = upload(url, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let job = serde_json::to_string(&baseline_job(&dataset)).unwrap();

    // JSON sent as text or as a form (no preflight needed): refused.
    for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = client().post(format!("{url}/train")).header("content-type", kind).body(job.clone()).send().await.unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!((status, error["code"].as_str()), (415, Some("unsupported_media_type")), "{kind}: {error}");
    }
    // The upload route takes multipart only.
    let response = client().post(format!("{url}/datasets")).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(error_of(response).await.0, 415);

    // Another origin may not submit, cancel or upload; the server's own origin,
    // a configured one, and requests without Origin (curl, the CLI) may.
    let evil = "http://evil.example";
    let response = client().post(format!("{url}/train")).header("origin", evil).json(&baseline_job(&dataset)).send().await.unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!((status, error["code"].as_str()), (403, Some("forbidden_origin")), "{error}");
    let response = client().post(format!("{url}/jobs/{}/cancel", uuid::Uuid::new_v4())).header("origin", evil).send().await.unwrap();
    assert_eq!(error_of(response).await.0, 403);
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec()).file_name("x.csv"));
    let response = client().post(format!("{url}/datasets")).header("origin", evil).multipart(form).send().await.unwrap();
    assert_eq!(error_of(response).await.0, 403);
    let response = client().delete(format!("{url}/datasets/{dataset}")).header("origin", evil).send().await.unwrap();
    assert_eq!(error_of(response).await.0, 403);
    for origin in [url.as_str(), "http://friend.example"] {
        let response = client().post(format!("{url}/train")).header("origin", origin).json(&baseline_job(&dataset)).send().await.unwrap();
        assert_eq!(response.status(), 202, "{origin}");
    }
    let job_id = submit(url, &baseline_job(&dataset)).await;

    // The WebSocket refuses another origin's page, and serves its own.
    let ws_url = format!("{}/ws/{job_id}", url.replacen("http", "ws", 1));
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", evil.parse().unwrap());
    request.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a WebSocket from another origin was not refused: {:?}", other.map(|(_, r)| r.status())),
    }
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", url.parse().unwrap());
    request.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("a same-origin WebSocket");
    assert_complete_sequence(&collect(socket, Duration::from_secs(60)).await, "complete");

    // DNS rebinding: a name that resolves to 127.0.0.1 but is not on the allow-list.
    let port = url.rsplit(':').next().unwrap();
    let response = client().get(format!("{url}/jobs")).header("host", format!("rebind.evil.example:{port}")).send().await.unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!((status, error["code"].as_str()), (421, Some("invalid_host")), "{error}");
    for host in [host_of(url), format!("localhost:{port}")] {
        let response = client().get(format!("{url}/jobs")).header("host", host.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    // The UI's own requests (same origin, JSON typed) work as before.
    let response = client().post(format!("{url}/jobs/{job_id}/cancel")).header("origin", url.as_str()).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(error_of(response).await.1["code"], "job_finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = &server.url;

    for path in ["/", "/ui/app.js", "/docs", "/jobs", "/nowhere", "/openapi.json"] {
        let response = client().get(format!("{url}{path}")).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/docs" {
            assert!(csp.contains("script-src 'sha256-") && csp.contains("connect-src 'self'"), "{csp}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frameworks_own_rejections_answer_the_error_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    // Once plain text (or empty), now in the documented shape.
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (client().get(format!("{url}/jobs?limit=many")), 400, "invalid_field"),
        (client().put(format!("{url}/train")), 405, "method_not_allowed"),
        (client().delete(format!("{url}/jobs")), 405, "method_not_allowed"),
        (client().post(format!("{url}/train")).header("content-type", "application/json").body(vec![b' '; 3 << 20]), 413, "body_too_large"),
        (client().get(format!("{url}/ws/{}", uuid::Uuid::new_v4())), 400, "invalid_request"),
        (client().post(format!("{url}/datasets")).header("content-type", "multipart/form-data"), 400, "invalid_request"),
        (client().get(format!("{url}/jobs/%FF")), 400, "invalid_request"),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        assert!(kind.as_deref().is_some_and(|k| k.starts_with("application/json")), "{status} {code}: {kind:?}");
        let (got, error) = error_of(response).await;
        assert_eq!((got, error["code"].as_str()), (status, Some(code)), "{error}");
        assert!(!error["message"].as_str().unwrap_or("").is_empty(), "{error}");
    }
}

/// Reads until the server's close frame; its code and reason.
async fn close_of(socket: &mut Socket) -> Option<(CloseCode, String)> {
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| (f.code, f.reason.to_string())),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    });
    read.await.expect("the server neither closed the socket nor dropped it")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_clients_that_break_the_protocol_get_a_close_code() {
    let dir = tempfile::tempdir().unwrap();
    let (server, dataset) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let job = submit(url, &slow_job(&dataset, 300, 100)).await;

    let mut socket = open_ws(url, &job).await;
    socket.send(Message::Text("subscribe please".into())).await.unwrap();
    let (code, reason) = close_of(&mut socket).await.expect("a close frame for a text message");
    assert_eq!(code, CloseCode::Unsupported, "{reason}");

    let mut socket = open_ws(url, &job).await;
    socket.send(Message::Binary(vec![7u8; 64 << 10].into())).await.unwrap();
    let (code, reason) = close_of(&mut socket).await.expect("a close frame for an oversized frame");
    assert_eq!(code, CloseCode::Size, "{reason}");

    // A frame with the reserved bits set (and masked, as clients must).
    let mut socket = open_ws(url, &job).await;
    let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = socket.get_mut() else { panic!("plain TCP expected") };
    tcp.write_all(&[0xF1, 0x80, 0, 0, 0, 0]).await.unwrap();
    let (code, reason) = close_of(&mut socket).await.expect("a close frame for a broken frame");
    assert_eq!(code, CloseCode::Protocol, "{reason}");

    client().post(format!("{url}/jobs/{job}/cancel")).send().await.unwrap();
}
