//! Cross-crate integration tests for tollgate live in `tests/`; this library is empty.
