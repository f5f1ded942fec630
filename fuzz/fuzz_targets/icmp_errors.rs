//! A stack with several live UDP sockets — bound to B and to the wildcard, connected or not,
//! with and without IP_RECVERR, in every PMTU mode, some with the smallest receive buffer —
//! sending to a few peers, then arbitrary ICMP messages (types 3, 4, 5, 11, 12 and others,
//! arbitrary codes, quotes of real sent datagrams whole, cut or mutated, or of forged tuples,
//! bad checksums), interleaved with SO_ERROR, recv, error-queue reads, option changes,
//! connects and disconnects (`udpstack_tests::icmp_errors`, where the byte format and the
//! model are described). A panic, an audit failure, or any socket showing an error, an
//! error-queue entry, a failed call or an IP_MTU change that the reference's lookup of the
//! quoted flow does not give it (or not as the ICMP said) is a finding.
//!
//! Run: `cargo fuzz run -s none -a --fuzz-dir fuzz icmp_errors fuzz/corpus/icmp_errors fuzz/seeds/icmp_errors`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = udpstack_tests::icmp_errors::run(data) {
        panic!("{v}");
    }
});
