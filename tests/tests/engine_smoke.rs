//! The fixtures work end to end: a datagram to a closed port draws a port unreachable (L5.4),
//! and a datagram to an open port is delivered.

use udpstack::wire::{Icmpv4Packet, Icmpv4Repr, Quote};
use udpstack_tests::fixture::*;

#[test]
fn closed_port_gets_port_unreachable_and_open_port_delivers() {
    let mut p = Probed::new();
    p.introduce();
    // L5.4: no socket → NoPorts and a port unreachable.
    p.send(probe_udp(
        MAC_B,
        sa(IP_PROBE, 5000),
        sa(IP_B, 9),
        b"anyone?",
    ));
    let seen = non_arp(&p.take());
    assert_eq!(seen.len(), 1, "{seen:?}");
    let Seen::Icmp(eth, ip, msg) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!((eth.dst, ip.src, ip.dst), (MAC_PROBE, IP_B, IP_PROBE));
    let icmp = Icmpv4Packet::new_checked(&msg[..]).unwrap();
    let repr = Icmpv4Repr::parse(&icmp).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 3));
    let quote = Quote::parse(repr.body).unwrap();
    assert_eq!((quote.src_port(), quote.dst_port()), (5000, 9));
    assert!(
        p.stack().snmp().contains("Udp: 0 1 0 0 0 0 0 0 0"),
        "{}",
        p.stack().snmp()
    );

    let s = p.stack().udp_socket();
    p.stack().bind(s, sa(IP_B, 9)).unwrap();
    p.send(probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(IP_B, 9), b"hello"));
    let mut buf = [0u8; 32];
    let (n, from) = p.stack().recv_from(s, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"hello"[..], sa(IP_PROBE, 5000)));
    assert!(non_arp(&p.take()).is_empty());
}

#[test]
fn two_stacks_exchange_datagrams() {
    let mut pair = Pair::new();
    let sb = pair.b().udp_socket();
    pair.b().bind(sb, sa(IP_B, 7)).unwrap();
    let sa_ = pair.a().udp_socket();
    let now = pair.now();
    pair.a().send_to(now, sa_, b"ping", sa(IP_B, 7)).unwrap();
    pair.net.drive();
    let mut buf = [0u8; 16];
    let (n, from) = pair.b().recv_from(sb, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    let now = pair.now();
    pair.b().send_to(now, sb, b"pong", from).unwrap();
    pair.net.drive();
    let (n, from) = pair.a().recv_from(sa_, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], sa(IP_B, 7)));
}
