//! Integration tests for udpstack live in `tests/`.
//!
//! `tests/differential/` checks the wire layer (`udpstack::wire`) against etherparse and
//! pnet_packet as oracles; its `main.rs` lists every intentional difference.
