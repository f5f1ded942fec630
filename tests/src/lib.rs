//! Integration tests for udpstack live in `tests/`.
