//! Rule tests of the receive side below the sockets: IPv4 input checks and counters
//! (`ip_rcv_core`, `ip_route_input_slow`, `ip_rcv_options`), UDP lengths and checksums (L5.1,
//! L5.2), the no-socket case (L5.4), link-layer addressing, and the loopback path.

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::stats::DropReason;
use udpstack::wire::{IpProtocol, MacAddr};
use udpstack_tests::fixture::*;

const OTHER_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

/// A UDP frame from the probe to stack B.
fn udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(IP_B, dst_port), payload)
}

/// A frame whose UDP header and payload are exactly `datagram` (lengths and checksum as given).
fn raw_udp(datagram: &[u8]) -> Vec<u8> {
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Udp, datagram.len()),
        datagram,
    )
}

/// Edits the IPv4 header of a frame (then fixes its checksum).
fn edit(frame: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = frame.to_vec();
    f(&mut v);
    refresh_ip_checksum(&mut v);
    v
}

/// The probe sent nothing the stack answered (ARP aside).
fn no_answer(p: &mut Probed) {
    let frames = ip_only(p.take());
    assert!(frames.is_empty(), "unexpected answer: {frames:02x?}");
}

// ---------------------------------------------------------------------------------------------
// IPv4 input.
// ---------------------------------------------------------------------------------------------

#[test]
fn ip_input_counts_every_kind_of_bad_header() {
    // ip_rcv_core: InReceives for every packet; InHdrErrors for a bad version or IHL, a header
    // cut short, a bad checksum (also IpExt InCsumErrors), a total length below the header;
    // InTruncatedPkts (not InHdrErrors) for a total length beyond the frame; InAddrErrors for
    // unicast to another address (ip_error, forwarding off); InDelivers for what reached UDP.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 7);
    let good = udp(7, b"ok");
    p.send(good.clone());
    let total = good.len() - 14;

    p.send(edit(&good, |f| f[14] = 0x65)); // version 6
    let mut ihl4 = good.clone();
    ihl4[14] = 0x44; // IHL 4: checked before the checksum
    p.send(ihl4);
    let mut bad_sum = good.clone();
    bad_sum[24] ^= 0x5a;
    p.send(bad_sum);
    p.send(good[..14 + 12].to_vec()); // 12 bytes of IP
    p.send(edit(&good, |f| {
        f[16..18].copy_from_slice(&(total as u16 + 10).to_be_bytes())
    }));
    p.send(edit(&good, |f| {
        f[16..18].copy_from_slice(&16u16.to_be_bytes())
    }));
    p.send(probe_udp(
        MAC_B,
        sa(IP_PROBE, 5000),
        sa(OTHER_HOST, 7),
        b"ok",
    ));

    let st = p.stack().stats().clone();
    assert_eq!(st.ip.in_receives, 8);
    assert_eq!(st.ip.in_hdr_errors, 5);
    assert_eq!(st.ip_ext.in_csum_errors, 1);
    assert_eq!(st.ip_ext.in_truncated_pkts, 1);
    assert_eq!(st.ip.in_addr_errors, 1);
    assert_eq!(st.ip.in_delivers, 1);
    assert_eq!(st.udp.no_ports, 0);
    // The /proc layouts say the same.
    let snmp = p.stack().snmp();
    assert_eq!(counter(&snmp, "Ip", "InReceives"), 8);
    assert_eq!(counter(&snmp, "Ip", "InHdrErrors"), 5);
    assert_eq!(counter(&snmp, "Ip", "InAddrErrors"), 1);
    assert_eq!(counter(&snmp, "Ip", "InDelivers"), 1);
    let netstat = p.stack().netstat();
    assert_eq!(counter(&netstat, "IpExt", "InCsumErrors"), 1);
    assert_eq!(counter(&netstat, "IpExt", "InTruncatedPkts"), 1);
    // Only the good datagram reached the socket; nothing was answered.
    let mut buf = [0u8; 8];
    assert_eq!(p.stack().recv_from(s, &mut buf).unwrap().0, 2);
    assert_eq!(errno(p.stack().recv_from(s, &mut buf)), EAGAIN);
    no_answer(&mut p);
}

#[test]
fn ecn_counters_run_before_the_checksum_check() {
    // ip_rcv_core counts IpExt InNoECTPkts/InECT1Pkts/InECT0Pkts/InCEPkts right after the
    // version and IHL checks, before the header checksum and length checks.
    let mut p = Probed::new();
    let good = udp(9, b"ecn");
    let with_ecn = |ecn: u8| edit(&good, |f| f[15] = ecn);
    p.send(with_ecn(1));
    p.send(with_ecn(2));
    p.send(with_ecn(3));
    let mut bad_sum = with_ecn(2);
    bad_sum[24] ^= 0x5a;
    p.send(bad_sum); // counted as ECT(0), then dropped
    p.send(edit(&good, |f| f[14] = 0x65)); // bad version: not counted
    let e = p.stack().stats().ip_ext.clone();
    assert_eq!(
        (
            e.in_no_ect_pkts,
            e.in_ect1_pkts,
            e.in_ect0_pkts,
            e.in_ce_pkts
        ),
        (0, 1, 2, 1)
    );
    assert_eq!(e.in_csum_errors, 1);
}

#[test]
fn ethernet_padding_after_the_ip_packet_is_ignored() {
    // ip_rcv_core trims the packet to its total length: the padding of a short frame is neither
    // delivered nor quoted (InOctets counts the frame's IP part before the trim).
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 7);
    let mut f = udp(7, b"x");
    assert_eq!(f.len(), 43);
    f.resize(60, 0xee);
    p.send(f.clone());
    let mut buf = [0u8; 64];
    let (n, from) = p.stack().recv_from(s, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"x"[..], sa(IP_PROBE, 5000)));
    assert_eq!(p.stack().stats().ip_ext.in_octets, 46);
    // To a closed port: the quote is the 29-byte packet, not the padding.
    let mut f = udp(9, b"x");
    f.resize(60, 0xee);
    p.send(f);
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    let msg = icmp(&frames[0]);
    assert_eq!(&msg[8..], &udp(9, b"x")[14..]);
}

#[test]
fn frames_for_another_mac_are_dropped_before_ip() {
    // PACKET_OTHERHOST: dropped before ip_rcv_core counts anything.
    let mut p = Probed::new();
    let s = bound(&mut p, 7);
    let f = probe_udp(
        MacAddr([2, 0, 0, 0, 0, 0x77]),
        sa(IP_PROBE, 5000),
        sa(IP_B, 7),
        b"not mine",
    );
    // Hand it to the stack directly: the simulated switch would not deliver it.
    let now = p.now();
    p.stack().handle_frame(now, &f);
    let st = p.stack().stats();
    assert_eq!(st.drops(DropReason::OtherHost), 1);
    assert_eq!(st.ip.in_receives, 0);
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 16])), EAGAIN);
}

#[test]
fn martian_sources_are_dropped_silently() {
    // ip_route_input_slow → martian_source: a multicast, limited-broadcast, subnet-broadcast,
    // loopback, 0.0.0.0 or own source from the wire is dropped with no counter but InReceives,
    // no delivery and no ICMP, even to a closed port.
    let mut p = Probed::new();
    p.introduce();
    let open = bound(&mut p, 7);
    let sources = [
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::BROADCAST,
        BROADCAST,
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::UNSPECIFIED,
        IP_B,
    ];
    for src in sources {
        for port in [7, 9] {
            p.send(probe_udp(MAC_B, sa(src, 5000), sa(IP_B, port), b"m"));
        }
    }
    let st = p.stack().stats();
    assert_eq!(st.drops(DropReason::IpMartianSource), 12);
    assert_eq!(st.ip.in_receives, 12);
    assert_eq!(st.ip.in_delivers, 0);
    assert_eq!(st.udp.no_ports, 0);
    assert_eq!(st.ip.in_addr_errors + st.ip.in_hdr_errors, 0);
    assert_eq!(errno(p.stack().recv_from(open, &mut [0; 8])), EAGAIN);
    no_answer(&mut p);
}

#[test]
fn martian_destinations_are_dropped_silently() {
    // martian_destination: loopback, 0.0.0.0, or an unjoined multicast group from the wire.
    let mut p = Probed::new();
    p.introduce();
    for dst in [
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(224, 0, 0, 9),
    ] {
        p.send(probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(dst, 9), b"m"));
    }
    let st = p.stack().stats();
    assert_eq!(st.drops(DropReason::IpMartianDestination), 3);
    assert_eq!((st.ip.in_delivers, st.udp.no_ports), (0, 0));
    no_answer(&mut p);
}

#[test]
fn malformed_options_draw_a_parameter_problem_at_the_option() {
    // ip_options_compile: a length error points pp_ptr at the option's type byte; ip_rcv_options
    // counts InHdrErrors and the ICMP parameter problem (type 12, code 0) carries the offset
    // from the start of the IP header in its pointer byte.
    let mut p = Probed::new();
    p.introduce();
    let cases: [(&[u8], u8); 3] = [
        (&[0x01, 0x44, 0x30, 0x00], 21), // timestamp whose length passes the end
        (&[0x01, 0x01, 0x01, 0x07], 23), // record route without a length byte
        (&[0x07, 0x01, 0x00, 0x00], 20), // length 1
    ];
    for (i, (options, pointer)) in cases.iter().enumerate() {
        let d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 9), b"opt");
        let f = frame_with_raw_options(IP_PROBE, IP_B, IpProtocol::Udp, options, &d);
        p.send(f.clone());
        let frames = ip_only(p.take());
        assert_eq!(frames.len(), 1, "case {i}");
        let h = ip(&frames[0]);
        assert_eq!((h.src(), h.dst()), (IP_B, IP_PROBE));
        let msg = icmp(&frames[0]);
        assert_eq!((msg[0], msg[1], msg[4]), (12, 0, *pointer), "case {i}");
        assert_eq!(
            &msg[8..],
            &f[14..],
            "the quote is the packet, options included"
        );
        assert_eq!(p.stack().stats().ip.in_hdr_errors, i as u64 + 1);
    }
    assert_eq!(p.stack().stats().udp.no_ports, 0, "never reached UDP");
    assert_eq!(p.stack().stats().ip.in_delivers, 0);
    // To a broadcast address the packet is dropped the same way but not answered.
    let d = udp_datagram(sa(IP_PROBE, 5000), sa(BROADCAST, 9), b"opt");
    p.send(frame_with_raw_options(
        IP_PROBE,
        BROADCAST,
        IpProtocol::Udp,
        cases[0].0,
        &d,
    ));
    assert_eq!(p.stack().stats().ip.in_hdr_errors, 4);
    no_answer(&mut p);
}

#[test]
fn well_formed_options_are_accepted() {
    // ip_options_compile accepts a record-route option with room left; the datagram is
    // delivered.
    let mut p = Probed::new();
    let s = bound(&mut p, 7);
    let d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 7), b"rr");
    let rr = [0x07, 0x07, 0x04, 0, 0, 0, 0, 0x00];
    p.send(frame_with_raw_options(
        IP_PROBE,
        IP_B,
        IpProtocol::Udp,
        &rr,
        &d,
    ));
    let mut buf = [0u8; 8];
    assert_eq!(p.stack().recv_from(s, &mut buf).unwrap().0, 2);
    assert_eq!(p.stack().stats().ip.in_hdr_errors, 0);
}

#[test]
fn source_routed_packets_are_dropped_silently() {
    // ip_rcv_options: with accept_source_route off (the default) an LSRR or SSRR packet is
    // dropped with no counter and no ICMP, even to a closed port.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 7);
    for kind in [0x83u8, 0x89] {
        for port in [7, 9] {
            let d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, port), b"sr");
            let opt = [kind, 7, 4, 10, 0, 0, 9, 0];
            p.send(frame_with_raw_options(
                IP_PROBE,
                IP_B,
                IpProtocol::Udp,
                &opt,
                &d,
            ));
        }
    }
    let st = p.stack().stats();
    assert_eq!(st.drops(DropReason::IpSourceRoute), 4);
    assert_eq!((st.ip.in_hdr_errors, st.ip.in_delivers), (0, 0));
    assert_eq!(st.udp.no_ports, 0);
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), EAGAIN);
    no_answer(&mut p);
}

#[test]
fn unicast_in_a_link_multicast_or_broadcast_frame_is_handled_as_unicast() {
    // UDP looks at the route (RTCF_BROADCAST/RTCF_MULTICAST), not at the link layer, to choose
    // between unicast lookup and broadcast fan-out: a unicast IP destination in a link-layer
    // broadcast or multicast frame goes to the unicast lookup (NoPorts when nobody listens), and
    // no ICMP answers it (L5.6: pkt_type is not PACKET_HOST).
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 7);
    let group_mac = MacAddr([0x01, 0x00, 0x5e, 0, 0, 0x09]);
    for mac in [MacAddr::BROADCAST, group_mac] {
        p.send(probe_udp(mac, sa(IP_PROBE, 5000), sa(IP_B, 9), b"closed"));
        p.send(probe_udp(mac, sa(IP_PROBE, 5000), sa(IP_B, 7), b"open"));
    }
    let st = p.stack().stats();
    assert_eq!(st.udp.no_ports, 2);
    assert_eq!(st.udp.ignored_multi, 0);
    let mut buf = [0u8; 8];
    for _ in 0..2 {
        let (n, _) = p.stack().recv_from(s, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"open");
    }
    no_answer(&mut p);
}

// ---------------------------------------------------------------------------------------------
// L5.1, L5.2, L5.4: UDP lengths, checksums, and no socket.
// ---------------------------------------------------------------------------------------------

#[test]
fn udp_length_errors_count_in_errors_and_draw_no_icmp() {
    // L5.1 (obs): fewer than 8 bytes, UDP length > IP payload, UDP length < 8 → InErrors, no
    // ICMP, not NoPorts (to a closed port, so an ICMP would show).
    let mut p = Probed::new();
    p.introduce();
    let good = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 9), b"twelve bytes");
    p.send(raw_udp(&good[..6]));
    let mut long = good.clone();
    long[4..6].copy_from_slice(&100u16.to_be_bytes());
    p.send(raw_udp(&long));
    let mut short = good.clone();
    short[4..6].copy_from_slice(&4u16.to_be_bytes());
    p.send(raw_udp(&short));
    let st = p.stack().stats();
    assert_eq!(st.udp.in_errors, 3);
    assert_eq!((st.udp.no_ports, st.udp.in_csum_errors), (0, 0));
    assert_eq!(st.drops(DropReason::UdpLength), 3);
    assert_eq!(st.ip.in_delivers, 3, "IP delivered them to UDP");
    assert!(p.stack().snmp().contains("\nUdp: 0 0 3 0 0 0 0 0 0\n"));
    no_answer(&mut p);
}

#[test]
fn udp_length_shorter_than_the_ip_payload_trims() {
    // L5.1 (obs): UDP length < IP payload → the datagram is trimmed to the UDP length, whose
    // checksum covers only those bytes.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 7);
    let mut d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 7), b"hello");
    d.extend_from_slice(b" trailing bytes");
    p.send(raw_udp(&d));
    let mut buf = [0u8; 64];
    let (n, _) = p.stack().recv_from(s, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(p.stack().stats().udp.in_errors, 0);
}

#[test]
fn bad_checksum_counts_in_csum_errors_and_in_errors() {
    // L5.2 (obs): a bad checksum → InCsumErrors++ and InErrors++, dropped; to a closed port no
    // ICMP and no NoPorts either (L5.4).
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 7);
    for port in [7, 9] {
        let mut d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, port), b"corrupt");
        d[9] ^= 0x01;
        p.send(raw_udp(&d));
    }
    let st = p.stack().stats();
    assert_eq!((st.udp.in_csum_errors, st.udp.in_errors), (2, 2));
    assert_eq!(st.udp.no_ports, 0);
    assert_eq!(st.drops(DropReason::UdpChecksum), 2);
    assert!(p.stack().snmp().contains("\nUdp: 0 0 2 0 0 0 2 0 0\n"));
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 16])), EAGAIN);
    no_answer(&mut p);
}

#[test]
fn zero_checksum_means_none() {
    // L5.2 (obs): checksum 0 = not computed; the datagram is accepted whatever its bytes.
    let mut p = Probed::new();
    let s = bound(&mut p, 7);
    let mut d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 7), b"unchecked");
    d[6] = 0;
    d[7] = 0;
    d[8] ^= 0xff; // would fail any checksum
    p.send(raw_udp(&d));
    let mut buf = [0u8; 16];
    let (n, _) = p.stack().recv_from(s, &mut buf).unwrap();
    assert_eq!(n, 9);
    assert_eq!(p.stack().stats().udp.in_errors, 0);
}

#[test]
fn no_socket_counts_no_ports_and_sends_port_unreachable() {
    // L5.4 (obs): no socket → NoPorts++ and an ICMP port unreachable (3/3) to the source.
    let mut p = Probed::new();
    p.introduce();
    p.send(udp(9, b"anyone?"));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    let msg = icmp(&frames[0]);
    assert_eq!((msg[0], msg[1]), (3, 3));
    let st = p.stack().stats();
    assert_eq!((st.udp.no_ports, st.udp.in_errors), (1, 0));
    assert_eq!(st.icmp.out_dest_unreachs, 1);
    assert_eq!(counter(&p.stack().snmp(), "IcmpMsg", "OutType3"), 1);
}

// ---------------------------------------------------------------------------------------------
// The loopback path.
// ---------------------------------------------------------------------------------------------

#[test]
fn sending_to_our_own_address_delivers_locally() {
    // Local destinations route to the loopback device: nothing on the wire, the receiver sees
    // the sender's address.
    let mut p = Probed::new();
    let r = bound(&mut p, 7);
    let s = bound(&mut p, 4000);
    send_to(&mut p, s, b"to myself", sa(IP_B, 7));
    let mut buf = [0u8; 32];
    let (n, from) = p.stack().recv_from(r, &mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"to myself"[..], sa(IP_B, 4000)));
    assert!(p.take().is_empty(), "nothing on the wire");
    let st = p.stack().stats();
    assert_eq!(st.link.tx_frames, 0);
    assert_eq!(
        (st.ip.out_requests, st.ip.in_receives, st.ip.in_delivers),
        (1, 1, 1)
    );
    assert_eq!(st.udp.out_datagrams, 1);
}

#[test]
fn sending_to_127_0_0_1_delivers_locally_from_127_0_0_1() {
    // 127.0.0.0/8 is local: a socket on 0.0.0.0 receives, and the source is 127.0.0.1 (the
    // loopback route's source); a socket bound to 10.0.0.2 is not reachable that way.
    let mut p = Probed::new();
    let any = p.stack().udp_socket();
    p.stack().bind(any, sa(Ipv4Addr::UNSPECIFIED, 7)).unwrap();
    let s = p.stack().udp_socket();
    send_to(&mut p, s, b"lo", sa(Ipv4Addr::LOCALHOST, 7));
    let port = p.stack().local_addr(s).unwrap().port();
    let mut buf = [0u8; 8];
    let (n, from) = p.stack().recv_from(any, &mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"lo"[..], sa(Ipv4Addr::LOCALHOST, port))
    );
    let specific = bound(&mut p, 8);
    send_to(&mut p, s, b"lo", sa(Ipv4Addr::LOCALHOST, 8));
    assert_eq!(errno(p.stack().recv_from(specific, &mut buf)), EAGAIN);
    assert_eq!(p.stack().stats().udp.no_ports, 1);
    assert!(p.take().is_empty());
}

#[test]
fn loopback_port_unreachable_refuses_a_connected_socket_without_rate_limit() {
    // L5.4 over loopback, then L1.2/L1.5: the port unreachable comes back to ourselves and a
    // connected socket sees ECONNREFUSED once. No rate limit applies on the loopback device
    // (icmpv4_xrlim_allow), so every one of many errors is sent.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    p.stack()
        .connect(now, s, sa(Ipv4Addr::LOCALHOST, 9))
        .unwrap();
    p.stack().send(now, s, b"knock").unwrap();
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), ECONNREFUSED);
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), EAGAIN);
    let u = p.stack().udp_socket();
    for _ in 0..20 {
        p.stack().send_to(now, u, b"x", sa(IP_B, 9)).unwrap();
    }
    let st = p.stack().stats();
    assert_eq!(st.udp.no_ports, 21);
    assert_eq!(st.icmp.out_dest_unreachs, 21);
    assert_eq!(st.icmp.in_dest_unreachs, 21);
    assert_eq!(
        (st.icmp.out_rate_limit_host, st.icmp.out_rate_limit_global),
        (0, 0)
    );
    assert!(p.take().is_empty());
}
