//! Rule tests of corking (L3.2): UDP_CORK and MSG_MORE build one datagram over several sends,
//! with the first call's destination; what is pending shows in SIOCOUTQ and POLLOUT (L6.6);
//! an error while appending discards it. The numbers are the kernel's (Linux 6.18, observed
//! with SIOCOUTQ while corked).
//!
//! Stack B (10.0.0.2) sends to the probe (10.0.0.9), which sees every frame.

use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::errno::Errno;
use udpstack::wire::{Ipv4Packet, UdpPacket};
use udpstack::{SendFlags, SocketHandle};
use udpstack_tests::fixture::*;

/// A host that never answers ARP: frames to it stay charged for 3 s.
const SILENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);

fn setup() -> (Probed, SocketHandle) {
    let mut p = Probed::new();
    p.introduce();
    let s = p.stack();
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, 4000)).unwrap();
    (p, h)
}

fn send(
    p: &mut Probed,
    h: SocketHandle,
    data: &[u8],
    to: Option<SocketAddrV4>,
    flags: SendFlags,
) -> Result<usize, Errno> {
    let now = p.now();
    p.stack()
        .send_with(now, h, data, to, flags)
        .map_err(|e| Errno(e.raw_os_error().expect("an errno")))
}

fn to(port: u16) -> Option<SocketAddrV4> {
    Some(sa(IP_PROBE, port))
}

/// The UDP datagrams (destination port, payload length) the probe received since last asked;
/// fragments are counted as IP packets of their own (port 0, their IP payload length).
fn datagrams(p: &mut Probed) -> Vec<(u16, usize)> {
    p.settle();
    p.take()
        .iter()
        .filter(|f| f.len() > 14 && f[12..14] == [8, 0])
        .map(|f| {
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            if ip.more_frags() || ip.frag_offset() > 0 {
                return (0, ip.payload().len());
            }
            let u = UdpPacket::new_checked(ip.payload()).unwrap();
            (u.dst_port(), u.payload().len())
        })
        .collect()
}

#[test]
fn corked_sends_make_one_datagram_to_the_first_destination() {
    // L3.2 (obs: 5 bytes to port 9, 7 to port 10 while corked: SIOCOUTQ 839, then one
    // 12-byte datagram to port 9 when uncorked).
    let (mut p, h) = setup();
    p.stack().set_cork(h, true).unwrap();
    assert_eq!(send(&mut p, h, b"aaaaa", to(9), SendFlags::empty()), Ok(5));
    assert_eq!(
        send(&mut p, h, b"bbbbbbb", to(10), SendFlags::empty()),
        Ok(7)
    );
    assert_eq!(p.stack().outq(h).unwrap(), 839);
    assert_eq!(datagrams(&mut p), []);
    assert_eq!(p.stack().stats().udp.out_datagrams, 0);
    p.stack().set_cork(h, false).unwrap();
    assert_eq!(datagrams(&mut p), [(9, 12)]);
    assert_eq!(p.stack().outq(h).unwrap(), 0);
    assert_eq!(p.stack().stats().udp.out_datagrams, 1);
    // Turning it off with nothing pending sends nothing.
    p.stack().set_cork(h, false).unwrap();
    assert_eq!(datagrams(&mut p), []);
}

#[test]
fn msg_more_appends_and_a_send_without_it_sends() {
    // L3.2 (obs: SIOCOUTQ 832 after 5 bytes with MSG_MORE; the next send, to another port,
    // completes the datagram to the first one).
    let (mut p, h) = setup();
    assert_eq!(send(&mut p, h, b"aaaaa", to(9), SendFlags::MORE), Ok(5));
    assert_eq!(p.stack().outq(h).unwrap(), 832);
    assert_eq!(
        send(&mut p, h, b"bbbbbbb", to(10), SendFlags::empty()),
        Ok(7)
    );
    assert_eq!(datagrams(&mut p), [(9, 12)]);
}

#[test]
fn with_data_pending_the_address_is_not_examined() {
    // L3.1, L3.2 (obs): no address on an unconnected socket and port 0 are accepted while a
    // datagram is pending; MSG_OOB is refused before, and the pending data survives it.
    let (mut p, h) = setup();
    send(&mut p, h, b"ab", to(9), SendFlags::MORE).unwrap();
    assert_eq!(send(&mut p, h, b"cd", None, SendFlags::MORE), Ok(2));
    assert_eq!(
        send(&mut p, h, b"ef", Some(sa(IP_PROBE, 0)), SendFlags::MORE),
        Ok(2)
    );
    assert_eq!(
        send(&mut p, h, b"gh", to(9), SendFlags::OOB),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(send(&mut p, h, b"ij", None, SendFlags::empty()), Ok(2));
    assert_eq!(datagrams(&mut p), [(9, 8)]);
}

#[test]
fn an_error_while_appending_discards_the_pending_datagram() {
    // L3.2, L3.3 (obs): 60000 + 6000 bytes pass 65507: EMSGSIZE, and the 60000 are gone too;
    // 60000 + 5507 is the limit. No counter moves.
    let (mut p, h) = setup();
    p.stack().set_cork(h, true).unwrap();
    send(&mut p, h, &[1; 60_000], to(9), SendFlags::empty()).unwrap();
    let before = p.stack().stats().clone();
    assert_eq!(
        send(&mut p, h, &[2; 6000], None, SendFlags::empty()),
        Err(Errno::EMSGSIZE)
    );
    assert_eq!(p.stack().outq(h).unwrap(), 0);
    assert_eq!(p.stack().stats().ip.out_discards, before.ip.out_discards);
    assert_eq!(p.stack().stats().udp, before.udp);
    p.stack().set_cork(h, false).unwrap();
    assert_eq!(datagrams(&mut p), []);
    p.stack().set_cork(h, true).unwrap();
    send(&mut p, h, &[1; 60_000], to(9), SendFlags::empty()).unwrap();
    assert_eq!(
        send(&mut p, h, &[2; 5507], None, SendFlags::empty()),
        Ok(5507)
    );
    assert_eq!(
        send(&mut p, h, &[3; 1], None, SendFlags::empty()),
        Err(Errno::EMSGSIZE)
    );
    p.stack().set_cork(h, false).unwrap();
    assert_eq!(datagrams(&mut p), []);
}

#[test]
fn corked_appends_stop_at_twice_the_send_buffer() {
    // L3.2, L6.5 (obs, SO_SNDBUF 4608, to a host that never answers ARP): 10 bytes, then four
    // 1400-byte appends; the fifth fails with ENOBUFS (OutDiscards, SndbufErrors) and drops the
    // datagram; the next sends start a new one, 7136 bytes after three.
    let (mut p, h) = setup();
    p.stack().set_send_buffer_size(h, 2304).unwrap();
    p.stack().set_cork(h, true).unwrap();
    let silent = Some(sa(SILENT, 9));
    send(&mut p, h, &[0; 10], silent, SendFlags::empty()).unwrap();
    for _ in 0..4 {
        assert_eq!(
            send(&mut p, h, &[0; 1400], silent, SendFlags::empty()),
            Ok(1400)
        );
    }
    assert_eq!(p.stack().outq(h).unwrap(), 9570);
    assert_eq!(
        send(&mut p, h, &[0; 1400], silent, SendFlags::empty()),
        Err(Errno::ENOBUFS)
    );
    let st = p.stack().stats();
    assert_eq!((st.ip.out_discards, st.udp.sndbuf_errors), (1, 1));
    assert_eq!(p.stack().outq(h).unwrap(), 0);
    for _ in 0..3 {
        send(&mut p, h, &[0; 1400], silent, SendFlags::empty()).unwrap();
    }
    assert_eq!(p.stack().outq(h).unwrap(), 7136);
}

#[test]
fn the_first_corked_send_needs_room_and_takes_a_pending_error() {
    // L3.2, L6.5, L1.6 (obs): with the send buffer full the first corked send is EAGAIN; a
    // pending error fails it too; both count OutDiscards (the packet allocation failed).
    let (mut p, h) = setup();
    p.stack().set_send_buffer_size(h, 2304).unwrap();
    let silent = Some(sa(SILENT, 9));
    for _ in 0..6 {
        send(&mut p, h, &[0; 100], silent, SendFlags::empty()).unwrap();
    }
    p.stack().set_cork(h, true).unwrap();
    assert_eq!(
        send(&mut p, h, &[0; 10], silent, SendFlags::empty()),
        Err(Errno::EAGAIN)
    );
    assert_eq!(p.stack().stats().ip.out_discards, 1);
    // A pending error: the probe refuses a connected socket's datagram.
    let (mut p, h) = setup();
    let now = p.now();
    p.stack().connect(now, h, sa(IP_PROBE, 5000)).unwrap();
    send(&mut p, h, b"knock", None, SendFlags::empty()).unwrap();
    p.settle();
    let frames = p.take();
    let sent = frames.iter().find(|f| f.len() > 42).unwrap().clone();
    refuse_frame(&mut p, &sent);
    p.stack().set_cork(h, true).unwrap();
    assert_eq!(
        send(&mut p, h, b"abc", None, SendFlags::empty()),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(p.stack().stats().ip.out_discards, 1);
    assert_eq!(send(&mut p, h, b"def", None, SendFlags::empty()), Ok(3));
}

/// The probe answers a datagram B sent with a port unreachable quoting it.
fn refuse_frame(p: &mut Probed, frame: &[u8]) {
    let quote = &frame[14..];
    let message = udpstack::wire::Icmpv4Message::DstUnreachable(
        udpstack::wire::DstUnreachable::PortUnreachable,
    );
    let icmp = icmp_message(&udpstack::wire::Icmpv4Repr {
        message,
        body: quote,
    });
    p.send(ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, udpstack::wire::IpProtocol::Icmp, icmp.len()),
        &icmp,
    ));
}

#[test]
fn a_zero_length_corked_datagram_is_sent_empty() {
    // L3.2, L7.7 (obs: SIOCOUTQ 832, then a datagram of 0 bytes).
    let (mut p, h) = setup();
    p.stack().set_cork(h, true).unwrap();
    send(&mut p, h, b"", to(9), SendFlags::empty()).unwrap();
    assert_eq!(p.stack().outq(h).unwrap(), 832);
    p.stack().set_cork(h, false).unwrap();
    assert_eq!(datagrams(&mut p), [(9, 0)]);
}

#[test]
fn corked_data_counts_against_pollout() {
    // L6.6 (obs, SO_SNDBUF 4608, to our own address, whose loopback route never fragments:
    // 10 bytes then three 500-byte appends, SIOCOUTQ 2332, no POLLOUT).
    let (mut p, h) = setup();
    p.stack().set_send_buffer_size(h, 2304).unwrap();
    p.stack().set_cork(h, true).unwrap();
    send(&mut p, h, &[0; 10], Some(sa(IP_B, 9)), SendFlags::empty()).unwrap();
    for _ in 0..3 {
        send(&mut p, h, &[0; 500], None, SendFlags::empty()).unwrap();
    }
    assert_eq!(p.stack().outq(h).unwrap(), 2332);
    assert!(!p.stack().readiness(h).unwrap().writable);
}

#[test]
fn a_large_corked_datagram_leaves_in_linux_s_fragments_and_frees_its_charge() {
    // L3.2, L3.4, L6.6: three 1000-byte appends make the fragments one 3000-byte send would
    // (1480, 1480, 48 bytes of IP payload); the charge moves to the packets and is gone once
    // they leave.
    let (mut p, h) = setup();
    p.stack().set_cork(h, true).unwrap();
    for _ in 0..3 {
        send(&mut p, h, &[7; 1000], to(9), SendFlags::empty()).unwrap();
    }
    let corked = p.stack().outq(h).unwrap();
    assert!(corked > 0);
    p.stack().set_cork(h, false).unwrap();
    assert_eq!(
        p.stack().outq(h).unwrap(),
        corked,
        "the same packets, now queued"
    );
    assert_eq!(datagrams(&mut p), [(0, 1480), (0, 1480), (0, 48)]);
    assert_eq!(p.stack().outq(h).unwrap(), 0);
}
