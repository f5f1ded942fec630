//! Rule tests for the socket calls: bind (L7.1) and its conflict table (L7.2), connect (L7.4),
//! disconnect (L7.5), ephemeral ports (L8.1), and handles (EBADF, generations).
//!
//! Stack B (10.0.0.2) is driven either by raw frames from the probe (10.0.0.9, [`Probed`]) or by
//! a second stack A (10.0.0.1, [`Pair`]). Every test cites the rule it checks.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::errno::Errno;
use udpstack::wire::{Icmpv4Packet, Icmpv4Repr, MacAddr, Quote};
use udpstack::{SocketHandle, Stack};
use udpstack_tests::fixture::*;

const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// The ICMP messages the probe received: (type, code, quoted source port, quoted dest port).
fn icmp_seen(p: &mut Probed) -> Vec<(u8, u8, u16, u16)> {
    non_arp(&p.take())
        .into_iter()
        .filter_map(|s| match s {
            Seen::Icmp(_, _, msg) => {
                let icmp = Icmpv4Packet::new_checked(&msg[..]).ok()?;
                let repr = Icmpv4Repr::parse(&icmp).ok()?;
                let quote = Quote::parse(repr.body).ok()?;
                Some((
                    icmp.msg_type(),
                    icmp.code(),
                    quote.src_port(),
                    quote.dst_port(),
                ))
            }
            _ => None,
        })
        .collect()
}

/// A socket with the given options, bound to `addr` (or the bind error).
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

// ---------------------------------------------------------------------------------------------
// L7.1 bind

#[test]
fn bind_to_an_address_that_is_not_ours_is_eaddrnotavail() {
    // L7.1: not local, not broadcast, not multicast → EADDRNOTAVAIL, and nothing changes.
    let mut p = Probed::new();
    let s = p.stack();
    let h = s.udp_socket();
    for ip in [
        Ipv4Addr::new(10, 0, 0, 3),
        IP_PROBE,
        Ipv4Addr::new(192, 168, 1, 1),
        Ipv4Addr::new(10, 0, 0, 0),
    ] {
        assert_eq!(errno(s.bind(h, sa(ip, 5000))), Errno::EADDRNOTAVAIL, "{ip}");
    }
    assert_eq!(s.local_addr(h).unwrap(), sa(ANY, 0));
    assert!(!s.udp_table().contains(":1388 "), "{}", s.udp_table());
    s.bind(h, sa(IP_B, 5000)).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 5000));
}

#[test]
fn bind_address_check_comes_before_the_already_bound_check() {
    // L7.1: __inet_bind checks the address (EADDRNOTAVAIL) before the state (EINVAL).
    let mut p = Probed::new();
    let s = p.stack();
    let h = bound(s, sa(IP_B, 5000), false, false).unwrap();
    assert_eq!(errno(s.bind(h, sa(IP_PROBE, 5001))), Errno::EADDRNOTAVAIL);
    assert_eq!(errno(s.bind(h, sa(IP_B, 5001))), Errno::EINVAL);
}

#[test]
fn loopback_and_multicast_addresses_can_be_bound() {
    // L7.1: every 127.x address is local (the 127.0.0.0/8 local route), multicast is allowed.
    let mut p = Probed::new();
    let s = p.stack();
    for ip in [
        IP_B,
        ANY,
        LOCALHOST,
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 255, 255, 254),
        Ipv4Addr::new(224, 0, 0, 1),
    ] {
        let h = s.udp_socket();
        s.bind(h, sa(ip, 6000))
            .unwrap_or_else(|e| panic!("{ip}: {e}"));
        assert_eq!(s.local_addr(h).unwrap(), sa(ip, 6000));
        s.close(h).unwrap();
    }
}

#[test]
fn a_socket_bound_to_127_0_0_2_receives_datagrams_sent_there() {
    // L7.1: 127.0.0.2 is local; datagrams to it are looped back to the socket bound there.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let r = bound(s, sa(Ipv4Addr::new(127, 0, 0, 2), 6000), false, false).unwrap();
    let other = bound(s, sa(LOCALHOST, 6000), false, false).unwrap();
    let tx = s.udp_socket();
    s.send_to(now, tx, b"to .2", sa(Ipv4Addr::new(127, 0, 0, 2), 6000))
        .unwrap();
    let got = drain(s, r);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, b"to .2");
    assert_eq!(got[0].1.port(), s.local_addr(tx).unwrap().port());
    assert!(drain(s, other).is_empty());
}

#[test]
fn connect_from_a_loopback_address_to_the_network_is_einval() {
    // L7.1, L7.4: 127.x is local, but __mkroute_output refuses a loopback source on a
    // non-loopback device (route_localnet is off): connect fails with EINVAL.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(LOCALHOST, 6000), false, false).unwrap();
    assert_eq!(errno(s.connect(now, h, sa(IP_PROBE, 9))), Errno::EINVAL);
    assert_eq!(errno(s.peer_addr(h)), Errno::ENOTCONN);
    s.connect(now, h, sa(Ipv4Addr::new(127, 0, 0, 9), 9))
        .unwrap();
    // A source set by a first connect to 127.0.0.1 is kept (L7.4), so the same holds after.
    let w = s.udp_socket();
    s.connect(now, w, sa(LOCALHOST, 9)).unwrap();
    assert_eq!(*s.local_addr(w).unwrap().ip(), LOCALHOST);
    assert_eq!(errno(s.connect(now, w, sa(IP_PROBE, 9))), Errno::EINVAL);
    assert_eq!(s.peer_addr(w).unwrap(), sa(LOCALHOST, 9));
}

#[test]
fn send_from_a_loopback_address_to_the_network_is_einval() {
    // L7.1, L3.1: like connect, sendto from a socket bound to 127.0.0.1 to an address off the
    // loopback device fails in route output (__mkroute_output) with EINVAL; nothing is sent.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(LOCALHOST, 6000), false, false).unwrap();
    assert_eq!(
        errno(s.send_to(now, h, b"x", sa(IP_PROBE, 9))),
        Errno::EINVAL
    );
    p.settle();
    assert!(non_arp(&p.take()).is_empty());
    assert_eq!(p.stack().stats().udp.out_datagrams, 0);
}

#[test]
fn binding_twice_is_einval() {
    // L7.1: already bound → EINVAL (obs), whatever the new address.
    let mut p = Probed::new();
    let s = p.stack();
    let h = bound(s, sa(IP_B, 5000), false, false).unwrap();
    assert_eq!(errno(s.bind(h, sa(IP_B, 5000))), Errno::EINVAL);
    assert_eq!(errno(s.bind(h, sa(ANY, 5001))), Errno::EINVAL);
    assert_eq!(errno(s.bind(h, sa(ANY, 0))), Errno::EINVAL);
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 5000));
    // Bound to port 0 (an ephemeral port): bound all the same.
    let e = s.udp_socket();
    s.bind(e, sa(ANY, 0)).unwrap();
    assert_eq!(errno(s.bind(e, sa(ANY, 5002))), Errno::EINVAL);
}

#[test]
fn binding_after_an_automatic_bind_is_einval() {
    // L7.1: a send binds the socket automatically (inet_autobind); bind then fails with EINVAL.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    s.send_to(now, h, b"x", sa(IP_PROBE, 9)).unwrap();
    let local = s.local_addr(h).unwrap();
    assert_eq!(*local.ip(), ANY);
    assert!(EPHEMERAL.contains(&local.port()), "{local}");
    assert_eq!(errno(s.bind(h, sa(IP_B, 5000))), Errno::EINVAL);
    assert_eq!(s.local_addr(h).unwrap(), local);
}

#[test]
fn binding_a_connected_socket_is_einval() {
    // L7.1: a connected socket is bound (connect autobinds): EINVAL.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    s.connect(now, h, sa(IP_PROBE, 9)).unwrap();
    assert_eq!(errno(s.bind(h, sa(IP_B, 5000))), Errno::EINVAL);
}

#[test]
fn a_conflicting_bind_is_eaddrinuse_and_leaves_the_socket_unbound() {
    // L7.1: conflict → EADDRINUSE; the socket stays unbound and can bind elsewhere.
    let mut p = Probed::new();
    let s = p.stack();
    let first = bound(s, sa(IP_B, 5000), false, false).unwrap();
    let h = s.udp_socket();
    assert_eq!(errno(s.bind(h, sa(IP_B, 5000))), Errno::EADDRINUSE);
    assert_eq!(s.local_addr(h).unwrap(), sa(ANY, 0));
    s.bind(h, sa(IP_B, 5001)).unwrap();
    // Closing the holder frees the port.
    s.close(first).unwrap();
    let again = s.udp_socket();
    s.bind(again, sa(IP_B, 5000)).unwrap();
}

#[test]
fn bind_to_port_zero_picks_an_ephemeral_port_and_keeps_the_address() {
    // L7.1, L8.1: port 0 → a free port from ip_local_port_range; the address is kept.
    let mut p = Probed::new();
    let s = p.stack();
    for ip in [ANY, IP_B, LOCALHOST] {
        let h = s.udp_socket();
        s.bind(h, sa(ip, 0)).unwrap();
        let local = s.local_addr(h).unwrap();
        assert_eq!(*local.ip(), ip);
        assert!(EPHEMERAL.contains(&local.port()), "{local}");
    }
}

#[test]
fn a_socket_bound_to_the_subnet_broadcast_receives_broadcasts_only() {
    // L7.1: binding the broadcast address is allowed; such a socket receives the broadcasts to
    // it (L5.3), not unicast datagrams to the same port.
    let mut p = Probed::new();
    p.introduce();
    let s = p.stack();
    let h = bound(s, sa(BROADCAST, 6000), false, false).unwrap();
    p.send(probe_udp(
        MacAddr::BROADCAST,
        sa(IP_PROBE, 5000),
        sa(BROADCAST, 6000),
        b"all",
    ));
    assert_eq!(
        drain(p.stack(), h),
        vec![(b"all".to_vec(), sa(IP_PROBE, 5000))]
    );
    // A unicast datagram to 10.0.0.2:6000 finds no socket: NoPorts and a port unreachable.
    from_probe(&mut p, 5000, sa(IP_B, 6000), b"one");
    assert!(drain(p.stack(), h).is_empty());
    assert_eq!(p.stack().stats().udp.no_ports, 1);
    assert_eq!(icmp_seen(&mut p), vec![(3, 3, 5000, 6000)]);
}

#[test]
fn a_socket_bound_to_the_limited_broadcast_receives_limited_broadcasts() {
    // L7.1, L5.3: 255.255.255.255 can be bound; it receives datagrams to 255.255.255.255 only.
    let mut p = Probed::new();
    let s = p.stack();
    let h = bound(s, sa(Ipv4Addr::BROADCAST, 6000), false, false).unwrap();
    p.send(probe_udp(
        MacAddr::BROADCAST,
        sa(IP_PROBE, 5000),
        sa(Ipv4Addr::BROADCAST, 6000),
        b"lim",
    ));
    p.send(probe_udp(
        MacAddr::BROADCAST,
        sa(IP_PROBE, 5000),
        sa(BROADCAST, 6000),
        b"subnet",
    ));
    assert_eq!(
        drain(p.stack(), h),
        vec![(b"lim".to_vec(), sa(IP_PROBE, 5000))]
    );
    assert_eq!(p.stack().stats().udp.ignored_multi, 1);
}

#[test]
fn a_socket_bound_to_a_broadcast_address_sends_from_the_interface_address() {
    // L7.1: bind leaves the source address to the route for broadcast addresses (inet_bind sets
    // inet_saddr = 0), so datagrams leave from 10.0.0.2, with the bound port.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(BROADCAST, 6000), false, false).unwrap();
    s.send_to(now, h, b"reply", sa(IP_PROBE, 5000)).unwrap();
    p.settle();
    let seen = non_arp(&p.take());
    let [Seen::Udp(_, ip, udp, payload)] = &seen[..] else {
        panic!("{seen:?}")
    };
    assert_eq!((ip.src, ip.dst), (IP_B, IP_PROBE));
    assert_eq!((udp.src_port, udp.dst_port), (6000, 5000));
    assert_eq!(payload, b"reply");
}

// ---------------------------------------------------------------------------------------------
// L7.2 conflicts

/// Binds a first socket, then a second one; the second bind's result.
fn second_bind(first: (Ipv4Addr, bool, bool), second: (Ipv4Addr, bool, bool)) -> Result<(), Errno> {
    let mut p = Probed::new();
    let s = p.stack();
    bound(s, sa(first.0, 7000), first.1, first.2).expect("first bind");
    bound(s, sa(second.0, 7000), second.1, second.2)
        .map(|_| ())
        .map_err(|e| Errno(e.raw_os_error().unwrap()))
}

#[test]
fn conflict_table() {
    // L7.2: same port conflicts unless both have SO_REUSEADDR or both SO_REUSEPORT; addresses
    // conflict if equal or either is 0.0.0.0.
    let inuse = Err(Errno::EADDRINUSE);
    let cases = [
        // (first: addr, SO_REUSEADDR, SO_REUSEPORT), (second: ...), expected
        ((IP_B, false, false), (IP_B, false, false), inuse),
        // obs: both SO_REUSEADDR → allowed; only the new one → EADDRINUSE.
        ((IP_B, true, false), (IP_B, true, false), Ok(())),
        ((IP_B, false, false), (IP_B, true, false), inuse),
        ((IP_B, true, false), (IP_B, false, false), inuse),
        // obs: 127.0.0.1 vs 127.0.0.2 → allowed.
        (
            (LOCALHOST, false, false),
            (Ipv4Addr::new(127, 0, 0, 2), false, false),
            Ok(()),
        ),
        ((IP_B, false, false), (LOCALHOST, false, false), Ok(())),
        ((BROADCAST, false, false), (IP_B, false, false), Ok(())),
        // The wildcard overlaps every address, in either order.
        ((ANY, false, false), (IP_B, false, false), inuse),
        ((IP_B, false, false), (ANY, false, false), inuse),
        ((ANY, false, false), (ANY, false, false), inuse),
        ((ANY, false, false), (LOCALHOST, false, false), inuse),
        ((ANY, true, false), (IP_B, true, false), Ok(())),
        ((IP_B, true, false), (ANY, true, false), Ok(())),
        // Both SO_REUSEPORT → allowed; only one → EADDRINUSE.
        ((IP_B, false, true), (IP_B, false, true), Ok(())),
        ((ANY, false, true), (ANY, false, true), Ok(())),
        ((ANY, false, true), (IP_B, false, true), Ok(())),
        ((IP_B, false, true), (IP_B, false, false), inuse),
        ((IP_B, false, false), (IP_B, false, true), inuse),
        ((IP_B, true, false), (IP_B, false, true), inuse),
        ((IP_B, true, true), (IP_B, true, false), Ok(())),
    ];
    for (first, second, expected) in cases {
        assert_eq!(
            second_bind(first, second),
            expected,
            "{first:?} then {second:?}"
        );
    }
}

#[test]
fn different_ports_never_conflict() {
    // L7.2: only sockets on the same port conflict.
    let mut p = Probed::new();
    let s = p.stack();
    bound(s, sa(ANY, 7000), false, false).unwrap();
    bound(s, sa(ANY, 7001), false, false).unwrap();
    bound(s, sa(IP_B, 7002), false, false).unwrap();
}

#[test]
fn a_connected_socket_still_holds_its_port() {
    // L7.2: the conflict check looks at every socket on the port, connected or not.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let c = bound(s, sa(ANY, 7000), false, false).unwrap();
    s.connect(now, c, sa(IP_PROBE, 9)).unwrap();
    assert_eq!(s.local_addr(c).unwrap(), sa(IP_B, 7000));
    for ip in [ANY, IP_B] {
        assert_eq!(
            errno(bound(s, sa(ip, 7000), false, false)),
            Errno::EADDRINUSE,
            "{ip}"
        );
    }
    // 127.0.0.1 does not overlap 10.0.0.2, the connected socket's address now.
    bound(s, sa(LOCALHOST, 7000), false, false).unwrap();
}

#[test]
fn so_reuseaddr_set_after_bind_counts_at_the_next_bind() {
    // L7.2: the options of the sockets already bound are read when the new socket binds.
    let mut p = Probed::new();
    let s = p.stack();
    let first = bound(s, sa(IP_B, 7000), false, false).unwrap();
    assert_eq!(
        errno(bound(s, sa(IP_B, 7000), true, false)),
        Errno::EADDRINUSE
    );
    s.set_reuse_addr(first, true).unwrap();
    bound(s, sa(IP_B, 7000), true, false).unwrap();
}

// ---------------------------------------------------------------------------------------------
// L7.4 connect

#[test]
fn connect_binds_an_ephemeral_port_and_sets_the_local_address() {
    // L7.4: connect binds an ephemeral port if needed and takes the route's source address.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    let local = s.local_addr(h).unwrap();
    assert_eq!(*local.ip(), IP_B);
    assert!(EPHEMERAL.contains(&local.port()), "{local}");
    assert_eq!(s.peer_addr(h).unwrap(), sa(IP_PROBE, 5000));
    // The connected socket is listed with its peer, state 01 (TCP_ESTABLISHED).
    let row = format!("0200000A:{:04X} 0900000A:1388 01 ", local.port());
    assert!(s.udp_table().contains(&row), "{}", s.udp_table());
}

#[test]
fn connect_keeps_an_explicit_port_and_an_explicit_address() {
    // L7.4: an explicitly bound port and address are kept.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(IP_B, 7000), false, false).unwrap();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 7000));
    let w = bound(s, sa(ANY, 7001), false, false).unwrap();
    s.connect(now, w, sa(IP_PROBE, 5000)).unwrap();
    assert_eq!(s.local_addr(w).unwrap(), sa(IP_B, 7001));
}

#[test]
fn a_second_connect_keeps_the_local_address() {
    // L7.4 (obs): the local address is set only if unset; reconnecting keeps it even when the
    // new peer's route would pick another source.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let listener = bound(s, sa(ANY, 9), false, false).unwrap();
    let h = bound(s, sa(ANY, 7000), false, false).unwrap();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 7000));
    s.connect(now, h, sa(LOCALHOST, 9)).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 7000));
    assert_eq!(s.peer_addr(h).unwrap(), sa(LOCALHOST, 9));
    // Datagrams go to the new peer, from the kept address.
    s.send(now, h, b"via lo").unwrap();
    assert_eq!(
        drain(s, listener),
        vec![(b"via lo".to_vec(), sa(IP_B, 7000))]
    );
}

#[test]
fn after_connect_only_the_peer_reaches_the_socket_and_queued_datagrams_stay() {
    // L7.4 (obs): datagrams queued before connect stay; afterwards datagrams from other peers
    // get a port unreachable and count NoPorts when no other socket matches.
    let mut p = Probed::new();
    p.introduce();
    let h = bound(p.stack(), sa(ANY, 7000), false, false).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"a1");
    from_probe(&mut p, 6000, sa(IP_B, 7000), b"b1");
    let now = p.now();
    p.stack().connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    from_probe(&mut p, 6000, sa(IP_B, 7000), b"b2");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"a2");
    assert_eq!(p.stack().stats().udp.no_ports, 1);
    assert_eq!(icmp_seen(&mut p), vec![(3, 3, 6000, 7000)]);
    assert_eq!(
        drain(p.stack(), h),
        vec![
            (b"a1".to_vec(), sa(IP_PROBE, 5000)),
            (b"b1".to_vec(), sa(IP_PROBE, 6000)),
            (b"a2".to_vec(), sa(IP_PROBE, 5000)),
        ]
    );
}

#[test]
fn after_connect_other_peers_go_to_another_matching_socket() {
    // L7.4 (obs): datagrams from other peers go to another socket that matches them.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let c = bound(s, sa(IP_B, 7000), true, false).unwrap();
    let other = bound(s, sa(ANY, 7000), true, false).unwrap();
    s.connect(now, c, sa(IP_PROBE, 5000)).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"peer");
    from_probe(&mut p, 6000, sa(IP_B, 7000), b"stranger");
    let s = p.stack();
    assert_eq!(drain(s, c), vec![(b"peer".to_vec(), sa(IP_PROBE, 5000))]);
    assert_eq!(
        drain(s, other),
        vec![(b"stranger".to_vec(), sa(IP_PROBE, 6000))]
    );
    assert_eq!(s.stats().udp.no_ports, 0);
}

#[test]
fn connect_to_a_broadcast_address_needs_so_broadcast() {
    // L7.4 (obs): broadcast peer without SO_BROADCAST → EACCES. The limited broadcast address
    // has no route of its own (6.18's local table holds only 10.0.0.255), so for a socket
    // without a source address ip_route_output_key_hash_rcu looks it up in the FIB: with no
    // default route that fails first with ENETUNREACH; with one it is EACCES like 10.0.0.255.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    assert_eq!(errno(s.connect(now, h, sa(BROADCAST, 6000))), Errno::EACCES);
    assert_eq!(
        errno(s.connect(now, h, sa(Ipv4Addr::BROADCAST, 6000))),
        Errno::ENETUNREACH
    );
    let mut gw = Probed::with(config(IP_B, MAC_B).gateway(IP_PROBE), 3);
    let now = gw.now();
    let g = gw.stack().udp_socket();
    assert_eq!(
        errno(gw.stack().connect(now, g, sa(Ipv4Addr::BROADCAST, 6000))),
        Errno::EACCES
    );
    let s = p.stack();
    assert_eq!(errno(s.peer_addr(h)), Errno::ENOTCONN);
    // inet_dgram_connect binds before the protocol's connect runs: the port stays bound.
    assert!(EPHEMERAL.contains(&s.local_addr(h).unwrap().port()));
    s.set_broadcast(h, true).unwrap();
    s.connect(now, h, sa(BROADCAST, 6000)).unwrap();
    assert_eq!(s.peer_addr(h).unwrap(), sa(BROADCAST, 6000));
    s.send(now, h, b"hello all").unwrap();
    p.settle();
    let seen = non_arp(&p.take());
    let [Seen::Udp(eth, ip, udp, payload)] = &seen[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (eth.dst, ip.src, ip.dst),
        (MacAddr::BROADCAST, IP_B, BROADCAST)
    );
    assert_eq!((udp.dst_port, &payload[..]), (6000, &b"hello all"[..]));
}

#[test]
fn connect_to_an_unreachable_peer_is_enetunreach() {
    // L7.4: no route → ENETUNREACH and Ip OutNoRoutes; the socket stays unconnected.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    assert_eq!(
        errno(s.connect(now, h, sa(Ipv4Addr::new(192, 168, 1, 1), 53))),
        Errno::ENETUNREACH
    );
    assert_eq!(s.stats().ip.out_no_routes, 1);
    assert_eq!(errno(s.peer_addr(h)), Errno::ENOTCONN);
    let ip_values = s
        .snmp()
        .lines()
        .filter(|l| l.starts_with("Ip:"))
        .nth(1)
        .unwrap()
        .to_owned();
    // Ip: Forwarding DefaultTTL ... OutNoRoutes is the 12th field after "Ip:".
    assert_eq!(
        ip_values.split_whitespace().nth(12),
        Some("1"),
        "{ip_values}"
    );
}

#[test]
fn connected_socket_sends_to_its_peer() {
    // L7.4: connect records the peer; send() without an address goes there.
    let mut pair = Pair::new();
    let now = pair.now();
    let rb = bound(pair.b(), sa(IP_B, 7000), false, false).unwrap();
    let a = pair.a().udp_socket();
    pair.a().connect(now, a, sa(IP_B, 7000)).unwrap();
    pair.a().send(now, a, b"one").unwrap();
    pair.net.drive();
    let local_a = pair.a().local_addr(a).unwrap();
    assert_eq!(*local_a.ip(), IP_A);
    assert_eq!(drain(pair.b(), rb), vec![(b"one".to_vec(), local_a)]);
}

// ---------------------------------------------------------------------------------------------
// L7.5 disconnect

#[test]
fn disconnect_after_connect_without_bind_resets_to_any_and_releases_the_port() {
    // L7.5 (obs): local_addr becomes 0.0.0.0:0; the automatically chosen port is released.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    let port = s.local_addr(h).unwrap().port();
    s.disconnect(h).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(ANY, 0));
    assert_eq!(errno(s.peer_addr(h)), Errno::ENOTCONN);
    let table = s.udp_table();
    assert_eq!(table.lines().count(), 1, "{table}");
    // The port is free again, and the socket can be bound.
    let other = s.udp_socket();
    s.bind(other, sa(ANY, port)).unwrap();
    s.bind(h, sa(IP_B, 7000)).unwrap();
}

#[test]
fn disconnect_keeps_an_explicitly_bound_address_and_port() {
    // L7.5: an explicitly bound address and port are kept; the socket hears every peer again.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(IP_B, 7000), false, false).unwrap();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    s.disconnect(h).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 7000));
    from_probe(&mut p, 6000, sa(IP_B, 7000), b"anyone");
    assert_eq!(
        drain(p.stack(), h),
        vec![(b"anyone".to_vec(), sa(IP_PROBE, 6000))]
    );
}

#[test]
fn disconnect_resets_an_address_chosen_by_connect_but_keeps_a_bound_port() {
    // L7.5: bound to 0.0.0.0:7000, connect picks 10.0.0.2; disconnect returns to 0.0.0.0:7000.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(ANY, 7000), false, false).unwrap();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 7000));
    s.disconnect(h).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(ANY, 7000));
    // Still bound: the port conflicts, and the socket hears datagrams to any address.
    assert_eq!(
        errno(bound(s, sa(LOCALHOST, 7000), false, false)),
        Errno::EADDRINUSE
    );
    from_probe(&mut p, 6000, sa(IP_B, 7000), b"back");
    assert_eq!(drain(p.stack(), h).len(), 1);
}

#[test]
fn disconnect_releases_a_port_bound_as_port_zero() {
    // L7.5: bind(addr:0) locks the address but not the port (SOCK_BINDPORT_LOCK only for a
    // non-zero port), so disconnect releases the port and keeps the address.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, 0)).unwrap();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    s.disconnect(h).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(IP_B, 0));
}

#[test]
fn an_automatic_bind_keeps_an_address_left_by_disconnect() {
    // L7.5, L8.1: after bind(10.0.0.2:0), connect, disconnect the socket keeps 10.0.0.2 with no
    // port; the next send binds a port (inet_autobind → get_port(sk, 0)) for that address.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, 0)).unwrap();
    s.connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    s.disconnect(h).unwrap();
    s.send_to(now, h, b"x", sa(IP_PROBE, 5000)).unwrap();
    let local = s.local_addr(h).unwrap();
    assert_eq!(*local.ip(), IP_B, "{local}");
    assert!(EPHEMERAL.contains(&local.port()), "{local}");
    // It is bound to 10.0.0.2 only: a socket on 127.0.0.1 and the same port does not conflict.
    bound(s, sa(LOCALHOST, local.port()), false, false).unwrap();
}
