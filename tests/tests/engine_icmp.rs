//! Rule tests of ICMP output and input: the port-unreachable format and when it is not sent
//! (L5.6), the rate limits (L5.7), echo, protocol unreachable, and ICMP input counters. ICMP
//! errors reaching sockets (L1.x) are in `engine_icmp_errors.rs`.

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::config::Config;
use udpstack::stats::DropReason;
use udpstack::wire::{golden, DstUnreachable, Icmpv4Message, IpProtocol, MacAddr};
use udpstack::Duration;
use udpstack_tests::fixture::*;

/// A UDP frame from `src` (through the probe's MAC) to port `port` of stack B.
fn udp_from(src: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    probe_udp(MAC_B, sa(src, 5000), sa(IP_B, port), payload)
}

/// An echo request frame from the probe to `dst` (in a frame for `mac`).
fn echo(mac: MacAddr, dst: Ipv4Addr, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let m = icmp_message(&udpstack::wire::Icmpv4Repr {
        message: Icmpv4Message::EchoRequest { ident, seq_no },
        body: data,
    });
    ip_frame(
        MAC_PROBE,
        mac,
        &ip_header(IP_PROBE, dst, IpProtocol::Icmp, m.len()),
        &m,
    )
}

/// The ICMP errors among what the probe received.
fn icmp_frames(p: &mut Probed) -> Vec<Vec<u8>> {
    ip_only(p.take())
}

// ---------------------------------------------------------------------------------------------
// L5.6: the port-unreachable format.
// ---------------------------------------------------------------------------------------------

#[test]
fn port_unreachable_matches_the_kernel_s() {
    // L5.6 (obs): the golden capture of the kernel's answer to 10.0.0.2:50000 -> 10.0.0.1:9
    // (IP ID 0x1234, DF, TTL 64, "port unreachable probe"): every byte but the ID and header
    // checksum.
    let mut lab = Lab::golden();
    let (peer, us) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
    let d = udp_datagram(sa(peer, 50000), sa(us, 9), b"port unreachable probe");
    let f = ip_frame(
        lab.probe_mac,
        MacAddr([2, 0, 0, 0, 0, 1]),
        &ip_header(peer, us, IpProtocol::Udp, d.len()),
        &d,
    );
    lab.send(f);
    let frames = ip_only(lab.take());
    assert_eq!(frames.len(), 1);
    assert_golden_except_id(&frames[0], golden::ICMP_PORT_UNREACHABLE);
}

#[test]
fn port_unreachable_header_fields() {
    // L5.6: source = the original destination; TOS = RT_TOS(original) | 0xC0, which keeps only
    // the TOS bits 0x1e (0xb9 → 0x18 | 0xc0 = 0xd8; __icmp_send in 6.18); TTL 64; no DF.
    let mut p = Probed::new();
    p.introduce();
    let mut f = udp_from(IP_PROBE, 9, b"tos");
    f[15] = 0xb9;
    refresh_ip_checksum(&mut f);
    p.send(f.clone());
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let h = ip(&frames[0]);
    assert_eq!((h.src(), h.dst()), (IP_B, IP_PROBE));
    assert_eq!(h.tos(), 0xd8);
    assert_eq!(h.ttl(), 64);
    assert!(!h.dont_frag() && !h.more_frags());
    assert_eq!(eth_dst(&frames[0]), MAC_PROBE);
    let msg = icmp(&frames[0]);
    assert_eq!((msg[0], msg[1]), (3, 3));
    assert_eq!(&msg[4..8], &[0, 0, 0, 0]);
    assert_eq!(&msg[8..], &f[14..], "a small datagram is quoted whole");
    // Other TOS values: precedence and ECN bits are dropped, the TOS bits kept.
    for (tos, want) in [
        (0x00, 0xc0),
        (0xff, 0xde),
        (0x10, 0xd0),
        (0xe1, 0xc0),
        (0xe3, 0xc2),
    ] {
        let mut f = udp_from(IP_PROBE, 9, b"tos");
        f[15] = tos;
        refresh_ip_checksum(&mut f);
        p.advance(Duration::from_secs(1)); // stay within the rate limit
        p.send(f);
        let frames = icmp_frames(&mut p);
        assert_eq!(ip(&frames[0]).tos(), want, "original TOS {tos:#04x}");
    }
}

#[test]
fn port_unreachable_is_at_most_576_bytes() {
    // L5.6 (obs): at most 576 bytes in all, quoting the first 548 bytes of the original packet,
    // whose quoted header still shows the full length.
    let mut p = Probed::new();
    p.introduce();
    let payload: Vec<u8> = (0..1000).map(|i| i as u8).collect();
    let f = udp_from(IP_PROBE, 9, &payload);
    p.send(f.clone());
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    assert_eq!(ip(&frames[0]).total_len(), 576);
    let msg = icmp(&frames[0]);
    assert_eq!(msg.len(), 556);
    assert_eq!(&msg[8..], &f[14..14 + 548]);
    assert_eq!(u16::from_be_bytes([msg[10], msg[11]]), 1028);
}

#[test]
fn a_port_unreachable_echoing_record_route_still_fits_576_bytes() {
    // L5.6 with RFC 791 record route (__ip_options_echo, icmp_send): the error carries the
    // route, our address added on arrival and again as its source, and its quote shrinks by
    // the options' 12 bytes so that the whole stays at 576; the quote shows the route as
    // recorded on arrival.
    let mut p = Probed::new();
    p.introduce();
    let d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 9), &[0x5a; 1000]);
    let rr = [7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p.send(frame_with_raw_options(
        IP_PROBE,
        IP_B,
        IpProtocol::Udp,
        &rr,
        &d,
    ));
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let h = ip(&frames[0]);
    assert_eq!((h.total_len(), h.header_len()), (576, 36));
    let b = IP_B.octets();
    let routed = [
        7, 15, 12, b[0], b[1], b[2], b[3], b[0], b[1], b[2], b[3], 0, 0, 0, 0, 0,
    ];
    assert_eq!(h.options(), &routed);
    let msg = icmp(&frames[0]);
    assert_eq!(msg.len(), 576 - 36);
    // The quote: the header as recorded on arrival (one slot used), then the datagram.
    let quote = &msg[8..];
    assert_eq!(
        &quote[20..36],
        &[7, 15, 8, b[0], b[1], b[2], b[3], 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&quote[36..], &d[..576 - 36 - 8 - 36]);
}

#[test]
fn port_unreachable_quotes_only_up_to_the_udp_length() {
    // L5.1 with L5.6: __udp4_lib_rcv trims the packet to the UDP length before icmp_send, so
    // bytes after the UDP datagram are not quoted (the quoted IP header keeps its length).
    let mut p = Probed::new();
    p.introduce();
    let mut d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 9), b"hello");
    d.extend_from_slice(b"-trailer-");
    let f = ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Udp, d.len()),
        &d,
    );
    p.send(f.clone());
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let msg = icmp(&frames[0]);
    assert_eq!(&msg[8..], &f[14..14 + 20 + 13]);
}

#[test]
fn no_port_unreachable_for_ip_broadcast_destinations() {
    // L5.6, L5.3: a broadcast nobody listens to counts IgnoredMulti, not NoPorts, and draws no
    // ICMP (RTCF_BROADCAST), for the subnet and the limited broadcast address.
    let mut p = Probed::new();
    p.introduce();
    for dst in [BROADCAST, Ipv4Addr::BROADCAST] {
        p.send(probe_udp(
            MacAddr::BROADCAST,
            sa(IP_PROBE, 5000),
            sa(dst, 9),
            b"anyone?",
        ));
        // Even in a frame unicast to our MAC.
        p.send(probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(dst, 9), b"anyone?"));
    }
    let st = p.stack().stats();
    assert_eq!((st.udp.ignored_multi, st.udp.no_ports), (4, 0));
    assert_eq!(st.icmp.out_msgs, 0);
    assert!(icmp_frames(&mut p).is_empty());
}

#[test]
fn no_port_unreachable_for_fragments() {
    // L5.6: never about a non-first fragment; and a first fragment whose datagram never
    // completes draws nothing either (until the reassembly timeout, which this test does not
    // reach). (Today the engine counts ReasmReqds and drops every fragment.)
    let mut p = Probed::new();
    p.introduce();
    let d = udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 9), &[0u8; 64]);
    let mut first = ip_header(IP_PROBE, IP_B, IpProtocol::Udp, 40);
    first.dont_frag = false;
    first.more_frags = true;
    p.send(ip_frame(MAC_PROBE, MAC_B, &first, &d[..40]));
    // A lone non-first fragment (the last one) of another datagram.
    let lone = udpstack::wire::Ipv4Repr {
        ident: 0x777,
        more_frags: false,
        frag_offset: 40,
        ..first
    };
    p.send(ip_frame(MAC_PROBE, MAC_B, &lone, &d[40..]));
    let st = p.stack().stats();
    assert_eq!(st.ip.reasm_reqds, 2);
    assert_eq!((st.udp.no_ports, st.icmp.out_msgs), (0, 0));
    assert!(icmp_frames(&mut p).is_empty());
}

#[test]
fn no_icmp_error_about_an_icmp_error() {
    // L5.6 / RFC 1122 §3.2.2: a packet with bad options draws a parameter problem, unless it is
    // an ICMP error (or an ICMP type unknown to the kernel, treated as an error).
    let mut p = Probed::new();
    p.introduce();
    let bad = [0x01, 0x44, 0x30, 0x00];
    let quote = ip_bytes(&udp_from(IP_B, 9, b"q")).to_vec();
    let err = icmp_message(&udpstack::wire::Icmpv4Repr {
        message: Icmpv4Message::DstUnreachable(DstUnreachable::PortUnreachable),
        body: &quote,
    });
    p.send(frame_with_raw_options(
        IP_PROBE,
        IP_B,
        IpProtocol::Icmp,
        &bad,
        &err,
    ));
    let mut unknown = vec![42u8, 0, 0, 0, 0, 0, 0, 0];
    let c = !ones_sum(&unknown);
    unknown[2..4].copy_from_slice(&c.to_be_bytes());
    p.send(frame_with_raw_options(
        IP_PROBE,
        IP_B,
        IpProtocol::Icmp,
        &bad,
        &unknown,
    ));
    assert!(icmp_frames(&mut p).is_empty());
    assert_eq!(p.stack().stats().ip.in_hdr_errors, 2);
    // An echo request (not an error) with the same options is answered with the error.
    let req = icmp_message(&udpstack::wire::Icmpv4Repr {
        message: Icmpv4Message::EchoRequest {
            ident: 1,
            seq_no: 1,
        },
        body: b"ping",
    });
    p.send(frame_with_raw_options(
        IP_PROBE,
        IP_B,
        IpProtocol::Icmp,
        &bad,
        &req,
    ));
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    assert_eq!(icmp(&frames[0])[0], 12);
}

// ---------------------------------------------------------------------------------------------
// L5.7: rate limits.
// ---------------------------------------------------------------------------------------------

/// Sends `n` datagrams to a closed port from `src` so that they all arrive at the same instant,
/// and returns how many port unreachables came back.
fn burst(p: &mut Probed, src: Ipv4Addr, n: usize) -> usize {
    for _ in 0..n {
        p.net.send_raw(p.probe, udp_from(src, 9, b"closed"));
    }
    p.settle();
    ip_only(p.take()).len()
}

#[test]
fn per_destination_limit_is_six_then_one_per_second() {
    // L5.7 (obs: 6, then 1 per second): a new destination's bucket starts full with
    // 6 × icmp_ratelimit; each refusal counts Icmp OutRateLimitHost.
    let mut p = Probed::new();
    p.introduce();
    assert_eq!(burst(&mut p, IP_PROBE, 10), 6);
    let st = p.stack().stats();
    assert_eq!(st.icmp.out_rate_limit_host, 4);
    assert_eq!(st.icmp.out_rate_limit_global, 0);
    assert_eq!(st.udp.no_ports, 10, "every datagram counts NoPorts");
    assert_eq!(counter(&p.stack().snmp(), "Icmp", "OutRateLimitHost"), 4);
    // Less than a second later: nothing.
    p.advance(Duration::from_millis(900));
    assert_eq!(burst(&mut p, IP_PROBE, 3), 0);
    // A second after the burst: one token.
    p.advance(Duration::from_millis(100));
    assert_eq!(burst(&mut p, IP_PROBE, 3), 1);
    // Long idle refills up to the burst of 6, no more.
    p.advance(Duration::from_secs(30));
    assert_eq!(burst(&mut p, IP_PROBE, 10), 6);
    assert_eq!(p.stack().stats().icmp.out_rate_limit_host, 4 + 3 + 2 + 4);
}

#[test]
fn destinations_have_independent_buckets() {
    // L5.7: the per-destination buckets are independent (well within the global burst of 50).
    let mut p = Probed::new();
    p.introduce();
    let other = Ipv4Addr::new(10, 0, 0, 10);
    // Make the stack know `other` at the probe's MAC, as an ARP request from it would.
    p.send(arp_frame(
        udpstack::wire::ArpOperation::Request,
        MAC_PROBE,
        MacAddr::BROADCAST,
        other,
        MacAddr::ZERO,
        IP_B,
    ));
    p.take();
    assert_eq!(burst(&mut p, IP_PROBE, 10), 6);
    assert_eq!(burst(&mut p, other, 10), 6);
    assert_eq!(p.stack().stats().icmp.out_rate_limit_host, 8);
}

#[test]
fn the_global_bucket_caps_all_destinations_together() {
    // L5.7: after the per-destination check, a global bucket (icmp_msgs_burst 50, refilled at
    // icmp_msgs_per_sec 1000) caps errors to all destinations; its refusals count
    // OutRateLimitGlobal. Each message sent takes 0, 1 or 2 credits (about 50 messages).
    let mut p = Probed::new();
    let sources: Vec<Ipv4Addr> = (20..220).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    for &src in &sources {
        p.net.send_raw(p.probe, udp_from(src, 9, b"closed"));
    }
    p.settle();
    let st = p.stack().stats().clone();
    let sent = st.icmp.out_dest_unreachs;
    assert_eq!(st.udp.no_ports, 200);
    assert_eq!(st.icmp.out_rate_limit_host, 0);
    assert_eq!(sent + st.icmp.out_rate_limit_global, 200);
    assert!(
        (25..=100).contains(&sent),
        "{sent} sent before the global limit"
    );
    // Credit comes back at 1000 per second, at most 50: after a second about 50 more go.
    p.advance(Duration::from_secs(1));
    let before = p.stack().stats().icmp.out_dest_unreachs;
    let more: Vec<Ipv4Addr> = (220..254).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    for &src in &more {
        p.net.send_raw(p.probe, udp_from(src, 9, b"closed"));
    }
    p.settle();
    let st = p.stack().stats();
    assert!(st.icmp.out_dest_unreachs - before >= 25);
}

// ---------------------------------------------------------------------------------------------
// Echo.
// ---------------------------------------------------------------------------------------------

#[test]
fn echo_reply_matches_the_kernel_s() {
    // icmp_echo → icmp_reply: the golden capture (request 10.0.0.2 -> 10.0.0.1, ID 0x4321, DF,
    // identifier 0x5678, sequence 1, "udpstack echo rp").
    let mut lab = Lab::golden();
    let (peer, us) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
    let m = icmp_message(&udpstack::wire::Icmpv4Repr {
        message: Icmpv4Message::EchoRequest {
            ident: 0x5678,
            seq_no: 1,
        },
        body: b"udpstack echo rp",
    });
    let mut h = ip_header(peer, us, IpProtocol::Icmp, m.len());
    h.ident = 0x4321;
    lab.send(ip_frame(lab.probe_mac, MacAddr([2, 0, 0, 0, 0, 1]), &h, &m));
    let frames = ip_only(lab.take());
    assert_eq!(frames.len(), 1);
    assert_golden_except_id(&frames[0], golden::ECHO_REPLY);
}

#[test]
fn echo_reply_echoes_everything_and_comes_from_the_address_asked() {
    // icmp_reply: same identifier, sequence and data; source = the address asked
    // (fib_compute_spec_dst), TOS copied from the request, TTL 64, no DF (the ICMP socket is in
    // PMTUDISC_DONT).
    let mut p = Probed::new();
    p.introduce();
    let data: Vec<u8> = (0..300).map(|i| (i * 7) as u8).collect();
    let mut f = echo(MAC_B, IP_B, 0xbeef, 0x0102, &data);
    f[15] = 0x2a;
    refresh_ip_checksum(&mut f);
    p.send(f);
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let h = ip(&frames[0]);
    assert_eq!(
        (h.src(), h.dst(), h.tos(), h.ttl()),
        (IP_B, IP_PROBE, 0x2a, 64)
    );
    assert!(!h.dont_frag());
    let msg = icmp(&frames[0]);
    assert_eq!((msg[0], msg[1]), (0, 0));
    assert_eq!(&msg[4..8], &[0xbe, 0xef, 0x01, 0x02]);
    assert_eq!(&msg[8..], &data[..]);
    let st = p.stack().stats();
    assert_eq!((st.icmp.in_echos, st.icmp.out_echo_reps), (1, 1));
    assert_eq!(st.icmp.in_errors, 0);
    let snmp = p.stack().snmp();
    assert_eq!(counter(&snmp, "IcmpMsg", "InType8"), 1);
    assert_eq!(counter(&snmp, "IcmpMsg", "OutType0"), 1);
}

#[test]
fn echo_reply_keeps_the_request_s_code() {
    // icmp_echo copies the whole ICMP header of the request and changes only the type: a
    // request with a non-zero code is answered with that code.
    let mut p = Probed::new();
    p.introduce();
    let mut f = echo(MAC_B, IP_B, 1, 2, b"code");
    f[35] = 5; // ICMP code
    f[36] = 0;
    f[37] = 0;
    let c = !ones_sum(&f[34..]);
    f[36..38].copy_from_slice(&c.to_be_bytes());
    p.send(f);
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let msg = icmp(&frames[0]);
    assert_eq!((msg[0], msg[1]), (0, 5));
}

#[test]
fn echo_to_broadcast_is_ignored_by_default() {
    // icmp_rcv: an echo to a broadcast address is an error while icmp_echo_ignore_broadcasts
    // (default 1): Icmp InErrors++, no reply. With the sysctl at 0 it is answered, from our own
    // address.
    let mut p = Probed::new();
    p.introduce();
    for dst in [BROADCAST, Ipv4Addr::BROADCAST] {
        p.send(echo(MacAddr::BROADCAST, dst, 7, 1, b"all?"));
    }
    assert!(icmp_frames(&mut p).is_empty());
    let st = p.stack().stats();
    assert_eq!(
        (st.icmp.in_msgs, st.icmp.in_echos, st.icmp.in_errors),
        (2, 2, 2)
    );
    assert_eq!(st.drops(DropReason::IcmpBroadcast), 2);
    p.stack()
        .set_sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0")
        .unwrap();
    p.send(echo(MacAddr::BROADCAST, BROADCAST, 7, 2, b"all?"));
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let h = ip(&frames[0]);
    assert_eq!((h.src(), h.dst()), (IP_B, IP_PROBE));
    assert_eq!(eth_dst(&frames[0]), MAC_PROBE);
}

/// A timestamp request frame from the probe to B: identifier 7, sequence `seq`, `body`.
fn timestamp_request(seq: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![13, 0, 0, 0, 0, 7, 0, seq];
    m.extend_from_slice(body);
    let c = !ones_sum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Icmp, m.len()),
        &m,
    )
}

#[test]
fn timestamp_requests_are_answered_from_the_wall_clock_once_it_is_known() {
    // RFC 792 timestamp, Linux's icmp_timestamp: a 20-byte reply, type 14 code 0, the
    // request's identifier, sequence and originate timestamp, receive = transmit = ms since
    // midnight UT; counted as an echo reply (icmp_reply's flow type is 0). The sans-IO stack
    // reads no clock: until Stack::set_wall_clock, requests are ignored. Checked against the
    // kernel in kernel_differential.rs::icmp_timestamp_requests.
    let mut p = Probed::new();
    p.introduce();
    p.send(timestamp_request(1, &[1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert!(icmp_frames(&mut p).is_empty());
    // 2026-11-21 13:00:00.250 UTC at the stack's instant 0.
    let unix_ms = 1_795_784_400_250;
    p.stack().set_wall_clock(udpstack::Instant::ZERO, unix_ms);
    let now = p.now().total_millis();
    p.send(timestamp_request(
        2,
        &[1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9, 0xaa, 0xbb],
    ));
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let h = ip(&frames[0]);
    assert_eq!((h.src(), h.dst()), (IP_B, IP_PROBE));
    let r = h.payload();
    assert_eq!(r.len(), 20);
    assert_eq!(&r[..2], &[14, 0]);
    assert_eq!(ones_sum(r), 0xffff, "checksum");
    assert_eq!(&r[4..12], &[0, 7, 0, 2, 1, 2, 3, 4]);
    let expected = ((unix_ms + now) % 86_400_000) as u32;
    let recv = u32::from_be_bytes([r[12], r[13], r[14], r[15]]);
    assert!(recv.abs_diff(expected) <= 1, "{recv} vs {expected}");
    assert_eq!(&r[12..16], &r[16..20]);
    // Without the originate timestamp: Icmp InErrors, no reply.
    p.send(timestamp_request(3, &[1, 2]));
    assert!(icmp_frames(&mut p).is_empty());
    let st = p.stack().stats();
    assert_eq!(
        (
            st.icmp.in_timestamps,
            st.icmp.in_errors,
            st.icmp.out_echo_reps,
            st.icmp.out_timestamp_reps
        ),
        (3, 1, 1, 0)
    );
    // To a broadcast address: the echo rule (icmp_echo_ignore_broadcasts, on): InErrors.
    let mut to_all = timestamp_request(4, &[1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
    to_all[..6].copy_from_slice(&MacAddr::BROADCAST.0);
    to_all[30..34].copy_from_slice(&BROADCAST.octets());
    refresh_ip_checksum(&mut to_all);
    p.send(to_all);
    assert!(icmp_frames(&mut p).is_empty());
    assert_eq!(p.stack().stats().drops(DropReason::IcmpBroadcast), 1);
    // With a record route: echoed in the reply, our address added twice (arrival, reply).
    let m = &timestamp_request(5, &[1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0])[34..];
    let rr = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p.send(frame_with_raw_options(
        IP_PROBE,
        IP_B,
        IpProtocol::Icmp,
        &rr,
        m,
    ));
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let b = IP_B.octets();
    assert_eq!(
        ip(&frames[0]).options(),
        &[7, 11, 12, b[0], b[1], b[2], b[3], b[0], b[1], b[2], b[3], 0]
    );
    assert_eq!(ip(&frames[0]).payload()[0], 14);
}

#[test]
fn echo_ignore_all_answers_nothing() {
    // icmp_echo with icmp_echo_ignore_all: no reply, and no error counted.
    let mut p = Probed::new();
    p.introduce();
    p.stack()
        .set_sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        .unwrap();
    p.send(echo(MAC_B, IP_B, 7, 1, b"hello?"));
    assert!(icmp_frames(&mut p).is_empty());
    let st = p.stack().stats();
    assert_eq!(
        (st.icmp.in_echos, st.icmp.in_errors, st.icmp.out_msgs),
        (1, 0, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// Protocol unreachable, ICMP input checks.
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_protocol_draws_protocol_unreachable() {
    // ip_protocol_deliver_rcu: no handler → Ip InUnknownProtos++ and ICMP 3/2 quoting the packet.
    let mut p = Probed::new();
    p.introduce();
    let payload = b"experimental protocol 253";
    let f = ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Unknown(253), payload.len()),
        payload,
    );
    p.send(f.clone());
    let frames = icmp_frames(&mut p);
    assert_eq!(frames.len(), 1);
    let msg = icmp(&frames[0]);
    assert_eq!((msg[0], msg[1]), (3, 2));
    assert_eq!(&msg[8..], &f[14..]);
    assert_eq!(ip(&frames[0]).tos(), 0xc0);
    let st = p.stack().stats();
    assert_eq!(st.ip.in_unknown_protos, 1);
    assert_eq!(st.ip.in_delivers, 0);
    assert_eq!(counter(&p.stack().snmp(), "Ip", "InUnknownProtos"), 1);
    // Not to a broadcast destination.
    let f = ip_frame(
        MAC_PROBE,
        MacAddr::BROADCAST,
        &ip_header(IP_PROBE, BROADCAST, IpProtocol::Unknown(253), payload.len()),
        payload,
    );
    p.send(f);
    assert!(icmp_frames(&mut p).is_empty());
    assert_eq!(p.stack().stats().ip.in_unknown_protos, 2);
    // IGMP has a handler in Linux (igmp_rcv): delivered, never "unknown".
    let igmp = [0x11, 0, 0xee, 0xff, 0, 0, 0, 0];
    p.send(ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Igmp, igmp.len()),
        &igmp,
    ));
    assert!(icmp_frames(&mut p).is_empty());
    let st = p.stack().stats();
    assert_eq!((st.ip.in_unknown_protos, st.ip.in_delivers), (2, 1));
}

#[test]
fn bad_icmp_checksum_counts_csum_errors_and_in_errors() {
    // L1.1, icmp_rcv: the checksum is validated first → Icmp InCsumErrors++ and InErrors++; a message
    // shorter than its 8-byte header with a good checksum → InErrors only.
    let mut p = Probed::new();
    p.introduce();
    let mut f = echo(MAC_B, IP_B, 1, 1, b"corrupt");
    let last = f.len() - 1;
    f[last] ^= 0x40;
    p.send(f);
    let mut short = vec![8u8, 0, 0, 0];
    let c = !ones_sum(&short);
    short[2..4].copy_from_slice(&c.to_be_bytes());
    p.send(ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Icmp, 4),
        &short,
    ));
    assert!(icmp_frames(&mut p).is_empty());
    let st = p.stack().stats();
    assert_eq!(
        (st.icmp.in_msgs, st.icmp.in_csum_errors, st.icmp.in_errors),
        (2, 1, 2)
    );
    assert_eq!(st.icmp.in_echos, 0, "not counted by type");
    let snmp = p.stack().snmp();
    assert_eq!(counter(&snmp, "Icmp", "InCsumErrors"), 1);
    assert_eq!(counter(&snmp, "Icmp", "InErrors"), 2);
}

#[test]
fn errors_to_an_unroutable_source_are_not_sent_and_not_counted() {
    // L5.7, __icmp_send: the route to the offender's source is looked up before the per-destination
    // limit (icmpv4_xrlim_allow); when there is none the error is dropped with no counter at all
    // (no OutErrors, no OutRateLimitHost, no token spent). Likewise icmp_reply for echoes.
    let mut p = Probed::new();
    let far = Ipv4Addr::new(192, 0, 2, 1);
    for _ in 0..8 {
        p.net.send_raw(p.probe, udp_from(far, 9, b"closed"));
    }
    p.net.send_raw(p.probe, {
        let m = icmp_message(&udpstack::wire::Icmpv4Repr {
            message: Icmpv4Message::EchoRequest {
                ident: 1,
                seq_no: 1,
            },
            body: b"far",
        });
        ip_frame(
            MAC_PROBE,
            MAC_B,
            &ip_header(far, IP_B, IpProtocol::Icmp, m.len()),
            &m,
        )
    });
    p.settle();
    let st = p.stack().stats();
    assert_eq!(st.udp.no_ports, 8);
    assert_eq!(
        (
            st.icmp.out_msgs,
            st.icmp.out_errors,
            st.icmp.out_rate_limit_host
        ),
        (0, 0, 0)
    );
    assert!(p.take().is_empty());
    // With a route (a gateway), the same source gets its errors, with a full bucket.
    let cfg: Config = config(IP_B, MAC_B).gateway(IP_PROBE);
    let mut p = Probed::with(cfg, 7);
    for _ in 0..8 {
        p.net.send_raw(p.probe, udp_from(far, 9, b"closed"));
    }
    p.settle();
    assert_eq!(ip_only(p.take()).len(), 6);
}
