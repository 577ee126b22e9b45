//! HTTPS and WSS served by `trainhost serve` itself (`server.tls_cert` and
//! `server.tls_key`), against the real binary with a self-signed certificate
//! made by the `openssl` command at test time: tokens, the `Secure` session
//! cookie and HSTS over HTTPS, a job's events over WSS, a plain-HTTP client
//! and a silent one on the TLS port (neither holds the server up), and
//! certificate files that cannot be used (the start fails, naming the file).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for localhost and 127.0.0.1 (an end-entity
/// certificate, as rustls's verifier wants) and its key, in `dir`.
fn make_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl (the tests need the openssl command)");
    assert!(output.status.success(), "openssl: {}", String::from_utf8_lossy(&output.stderr));
    (cert, key)
}

fn tls_setup(dir: &Path, cert: &Path, key: &Path, extra: &[(&str, &str)]) -> Setup {
    let mut setup = Setup::embedded(dir);
    setup.env.push(("TRAINHOST_SERVER_TLS_CERT".into(), cert.display().to_string()));
    setup.env.push(("TRAINHOST_SERVER_TLS_KEY".into(), key.display().to_string()));
    setup.env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    setup
}

/// An HTTPS client that trusts `cert` (and sends `token`, if any).
fn https_client(cert: &Path, token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    }
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A rustls client trusting `cert` only, speaking HTTP/1.1 (for the WebSocket).
fn tls_connector(cert: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_file(cert).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap()
}

/// Every event of the job's socket over WSS, until the server closes it.
async fn wss_events(url: &str, cert: &Path, job: &str) -> Vec<Value> {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port_of(url))).await.unwrap();
    let tls = tls_connector(cert).connect("localhost".try_into().unwrap(), tcp).await.expect("the TLS handshake");
    let mut request = format!("wss://localhost:{}/ws/{job}", port_of(url)).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.expect("the WebSocket handshake over TLS");
    let mut events = vec![];
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(message) = socket.next().await {
            match message.expect("a WebSocket message") {
                Message::Text(text) => events.push(serde_json::from_str::<Value>(&text).unwrap()),
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    assert!(read.await.is_ok(), "the socket did not end in time: {events:?}");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_needs_a_token_sets_a_secure_cookie_and_wss_delivers_a_job_to_complete() {
    let dir = temp_dir();
    let (cert, key) = make_certificate(dir.path());
    let server = Process::serve(&tls_setup(dir.path(), &cert, &key, &[]), &[]);
    let url = server.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "the listening line names the https URL: {url}");
    let sign_in = server.log.lines_with("#token=");
    assert!(sign_in.iter().all(|l| l.contains("https://")), "the sign-in link is https: {sign_in:?}");

    let admin = https_client(&cert, Some(ADMIN_TOKEN));
    let me = admin.get(format!("{url}/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let hsts = me.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"), "HSTS on every response under TLS");
    assert_eq!(me.json::<Value>().await.unwrap()["data"]["name"], "admin");
    let anonymous = https_client(&cert, None).get(format!("{url}/jobs")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    let session = https_client(&cert, None).post(format!("{url}/auth/session")).json(&serde_json::json!({"token": ADMIN_TOKEN})).send().await.unwrap();
    assert_eq!(session.status(), 201);
    let cookie = session.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["trainhost_session=th_", "HttpOnly", "SameSite=Strict", "; Secure"] {
        assert!(cookie.contains(part), "{cookie}");
    }

    let bytes = std::fs::read(testdata("penguins.csv")).unwrap();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("penguins.csv"));
    let uploaded: Value = admin.post(format!("{url}/datasets")).multipart(form).send().await.unwrap().json().await.unwrap();
    let dataset = uploaded["data"]["id"].as_str().unwrap();
    let submitted: Value = admin.post(format!("{url}/train")).json(&slow_job(dataset, 5, 100)).send().await.unwrap().json().await.unwrap();
    let job = submitted["data"]["jobId"].as_str().unwrap();
    let events = wss_events(&url, &cert, job).await;
    assert_complete_sequence(&events, "complete");
    assert!(events.iter().any(|e| e["type"] == "progress"), "live progress came over WSS: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_and_a_silent_client_on_the_tls_port_are_dropped_and_https_goes_on() {
    let dir = temp_dir();
    let (cert, key) = make_certificate(dir.path());
    let setup = tls_setup(dir.path(), &cert, &key, &[("TRAINHOST_SERVER_TLS_HANDSHAKE_TIMEOUT_SECS", "1")]);
    let server = Process::serve(&setup, &[]);
    let (url, port) = (server.url.clone(), port_of(&server.url));
    let healthz = |client: reqwest::Client| {
        let url = url.clone();
        async move { client.get(format!("{url}/healthz")).send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(healthz(https_client(&cert, None)).await.unwrap(), 200);

    // Plain HTTP to the TLS port: the handshake fails and the server closes at once.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut answer = vec![];
    let closed = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "a plain-HTTP client on the TLS port was left open");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "plain HTTP was served on the TLS port");
    let plain_client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let via_http = plain_client.get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(via_http.is_err(), "an http:// request to the TLS port got an answer: {via_http:?}");
    assert_eq!(healthz(https_client(&cert, None)).await.unwrap(), 200, "the next HTTPS client is served");

    // A client that opens TCP and never says hello goes after the handshake timeout (1 s).
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut byte)).await;
    let waited = started.elapsed();
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the silent client was not dropped: {read:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "dropped after {waited:?}, not after the 1 s handshake timeout");
    eprintln!("silent client dropped after {waited:?}");
    assert_eq!(healthz(https_client(&cert, None)).await.unwrap(), 200);

    // One handshake's cost as a client sees it (a new client per request: no reuse).
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        assert_eq!(healthz(https_client(&cert, None)).await.unwrap(), 200);
    }
    eprintln!("HTTPS GET /healthz on a new connection: {:?} each (mean of {rounds})", started.elapsed() / rounds);
}

/// `trainhost serve` with the given TLS files: it must exit with an error
/// that names `named`, without a panic.
fn assert_start_fails(dir: &Path, cert: &Path, key: &Path, named: &Path) {
    let setup = tls_setup(dir, cert, key, &[]);
    let output = trainhost_command(&setup.config_path()).arg("serve").envs(setup.env.iter().cloned()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "serve started with {} / {}", cert.display(), key.display());
    assert!(stderr.contains(&named.display().to_string()), "the error names {}: {stderr}", named.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(LISTENING), "it listened anyway");
}

#[test]
fn a_certificate_or_key_that_cannot_be_used_stops_the_start_naming_the_file() {
    let dir = temp_dir();
    let (cert, key) = make_certificate(dir.path());
    let (missing, junk) = (dir.path().join("no-such-cert.pem"), dir.path().join("junk.pem"));
    std::fs::write(&junk, "this is not PEM\n").unwrap();
    assert_start_fails(dir.path(), &missing, &key, &missing);
    assert_start_fails(dir.path(), &cert, &junk, &junk);
    assert_start_fails(dir.path(), &junk, &key, &junk);
    // A key of another certificate.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, other_key) = make_certificate(&other);
    assert_start_fails(dir.path(), &cert, &other_key, &other_key);
}

/// The certificate the server presents to a client trusting `trusted`.
async fn presented_certificate(port: u16, trusted: &Path) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = tls_connector(trusted).connect("localhost".try_into().unwrap(), tcp).await.expect("the TLS handshake");
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(cert: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(cert).unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reads_a_renewed_certificate_and_a_broken_one_keeps_the_old() {
    let dir = temp_dir();
    let (cert, key) = make_certificate(dir.path());
    let first = der_of(&cert);
    let server = Process::serve(&tls_setup(dir.path(), &cert, &key, &[]), &[]);
    let port = port_of(&server.url);
    assert_eq!(presented_certificate(port, &cert).await, first);

    // A key that is not the certificate's: the reload is refused, the old pair serves.
    let saved_key = std::fs::read(&key).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(make_certificate(&other).1, &key).unwrap();
    server.signal(libc::SIGHUP);
    server.log.wait_for("config reload failed", 0, Duration::from_secs(30)).await;
    assert!(server.log.lines_with("config reload failed").iter().any(|l| l.contains("key.pem")), "the refusal names the file");
    assert_eq!(presented_certificate(port, &cert).await, first);
    std::fs::write(&key, saved_key).unwrap();

    // Renewed in place: the next handshake presents the new certificate.
    let renewed = dir.path().join("renewed");
    std::fs::create_dir(&renewed).unwrap();
    let (new_cert, new_key) = make_certificate(&renewed);
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    server.signal(libc::SIGHUP);
    server.log.wait_for("TLS certificate and key read again", 0, Duration::from_secs(30)).await;
    let presented = presented_certificate(port, &cert).await;
    assert!(presented != first && presented == der_of(&new_cert), "the renewed certificate is served");
}
