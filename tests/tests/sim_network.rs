//! The simulated network is deterministic and does what its segment says: loss, duplication,
//! reordering (jitter), MTU and latency. Later tests rely on all of these.

use udpstack::sim::Segment;
use udpstack::{Duration, SocketHandle};
use udpstack_tests::fixture::*;

/// A receiving socket on B port 7 and a sender on A; returns (pair, sender, receiver).
fn setup(segment: Segment, seed: u64) -> (Pair, SocketHandle, SocketHandle) {
    let mut p = Pair::with(
        Segment::default(),
        config(IP_A, MAC_A),
        config(IP_B, MAC_B),
        seed,
    );
    let rx = p.b().udp_socket();
    p.b().bind(rx, sa(IP_B, 7)).unwrap();
    p.b().set_recv_buffer_size(rx, 1 << 20).unwrap();
    let tx = p.a().udp_socket();
    // Resolve ARP first, on a perfect link, so the experiment measures data frames only.
    let now = p.now();
    p.a().send_to(now, tx, b"warm-up", sa(IP_B, 7)).unwrap();
    p.net.drive();
    let mut buf = [0u8; 64];
    p.b().recv_from(rx, &mut buf).unwrap();
    p.net.set_segment(segment);
    (p, tx, rx)
}

/// Sends `n` numbered datagrams A -> B and returns the numbers B received, in order.
fn exchange(p: &mut Pair, tx: SocketHandle, rx: SocketHandle, n: u32) -> Vec<u32> {
    for i in 0..n {
        let now = p.now();
        p.a()
            .send_to(now, tx, &i.to_be_bytes(), sa(IP_B, 7))
            .unwrap();
        p.net.advance(Duration::from_micros(10));
    }
    p.net.drive();
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    while let Ok((4, _)) = p.b().recv_from(rx, &mut buf) {
        got.push(u32::from_be_bytes(buf));
    }
    got
}

#[test]
fn same_seed_same_run_frame_for_frame() {
    let lossy = Segment {
        loss: 0.3,
        duplicate: 0.1,
        jitter: Duration::from_micros(500),
        ..Segment::default()
    };
    let run = |seed| {
        let (mut p, tx, rx) = setup(lossy, seed);
        p.net.start_capture();
        let got = exchange(&mut p, tx, rx, 200);
        (got, p.net.captured().to_vec(), p.net.stats())
    };
    let (a, b) = (run(5), run(5));
    assert_eq!(a, b);
    assert_ne!(run(5).0, run(6).0, "another seed, another run");
}

#[test]
fn loss_drops_about_the_configured_share() {
    let (mut p, tx, rx) = setup(
        Segment {
            loss: 0.25,
            ..Segment::default()
        },
        3,
    );
    let got = exchange(&mut p, tx, rx, 2000);
    let lost = 2000 - got.len();
    assert!((400..600).contains(&lost), "lost {lost} of 2000 at 25 %");
    assert_eq!(p.net.stats().lost as usize, lost);
}

#[test]
fn duplication_delivers_copies() {
    let (mut p, tx, rx) = setup(
        Segment {
            duplicate: 0.5,
            ..Segment::default()
        },
        4,
    );
    let got = exchange(&mut p, tx, rx, 400);
    let extra = got.len() - 400;
    assert!(
        (150..250).contains(&extra),
        "{extra} duplicates of 400 at 50 %"
    );
    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 400, "every datagram arrived at least once");
}

#[test]
fn jitter_reorders_without_losing() {
    let (mut p, tx, rx) = setup(
        Segment {
            jitter: Duration::from_millis(1),
            ..Segment::default()
        },
        5,
    );
    let got = exchange(&mut p, tx, rx, 300);
    assert_eq!(got.len(), 300);
    let in_order = got.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        in_order < 299,
        "jitter of 1 ms over 10 µs spacing must reorder"
    );
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..300).collect::<Vec<_>>());
}

#[test]
fn frames_beyond_the_segment_mtu_are_dropped() {
    // The stack believes in MTU 1500; the segment carries only 1000-byte packets.
    let (mut p, tx, rx) = setup(
        Segment {
            mtu: 1000,
            ..Segment::default()
        },
        6,
    );
    let now = p.now();
    p.a().send_to(now, tx, &[7u8; 1200], sa(IP_B, 7)).unwrap();
    p.a().send_to(now, tx, &[8u8; 900], sa(IP_B, 7)).unwrap();
    p.net.drive();
    assert_eq!(p.net.stats().too_big, 1);
    let mut buf = [0u8; 2000];
    let (n, _) = p.b().recv_from(rx, &mut buf).unwrap();
    assert_eq!(n, 900);
    assert!(p.b().recv_from(rx, &mut buf).is_err());
}

#[test]
fn latency_delays_delivery() {
    let (mut p, tx, rx) = setup(
        Segment {
            latency: Duration::from_millis(20),
            ..Segment::default()
        },
        8,
    );
    let start = p.now();
    let now = p.now();
    p.a().send_to(now, tx, b"x", sa(IP_B, 7)).unwrap();
    p.net.advance(Duration::from_millis(19));
    let mut buf = [0u8; 8];
    assert!(
        p.b().recv_from(rx, &mut buf).is_err(),
        "not there before the latency"
    );
    p.net.advance(Duration::from_millis(2));
    assert!(p.b().recv_from(rx, &mut buf).is_ok());
    assert!(p.now() - start >= Duration::from_millis(20));
}
