//! Rule tests of ICMP redirects (L1.1: "type 5 only updates routing"), as Linux's
//! `__ip_do_redirect` follows them: from the gateway in use, about a datagram of one of our
//! sockets, to a usable new gateway whose MAC is known; for `route.gc_timeout`, in one
//! next-hop exception with the learned path MTU.
//!
//! Stack B (10.0.0.2) routes off-link destinations through the probe (10.0.0.9); the probe
//! also plays a second router, G2 (10.0.0.7, its own MAC), by sending frames in its name.

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::wire::icmpv4::Redirect;
use udpstack::wire::{ArpOperation, DstUnreachable, Icmpv4Message, IpProtocol, MacAddr};
use udpstack::{Duration, SocketHandle};
use udpstack_tests::fixture::*;

const FAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FAR2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const G2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
const MAC_G2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x77]);

/// B with the probe as its default gateway, the probe introduced, and a socket on port 4000.
fn routed_with(configure: impl FnOnce(&mut udpstack::config::Config)) -> (Probed, SocketHandle) {
    let mut c = config(IP_B, MAC_B).gateway(IP_PROBE);
    configure(&mut c);
    let mut p = Probed::with(c, 11);
    p.introduce();
    let s = bound(&mut p, 4000);
    (p, s)
}

fn routed() -> (Probed, SocketHandle) {
    routed_with(|_| {})
}

/// Makes B learn G2's MAC (an ARP request from G2 for B: a STALE, valid entry).
fn introduce_g2(p: &mut Probed) {
    p.send(arp_frame(
        ArpOperation::Request,
        MAC_G2,
        MacAddr::BROADCAST,
        G2,
        MacAddr::ZERO,
        IP_B,
    ));
    p.take();
}

/// The Ethernet destination of the datagram `s` sends to `dst`:5000 now.
fn next_hop_mac(p: &mut Probed, s: SocketHandle, dst: Ipv4Addr) -> MacAddr {
    let now = p.now();
    p.stack()
        .send_to(now, s, b"where to?", sa(dst, 5000))
        .unwrap();
    p.settle();
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1, "one datagram");
    eth_dst(&frames[0])
}

/// A datagram B sent from port 4000 to `dst`:5000, as an ICMP message quotes it.
fn quoted(dst: Ipv4Addr) -> Vec<u8> {
    let d = udp_datagram(sa(IP_B, 4000), sa(dst, 5000), b"where to?");
    ip_frame(
        MAC_B,
        MAC_PROBE,
        &ip_header(IP_B, dst, IpProtocol::Udp, d.len()),
        &d,
    )[14..]
        .to_vec()
}

/// A host redirect from `from` naming `gateway` for B's datagram to `dst`.
fn redirect(p: &mut Probed, from: Ipv4Addr, gateway: Ipv4Addr, dst: Ipv4Addr) {
    let message = Icmpv4Message::Redirect {
        reason: Redirect::Host,
        gateway,
    };
    p.send(probe_icmp(from, message, &quoted(dst)));
}

fn applied(p: &mut Probed) -> (u64, u64) {
    let l = &p.stack().stats().link;
    (l.redirects_applied, l.redirects_ignored)
}

#[test]
fn a_redirect_from_the_gateway_moves_its_destination_to_the_new_gateway() {
    // L1.1: the redirect updates the route of the quoted destination, and of nothing else; the
    // socket sees no error.
    let (mut p, s) = routed();
    p.stack().set_recv_error(s, true).unwrap();
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);
    introduce_g2(&mut p);
    redirect(&mut p, IP_PROBE, G2, FAR);
    assert_eq!(applied(&mut p), (1, 0));
    assert_eq!(p.stack().stats().icmp.in_redirects, 1);
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_G2);
    assert_eq!(
        next_hop_mac(&mut p, s, FAR2),
        MAC_PROBE,
        "other destinations"
    );
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
}

#[test]
fn icmp_errors_we_send_follow_the_redirect_too() {
    // L1.1: the exception is part of routing, so an ICMP error to the redirected destination
    // (a port unreachable for its datagram to a closed port) goes to the new gateway.
    let (mut p, _s) = routed();
    introduce_g2(&mut p);
    redirect(&mut p, IP_PROBE, G2, FAR);
    p.send(probe_udp(MAC_B, sa(FAR, 6000), sa(IP_B, 9), b"closed?"));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert_eq!(ip(&frames[0]).protocol(), IpProtocol::Icmp);
    assert_eq!(eth_dst(&frames[0]), MAC_G2);
}

#[test]
fn a_redirect_to_an_unresolved_gateway_starts_arp_and_is_otherwise_ignored() {
    // L1.1 (__ip_do_redirect: neigh_event_send when the new gateway's entry is not valid): an
    // ARP request goes out at once, the route stays; a redirect after the reply takes effect.
    let (mut p, s) = routed();
    redirect(&mut p, IP_PROBE, G2, FAR);
    assert_eq!(applied(&mut p), (0, 1));
    let seen = p.take();
    let requests: Vec<_> = seen
        .iter()
        .filter_map(|f| arp(f))
        .filter(|(_, a)| a.operation == ArpOperation::Request && a.target_ip == G2)
        .collect();
    assert_eq!(requests.len(), 1, "one request for the new gateway");
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);
    p.send(arp_frame(
        ArpOperation::Reply,
        MAC_G2,
        MAC_B,
        G2,
        MAC_B,
        IP_B,
    ));
    redirect(&mut p, IP_PROBE, G2, FAR);
    assert_eq!(applied(&mut p), (1, 1));
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_G2);
}

#[test]
fn only_the_gateway_in_use_can_redirect_and_only_routes_through_a_gateway() {
    // L1.1 (rt_gw4 != old_gw: ignored): a redirect from another router on the link, and one
    // about an on-link destination (which has no gateway to replace), change nothing.
    let (mut p, s) = routed();
    introduce_g2(&mut p);
    redirect(&mut p, Ipv4Addr::new(10, 0, 0, 5), G2, FAR);
    let on_link = Ipv4Addr::new(10, 0, 0, 8);
    redirect(&mut p, IP_PROBE, G2, on_link);
    assert_eq!(applied(&mut p), (0, 2));
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);
    // Once redirected, the new gateway is the one in use: only it may redirect again.
    redirect(&mut p, IP_PROBE, G2, FAR);
    redirect(&mut p, IP_PROBE, IP_PROBE, FAR);
    assert_eq!(applied(&mut p), (1, 3), "the old gateway no longer counts");
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_G2);
}

#[test]
fn a_redirect_must_name_a_usable_gateway() {
    // L1.1: the same gateway, multicast, limited broadcast, 0.0.0.0/8, one of our addresses
    // and the subnet's broadcast address are refused (inet_addr_type must say unicast).
    let (mut p, s) = routed();
    for bad in [
        IP_PROBE,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(0, 1, 2, 3),
        IP_B,
        Ipv4Addr::new(127, 0, 0, 1),
        BROADCAST,
    ] {
        redirect(&mut p, IP_PROBE, bad, FAR);
    }
    assert_eq!(applied(&mut p), (0, 7));
    assert!(p.take().iter().all(|f| !is_arp(f)), "no resolution started");
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);
}

#[test]
fn accept_redirects_off_ignores_them() {
    // L1.1: net.ipv4.conf.all.accept_redirects = 0.
    let (mut p, s) = routed_with(|c| {
        c.set_sysctl("net.ipv4.conf.all.accept_redirects", "0")
            .unwrap()
    });
    introduce_g2(&mut p);
    redirect(&mut p, IP_PROBE, G2, FAR);
    assert_eq!(applied(&mut p), (0, 1));
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);
}

#[test]
fn shared_media_allows_an_off_link_gateway_and_without_it_only_a_default_gateway() {
    // L1.1: with shared_media (the default) any unicast gateway will do, even off-link (RFC
    // 1620; it is resolved on the link all the same). Without it, the new gateway must be
    // on-link and, with secure_redirects, one of the default gateways — which, with one default
    // gateway, refuses every redirect; secure_redirects off accepts an on-link one.
    let off_link = Ipv4Addr::new(192, 168, 5, 5);
    let (mut p, s) = routed();
    redirect(&mut p, IP_PROBE, off_link, FAR);
    p.take();
    p.send(arp_frame(
        ArpOperation::Reply,
        MAC_G2,
        MAC_B,
        off_link,
        MAC_B,
        IP_B,
    ));
    redirect(&mut p, IP_PROBE, off_link, FAR);
    assert_eq!(applied(&mut p), (1, 1));
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_G2);

    let (mut p, s) = routed_with(|c| c.set_sysctl("net.ipv4.conf.all.shared_media", "0").unwrap());
    introduce_g2(&mut p);
    redirect(&mut p, IP_PROBE, off_link, FAR);
    redirect(&mut p, IP_PROBE, G2, FAR);
    assert_eq!(
        applied(&mut p),
        (0, 2),
        "off-link, then not a default gateway"
    );
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);

    let (mut p, s) = routed_with(|c| {
        c.set_sysctl("net.ipv4.conf.all.shared_media", "0").unwrap();
        c.set_sysctl("net.ipv4.conf.all.secure_redirects", "0")
            .unwrap();
    });
    introduce_g2(&mut p);
    redirect(&mut p, IP_PROBE, G2, FAR);
    assert_eq!(applied(&mut p), (1, 0));
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_G2);
}

#[test]
fn a_redirect_lasts_gc_timeout() {
    // L1.1: the exception expires after net.ipv4.route.gc_timeout (300 s).
    let (mut p, s) = routed();
    introduce_g2(&mut p);
    redirect(&mut p, IP_PROBE, G2, FAR);
    p.advance(Duration::from_secs(299));
    introduce_g2(&mut p); // keep G2's entry valid
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_G2);
    p.advance(Duration::from_secs(1));
    assert_eq!(next_hop_mac(&mut p, s, FAR), MAC_PROBE);
}

#[test]
fn a_redirect_and_a_learned_path_mtu_share_one_expiry() {
    // L1.1, L2.1: Linux keeps both in one next-hop exception with one expiry time
    // (update_or_create_fnhe), so a redirect ten seconds after a PMTU was learned cuts the
    // PMTU's life from 600 s to 310 s.
    let (mut p, _) = routed();
    let s = bound(&mut p, 4001);
    let now = p.now();
    p.stack().connect(now, s, sa(FAR, 5000)).unwrap();
    let d = udp_datagram(sa(IP_B, 4001), sa(FAR, 5000), b"big");
    let sent = ip_frame(
        MAC_B,
        MAC_PROBE,
        &ip_header(IP_B, FAR, IpProtocol::Udp, d.len()),
        &d,
    )[14..]
        .to_vec();
    let frag_needed =
        Icmpv4Message::DstUnreachable(DstUnreachable::FragNeeded { next_hop_mtu: 1280 });
    p.send(probe_icmp(IP_PROBE, frag_needed, &sent));
    assert_eq!(p.stack().mtu(s).unwrap(), 1280);
    p.advance(Duration::from_secs(10));
    introduce_g2(&mut p);
    let message = Icmpv4Message::Redirect {
        reason: Redirect::Host,
        gateway: G2,
    };
    p.send(probe_icmp(IP_PROBE, message, &sent));
    assert_eq!(applied(&mut p), (1, 0));
    assert_eq!(p.stack().mtu(s).unwrap(), 1280, "the PMTU is kept");
    p.advance(Duration::from_secs(299));
    assert_eq!(p.stack().mtu(s).unwrap(), 1280);
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.stack().mtu(s).unwrap(),
        1500,
        "gone with the redirect, at 310 s"
    );
}
