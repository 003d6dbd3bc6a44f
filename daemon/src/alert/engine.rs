//! The alert engine (placeholder: being written).
