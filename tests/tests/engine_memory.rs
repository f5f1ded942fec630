//! Rule tests of socket memory: when a read datagram's memory is released (L6.3, Linux's
//! deferred `udp_rmem_release`), the pages all sockets hold against `udp_mem` (L6.4), and the
//! send buffer: packets charged until they leave, EAGAIN, ENOBUFS, `SndbufErrors`, SIOCOUTQ
//! and POLLOUT (L6.5, L6.6).
//!
//! Stack B (10.0.0.2) gets hand-built datagrams from the probe ([`Probed`]). Tiny datagrams
//! cost 832 bytes of truesize each (L6.2).

use std::net::SocketAddrV4;

use std::net::Ipv4Addr;

use udpstack::errno::Errno;
use udpstack::{Duration, SocketHandle, Stack};
use udpstack_tests::fixture::*;

const TINY: usize = 832;

/// A stack whose sysctls are set from `sysctls`, and a socket on 7000 with SO_RCVBUF `rcvbuf`
/// (stored doubled).
fn receiver(sysctls: &[(&str, &str)], rcvbuf: i32) -> (Probed, SocketHandle) {
    let mut c = config(IP_B, MAC_B);
    for (name, value) in sysctls {
        c.set_sysctl(name, value).unwrap();
    }
    let mut p = Probed::with(c, 3);
    let h = open(p.stack(), 7000, rcvbuf);
    (p, h)
}

fn open(s: &mut Stack, port: u16, rcvbuf: i32) -> SocketHandle {
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, port)).unwrap();
    s.set_recv_buffer_size(h, rcvbuf).unwrap();
    h
}

fn tiny_to(p: &mut Probed, port: u16, n: u16) {
    for i in 0..n {
        from_probe(p, 5000 + i, sa(IP_B, port), b"0123456789");
    }
}

/// The rx_queue and drops columns of the socket's /proc/net/udp row.
fn shown(s: &Stack, local: SocketAddrV4) -> (usize, u64) {
    let row = udp_row(s, local);
    let rx = row[4].split(':').nth(1).unwrap();
    (
        usize::from_str_radix(rx, 16).unwrap(),
        row.last().unwrap().parse().unwrap(),
    )
}

#[test]
fn a_read_datagram_stays_charged_until_a_quarter_of_rcvbuf_is_read() {
    // L6.3 with udp_rmem_release (obs on Linux 6.18 over TAP, rcvbuf 8192, tiny datagrams):
    // reads are released in batches of rcvbuf/4 (2048 bytes) while datagrams remain, so a full
    // socket that read one or two datagrams still refuses the next; /proc/net/udp does not
    // show the read ones (rx_queue = sk_rmem_alloc - forward_deficit).
    let (mut p, h) = receiver(&[], 4096);
    let local = sa(IP_B, 7000);
    tiny_to(&mut p, 7000, 9);
    let mut seen = vec![shown(p.stack(), local)];
    let mut buf = [0u8; 64];
    for _ in 0..5 {
        p.stack().recv_from(h, &mut buf).unwrap();
        seen.push(shown(p.stack(), local));
        tiny_to(&mut p, 7000, 1);
        seen.push(shown(p.stack(), local));
    }
    // The kernel's transcript, line by line.
    assert_eq!(
        seen,
        [
            (7488, 0),
            (6656, 0),
            (6656, 1),
            (5824, 1),
            (5824, 2),
            (4992, 2),
            (5824, 2),
            (4992, 2),
            (5824, 2),
            (4992, 2),
            (5824, 2),
        ]
    );
    assert_eq!(p.stack().stats().udp.rcvbuf_errors, 2);
}

#[test]
fn the_last_datagram_read_releases_everything() {
    // L6.3: with the reader's queue empty, the deficit is released whatever its size.
    let (mut p, h) = receiver(&[], 1 << 20);
    tiny_to(&mut p, 7000, 2);
    let mut buf = [0u8; 64];
    p.stack().recv_from(h, &mut buf).unwrap();
    assert_eq!(p.stack().recv_queue_bytes(h).unwrap(), 2 * TINY, "deferred");
    p.stack().recv_from(h, &mut buf).unwrap();
    assert_eq!(p.stack().recv_queue_bytes(h).unwrap(), 0);
}

#[test]
fn arrivals_after_the_reader_took_its_batch_do_not_delay_the_release() {
    // L6.3: a reader works from its own queue, refilled only when empty; datagrams that arrive
    // meanwhile wait in the socket's queue and do not count as "left to read" for the release.
    let (mut p, h) = receiver(&[], 1 << 20);
    tiny_to(&mut p, 7000, 1);
    let mut buf = [0u8; 64];
    // FIONREAD moves the one datagram to the reader's queue (first_packet_length).
    assert_eq!(p.stack().pending(h).unwrap(), 10);
    tiny_to(&mut p, 7000, 1);
    p.stack().recv_from(h, &mut buf).unwrap();
    assert_eq!(
        p.stack().recv_queue_bytes(h).unwrap(),
        TINY,
        "the first is released: the reader's queue is empty"
    );
    // Without the FIONREAD both would have been in the reader's queue and the release put off.
    let (mut q, g) = receiver(&[], 1 << 20);
    tiny_to(&mut q, 7000, 2);
    q.stack().recv_from(g, &mut buf).unwrap();
    assert_eq!(q.stack().recv_queue_bytes(g).unwrap(), 2 * TINY);
}

#[test]
fn udp_mem_max_refuses_pages_and_counts_mem_errors() {
    // L6.4: above udp_mem[2] pages nothing more is granted: MemErrors and InErrors, the
    // socket's drops, not RcvbufErrors. One page (4096 bytes) pays for four tiny datagrams.
    // mem_pcpu_rsv 0: exact accounting.
    let (mut p, a) = receiver(
        &[
            ("net.core.mem_pcpu_rsv", "0"),
            ("net.ipv4.udp_mem", "0 0 1"),
        ],
        1 << 20,
    );
    let b = open(p.stack(), 7001, 1 << 20);
    tiny_to(&mut p, 7000, 5);
    tiny_to(&mut p, 7001, 1);
    let s = p.stack();
    assert_eq!(s.recv_queue_bytes(a).unwrap(), 4 * TINY);
    assert_eq!(s.recv_queue_bytes(b).unwrap(), 0);
    let udp = &s.stats().udp;
    assert_eq!(
        (udp.mem_errors, udp.in_errors, udp.rcvbuf_errors),
        (2, 2, 0)
    );
    assert_eq!((s.drops(a).unwrap(), s.drops(b).unwrap()), (1, 1));
    assert_eq!(s.udp_memory().allocated(), 1);
    assert_eq!(s.sockstat(), "UDP: inuse 2 mem 1\n");
}

#[test]
fn between_min_and_max_only_a_socket_under_udp_rmem_min_is_served() {
    // L6.4: over udp_mem[0] (and at or under udp_mem[2]) a socket gets pages only while it holds
    // less than udp_rmem_min (4096) — its sk_rmem_alloc with the new datagram. So every socket
    // can still receive a little; a greedy one cannot grow.
    let (mut p, a) = receiver(
        &[
            ("net.core.mem_pcpu_rsv", "0"),
            ("net.ipv4.udp_mem", "0 0 1000"),
        ],
        1 << 20,
    );
    tiny_to(&mut p, 7000, 6);
    // 4 paid by the first page (3328 < 4096 when the first was charged); the fifth would make
    // 4160 ≥ 4096 and needs a second page: refused.
    assert_eq!(p.stack().recv_queue_bytes(a).unwrap(), 4 * TINY);
    assert_eq!(p.stack().stats().udp.mem_errors, 2);
    // Another socket starts small, so it is served.
    let b = open(p.stack(), 7001, 1 << 20);
    tiny_to(&mut p, 7001, 1);
    assert_eq!(p.stack().recv_queue_bytes(b).unwrap(), TINY);
    // Pressure (udp_mem[1]) changes nothing for UDP.
    let (mut q, c) = receiver(
        &[
            ("net.core.mem_pcpu_rsv", "0"),
            ("net.ipv4.udp_mem", "1000 0 2000"),
        ],
        1 << 20,
    );
    tiny_to(&mut q, 7000, 20);
    assert_eq!(q.stack().recv_queue_bytes(c).unwrap(), 20 * TINY);
    assert_eq!(q.stack().stats().udp.mem_errors, 0);
}

#[test]
fn pages_go_back_when_datagrams_are_read_and_sockets_close() {
    // L6.4: a release returns the whole pages it frees but one byte short (`partial`), so a
    // socket that read everything keeps one page for its next datagram; a closed socket
    // returns everything.
    let (mut p, a) = receiver(&[("net.core.mem_pcpu_rsv", "0")], 1 << 20);
    tiny_to(&mut p, 7000, 9);
    assert_eq!(
        p.stack().udp_memory().allocated(),
        2,
        "9 × 832 bytes in 2 pages"
    );
    let mut buf = [0u8; 64];
    for _ in 0..9 {
        p.stack().recv_from(a, &mut buf).unwrap();
    }
    assert_eq!(p.stack().udp_memory().allocated(), 1, "one page kept");
    tiny_to(&mut p, 7000, 4);
    assert_eq!(
        p.stack().udp_memory().allocated(),
        1,
        "paid from the kept page"
    );
    tiny_to(&mut p, 7000, 1);
    assert_eq!(p.stack().udp_memory().allocated(), 2);
    p.stack().close(a).unwrap();
    assert_eq!(p.stack().udp_memory().allocated(), 0);
    assert_eq!(p.stack().udp_memory().reserved(), 0);
}

#[test]
fn the_per_cpu_reserve_lets_the_limit_be_overshot() {
    // L6.4, as Linux 6.18 counts: pages reach the global counter in batches of
    // net.core.mem_pcpu_rsv (256 by default), and the limits are compared with the global
    // counter. With udp_mem "0 0 1", a socket's first 255 pages are granted all the same.
    let (mut p, a) = receiver(&[("net.ipv4.udp_mem", "0 0 1")], i32::MAX);
    // Datagrams use their pages to the byte: 1255 of them fit in 255 pages, still in the
    // reserve, and the counter the limit is compared with says 0.
    let n = 255 * 4096 / TINY;
    tiny_to(&mut p, 7000, n as u16);
    assert_eq!(p.stack().recv_queue_bytes(a).unwrap(), n * TINY);
    assert_eq!(p.stack().udp_memory().allocated(), 0);
    assert_eq!(p.stack().udp_memory().reserved(), 255);
    // The 256th page drains the reserve into the counter, which is then over the limit: the
    // datagram is refused and its page given back (to the reserve, which lags behind again).
    tiny_to(&mut p, 7000, 1);
    assert_eq!(p.stack().stats().udp.mem_errors, 1);
    assert_eq!(p.stack().udp_memory().reserved(), 255);
    assert_eq!(p.stack().udp_memory().allocated(), 256);
}

#[test]
fn error_queue_entries_borrow_from_the_forward_allocation() {
    // L1.7, L6.4: an error-queue entry is charged to the receive buffer and paid from the
    // socket's reserve without asking udp_mem (sk_mem_charge); reading it returns whole pages.
    let (mut p, a) = receiver(&[("net.core.mem_pcpu_rsv", "0")], 1 << 20);
    p.introduce();
    p.stack().set_recv_error(a, true).unwrap();
    let now = p.now();
    p.stack()
        .send_to(now, a, b"knock", sa(IP_PROBE, 9))
        .unwrap();
    p.settle();
    let frames = p.take();
    let sent = frames.iter().find(|f| f.len() > 42).expect("the datagram");
    let quote = sent[14..].to_vec();
    let message = udpstack::wire::Icmpv4Message::DstUnreachable(
        udpstack::wire::DstUnreachable::PortUnreachable,
    );
    let icmp = icmp_message(&udpstack::wire::Icmpv4Repr {
        message,
        body: &quote,
    });
    p.send(ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, udpstack::wire::IpProtocol::Icmp, icmp.len()),
        &icmp,
    ));
    let charged = p.stack().recv_queue_bytes(a).unwrap();
    assert!(charged > 0, "the entry is charged");
    assert_eq!(p.stack().udp_memory().reserved(), 0, "no page asked for");
    // A datagram while the entry is queued: the socket's reserve is negative, so the page it
    // takes also covers the entry.
    tiny_to(&mut p, 7000, 1);
    assert_eq!(p.stack().udp_memory().reserved(), 1);
    assert_eq!(p.stack().recv_queue_bytes(a).unwrap(), charged + TINY);
    p.stack().recv_error(a, &mut [0; 64]).unwrap();
    p.stack().recv_from(a, &mut [0; 64]).unwrap();
    assert_eq!(p.stack().recv_queue_bytes(a).unwrap(), 0);
    assert_eq!(p.stack().udp_memory().reserved(), 1, "one page kept");
    p.stack().close(a).unwrap();
    assert_eq!(p.stack().udp_memory().reserved(), 0);
}

// ---------------------------------------------------------------------------------------------
// L6.5, L6.6: the send buffer.

/// A host on the segment that never answers ARP: frames to it wait in the neighbour queue,
/// charged to their sockets, until resolution fails (3 s).
const SILENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);
/// An off-link address: no route (B has no gateway).
const NOWHERE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// A socket on port 6000 with SO_SNDBUF `sndbuf` (stored doubled).
fn sender(sysctls: &[(&str, &str)], sndbuf: i32) -> (Probed, SocketHandle) {
    let (mut p, _) = receiver(sysctls, 4096);
    let s = p.stack();
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, 6000)).unwrap();
    s.set_send_buffer_size(h, sndbuf).unwrap();
    (p, h)
}

fn send_len(p: &mut Probed, h: SocketHandle, len: usize, to: Ipv4Addr) -> Result<usize, Errno> {
    send_port(p, h, len, sa(to, 9))
}

fn send_port(
    p: &mut Probed,
    h: SocketHandle,
    len: usize,
    to: SocketAddrV4,
) -> Result<usize, Errno> {
    let now = p.now();
    let r = p.stack().send_to(now, h, &vec![0x77; len], to);
    r.map_err(|e| Errno(e.raw_os_error().expect("an errno")))
}

#[test]
fn packets_are_charged_to_the_send_buffer_until_they_leave() {
    // L6.5, L6.6: SIOCOUTQ counts a packet's truesize from the send until the device takes it
    // (poll_transmit), or until it is dropped (here: ARP gives up after 3 s).
    let (mut p, h) = sender(&[], 1 << 20);
    p.introduce();
    send_len(&mut p, h, 100, IP_PROBE).unwrap();
    assert_eq!(p.stack().outq(h).unwrap(), 832, "queued for the device");
    p.settle();
    assert_eq!(p.stack().outq(h).unwrap(), 0, "sent");
    send_len(&mut p, h, 100, SILENT).unwrap();
    send_len(&mut p, h, 3000, SILENT).unwrap();
    assert_eq!(p.stack().outq(h).unwrap(), 832 + 2304 + 2304 + 832);
    let row = udp_row(p.stack(), sa(IP_B, 6000));
    assert_eq!(row[4], format!("{:08X}:00000000", 832 + 2304 + 2304 + 832));
    p.advance(Duration::from_secs(4));
    assert_eq!(p.stack().outq(h).unwrap(), 0, "freed when ARP failed");
    // Datagrams to ourselves go through the loopback device, which frees them at once.
    send_len(&mut p, h, 100, IP_B).unwrap();
    assert_eq!(p.stack().outq(h).unwrap(), 0);
}

#[test]
fn a_full_send_buffer_is_eagain_and_taints_the_socket_s_later_errors() {
    // L6.5 (obs: SO_SNDBUF 2304 → 4608: six 100-byte datagrams, the seventh EAGAIN with
    // SndbufErrors; afterwards ENETUNREACH and EMSGSIZE count SndbufErrors too — SOCK_NOSPACE
    // stays set — but EINVAL for port 0 and EMSGSIZE above 65535, refused before the route
    // lookup, do not).
    let (mut p, h) = sender(&[], 2304);
    for _ in 0..6 {
        send_len(&mut p, h, 100, SILENT).unwrap();
    }
    let errors = |p: &mut Probed| p.stack().stats().udp.sndbuf_errors;
    assert_eq!(send_len(&mut p, h, 100, SILENT), Err(Errno::EAGAIN));
    assert_eq!(errors(&mut p), 1);
    // The packet could not be allocated: Ip OutDiscards too (obs).
    assert_eq!(p.stack().stats().ip.out_discards, 1);
    assert_eq!(p.stack().stats().udp.out_datagrams, 6);
    assert_eq!(send_len(&mut p, h, 1, NOWHERE), Err(Errno::ENETUNREACH));
    assert_eq!(errors(&mut p), 2);
    p.stack()
        .set_mtu_discover(h, udpstack::udp::PmtuMode::Do)
        .unwrap();
    assert_eq!(send_len(&mut p, h, 2000, SILENT), Err(Errno::EMSGSIZE));
    assert_eq!(errors(&mut p), 3);
    assert_eq!(send_port(&mut p, h, 1, sa(SILENT, 0)), Err(Errno::EINVAL));
    assert_eq!(send_len(&mut p, h, 65536, SILENT), Err(Errno::EMSGSIZE));
    assert_eq!(errors(&mut p), 3);
}

#[test]
fn fragments_beyond_twice_the_send_buffer_are_enobufs() {
    // L6.5 (obs: each packet after a datagram's first needs the bytes in flight, its own
    // packets so far and a bias of 1 to stay within 2 × SO_SNDBUF): the largest datagram from
    // an empty buffer is 5912 bytes at SO_SNDBUF 4608, 11832 at 8192 and at 9216. ENOBUFS
    // sends nothing, counts SndbufErrors, and does not taint the socket.
    for (sndbuf, largest) in [(2304, 5912), (4096, 11_832), (4608, 11_832)] {
        let (mut p, h) = sender(&[], sndbuf);
        assert_eq!(
            send_len(&mut p, h, largest + 1, SILENT),
            Err(Errno::ENOBUFS),
            "{sndbuf}"
        );
        assert_eq!(p.stack().outq(h).unwrap(), 0);
        assert_eq!(p.stack().stats().udp.sndbuf_errors, 1);
        assert_eq!(p.stack().stats().ip.out_discards, 1, "obs");
        assert_eq!(send_len(&mut p, h, 1, NOWHERE), Err(Errno::ENETUNREACH));
        assert_eq!(p.stack().stats().udp.sndbuf_errors, 1, "not tainted");
        assert_eq!(
            send_len(&mut p, h, largest, SILENT),
            Ok(largest),
            "{sndbuf}"
        );
    }
}

#[test]
fn writable_needs_in_flight_below_half_the_send_buffer() {
    // L6.6 (obs, SO_SNDBUF 4608: POLLOUT with 0, 832 and 1664 bytes in flight, not with 2496).
    let (mut p, h) = sender(&[], 2304);
    let mut writable = Vec::new();
    for _ in 0..4 {
        writable.push(p.stack().readiness(h).unwrap().writable);
        send_len(&mut p, h, 10, SILENT).unwrap();
    }
    assert_eq!(writable, [true, true, true, false]);
}

#[test]
fn a_closed_socket_s_packets_charge_no_one_when_they_go() {
    // L6.5: a socket closed with a packet in flight; a new socket in its slot is not charged
    // for it when it goes (here: dropped when ARP fails, 3 s after it was sent).
    let (mut p, h) = sender(&[], 1 << 20);
    send_len(&mut p, h, 100, SILENT).unwrap();
    p.stack().close(h).unwrap();
    p.advance(Duration::from_millis(2500));
    let s = p.stack();
    let g = s.udp_socket();
    s.bind(g, sa(IP_B, 6001)).unwrap();
    send_len(&mut p, g, 100, Ipv4Addr::new(10, 0, 0, 78)).unwrap();
    assert_eq!(p.stack().outq(g).unwrap(), 832);
    p.advance(Duration::from_millis(1000));
    assert_eq!(
        p.stack().outq(g).unwrap(),
        832,
        "the old packet went, not this one"
    );
    p.advance(Duration::from_secs(3));
    assert_eq!(p.stack().outq(g).unwrap(), 0);
}
