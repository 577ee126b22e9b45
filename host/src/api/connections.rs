//! Accepting and holding HTTP connections: at most `server.max_connections`
//! open at once (more wait in the listen backlog until one closes), a request
//! head must arrive within `header_read_timeout_secs` of its first byte, and a
//! connection on which the server waits for the client (for the next request,
//! or for a request body) and that moves no bytes for `idle_timeout_secs` is
//! closed. An upgraded connection (a WebSocket) keeps its slot until it
//! closes, but leaves the timeouts to the socket's own handler.
//!
//! Under TLS (`api::tls`), a connection holds its slot from the accept, must
//! finish its handshake within `tls_handshake_timeout_secs`, and then gets the
//! same limits on the decrypted stream as a plain one. A client that speaks
//! plain HTTP to the TLS port fails the handshake and is closed at once.
//!
//! Owns the accept loop, the TLS handshake's deadline and each connection's
//! watchdog. It must not look at requests: the router does.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ServerConfig;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// From the accept to the end of the TLS handshake (TLS only).
    pub tls_handshake_timeout: Duration,
}

impl ConnectionLimits {
    pub fn from_config(server: &ServerConfig) -> ConnectionLimits {
        let secs = |s: f64| Duration::try_from_secs_f64(s).ok().filter(|d| !d.is_zero()).unwrap_or(Duration::MAX);
        ConnectionLimits {
            header_read_timeout: secs(server.header_read_timeout_secs),
            idle_timeout: secs(server.idle_timeout_secs),
            max_connections: server.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            tls_handshake_timeout: secs(server.tls_handshake_timeout_secs),
        }
    }
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` turns
/// true, then waits for the open connections to finish (the caller bounds that wait).
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, tls: Option<TlsAcceptor>, shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut stop = shutdown.clone();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the connection semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let connection = Connection { peer, slot, app: app.clone(), limits, shutdown: shutdown.clone() };
                match &tls {
                    None => drop(tokio::spawn(connection.serve(stream))),
                    Some(tls) => drop(tokio::spawn(connection.handshake(tls.clone(), stream))),
                }
            }
            // Out of file descriptors and the like: wait rather than spin.
            Err(e) if !is_per_connection(&e) => {
                tracing::warn!(error = %e, "accepting a connection failed; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => {}
        }
    }
    drop(listener);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// An error of the one connection being accepted, not of the listener.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// An accepted connection and what serving it needs.
struct Connection {
    peer: std::net::SocketAddr,
    slot: OwnedSemaphorePermit,
    app: Router,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    /// The TLS handshake, within its deadline (and given up on shutdown), then `serve`.
    async fn handshake(self, tls: TlsAcceptor, stream: TcpStream) {
        let mut shutdown = self.shutdown.clone();
        let accepted = tokio::select! {
            accepted = tokio::time::timeout(self.limits.tls_handshake_timeout, tls.accept(stream)) => accepted,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok(Ok(stream)) => self.serve(stream).await,
            // Plain HTTP, a scanner, a client that distrusts the certificate.
            Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed; closing the connection"),
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake not finished in time; closing the connection"),
        }
    }

    /// HTTP/1.1 or HTTP/2 on `stream` (a TCP socket or a TLS session over one), under the watchdog.
    async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { peer, slot, app, limits, mut shutdown } = self;
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone(), _slot: slot });
        let watched = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(watched.clone());
            let mut request = request.map(|body| axum::body::Body::new(WatchedBody { inner: body, activity: watched.clone(), waiting: false }));
            // The client's address, for the limit on failed sign-ins (api::auth).
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await;
                drop(in_flight);
                response
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // hyper's own timer waits for each request head from the moment the
        // connection is free: a backstop no shorter than either of ours.
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout.max(limits.idle_timeout));
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut draining = false;
        loop {
            let wake = activity.next_check(&limits);
            tokio::select! {
                // Done, failed, or upgraded (the socket now lives in the WebSocket handler).
                _ = connection.as_mut() => break,
                _ = activity.changed.notified() => {}
                _ = tokio::time::sleep_until(wake) => {
                    if let Some(why) = activity.expired(&limits) {
                        tracing::debug!(reason = why, "closing a connection");
                        break;
                    }
                }
                _ = shutdown.wait_for(|s| *s), if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What the watchdog of one connection knows.
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when a deadline may have moved earlier.
    changed: Notify,
}

struct ActivityState {
    last_bytes: Instant,
    in_flight: usize,
    /// When the first byte of a request head came (no request being served).
    head_since: Option<Instant>,
    /// Request bodies whose handler waits for the client's next bytes.
    bodies_waiting: usize,
}

impl Activity {
    fn new() -> Activity {
        let state = ActivityState { last_bytes: Instant::now(), in_flight: 0, head_since: None, bodies_waiting: 0 };
        Activity { state: Mutex::new(state), changed: Notify::new() }
    }

    fn read(&self) {
        let mut state = self.state.lock();
        state.last_bytes = Instant::now();
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(state.last_bytes);
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.state.lock().last_bytes = Instant::now();
    }

    fn deadlines(&self, limits: &ConnectionLimits) -> (Option<Instant>, Option<Instant>) {
        let state = self.state.lock();
        let head = state.head_since.and_then(|since| since.checked_add(limits.header_read_timeout));
        let waiting_on_client = state.in_flight == 0 || state.bodies_waiting > 0;
        let idle = waiting_on_client.then(|| state.last_bytes.checked_add(limits.idle_timeout)).flatten();
        (head, idle)
    }

    fn next_check(&self, limits: &ConnectionLimits) -> Instant {
        let (head, idle) = self.deadlines(limits);
        let far = Instant::now() + Duration::from_secs(3600);
        head.into_iter().chain(idle).min().unwrap_or(far).min(far)
    }

    fn expired(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        let now = Instant::now();
        match self.deadlines(limits) {
            (Some(head), _) if head <= now => Some("request head not received in time"),
            (_, Some(idle)) if idle <= now => Some("idle"),
            _ => None,
        }
    }
}

/// A request being served: from its head to its response.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        {
            let mut state = activity.state.lock();
            state.in_flight += 1;
            state.head_since = None;
        }
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.in_flight -= 1;
        state.last_bytes = Instant::now();
        self.0.changed.notify_one();
    }
}

/// The socket, counting its bytes and holding its connection slot (an
/// upgraded connection takes this along).
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>, data: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that tells the watchdog while its handler waits for the
/// client (a stalled upload is idle; a handler busy after reading is not).
struct WatchedBody {
    inner: Incoming,
    activity: Arc<Activity>,
    waiting: bool,
}

impl WatchedBody {
    fn set_waiting(&mut self, waiting: bool) {
        if waiting != self.waiting {
            self.waiting = waiting;
            let mut state = self.activity.state.lock();
            if waiting {
                state.bodies_waiting += 1;
                self.activity.changed.notify_one();
            } else {
                state.bodies_waiting -= 1;
            }
        }
    }
}

impl hyper::body::Body for WatchedBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        self.set_waiting(polled.is_pending());
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.set_waiting(false);
    }
}
