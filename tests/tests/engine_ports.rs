//! Rule tests for ephemeral ports (L8.1) and socket handles (EBADF, generations).
//!
//! Stack B (10.0.0.2) with the probe (10.0.0.9, [`Probed`]). Every test cites the rule it
//! checks.

use std::io;
use std::net::Ipv4Addr;

use udpstack::errno::Errno;
use udpstack::{SocketHandle, Stack};
use udpstack_tests::fixture::*;

const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// A socket bound to `addr`.
fn bound(stack: &mut Stack, addr: std::net::SocketAddrV4) -> io::Result<SocketHandle> {
    let h = stack.udp_socket();
    stack.bind(h, addr)?;
    Ok(h)
}

// ---------------------------------------------------------------------------------------------
// L8.1 ephemeral ports

#[test]
fn ephemeral_ports_are_in_range_and_distinct() {
    // L8.1: bind(port 0), connect and send each take a free port of ip_local_port_range.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    let mut ports = std::collections::BTreeSet::new();
    for i in 0..90 {
        let h = s.udp_socket();
        match i % 3 {
            0 => s.bind(h, sa(ANY, 0)).unwrap(),
            1 => s.connect(now, h, sa(IP_PROBE, 9)).unwrap(),
            _ => {
                s.send_to(now, h, b"", sa(IP_PROBE, 9)).unwrap();
            }
        }
        let port = s.local_addr(h).unwrap().port();
        assert!(EPHEMERAL.contains(&port), "{port}");
        assert!(ports.insert(port), "port {port} given twice");
    }
    // A random start: the ports are not one run from the bottom of the range.
    assert!(ports.iter().any(|&p| p > 40000), "{ports:?}");
}

#[test]
fn a_changed_port_range_is_used() {
    // L8.1: the range is read at each bind.
    let mut p = Probed::new();
    let s = p.stack();
    s.set_sysctl("net.ipv4.ip_local_port_range", "50000 50000")
        .unwrap();
    let h = s.udp_socket();
    s.bind(h, sa(ANY, 0)).unwrap();
    assert_eq!(s.local_addr(h).unwrap().port(), 50000);
}

#[test]
fn exhausted_range_is_eagain_for_implicit_binds_and_eaddrinuse_for_bind() {
    // L8.1: with every port of the range taken, an implicit bind (send, connect) fails with
    // EAGAIN and bind(port 0) with EADDRINUSE.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let s = p.stack();
    s.set_sysctl("net.ipv4.ip_local_port_range", "40000 40002")
        .unwrap();
    let mut holders = Vec::new();
    for _ in 0..3 {
        let h = s.udp_socket();
        s.bind(h, sa(ANY, 0)).unwrap();
        holders.push((h, s.local_addr(h).unwrap().port()));
    }
    let mut ports: Vec<u16> = holders.iter().map(|&(_, port)| port).collect();
    ports.sort_unstable();
    assert_eq!(ports, [40000, 40001, 40002]);
    let h = s.udp_socket();
    assert_eq!(
        errno(s.send_to(now, h, b"x", sa(IP_PROBE, 9))),
        Errno::EAGAIN
    );
    assert_eq!(errno(s.connect(now, h, sa(IP_PROBE, 9))), Errno::EAGAIN);
    assert_eq!(errno(s.bind(h, sa(ANY, 0))), Errno::EADDRINUSE);
    assert_eq!(errno(s.bind(h, sa(IP_B, 0))), Errno::EADDRINUSE);
    // The holders are bound to 0.0.0.0, which overlaps 127.0.0.1 too (L7.2).
    assert_eq!(errno(s.bind(h, sa(LOCALHOST, 0))), Errno::EADDRINUSE);
    assert_eq!(s.local_addr(h).unwrap(), sa(ANY, 0));
    assert_eq!(s.stats().udp.out_datagrams, 0);
    // Freeing one port makes it available again.
    let (closed, freed) = holders[1];
    s.close(closed).unwrap();
    s.send_to(now, h, b"x", sa(IP_PROBE, 9)).unwrap();
    assert_eq!(s.local_addr(h).unwrap(), sa(ANY, freed));
}

#[test]
fn ephemeral_ports_skip_ports_held_on_other_addresses_only_if_they_overlap() {
    // L8.1 with L7.2: a port held on 127.0.0.1 is free for 10.0.0.2, not for 0.0.0.0.
    let mut p = Probed::new();
    let s = p.stack();
    s.set_sysctl("net.ipv4.ip_local_port_range", "40000 40001")
        .unwrap();
    bound(s, sa(LOCALHOST, 40000)).unwrap();
    bound(s, sa(LOCALHOST, 40001)).unwrap();
    let specific = s.udp_socket();
    s.bind(specific, sa(IP_B, 0)).unwrap();
    let wildcard = s.udp_socket();
    assert_eq!(errno(s.bind(wildcard, sa(ANY, 0))), Errno::EADDRINUSE);
}

// ---------------------------------------------------------------------------------------------
// Handles

#[test]
fn calls_on_a_closed_handle_are_ebadf() {
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let h = bound(s, sa(IP_B, 7000)).unwrap();
    s.close(h).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(errno(s.close(h)), Errno::EBADF);
    assert_eq!(errno(s.bind(h, sa(IP_B, 7001))), Errno::EBADF);
    assert_eq!(errno(s.connect(now, h, sa(IP_PROBE, 9))), Errno::EBADF);
    assert_eq!(errno(s.disconnect(h)), Errno::EBADF);
    assert_eq!(
        errno(s.send_to(now, h, b"x", sa(IP_PROBE, 9))),
        Errno::EBADF
    );
    assert_eq!(errno(s.recv_from(h, &mut buf)), Errno::EBADF);
    assert_eq!(errno(s.local_addr(h)), Errno::EBADF);
    assert_eq!(errno(s.peer_addr(h)), Errno::EBADF);
    assert_eq!(errno(s.pending(h)), Errno::EBADF);
    assert_eq!(errno(s.drops(h)), Errno::EBADF);
    assert_eq!(errno(s.set_reuse_addr(h, true)), Errno::EBADF);
    assert_eq!(errno(s.set_recv_buffer_size(h, 4096)), Errno::EBADF);
    assert_eq!(errno(s.take_error(h)), Errno::EBADF);
    assert_eq!(s.socket_count(), 0);
    // Its port is free.
    bound(s, sa(IP_B, 7000)).unwrap();
}

#[test]
fn a_closed_handle_never_reaches_the_socket_that_reuses_its_slot() {
    // Handles carry a generation: the slot of a closed socket is reused, its handle is not.
    let mut p = Probed::new();
    let s = p.stack();
    let old = s.udp_socket();
    s.close(old).unwrap();
    let new = s.udp_socket();
    assert_ne!(old, new);
    s.bind(new, sa(IP_B, 7000)).unwrap();
    assert_eq!(errno(s.local_addr(old)), Errno::EBADF);
    assert_eq!(errno(s.close(old)), Errno::EBADF);
    assert_eq!(s.local_addr(new).unwrap(), sa(IP_B, 7000));
    assert_eq!(s.socket_count(), 1);
    // Closing the new one twice: the second is EBADF, the first worked.
    s.close(new).unwrap();
    assert_eq!(errno(s.close(new)), Errno::EBADF);
}
