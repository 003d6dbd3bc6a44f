//! Announces promotions and rollbacks: the state store's pub/sub channel and, with a Kafka source,
//! the `model-updates` topic.

use crate::contract::notice::{Notice, UPDATES_CHANNEL};
use crate::kafka::TopicProducer;
use crate::store::AnyStore;

/// Announces promotions and rollbacks: the state store's pub/sub channel and, with a Kafka
/// source, the `model-updates` topic.
#[derive(Clone)]
pub struct Announcer {
    store: AnyStore,
    kafka: Option<TopicProducer>,
    location: String,
}

impl Announcer {
    /// Where artifacts live, as announced.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// An announcer; `location` describes where artifacts live (e.g. `redis://host/prefix`).
    pub fn new(store: AnyStore, kafka: Option<TopicProducer>, location: String) -> Self {
        Announcer {
            store,
            kafka,
            location,
        }
    }

    /// Sends a notice; failures are logged (serving also polls the registry, so a lost notice
    /// delays a swap by one poll interval at most).
    pub async fn announce(&self, notice: &Notice) {
        let bytes = match serde_json::to_vec(notice) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a model-update notice");
                return;
            }
        };
        match self.store.publish(UPDATES_CHANNEL, &bytes).await {
            Ok(n) => {
                tracing::info!(model = %notice.model, version = notice.version, subscribers = n, "model update published")
            }
            Err(e) => {
                tracing::warn!(model = %notice.model, error = %e, "cannot publish the model update")
            }
        }
        if let Some(k) = &self.kafka
            && let Err(e) = k.send_all(vec![bytes]).await
        {
            tracing::warn!(model = %notice.model, error = %e, "cannot produce the model update to Kafka");
        }
    }
}
