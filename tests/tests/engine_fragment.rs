//! Rule tests of fragmentation on output (L3.4) and its counters, at several MTUs and against
//! the kernel's own fragments (`wire::golden`).

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::sim::Segment;
use udpstack::udp::PmtuMode;
use udpstack::wire::golden;
use udpstack_tests::fixture::*;

/// The payload byte at index `i` (the golden captures' pattern).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends a 65507-byte datagram from 10.0.0.2:4000 to the probe through a stack and segment of
/// MTU `mtu`, and checks the fragments and counters.
fn check_max_datagram_at(mtu: u16) {
    // L3.4 (obs: 1480 at MTU 1500, 976 at 1000, 528 at 552; 552 at 576): every fragment but the
    // last carries (mtu - 20) & !7 bytes of IP payload, the first includes the UDP header,
    // offsets count 8-byte units, MF on all but the last, one shared ID, never DF.
    let segment = Segment {
        mtu,
        ..Segment::default()
    };
    let mut p = probed_on(config(IP_B, MAC_B).mtu(mtu), segment, 3);
    p.introduce();
    let s = bound(&mut p, 4000);
    let before = p.stack().stats().clone();
    let payload = pattern(65507);
    send_to(&mut p, s, &payload, sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());

    let chunk = usize::from(mtu - 20) & !7;
    let total = 8 + payload.len();
    let n = total.div_ceil(chunk);
    assert_eq!(frames.len(), n, "MTU {mtu}: fragment count");
    assert_eq!(p.net.stats().too_big, 0, "every frame fits the segment");
    let id = ip(&frames[0]).ident();
    let mut datagram = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let h = ip(f);
        let last = i == n - 1;
        let len = if last { total - chunk * (n - 1) } else { chunk };
        assert_eq!(h.payload().len(), len, "MTU {mtu}: fragment {i} length");
        assert!(usize::from(h.total_len()) <= usize::from(mtu));
        assert_eq!(
            usize::from(h.frag_offset()),
            i * chunk,
            "fragment {i} offset"
        );
        // The raw field counts 8-byte units.
        let raw = u16::from_be_bytes([f[20], f[21]]) & 0x1fff;
        assert_eq!(usize::from(raw) * 8, i * chunk);
        assert_eq!(h.more_frags(), !last, "fragment {i} MF");
        assert!(!h.dont_frag(), "fragment {i} carries DF");
        assert_eq!(h.ident(), id, "fragment {i} ID");
        assert_eq!((h.src(), h.dst(), h.ttl()), (IP_B, IP_PROBE, 64));
        assert!(h.verify_checksum());
        datagram.extend_from_slice(h.payload());
    }
    // The fragments put together are the UDP datagram, whose checksum verifies.
    assert_eq!(datagram.len(), total);
    assert_eq!(&datagram[..6], &[0x0f, 0xa0, 0x13, 0x88, 0xff, 0xeb]);
    assert_eq!(&datagram[8..], &payload[..]);
    assert!(udp_checksum_ok(IP_B, IP_PROBE, &datagram));

    // Counters (Linux 6.18): one OutRequest, FragOKs once, FragCreates and OutTransmits per
    // fragment, OutDatagrams once.
    let after = p.stack().stats().clone();
    assert_eq!(after.ip.out_requests - before.ip.out_requests, 1);
    assert_eq!(after.ip.frag_oks - before.ip.frag_oks, 1);
    assert_eq!(after.ip.frag_creates - before.ip.frag_creates, n as u64);
    assert_eq!(after.ip.out_transmits - before.ip.out_transmits, n as u64);
    assert_eq!(after.ip.frag_fails, 0);
    assert_eq!(after.udp.out_datagrams - before.udp.out_datagrams, 1);
}

#[test]
fn max_datagram_at_mtu_1500() {
    // L3.4: 1480-byte fragments, 45 of them.
    check_max_datagram_at(1500);
}

#[test]
fn max_datagram_at_mtu_1000() {
    // L3.4: 976-byte fragments.
    check_max_datagram_at(1000);
}

#[test]
fn max_datagram_at_mtu_576() {
    // L3.4: 552-byte fragments.
    check_max_datagram_at(576);
}

#[test]
fn max_datagram_at_mtu_552() {
    // L3.4 (obs: 528 at 552).
    check_max_datagram_at(552);
}

#[test]
fn fragments_match_the_kernel_s() {
    // L3.4 (obs: 1480/1480/48 at MTU 1500): a 3000-byte payload from a socket in DONT mode, as
    // in the golden capture; every byte but the ID and header checksum is the kernel's.
    let mut lab = Lab::golden();
    let s = lab.stack().udp_socket();
    lab.stack()
        .bind(s, sa(Ipv4Addr::new(10, 0, 0, 1), 40000))
        .unwrap();
    lab.stack().set_mtu_discover(s, PmtuMode::Dont).unwrap();
    let now = lab.now();
    lab.stack()
        .send_to(now, s, &pattern(3000), sa(Ipv4Addr::new(10, 0, 0, 2), 7))
        .unwrap();
    lab.settle();
    let frames = ip_only(lab.take());
    assert_eq!(frames.len(), 3);
    assert_golden_except_id(&frames[0], golden::FRAGMENT_FIRST);
    assert_golden_except_id(&frames[1], golden::FRAGMENT_MIDDLE);
    assert_golden_except_id(&frames[2], golden::FRAGMENT_LAST);
    let id = ip(&frames[0]).ident();
    assert!(frames.iter().all(|f| ip(f).ident() == id));
}

#[test]
fn connected_socket_fragments_share_the_socket_id() {
    // L3.5 with L3.4: one ID per datagram (segs = 1), all its fragments carry it, and the next
    // datagram gets the next ID.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    p.stack().send(now, s, &pattern(3000)).unwrap();
    p.stack().send(now, s, b"next").unwrap();
    p.settle();
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 4);
    let id = ip(&frames[0]).ident();
    assert_eq!(ip(&frames[1]).ident(), id);
    assert_eq!(ip(&frames[2]).ident(), id);
    assert_eq!(ip(&frames[3]).ident(), id.wrapping_add(1));
}
