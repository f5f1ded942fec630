//! Integration tests for udpstack live in `tests/`; this library holds their shared fixtures.
//!
//! `tests/differential/` checks the wire layer (`udpstack::wire`) against etherparse and
//! pnet_packet as oracles; its `main.rs` lists every intentional difference. The engine's rule
//! tests (`tests/engine_*.rs`) run stacks on the simulated network of [`udpstack::sim`], using
//! the fixtures below; [`actions`] drives one stack from arbitrary bytes for the fuzzer and
//! the conservation proptest; [`reassembly`] and [`icmp_errors`] do the same for the fuzz
//! targets of those names, each with its oracle, and `tests/fuzz_properties.rs` runs them as
//! proptests.

pub mod actions;
mod bytes;
pub mod fixture;
pub mod icmp_errors;
pub mod reassembly;
