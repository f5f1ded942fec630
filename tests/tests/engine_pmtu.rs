//! Path MTU discovery between a stack and a router (the probe, 10.0.0.9, the stack's gateway):
//! fragmentation-needed messages update the shared PMTU cache (L1.8, L2.1), the six
//! IP_MTU_DISCOVER modes use it (L2.3), IP_MTU reports it (L2.5), and entries expire.

use std::net::Ipv4Addr;

use udpstack::errno::Errno;
use udpstack::udp::{ErrorOrigin, PmtuMode};
use udpstack::wire::icmpv4::DstUnreachable;
use udpstack::wire::{EthernetFrame, Icmpv4Message, Icmpv4Repr, IpProtocol, Ipv4Packet};
use udpstack::{Duration, SocketHandle};
use udpstack_tests::fixture::*;

/// A host behind the router.
const FAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The stack (10.0.0.2, gateway 10.0.0.9) and a socket in `mode`, connected to FAR:9 if asked.
fn setup(mode: PmtuMode, connect: bool) -> (Probed, SocketHandle) {
    let mut p = Probed::with(config(IP_B, MAC_B).gateway(IP_PROBE), 31);
    p.introduce();
    let h = p.stack().udp_socket();
    p.stack().set_mtu_discover(h, mode).unwrap();
    let now = p.now();
    if connect {
        p.stack().connect(now, h, sa(FAR, 9)).unwrap();
    }
    (p, h)
}

/// Sends `len` bytes to FAR:9 and returns what the router (probe) got.
fn send(p: &mut Probed, h: SocketHandle, len: usize) -> std::io::Result<Vec<Vec<u8>>> {
    let now = p.now();
    p.stack().send_to(now, h, &vec![0x5a; len], sa(FAR, 9))?;
    p.settle();
    Ok(p.take()
        .into_iter()
        .filter(|f| matches!(parse(f), Seen::Udp(..) | Seen::Ip(..)))
        .collect())
}

/// The router's fragmentation-needed (3/4) about `frame`, announcing `mtu`.
fn frag_needed(frame: &[u8], mtu: u16) -> Vec<u8> {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let quote = &eth.payload()[..ip.header_len() + 8];
    let msg = icmp_message(&Icmpv4Repr {
        message: Icmpv4Message::DstUnreachable(DstUnreachable::FragNeeded { next_hop_mtu: mtu }),
        body: quote,
    });
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, IpProtocol::Icmp, msg.len()),
        &msg,
    )
}

/// The IP packets' (length, DF) of frames.
fn shape(frames: &[Vec<u8>]) -> Vec<(usize, bool)> {
    frames
        .iter()
        .map(|f| {
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            (usize::from(ip.total_len()), ip.dont_frag())
        })
        .collect()
}

#[test]
fn do_mode_learns_the_mtu_and_refuses_larger_datagrams() {
    // L1.8, L2.1, L2.3, L2.5: a connected DO socket sends 1400 bytes with DF; the router says
    // 1280; the next send fails once with the pending EMSGSIZE, IP_MTU is 1280, and sends are
    // now limited to 1280 - 28.
    let (mut p, h) = setup(PmtuMode::Do, true);
    let sent = send(&mut p, h, 1400).unwrap();
    assert_eq!(shape(&sent), vec![(1428, true)]);
    p.send(frag_needed(&sent[0], 1280));
    assert_eq!(p.stack().mtu(h).unwrap(), 1280);
    assert_eq!(
        errno(send(&mut p, h, 100)),
        Errno::EMSGSIZE,
        "the pending error, once"
    );
    assert_eq!(
        errno(send(&mut p, h, 1253)),
        Errno::EMSGSIZE,
        "1253 + 28 > 1280"
    );
    assert_eq!(shape(&send(&mut p, h, 1252).unwrap()), vec![(1280, true)]);
}

#[test]
fn with_recverr_the_queue_shows_the_router_and_the_mtu() {
    // L1.7, L1.8: origin ICMP, type 3, code 4, info 1280, offender = the router.
    let (mut p, h) = setup(PmtuMode::Do, true);
    p.stack().set_recv_error(h, true).unwrap();
    let sent = send(&mut p, h, 1400).unwrap();
    p.send(frag_needed(&sent[0], 1280));
    let mut buf = [0u8; 64];
    let m = p.stack().recv_error(h, &mut buf).unwrap();
    assert_eq!(m.error.origin, ErrorOrigin::Icmp);
    assert_eq!(
        (m.error.icmp_type, m.error.icmp_code, m.error.info),
        (3, 4, 1280)
    );
    assert_eq!(m.error.offender, IP_PROBE);
    assert_eq!(m.addr, sa(FAR, 9));
}

#[test]
fn want_mode_fragments_to_the_learned_mtu() {
    // L2.3: after learning 1280, a 1400-byte datagram leaves fragmented, without DF, sized to
    // 1280 (1256 + 172 bytes of IP payload).
    let (mut p, h) = setup(PmtuMode::Want, false);
    let sent = send(&mut p, h, 1400).unwrap();
    assert_eq!(shape(&sent), vec![(1428, true)], "DF while it fits");
    p.send(frag_needed(&sent[0], 1280));
    // An unconnected WANT socket hears nothing without IP_RECVERR (L1.5).
    assert!(p.stack().take_error(h).unwrap().is_none());
    let frames = send(&mut p, h, 1400).unwrap();
    assert_eq!(shape(&frames), vec![(20 + 1256, false), (20 + 152, false)]);
    // Small datagrams still carry DF.
    assert_eq!(shape(&send(&mut p, h, 100).unwrap()), vec![(128, true)]);
}

#[test]
fn the_cache_is_shared_by_all_sockets() {
    // L2.1: entries are per destination, shared.
    let (mut p, h) = setup(PmtuMode::Want, false);
    let sent = send(&mut p, h, 1400).unwrap();
    p.send(frag_needed(&sent[0], 1000));
    let other = p.stack().udp_socket();
    let now = p.now();
    p.stack().set_mtu_discover(other, PmtuMode::Do).unwrap();
    p.stack().connect(now, other, sa(FAR, 53)).unwrap();
    assert_eq!(p.stack().mtu(other).unwrap(), 1000);
    // Another destination is unaffected.
    p.stack()
        .connect(now, other, sa(Ipv4Addr::new(192, 0, 2, 2), 53))
        .unwrap();
    assert_eq!(p.stack().mtu(other).unwrap(), 1500);
}

#[test]
fn larger_reports_are_ignored_and_tiny_ones_clamp_and_lock() {
    // L2.1: a report above the MTU in force changes nothing; one below min_pmtu sets 552 and
    // locks the entry, which then ignores reports and stops WANT's DF.
    let (mut p, h) = setup(PmtuMode::Want, true);
    let sent = send(&mut p, h, 1400).unwrap();
    p.send(frag_needed(&sent[0], 1300));
    p.send(frag_needed(&sent[0], 1400));
    assert_eq!(p.stack().mtu(h).unwrap(), 1300);
    p.send(frag_needed(&sent[0], 300));
    assert_eq!(p.stack().mtu(h).unwrap(), 552);
    p.send(frag_needed(&sent[0], 1000));
    assert_eq!(p.stack().mtu(h).unwrap(), 552, "locked");
    // Each report was a fatal EMSGSIZE for this connected socket (L1.8): clear it.
    assert_eq!(
        p.stack().take_error(h).unwrap().unwrap().raw_os_error(),
        Some(Errno::EMSGSIZE.0)
    );
    assert_eq!(
        shape(&send(&mut p, h, 100).unwrap()),
        vec![(128, false)],
        "no DF when locked"
    );
}

#[test]
fn entries_expire_after_mtu_expires() {
    // L2.1: 600 s by default.
    let (mut p, h) = setup(PmtuMode::Want, true);
    let sent = send(&mut p, h, 1400).unwrap();
    p.send(frag_needed(&sent[0], 1280));
    assert_eq!(p.stack().mtu(h).unwrap(), 1280);
    p.advance(Duration::from_secs(601));
    assert_eq!(p.stack().mtu(h).unwrap(), 1500);
}

#[test]
fn dont_mode_learns_but_hears_no_error() {
    // L1.8: in DONT mode the PMTU is learned and there is no error, even connected.
    let (mut p, h) = setup(PmtuMode::Dont, true);
    let sent = send(&mut p, h, 1400).unwrap();
    assert_eq!(shape(&sent), vec![(1428, false)]);
    p.send(frag_needed(&sent[0], 1280));
    assert!(p.stack().take_error(h).unwrap().is_none());
    assert_eq!(p.stack().mtu(h).unwrap(), 1280);
}

#[test]
fn interface_and_omit_modes_do_not_learn() {
    // L1.8, L2.3: INTERFACE and OMIT ignore fragmentation-needed for the cache.
    for mode in [PmtuMode::Interface, PmtuMode::Omit] {
        let (mut p, h) = setup(mode, true);
        let sent = send(&mut p, h, 1400).unwrap();
        p.send(frag_needed(&sent[0], 1280));
        assert_eq!(p.stack().mtu(h).unwrap(), 1500, "{mode:?}");
    }
}

#[test]
fn ip_no_pmtu_disc_changes_what_is_learned() {
    // L1.8: 1 treats the MTU as 0 (so 552, locked); 2 discards the message entirely.
    let (mut p, h) = setup(PmtuMode::Want, true);
    p.stack()
        .set_sysctl("net.ipv4.ip_no_pmtu_disc", "1")
        .unwrap();
    let sent = send(&mut p, h, 1400).unwrap();
    p.send(frag_needed(&sent[0], 1280));
    assert_eq!(p.stack().mtu(h).unwrap(), 552);

    let (mut p, h) = setup(PmtuMode::Do, true);
    p.stack()
        .set_sysctl("net.ipv4.ip_no_pmtu_disc", "2")
        .unwrap();
    let sent = send(&mut p, h, 1400).unwrap();
    p.send(frag_needed(&sent[0], 1280));
    assert_eq!(p.stack().mtu(h).unwrap(), 1500);
    assert!(
        p.stack().take_error(h).unwrap().is_none(),
        "discarded: no error either"
    );
}

#[test]
fn an_error_quoting_no_socket_teaches_nothing() {
    // L1.4 (RFC 5927): no matching socket, no PMTU update.
    let (mut p, h) = setup(PmtuMode::Do, true);
    let sent = send(&mut p, h, 1400).unwrap();
    p.stack().close(h).unwrap();
    p.send(frag_needed(&sent[0], 1280));
    let other = p.stack().udp_socket();
    let now = p.now();
    p.stack().connect(now, other, sa(FAR, 9)).unwrap();
    assert_eq!(p.stack().mtu(other).unwrap(), 1500);
    // __udp4_lib_err counts the unmatched error (L1.4), and that is all it does.
    assert_eq!(p.stack().stats().icmp.in_errors, 1);
}
