//! Rule tests of the send side: the checks of `udp_sendmsg` and their order (L3.1), the size
//! limit and local errors (L3.3, L1.9), the fields of outgoing datagrams (L3.6), DF in WANT mode
//! (L2.3), and the IP identification (L3.5). Fragment layout (L3.4) is in `engine_fragment.rs`.

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::udp::{ErrorOrigin, PmtuMode};
use udpstack::wire::{golden, MacAddr};
use udpstack::{Duration, SendFlags};
use udpstack_tests::fixture::*;

const OFF_LINK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LIMITED: Ipv4Addr = Ipv4Addr::BROADCAST;

/// A probed stack whose default gateway is the probe (10.0.0.9).
fn with_gateway() -> Probed {
    Probed::with(config(IP_B, MAC_B).gateway(IP_PROBE), 7)
}

/// Nothing but ARP left the stack.
fn nothing_sent(p: &mut Probed) {
    let frames = ip_only(p.take());
    assert!(frames.is_empty(), "unexpected frames: {frames:02x?}");
}

// ---------------------------------------------------------------------------------------------
// L3.1: the send checks, one by one and in order.
// ---------------------------------------------------------------------------------------------

#[test]
fn payload_over_65535_is_emsgsize_before_every_other_check() {
    // L3.1: len > 65535 → EMSGSIZE is the first check of udp_sendmsg.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    let big = vec![0u8; 65536];
    let st = p.stack();
    assert_eq!(
        errno(st.send_to(now, s, &big, sa(IP_PROBE, 5000))),
        EMSGSIZE
    );
    // It wins over MSG_OOB, port 0, a missing address and a missing route.
    let oob = SendFlags::OOB;
    assert_eq!(
        errno(st.send_with(now, s, &big, Some(sa(IP_PROBE, 0)), oob)),
        EMSGSIZE
    );
    assert_eq!(errno(st.send_with(now, s, &big, None, oob)), EMSGSIZE);
    assert_eq!(errno(st.send_to(now, s, &big, sa(OFF_LINK, 53))), EMSGSIZE);
    assert_eq!(st.stats().ip.out_no_routes, 0, "no route lookup happened");
    p.settle();
    nothing_sent(&mut p);
}

#[test]
fn oob_is_eopnotsupp_before_address_checks() {
    // L3.1: MSG_OOB → EOPNOTSUPP, checked right after the length.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    let st = p.stack();
    let oob = SendFlags::OOB;
    assert_eq!(
        errno(st.send_with(now, s, b"x", Some(sa(IP_PROBE, 5000)), oob)),
        EOPNOTSUPP
    );
    // Before port 0, EDESTADDRREQ, no route and broadcast.
    for dst in [
        Some(sa(IP_PROBE, 0)),
        None,
        Some(sa(OFF_LINK, 53)),
        Some(sa(BROADCAST, 9)),
    ] {
        assert_eq!(
            errno(st.send_with(now, s, b"x", dst, oob)),
            EOPNOTSUPP,
            "{dst:?}"
        );
    }
    // A 65535-byte payload passes the first check, so MSG_OOB decides.
    let max = vec![0u8; 65535];
    assert_eq!(
        errno(st.send_with(now, s, &max, Some(sa(IP_PROBE, 5000)), oob)),
        EOPNOTSUPP
    );
    p.settle();
    nothing_sent(&mut p);
}

#[test]
fn port_zero_is_einval_before_route_and_broadcast() {
    // L3.1 (obs): destination port 0 → EINVAL, before the route lookup and the broadcast check.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    let st = p.stack();
    assert_eq!(errno(st.send_to(now, s, b"x", sa(IP_PROBE, 0))), EINVAL);
    assert_eq!(errno(st.send_to(now, s, b"x", sa(OFF_LINK, 0))), EINVAL);
    assert_eq!(errno(st.send_to(now, s, b"x", sa(BROADCAST, 0))), EINVAL);
    assert_eq!(st.stats().ip.out_no_routes, 0);
    // Port 0 beats the size limit of L3.3 too.
    let big = vec![0u8; 65508];
    assert_eq!(errno(st.send_to(now, s, &big, sa(IP_PROBE, 0))), EINVAL);
    p.settle();
    nothing_sent(&mut p);
}

#[test]
fn unconnected_send_without_address_is_edestaddrreq() {
    // L3.1 (obs): no address on an unconnected socket → EDESTADDRREQ.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    assert_eq!(errno(p.stack().send(now, s, b"x")), EDESTADDRREQ);
    // Before the size limit of L3.3.
    assert_eq!(
        errno(p.stack().send(now, s, &vec![0u8; 65508])),
        EDESTADDRREQ
    );
    p.settle();
    nothing_sent(&mut p);
}

#[test]
fn sendto_with_address_on_connected_socket_goes_to_that_address() {
    // L3.1: sendto with an address on a connected socket is allowed and uses the address.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    send_to(&mut p, s, b"elsewhere", sa(IP_PROBE, 6000));
    p.stack().send(now, s, b"peer").unwrap();
    p.settle();
    let seen = non_arp(&p.take());
    let ports: Vec<(u16, Vec<u8>)> = seen
        .iter()
        .map(|x| match x {
            Seen::Udp(_, _, u, d) => (u.dst_port, d.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ports,
        [(6000, b"elsewhere".to_vec()), (5000, b"peer".to_vec())]
    );
}

#[test]
fn no_route_is_enetunreach_and_counts_out_no_routes() {
    // L3.1 (obs): off-subnet without a gateway → ENETUNREACH, Ip OutNoRoutes++.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    assert_eq!(
        errno(p.stack().send_to(now, s, b"x", sa(OFF_LINK, 53))),
        ENETUNREACH
    );
    assert_eq!(p.stack().stats().ip.out_no_routes, 1);
    // The route is looked up before the size limit of L3.3.
    let big = vec![0u8; 65508];
    assert_eq!(
        errno(p.stack().send_to(now, s, &big, sa(OFF_LINK, 53))),
        ENETUNREACH
    );
    assert_eq!(p.stack().stats().ip.out_no_routes, 2);
    assert!(p.stack().snmp().contains("Ip: 2 64 0 0 0 0 0 0 0 0 0 2 "));
    assert_eq!(p.stack().stats().udp.out_datagrams, 0);
    p.settle();
    nothing_sent(&mut p);
}

#[test]
fn with_a_gateway_off_link_goes_to_the_gateway_mac() {
    // L3.1: with a default route, an off-link destination is reachable via the gateway.
    let mut p = with_gateway();
    let s = p.stack().udp_socket();
    send_to(&mut p, s, b"via gw", sa(OFF_LINK, 53));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert_eq!(eth_dst(&frames[0]), MAC_PROBE);
    assert_eq!(ip(&frames[0]).dst(), OFF_LINK);
}

#[test]
fn directed_broadcast_needs_so_broadcast() {
    // L3.1 (obs): broadcast without SO_BROADCAST → EACCES; with it the frame goes to
    // ff:ff:ff:ff:ff:ff.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    let now = p.now();
    assert_eq!(
        errno(p.stack().send_to(now, s, b"all", sa(BROADCAST, 9))),
        EACCES
    );
    // EACCES comes before the size limit (L3.3).
    let big = vec![0u8; 65508];
    assert_eq!(
        errno(p.stack().send_to(now, s, &big, sa(BROADCAST, 9))),
        EACCES
    );
    p.settle();
    nothing_sent(&mut p);
    p.stack().set_broadcast(s, true).unwrap();
    send_to(&mut p, s, b"all", sa(BROADCAST, 9));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert_eq!(eth_dst(&frames[0]), MacAddr::BROADCAST);
    let h = ip(&frames[0]);
    assert_eq!((h.src(), h.dst()), (IP_B, BROADCAST));
    assert_eq!(p.stack().stats().ip_ext.out_bcast_pkts, 1);
    assert_eq!(p.stack().stats().udp.out_datagrams, 1);
}

#[test]
fn limited_broadcast_needs_so_broadcast() {
    // L3.1 (obs): 255.255.255.255 behaves like the subnet broadcast once it has a route (here
    // the default route; see the next test for a stack without one).
    let mut p = with_gateway();
    let s = p.stack().udp_socket();
    let now = p.now();
    assert_eq!(
        errno(p.stack().send_to(now, s, b"all", sa(LIMITED, 9))),
        EACCES
    );
    p.settle();
    nothing_sent(&mut p);
    p.stack().set_broadcast(s, true).unwrap();
    send_to(&mut p, s, b"all", sa(LIMITED, 9));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert_eq!(eth_dst(&frames[0]), MacAddr::BROADCAST);
    let h = ip(&frames[0]);
    assert_eq!((h.src(), h.dst()), (IP_B, LIMITED));
}

#[test]
fn limited_broadcast_without_a_default_route_needs_a_bound_source() {
    // L3.1: Linux routes 255.255.255.255 through the FIB like any destination
    // (ip_route_output_key_hash_rcu): with no default route and no source address the lookup
    // fails with ENETUNREACH (OutNoRoutes++) before SO_BROADCAST is looked at. A socket bound to
    // a local address takes the "special hack" path (the device of that address) and sends.
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    p.stack().set_broadcast(s, true).unwrap();
    let now = p.now();
    assert_eq!(
        errno(p.stack().send_to(now, s, b"all", sa(LIMITED, 9))),
        ENETUNREACH
    );
    assert_eq!(p.stack().stats().ip.out_no_routes, 1);
    let t = bound(&mut p, 4000);
    p.stack().set_broadcast(t, true).unwrap();
    send_to(&mut p, t, b"all", sa(LIMITED, 9));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert_eq!(eth_dst(&frames[0]), MacAddr::BROADCAST);
    assert_eq!(ip(&frames[0]).src(), IP_B);
    // Bound but without SO_BROADCAST: the route exists, so EACCES.
    let u = bound(&mut p, 4001);
    assert_eq!(
        errno(p.stack().send_to(now, u, b"all", sa(LIMITED, 9))),
        EACCES
    );
}

#[test]
fn dontroute_refuses_off_link_destinations() {
    // L3.1: MSG_DONTROUTE (RT_SCOPE_LINK) → the destination must be on-link, else
    // ENETUNREACH, even with a gateway configured; on-link destinations work.
    let mut p = with_gateway();
    let s = p.stack().udp_socket();
    let now = p.now();
    let dr = SendFlags::DONTROUTE;
    assert_eq!(
        errno(
            p.stack()
                .send_with(now, s, b"x", Some(sa(OFF_LINK, 53)), dr)
        ),
        ENETUNREACH
    );
    assert_eq!(p.stack().stats().ip.out_no_routes, 1);
    p.settle();
    nothing_sent(&mut p);
    p.stack()
        .send_with(now, s, b"on-link", Some(sa(IP_PROBE, 53)), dr)
        .unwrap();
    p.settle();
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert_eq!(ip(&frames[0]).dst(), IP_PROBE);
}

#[test]
fn pending_error_is_returned_only_after_the_send_checks() {
    // L3.1 then L1.6: the pending error is consumed by the send, but only once the send got
    // past the address, route, broadcast and size checks; those fail first and leave it pending.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    p.stack().send(now, s, b"knock").unwrap();
    p.settle();
    let frames = ip_only(p.take());
    refuse(&mut p, &frames[0]);
    let now = p.now();
    let st = p.stack();
    assert_eq!(errno(st.send_to(now, s, b"x", sa(IP_PROBE, 0))), EINVAL);
    assert_eq!(
        errno(st.send_to(now, s, b"x", sa(OFF_LINK, 9))),
        ENETUNREACH
    );
    assert_eq!(errno(st.send_to(now, s, b"x", sa(BROADCAST, 9))), EACCES);
    assert_eq!(errno(st.send(now, s, &vec![0u8; 65508])), EMSGSIZE);
    // Now a send that passes every check gets the error, without sending.
    assert_eq!(errno(st.send(now, s, b"x")), ECONNREFUSED);
    assert_eq!(st.stats().udp.out_datagrams, 1);
    p.settle();
    nothing_sent(&mut p);
    // Consumed: the next send goes out.
    let now = p.now();
    p.stack().send(now, s, b"again").unwrap();
    p.settle();
    assert_eq!(ip_only(p.take()).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// L3.3 and L1.9: the size limit and local errors.
// ---------------------------------------------------------------------------------------------

#[test]
fn largest_payload_is_65507() {
    // L3.3 (obs): EMSGSIZE when payload + 8 > 65535 - 20: 65507 passes, 65508 fails.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let now = p.now();
    assert_eq!(
        errno(
            p.stack()
                .send_to(now, s, &vec![0u8; 65508], sa(IP_PROBE, 5000))
        ),
        EMSGSIZE
    );
    // Without IP_RECVERR nothing is queued and nothing pends.
    assert!(p.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
    p.settle();
    nothing_sent(&mut p);
    let n = send_to(&mut p, s, &vec![7u8; 65507], sa(IP_PROBE, 5000));
    assert_eq!(n, 65507);
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 45, "65515 bytes in 1480-byte fragments");
    let last = ip(frames.last().unwrap());
    assert_eq!(
        usize::from(last.frag_offset()) + last.payload().len(),
        65515
    );
}

#[test]
fn want_mode_oversize_queues_a_local_error_with_the_path_mtu() {
    // L3.3 + L1.9: the 65535 limit of WANT mode is enforced by __ip_append_data, whose
    // ip_local_error reports the MTU in force (1500), not the limit.
    let mut p = Probed::new();
    let s = bound(&mut p, 4000);
    p.stack().set_recv_error(s, true).unwrap();
    let now = p.now();
    assert_eq!(
        errno(
            p.stack()
                .send_to(now, s, &vec![0u8; 65508], sa(IP_PROBE, 5000))
        ),
        EMSGSIZE
    );
    let e = p.stack().recv_error(s, &mut [0; 8]).unwrap();
    assert_eq!(e.error.errno, EMSGSIZE);
    assert_eq!(e.error.origin, ErrorOrigin::Local);
    assert_eq!(e.error.info, 1500);
    assert_eq!(e.addr, sa(IP_PROBE, 0));
    // The > 65535 check of udp_sendmsg queues nothing.
    assert_eq!(
        errno(
            p.stack()
                .send_to(now, s, &vec![0u8; 65536], sa(IP_PROBE, 5000))
        ),
        EMSGSIZE
    );
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
}

#[test]
fn pmtudisc_do_limits_payload_to_mtu_minus_28() {
    // L3.3 (obs) with L2.3: in DO mode the limit is the MTU in force: 1472 at MTU 1500.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_mtu_discover(s, PmtuMode::Do).unwrap();
    let now = p.now();
    assert_eq!(
        errno(p.stack().send_to(now, s, &[0u8; 1473], sa(IP_PROBE, 5000))),
        EMSGSIZE
    );
    // L1.9: without IP_RECVERR the error is only returned.
    assert_eq!(errno(p.stack().recv_error(s, &mut [0; 8])), EAGAIN);
    p.settle();
    nothing_sent(&mut p);
    send_to(&mut p, s, &[0u8; 1472], sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    let h = ip(&frames[0]);
    assert_eq!(h.total_len(), 1500);
    assert!(h.dont_frag() && !h.more_frags());
}

#[test]
fn pmtudisc_do_at_a_smaller_mtu() {
    // L3.3: the limit follows the device MTU (no PMTU learned): 1000 - 28 = 972.
    let mut p = Probed::with(config(IP_B, MAC_B).mtu(1000), 7);
    let s = bound(&mut p, 4000);
    p.stack().set_mtu_discover(s, PmtuMode::Do).unwrap();
    p.stack().set_recv_error(s, true).unwrap();
    let now = p.now();
    assert_eq!(
        errno(p.stack().send_to(now, s, &[0u8; 973], sa(IP_PROBE, 5000))),
        EMSGSIZE
    );
    assert_eq!(p.stack().recv_error(s, &mut []).unwrap().error.info, 1000);
    assert_eq!(
        p.stack()
            .send_to(now, s, &[0u8; 972], sa(IP_PROBE, 5000))
            .unwrap(),
        972
    );
}

#[test]
fn local_emsgsize_with_recverr_is_queued_but_not_pending() {
    // L1.9 (obs): with IP_RECVERR the local EMSGSIZE is queued: origin LOCAL, type and code 0,
    // ee_info = MTU, msg_name = (destination, peer port or 0), no payload, no offender; it
    // never sets the pending error.
    let mut p = Probed::new();
    let s = bound(&mut p, 4000);
    let st = p.stack();
    st.set_mtu_discover(s, PmtuMode::Do).unwrap();
    st.set_recv_error(s, true).unwrap();
    let now = p.now();
    let st = p.stack();
    assert_eq!(
        errno(st.send_to(now, s, &[0u8; 2000], sa(IP_PROBE, 5000))),
        EMSGSIZE
    );
    assert!(st.take_error(s).unwrap().is_none(), "no pending error");
    assert!(
        st.readiness(s).unwrap().error,
        "POLLERR: the error queue is not empty"
    );
    // A recv does not report it either: nothing pending, nothing queued.
    assert_eq!(errno(st.recv_from(s, &mut [0; 8])), EAGAIN);
    let mut buf = [0u8; 64];
    let e = st.recv_error(s, &mut buf).unwrap();
    assert_eq!(e.error.errno, EMSGSIZE);
    assert_eq!(e.error.origin, ErrorOrigin::Local);
    assert_eq!((e.error.icmp_type, e.error.icmp_code), (0, 0));
    assert_eq!(e.error.info, 1500);
    assert_eq!(e.error.data, 0);
    assert_eq!(e.error.offender, Ipv4Addr::UNSPECIFIED);
    assert_eq!(e.addr, sa(IP_PROBE, 0), "unconnected: port 0");
    assert_eq!((e.len, e.truncated), (0, false));
    assert_eq!(errno(st.recv_error(s, &mut buf)), EAGAIN);
    assert!(!st.readiness(s).unwrap().error);

    // Connected: msg_name carries the peer's port (inet_dport), even for a sendto elsewhere.
    st.connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    assert_eq!(errno(st.send(now, s, &[0u8; 2000])), EMSGSIZE);
    assert_eq!(
        errno(st.send_to(now, s, &[0u8; 2000], sa(IP_PROBE, 6000))),
        EMSGSIZE
    );
    assert_eq!(st.recv_error(s, &mut buf).unwrap().addr, sa(IP_PROBE, 5000));
    assert_eq!(st.recv_error(s, &mut buf).unwrap().addr, sa(IP_PROBE, 5000));
    assert!(st.take_error(s).unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// L3.6 and L2.3: the fields of outgoing datagrams.
// ---------------------------------------------------------------------------------------------

#[test]
fn ttl_is_64_by_default_and_ip_ttl_changes_it() {
    // L3.6: TTL 64 (ip_default_ttl); IP_TTL overrides it per socket.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    assert_eq!(p.stack().ttl(s).unwrap(), 64);
    send_to(&mut p, s, b"a", sa(IP_PROBE, 5000));
    p.stack().set_ttl(s, 7).unwrap();
    send_to(&mut p, s, b"b", sa(IP_PROBE, 5000));
    let ttls: Vec<u8> = ip_only(p.take()).iter().map(|f| ip(f).ttl()).collect();
    assert_eq!(ttls, [64, 7]);
    assert_eq!(errno(p.stack().set_ttl(s, 0)), EINVAL);
}

#[test]
fn ip_default_ttl_sets_the_ttl_of_sockets_without_ip_ttl_at_send_time() {
    // L3.6, RFC 1122 3.2.1.7: the default TTL is configurable; like ip_select_ttl, a socket
    // without IP_TTL reads net.ipv4.ip_default_ttl when it sends (and getsockopt shows it),
    // while one with IP_TTL keeps its own.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let own = bound(&mut p, 4001);
    p.stack().set_ttl(own, 7).unwrap();
    p.stack()
        .set_sysctl("net.ipv4.ip_default_ttl", "33")
        .unwrap();
    assert_eq!(p.stack().ttl(s).unwrap(), 33);
    send_to(&mut p, s, b"a", sa(IP_PROBE, 5000));
    send_to(&mut p, own, b"b", sa(IP_PROBE, 5000));
    let ttls: Vec<u8> = ip_only(p.take()).iter().map(|f| ip(f).ttl()).collect();
    assert_eq!(ttls, [33, 7]);
}

#[test]
fn a_computed_zero_udp_checksum_is_sent_as_ffff() {
    // L3.6: the checksum is always computed; a computed 0 is sent as 0xFFFF (RFC 768).
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    // Choose two payload bytes that make the one's-complement sum 0xFFFF, so that the
    // complement, the checksum, is 0.
    let header = [0x0f, 0xa0, 0x13, 0x88, 0, 10, 0, 0]; // 4000 -> 5000, length 10
    let s0 = ones_add(pseudo_sum(IP_B, IP_PROBE, 10), ones_sum(&header));
    let payload = (!s0).to_be_bytes();
    send_to(&mut p, s, &payload, sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    let udp = ip(&frames[0]).payload().to_vec();
    assert_eq!(&udp[..6], &header[..6]);
    assert_eq!(&udp[6..8], &[0xff, 0xff]);
    assert!(udp_checksum_ok(IP_B, IP_PROBE, &udp));
    // An ordinary payload carries its computed checksum.
    send_to(&mut p, s, b"ordinary", sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    let udp = ip(&frames[0]).payload().to_vec();
    assert_ne!(&udp[6..8], &[0, 0]);
    assert!(udp_checksum_ok(IP_B, IP_PROBE, &udp));
}

#[test]
fn out_datagrams_counts_each_datagram_once() {
    // L3.6 / L5.5: OutDatagrams++ per datagram handed to the device, fragmented or not; failed
    // sends are not counted.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    send_to(&mut p, s, b"one", sa(IP_PROBE, 5000));
    send_to(&mut p, s, &[0u8; 4000], sa(IP_PROBE, 5000));
    let now = p.now();
    let _ = p.stack().send_to(now, s, b"x", sa(IP_PROBE, 0));
    assert_eq!(p.stack().stats().udp.out_datagrams, 2);
    assert!(p.stack().snmp().contains("\nUdp: 0 0 0 2 0 0 0 0 0\n"));
    assert_eq!(ip_only(p.take()).len(), 1 + 3);
}

#[test]
fn want_mode_sets_df_only_on_datagrams_that_fit() {
    // L2.3 (WANT, the default): DF iff the datagram fits the MTU; a larger one is fragmented and
    // no fragment carries DF (L3.4).
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    assert_eq!(p.stack().mtu_discover(s).unwrap(), PmtuMode::Want);
    send_to(&mut p, s, &[1u8; 1472], sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 1);
    assert!(ip(&frames[0]).dont_frag());
    assert_ne!(
        ip(&frames[0]).ident(),
        0,
        "DF but fragmentable: hashed ID, not 0"
    );
    send_to(&mut p, s, &[1u8; 1473], sa(IP_PROBE, 5000));
    let frames = ip_only(p.take());
    assert_eq!(frames.len(), 2);
    for f in &frames {
        assert!(!ip(f).dont_frag());
    }
    assert!(ip(&frames[0]).more_frags() && !ip(&frames[1]).more_frags());
    // DONT never sets DF.
    p.stack().set_mtu_discover(s, PmtuMode::Dont).unwrap();
    send_to(&mut p, s, b"small", sa(IP_PROBE, 5000));
    assert!(!ip(&ip_only(p.take())[0]).dont_frag());
}

// ---------------------------------------------------------------------------------------------
// L3.5: the IP identification.
// ---------------------------------------------------------------------------------------------

fn ids(frames: &[Vec<u8>]) -> Vec<u16> {
    frames.iter().map(|f| ip(f).ident()).collect()
}

#[test]
fn connected_socket_numbers_its_datagrams_from_a_random_start() {
    // L3.5: a connected socket uses its own counter, random at connect, +1 per datagram
    // (also for a sendto elsewhere, since inet_daddr is set), whatever other sockets send.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let t = bound(&mut p, 4001);
    let now = p.now();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    p.stack().connect(now, t, sa(IP_PROBE, 5001)).unwrap();
    for (h, data) in [(s, "s1"), (t, "t1"), (s, "s2"), (t, "t2"), (s, "s3")] {
        p.stack().send(now, h, data.as_bytes()).unwrap();
    }
    p.stack()
        .send_to(now, s, b"s4", sa(IP_PROBE, 6000))
        .unwrap();
    p.settle();
    let got = ids(&ip_only(p.take()));
    let (a, b) = (got[0], got[1]);
    assert_eq!(
        got,
        [
            a,
            b,
            a.wrapping_add(1),
            b.wrapping_add(1),
            a.wrapping_add(2),
            a.wrapping_add(3)
        ]
    );
    assert_ne!(a, b, "each connect draws its own start");
    // Time does not perturb a socket's counter.
    p.advance(Duration::from_secs(5));
    let now = p.now();
    p.stack().send(now, s, b"s5").unwrap();
    p.settle();
    assert_eq!(ids(&ip_only(p.take())), [a.wrapping_add(4)]);
    // A new connect draws a new start.
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    p.stack().send(now, s, b"s6").unwrap();
    p.settle();
    assert_ne!(ids(&ip_only(p.take())), [a.wrapping_add(5)]);
}

#[test]
fn unconnected_do_mode_sends_id_zero() {
    // L3.5: DF set and fragmenting refused (DO) on an unconnected socket → ID 0.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    p.stack().set_mtu_discover(s, PmtuMode::Do).unwrap();
    for _ in 0..3 {
        send_to(&mut p, s, b"df", sa(IP_PROBE, 5000));
    }
    let frames = ip_only(p.take());
    assert_eq!(ids(&frames), [0, 0, 0]);
    assert!(frames.iter().all(|f| ip(f).dont_frag()));
    // PROBE likewise.
    p.stack().set_mtu_discover(s, PmtuMode::Probe).unwrap();
    send_to(&mut p, s, b"df", sa(IP_PROBE, 5000));
    assert_eq!(ids(&ip_only(p.take())), [0]);
    // Connected, the socket's counter is used even in DO mode.
    let now = p.now();
    p.stack().set_mtu_discover(s, PmtuMode::Do).unwrap();
    p.stack().connect(now, s, sa(IP_PROBE, 5000)).unwrap();
    for _ in 0..2 {
        p.stack().send(now, s, b"c").unwrap();
    }
    p.settle();
    let got = ids(&ip_only(p.take()));
    assert_eq!(got[1], got[0].wrapping_add(1));
}

#[test]
fn unconnected_want_mode_ids_are_consecutive_within_a_millisecond() {
    // L3.5 (obs): otherwise a keyed hash of (daddr, saddr, protocol) picks a counter bucket:
    // consecutive within one jiffy, a random jump below the idle time after a pause.
    let mut p = Probed::new();
    p.introduce();
    let s = bound(&mut p, 4000);
    let t = bound(&mut p, 4001);
    let now = p.now();
    // Two sockets to one destination share the bucket.
    for h in [s, t, s, t] {
        p.stack().send_to(now, h, b"x", sa(IP_PROBE, 5000)).unwrap();
    }
    p.settle();
    let got = ids(&ip_only(p.take()));
    let a = got[0];
    assert_eq!(
        got,
        [a, a.wrapping_add(1), a.wrapping_add(2), a.wrapping_add(3)]
    );
    p.advance(Duration::from_millis(2000));
    let now = p.now();
    p.stack().send_to(now, s, b"x", sa(IP_PROBE, 5000)).unwrap();
    p.settle();
    let next = ids(&ip_only(p.take()))[0];
    let step = next.wrapping_sub(a.wrapping_add(3));
    assert!((1..=2000).contains(&step), "jump {step} after 2000 ms idle");
}

// ---------------------------------------------------------------------------------------------
// The kernel's own frames (wire::golden) for the same sends.
// ---------------------------------------------------------------------------------------------

#[test]
fn first_send_matches_the_kernel_s_arp_request_and_datagram() {
    // L3.6 and the resolution of ARP: the golden capture of a kernel UDP socket bound to
    // 10.0.0.1:40000 sending "hello, udpstack" to 10.0.0.2:7 with an empty neighbour cache.
    let mut lab = Lab::golden();
    let s = lab.stack().udp_socket();
    lab.stack()
        .bind(s, sa(Ipv4Addr::new(10, 0, 0, 1), 40000))
        .unwrap();
    let now = lab.now();
    lab.stack()
        .send_to(
            now,
            s,
            b"hello, udpstack",
            sa(Ipv4Addr::new(10, 0, 0, 2), 7),
        )
        .unwrap();
    lab.settle();
    let frames = lab.take();
    assert_eq!(frames.len(), 2, "{frames:02x?}");
    assert_eq!(frames[0], golden::ARP_REQUEST);
    assert_golden_except_id(&frames[1], golden::UDP_DATAGRAM);
}

#[test]
fn connect_to_limited_broadcast_without_a_default_route_is_enetunreach() {
    // L7.4 with L3.1: __ip4_datagram_connect does the same lookup as udp_sendmsg
    // (ip_route_connect with saddr = inet_saddr, 0 for an unbound socket): no default route →
    // ENETUNREACH and OutNoRoutes++, before SO_BROADCAST is checked. A socket bound to our
    // address connects (the "special hack" of ip_route_output_key_hash_rcu).
    let mut p = Probed::new();
    let s = p.stack().udp_socket();
    p.stack().set_broadcast(s, true).unwrap();
    let now = p.now();
    assert_eq!(
        errno(p.stack().connect(now, s, sa(LIMITED, 9))),
        ENETUNREACH
    );
    assert_eq!(p.stack().stats().ip.out_no_routes, 1);
    let t = bound(&mut p, 4000);
    p.stack().set_broadcast(t, true).unwrap();
    p.stack().connect(now, t, sa(LIMITED, 9)).unwrap();
}

#[test]
fn default_pmtu_mode_is_want_or_dont_with_ip_no_pmtu_disc() {
    // L2.4: inet_create picks WANT, or DONT when ip_no_pmtu_disc is non-zero.
    let mut p = Probed::new();
    let h = p.stack().udp_socket();
    assert_eq!(p.stack().mtu_discover(h).unwrap(), PmtuMode::Want);
    p.stack()
        .set_sysctl("net.ipv4.ip_no_pmtu_disc", "1")
        .unwrap();
    let h = p.stack().udp_socket();
    assert_eq!(p.stack().mtu_discover(h).unwrap(), PmtuMode::Dont);
}

#[test]
fn ip_mtu_needs_a_connected_socket() {
    // L2.5: IP_MTU is the MTU in force towards the peer; ENOTCONN when unconnected.
    let mut p = Probed::with(config(IP_B, MAC_B).mtu(1280), 4);
    let now = p.now();
    let h = p.stack().udp_socket();
    assert_eq!(p.stack().mtu(h).unwrap_err().raw_os_error(), Some(107));
    p.stack().connect(now, h, sa(IP_PROBE, 9)).unwrap();
    assert_eq!(p.stack().mtu(h).unwrap(), 1280);
    // Towards ourselves the loopback device's MTU is in force.
    let l = p.stack().udp_socket();
    p.stack().connect(now, l, sa(IP_B, 9)).unwrap();
    assert_eq!(p.stack().mtu(l).unwrap(), 65535);
}
