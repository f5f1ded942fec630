//! Rule tests of ICMP errors reaching UDP sockets (`icmp_unreach` → `__udp4_lib_err`): which
//! errors are delivered (L1.1), how they become errno values (L1.2), when they are recorded
//! (L1.5), how the pending error is consumed (L1.6), and the error queue (L1.7).

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::stats::DropReason;
use udpstack::udp::ErrorOrigin;
use udpstack::wire::{DstUnreachable, Icmpv4Message, IpProtocol};
use udpstack_tests::fixture::*;

const FAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// An IP packet (no Ethernet header) from `src` to `dst`.
fn packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(src, dst, protocol, payload.len()),
        payload,
    )[14..]
        .to_vec()
}

/// A UDP packet as stack B would have sent it.
fn our_udp(sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let d = udp_datagram(sa(IP_B, sport), sa(dst, dport), payload);
    packet(IP_B, dst, IpProtocol::Udp, &d)
}

fn unreachable(code: DstUnreachable) -> Icmpv4Message {
    Icmpv4Message::DstUnreachable(code)
}

/// A connected socket on 10.0.0.2:4000 whose first datagram the probe refused.
fn refused_connected(recv_err: bool) -> (Probed, udpstack::SocketHandle) {
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_recv_error(s, recv_err).unwrap();
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    p.stack().send(now, s, b"knock").unwrap();
    p.settle();
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    refuse(&mut p, &frames[0]);
    (p, s)
}

#[test]
fn port_unreachable_refuses_a_connected_socket_once() {
    // L1.2 (3 → ECONNREFUSED, fatal), L1.5 (connected, fatal: recorded without IP_RECVERR),
    // L1.6 (returned once by the next recv, which clears it; POLLERR meanwhile).
    let (mut p, s) = refused_connected(false);
    assert!(p.stack().readiness(s).unwrap().error);
    let e = p.stack().recv_from(s, &mut [0; 8]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(111));
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), EAGAIN);
    assert!(!p.stack().readiness(s).unwrap().error);
    // Without IP_RECVERR nothing was queued.
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
    assert_eq!(p.stack().stats().icmp.in_dest_unreachs, 1);
    assert_eq!(p.stack().stats().icmp.in_errors, 0);
}

#[test]
fn port_unreachable_fails_the_next_send_once() {
    // L1.6 (obs): the next send fails with the error, sends nothing, and clears it.
    let (mut p, s) = refused_connected(false);
    let now = p.now();
    assert_eq!(errno(p.stack().send(now, s, b"again")), ECONNREFUSED);
    p.settle();
    assert!(ip_only(p.take()).is_empty());
    p.stack().send(now, s, b"again").unwrap();
    p.settle();
    assert_eq!(ip_only(p.take()).len(), 1);
    // SO_ERROR clears it too.
    let frames = {
        p.stack().send(now, s, b"x").unwrap();
        p.settle();
        ip_only(p.take())
    };
    refuse(&mut p, &frames[0]);
    let e = p.stack().take_error(s).unwrap().expect("pending");
    assert_eq!(e.raw_os_error(), Some(ECONNREFUSED.0));
    assert!(p.stack().take_error(s).unwrap().is_none());
    p.stack().send(now, s, b"y").unwrap();
}

#[test]
fn soft_errors_do_not_reach_a_connected_socket_without_recverr() {
    // L1.5: host unreachable (code 1) is soft: without IP_RECVERR it is dropped even for a
    // connected socket.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    let quote = our_udp(4000, IP_PROBE, 5000, b"knock");
    p.send(probe_icmp(
        IP_PROBE,
        unreachable(DstUnreachable::HostUnreachable),
        &quote,
    ));
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), EAGAIN);
    assert_eq!(p.stack().stats().icmp.in_errors, 0, "matched a socket");
}

#[test]
fn an_unconnected_socket_without_recverr_sees_nothing() {
    // L1.5 (obs, and L9: udp(7) is wrong here): without IP_RECVERR an unconnected socket hears
    // of no ICMP error, fatal or not.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    send_to(&mut p, s, b"knock", sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    refuse(&mut p, &frames[0]);
    assert!(!p.stack().readiness(s).unwrap().error);
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), EAGAIN);
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
    send_to(&mut p, s, b"still fine", sa(IP_PROBE, 5000));
    assert_eq!(ip_only(p.take()).len(), 1);
}

#[test]
fn with_recverr_the_error_queue_holds_the_icmp_details() {
    // L1.5 (with IP_RECVERR every error is queued and pending, connected or not) and L1.7:
    // origin ICMP, type 3, code 3, offender = the ICMP's source, msg_name = the quoted
    // destination, payload = the quoted bytes after the UDP header; the empty queue → EAGAIN.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_recv_error(s, true).unwrap();
    send_to(&mut p, s, b"query data", sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    refuse(&mut p, &frames[0]);
    assert!(p.stack().readiness(s).unwrap().error);
    // The pending error fails the next recv first (L1.6) ...
    assert_eq!(errno(p.stack().recv_from(s, &mut [0; 8])), ECONNREFUSED);
    // ... and the queue still holds the entry.
    let mut buf = [0u8; 64];
    let m = p.stack().recv_error(s, &mut buf).unwrap();
    assert_eq!(m.error.errno, ECONNREFUSED);
    assert_eq!(m.error.origin, ErrorOrigin::Icmp);
    assert_eq!((m.error.icmp_type, m.error.icmp_code), (3, 3));
    assert_eq!((m.error.info, m.error.data), (0, 0));
    assert_eq!(m.error.offender, IP_PROBE);
    assert_eq!(m.addr, sa(IP_PROBE, 5000));
    assert_eq!((&buf[..m.len], m.truncated), (&b"query data"[..], false));
    assert_eq!(errno(p.stack().recv_error(s, &mut buf)), EAGAIN);
    assert!(!p.stack().readiness(s).unwrap().error);
}

#[test]
fn the_offender_is_the_router_and_the_address_is_the_quoted_destination() {
    // L1.7: a router (10.0.0.9, the gateway) reports host unreachable (code 1 → EHOSTUNREACH,
    // soft) for a datagram to 192.0.2.1:53; with IP_RECVERR it is queued (and pending) even
    // though soft and unconnected. A short buffer truncates the payload.
    let mut p = Probed::with(config(IP_B, MAC_B).gateway(IP_PROBE), 7);
    let s = bound(&mut p, 4000);
    p.stack().set_recv_error(s, true).unwrap();
    send_to(&mut p, s, b"which way?", sa(FAR, 53));
    let frames = ip_only(p.take());
    assert_eq!(ip(&frames[0]).dst(), FAR);
    p.send(probe_icmp(
        IP_PROBE,
        unreachable(DstUnreachable::HostUnreachable),
        ip_bytes(&frames[0]),
    ));
    let e = p.stack().take_error(s).unwrap().expect("pending");
    assert_eq!(e.raw_os_error(), Some(EHOSTUNREACH.0));
    let mut buf = [0u8; 5];
    let m = p.stack().recv_error(s, &mut buf).unwrap();
    assert_eq!(m.error.errno, EHOSTUNREACH);
    assert_eq!((m.error.icmp_type, m.error.icmp_code), (3, 1));
    assert_eq!(m.error.offender, IP_PROBE);
    assert_eq!(m.addr, sa(FAR, 53));
    assert_eq!((&buf[..m.len], m.truncated), (&b"which"[..], true));
}

#[test]
fn an_error_quoting_no_socket_counts_icmp_in_errors() {
    // L1.4: the quote matches no socket → Icmp InErrors++ and nothing else.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let quote = our_udp(4444, IP_PROBE, 5000, b"not ours");
    p.send(probe_icmp(
        IP_PROBE,
        unreachable(DstUnreachable::PortUnreachable),
        &quote,
    ));
    let st = p.stack().stats();
    assert_eq!(
        (st.icmp.in_msgs, st.icmp.in_dest_unreachs, st.icmp.in_errors),
        (1, 1, 1)
    );
    assert_eq!(st.drops(DropReason::IcmpNoSocket), 1);
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert!(ip_only(p.take()).is_empty(), "no error about an error");
}

#[test]
fn a_connected_socket_matches_only_errors_about_its_peer() {
    // L1.4: a connected socket matches only a quote whose destination is its peer.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    let quote = our_udp(4000, IP_PROBE, 6000, b"elsewhere");
    p.send(probe_icmp(
        IP_PROBE,
        unreachable(DstUnreachable::PortUnreachable),
        &quote,
    ));
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(p.stack().stats().icmp.in_errors, 1);
}

#[test]
fn errors_quoting_other_protocols_count_like_linux_handlers() {
    // L1.1: icmp_socket_deliver hands the error to the quoted protocol's err_handler. TCP's
    // (tcp_v4_err) finds no socket here and counts Icmp InErrors; ICMP's (icmp_err → ping_err)
    // drops it without a counter; a protocol without a handler gets nothing at all.
    let mut p = Probed::new();
    p.introduce();
    let tcp = packet(
        IP_B,
        IP_PROBE,
        IpProtocol::Tcp,
        &[0x9c, 0x40, 0, 80, 0, 0, 0, 1],
    );
    let echo = packet(IP_B, IP_PROBE, IpProtocol::Icmp, &[8, 0, 0, 0, 0, 1, 0, 1]);
    let other = packet(IP_B, IP_PROBE, IpProtocol::Unknown(253), &[0; 8]);
    for quote in [&tcp, &echo, &other] {
        p.send(probe_icmp(
            IP_PROBE,
            unreachable(DstUnreachable::HostUnreachable),
            quote,
        ));
    }
    let st = p.stack().stats();
    assert_eq!((st.icmp.in_dest_unreachs, st.icmp.in_errors), (3, 1));
}

#[test]
fn errors_about_datagrams_to_a_broadcast_address_reach_the_socket_by_default() {
    // L1.4, L1.5, icmp_unreach: an error quoting a datagram to one of our broadcast addresses
    // is dropped only when icmp_ignore_bogus_error_responses is 0 (Linux's check is inverted);
    // with the default 1 it reaches the sender like any other (checked against the kernel in
    // kernel_differential.rs::icmp_quoting_a_broadcast).
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_broadcast(s, true).unwrap();
    p.stack().set_recv_error(s, true).unwrap();
    for dst in [BROADCAST, Ipv4Addr::BROADCAST] {
        send_to(&mut p, s, b"hello all", sa(dst, 9));
        let frames = ip_only(p.take());
        assert_eq!(frames.len(), 1);
        refuse(&mut p, &frames[0]);
        assert_eq!(
            p.stack().take_error(s).unwrap().unwrap().raw_os_error(),
            Some(ECONNREFUSED.0)
        );
        let mut buf = [0u8; 16];
        let m = p.stack().recv_error(s, &mut buf).unwrap();
        assert_eq!(m.addr, sa(dst, 9));
    }
    // Turned off, they are dropped before any socket sees them, with no counter.
    p.stack()
        .set_sysctl("net.ipv4.icmp_ignore_bogus_error_responses", "0")
        .unwrap();
    for dst in [BROADCAST, Ipv4Addr::BROADCAST] {
        send_to(&mut p, s, b"hello all", sa(dst, 9));
        let frames = ip_only(p.take());
        assert_eq!(frames.len(), 1);
        refuse(&mut p, &frames[0]);
    }
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
    let st = p.stack().stats();
    assert_eq!((st.icmp.in_dest_unreachs, st.icmp.in_errors), (4, 0));
}

#[test]
fn malformed_quotes_count_icmp_in_errors() {
    // L1.1: the quoted IP header must be there with IHL ≥ 5, followed by 8 bytes, else
    // Icmp InErrors++.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_recv_error(s, true).unwrap();
    let quote = our_udp(4000, IP_PROBE, 5000, b"knock");
    let mut ihl4 = quote.clone();
    ihl4[0] = 0x44;
    for body in [&quote[..12], &quote[..24], &ihl4[..]] {
        p.send(probe_icmp(
            IP_PROBE,
            unreachable(DstUnreachable::PortUnreachable),
            body,
        ));
    }
    assert_eq!(p.stack().stats().icmp.in_errors, 3);
    assert!(p.stack().take_error(s).unwrap().is_none());
    // The whole header plus exactly 8 bytes is enough.
    p.send(probe_icmp(
        IP_PROBE,
        unreachable(DstUnreachable::PortUnreachable),
        &quote[..28],
    ));
    let m = p.stack().recv_error(s, &mut [0; 8]).unwrap();
    assert_eq!((m.len, m.addr), (0, sa(IP_PROBE, 5000)));
}

#[test]
fn redirects_and_source_quenches_reach_the_lookup_but_set_no_error() {
    // L1.3: a redirect only updates routing and a source quench is ignored, but both are handed
    // to __udp4_lib_err, whose lookup counts Icmp InErrors when no socket sent the quoted
    // datagram; for a socket that did, nothing is recorded, even with IP_RECVERR.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_recv_error(s, true).unwrap();
    let ours = our_udp(4000, IP_PROBE, 5000, b"mine");
    let stray = our_udp(4444, IP_PROBE, 5000, b"nobody");
    let redirect = Icmpv4Message::Redirect {
        reason: udpstack::wire::icmpv4::Redirect::Host,
        gateway: Ipv4Addr::new(10, 0, 0, 1),
    };
    for quote in [&ours, &stray] {
        p.send(probe_icmp(IP_PROBE, redirect, quote));
        p.send(probe_icmp(IP_PROBE, Icmpv4Message::SourceQuench, quote));
    }
    let st = p.stack().stats();
    assert_eq!((st.icmp.in_redirects, st.icmp.in_src_quenchs), (2, 2));
    assert_eq!(st.icmp.in_errors, 2, "the two quoting no socket");
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
}
