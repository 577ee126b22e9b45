//! `trainhost serve` against clients that hold connections: one that sends
//! its request head a byte at a time, one that keeps an idle connection, and
//! more clients than `server.max_connections` (the extra ones wait to be
//! accepted until a slot frees).

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn server_with(dir: &std::path::Path, settings: &[(&str, &str)]) -> Process {
    let mut setup = Setup::embedded(dir);
    setup.env.extend(settings.iter().map(|(k, v)| (format!("TRAINHOST_SERVER_{k}"), v.to_string())));
    Process::serve(&setup, &[])
}

fn address(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

/// Waits up to `within` for the server to close `stream`; how long it took
/// (None: still open).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    read.await.ok().map(|()| start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_a_byte_a_second_is_cut_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &[("HEADER_READ_TIMEOUT_SECS", "2"), ("IDLE_TIMEOUT_SECS", "30")]);
    wait_ready(&server.url).await;
    let mut stream = TcpStream::connect(address(&server.url)).await.unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\n\r\n", address(&server.url), "a".repeat(60));
    let start = Instant::now();
    let mut cut_after = None;
    for byte in head.bytes() {
        if stream.write_all(&[byte]).await.is_err() {
            cut_after = Some(start.elapsed());
            break;
        }
        if let Some(_waited) = closed_within(&mut stream, Duration::from_secs(1)).await {
            cut_after = Some(start.elapsed());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(12), "still open after 12 s of a slow head");
    }
    let cut_after = cut_after.expect("the whole head was sent: the server waited for it");
    assert!(cut_after >= Duration::from_millis(1500) && cut_after < Duration::from_secs(5), "closed after {cut_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &[("HEADER_READ_TIMEOUT_SECS", "1"), ("IDLE_TIMEOUT_SECS", "3")]);
    wait_ready(&server.url).await;
    let mut stream = TcpStream::connect(address(&server.url)).await.unwrap();
    stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", address(&server.url)).as_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    // Kept alive past the header timeout (nothing of a next request came), closed at the idle timeout.
    let closed = closed_within(&mut stream, Duration::from_secs(10)).await.expect("the idle connection was never closed");
    assert!(closed >= Duration::from_millis(2500) && closed < Duration::from_secs(5), "closed after {closed:?}");

    // A connection that never sends anything is closed too.
    let mut silent = TcpStream::connect(address(&server.url)).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(10)).await.expect("a silent connection was never closed");
    assert!(closed < Duration::from_secs(5), "closed after {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_above_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &[("MAX_CONNECTIONS", "3"), ("IDLE_TIMEOUT_SECS", "30"), ("HEADER_READ_TIMEOUT_SECS", "30")]);
    wait_ready(&server.url).await;
    // wait_ready's pooled connection may still hold a slot: let the client go first.
    let mut holders = vec![];
    for _ in 0..3 {
        holders.push(TcpStream::connect(address(&server.url)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(address(&server.url)).await.expect("the kernel queues the connection");
    extra.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", address(&server.url)).as_bytes()).await.unwrap();
    let mut answer = vec![];
    let early = tokio::time::timeout(Duration::from_millis(1500), extra.read_to_end(&mut answer)).await;
    assert!(early.is_err(), "a fourth connection was served while three were open: {}", String::from_utf8_lossy(&answer));
    holders.clear();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer)).await.expect("served once a slot freed").unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}
