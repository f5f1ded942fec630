//! Rule tests for the receive side of a socket: recv (L7.6), FIONREAD (L7.7), the receive
//! counters (L5.5), buffer sizes (L6.1), receive-buffer charging and admission (L6.2, L6.3), and
//! the `/proc/net/udp` and `/proc/net/snmp` views.
//!
//! Stack B (10.0.0.2) gets hand-built datagrams from the probe (10.0.0.9, [`Probed`]) or real
//! ones from stack A (10.0.0.1, [`Pair`]). Every test cites the rule it checks.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::errno::Errno;
use udpstack::{RecvFlags, SocketHandle, Stack};
use udpstack_tests::fixture::*;

/// A socket bound to `addr`.
fn bound(stack: &mut Stack, addr: SocketAddrV4) -> SocketHandle {
    let h = stack.udp_socket();
    stack.bind(h, addr).expect("bind");
    h
}

/// The values of the `Udp:` line of the stack's /proc/net/snmp.
fn udp_snmp(stack: &Stack) -> Vec<u64> {
    let text = stack.snmp();
    let line = text
        .lines()
        .filter(|l| l.starts_with("Udp:"))
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    line.split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// L7.6 recv

#[test]
fn recv_returns_one_datagram_per_call_then_eagain() {
    // L7.6: one datagram per call, in arrival order, with its sender; empty → EAGAIN (11).
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"first");
    from_probe(&mut p, 5001, sa(IP_B, 7000), b"second!");
    let s = p.stack();
    let mut buf = [0u8; 64];
    let r = s.recv_with(h, &mut buf, RecvFlags::empty()).unwrap();
    assert_eq!(
        (&buf[..r.len], r.from, r.truncated),
        (&b"first"[..], sa(IP_PROBE, 5000), false)
    );
    let r = s.recv_with(h, &mut buf, RecvFlags::empty()).unwrap();
    assert_eq!(
        (&buf[..r.len], r.from, r.truncated),
        (&b"second!"[..], sa(IP_PROBE, 5001), false)
    );
    for flags in [RecvFlags::empty(), RecvFlags::DONTWAIT, RecvFlags::PEEK] {
        let e = s.recv_with(h, &mut buf, flags).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(11), "{flags:?}");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
    assert_eq!(s.recv_queue_bytes(h).unwrap(), 0);
}

#[test]
fn a_short_buffer_truncates_and_discards_the_rest() {
    // L7.6 (obs): a short buffer gets the start of the datagram and MSG_TRUNC; the rest is
    // lost, the next call reads the next datagram.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"0123456789");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"next");
    let s = p.stack();
    let mut buf = [0u8; 4];
    let r = s.recv_with(h, &mut buf, RecvFlags::empty()).unwrap();
    assert_eq!((r.len, r.truncated, &buf[..]), (4, true, &b"0123"[..]));
    let r = s.recv_with(h, &mut buf, RecvFlags::empty()).unwrap();
    assert_eq!((r.len, r.truncated, &buf[..]), (4, false, &b"next"[..]));
}

#[test]
fn the_trunc_flag_returns_the_full_length() {
    // L7.6: with MSG_TRUNC the call returns the datagram's real length, copying only what fits.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"0123456789");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"ab");
    let s = p.stack();
    let mut buf = [0u8; 4];
    let r = s.recv_with(h, &mut buf, RecvFlags::TRUNC).unwrap();
    assert_eq!((r.len, r.truncated, &buf[..]), (10, true, &b"0123"[..]));
    // A datagram that fits: its length, not truncated.
    let r = s.recv_with(h, &mut buf, RecvFlags::TRUNC).unwrap();
    assert_eq!((r.len, r.truncated, &buf[..2]), (2, false, &b"ab"[..]));
}

#[test]
fn a_zero_length_read_consumes_the_datagram() {
    // L7.6 (obs): reading into an empty buffer still takes the datagram off the queue.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"gone");
    from_probe(&mut p, 5001, sa(IP_B, 7000), b"kept");
    let s = p.stack();
    let r = s.recv_with(h, &mut [], RecvFlags::empty()).unwrap();
    assert_eq!((r.len, r.from, r.truncated), (0, sa(IP_PROBE, 5000), true));
    let r = s.recv_with(h, &mut [], RecvFlags::TRUNC).unwrap();
    assert_eq!((r.len, r.from, r.truncated), (4, sa(IP_PROBE, 5001), true));
    assert_eq!(
        errno(s.recv_with(h, &mut [], RecvFlags::empty())),
        Errno::EAGAIN
    );
}

#[test]
fn peek_leaves_the_datagram_queued() {
    // L7.6: MSG_PEEK returns the first datagram and leaves it (and its charge) in place.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"look");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"later");
    let s = p.stack();
    let charged = s.recv_queue_bytes(h).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..3 {
        let r = s.recv_with(h, &mut buf, RecvFlags::PEEK).unwrap();
        assert_eq!((&buf[..r.len], r.truncated), (&b"look"[..], false));
    }
    // Peeking with a short buffer and MSG_TRUNC.
    let r = s
        .recv_with(h, &mut buf[..2], RecvFlags::PEEK | RecvFlags::TRUNC)
        .unwrap();
    assert_eq!((r.len, r.truncated), (4, true));
    assert_eq!(s.recv_queue_bytes(h).unwrap(), charged);
    assert_eq!(s.pending(h).unwrap(), 4);
    let (n, _) = s.recv_from(h, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"look");
    let (n, _) = s.recv_from(h, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"later");
}

#[test]
fn waitall_has_no_effect() {
    // L7.6: MSG_WAITALL has no effect for UDP: one datagram, possibly short.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"ab");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"cd");
    let mut buf = [0u8; 16];
    let r = p
        .stack()
        .recv_with(h, &mut buf, RecvFlags::WAITALL)
        .unwrap();
    assert_eq!(&buf[..r.len], b"ab");
}

// ---------------------------------------------------------------------------------------------
// L7.7 FIONREAD and zero-length datagrams

#[test]
fn pending_is_the_first_datagram_s_length() {
    // L7.7 (obs): FIONREAD = payload length of the first datagram, or 0.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    assert_eq!(p.stack().pending(h).unwrap(), 0);
    from_probe(&mut p, 5000, sa(IP_B, 7000), &[7u8; 100]);
    from_probe(&mut p, 5000, sa(IP_B, 7000), &[7u8; 30]);
    let s = p.stack();
    assert_eq!(s.pending(h).unwrap(), 100);
    s.recv_from(h, &mut [0u8; 8]).unwrap();
    assert_eq!(s.pending(h).unwrap(), 30);
    s.recv_from(h, &mut [0u8; 8]).unwrap();
    assert_eq!(s.pending(h).unwrap(), 0);
}

#[test]
fn zero_length_datagrams_are_sent_and_received() {
    // L7.7 (obs): a zero-length datagram is legal both ways; FIONREAD reads 0 for it, which is
    // ambiguous with an empty queue, but poll shows it readable and recv returns it.
    let mut pair = Pair::new();
    let now = pair.now();
    let rb = bound(pair.b(), sa(IP_B, 7000));
    let a = pair.a().udp_socket();
    assert_eq!(pair.a().send_to(now, a, b"", sa(IP_B, 7000)).unwrap(), 0);
    pair.a().send_to(now, a, b"x", sa(IP_B, 7000)).unwrap();
    pair.net.drive();
    let from = sa(IP_A, pair.a().local_addr(a).unwrap().port());
    let b = pair.b();
    assert_eq!(b.pending(rb).unwrap(), 0);
    assert!(b.readiness(rb).unwrap().readable);
    let mut buf = [0u8; 8];
    let r = b.recv_with(rb, &mut buf, RecvFlags::empty()).unwrap();
    assert_eq!((r.len, r.from, r.truncated), (0, from, false));
    assert_eq!(b.pending(rb).unwrap(), 1);
    assert_eq!(b.recv_from(rb, &mut buf).unwrap(), (1, from));
    assert!(!b.readiness(rb).unwrap().readable);
    assert_eq!(b.stats().udp.in_datagrams, 2);
    assert_eq!(pair.a().stats().udp.out_datagrams, 2);
}

// ---------------------------------------------------------------------------------------------
// L5.5 counters

#[test]
fn in_datagrams_counts_at_recv_not_at_arrival() {
    // L5.5 (obs): InDatagrams is counted by a non-peek recv; peeking does not count.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"one");
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"two");
    let s = p.stack();
    assert_eq!(s.stats().udp.in_datagrams, 0);
    assert_eq!(udp_snmp(s)[0], 0);
    let mut buf = [0u8; 1];
    s.recv_with(h, &mut buf, RecvFlags::PEEK).unwrap();
    s.recv_with(h, &mut buf, RecvFlags::PEEK | RecvFlags::TRUNC)
        .unwrap();
    assert_eq!(s.stats().udp.in_datagrams, 0);
    // A truncating read counts.
    s.recv_with(h, &mut buf, RecvFlags::empty()).unwrap();
    assert_eq!(s.stats().udp.in_datagrams, 1);
    s.recv_with(h, &mut [], RecvFlags::empty()).unwrap();
    assert_eq!(udp_snmp(s)[0], 2);
    // An empty queue does not count.
    s.recv_with(h, &mut buf, RecvFlags::empty()).unwrap_err();
    assert_eq!(s.stats().udp.in_datagrams, 2);
}

#[test]
fn the_udp_snmp_line_is_in_kernel_order() {
    // L5.5: Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
    // InCsumErrors IgnoredMulti MemErrors.
    let mut p = Probed::new();
    p.introduce();
    let now = p.now();
    let h = bound(p.stack(), sa(IP_B, 7000));
    p.stack().set_recv_buffer_size(h, 0).unwrap(); // 2304: two tiny datagrams fit.
    for _ in 0..4 {
        from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    }
    from_probe(&mut p, 5000, sa(IP_B, 7001), b"nobody");
    p.send(probe_udp(
        udpstack::wire::MacAddr::BROADCAST,
        sa(IP_PROBE, 5000),
        sa(BROADCAST, 7001),
        b"nobody",
    ));
    let s = p.stack();
    s.recv_from(h, &mut [0u8; 4]).unwrap();
    s.send_to(now, h, b"out", sa(IP_PROBE, 5000)).unwrap();
    p.settle();
    let s = p.stack();
    assert_eq!(udp_snmp(s), [1, 1, 2, 1, 2, 0, 0, 1, 0]);
    let text = s.snmp();
    assert!(
        text.contains(
            "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors \
             InCsumErrors IgnoredMulti MemErrors\nUdp: 1 1 2 1 2 0 0 1 0\n"
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// L6.1 buffer sizes

#[test]
fn default_buffer_sizes_are_rmem_and_wmem_default() {
    // L6.1: defaults 212992, from net.core.rmem_default / wmem_default at socket creation.
    let mut p = Probed::new();
    let s = p.stack();
    let h = s.udp_socket();
    assert_eq!(s.recv_buffer_size(h).unwrap(), 212_992);
    assert_eq!(s.send_buffer_size(h).unwrap(), 212_992);
    s.set_sysctl("net.core.rmem_default", "100000").unwrap();
    s.set_sysctl("net.core.wmem_default", "50000").unwrap();
    let new = s.udp_socket();
    assert_eq!(s.recv_buffer_size(new).unwrap(), 100_000);
    assert_eq!(s.send_buffer_size(new).unwrap(), 50_000);
    // Existing sockets keep theirs.
    assert_eq!(s.recv_buffer_size(h).unwrap(), 212_992);
}

#[test]
fn so_rcvbuf_is_doubled_with_a_minimum_and_a_cap() {
    // L6.1 (obs: 1153 → 2306, 1000 → 2304): rcvbuf = max(2 × min(val, rmem_max), 2304).
    let mut p = Probed::new();
    let s = p.stack();
    let h = s.udp_socket();
    for (val, stored) in [
        (1153, 2306),
        (1000, 2304),
        (0, 2304),
        (4096, 8192),
        (100_000, 200_000),
        (4_194_304, 8_388_608),
        (i32::MAX, 8_388_608),
        // setsockopt compares as u32: a negative value is huge and gets rmem_max.
        (-1, 8_388_608),
    ] {
        s.set_recv_buffer_size(h, val).unwrap();
        assert_eq!(s.recv_buffer_size(h).unwrap(), stored, "SO_RCVBUF {val}");
    }
    s.set_sysctl("net.core.rmem_max", "10000").unwrap();
    s.set_recv_buffer_size(h, 1_000_000).unwrap();
    assert_eq!(s.recv_buffer_size(h).unwrap(), 20_000);
    s.set_recv_buffer_size(h, 5000).unwrap();
    assert_eq!(s.recv_buffer_size(h).unwrap(), 10_000);
    s.set_recv_buffer_size(h, -100).unwrap();
    assert_eq!(s.recv_buffer_size(h).unwrap(), 20_000);
}

#[test]
fn so_rcvbufforce_skips_rmem_max() {
    // L6.1: the FORCE variant skips the cap; negative values count as 0; INT_MAX / 2 at most.
    let mut p = Probed::new();
    let s = p.stack();
    s.set_sysctl("net.core.rmem_max", "10000").unwrap();
    let h = s.udp_socket();
    s.set_recv_buffer_size_force(h, 1_000_000).unwrap();
    assert_eq!(s.recv_buffer_size(h).unwrap(), 2_000_000);
    s.set_recv_buffer_size_force(h, -1).unwrap();
    assert_eq!(s.recv_buffer_size(h).unwrap(), 2304);
    s.set_recv_buffer_size_force(h, i32::MAX).unwrap();
    assert_eq!(s.recv_buffer_size(h).unwrap(), (i32::MAX / 2) as usize * 2);
}

#[test]
fn so_sndbuf_is_doubled_with_a_minimum_and_a_cap() {
    // L6.1: sndbuf = max(2 × min(val, wmem_max), 4608); SO_SNDBUFFORCE skips wmem_max.
    let mut p = Probed::new();
    let s = p.stack();
    let h = s.udp_socket();
    for (val, stored) in [
        (100, 4608),
        (2304, 4608),
        (2305, 4610),
        (5000, 10_000),
        (i32::MAX, 8_388_608),
        (-1, 8_388_608),
    ] {
        s.set_send_buffer_size(h, val).unwrap();
        assert_eq!(s.send_buffer_size(h).unwrap(), stored, "SO_SNDBUF {val}");
    }
    s.set_sysctl("net.core.wmem_max", "8000").unwrap();
    s.set_send_buffer_size(h, 100_000).unwrap();
    assert_eq!(s.send_buffer_size(h).unwrap(), 16_000);
    s.set_send_buffer_size_force(h, 100_000).unwrap();
    assert_eq!(s.send_buffer_size(h).unwrap(), 200_000);
    s.set_send_buffer_size_force(h, -7).unwrap();
    assert_eq!(s.send_buffer_size(h).unwrap(), 4608);
}

// ---------------------------------------------------------------------------------------------
// L6.2, L6.3 charge and admission

/// A socket on 10.0.0.2:7000 with SO_RCVBUF 4096 (stored 8192), after the probe sent it
/// `count` datagrams of `len` bytes, from ports 5000, 5001, ...
fn flooded(len: usize, count: u16) -> (Probed, SocketHandle) {
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    p.stack().set_recv_buffer_size(h, 4096).unwrap();
    assert_eq!(p.stack().recv_buffer_size(h).unwrap(), 8192);
    for i in 0..count {
        from_probe(&mut p, 5000 + i, sa(IP_B, 7000), &vec![0x5a; len]);
    }
    (p, h)
}

#[test]
fn rcvbuf_8192_takes_nine_tiny_datagrams() {
    // L6.2 (obs: 832 per tiny datagram), L6.3 (obs: with rcvbuf 8192, 9 tiny datagrams): a
    // datagram is queued iff rmem_alloc + truesize ≤ rcvbuf. Drops count RcvbufErrors,
    // InErrors, the socket's drops and the drops column of /proc/net/udp.
    let (mut p, h) = flooded(10, 12);
    let s = p.stack();
    assert_eq!(s.recv_queue_bytes(h).unwrap(), 9 * 832);
    assert_eq!(s.drops(h).unwrap(), 3);
    let udp = &s.stats().udp;
    assert_eq!(
        (udp.rcvbuf_errors, udp.in_errors, udp.in_datagrams),
        (3, 3, 0)
    );
    let row = udp_row(s, sa(IP_B, 7000));
    assert_eq!(row[4], format!("00000000:{:08X}", 9 * 832), "{row:?}");
    assert_eq!(row.last().unwrap(), "3", "{row:?}");
    // The first nine arrived, in order; the last three were dropped.
    let mut buf = [0u8; 64];
    let mut ports = Vec::new();
    while let Ok((n, from)) = s.recv_from(h, &mut buf) {
        assert_eq!(n, 10);
        ports.push(from.port());
    }
    assert_eq!(ports, (5000..5009).collect::<Vec<_>>());
    assert_eq!(s.recv_queue_bytes(h).unwrap(), 0);
    // Reading freed the buffer: the socket takes datagrams again; the drop count stays.
    from_probe(&mut p, 6000, sa(IP_B, 7000), b"again");
    let s = p.stack();
    assert_eq!(s.recv_queue_bytes(h).unwrap(), 832);
    assert_eq!(s.drops(h).unwrap(), 3);
    assert_eq!(s.stats().udp.rcvbuf_errors, 3);
}

#[test]
fn rcvbuf_8192_takes_three_full_size_datagrams() {
    // L6.2 (obs: 2304 for a 1472-byte payload), L6.3 (obs: 3 × 1472-byte datagrams).
    let (mut p, h) = flooded(1472, 5);
    let s = p.stack();
    assert_eq!(s.recv_queue_bytes(h).unwrap(), 3 * 2304);
    assert_eq!(s.drops(h).unwrap(), 2);
    assert_eq!(s.stats().udp.rcvbuf_errors, 2);
    assert_eq!(s.stats().udp.in_errors, 2);
    let mut buf = vec![0u8; 2000];
    let mut got = 0;
    while let Ok((n, _)) = s.recv_from(h, &mut buf) {
        assert_eq!(n, 1472);
        got += 1;
    }
    assert_eq!(got, 3);
    // A drop is the socket's own: another socket's count is untouched.
    let other = bound(p.stack(), sa(IP_B, 7001));
    assert_eq!(p.stack().drops(other).unwrap(), 0);
}

#[test]
fn an_empty_queue_always_takes_one_datagram() {
    // L6.3 (6.18): a datagram larger than the whole buffer is accepted when nothing is queued;
    // the next one is dropped until the queue is read.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let r = bound(s, sa(Ipv4Addr::LOCALHOST, 7000));
    s.set_recv_buffer_size(r, 0).unwrap();
    assert_eq!(s.recv_buffer_size(r).unwrap(), 2304);
    let tx = s.udp_socket();
    let big = vec![1u8; 3000];
    for _ in 0..2 {
        s.send_to(now, tx, &big, sa(Ipv4Addr::LOCALHOST, 7000))
            .unwrap();
    }
    assert!(s.recv_queue_bytes(r).unwrap() > 2304);
    assert_eq!(s.drops(r).unwrap(), 1);
    let mut buf = vec![0u8; 4000];
    assert_eq!(s.recv_from(r, &mut buf).unwrap().0, 3000);
    assert_eq!(errno(s.recv_from(r, &mut buf)), Errno::EAGAIN);
    s.send_to(now, tx, &big, sa(Ipv4Addr::LOCALHOST, 7000))
        .unwrap();
    assert_eq!(s.recv_from(r, &mut buf).unwrap().0, 3000);
    assert_eq!(s.drops(r).unwrap(), 1);
    assert_eq!(s.stats().udp.rcvbuf_errors, 1);
}

#[test]
fn shrinking_the_buffer_keeps_what_is_queued() {
    // L6.3: admission reads rcvbuf at arrival; lowering it drops nothing already queued.
    let mut p = Probed::new();
    let h = bound(p.stack(), sa(IP_B, 7000));
    for _ in 0..5 {
        from_probe(&mut p, 5000, sa(IP_B, 7000), b"x");
    }
    p.stack().set_recv_buffer_size(h, 0).unwrap();
    from_probe(&mut p, 5000, sa(IP_B, 7000), b"y");
    let s = p.stack();
    assert_eq!(s.recv_queue_bytes(h).unwrap(), 5 * 832);
    assert_eq!(s.drops(h).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// /proc/net/udp

#[test]
fn udp_table_has_the_kernel_layout() {
    // /proc/net/udp (udp4_seq_show): a 127-column header, then one row per bound socket:
    // "sl: local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer
    // drops", addresses as the kernel prints a __be32 with %08X on little-endian, state 07
    // (unconnected) or 01 (connected), rx_queue in bytes charged.
    let mut p = Probed::new();
    let now = p.now();
    let s = p.stack();
    let a = bound(s, sa(IP_B, 7));
    let lo = bound(s, sa(Ipv4Addr::LOCALHOST, 53));
    let c = bound(s, sa(Ipv4Addr::UNSPECIFIED, 4000));
    s.connect(now, c, sa(IP_PROBE, 5000)).unwrap();
    let _unbound = s.udp_socket();
    from_probe(&mut p, 5000, sa(IP_B, 7), b"hi");
    let s = p.stack();
    let table = s.udp_table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{:<127}",
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   \
             uid  timeout inode ref pointer drops"
        )
    );
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines.iter().all(|l| l.len() == 127), "{table}");

    let row = udp_row(s, sa(IP_B, 7));
    assert_eq!(
        row[1..8],
        [
            "0200000A:0007",
            "00000000:0000",
            "07",
            "00000000:00000340",
            "00:00000000",
            "00000000",
            "0"
        ]
    );
    assert_eq!(row.last().unwrap(), "0");
    let row = udp_row(s, sa(Ipv4Addr::LOCALHOST, 53));
    assert_eq!(
        row[1..5],
        ["0100007F:0035", "00000000:0000", "07", "00000000:00000000"]
    );
    let row = udp_row(s, sa(IP_B, 4000));
    assert_eq!(row[1..4], ["0200000A:0FA0", "0900000A:1388", "01"]);
    // Closed sockets leave the table.
    s.close(a).unwrap();
    s.close(lo).unwrap();
    assert_eq!(s.udp_table().lines().count(), 2);
}

#[test]
fn udp_table_drops_column_counts_the_socket_s_drops() {
    // L6.3: the last column of /proc/net/udp is the socket's drop count.
    let (mut p, h) = flooded(10, 11);
    let s = p.stack();
    assert_eq!(s.drops(h).unwrap(), 2);
    let row = udp_row(s, sa(IP_B, 7000));
    assert_eq!(row.last().unwrap(), "2", "{row:?}");
}
