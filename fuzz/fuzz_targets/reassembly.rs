//! Arbitrary fragment sequences for a few flows — offsets, lengths, MF, overlaps, duplicates,
//! conflicting copies, time passing, bursts from one source, tunables changing — fed one frame
//! at a time to a stack with a UDP socket, under small and default `ipfrag_high_thresh`,
//! `ipfrag_time` and `ipfrag_max_dist` (`udpstack_tests::reassembly`, where the byte format and
//! the oracle are described). A panic, an audit failure, a datagram not made of one consistent
//! set of supplied fragments or delivered twice, a predicted reassembly not delivered, or
//! memory outside its bound is a finding.
//!
//! Run: `cargo fuzz run -s none -a --fuzz-dir fuzz reassembly fuzz/corpus/reassembly fuzz/seeds/reassembly`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = udpstack_tests::reassembly::run(data) {
        panic!("{v}");
    }
});
