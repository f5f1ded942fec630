//! Nothing is lost without a counter saying so: every frame handed to a stack ends up delivered
//! to a socket, consumed by the stack itself (ARP, an echo answered, an ICMP error handled), or
//! dropped for exactly one `DropReason` — never two, never none. The conservation checker
//! (`Stack::audit`) checks the rest of the books after every frame.

use proptest::prelude::*;
use udpstack::stats::DropReason;
use udpstack::wire::{golden, MacAddr};
use udpstack::Stack;
use udpstack_tests::fixture::*;

/// A stack at 10.0.0.1 (the golden frames' kernel side sends to 10.0.0.2, so the stack plays
/// the peer, 10.0.0.2, and sees them all) with sockets on the golden frames' ports.
fn stack_with_sockets() -> Stack {
    let mut s = Stack::new(config(IP_B, MacAddr([2, 0, 0, 0, 0, 2])), 9).unwrap();
    for port in [7, 40000] {
        let h = s.udp_socket();
        s.bind(h, sa(IP_B, port)).unwrap();
    }
    let h = s.udp_socket();
    s.set_recv_buffer_size(h, 1).unwrap(); // a tiny buffer, so admission drops happen too
    s.bind(h, sa(IP_B, 9)).unwrap();
    s
}

#[test]
fn the_golden_frames_balance() {
    let mut s = stack_with_sockets();
    for &(name, frame) in golden::ALL {
        s.handle_frame(udpstack::Instant::ZERO, frame);
        // frames in = delivered + consumed + dropped, and the rest of the books.
        assert_eq!(s.audit(), Ok(()), "after {name}: {}", s.stats().extended());
    }
    assert!(s.stats().rx_delivered >= 2, "{}", s.stats().extended());
}

/// A frame: a golden frame with some bytes overwritten and its length changed, or noise.
fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
    let golden_frame = (0..golden::ALL.len()).prop_map(|i| golden::ALL[i].1.to_vec());
    let noise = proptest::collection::vec(any::<u8>(), 0..200);
    (
        prop_oneof![4 => golden_frame, 1 => noise],
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        prop_oneof![Just(None), (0usize..1600).prop_map(Some)],
    )
        .prop_map(|(mut f, edits, len)| {
            for (at, byte) in edits {
                if !f.is_empty() {
                    let i = at.index(f.len());
                    f[i] = byte;
                }
            }
            if let Some(len) = len {
                f.resize(len.min(f.len() + 20), 0);
            }
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_frame_is_delivered_consumed_or_dropped_once(frames in proptest::collection::vec(mutated_frame(), 1..40)) {
        let mut s = stack_with_sockets();
        let mut now = udpstack::Instant::ZERO;
        let mut buf = vec![0u8; 2048];
        for f in &frames {
            now += udpstack::Duration::from_millis(3);
            s.handle_frame(now, f);
            while s.poll_transmit(now, &mut buf).is_some() {}
            prop_assert_eq!(s.audit(), Ok(()), "{}", s.stats().extended());
        }
        // Sending-side reasons never count a received frame.
        prop_assert_eq!(s.stats().drops(DropReason::TxQueueFull), 0);
    }

    /// The conservation checker after every event of an arbitrary sequence: frames (golden,
    /// mutated, noise), arrivals, reads, sends to resolved and unresolved neighbours, cork,
    /// buffer sizes, timers, ICMP errors, the error queue, closing sockets — under tiny
    /// limits (`udp_mem`, `unres_qlen_bytes`, `ipfrag_high_thresh`), so every bound is hit.
    /// The same interpreter is the `stack_actions` fuzz target.
    #[test]
    fn the_books_balance_after_any_sequence_of_events(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Err(v) = udpstack_tests::actions::run(&data) {
            return Err(TestCaseError::fail(v));
        }
    }
}

/// The fuzz target's committed seeds run clean and do what their names say.
#[test]
fn the_stack_actions_seeds_balance_and_reach_their_paths() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/stack_actions");
    let seed = |name: &str| {
        let data = std::fs::read(dir.join(name)).unwrap();
        udpstack_tests::actions::run(&data).unwrap_or_else(|v| panic!("{name}: {v}"))
    };
    // L4.1: the kernel's three fragments, readdressed to B, reassemble into one datagram.
    let s = seed("golden-reassembly");
    assert_eq!(s.stats().ip.reasm_oks, 1, "{}", s.snmp());
    let s = seed("arrivals-and-reads");
    assert!(s.stats().udp.in_datagrams >= 2, "{}", s.snmp());
    let s = seed("sends-cork-icmp");
    assert!(s.stats().udp.out_datagrams >= 2, "{}", s.snmp());
    assert!(s.stats().icmp.in_dest_unreachs >= 1, "{}", s.snmp());
}
