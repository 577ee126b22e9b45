//! Live events across processes: one pattern subscription per process
//! delivers every job's published events to the local hub.
//!
//! Owns the pub/sub connection and its reconnects. It must not write to Redis.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;

use crate::jobs::StoredEvent;
use crate::queue::Hub;

/// Subscribes to `job_*` and forwards events to `hub`, reconnecting on
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
    pubsub.psubscribe("job_*").await?;
    Ok(pubsub)
}

/// Delivers messages until the connection ends.
async fn forward(mut pubsub: redis::aio::PubSub, hub: &Hub) {
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Some(id) = msg.get_channel_name().strip_prefix("job_") else { continue };
        let Ok(payload) = msg.get_payload::<String>() else { continue };
        if let Some(event) = StoredEvent::parse_owned(payload) {
            hub.publish(id, event);
        }
    }
}
