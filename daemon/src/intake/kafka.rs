//! The Kafka source: a consumer group over the prediction and feedback topics (one topic holding
//! both kinds works too) and a dead-letter topic for rejects. HTTP feedback goes to the feedback
//! topic through [`crate::kafka::TopicProducer`].
//!
//! Offsets: auto-commit and auto-store are off. A partition's offset is committed only after the
//! checkpoint holding the effect of every event before it is written (see [`crate::intake::pipeline`]), so a
//! restart, a crash or a rebalance resumes at or before the checkpoint, and events the checkpoint
//! already holds are skipped. On revocation the partition's uncheckpointed state is dropped; its next
//! owner resumes from the checkpoint. librdkafka reconnects by itself when brokers go away; the
//! source reports not-ready meanwhile (from the error callback and the 1 s statistics).
//!
//! Event-time order (see [`crate::intake::order`]): every assigned partition holds the monitors'
//! watermark back while it has unread messages (its position is below the high watermark that
//! the last fetch reported). Only a partition that is **caught up** and has delivered nothing for
//! `[events.order] idle_timeout` is idle. A partition far ahead of the watermark is **paused** while
//! the order buffer is over half of `max_buffered` and resumed once it drains to a quarter, so
//! catch-up after downtime or one lagging partition stays exact in bounded memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::Health;
use super::{TaskCtx, dispatch};
use crate::intake::config::OrderConfig;
use crate::intake::pipeline::{Outcome, Pipeline};
use crate::kafka::KafkaSecrets;
use crate::kafka::KafkaSourceConfig;
use crate::kafka::client_config;
use crate::telemetry::events::{
    BrokersReachable, DeadLetterFailed, DeadLetterWritten, InternalEvent as _,
};
use crate::telemetry::metrics::Metrics;

/// The shard name of a partition.
pub fn shard_name(group: &str, topic: &str, partition: i32) -> String {
    format!("kafka/{group}/{topic}/{partition}")
}

/// The topic and partition of a shard name of this group.
pub fn parse_shard_name<'a>(group: &str, shard: &'a str) -> Option<(&'a str, i32)> {
    let rest = shard.strip_prefix("kafka/")?.strip_prefix(group)?;
    let (topic, part) = rest.strip_prefix('/')?.rsplit_once('/')?;
    Some((topic, part.parse().ok()?))
}

/// Flow control for the event-time order: which partitions are idle, which are paused.
struct Flow {
    /// When each open partition last delivered a message (or was opened).
    last_delivery: HashMap<String, std::time::Instant>,
    /// Partitions paused because they are far ahead of the watermark.
    paused: HashSet<(String, i32)>,
    idle_timeout: Duration,
    pause_above: usize,
    resume_below: usize,
    /// `commit_rewind`: how far before the next event a resumed partition is read again.
    rewind: u64,
}

impl Flow {
    fn new(order: &OrderConfig, rewind: u64) -> Self {
        Flow {
            last_delivery: HashMap::new(),
            paused: HashSet::new(),
            idle_timeout: order.idle_timeout,
            pause_above: (order.max_buffered / 2).max(1),
            resume_below: order.max_buffered / 4,
            rewind,
        }
    }

    fn delivered(&mut self, shard: &str) {
        match self.last_delivery.get_mut(shard) {
            Some(t) => *t = std::time::Instant::now(),
            None => {
                self.last_delivery
                    .insert(shard.to_owned(), std::time::Instant::now());
            }
        }
    }

    /// Marks partitions idle or active: idle only when caught up to the high watermark the last
    /// fetch reported and silent for the idle timeout.
    fn update_idle(
        &mut self,
        p: &mut Pipeline,
        consumer: &StreamConsumer<DriftdContext>,
        group: &str,
    ) {
        for shard in p.open_shards() {
            let since = *self
                .last_delivery
                .entry(shard.to_string())
                .or_insert_with(std::time::Instant::now);
            let silent = since.elapsed() >= self.idle_timeout;
            // Unknown until the first statistics: then silence alone decides.
            let caught_up = match parse_shard_name(group, &shard) {
                Some((topic, part)) => {
                    let high = consumer
                        .context()
                        .high
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    match high.get(&(topic.to_owned(), part)) {
                        Some(&h) => p.shard(&shard).is_some_and(|s| s.next_offset >= h as u64),
                        None => true,
                    }
                }
                None => true,
            };
            p.set_idle(&shard, silent && caught_up);
        }
    }

    /// Pauses partitions far ahead of the watermark while the order buffer is over half full, or
    /// more than half of the adapter's `max_pending` halves wait for their pair; resumes them once
    /// both are under a quarter (or they are no longer ahead).
    fn regulate(
        &mut self,
        p: &Pipeline,
        consumer: &StreamConsumer<DriftdContext>,
        group: &str,
        metrics: &Metrics,
    ) {
        let held = p.held();
        let (halves, max_halves) = p.pairs_waiting();
        let halves_high = halves > max_halves / 2;
        let mut pause = TopicPartitionList::new();
        let mut resume = TopicPartitionList::new();
        if held > self.pause_above || halves_high {
            for shard in p.open_shards() {
                let Some((topic, part)) = parse_shard_name(group, &shard) else {
                    continue;
                };
                let key = (topic.to_owned(), part);
                if !self.paused.contains(&key)
                    && p.is_ahead(&shard)
                    && (p.held_of(&shard) > 0 || halves_high)
                {
                    let _ = pause.add_partition(topic, part);
                    self.paused.insert(key);
                }
            }
        }
        let drained = held < self.resume_below && halves <= max_halves / 4;
        self.paused.retain(|(topic, part)| {
            let shard = shard_name(group, topic, *part);
            let keep = !drained && p.is_open(&shard) && p.is_ahead(&shard);
            if !keep && let Some(state) = p.shard(&shard) {
                // librdkafka resumes at the first event not yet applied; some brokers answer a
                // fetch that starts inside a record batch with the next batch (see
                // `commit_rewind`), so resume that much earlier: what is read twice is skipped.
                let from = state.next_offset.saturating_sub(self.rewind);
                let _ = resume.add_partition_offset(topic, *part, Offset::Offset(from as i64));
            }
            keep
        });
        if pause.count() > 0 {
            match consumer.pause(&pause) {
                Ok(()) => tracing::info!(
                    partitions = pause.count(),
                    held,
                    "paused partitions far ahead of the event-time watermark"
                ),
                Err(e) => tracing::warn!(error = %e, "pausing partitions failed"),
            }
        }
        if resume.count() > 0 {
            match consumer.resume(&resume) {
                Ok(()) => tracing::info!(partitions = resume.count(), held, "resumed partitions"),
                Err(e) => tracing::warn!(error = %e, "resuming partitions failed"),
            }
            match consumer.seek_partitions(resume.clone(), Duration::from_secs(2)) {
                Ok(done) => {
                    for e in done.elements() {
                        if let Err(err) = e.error() {
                            tracing::warn!(topic = e.topic(), partition = e.partition(), error = %err, "seeking a resumed partition back failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "seeking resumed partitions back failed"),
            }
        }
        metrics.order_paused.set(self.paused.len() as i64);
    }

    /// Forgets every pause (a rebalance assigns partitions unpaused).
    fn reset(&mut self, metrics: &Metrics) {
        self.paused.clear();
        self.last_delivery.clear();
        metrics.order_paused.set(0);
    }
}

/// Callbacks from librdkafka: statistics (lag, broker state), errors and rebalances.
pub struct DriftdContext {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    revoked: Mutex<Vec<(String, i32)>>,
    assigned: Mutex<Vec<(String, i32)>>,
    errors: RateLimit,
    /// Each partition's high watermark from the last statistics (every second).
    high: Mutex<HashMap<(String, i32), i64>>,
}

/// Lets one log line through per interval and counts the ones held back.
pub struct RateLimit {
    every: Duration,
    last: Mutex<Option<std::time::Instant>>,
    suppressed: std::sync::atomic::AtomicU64,
}

impl RateLimit {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        RateLimit {
            every,
            last: Mutex::new(None),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether a line may be logged now; if not, it is counted as suppressed.
    pub fn allow(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= self.every) {
            *last = Some(now);
            true
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// How many lines were held back since the last one logged.
    pub fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

impl ClientContext for DriftdContext {
    fn stats(&self, s: Statistics) {
        let up = s.brokers.values().any(|b| b.state == "UP");
        self.set_up(up);
        let mut high = self.high.lock().unwrap_or_else(|p| p.into_inner());
        for (topic, t) in &s.topics {
            for (pid, part) in &t.partitions {
                if *pid < 0 || part.hi_offset < 0 {
                    continue;
                }
                high.insert((topic.clone(), *pid), part.hi_offset);
                let position = if part.app_offset >= 0 {
                    part.app_offset
                } else if part.committed_offset >= 0 {
                    part.committed_offset
                } else {
                    continue;
                };
                self.metrics
                    .consumer_lag
                    .with_label_values(&[topic.as_str(), &pid.to_string()])
                    .set((part.hi_offset - position).max(0));
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode;
        let all_down = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        );
        if all_down {
            // The transition is logged by set_up; librdkafka repeats this error many times a second.
            self.set_up(false);
            tracing::debug!(error = %error, reason, "Kafka client error");
        } else if self.errors.allow() {
            tracing::warn!(error = %error, reason, suppressed = self.errors.take_suppressed(), "Kafka client error");
        }
    }
}

impl DriftdContext {
    fn set_up(&self, up: bool) {
        let was_up = self.health.source_up.swap(up, Ordering::Relaxed);
        BrokersReachable { up, was_up }.emit(&self.metrics);
    }
}

impl ConsumerContext for DriftdContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let mut r = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
                for e in tpl.elements() {
                    r.push((e.topic().to_owned(), e.partition()));
                }
                tracing::info!(partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                let mut a = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
                for e in tpl.elements() {
                    a.push((e.topic().to_owned(), e.partition()));
                }
                tracing::info!(partitions = tpl.count(), "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed; the next checkpoint commits again");
        }
    }
}

/// Sends rejected events to the dead-letter topic with the reason and origin in headers.
struct DeadLetter {
    producer: FutureProducer,
    topic: String,
    metrics: Arc<Metrics>,
    sent_since_flush: usize,
}

impl DeadLetter {
    fn new(
        k: &KafkaSourceConfig,
        secrets: &KafkaSecrets,
        metrics: Arc<Metrics>,
    ) -> Result<Self, KafkaError> {
        let mut c = client_config(k, secrets);
        // Retry for as long as the process lives: a reject is only checkpointed past once its
        // dead-letter copy is acknowledged (the checkpoint flushes first).
        c.set("message.timeout.ms", "0");
        c.set("enable.idempotence", "true");
        Ok(DeadLetter {
            producer: c.create()?,
            topic: k.dead_letter_topic.clone(),
            metrics,
            sent_since_flush: 0,
        })
    }

    async fn send<M: Message>(&mut self, m: &M, reason: &str, detail: &str) {
        let offset = m.offset().to_string();
        let partition = m.partition().to_string();
        // The record's own headers first: in an adapter's format (binary-mode CloudEvents)
        // they are part of the event.
        let mut headers = OwnedHeaders::new();
        if let Some(own) = m.headers() {
            use rdkafka::message::Headers as _;
            for h in own.iter() {
                headers = headers.insert(h);
            }
        }
        let headers = headers
            .insert(Header {
                key: "driftd-reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "driftd-detail",
                value: Some(detail),
            })
            .insert(Header {
                key: "driftd-topic",
                value: Some(m.topic()),
            })
            .insert(Header {
                key: "driftd-partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "driftd-offset",
                value: Some(&offset),
            });
        let payload = m.payload().unwrap_or(&[]);
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(k) = m.key() {
            rec = rec.key(k);
        }
        loop {
            match self.producer.send_result(rec) {
                Ok(delivery) => {
                    let metrics = self.metrics.clone();
                    let (topic, part, off) = (m.topic().to_owned(), m.partition(), m.offset());
                    tokio::spawn(async move {
                        let failed = |error| DeadLetterFailed {
                            topic: &topic,
                            partition: part,
                            offset: off,
                            error,
                            enqueue: false,
                        };
                        match delivery.await {
                            Ok(Ok(_)) => DeadLetterWritten.emit(&metrics),
                            Ok(Err((e, _))) => failed(Some(&e)).emit(&metrics),
                            Err(_) => failed(None).emit(&metrics),
                        }
                    });
                    self.sent_since_flush += 1;
                    return;
                }
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    rec = r;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err((e, _)) => {
                    DeadLetterFailed {
                        topic: m.topic(),
                        partition: m.partition(),
                        offset: m.offset(),
                        error: Some(&e),
                        enqueue: true,
                    }
                    .emit(&self.metrics);
                    return;
                }
            }
        }
    }

    /// Waits until every dead-letter record is acknowledged (or `timeout` passes).
    async fn flush(&mut self, timeout: Duration) -> bool {
        if self.sent_since_flush == 0 {
            return true;
        }
        let p = self.producer.clone();
        let r = tokio::task::spawn_blocking(move || p.flush(timeout)).await;
        let ok = matches!(r, Ok(Ok(())));
        if ok {
            self.sent_since_flush = 0;
        }
        ok
    }
}

/// Checkpoint, then commit the checkpointed offsets.
async fn checkpoint(
    p: &mut Pipeline,
    ctx: &mut TaskCtx,
    consumer: &StreamConsumer<DriftdContext>,
    dlq: &mut DeadLetter,
    group: &str,
    rewind: u64,
    mode: CommitMode,
) -> bool {
    if !dlq.flush(Duration::from_secs(2)).await {
        tracing::warn!("dead-letter records not yet acknowledged; checkpoint deferred");
        ctx.checkpointer.defer();
        return false;
    }
    if !ctx.checkpointer.write(p).await {
        return false;
    }
    let mut tpl = TopicPartitionList::new();
    for shard in p.open_shards() {
        let (Some((topic, part)), Some(state)) = (parse_shard_name(group, &shard), p.shard(&shard))
        else {
            continue;
        };
        let commit = state.next_offset.saturating_sub(rewind);
        if commit > 0 {
            let _ = tpl.add_partition_offset(topic, part, Offset::Offset(commit as i64));
        }
    }
    if tpl.count() > 0
        && let Err(e) = consumer.commit(&tpl, mode)
    {
        tracing::warn!(error = %e, "offset commit failed; the checkpoint still holds the position");
    }
    true
}

/// The Kafka consumer loop.
pub async fn run_kafka(
    k: KafkaSourceConfig,
    secrets: KafkaSecrets,
    mut p: Pipeline,
    mut ctx: TaskCtx,
) -> anyhow::Result<Option<super::Summary>> {
    let context = DriftdContext {
        metrics: ctx.metrics.clone(),
        health: ctx.health.clone(),
        revoked: Mutex::new(Vec::new()),
        assigned: Mutex::new(Vec::new()),
        errors: RateLimit::new(Duration::from_secs(10)),
        high: Mutex::new(HashMap::new()),
    };
    let consume_errors = RateLimit::new(Duration::from_secs(10));
    let mut c = client_config(&k, &secrets);
    for (key, v) in &k.consumer_properties {
        c.set(key, v);
    }
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &k.auto_offset_reset)
        .set("statistics.interval.ms", "1000")
        .set("enable.partition.eof", "false");
    let consumer: StreamConsumer<DriftdContext> = c.create_with_context(context)?;
    let mut topics: Vec<&str> = vec![&k.prediction_topic];
    if k.feedback_topic != k.prediction_topic {
        topics.push(&k.feedback_topic);
    }
    topics.extend(k.adapter.topics.iter().map(String::as_str));
    consumer.subscribe(&topics)?;
    let mut dlq = DeadLetter::new(&k, &secrets, ctx.metrics.clone())?;
    ctx.health.started.store(true, Ordering::Relaxed);
    tracing::info!(brokers = %k.brokers, group = %k.group_id, topics = ?topics, dead_letter = %k.dead_letter_topic, "consuming from Kafka");

    let mut shutdown = ctx.shutdown.clone();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut flow = Flow::new(&ctx.order, k.commit_rewind);
    let mut since_regulate = 0u32;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(c) = ctx.control.recv() => dispatch(&mut p, c),
            _ = tick.tick() => {
                ctx.checkpointer.probe().await;
                if !apply_rebalance(&mut p, &mut ctx, &consumer, &k.group_id, &mut shutdown, &mut flow).await {
                    break;
                }
                flow.update_idle(&mut p, &consumer, &k.group_id);
                flow.regulate(&p, &consumer, &k.group_id, &ctx.metrics);
                // What was released or skipped as too soon since is published now.
                p.publish_stale();
                if ctx.checkpointer.due(&p) {
                    checkpoint(&mut p, &mut ctx, &consumer, &mut dlq, &k.group_id, k.commit_rewind, CommitMode::Async).await;
                }
            }
            m = consumer.recv() => {
                if !apply_rebalance(&mut p, &mut ctx, &consumer, &k.group_id, &mut shutdown, &mut flow).await {
                    break;
                }
                match m {
                    Ok(m) => {
                        let shard = shard_name(&k.group_id, m.topic(), m.partition());
                        if !p.is_open(&shard) {
                            if !ctx.checkpointer.claim(&shard, &mut shutdown).await { break }
                            let Some(restored) = ctx.checkpointer.load(&shard, &mut shutdown).await else { break };
                            p.open_shard(shard.as_str().into(), restored);
                        }
                        flow.delivered(&shard);
                        let offset = m.offset().max(0) as u64;
                        let outcome = if k.adapter.topics.iter().any(|t| t == m.topic()) {
                            p.process_record(&shard, offset, offset + 1, k.adapter.format, &record_of(&m))
                        } else {
                            p.process(&shard, offset, offset + 1, m.payload().unwrap_or(&[]))
                        };
                        since_regulate += 1;
                        if since_regulate >= 1000 {
                            since_regulate = 0;
                            flow.regulate(&p, &consumer, &k.group_id, &ctx.metrics);
                        }
                        if let Outcome::Rejected(r) = outcome {
                            dlq.send(&m, r.reason.as_str(), &r.detail).await;
                        }
                        if ctx.checkpointer.due(&p) {
                            checkpoint(&mut p, &mut ctx, &consumer, &mut dlq, &k.group_id, k.commit_rewind, CommitMode::Async).await;
                        }
                    }
                    Err(e) => {
                        if consume_errors.allow() {
                            tracing::warn!(error = %e, suppressed = consume_errors.take_suppressed(), "Kafka consume error");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }
    // Drain: everything received has been applied; make it durable and commit synchronously.
    for _ in 0..3 {
        if checkpoint(
            &mut p,
            &mut ctx,
            &consumer,
            &mut dlq,
            &k.group_id,
            k.commit_rewind,
            CommitMode::Sync,
        )
        .await
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Closing a consumer can block on the broker (see CRATES.md): do it off the runtime, bounded.
    let close = tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        drop(consumer);
    });
    if tokio::time::timeout(Duration::from_secs(5), close)
        .await
        .is_err()
    {
        tracing::warn!("Kafka consumer did not close within 5 s");
    }
    Ok(None)
}

/// A Kafka message as an adapter's record: topic, key, headers, timestamp and payload.
fn record_of<M: Message>(m: &M) -> crate::contract::adapt::Record {
    use rdkafka::message::Headers as _;
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|x| (x.key.to_owned(), x.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    crate::contract::adapt::Record {
        topic: Some(m.topic().to_owned()),
        key: m.key().map(<[u8]>::to_vec),
        headers,
        timestamp_ms: m.timestamp().to_millis(),
        body: m.payload().unwrap_or_default().to_vec(),
    }
}

fn take(list: &Mutex<Vec<(String, i32)>>) -> Vec<(String, i32)> {
    std::mem::take(&mut *list.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Applies rebalances noted by the callbacks: revoked partitions drop their uncheckpointed state,
/// assigned ones load their checkpoint at once (so their counts are visible before any message).
/// Returns false if shutdown was requested while a checkpoint was being loaded.
async fn apply_rebalance(
    p: &mut Pipeline,
    ctx: &mut TaskCtx,
    consumer: &StreamConsumer<DriftdContext>,
    group: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    flow: &mut Flow,
) -> bool {
    let revoked = take(&consumer.context().revoked);
    if !revoked.is_empty() {
        flow.reset(&ctx.metrics);
        // Eager rebalancing revokes every partition: drop all shard states and roll the
        // monitors back to the checkpoint, so that whatever is re-delivered is applied once.
        let all: Vec<(String, i32)> = p
            .open_shards()
            .iter()
            .filter_map(|s| parse_shard_name(group, s).map(|(t, part)| (t.to_owned(), part)))
            .collect();
        drop_revoked(p, &all, group);
        for (topic, part) in &all {
            ctx.checkpointer.release(&shard_name(group, topic, *part));
        }
        let Some(monitors) = ctx.checkpointer.load_monitors(shutdown).await else {
            return false;
        };
        p.restore_monitors(monitors);
        let policy = p.policy().clone();
        let Some(learners) = ctx.checkpointer.load_learners(&policy, shutdown).await else {
            return false;
        };
        p.restore_learners(learners);
        let Some(pairs) = ctx.checkpointer.load_pairs(shutdown).await else {
            return false;
        };
        p.restore_pairs(pairs);
    }
    for (topic, part) in take(&consumer.context().assigned) {
        let shard = shard_name(group, &topic, part);
        if !p.is_open(&shard) {
            // Claimed before loading: the previous owner cannot write after what is loaded.
            if !ctx.checkpointer.claim(&shard, shutdown).await {
                return false;
            }
            let Some(restored) = ctx.checkpointer.load(&shard, shutdown).await else {
                return false;
            };
            p.open_shard(shard.as_str().into(), restored);
        }
    }
    true
}

fn drop_revoked(p: &mut Pipeline, revoked: &[(String, i32)], group: &str) {
    let mut dropped = BTreeMap::new();
    for (topic, part) in revoked {
        if let Some(s) = p.close_shard(&shard_name(group, topic, *part)) {
            dropped.insert(format!("{topic}/{part}"), s.next_offset);
        }
    }
    if !dropped.is_empty() {
        tracing::info!(
            ?dropped,
            "dropped uncheckpointed state of revoked partitions; their next owner resumes from the checkpoint"
        );
    }
}
