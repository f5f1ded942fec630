//! Reassembly at work between stacks (L4.1–L4.6), and what it changes elsewhere: a maximal
//! datagram crosses small-MTU links whole, out of order and duplicated; a lone first fragment
//! draws a time exceeded; a reassembled datagram to a closed port is quoted with its reassembled
//! length (L5.6) and charged its fragments' truesizes (L4.6).

use udpstack::sim::Segment;
use udpstack::udp::truesize;
use udpstack::wire::{Icmpv4Packet, Ipv4Packet};
use udpstack::{Duration, SocketHandle};
use udpstack_tests::fixture::*;

/// The payload of a maximal datagram: 65507 recognisable bytes.
fn big_payload() -> Vec<u8> {
    (0..65507u32).map(|i| (i % 251) as u8).collect()
}

/// A and B at `mtu` on a segment of that MTU, B listening on 7 with a large buffer.
fn pair_at(mtu: u16, segment: Segment) -> (Pair, SocketHandle, SocketHandle) {
    let mut p = Pair::with(
        Segment {
            mtu,
            ..Segment::default()
        },
        config(IP_A, MAC_A).mtu(mtu),
        config(IP_B, MAC_B).mtu(mtu),
        21,
    );
    let rx = p.b().udp_socket();
    p.b().set_recv_buffer_size(rx, 4 << 20).unwrap();
    p.b().bind(rx, sa(IP_B, 7)).unwrap();
    let tx = p.a().udp_socket();
    // Resolve ARP on a clean link first, then switch to the experiment's segment.
    let now = p.now();
    p.a().send_to(now, tx, b"hello", sa(IP_B, 7)).unwrap();
    p.net.drive();
    assert_eq!(drain(p.b(), rx).len(), 1);
    p.net.set_segment(Segment { mtu, ..segment });
    (p, tx, rx)
}

#[test]
fn a_maximal_datagram_crosses_small_mtus_whole() {
    // L3.4 on the way out, L4.6 on the way in: 65507 bytes at MTU 1500, 1000 and 576.
    for mtu in [1500, 1000, 576] {
        let (mut p, tx, rx) = pair_at(mtu, Segment::default());
        let now = p.now();
        p.a().send_to(now, tx, &big_payload(), sa(IP_B, 7)).unwrap();
        p.net.drive();
        let got = drain(p.b(), rx);
        assert_eq!(got.len(), 1, "mtu {mtu}");
        assert!(got[0].0 == big_payload(), "mtu {mtu}: bytes differ");
        let fragments = 65515usize.div_ceil((usize::from(mtu) - 20) & !7) as u64;
        let ip = &p.b().stats().ip;
        assert_eq!(
            (ip.reasm_reqds, ip.reasm_oks, ip.reasm_fails),
            (fragments, 1, 0),
            "mtu {mtu}"
        );
    }
}

#[test]
fn reordered_and_duplicated_fragments_reassemble_exactly_once() {
    // L4.5: duplicates are dropped and the queue goes on; order does not matter.
    let messy = Segment {
        jitter: Duration::from_millis(5),
        duplicate: 0.3,
        ..Segment::default()
    };
    let (mut p, tx, rx) = pair_at(1000, messy);
    for round in 0..5u8 {
        let payload: Vec<u8> = (0..20_000u32)
            .map(|i| (i as u8).wrapping_add(round))
            .collect();
        let now = p.now();
        p.a().send_to(now, tx, &payload, sa(IP_B, 7)).unwrap();
        p.net.advance(Duration::from_millis(1));
        p.net.drive();
        let got = drain(p.b(), rx);
        assert_eq!(got.len(), 1, "round {round}: exactly once");
        assert!(got[0].0 == payload, "round {round}");
    }
    assert!(p.net.stats().duplicated > 0);
    assert!(
        p.b()
            .stats()
            .drops(udpstack::stats::DropReason::IpReasmDuplicate)
            > 0
    );
}

/// The fragments of one datagram from the probe (10.0.0.9:5000 to 10.0.0.2:`port`), split at
/// `chunk` bytes of IP payload; `(offset, more, bytes)` each.
fn probe_fragments(port: u16, payload: &[u8], chunk: usize) -> Vec<(u16, bool, Vec<u8>)> {
    let d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, port), payload);
    d.chunks(chunk)
        .enumerate()
        .map(|(i, c)| ((i * chunk) as u16, (i + 1) * chunk < d.len(), c.to_vec()))
        .collect()
}

/// A fragment frame from the probe.
fn fragment_frame(ident: u16, offset: u16, more: bool, bytes: &[u8], _total: usize) -> Vec<u8> {
    probe_fragment(ident, offset, more, bytes)
}

#[test]
fn a_lone_first_fragment_draws_time_exceeded_after_ipfrag_time() {
    // L4.1, L4.2: the timer starts with the queue; at expiry ReasmTimeout and ReasmFails, and
    // an ICMP 11/1 quoting the first fragment because it had arrived.
    let mut p = Probed::new();
    p.introduce();
    p.stack().set_sysctl("net.ipv4.ipfrag_time", "2").unwrap();
    let frags = probe_fragments(7, &[9u8; 3000], 1480);
    let (off, more, bytes) = &frags[0];
    p.send(fragment_frame(0x4242, *off, *more, bytes, bytes.len()));
    assert!(non_arp(&p.take()).is_empty());
    p.advance(Duration::from_millis(1900));
    assert!(non_arp(&p.take()).is_empty(), "not before ipfrag_time");
    p.advance(Duration::from_millis(200));
    let seen = non_arp(&p.take());
    let [Seen::Icmp(_, ip, msg)] = &seen[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(ip.dst, IP_PROBE);
    let icmp = Icmpv4Packet::new_checked(&msg[..]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 1));
    let quoted = Ipv4Packet::new_lax(icmp.body()).unwrap();
    assert_eq!(
        (quoted.ident(), quoted.frag_offset(), quoted.more_frags()),
        (0x4242, 0, true)
    );
    let s = p.stack().stats();
    assert_eq!((s.ip.reasm_timeout, s.ip.reasm_fails), (1, 1));
}

#[test]
fn a_queue_without_its_first_fragment_times_out_silently() {
    // L4.2: no first fragment, no ICMP.
    let mut p = Probed::new();
    p.introduce();
    p.stack().set_sysctl("net.ipv4.ipfrag_time", "1").unwrap();
    let frags = probe_fragments(7, &[9u8; 3000], 1480);
    let (off, more, bytes) = &frags[1];
    p.send(fragment_frame(0x4343, *off, *more, bytes, bytes.len()));
    p.advance(Duration::from_secs(2));
    assert!(non_arp(&p.take()).is_empty());
    assert_eq!(p.stack().stats().ip.reasm_timeout, 1);
}

#[test]
fn a_reassembled_datagram_to_a_closed_port_is_quoted_with_its_whole_length() {
    // L5.6: the quoted header shows the reassembled length.
    let mut p = Probed::new();
    p.introduce();
    let payload = vec![5u8; 2000];
    for (off, more, bytes) in probe_fragments(9, &payload, 1480) {
        p.send(fragment_frame(0x5151, off, more, &bytes, bytes.len()));
    }
    let seen = non_arp(&p.take());
    let [Seen::Icmp(_, _, msg)] = &seen[..] else {
        panic!("{seen:?}")
    };
    let icmp = Icmpv4Packet::new_checked(&msg[..]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 3));
    let quoted = Ipv4Packet::new_lax(icmp.body()).unwrap();
    assert_eq!(quoted.total_len(), 20 + 8 + 2000);
    assert!(!quoted.more_frags());
    assert_eq!(
        icmp.body().len(),
        548,
        "the quote is still capped at 548 bytes"
    );
}

#[test]
fn a_reassembled_datagram_is_charged_its_fragments_truesizes() {
    // L4.6: the datagram costs the sum of its fragments' truesizes (two full frames and one
    // small one here), not the truesize of one big frame.
    let mut p = Probed::new();
    p.introduce();
    let s = p.stack().udp_socket();
    p.stack().bind(s, sa(IP_B, 7)).unwrap();
    let frags = probe_fragments(7, &[1u8; 3000], 1480);
    let expected: usize = frags
        .iter()
        .map(|(_, _, b)| truesize(14 + 20 + b.len()))
        .sum();
    for (off, more, bytes) in frags {
        p.send(fragment_frame(0x6161, off, more, &bytes, bytes.len()));
    }
    assert_eq!(p.stack().recv_queue_bytes(s).unwrap(), expected);
    assert_eq!(expected, 2304 + 2304 + 832);
    assert_eq!(drain(p.stack(), s)[0].0.len(), 3000);
}
