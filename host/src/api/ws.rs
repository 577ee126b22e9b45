//! `WS /ws/{jobId}` and `WS /ws/sweeps/{sweepId}`: subscribe, replay, then
//! live, deduplicated by `seq` (a sweep's events come from the sweeps' store,
//! with the same guarantee; its socket closes after the sweep's last event).
//!
//! The socket subscribes to live events before it reads the stored ones, so
//! nothing falls between the two; live events at or below the last seq sent
//! are dropped, and a gap (a pub/sub message lost while Redis reconnected) is
//! filled from the stored events. It closes after the terminal event. A slow
//! client whose buffer overflows, or that takes nothing for `SEND_TIMEOUT`, is
//! closed; the others never wait for it. Clients send nothing but ping and
//! close: a data message, a broken frame or an oversized one closes the socket
//! with the matching close code (1003, 1002, 1009) and a reason.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::auth::Caller;
use super::{ApiError, AppState, ErrorCode};
use crate::jobs::{is_valid_id, StoredEvent};
use crate::queue::{BrokerError, Subscription};
use crate::telemetry::COUNTERS;

/// A send that takes longer than this means the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the stored events are re-read while nothing arrives live.
const RESYNC_EVERY: Duration = Duration::from_secs(5);
/// Read buffer per socket (grows for a larger frame).
pub const READ_BUFFER: usize = 4 * 1024;
/// Largest frame and message a client may send: control frames carry at most
/// 125 bytes, and clients send nothing else.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;
/// The answer to a text or binary message from the client.
pub const DATA_REFUSAL: (u16, &str) = (1003, "this socket only sends events; clients send nothing but ping and close");

/// The limits `handler` reads client frames with, as a tungstenite config
/// (the fuzz target reads hostile frames with exactly these).
pub fn client_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_frame_size(Some(MAX_CLIENT_FRAME))
        .max_message_size(Some(MAX_CLIENT_FRAME))
}

/// Where a socket's events are stored: a job's in the broker, a sweep's in the sweeps' store.
#[derive(Clone, Copy)]
enum Source {
    Job,
    Sweep,
}

impl Source {
    async fn events_after(self, state: &AppState, id: &str, after: u64) -> Result<Vec<StoredEvent>, BrokerError> {
        match self {
            Source::Job => state.broker.events_after(id, after).await,
            Source::Sweep => state.sweeps.sweeps.events_after(id, after).await,
        }
    }
}

/// `WS /ws/sweeps/{id}`: a sweep's events, replayed then live.
pub async fn sweep_handler(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ws: WebSocketUpgrade) -> Response {
    // Another member's sweep (or none) answers as a missing one, before anything is subscribed.
    if let Err(e) = super::sweeps::find(&state, &caller, &id).await {
        return e.into_response();
    }
    let sub = match state.sweeps.sweeps.subscribe(&id).await {
        Ok(sub) => sub,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let replay = match state.sweeps.sweeps.events_after(&id, 0).await {
        Ok(events) => events,
        Err(e) => return ApiError::from(e).into_response(),
    };
    ws.read_buffer_size(READ_BUFFER).max_frame_size(MAX_CLIENT_FRAME).max_message_size(MAX_CLIENT_FRAME).on_upgrade(move |socket| async move {
        COUNTERS.ws_open.inc();
        stream(socket, state, Source::Sweep, id, sub, replay).await;
        COUNTERS.ws_open.dec();
    })
}

pub async fn handler(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ws: WebSocketUpgrade) -> Response {
    if !is_valid_id(&id) {
        return ApiError::new(ErrorCode::JobNotFound, format!("no job `{id}`")).into_response();
    }
    // Another member's job answers as a missing one, before anything is subscribed.
    if caller.user.is_some() {
        if let Err(e) = super::jobs::find(&state, &caller, &id).await {
            return e.into_response();
        }
    }
    // Subscribed before the stored events are read, so nothing falls between
    // the two; reading them also tells whether the job exists (one broker call).
    let sub = match state.broker.subscribe(&id).await {
        Ok(sub) => sub,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let replay = match state.broker.events_after(&id, 0).await {
        Ok(events) => events,
        Err(BrokerError::NotFound(_)) => return ApiError::new(ErrorCode::JobNotFound, format!("no job `{id}`")).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    // Clients only ever send close and ping frames: tungstenite's default 128 KiB
    // read buffer (zeroed again before every read attempt) would cost 1.3 GB and
    // a 128 KiB memset per socket per event at 10,000 sockets.
    ws.read_buffer_size(READ_BUFFER).max_frame_size(MAX_CLIENT_FRAME).max_message_size(MAX_CLIENT_FRAME).on_upgrade(move |socket| async move {
        COUNTERS.ws_open.inc();
        stream(socket, state, Source::Job, id, sub, replay).await;
        COUNTERS.ws_open.dec();
    })
}

enum End {
    Terminal,
    ClientGone,
    Slow,
    Failed,
    /// The client broke the protocol or sent what this socket does not take.
    Refused(u16, &'static str),
}

/// What to do with what the client sent: None to keep going.
fn answer_to(incoming: Option<Result<Message, axum::Error>>) -> Option<End> {
    match incoming {
        None | Some(Ok(Message::Close(_))) => Some(End::ClientGone),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
        Some(Ok(Message::Text(_) | Message::Binary(_))) => Some(End::Refused(DATA_REFUSAL.0, DATA_REFUSAL.1)),
        Some(Err(e)) => Some(read_error(e)),
    }
}

fn read_error(e: axum::Error) -> End {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => refusal_of_error(&e).map_or(End::ClientGone, |(code, reason)| End::Refused(code, reason)),
        Err(_) => End::ClientGone,
    }
}

/// The close code and reason for a read error that is the client's fault;
/// None when the connection just went away.
pub fn refusal_of_error(e: &tungstenite::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::{CapacityError, Error};
    match e {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Some((1009, "frame too large: clients send nothing but ping and close")),
        Error::Capacity(_) | Error::Protocol(_) => Some((1002, "WebSocket protocol error")),
        Error::Utf8(_) => Some((1007, "invalid UTF-8 in a text frame")),
        _ => None,
    }
}

async fn stream(socket: WebSocket, state: AppState, source: Source, id: String, mut sub: Subscription, replay: Vec<StoredEvent>) {
    let (mut tx, mut rx) = socket.split();
    let end = async {
        let mut last = 0u64;
        if let Some(end) = send_batch(&mut tx, replay, &mut last).await {
            return end;
        }
        // One timer for the socket's life, re-armed only when it fires (not per event).
        let resync = tokio::time::sleep(RESYNC_EVERY);
        tokio::pin!(resync);
        let mut last_live = tokio::time::Instant::now();
        loop {
            let mut batch = vec![];
            tokio::select! {
                received = sub.receiver.recv() => {
                    last_live = tokio::time::Instant::now();
                    let mut received = received;
                    // Take whatever else is already waiting: one flush sends them all.
                    loop {
                        match received {
                            Ok(event) if event.seq <= last + batch.len() as u64 => {}
                            Ok(event) if event.seq == last + batch.len() as u64 + 1 => batch.push(event),
                            Ok(_) => match source.events_after(&state, &id, last).await {
                                Ok(missed) => {
                                    batch = missed;
                                    break;
                                }
                                Err(_) => return End::Failed,
                            },
                            Err(RecvError::Lagged(_)) => return End::Slow,
                            Err(RecvError::Closed) => return End::Failed,
                        }
                        received = match sub.receiver.try_recv() {
                            Ok(event) => Ok(event),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                            Err(TryRecvError::Closed) => Err(RecvError::Closed),
                        };
                    }
                    if batch.is_empty() {
                        continue;
                    }
                },
                _ = &mut resync => {
                    let quiet_since = last_live.max(resync.deadline() - RESYNC_EVERY);
                    if quiet_since.elapsed() < RESYNC_EVERY {
                        // Events arrived live meanwhile: wait for a quiet period.
                        resync.as_mut().reset(quiet_since + RESYNC_EVERY);
                        continue;
                    }
                    resync.as_mut().reset(tokio::time::Instant::now() + RESYNC_EVERY);
                    match source.events_after(&state, &id, last).await {
                        Ok(missed) => batch = missed,
                        Err(_) => return End::Failed,
                    }
                },
                incoming = rx.next() => match answer_to(incoming) {
                    Some(end) => return end,
                    None => continue,
                },
            }
            if let Some(end) = send_batch(&mut tx, batch, &mut last).await {
                return end;
            }
        }
    }
    .await;
    let close = match end {
        End::Terminal => Some((
            1000,
            match source {
                Source::Job => "job ended",
                Source::Sweep => "sweep ended",
            },
        )),
        End::Slow => {
            COUNTERS.ws_dropped_slow.inc();
            Some((1008, "client too slow: events were dropped; reconnect to replay"))
        }
        End::Failed => Some((1011, "event delivery failed; reconnect to replay")),
        End::Refused(code, reason) => Some((code, reason)),
        End::ClientGone => None,
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(Message::Close(Some(frame)))).await;
    }
}

/// Sends the events above `last` in order, with one flush for the batch;
/// `Some` when the socket must close.
async fn send_batch(tx: &mut futures::stream::SplitSink<WebSocket, Message>, events: Vec<StoredEvent>, last: &mut u64) -> Option<End> {
    let mut end = None;
    let mut next = *last;
    let mut sent = 0;
    let result = tokio::time::timeout(SEND_TIMEOUT, async {
        for event in events {
            if event.seq <= next {
                continue;
            }
            // The event's text is shared with every other socket, not copied.
            let text = Utf8Bytes::try_from(event.json.bytes()).expect("event text is UTF-8");
            tx.feed(Message::Text(text)).await?;
            next = event.seq;
            sent += 1;
            if event.terminal {
                end = Some(End::Terminal);
                break;
            }
        }
        tx.flush().await
    })
    .await;
    match result {
        Ok(Ok(())) => {
            COUNTERS.ws_events_sent.inc_by(sent);
            *last = next;
            end
        }
        Ok(Err(_)) => Some(End::ClientGone),
        // Not one byte taken for SEND_TIMEOUT: the client stopped reading.
        Err(_) => Some(End::Slow),
    }
}
