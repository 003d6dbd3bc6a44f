//! The project's own seeded benchmark streams with known drift onsets, in event contract v1.
