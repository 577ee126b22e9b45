//! `WS /ws/{jobId}`: subscribe, replay, then live, deduplicated by `seq`.
//!
//! The socket subscribes to live events before it reads the stored ones, so
//! nothing falls between the two; live events at or below the last seq sent
//! are dropped, and a gap (a pub/sub message lost while Redis reconnected) is
//! filled from the stored events. It closes after the terminal event. A slow
//! client whose buffer overflows is closed; the others never wait for it.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, AppState};
use crate::jobs::{is_valid_id, StoredEvent};
use crate::metrics::METRICS;

/// A send that takes longer than this means the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the stored events are re-read while nothing arrives live.
const RESYNC_EVERY: Duration = Duration::from_secs(5);

pub async fn handler(State(state): State<AppState>, Path(id): Path<String>, ws: WebSocketUpgrade) -> Response {
    if !is_valid_id(&id) {
        return ApiError::not_found("job_not_found", format!("no job `{id}`")).into_response();
    }
    match state.broker.get(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return ApiError::not_found("job_not_found", format!("no job `{id}`")).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    ws.on_upgrade(move |socket| async move {
        METRICS.ws_open.inc();
        stream(socket, state, id).await;
        METRICS.ws_open.dec();
    })
}

enum End {
    Terminal,
    ClientGone,
    Slow,
    Failed,
}

async fn stream(socket: WebSocket, state: AppState, id: String) {
    let (mut tx, mut rx) = socket.split();
    let end = async {
        let Ok(mut sub) = state.broker.subscribe(&id).await else { return End::Failed };
        let mut last = 0u64;
        let Ok(replay) = state.broker.events_after(&id, 0).await else { return End::Failed };
        if let Some(end) = send_batch(&mut tx, replay, &mut last).await {
            return end;
        }
        loop {
            let mut batch = vec![];
            tokio::select! {
                received = sub.receiver.recv() => match received {
                    Ok(event) if event.seq <= last => continue,
                    Ok(event) if event.seq == last + 1 => batch.push(event),
                    Ok(_) => match state.broker.events_after(&id, last).await {
                        Ok(missed) => batch = missed,
                        Err(_) => return End::Failed,
                    },
                    Err(RecvError::Lagged(_)) => return End::Slow,
                    Err(RecvError::Closed) => return End::Failed,
                },
                _ = tokio::time::sleep(RESYNC_EVERY) => match state.broker.events_after(&id, last).await {
                    Ok(missed) => batch = missed,
                    Err(_) => return End::Failed,
                },
                incoming = rx.next() => match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::ClientGone,
                    Some(Ok(_)) => continue,
                },
            }
            if let Some(end) = send_batch(&mut tx, batch, &mut last).await {
                return end;
            }
        }
    }
    .await;
    let close = match end {
        End::Terminal => Some((1000, "job ended")),
        End::Slow => {
            METRICS.ws_dropped_slow.inc();
            Some((1008, "client too slow: events were dropped; reconnect to replay"))
        }
        End::Failed => Some((1011, "event delivery failed; reconnect to replay")),
        End::ClientGone => None,
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(Message::Close(Some(frame)))).await;
    }
}

/// Sends the events above `last` in order; `Some` when the socket must close.
async fn send_batch(tx: &mut futures::stream::SplitSink<WebSocket, Message>, events: Vec<StoredEvent>, last: &mut u64) -> Option<End> {
    for event in events {
        if event.seq <= *last {
            continue;
        }
        if !send(tx, &event).await {
            return Some(End::ClientGone);
        }
        *last = event.seq;
        if event.terminal {
            return Some(End::Terminal);
        }
    }
    None
}

async fn send(tx: &mut futures::stream::SplitSink<WebSocket, Message>, event: &StoredEvent) -> bool {
    let message = Message::Text(event.json.to_string().into());
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(message)).await {
        Ok(Ok(())) => {
            METRICS.ws_events_sent.inc();
            true
        }
        _ => false,
    }
}
