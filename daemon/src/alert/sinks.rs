//! Notification sinks (placeholder: being written).
