//! Notification sinks: rendering, email (SMTP), webhook and log delivery, and the durable outbox.
//!
//! ```text
//! engine ──▶ Notification ──▶ Outbox::push ──▶ put_all(engine state + outbox)   one atomic write
//!                                     │
//!                  for each Outbox::due(now):
//!                      Dispatcher::deliver_queued ──▶ email | webhook | log
//!                      (or deliver in a task, then Dispatcher::settle on the outbox's owner)
//!                      put(outbox)                                           after every delivery
//! ```
//!
//! - [`config`] — `[alerting.receivers.*]`, `[alerting.smtp]`, `[alerting.delivery]` and their
//!   validation.
//! - [`render`] — subject line, plain-text and HTML bodies (pure functions).
//! - [`webhook`] — the webhook payloads (Alertmanager v4 and driftd's own) and the HTTP sink.
//! - [`email`] — the SMTP transport and the MIME message.
//! - [`outbox`] — queued notifications with deterministic retry times.
//! - [`error`] — [`DeliveryError`], the one error of a delivery attempt, and [`SinkSetupError`],
//!   why a sink cannot be built from its configuration (a leaf).
//! - [`dispatch`] — the [`Dispatcher`] routing a notification to its receiver, with metrics.
//!
//! # Delivery guarantee: at least once, duplicates only in one narrow window
//!
//! The daemon writes a new notification into the [`Outbox`] *together with* the engine state that
//! produced it, in one atomic `put_all`, before it sends anything. So a crash or restart at any
//! point loses no notification: either the engine state that decided to notify is not stored
//! either (and the engine decides again after the restart), or the notification is in the stored
//! outbox and is sent after the restart.
//!
//! After each attempt the outbox is written again: a notification the relay (or webhook) has
//! acknowledged is removed from the outbox before that write, and one that failed is kept with its
//! next attempt time. A restart therefore re-sends exactly the notifications of the stored outbox.
//! The only duplicate window is a crash *between the receiver's acknowledgment and that write*:
//! the notification is sent again after the restart. For email the redelivery carries the same
//! deterministic `Message-ID: <{notification.id}@driftd>` (and the same `Date`), so mail clients
//! and deduplicating relays can recognise it; webhook receivers get the same notification id
//! (the Alertmanager format's `groupKey` and alert fingerprints are also unchanged). Nothing else
//! is ever sent twice, and nothing is dropped silently: a notification is dropped only after
//! `give_up_after` of failed attempts or on a permanent webhook error (4xx other than 429), and
//! both are logged at error level and counted as `dropped`.

pub mod config;
pub mod dispatch;
pub mod email;
pub mod error;
pub mod outbox;
pub mod render;
pub mod webhook;

pub use config::{
    DeliveryConfig, EmailReceiver, LogReceiver, ReceiverConfig, SmtpConfig, SmtpSecurity,
    WebhookFormat, WebhookReceiver, validate, validate_delivery,
};
pub use dispatch::{Attempt, DeliveryError, Dispatcher, ErrorKind, SinkSetupError};
pub use outbox::{FailOutcome, Outbox, OutboxError, Queued};
pub use render::{html_body, subject, text_body};
