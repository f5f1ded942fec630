//! Integration tests for udpstack live in `tests/`; this library holds their shared fixtures.
//!
//! `tests/differential/` checks the wire layer (`udpstack::wire`) against etherparse and
//! pnet_packet as oracles; its `main.rs` lists every intentional difference. The engine's rule
//! tests (`tests/engine_*.rs`) run stacks on the simulated network of [`udpstack::sim`], using
//! the fixtures below; [`actions`] drives one stack from arbitrary bytes for the fuzzer and
//! the conservation proptest.

pub mod actions;
pub mod fixture;
pub mod icmp_errors;
pub mod reassembly;
