//! Arbitrary bytes as a sequence of events on one stack — frames, arrivals, reads, sends,
//! cork, buffer sizes, timers, ICMP errors, closes — with the conservation checker after every
//! event (`udpstack_tests::actions`, where the byte format is described). A panic anywhere in
//! the stack, or books that do not balance, is a finding.
//!
//! Run: `cargo fuzz run -s none stack_actions`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = udpstack_tests::actions::run(data) {
        panic!("{v}");
    }
});
