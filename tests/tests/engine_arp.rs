//! Rule tests of ARP and the neighbour cache as seen on the wire (`arp_process`,
//! `__neigh_event_send`, `neigh_timer_handler`, `arp_error_report`): answering requests,
//! resolution on first send, failure and the host unreachable it raises (L1.5), the bounded
//! queue of an unresolved neighbour, and ageing through STALE, DELAY and PROBE.

mod common;

use std::net::Ipv4Addr;

use common::*;
use udpstack::config::Config;
use udpstack::sim::Segment;
use udpstack::stats::DropReason;
use udpstack::udp::ErrorOrigin;
use udpstack::wire::{golden, ArpOperation, MacAddr};
use udpstack::{Duration, Instant, SocketHandle};
use udpstack_tests::fixture::*;

const NOBODY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);

/// Stack B and a probe at 10.0.0.9 that answers ARP only when told to.
fn lab(answer: bool) -> Lab {
    let mut lab = Lab::new(
        config(IP_B, MAC_B),
        Segment::default(),
        5,
        MAC_PROBE,
        &[IP_PROBE],
    );
    lab.answer_arp = answer;
    lab
}

fn socket(lab: &mut Lab, port: u16) -> SocketHandle {
    let s = lab.stack().udp_socket();
    lab.stack().bind(s, sa(IP_B, port)).unwrap();
    s
}

fn send(lab: &mut Lab, s: SocketHandle, data: &[u8], dst: std::net::SocketAddrV4) {
    let now = lab.now();
    lab.stack().send_to(now, s, data, dst).unwrap();
    lab.settle();
}

/// The ARP requests among timed frames: (arrival, Ethernet destination, target IP).
fn requests(frames: &[(Instant, Vec<u8>)]) -> Vec<(Instant, MacAddr, Ipv4Addr)> {
    frames
        .iter()
        .filter_map(|(t, f)| {
            let (eth, a) = arp(f)?;
            (a.operation == ArpOperation::Request).then(|| {
                // arp_solicit: from us, target MAC all zeros, broadcast or unicast.
                assert_eq!((a.sender_mac, a.sender_ip), (MAC_B, IP_B));
                assert_eq!(a.target_mac, MacAddr::ZERO);
                assert_eq!(eth.src, MAC_B);
                (*t, eth.dst, a.target_ip)
            })
        })
        .collect()
}

fn datagrams(frames: &[(Instant, Vec<u8>)]) -> Vec<(Instant, Vec<u8>)> {
    frames
        .iter()
        .filter(|(_, f)| !is_arp(f))
        .map(|(t, f)| (*t, ip(f).payload()[8..].to_vec()))
        .collect()
}

fn ms(from: Instant, to: Instant) -> u64 {
    (to - from).total_millis()
}

#[test]
fn answers_a_request_for_its_address_like_the_kernel() {
    // arp_process: a request for our address is answered, unicast to the requester, with
    // target = the requester (golden ARP_REPLY: kernel 10.0.0.1 answering 10.0.0.2).
    let mut lab = Lab::golden();
    let (peer, us) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
    let peer_mac = lab.probe_mac;
    lab.send(arp_frame(
        ArpOperation::Request,
        peer_mac,
        MacAddr::BROADCAST,
        peer,
        MacAddr::ZERO,
        us,
    ));
    let frames = lab.take();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0], golden::ARP_REPLY);
    // A request for another address is not answered.
    lab.send(arp_frame(
        ArpOperation::Request,
        peer_mac,
        MacAddr::BROADCAST,
        peer,
        MacAddr::ZERO,
        Ipv4Addr::new(10, 0, 0, 3),
    ));
    assert!(lab.take().is_empty());
    assert_eq!(lab.stack().stats().link.arp_replies_out, 1);
}

#[test]
fn a_request_for_us_teaches_the_requester_as_stale() {
    // neigh_event_ns: the requester's entry is created STALE. A send uses it at once (no
    // broadcast request), moves it to DELAY, and delay_first_probe_time (5 s) later a unicast
    // probe (PROBE) goes to the known MAC.
    let mut lab = lab(true);
    lab.send(arp_frame(
        ArpOperation::Request,
        MAC_PROBE,
        MacAddr::BROADCAST,
        IP_PROBE,
        MacAddr::ZERO,
        IP_B,
    ));
    lab.take();
    let s = socket(&mut lab, 4000);
    let t0 = lab.now();
    send(&mut lab, s, b"now", sa(IP_PROBE, 5000));
    lab.advance(Duration::from_secs(8));
    let frames = lab.take_timed();
    let d = datagrams(&frames);
    assert_eq!(d.len(), 1);
    assert!(ms(t0, d[0].0) < 5, "sent at once");
    let r = requests(&frames);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].1, r[0].2), (MAC_PROBE, IP_PROBE), "unicast probe");
    let at = ms(t0, r[0].0);
    assert!((5000..5100).contains(&at), "probe at {at} ms");
}

#[test]
fn first_send_resolves_then_sends_the_queued_datagrams_in_order() {
    // __neigh_event_send: the first frame creates an INCOMPLETE entry, queues, and a broadcast
    // request leaves at once; the reply (to our MAC) sends the queued frames, in order.
    let mut lab = lab(false);
    let s = socket(&mut lab, 4000);
    for i in 0..3u8 {
        send(&mut lab, s, &[i], sa(IP_PROBE, 5000));
    }
    let frames = lab.take_timed();
    let r = requests(&frames);
    assert_eq!(r.len(), 1, "one request for three datagrams");
    assert_eq!((r[0].1, r[0].2), (MacAddr::BROADCAST, IP_PROBE));
    assert!(datagrams(&frames).is_empty(), "held until resolved");
    lab.net.send_raw(
        lab.probe,
        arp_frame(ArpOperation::Reply, MAC_PROBE, MAC_B, IP_PROBE, MAC_B, IP_B),
    );
    lab.settle();
    let frames = lab.take_timed();
    let d: Vec<Vec<u8>> = datagrams(&frames).into_iter().map(|(_, d)| d).collect();
    assert_eq!(d, [vec![0], vec![1], vec![2]]);
    // Resolved: the next send goes straight out.
    send(&mut lab, s, &[3], sa(IP_PROBE, 5000));
    let frames = lab.take_timed();
    assert!(requests(&frames).is_empty());
    assert_eq!(datagrams(&frames).len(), 1);
}

#[test]
fn a_reply_in_a_broadcast_frame_only_makes_the_entry_stale() {
    // arp_process: only a reply addressed to our MAC (PACKET_HOST) confirms; one in a broadcast
    // frame only updates an existing entry to STALE, which is enough to send.
    let mut lab = lab(false);
    let s = socket(&mut lab, 4000);
    send(&mut lab, s, b"q", sa(IP_PROBE, 5000));
    lab.take();
    lab.send(arp_frame(
        ArpOperation::Reply,
        MAC_PROBE,
        MacAddr::BROADCAST,
        IP_PROBE,
        MAC_B,
        IP_B,
    ));
    let frames = lab.take_timed();
    assert_eq!(
        datagrams(&frames).len(),
        1,
        "STALE is usable: the queue is sent"
    );
}

/// Sends one datagram to 10.0.0.77, which never answers, and runs `secs` seconds.
fn unanswered(recv_err: bool, secs: u64) -> (Lab, SocketHandle, Instant) {
    let mut lab = lab(false);
    let s = socket(&mut lab, 4000);
    lab.stack().set_recv_error(s, recv_err).unwrap();
    let t0 = lab.now();
    send(&mut lab, s, b"hello?", sa(NOBODY, 9));
    lab.advance(Duration::from_secs(secs));
    (lab, s, t0)
}

#[test]
fn no_reply_means_three_broadcasts_a_second_apart_then_failure() {
    // neigh_timer_handler: mcast_solicit (3) broadcast requests at 0, 1 and 2 s (retrans_time),
    // failure at 3 s: the queued datagram is dropped (NeighborFailed).
    let (mut lab, _, t0) = unanswered(false, 2);
    assert_eq!(lab.stack().stats().drops(DropReason::NeighborFailed), 0);
    lab.advance(Duration::from_millis(990));
    assert_eq!(lab.stack().stats().drops(DropReason::NeighborFailed), 0);
    lab.advance(Duration::from_secs(10));
    let frames = lab.take_timed();
    let r = requests(&frames);
    assert_eq!(r.len(), 3, "{r:?}");
    for (i, (at, dst, target)) in r.iter().enumerate() {
        assert_eq!((*dst, *target), (MacAddr::BROADCAST, NOBODY));
        let at = ms(t0, *at);
        let want = 1000 * i as u64;
        assert!((want..want + 5).contains(&at), "request {i} at {at} ms");
    }
    assert!(datagrams(&frames).is_empty());
    let st = lab.stack().stats();
    assert_eq!(st.drops(DropReason::NeighborFailed), 1);
    assert_eq!(st.udp.out_datagrams, 1, "the send itself succeeded");
    // A new send starts over with three more requests.
    let s = socket(&mut lab, 4001);
    send(&mut lab, s, b"again?", sa(NOBODY, 9));
    lab.advance(Duration::from_secs(5));
    assert_eq!(requests(&lab.take_timed()).len(), 3);
    assert_eq!(lab.stack().stats().drops(DropReason::NeighborFailed), 2);
}

#[test]
fn failure_raises_a_host_unreachable_seen_with_recverr() {
    // arp_error_report → ipv4_link_failure: a host unreachable (3/1) about the dropped datagram
    // is sent to ourselves; it reaches the socket as EHOSTUNREACH, a soft error: with
    // IP_RECVERR queued (offender = our own address, msg_name = the destination) and pending.
    let (mut lab, s, _) = unanswered(true, 2);
    assert!(
        lab.stack().take_error(s).unwrap().is_none(),
        "not before 3 s"
    );
    lab.advance(Duration::from_secs(2));
    let mut buf = [0u8; 16];
    assert_eq!(errno(lab.stack().recv_from(s, &mut buf)), EHOSTUNREACH);
    let m = lab.stack().recv_error(s, &mut buf).unwrap();
    assert_eq!(m.error.errno, EHOSTUNREACH);
    assert_eq!(m.error.origin, ErrorOrigin::Icmp);
    assert_eq!((m.error.icmp_type, m.error.icmp_code), (3, 1));
    assert_eq!(m.error.offender, IP_B);
    assert_eq!(m.addr, sa(NOBODY, 9));
    assert_eq!(&buf[..m.len], b"hello?");
    let st = lab.stack().stats();
    assert_eq!(
        (st.icmp.out_dest_unreachs, st.icmp.in_dest_unreachs),
        (1, 1)
    );
    // The ICMP went to ourselves, not on the wire.
    assert!(datagrams(&lab.take_timed()).is_empty());
}

#[test]
fn failure_is_invisible_without_recverr() {
    // L1.5: EHOSTUNREACH is soft: without IP_RECVERR the socket hears nothing.
    let (mut lab, s, _) = unanswered(false, 5);
    assert_eq!(lab.stack().stats().drops(DropReason::NeighborFailed), 1);
    assert!(lab.stack().take_error(s).unwrap().is_none());
    assert_eq!(errno(lab.stack().recv_from(s, &mut [0; 8])), EAGAIN);
    assert_eq!(errno(lab.stack().recv_error(s, &mut [0; 8])), EAGAIN);
}

#[test]
fn the_unresolved_queue_is_bounded_and_drops_the_oldest() {
    // __neigh_event_send: frames wait up to unres_qlen_bytes (212992) of truesize; a frame that
    // does not fit pushes out the oldest. A 1514-byte frame costs 2304, so 92 fit; of 100
    // datagrams the first 8 are dropped (NeighborQueueOverflow) and the last 92 go out once the
    // neighbour answers.
    let mut lab = lab(false);
    let s = socket(&mut lab, 4000);
    let now = lab.now();
    for i in 0..100u8 {
        let mut data = vec![0u8; 1472];
        data[0] = i;
        lab.stack()
            .send_to(now, s, &data, sa(IP_PROBE, 5000))
            .unwrap();
    }
    lab.settle();
    let st = lab.stack().stats();
    assert_eq!(st.drops(DropReason::NeighborQueueOverflow), 8);
    assert_eq!(st.udp.out_datagrams, 100, "every send succeeded");
    lab.answer_arp = true;
    lab.advance(Duration::from_millis(1100)); // the second request is answered
    let frames = lab.take_timed();
    let firsts: Vec<u8> = datagrams(&frames).iter().map(|(_, d)| d[0]).collect();
    assert_eq!(firsts, (8..100).collect::<Vec<u8>>());
}

#[test]
fn a_smaller_unres_qlen_bytes_keeps_fewer() {
    // The bound is read from the sysctl at each use: 10 frames' worth keeps the last 10.
    let mut cfg: Config = config(IP_B, MAC_B);
    cfg.set_sysctl("net.ipv4.neigh.default.unres_qlen_bytes", "23040")
        .unwrap();
    let mut lab = Lab::new(cfg, Segment::default(), 5, MAC_PROBE, &[IP_PROBE]);
    lab.answer_arp = false;
    let s = socket(&mut lab, 4000);
    let now = lab.now();
    for i in 0..15u8 {
        let mut data = vec![0u8; 1472];
        data[0] = i;
        lab.stack()
            .send_to(now, s, &data, sa(IP_PROBE, 5000))
            .unwrap();
    }
    lab.settle();
    assert_eq!(
        lab.stack().stats().drops(DropReason::NeighborQueueOverflow),
        5
    );
    lab.answer_arp = true;
    lab.advance(Duration::from_millis(1100));
    let firsts: Vec<u8> = datagrams(&lab.take_timed())
        .iter()
        .map(|(_, d)| d[0])
        .collect();
    assert_eq!(firsts, (5..15).collect::<Vec<u8>>());
}

#[test]
fn entries_age_from_reachable_to_stale_then_delay_and_probe() {
    // neigh_timer_handler: a confirmed entry stays REACHABLE for reachable_time (15 to 45 s
    // around base_reachable_time 30 s): sends then need no ARP. Unused past it, it goes STALE;
    // the next send uses the known MAC at once (DELAY) and 5 s later a unicast probe checks
    // it (PROBE), whose answer makes it REACHABLE again.
    let mut lab = lab(true);
    let s = socket(&mut lab, 4000);
    send(&mut lab, s, b"resolve", sa(IP_PROBE, 5000));
    let frames = lab.take_timed();
    assert_eq!(requests(&frames).len(), 1);
    assert_eq!(datagrams(&frames).len(), 1);
    // Within reachable time, and long before it ends: no ARP, then or later.
    lab.advance(Duration::from_secs(5));
    send(&mut lab, s, b"reachable", sa(IP_PROBE, 5000));
    lab.advance(Duration::from_secs(55));
    let frames = lab.take_timed();
    assert!(requests(&frames).is_empty(), "{:?}", requests(&frames));
    assert_eq!(datagrams(&frames).len(), 1);
    // Now STALE: the datagram leaves at once, the unicast probe follows 5 s later.
    let t0 = lab.now();
    send(&mut lab, s, b"stale", sa(IP_PROBE, 5000));
    lab.advance(Duration::from_secs(4));
    let early = lab.take_timed();
    assert_eq!(datagrams(&early).len(), 1);
    assert!(ms(t0, datagrams(&early)[0].0) < 5);
    assert!(requests(&early).is_empty(), "no probe during DELAY");
    lab.advance(Duration::from_secs(10));
    let r = requests(&lab.take_timed());
    assert_eq!(r.len(), 1, "one probe, answered: {r:?}");
    assert_eq!((r[0].1, r[0].2), (MAC_PROBE, IP_PROBE));
    let at = ms(t0, r[0].0);
    assert!((5000..5100).contains(&at), "probe at {at} ms");
}

#[test]
fn unanswered_unicast_probes_fail_the_entry() {
    // PROBE: ucast_solicit (3) unicast requests retrans_time apart, then FAILED; the next send
    // resolves from scratch with broadcasts.
    let mut lab = lab(true);
    let s = socket(&mut lab, 4000);
    send(&mut lab, s, b"resolve", sa(IP_PROBE, 5000));
    lab.advance(Duration::from_secs(60)); // STALE by now
    lab.take();
    lab.answer_arp = false;
    let t0 = lab.now();
    send(&mut lab, s, b"stale", sa(IP_PROBE, 5000));
    lab.advance(Duration::from_secs(12));
    let frames = lab.take_timed();
    let r = requests(&frames);
    assert_eq!(r.len(), 3, "{r:?}");
    for (i, (at, dst, _)) in r.iter().enumerate() {
        assert_eq!(*dst, MAC_PROBE, "unicast");
        let at = ms(t0, *at);
        let want = 5000 + 1000 * i as u64;
        assert!((want..want + 100).contains(&at), "probe {i} at {at} ms");
    }
    send(&mut lab, s, b"failed", sa(IP_PROBE, 5000));
    let r = requests(&lab.take_timed());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1, MacAddr::BROADCAST);
}

#[test]
fn failure_host_unreachables_pass_the_global_bucket() {
    // __icmp_send for arp_error_report: the offending skb left by the Ethernet device, so the
    // global bucket (icmpv4_global_allow, burst 50) applies; only the per-destination check is
    // skipped, because the error is routed to ourselves over loopback (icmpv4_xrlim_allow), and
    // every error let through still consumes 0-2 global credits. With 92 datagrams waiting for
    // a neighbour that never answers, about 50 host unreachables are sent at the failure and the
    // rest count OutRateLimitGlobal.
    let mut lab = lab(false);
    let s = socket(&mut lab, 4000);
    lab.stack().set_recv_error(s, true).unwrap();
    let now = lab.now();
    for _ in 0..92 {
        lab.stack()
            .send_to(now, s, &[0u8; 1472], sa(NOBODY, 9))
            .unwrap();
    }
    lab.advance(Duration::from_secs(4));
    let st = lab.stack().stats().clone();
    assert_eq!(st.drops(DropReason::NeighborFailed), 92);
    assert_eq!(st.icmp.out_rate_limit_host, 0);
    assert!(st.icmp.out_rate_limit_global > 0, "{:?}", st.icmp);
    assert_eq!(
        st.icmp.out_dest_unreachs + st.icmp.out_rate_limit_global,
        92
    );
    let mut queued = 0;
    while lab.stack().recv_error(s, &mut [0; 8]).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, st.icmp.out_dest_unreachs);
}
