//! Rule tests for finding a datagram's socket: unicast lookup (L5.3), SO_REUSEPORT groups
//! (L7.3) and broadcast fan-out (L5.3).
//!
//! The probe (10.0.0.9, [`Probed`]) sends hand-built datagrams to stack B (10.0.0.2); each test
//! checks which socket ends up with them. Every test cites the rule it checks.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::wire::MacAddr;
use udpstack::{SocketHandle, Stack};
use udpstack_tests::fixture::*;

const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// A socket with the given options, bound to `addr`.
fn bound(
    stack: &mut Stack,
    addr: SocketAddrV4,
    reuse_addr: bool,
    reuse_port: bool,
) -> io::Result<SocketHandle> {
    let h = stack.udp_socket();
    stack.set_reuse_addr(h, reuse_addr)?;
    stack.set_reuse_port(h, reuse_port)?;
    stack.bind(h, addr)?;
    Ok(h)
}

/// The probe broadcasts one datagram from `10.0.0.9:sport` to `dst` (link-layer broadcast).
fn broadcast_from_probe(p: &mut Probed, sport: u16, dst: SocketAddrV4, payload: &[u8]) {
    p.send(probe_udp(
        MacAddr::BROADCAST,
        sa(IP_PROBE, sport),
        dst,
        payload,
    ));
}

/// Which of `sockets` received exactly one datagram (the others none); `None` if none did.
#[track_caller]
fn receiver(stack: &mut Stack, sockets: &[SocketHandle]) -> Option<usize> {
    let mut hit = None;
    for (i, &h) in sockets.iter().enumerate() {
        let n = if stack.local_addr(h).is_ok() {
            drain(stack, h).len()
        } else {
            0
        };
        match n {
            0 => {}
            1 => {
                assert!(hit.is_none(), "two sockets got the datagram");
                hit = Some(i);
            }
            _ => panic!("socket {i} got {n} datagrams"),
        }
    }
    hit
}

/// Sends one datagram from each source port of `ports` to `dst`; the receiver of each.
fn spread(
    p: &mut Probed,
    members: &[SocketHandle],
    dst: SocketAddrV4,
    ports: impl IntoIterator<Item = u16>,
) -> Vec<Option<usize>> {
    ports
        .into_iter()
        .map(|sport| {
            from_probe(p, sport, dst, b"flow");
            receiver(p.stack(), members)
        })
        .collect()
}

fn counts(receivers: &[Option<usize>], n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| receivers.iter().filter(|&&r| r == Some(i)).count())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// L5.3 unicast lookup

#[test]
fn a_specific_address_beats_the_wildcard_whatever_the_order() {
    // L5.3: first pass on sockets bound to the destination address; 0.0.0.0 only if none.
    for wildcard_first in [true, false] {
        let mut p = Probed::new();
        let s = p.stack();
        let (wild, spec) = if wildcard_first {
            let w = bound(s, sa(ANY, 7000), true, false).unwrap();
            (w, bound(s, sa(IP_B, 7000), true, false).unwrap())
        } else {
            let sp = bound(s, sa(IP_B, 7000), true, false).unwrap();
            (bound(s, sa(ANY, 7000), true, false).unwrap(), sp)
        };
        from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
        assert_eq!(
            receiver(p.stack(), &[wild, spec]),
            Some(1),
            "{wildcard_first}"
        );
    }
}

#[test]
fn the_wildcard_socket_gets_what_no_specific_socket_matches() {
    // L5.3: a socket bound to another specific address (127.0.0.1) does not match a datagram
    // to 10.0.0.2; the wildcard pass then finds the 0.0.0.0 socket.
    let mut p = Probed::new();
    let s = p.stack();
    let lo = bound(s, sa(Ipv4Addr::LOCALHOST, 7000), true, false).unwrap();
    let wild = bound(s, sa(ANY, 7000), true, false).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &[lo, wild]), Some(1));
    // Without the wildcard socket nothing matches: NoPorts.
    p.stack().close(wild).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &[lo, wild]), None);
    assert_eq!(p.stack().stats().udp.no_ports, 1);
}

#[test]
fn a_connected_socket_beats_an_unconnected_one() {
    // L5.3: a connected socket whose peer matches wins over a more recently bound unconnected
    // socket on the same address; it matches no other peer.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let c = bound(s, sa(IP_B, 7000), true, false).unwrap();
    let u = bound(s, sa(IP_B, 7000), true, false).unwrap();
    s.connect(now, c, sa(IP_PROBE, 5000)).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"peer");
    assert_eq!(receiver(p.stack(), &[c, u]), Some(0));
    from_probe(&mut p, 5001, sa(IP_B, 7000), b"other port");
    assert_eq!(receiver(p.stack(), &[c, u]), Some(1));
    // Connecting the newer socket too: each gets its own peer.
    let now = p.now();
    p.stack().connect(now, u, sa(IP_PROBE, 5001)).unwrap();
    from_probe(&mut p, 5001, sa(IP_B, 7000), b"u");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"c");
    let s = p.stack();
    assert_eq!(drain(s, c), vec![(b"c".to_vec(), sa(IP_PROBE, 5000))]);
    assert_eq!(drain(s, u), vec![(b"u".to_vec(), sa(IP_PROBE, 5001))]);
}

#[test]
fn among_equal_sockets_the_most_recently_bound_wins() {
    // L5.3 (obs): ties go to the most recently bound socket; closing it hands the port back.
    let mut p = Probed::new();
    let s = p.stack();
    let first = bound(s, sa(ANY, 7000), true, false).unwrap();
    let second = bound(s, sa(ANY, 7000), true, false).unwrap();
    let third = bound(s, sa(ANY, 7000), true, false).unwrap();
    let all = [first, second, third];
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &all), Some(2));
    p.stack().close(third).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &all), Some(1));
    p.stack().close(second).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &all), Some(0));
}

#[test]
fn connect_and_disconnect_do_not_make_a_socket_the_most_recent() {
    // L5.3, L7.5: the tie-break is bind order. Connecting a socket whose address is already
    // set, and disconnecting one whose address was bound, do not rehash it
    // (__ip4_datagram_connect rehashes only when it sets the address, __udp_disconnect only
    // when it resets it), so it keeps its place behind the newer socket.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let older = bound(s, sa(IP_B, 7000), true, false).unwrap();
    let newer = bound(s, sa(IP_B, 7000), true, false).unwrap();
    s.connect(now, older, sa(IP_PROBE, 1)).unwrap();
    s.disconnect(older).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &[older, newer]), Some(1));
}

#[test]
fn an_address_set_by_connect_moves_the_socket_to_the_front() {
    // L5.3, L7.5: when connect sets the address (bound to 0.0.0.0) and disconnect resets it,
    // the socket is rehashed, i.e. becomes the most recent of its chain (udp_lib_rehash).
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let older = bound(s, sa(ANY, 7000), true, false).unwrap();
    let newer = bound(s, sa(ANY, 7000), true, false).unwrap();
    s.connect(now, older, sa(IP_PROBE, 1)).unwrap();
    s.disconnect(older).unwrap();
    assert_eq!(s.local_addr(older).unwrap(), sa(ANY, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    assert_eq!(receiver(p.stack(), &[older, newer]), Some(0));
}

// ---------------------------------------------------------------------------------------------
// L7.3 SO_REUSEPORT

#[test]
fn reuseport_keeps_each_flow_on_one_member_and_spreads_flows() {
    // L7.3 (obs: 16/20/20/24 of 80): member hash(4-tuple) × n >> 32; a flow always lands on
    // the same member; 80 flows spread over 4 members.
    for addr in [IP_B, ANY] {
        let mut p = Probed::new();
        let s = p.stack();
        let members: Vec<SocketHandle> = (0..4)
            .map(|_| bound(s, sa(addr, 7000), false, true).unwrap())
            .collect();
        let dst = sa(IP_B, 7000);
        let first = spread(&mut p, &members, dst, 10000..10080);
        let again = spread(&mut p, &members, dst, 10000..10080);
        assert_eq!(first, again, "flows moved between members");
        assert!(first.iter().all(Option::is_some));
        let c = counts(&first, 4);
        assert_eq!(c.iter().sum::<usize>(), 80);
        assert!(c.iter().all(|&n| n >= 8), "uneven spread {c:?} ({addr})");
        // The source address is part of the flow too: another peer's flows are spread as well.
        assert_eq!(p.stack().stats().udp.no_ports, 0);
    }
}

#[test]
fn reuseport_group_members_must_share_the_exact_address() {
    // L7.3: members share port and exactly the same local address; a wildcard reuseport socket
    // on the same port is another group, used only when no specific socket matches.
    let mut p = Probed::new();
    let s = p.stack();
    let specific: Vec<SocketHandle> = (0..2)
        .map(|_| bound(s, sa(IP_B, 7000), false, true).unwrap())
        .collect();
    let wild = bound(s, sa(ANY, 7000), false, true).unwrap();
    let got = spread(&mut p, &specific, sa(IP_B, 7000), 10000..10040);
    assert!(got.iter().all(Option::is_some), "{got:?}");
    assert!(drain(p.stack(), wild).is_empty());
    assert!(counts(&got, 2).iter().all(|&n| n > 0), "{got:?}");
}

#[test]
fn reuseport_skips_connected_members() {
    // L7.3: a connected member gets only its peer's datagrams; the other flows go to the rest.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..4)
        .map(|_| bound(s, sa(IP_B, 7000), false, true).unwrap())
        .collect();
    s.connect(now, members[1], sa(IP_PROBE, 9999)).unwrap();
    let got = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    assert!(got.iter().all(Option::is_some), "{got:?}");
    let c = counts(&got, 4);
    assert_eq!(c[1], 0, "{c:?}");
    assert!([c[0], c[2], c[3]].iter().all(|&n| n >= 8), "{c:?}");
    from_probe(&mut p, 9999, sa(IP_B, 7000), b"peer");
    assert_eq!(receiver(p.stack(), &members), Some(1));
}

#[test]
fn reuseport_connect_leaves_the_group_for_good() {
    // L7.3 (Linux 6.13+: udp_lib_hash4 → reuseport_detach_sock): connecting a member takes it
    // out of its group, and disconnecting does not put it back. The oldest member, connected
    // and disconnected, sits behind the group in its chain and receives nothing.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..3)
        .map(|_| bound(s, sa(IP_B, 7000), false, true).unwrap())
        .collect();
    s.connect(now, members[0], sa(IP_PROBE, 9999)).unwrap();
    s.disconnect(members[0]).unwrap();
    assert_eq!(s.local_addr(members[0]).unwrap(), sa(IP_B, 7000));
    let got = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    assert!(got.iter().all(Option::is_some), "{got:?}");
    let c = counts(&got, 3);
    assert_eq!(c[0], 0, "{c:?}");
    assert!(c[1] >= 8 && c[2] >= 8, "{c:?}");
}

#[test]
fn a_detached_member_bound_last_takes_every_flow() {
    // L7.3, L5.3: the newest socket of the chain decides. A member that left its group (by
    // connect) and is the most recently bound is an ordinary socket again: reuseport selection
    // finds no group for it (reuseport_select_sock → NULL) and it wins every tie.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..3)
        .map(|_| bound(s, sa(IP_B, 7000), false, true).unwrap())
        .collect();
    s.connect(now, members[2], sa(IP_PROBE, 9999)).unwrap();
    s.disconnect(members[2]).unwrap();
    let got = spread(&mut p, &members, sa(IP_B, 7000), 10000..10040);
    assert!(got.iter().all(|&r| r == Some(2)), "{got:?}");
}

#[test]
fn disconnecting_an_unconnected_wildcard_member_detaches_it() {
    // L7.3, L7.5: disconnect (AF_UNSPEC) on a member bound to 0.0.0.0:port rehashes it
    // (__udp_disconnect → udp_v4_rehash), and udp_lib_rehash detaches any SO_REUSEPORT member,
    // even though its address does not change. It keeps its place in the chain: the oldest
    // member then receives nothing, the others share the flows.
    let mut p = Probed::new();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..3)
        .map(|_| bound(s, sa(ANY, 7000), false, true).unwrap())
        .collect();
    s.disconnect(members[0]).unwrap();
    assert_eq!(s.local_addr(members[0]).unwrap(), sa(ANY, 7000));
    let got = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    let c = counts(&got, 3);
    assert_eq!((c[0], c[1] + c[2]), (0, 80), "{c:?}");
    assert!(c[1] >= 8 && c[2] >= 8, "{c:?}");
}

#[test]
fn disconnecting_an_unconnected_member_bound_to_an_address_changes_nothing() {
    // L7.3, L7.5: with the address and port both chosen by bind, __udp_disconnect neither
    // rehashes nor unhashes: the member stays in its group.
    let mut p = Probed::new();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..3)
        .map(|_| bound(s, sa(IP_B, 7000), false, true).unwrap())
        .collect();
    let before = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    p.stack().disconnect(members[0]).unwrap();
    let after = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    assert_eq!(before, after);
    assert!(counts(&after, 3).iter().all(|&n| n >= 8), "{after:?}");
}

#[test]
fn closing_a_member_keeps_the_group_working() {
    // L7.3: a closed member leaves the group; every flow still reaches one of the others, and a
    // flow that did not go to the closed member may move (the last member takes its slot) but
    // stays on one member.
    let mut p = Probed::new();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..4)
        .map(|_| bound(s, sa(IP_B, 7000), false, true).unwrap())
        .collect();
    let before = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    p.stack().close(members[1]).unwrap();
    let after = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    let again = spread(&mut p, &members, sa(IP_B, 7000), 10000..10080);
    assert_eq!(after, again);
    assert!(
        after.iter().all(|r| r.is_some() && *r != Some(1)),
        "{after:?}"
    );
    let c = counts(&after, 4);
    assert!([c[0], c[2], c[3]].iter().all(|&n| n >= 8), "{c:?}");
    assert!(counts(&before, 4)[1] > 0);
    assert_eq!(p.stack().stats().udp.no_ports, 0);
    // Closing all but one: everything goes to the last one.
    p.stack().close(members[0]).unwrap();
    p.stack().close(members[2]).unwrap();
    let last = spread(&mut p, &members, sa(IP_B, 7000), 10000..10020);
    assert!(last.iter().all(|&r| r == Some(3)), "{last:?}");
    // And with none left: port unreachable.
    p.stack().close(members[3]).unwrap();
    from_probe(&mut p, 10000, sa(IP_B, 7000), b"gone");
    assert_eq!(p.stack().stats().udp.no_ports, 1);
}

// ---------------------------------------------------------------------------------------------
// L5.3 broadcast

#[test]
fn a_subnet_broadcast_is_copied_to_every_matching_socket() {
    // L5.3: every socket on the port bound to 0.0.0.0 or to the broadcast address gets a copy;
    // a socket bound to 10.0.0.2 does not; a connected one only if the peer matches.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let wild = bound(s, sa(ANY, 6000), true, false).unwrap();
    let bcast = bound(s, sa(BROADCAST, 6000), true, false).unwrap();
    let unicast = bound(s, sa(IP_B, 6000), true, false).unwrap();
    let limited = bound(s, sa(Ipv4Addr::BROADCAST, 6000), true, false).unwrap();
    let conn = bound(s, sa(BROADCAST, 6000), true, false).unwrap();
    s.connect(now, conn, sa(IP_PROBE, 5000)).unwrap();
    assert_eq!(s.local_addr(conn).unwrap(), sa(BROADCAST, 6000));
    let other_port = bound(s, sa(ANY, 6001), false, false).unwrap();

    broadcast_from_probe(&mut p, 5000, sa(BROADCAST, 6000), b"from 5000");
    broadcast_from_probe(&mut p, 5001, sa(BROADCAST, 6000), b"from 5001");
    let s = p.stack();
    let both = vec![
        (b"from 5000".to_vec(), sa(IP_PROBE, 5000)),
        (b"from 5001".to_vec(), sa(IP_PROBE, 5001)),
    ];
    assert_eq!(drain(s, wild), both);
    assert_eq!(drain(s, bcast), both);
    assert_eq!(drain(s, conn), both[..1].to_vec());
    assert!(drain(s, unicast).is_empty());
    assert!(drain(s, limited).is_empty());
    assert!(drain(s, other_port).is_empty());
    let udp = &s.stats().udp;
    assert_eq!((udp.no_ports, udp.ignored_multi, udp.in_errors), (0, 0, 0));
    // Five copies were read.
    assert_eq!(udp.in_datagrams, 5);
}

#[test]
fn a_limited_broadcast_is_copied_to_every_matching_socket() {
    // L5.3: for 255.255.255.255, sockets bound to 0.0.0.0 or 255.255.255.255 get a copy.
    let mut p = Probed::new();
    let s = p.stack();
    let wild = bound(s, sa(ANY, 6000), true, false).unwrap();
    let wild2 = bound(s, sa(ANY, 6000), true, false).unwrap();
    let limited = bound(s, sa(Ipv4Addr::BROADCAST, 6000), true, false).unwrap();
    let subnet = bound(s, sa(BROADCAST, 6000), true, false).unwrap();
    let unicast = bound(s, sa(IP_B, 6000), true, false).unwrap();
    broadcast_from_probe(&mut p, 5000, sa(Ipv4Addr::BROADCAST, 6000), b"all");
    let s = p.stack();
    let one = vec![(b"all".to_vec(), sa(IP_PROBE, 5000))];
    assert_eq!(drain(s, wild), one);
    assert_eq!(drain(s, wild2), one);
    assert_eq!(drain(s, limited), one);
    assert!(drain(s, subnet).is_empty());
    assert!(drain(s, unicast).is_empty());
}

#[test]
fn a_broadcast_goes_to_every_reuseport_member() {
    // L5.3: broadcast delivery copies to every matching socket; SO_REUSEPORT does not select.
    let mut p = Probed::new();
    let s = p.stack();
    let members: Vec<SocketHandle> = (0..3)
        .map(|_| bound(s, sa(ANY, 6000), false, true).unwrap())
        .collect();
    broadcast_from_probe(&mut p, 5000, sa(BROADCAST, 6000), b"all");
    for &m in &members {
        assert_eq!(drain(p.stack(), m).len(), 1);
    }
}

#[test]
fn an_unwanted_broadcast_counts_ignored_multi_and_draws_no_icmp() {
    // L5.3: no matching socket → Udp IgnoredMulti, no ICMP and no NoPorts.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    // Sockets that do not match: on 10.0.0.2, on another port, connected to another peer.
    bound(s, sa(IP_B, 6000), false, false).unwrap();
    bound(s, sa(ANY, 6001), false, false).unwrap();
    let conn = bound(s, sa(BROADCAST, 6002), false, false).unwrap();
    s.connect(now, conn, sa(IP_PROBE, 1)).unwrap();
    broadcast_from_probe(&mut p, 5000, sa(BROADCAST, 6000), b"nobody");
    broadcast_from_probe(&mut p, 5000, sa(Ipv4Addr::BROADCAST, 6000), b"nobody");
    broadcast_from_probe(&mut p, 5000, sa(BROADCAST, 6002), b"nobody");
    // An IP broadcast in a unicast frame is a broadcast all the same.
    from_probe(&mut p, 5000, sa(BROADCAST, 6003), b"nobody");
    let udp = p.stack().stats().udp.clone();
    assert_eq!((udp.ignored_multi, udp.no_ports, udp.in_errors), (4, 0, 0));
    assert!(non_arp(&p.take()).is_empty());
    assert!(p
        .stack()
        .snmp()
        .lines()
        .any(|l| l == "Udp: 0 0 0 0 0 0 0 4 0"));
}

#[test]
fn a_broadcast_refused_by_full_sockets_is_counted_per_socket_and_once_as_a_frame() {
    // L5.3, L6.3: each socket a broadcast is offered to admits it or not on its own, and each
    // refusal is counted on that socket (RcvbufErrors, InErrors, its drops); the frame itself
    // is delivered if any socket took it, else dropped once (the conservation checker, run
    // after every event by `Probed`, holds either way).
    let mut p = Probed::new();
    let s = p.stack();
    let small = bound(s, sa(ANY, 6000), true, false).unwrap();
    let big = bound(s, sa(ANY, 6000), true, false).unwrap();
    s.set_recv_buffer_size(small, 0).unwrap(); // 2304 in force
                                               // Two tiny datagrams fit the small socket (832 each), the third does not.
    for i in 0..3 {
        broadcast_from_probe(&mut p, 5000 + i, sa(BROADCAST, 6000), b"x");
    }
    let st = p.stack().stats();
    assert_eq!((st.udp.rcvbuf_errors, st.udp.in_errors), (1, 1));
    assert_eq!(st.drops(udpstack::stats::DropReason::UdpRcvbuf), 0);
    // Now both refuse: one frame dropped, two copies refused.
    p.stack().set_recv_buffer_size(big, 0).unwrap();
    broadcast_from_probe(&mut p, 5003, sa(BROADCAST, 6000), b"x");
    let st = p.stack().stats();
    assert_eq!((st.udp.rcvbuf_errors, st.udp.in_errors), (3, 3));
    assert_eq!(st.drops(udpstack::stats::DropReason::UdpRcvbuf), 1);
    let s = p.stack();
    assert_eq!(drain(s, small).len(), 2);
    assert_eq!(drain(s, big).len(), 3);
    assert!(s.audit().is_ok());
}

#[test]
fn our_own_broadcasts_reach_our_own_sockets() {
    // L5.3 with ip_mc_output: a datagram we send to a broadcast address is also delivered to
    // this host, whole even when it leaves in fragments; our own sockets on the port get it
    // from our address, and a port without one counts IgnoredMulti with no ICMP.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let listener = bound(s, sa(ANY, 6000), false, false).unwrap();
    let sender = bound(s, sa(IP_B, 6001), false, false).unwrap();
    s.set_broadcast(sender, true).unwrap();
    let big = vec![7u8; 3000];
    for data in [&b"to all"[..], &big[..]] {
        s.send_to(now, sender, data, sa(BROADCAST, 6000)).unwrap();
    }
    s.send_to(now, sender, b"nobody", sa(BROADCAST, 6002))
        .unwrap();
    p.settle();
    let s = p.stack();
    assert_eq!(
        drain(s, listener),
        vec![(b"to all".to_vec(), sa(IP_B, 6001)), (big, sa(IP_B, 6001))]
    );
    let st = s.stats();
    assert_eq!(st.udp.ignored_multi, 1);
    assert_eq!((st.icmp.out_msgs, st.udp.no_ports), (0, 0));
    assert_eq!(st.link.loopback_rx, 3);
}
