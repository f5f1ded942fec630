//! # udpstack
//!
//! A userspace UDP/IPv4 protocol stack (RFC 768, 791, 792, 1122, 1191) that behaves like the
//! Linux kernel's UDP, rule for rule. The rules it follows are numbered in
//! `shared/reference/linux-udp.md` (L1.1 …) and cited by the tests that check them.
//!
//! What exists today is the stateless wire layer, [`wire`]: zero-copy checked views and `Repr`
//! value types for Ethernet II, ARP, IPv4, ICMPv4 and UDP, plus RFC 1071 / RFC 1624 checksums.
//! The sans-IO engine, the socket API and the TAP runtime build on it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod config;
pub mod device;
pub mod errno;
pub mod icmp;
pub mod iface;
pub mod ip;
pub mod rand;
pub mod runtime;
pub mod sim;
pub mod stats;
pub mod time;
pub mod udp;
pub mod wire;

pub use iface::stack::Stack;
pub use time::{Duration, Instant};
pub use udp::{RecvFlags, SendFlags, SocketHandle};
