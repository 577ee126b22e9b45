//! Live events across processes: pattern subscriptions per process deliver
//! every job's published events, and every cancel request of a running job,
//! to the local hub.
//!
//! Owns the pub/sub connection and its reconnects. It must not write to Redis.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;

use crate::jobs::StoredEvent;
use crate::queue::Hub;

/// Channel name prefix of a job's live events (then the job id).
pub(super) const EVENTS: &str = "job_";
/// Channel name prefix of a running job's cancel requests (then the job id).
pub(super) const CANCELS: &str = "cancel_";

/// Subscribes to both kinds of channel and forwards events to `hub`, reconnecting on
/// failure (sockets fill any gap from the stream). `ready` gets the outcome
/// of the first subscription; if that fails, the listener stops.
pub(super) async fn listen(client: redis::Client, hub: Arc<Hub>, ready: oneshot::Sender<anyhow::Result<()>>) {
    let mut ready = Some(ready);
    loop {
        match subscribe(&client).await {
            Ok(pubsub) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                forward(pubsub, &hub).await;
                tracing::warn!("Redis pub/sub connection lost; reconnecting");
            }
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e.into()));
                    return;
                }
                tracing::warn!(error = %e, "Redis pub/sub reconnect failed");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn subscribe(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(format!("{EVENTS}*")).await?;
    pubsub.psubscribe(format!("{CANCELS}*")).await?;
    Ok(pubsub)
}

/// Delivers messages until the connection ends.
async fn forward(mut pubsub: redis::aio::PubSub, hub: &Hub) {
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let channel = msg.get_channel_name();
        if let Some(id) = channel.strip_prefix(CANCELS) {
            hub.announce_cancel(id);
            continue;
        }
        let Some(id) = channel.strip_prefix(EVENTS) else { continue };
        let Ok(payload) = msg.get_payload::<String>() else { continue };
        if let Some(event) = StoredEvent::parse_owned(payload) {
            hub.publish(id, event);
        }
    }
}
