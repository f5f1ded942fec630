//! Path MTU, ICMP errors and reassembly through a real Linux router (issue "PMTU, ICMP errors,
//! reassembly" interop scenarios).
//!
//! ```text
//!  udpstack 10.0.0.2 ── TapDevice ══ tap0 10.0.0.1/24 [router, ip_forward=1]
//!                                    veth0 10.0.1.1/24 ══ MTU 1280 ══ eth0 10.0.1.2 [far]
//!  kernel 10.0.2.2 [near] eth0 ══ MTU 1500 ══ veth1 10.0.2.1/24 [router]
//! ```
//!
//! `near` is a kernel host on the stack's side of the router: its path to the far host crosses
//! the same 1280 leg, so every scenario runs twice, once on a stack socket and once on a kernel
//! socket in `near`, and the two transcripts (addresses replaced by roles) must agree.
//! Fragments are injected from a raw socket in `far`; ICMP is watched from a raw ICMP socket
//! there. All namespaces are the test's own and go away when it ends, failing or not.
//!
//! Covered: path MTU discovery in DO mode with and without IP_RECVERR (errno, IP_MTU, the
//! error queue entry by entry and the pending error between reads), WANT mode, all six modes in
//! turn, the header fields (DF, IP ID, TTL) each mode sends; port unreachable and host
//! unreachable (a soft error) from beyond the router; the port unreachable and time exceeded
//! packets themselves, field by field; ICMP rate limiting; reassembly of 60 000 bytes both
//! ways, of injected fragments in awkward orders, of malformed sequences, ipfrag_max_dist and
//! the reassembly timeout; UDP checksum handling; record route recorded on arrival and echoed
//! in port unreachables and in echo replies (`ping -R`).

mod interop;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use interop::*;
use tap_harness::{add_veth, privileged_or_skip, Netns, RouterConfig, RouterLink, VethEnd};
use udpstack::runtime::Runtime;
use udpstack::udp::PmtuMode;

const ROUTER_NEAR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const NEAR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const FAR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);

/// The router topology, the stack on its TAP leg and `near` on a third leg. Fields drop in
/// order: the runtime (and its TAP) first, then the namespaces.
struct Routed {
    rt: Runtime,
    near: Netns,
    far: Netns,
    router: Netns,
}

impl Routed {
    fn open(test: &str) -> io::Result<Option<Routed>> {
        if !privileged_or_skip(test)? {
            return Ok(None);
        }
        let RouterLink {
            device,
            router,
            far,
            config,
        } = RouterLink::open(RouterConfig::default())?;
        assert_eq!(config.far_addr, FAR_IP);
        assert_eq!(config.far_mtu, 1280);
        let near = Netns::new("udpstack-near")?;
        add_veth(
            VethEnd {
                netns: &router,
                name: "veth1",
                addr: ROUTER_NEAR_IP,
                prefix_len: 24,
            },
            VethEnd {
                netns: &near,
                name: "eth0",
                addr: NEAR_IP,
                prefix_len: 24,
            },
            1500,
        )?;
        near.ip(["route", "add", "default", "via", "10.0.2.1"])?;
        let rt = Runtime::start(device, stack_config(Some(KERNEL_IP)), 0x2047)?;
        Ok(Some(Routed {
            rt,
            near,
            far,
            router,
        }))
    }

    /// A fresh stack socket bound to 10.0.0.2:0.
    fn stack_sock(&self) -> io::Result<Box<dyn Sock>> {
        Ok(Box::new(self.rt.bind(sa(STACK_IP, 0))?))
    }

    /// A fresh kernel socket in `near`, bound to 10.0.2.2:0.
    fn near_sock(&self) -> io::Result<Box<dyn Sock>> {
        Ok(Box::new(KernelSock::bind(&self.near, sa(NEAR_IP, 0))?))
    }

    fn stack_roles() -> [(Ipv4Addr, &'static str); 3] {
        [(STACK_IP, "self"), (KERNEL_IP, "router"), (FAR_IP, "far")]
    }

    fn near_roles() -> [(Ipv4Addr, &'static str); 3] {
        [
            (NEAR_IP, "self"),
            (ROUTER_NEAR_IP, "router"),
            (FAR_IP, "far"),
        ]
    }
}

const EMSGSIZE: i32 = 90;

/// IP_PMTUDISC_DO, connected to a closed port of the far host (L1.7, L1.8, L1.9, L2.1, L2.3,
/// L2.5, L3.3): 1400 bytes draw the router's fragmentation-needed; the next send fails with
/// the pending EMSGSIZE, IP_MTU is 1280, 1400 bytes now fail locally, 1252 (= 1280 − 28) go
/// through and draw the far host's port unreachable. With IP_RECVERR the queue then holds
/// [ICMP 3/4 from the router, local EMSGSIZE (1400), local EMSGSIZE (1253), ICMP 3/3 from the
/// far host], and reading it moves the pending error as `sock_dequeue_err_skb` does.
fn do_mode_transcript(
    s: &dyn Sock,
    icmp_in: &dyn Fn() -> u64,
    recverr: bool,
    roles: &[(Ipv4Addr, &'static str)],
) -> Transcript {
    let mut t = Transcript::new(roles);
    let far = sa(FAR_IP, 5001);
    let mut buf = vec![0u8; 2048];
    let big = pattern(1400, 9);
    t.result("IP_MTU_DISCOVER=DO", &s.set_pmtu(PmtuMode::Do));
    if recverr {
        t.result("IP_RECVERR", &s.set_recv_error(true));
    }
    t.result("connect", &s.connect(far));
    t.result("IP_MTU before", &s.mtu());
    let before = icmp_in();
    t.result("send 1400", &s.send(&big));
    t.note(
        "frag-needed arrived",
        wait_until(TIMEOUT, || icmp_in() > before),
    );
    t.result("POLLERR", &s.wait_error(TIMEOUT));
    t.result("IP_MTU after", &s.mtu());
    t.result("send 100 (pending error)", &s.send(&big[..100]));
    t.result("send 1400 again (too big)", &s.send(&big));
    t.result("send 1253", &s.send(&big[..1253]));
    let before = icmp_in();
    t.result("send 1252", &s.send(&big[..1252]));
    t.note(
        "port unreachable arrived",
        wait_until(TIMEOUT, || icmp_in() > before),
    );
    if recverr {
        t.error("SO_ERROR", s.take_error());
        for i in 1..=5 {
            t.err_entry(&format!("errqueue {i}"), s.recv_error(&mut buf), &big);
            t.error(&format!("SO_ERROR after {i}"), s.take_error());
        }
    } else {
        t.result("recv", &s.recv_timeout(&mut buf, TIMEOUT));
        t.error("SO_ERROR", s.take_error());
        t.err_entry("errqueue", s.recv_error(&mut buf), &big);
    }
    t.result("IP_MTU at the end", &s.mtu());
    t
}

/// Runs [`do_mode_transcript`] on a kernel socket in `near` and on a stack socket, each host
/// learning the path MTU for the first time (a fresh topology per test: the PMTU cache is
/// shared by all sockets of a host, L2.1).
fn do_mode_compare(test: &str, recverr: bool) -> io::Result<()> {
    let Some(r) = Routed::open(test)? else {
        return Ok(());
    };
    let stack_icmp = || r.rt.stats().icmp.in_dest_unreachs;
    let near_icmp = || kernel_counter(&r.near, "Icmp", "InDestUnreachs");
    let k = r.near_sock()?;
    let kernel = do_mode_transcript(&*k, &near_icmp, recverr, &Routed::near_roles());
    let s = r.stack_sock()?;
    let stack = do_mode_transcript(&*s, &stack_icmp, recverr, &Routed::stack_roles());
    let lines = kernel.lines();
    assert!(
        lines.contains(&"IP_MTU after: Ok(1280)".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!("send 100 (pending error): Err(errno {EMSGSIZE})")),
        "{lines:#?}"
    );
    if recverr {
        assert!(
            lines.iter().any(|l| l.starts_with(
                "errqueue 1: errno 90 origin 2 type 3 code 4 info 1280 data 0 \
                 offender router name far:5001"
            )),
            "{lines:#?}"
        );
    }
    assert_same(&kernel, &stack);
    Ok(())
}

#[test]
fn do_mode_learns_1280_from_the_router_like_a_kernel_socket() -> io::Result<()> {
    // L1.8, L2.1, L2.2, L2.5, L1.6: the router's 3/4 lowers the path MTU to 1280; the next send
    // fails with EMSGSIZE; IP_MTU reads 1280.
    do_mode_compare(
        "do_mode_learns_1280_from_the_router_like_a_kernel_socket",
        false,
    )
}

#[test]
fn do_mode_with_recverr_queues_what_a_kernel_socket_queues() -> io::Result<()> {
    // L1.6, L1.7, L1.8, L1.9: with IP_RECVERR the ICMP and the local EMSGSIZE entries are queued,
    // and the pending error moves between reads, as on a kernel socket.
    do_mode_compare(
        "do_mode_with_recverr_queues_what_a_kernel_socket_queues",
        true,
    )
}

/// IP_PMTUDISC_WANT (the default), unconnected (L1.5, L2.3, L3.4): the first 1400-byte
/// datagram carries DF and dies at the router, silently for the socket; once 1280 is learned
/// the same datagram leaves in two fragments without DF and arrives whole.
fn want_mode_transcript(
    s: &dyn Sock,
    sink: &KernelSock,
    icmp_in: &dyn Fn() -> u64,
    frags_made: &dyn Fn() -> u64,
    far_fragments: &dyn Fn() -> u64,
    roles: &[(Ipv4Addr, &'static str)],
) -> Transcript {
    let mut t = Transcript::new(roles);
    let dst = sink.local();
    let mut buf = vec![0u8; 4096];
    let payload = pattern(1400, 5);
    let (made0, far0) = (frags_made(), far_fragments());
    let before = icmp_in();
    t.result("sendto 1400", &s.send_to(&payload, dst));
    t.note(
        "frag-needed arrived",
        wait_until(TIMEOUT, || icmp_in() > before),
    );
    t.result("far host got", &sink.recv_timeout(&mut buf, QUIET));
    t.error("SO_ERROR", s.take_error());
    t.result("sendto 1400 again", &s.send_to(&payload, dst));
    let got = sink.recv_timeout(&mut buf, TIMEOUT);
    let me = s.local();
    let identical = matches!(&got, Ok((n, _)) if buf[..*n] == payload[..]);
    t.result(
        "far host got (len, from self)",
        &got.map(|(n, from)| (n, from == me)),
    );
    t.note("byte-identical", identical);
    t.note("fragments made", frags_made() - made0);
    t.note("fragments the far host received", far_fragments() - far0);
    t.result("sendto 100", &s.send_to(&payload[..100], dst));
    let got = sink.recv_timeout(&mut buf, TIMEOUT);
    t.result(
        "far host got (len, from self)",
        &got.map(|(n, from)| (n, from == me)),
    );
    t.error("SO_ERROR at the end", s.take_error());
    t
}

#[test]
fn want_mode_fragments_to_the_learned_mtu_like_a_kernel_socket() -> io::Result<()> {
    // L1.8, L2.3, L3.4: WANT learns from the 3/4 without a socket error, then fragments to 1280.
    let Some(r) = Routed::open("want_mode_fragments_to_the_learned_mtu_like_a_kernel_socket")?
    else {
        return Ok(());
    };
    let sink = KernelSock::bind(&r.far, sa(FAR_IP, 5000))?;
    let far_frags = || kernel_counter(&r.far, "Ip", "ReasmReqds");

    let k = r.near_sock()?;
    let kernel = want_mode_transcript(
        &*k,
        &sink,
        &|| kernel_counter(&r.near, "Icmp", "InDestUnreachs"),
        &|| kernel_counter(&r.near, "Ip", "FragCreates"),
        &far_frags,
        &Routed::near_roles(),
    );
    let s = r.stack_sock()?;
    let stack = want_mode_transcript(
        &*s,
        &sink,
        &|| r.rt.stats().icmp.in_dest_unreachs,
        &|| r.rt.stats().ip.frag_creates,
        &far_frags,
        &Routed::stack_roles(),
    );
    let lines = kernel.lines();
    assert_eq!(lines[2], "far host got: Err(errno 11)", "{lines:#?}");
    assert_eq!(lines[6], "byte-identical: true", "{lines:#?}");
    assert_eq!(lines[7], "fragments made: 2", "{lines:#?}");
    assert_same(&kernel, &stack);
    Ok(())
}

#[test]
fn closed_port_on_the_far_host_like_a_kernel_socket() -> io::Result<()> {
    // L1.5–L1.7 through the router: the far host's port unreachable reaches a connected socket
    // as ECONNREFUSED, an unconnected one only with IP_RECVERR.
    let Some(r) = Routed::open("closed_port_on_the_far_host_like_a_kernel_socket")? else {
        return Ok(());
    };
    let kernel = closed_port_scenario(
        &|| r.near_sock(),
        sa(FAR_IP, 9),
        &|| kernel_counter(&r.near, "Icmp", "InDestUnreachs"),
        &Routed::near_roles(),
    )?;
    let stack = closed_port_scenario(
        &|| r.stack_sock(),
        sa(FAR_IP, 9),
        &|| r.rt.stats().icmp.in_dest_unreachs,
        &Routed::stack_roles(),
    )?;
    let k = kernel.lines();
    assert_eq!(k[2], "1 recv: Err(errno 111)", "{k:#?}");
    assert!(
        k.iter().any(|l| l.starts_with(
            "3 errqueue: errno 111 origin 2 type 3 code 3 info 0 data 0 offender far \
             name far:9 len 520"
        )),
        "{k:#?}"
    );
    assert_same(&kernel, &stack);
    Ok(())
}

#[test]
fn sixty_thousand_bytes_cross_the_1280_leg_both_ways() -> io::Result<()> {
    // L4 and L3.4: the far kernel cuts 60 000 bytes into 48 fragments of at most 1280 bytes;
    // the stack reassembles them. The stack's answer leaves in 41 fragments for its 1500-byte
    // link; the router cuts those again for the 1280 leg and the far kernel reassembles.
    let Some(r) = Routed::open("sixty_thousand_bytes_cross_the_1280_leg_both_ways")? else {
        return Ok(());
    };
    let far = KernelSock::bind(&r.far, sa(FAR_IP, 5000))?;
    let stack = r.rt.bind(sa(STACK_IP, 6000))?;
    stack.set_read_timeout(Some(TIMEOUT))?;
    let mut buf = vec![0u8; 65536];
    // Neighbours first (ARP on both legs).
    far.0.send_to(b"hello", sa(STACK_IP, 6000))?;
    assert_eq!(stack.recv(&mut buf)?, 5);

    let payload = pattern(60_000, 60);
    let before = r.rt.stats().ip;
    far.0.send_to(&payload, sa(STACK_IP, 6000))?;
    let (n, from) = stack.recv_from(&mut buf)?;
    assert_eq!(from.to_string(), "10.0.1.2:5000");
    assert!(buf[..n] == payload[..], "60 000 bytes far → stack");
    let after = r.rt.stats().ip;
    assert_eq!(after.reasm_reqds - before.reasm_reqds, 48);
    assert_eq!(after.reasm_oks - before.reasm_oks, 1);

    let echo = buf[..n].to_vec();
    stack.send_to(&echo, sa(FAR_IP, 5000))?;
    let (n, from) = far.recv_timeout(&mut buf, TIMEOUT)?;
    assert_eq!(from.to_string(), "10.0.0.2:6000");
    assert!(buf[..n] == payload[..], "60 000 bytes stack → far");
    assert_eq!(r.rt.stats().ip.frag_creates - after.frag_creates, 41);
    assert_eq!(
        kernel_counter(&r.router, "Ip", "FragOKs"),
        40,
        "re-fragmented"
    );
    Ok(())
}

/// Bytes `[start, end)` of a datagram: one fragment's share.
type Span = (usize, usize);

/// The 3008-byte UDP datagram the injection tests reassemble, cut at 1000 and 2000.
const PIECES: [Span; 3] = [(0, 1000), (1000, 2000), (2000, 3008)];

/// Sends fragments `[start, end)` of `datagram` (identification `id`) from the far host's raw
/// socket to `dst`, in the order given.
fn inject(
    raw: &std::os::fd::OwnedFd,
    dst: Ipv4Addr,
    id: u16,
    datagram: &[u8],
    order: &[Span],
) -> io::Result<()> {
    for &(start, end) in order {
        let more = end < datagram.len();
        let packet = ipv4_fragment(FAR_IP, dst, id, start, more, &datagram[start..end]);
        raw_send(raw, &packet, dst)?;
    }
    Ok(())
}

/// Reassembly counters as a tuple: (ReasmReqds, ReasmOKs, ReasmFails, ReasmOverlaps).
type Reasm = (u64, u64, u64, u64);

fn delta(a: Reasm, b: Reasm) -> Reasm {
    (b.0 - a.0, b.1 - a.1, b.2 - a.2, b.3 - a.3)
}

/// L4.5: three fragment orders sent to a socket on `dst` (bound by `sock`), one queue each:
/// reordered with exact duplicates (delivered once); in order, then a piece inside the run the
/// first two formed (a duplicate: delivered); reversed, then the same piece, which now spans
/// two runs (an overlap: the queue is discarded, nothing delivered).
fn reassembly_transcript(
    raw: &std::os::fd::OwnedFd,
    sock: &dyn Sock,
    counters: &dyn Fn() -> Reasm,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let me = sock.local();
    let payload = pattern(3000, 77);
    let datagram = udp_datagram(sa(FAR_IP, 7777), me, &payload);
    let inner = (504, 1504);
    let cases: [(&str, u16, Vec<Span>); 3] = [
        (
            "reordered + duplicates",
            0x5101,
            vec![PIECES[2], PIECES[0], PIECES[2], PIECES[0], PIECES[1]],
        ),
        (
            "in order + inner piece",
            0x5102,
            vec![PIECES[0], PIECES[1], inner, PIECES[2]],
        ),
        (
            "reversed + inner piece",
            0x5103,
            vec![PIECES[1], PIECES[0], inner, PIECES[2]],
        ),
    ];
    let mut buf = vec![0u8; 4096];
    for (name, id, order) in cases {
        let before = counters();
        inject(raw, *me.ip(), id, &datagram, &order)?;
        let wait = if name.starts_with("reversed") {
            // Nothing is to come: wait until all four fragments were seen, then a little.
            wait_until(TIMEOUT, || counters().0 - before.0 >= 4);
            QUIET
        } else {
            TIMEOUT
        };
        let got = sock.recv_timeout(&mut buf, wait);
        t.result(&format!("{name}: recv"), &got);
        t.note(
            &format!("{name}: byte-identical"),
            got.is_ok_and(|(n, _)| buf[..n] == payload[..]),
        );
        t.note(
            &format!("{name}: (reqds, oks, fails, overlaps)"),
            delta(before, counters()),
        );
    }
    Ok(t)
}

#[test]
fn injected_fragments_reassemble_as_in_the_kernel() -> io::Result<()> {
    // L4.1, L4.5: out of order, with duplicates, and the overlap rule in both arrival orders.
    let Some(r) = Routed::open("injected_fragments_reassemble_as_in_the_kernel")? else {
        return Ok(());
    };
    let raw = raw_ip_socket(&r.far)?;
    let k = r.near_sock()?;
    let near_counters = || reasm_counters_near(&r.near);
    let kernel = reassembly_transcript(&raw, &*k, &near_counters, &Routed::near_roles())?;
    let s = r.stack_sock()?;
    let stack_counters = || reasm_counters_stack(&r.rt);
    let stack = reassembly_transcript(&raw, &*s, &stack_counters, &Routed::stack_roles())?;
    let lines = kernel.lines();
    assert_eq!(lines[1], "reordered + duplicates: byte-identical: true");
    assert_eq!(lines[4], "in order + inner piece: byte-identical: true");
    assert_eq!(lines[6], "reversed + inner piece: recv: Err(errno 11)");
    assert_same(&kernel, &stack);
    Ok(())
}

/// What an ICMP error looks like on arrival at the far host, field by field, with the parts
/// that must differ (addresses, checksums, IP IDs) named by role or checked for validity.
/// `datagram` is the transport data of the packet the error is about: the quote must carry a
/// prefix of it after the quoted header.
fn describe_icmp(packet: &[u8], datagram: &[u8], roles: &[(Ipv4Addr, &'static str)]) -> Transcript {
    let mut t = Transcript::new(roles);
    let addr = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    t.note(
        "IP total length",
        u16::from_be_bytes([packet[2], packet[3]]),
    );
    t.note("IP header length", ihl);
    t.note(
        "IP options",
        format_args!("{}", show_ip_options(&packet[20..ihl])),
    );
    t.note("TOS", format_args!("{:#04x}", packet[1]));
    t.note(
        "flags",
        format_args!("{:#06x}", u16::from_be_bytes([packet[6], packet[7]])),
    );
    t.note("TTL on arrival", packet[8]);
    t.note("source", addr(&packet[12..16]));
    t.note("IP checksum ok", checksum(&packet[..ihl]) == 0);
    let icmp = &packet[ihl..];
    t.note("type/code", (icmp[0], icmp[1]));
    t.note("ICMP checksum ok", checksum(icmp) == 0);
    t.note("rest of header", &icmp[4..8]);
    let quote = &icmp[8..];
    t.note("quoted bytes", quote.len());
    let qihl = usize::from(quote[0] & 0x0f) * 4;
    t.note("quoted header length", qihl);
    t.note(
        "quoted options",
        format_args!("{}", show_ip_options(&quote[20..qihl])),
    );
    t.note("quoted TOS", quote[1]);
    t.note(
        "quoted total length",
        u16::from_be_bytes([quote[2], quote[3]]),
    );
    t.note(
        "quoted ID",
        format_args!("{:#06x}", u16::from_be_bytes([quote[4], quote[5]])),
    );
    t.note(
        "quoted flags/offset",
        format_args!("{:#06x}", u16::from_be_bytes([quote[6], quote[7]])),
    );
    t.note("quoted TTL", quote[8]);
    t.note("quoted protocol", quote[9]);
    t.note("quoted checksum ok", checksum(&quote[..qihl]) == 0);
    t.note("quoted source", addr(&quote[12..16]));
    t.note("quoted destination", addr(&quote[16..20]));
    t.note(
        "quoted data is the datagram's start",
        datagram.starts_with(&quote[qihl..]),
    );
    t
}

/// A packet received and when, counted from the start of the wait.
type Arrival = (Vec<u8>, std::time::Duration);

/// Collects, from the far host's raw ICMP socket, the first message of `icmp_type` from each
/// of `sources` that `wanted` accepts; `None` for a source that sent none within the timeout.
fn collect_icmp(
    icmp: &std::os::fd::OwnedFd,
    icmp_type: u8,
    sources: &[Ipv4Addr],
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<Vec<Option<Arrival>>> {
    let start = Instant::now();
    let mut got: Vec<Option<Arrival>> = vec![None; sources.len()];
    while got.iter().any(Option::is_none) {
        let Some(p) = raw_recv(icmp, TIMEOUT)? else {
            break;
        };
        let ihl = usize::from(p[0] & 0x0f) * 4;
        if p.len() < ihl + 8 || p[ihl] != icmp_type || !wanted(&p) {
            continue;
        }
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        if let Some(i) = sources.iter().position(|s| *s == src) {
            if got[i].is_none() {
                got[i] = Some((p, start.elapsed()));
            }
        }
    }
    Ok(got)
}

#[test]
fn a_lone_first_fragment_times_out_with_time_exceeded_like_the_kernel() -> io::Result<()> {
    // L4.2, L5.6: with ipfrag_time = 1 s on both, a first fragment alone draws ICMP 11/1 to
    // its source after a second, quoting it (576 bytes in all). The far host receives both
    // errors, one from the stack and one from `near`, on a raw ICMP socket.
    let Some(r) =
        Routed::open("a_lone_first_fragment_times_out_with_time_exceeded_like_the_kernel")?
    else {
        return Ok(());
    };
    r.rt.with_stack(|s| s.set_sysctl("net.ipv4.ipfrag_time", "1"))
        .map_err(|e| io::Error::other(e.to_string()))?;
    r.near.sysctl("net.ipv4.ipfrag_time", "1")?;
    let icmp = raw_icmp_socket(&r.far)?;
    let raw = raw_ip_socket(&r.far)?;
    // 1000 bytes of data: the quote is cut to 548 bytes.
    let datagram =
        |dst: Ipv4Addr| udp_datagram(sa(FAR_IP, 7777), sa(dst, 6100), &pattern(3000, 11));
    let first = |dst: Ipv4Addr| ipv4_fragment(FAR_IP, dst, 0x6201, 0, true, &datagram(dst)[..1000]);
    raw_send(&raw, &first(STACK_IP), STACK_IP)?;
    raw_send(&raw, &first(NEAR_IP), NEAR_IP)?;
    let got = collect_icmp(&icmp, 11, &[STACK_IP, NEAR_IP], |_| true)?;
    let [Some((stack_packet, stack_at)), Some((near_packet, near_at))] = &got[..] else {
        panic!("ICMP 11 from the stack and from `near`: {got:?}");
    };
    eprintln!("time exceeded after: kernel {near_at:?}, stack {stack_at:?}");
    for at in [near_at, stack_at] {
        assert!(
            *at >= std::time::Duration::from_millis(900),
            "after ipfrag_time: {at:?}"
        );
    }
    let roles = |me: Ipv4Addr| [(me, "self"), (FAR_IP, "far")];
    let kernel = describe_icmp(near_packet, &datagram(NEAR_IP), &roles(NEAR_IP));
    let stack = describe_icmp(stack_packet, &datagram(STACK_IP), &roles(STACK_IP));
    let lines = kernel.lines();
    assert!(
        lines.contains(&"type/code: (11, 1)".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"IP total length: 576".to_owned()),
        "{lines:#?}"
    );
    assert_same(&kernel, &stack);
    assert_eq!(r.rt.stats().ip.reasm_timeout, 1);
    Ok(())
}

/// The ID of the packet an ICMP error (IP header included) quotes.
fn quoted_id(p: &[u8]) -> u16 {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let q = &p[ihl + 8..];
    u16::from_be_bytes([q[4], q[5]])
}

/// One packet (or fragmented datagram) the far host sends to a closed port: a name, the IP ID,
/// DF on every fragment, the IP options, the fragments' spans (`None`: one whole packet).
type Probe = (
    &'static str,
    u16,
    bool,
    &'static [u8],
    Option<&'static [Span]>,
);

/// Sends each probe from the far host's raw socket to port 9 of the stack and of `near`
/// (closed on both) and compares the port unreachables that come back, field by field.
fn compare_port_unreachables(test: &str, probes: &[Probe]) -> io::Result<()> {
    let Some(r) = Routed::open(test)? else {
        return Ok(());
    };
    let icmp = raw_icmp_socket(&r.far)?;
    let raw = raw_ip_socket(&r.far)?;
    for &(name, id, df, options, pieces) in probes {
        let len = if pieces.is_some() { 3000 } else { 92 };
        let datagram =
            |dst: Ipv4Addr| udp_datagram(sa(FAR_IP, 7777), sa(dst, 9), &pattern(len, id as u8));
        for dst in [STACK_IP, NEAR_IP] {
            let d = datagram(dst);
            match pieces {
                None => {
                    let p = ipv4_packet((FAR_IP, dst), id, (0, false, df), options, &d);
                    raw_send(&raw, &p, dst)?;
                }
                Some(pieces) => {
                    for &(start, end) in pieces {
                        let more = end < d.len();
                        let frag = (start, more, df);
                        let p = ipv4_packet((FAR_IP, dst), id, frag, options, &d[start..end]);
                        raw_send(&raw, &p, dst)?;
                    }
                }
            }
        }
        let got = collect_icmp(&icmp, 3, &[STACK_IP, NEAR_IP], |p| quoted_id(p) == id)?;
        let [Some((stack_packet, _)), Some((near_packet, _))] = &got[..] else {
            panic!("{name}: port unreachable from the stack and from `near`: {got:?}");
        };
        let roles =
            |me: Ipv4Addr, router: Ipv4Addr| [(me, "self"), (FAR_IP, "far"), (router, "router")];
        eprintln!("--- {name}");
        let kernel = describe_icmp(
            near_packet,
            &datagram(NEAR_IP),
            &roles(NEAR_IP, ROUTER_NEAR_IP),
        );
        let stack = describe_icmp(
            stack_packet,
            &datagram(STACK_IP),
            &roles(STACK_IP, KERNEL_IP),
        );
        assert!(
            kernel.lines().contains(&"type/code: (3, 3)".to_owned()),
            "{name}: {:#?}",
            kernel.lines()
        );
        assert_same(&kernel, &stack);
    }
    Ok(())
}

#[test]
fn port_unreachable_packets_match_the_kernels_field_by_field() -> io::Result<()> {
    // L5.6: source, TOS | 0xC0, TTL, no DF, 576 bytes at most; the quote of a reassembled
    // datagram shows its whole length, MF and offset cleared, DF only if the largest fragment
    // had it (`max_df_size`), and a valid checksum.
    compare_port_unreachables(
        "port_unreachable_packets_match_the_kernels_field_by_field",
        &[
            ("one packet with DF", 0x4301, true, &[], None),
            ("three fragments", 0x4302, false, &[], Some(&PIECES)),
            ("three fragments with DF", 0x4303, true, &[], Some(&PIECES)),
            ("NOP options", 0x4304, false, &[1, 1, 1, 0], None),
        ],
    )
}

#[test]
fn port_unreachable_about_a_record_route_packet_matches_the_kernels() -> io::Result<()> {
    // L5.6 with options, RFC 791 record route (type 7, two slots), RFC 1122 3.2.2: the router
    // and the receiving host record their addresses, and Linux's icmp_send echoes the option
    // (ip_options_echo).
    compare_port_unreachables(
        "port_unreachable_about_a_record_route_packet_matches_the_kernels",
        &[(
            "record route",
            0x4305,
            false,
            &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            None,
        )],
    )
}

/// Every IP_MTU_DISCOVER mode in turn (L2.1–L2.5, L3.3), each on a fresh socket connected to
/// the far host, sending 1400 bytes twice: does it leave, die at the router (an ICMP comes
/// back) or fail at once; what error the socket then holds; IP_MTU. The path MTU cache is the
/// host's, so what one mode learns the next ones see, on the kernel as on the stack.
fn modes_transcript(
    make: &dyn Fn() -> io::Result<Box<dyn Sock>>,
    sink: &KernelSock,
    icmp_in: &dyn Fn() -> u64,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let big = pattern(1400, 14);
    let mut buf = vec![0u8; 4096];
    for mode in [
        PmtuMode::Dont,
        PmtuMode::Want,
        PmtuMode::Do,
        PmtuMode::Probe,
        PmtuMode::Interface,
        PmtuMode::Omit,
    ] {
        let s = make()?;
        t.result(&format!("{mode:?}: set"), &s.set_pmtu(mode));
        t.result(&format!("{mode:?}: connect"), &s.connect(sink.local()));
        for attempt in 1..=2 {
            let step = format!("{mode:?} send {attempt}");
            let before = icmp_in();
            let sent = s.send(&big);
            t.result(&step, &sent);
            if sent.is_ok() {
                // Exactly one of the two happens: the far host gets it, or the router refuses.
                let mut outcome = "nothing within the timeout".to_owned();
                let deadline = Instant::now() + TIMEOUT;
                while Instant::now() < deadline {
                    if icmp_in() > before {
                        outcome = "ICMP came back".to_owned();
                        // Let the error reach the socket (a kernel counts the ICMP first).
                        s.wait_error(QUIET)?;
                        break;
                    }
                    if let Ok((n, from)) =
                        sink.recv_timeout(&mut buf, std::time::Duration::from_millis(2))
                    {
                        outcome = format!("far host got {n} from self: {}", from == s.local());
                        break;
                    }
                }
                t.note(&format!("{step} outcome"), outcome);
            }
            t.result(&format!("{step} IP_MTU"), &s.mtu());
            t.error(&format!("{step} SO_ERROR"), s.take_error());
        }
    }
    Ok(t)
}

#[test]
fn every_pmtu_mode_through_the_router_like_a_kernel_socket() -> io::Result<()> {
    // L2.3, L3.3, L1.8: each IP_MTU_DISCOVER mode's size limit, DF and ICMP learning.
    let Some(r) = Routed::open("every_pmtu_mode_through_the_router_like_a_kernel_socket")? else {
        return Ok(());
    };
    let sink = KernelSock::bind(&r.far, sa(FAR_IP, 5300))?;
    let kernel = modes_transcript(
        &|| r.near_sock(),
        &sink,
        &|| kernel_counter(&r.near, "Icmp", "InDestUnreachs"),
        &Routed::near_roles(),
    )?;
    let stack = modes_transcript(
        &|| r.stack_sock(),
        &sink,
        &|| r.rt.stats().icmp.in_dest_unreachs,
        &Routed::stack_roles(),
    )?;
    let lines = kernel.lines();
    assert!(
        lines.contains(&"Probe send 2 outcome: \"ICMP came back\"".to_owned()),
        "{lines:#?}"
    );
    assert_same(&kernel, &stack);
    Ok(())
}

/// The IP header fields of small datagrams in each mode, as the far host sees them (L2.3 DF,
/// L3.5 IP ID, L3.6 TTL): a connected socket sends two, an unconnected one one. IDs: a connected
/// socket counts up by one; an unconnected one sends 0 when DF is set and the mode refuses to
/// fragment (DO, PROBE); otherwise the ID is hashed and not compared.
fn header_fields_transcript(
    make: &dyn Fn() -> io::Result<Box<dyn Sock>>,
    sink: SocketAddrV4,
    watch: &std::os::fd::OwnedFd,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let next_packet = |me: SocketAddrV4| -> io::Result<Vec<u8>> {
        loop {
            let p = raw_recv(watch, TIMEOUT)?.expect("a UDP packet at the far host");
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let src = sa(
                Ipv4Addr::new(p[12], p[13], p[14], p[15]),
                u16::from_be_bytes([p[ihl], p[ihl + 1]]),
            );
            if src == me {
                return Ok(p);
            }
        }
    };
    let fields = |p: &[u8]| {
        let frag = u16::from_be_bytes([p[6], p[7]]);
        format!(
            "DF {} MF {} TTL {} TOS {:#04x}",
            frag & 0x4000 != 0,
            frag & 0x2000 != 0,
            p[8],
            p[1]
        )
    };
    let id = |p: &[u8]| u16::from_be_bytes([p[4], p[5]]);
    for mode in [
        PmtuMode::Dont,
        PmtuMode::Want,
        PmtuMode::Do,
        PmtuMode::Probe,
        PmtuMode::Interface,
        PmtuMode::Omit,
    ] {
        let c = make()?;
        c.set_pmtu(mode)?;
        c.connect(sink)?;
        c.send(b"first")?;
        let p1 = next_packet(c.local())?;
        c.send(b"second")?;
        let p2 = next_packet(c.local())?;
        t.note(&format!("{mode:?} connected 1"), fields(&p1));
        t.note(&format!("{mode:?} connected 2"), fields(&p2));
        t.note(
            &format!("{mode:?} connected ID step"),
            id(&p2).wrapping_sub(id(&p1)),
        );
        let u = make()?;
        u.set_pmtu(mode)?;
        u.send_to(b"unconnected", sink)?;
        let p = next_packet(u.local())?;
        t.note(&format!("{mode:?} unconnected"), fields(&p));
        if matches!(mode, PmtuMode::Do | PmtuMode::Probe) {
            t.note(&format!("{mode:?} unconnected ID"), id(&p));
        }
    }
    Ok(t)
}

#[test]
fn header_fields_by_mode_match_a_kernel_socket() -> io::Result<()> {
    // L2.3, L3.5, L3.6: DF, IP ID and TTL as each mode sends them.
    let Some(r) = Routed::open("header_fields_by_mode_match_a_kernel_socket")? else {
        return Ok(());
    };
    let _sink = KernelSock::bind(&r.far, sa(FAR_IP, 5400))?;
    let watch = raw_udp_socket(&r.far)?;
    let kernel = header_fields_transcript(
        &|| r.near_sock(),
        sa(FAR_IP, 5400),
        &watch,
        &Routed::near_roles(),
    )?;
    let stack = header_fields_transcript(
        &|| r.stack_sock(),
        sa(FAR_IP, 5400),
        &watch,
        &Routed::stack_roles(),
    )?;
    assert_same(&kernel, &stack);
    Ok(())
}

/// The record-route lines of `ping -R` output, addresses replaced by roles.
fn record_route_lines(out: &str, roles: &[(Ipv4Addr, &'static str)]) -> Transcript {
    let mut t = Transcript::new(roles);
    let mut in_rr = false;
    for line in out.lines() {
        if line.starts_with("RR:") {
            in_rr = true;
        } else if line.trim().is_empty() || !line.starts_with('\t') {
            in_rr = false;
        }
        if in_rr {
            t.note("RR", line.trim_start_matches("RR:").trim());
        }
    }
    t
}

#[test]
fn ping_with_record_route_is_answered_like_by_a_kernel() -> io::Result<()> {
    // RFC 1122 3.2.2.6, RFC 791 record route on an echo request (`ping -R`): Linux records its
    // own address on arrival and echoes the option in the reply (icmp_reply → ip_options_echo),
    // so the route shows both ways.
    let Some(r) = Routed::open("ping_with_record_route_is_answered_like_by_a_kernel")? else {
        return Ok(());
    };
    let ping = |to: &str| r.far.exec(["ping", "-R", "-c", "1", "-W", "2", to]);
    let near_out = ping("10.0.2.2")?;
    let stack_out = ping("10.0.0.2")?;
    eprintln!("kernel:\n{near_out}\nstack:\n{stack_out}");
    let far_roles = |me: Ipv4Addr, router: Ipv4Addr| {
        [
            (me, "self"),
            (router, "router (near side)"),
            (Ipv4Addr::new(10, 0, 1, 1), "router (far side)"),
            (FAR_IP, "far"),
        ]
    };
    let kernel = record_route_lines(&near_out, &far_roles(NEAR_IP, ROUTER_NEAR_IP));
    let stack = record_route_lines(&stack_out, &far_roles(STACK_IP, KERNEL_IP));
    assert!(!kernel.lines().is_empty(), "{near_out}");
    assert_same(&kernel, &stack);
    Ok(())
}

#[test]
fn port_unreachables_are_rate_limited_like_the_kernels() -> io::Result<()> {
    // L5.7: per destination, a burst of 6, then one per icmp_ratelimit (1 s). Ten datagrams to
    // a closed port in a burst draw six port unreachables, from the stack as from `near`.
    let Some(r) = Routed::open("port_unreachables_are_rate_limited_like_the_kernels")? else {
        return Ok(());
    };
    let icmp = raw_icmp_socket(&r.far)?;
    let far = KernelSock::bind(&r.far, sa(FAR_IP, 0))?;
    // Neighbours first, so that the burst is not queued behind ARP.
    for to in [STACK_IP, NEAR_IP] {
        r.far
            .exec(["ping", "-c", "1", "-W", "2", &to.to_string()])?;
    }
    let start = Instant::now();
    for i in 0..10u8 {
        far.0.send_to(&[i; 8], sa(STACK_IP, 9))?;
        far.0.send_to(&[i; 8], sa(NEAR_IP, 9))?;
    }
    let (mut from_stack, mut from_near) = (0, 0);
    while let Some(p) = raw_recv(&icmp, std::time::Duration::from_millis(300))? {
        if p[20] != 3 {
            continue;
        }
        match Ipv4Addr::new(p[12], p[13], p[14], p[15]) {
            STACK_IP => from_stack += 1,
            NEAR_IP => from_near += 1,
            _ => {}
        }
    }
    assert!(
        start.elapsed() < std::time::Duration::from_millis(900),
        "one burst"
    );
    let near = |f| kernel_counter(&r.near, "Icmp", f);
    let st = r.rt.stats();
    let kernel = (
        from_near,
        near("OutDestUnreachs"),
        near("OutRateLimitHost"),
        kernel_counter(&r.near, "Udp", "NoPorts"),
    );
    let stack = (
        from_stack,
        st.icmp.out_dest_unreachs,
        st.icmp.out_rate_limit_host,
        st.udp.no_ports,
    );
    assert_eq!(
        kernel,
        (6, 6, 4, 10),
        "kernel: (received, OutDestUnreachs, OutRateLimitHost, NoPorts)"
    );
    assert_eq!(stack, kernel, "stack vs kernel");
    Ok(())
}

/// L4.4: a queue waiting for its last fragment while more than `ipfrag_max_dist` (64) other
/// fragments from the same source arrive is flushed and restarted when that fragment comes, so
/// the datagram is lost; with fewer in between it completes.
fn max_dist_transcript(
    raw: &std::os::fd::OwnedFd,
    sock: &dyn Sock,
    counters: &dyn Fn() -> Reasm,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let me = sock.local();
    let small = udp_datagram(sa(FAR_IP, 7777), me, &pattern(1992, 1));
    let halves = [(0, 1000), (1000, 2000)];
    let mut buf = vec![0u8; 4096];
    for (name, base, others) in [
        ("30 in between", 0x7000u16, 30u16),
        ("33 in between", 0x7100, 33),
    ] {
        let before = counters();
        let waiting = udp_datagram(sa(FAR_IP, 7778), me, &pattern(1992, 2));
        inject(raw, *me.ip(), base, &waiting, &halves[..1])?;
        for i in 1..=others {
            inject(raw, *me.ip(), base + i, &small, &halves)?;
        }
        inject(raw, *me.ip(), base, &waiting, &halves[1..])?;
        let expected = 2 + 2 * u64::from(others);
        wait_until(TIMEOUT, || counters().0 - before.0 >= expected);
        let mut from_waiting = 0;
        let mut from_others = 0;
        while let Ok((_, from)) = sock.recv_timeout(&mut buf, QUIET) {
            match from.port() {
                7778 => from_waiting += 1,
                _ => from_others += 1,
            }
        }
        t.note(&format!("{name}: others delivered"), from_others);
        t.note(&format!("{name}: waiting datagram delivered"), from_waiting);
        t.note(
            &format!("{name}: (reqds, oks, fails, overlaps)"),
            delta(before, counters()),
        );
    }
    Ok(t)
}

fn reasm_counters_near(near: &Netns) -> Reasm {
    let c = |s, f| kernel_counter(near, s, f);
    (
        c("Ip", "ReasmReqds"),
        c("Ip", "ReasmOKs"),
        c("Ip", "ReasmFails"),
        c("IpExt", "ReasmOverlaps"),
    )
}

fn reasm_counters_stack(rt: &Runtime) -> Reasm {
    let st = rt.stats();
    (
        st.ip.reasm_reqds,
        st.ip.reasm_oks,
        st.ip.reasm_fails,
        st.ip_ext.reasm_overlaps,
    )
}

#[test]
fn ipfrag_max_dist_flushes_stale_queues_like_the_kernel() -> io::Result<()> {
    // L4.4: a queue that 33 other fragments from its source overtook is flushed; 30 is fine.
    let Some(r) = Routed::open("ipfrag_max_dist_flushes_stale_queues_like_the_kernel")? else {
        return Ok(());
    };
    let raw = raw_ip_socket(&r.far)?;
    let k = r.near_sock()?;
    let kernel = max_dist_transcript(
        &raw,
        &*k,
        &|| reasm_counters_near(&r.near),
        &Routed::near_roles(),
    )?;
    let s = r.stack_sock()?;
    let stack = max_dist_transcript(
        &raw,
        &*s,
        &|| reasm_counters_stack(&r.rt),
        &Routed::stack_roles(),
    )?;
    let lines = kernel.lines();
    assert_eq!(
        lines[1], "30 in between: waiting datagram delivered: 1",
        "{lines:#?}"
    );
    assert_eq!(
        lines[4], "33 in between: waiting datagram delivered: 0",
        "{lines:#?}"
    );
    assert_same(&kernel, &stack);
    Ok(())
}

/// L4.6: malformed fragment sequences, one queue each (ID, then the fragments as (offset, data
/// length, MF)). The datagram is 3008 bytes (UDP header included) unless it says otherwise.
fn malformed_transcript(
    raw: &std::os::fd::OwnedFd,
    sock: &dyn Sock,
    counters: &dyn Fn() -> Reasm,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    type Frag = (usize, usize, bool);
    let mut t = Transcript::new(roles);
    let me = sock.local();
    let datagram = udp_datagram(sa(FAR_IP, 7777), me, &pattern(3000, 6));
    // 65 536 bytes of transport data: one more than fits in an IP datagram with its header.
    let oversize: Vec<u8> = pattern(65_536, 7);
    let mut oversize_frags: Vec<Frag> =
        (0..65_536).step_by(1256).map(|o| (o, 1256, true)).collect();
    if let Some(last) = oversize_frags.last_mut() {
        *last = (last.0, 65_536 - last.0, false);
    }
    let cases: Vec<(&str, u16, &[u8], Vec<Frag>)> = vec![
        (
            "odd-length middle fragment",
            0x7201,
            &datagram,
            vec![(0, 1003, true), (1000, 1000, true), (2000, 1008, false)],
        ),
        (
            "zero-length fragment",
            0x7202,
            &datagram,
            vec![
                (0, 1000, true),
                (1000, 0, true),
                (1000, 1000, true),
                (2000, 1008, false),
            ],
        ),
        (
            "two different ends",
            0x7203,
            &datagram,
            vec![(2000, 1008, false), (1000, 1000, false), (0, 1000, true)],
        ),
        (
            "data past the end",
            0x7204,
            &datagram,
            vec![
                (2000, 1008, false),
                (2504, 1000, true),
                (0, 1000, true),
                (1000, 1000, true),
            ],
        ),
        ("over 65 535 bytes", 0x7205, &oversize, oversize_frags),
    ];
    let mut buf = vec![0u8; 65536];
    for (name, id, data, frags) in cases {
        let before = counters();
        for &(offset, len, more) in &frags {
            // Past the datagram's end the data is zeros.
            let mut payload = data.get(offset..).unwrap_or(&[]).to_vec();
            payload.resize(len, 0);
            let p = ipv4_packet((FAR_IP, *me.ip()), id, (offset, more, false), &[], &payload);
            raw_send(raw, &p, *me.ip())?;
        }
        let n = frags.len() as u64;
        wait_until(TIMEOUT, || counters().0 - before.0 >= n);
        let got = sock.recv_timeout(&mut buf, QUIET);
        let identical = matches!(&got, Ok((n, _)) if buf[..*n] == datagram[8..]);
        t.result(&format!("{name}: recv"), &got);
        t.note(&format!("{name}: byte-identical"), identical);
        t.note(
            &format!("{name}: (reqds, oks, fails, overlaps)"),
            delta(before, counters()),
        );
    }
    Ok(t)
}

#[test]
fn malformed_fragment_sequences_fail_like_in_the_kernel() -> io::Result<()> {
    // L4.6, L4.5: odd-length middle fragments, zero-length ones, two ends, data past the end, over
    // 65 535 bytes.
    let Some(r) = Routed::open("malformed_fragment_sequences_fail_like_in_the_kernel")? else {
        return Ok(());
    };
    let raw = raw_ip_socket(&r.far)?;
    let k = r.near_sock()?;
    let kernel = malformed_transcript(
        &raw,
        &*k,
        &|| reasm_counters_near(&r.near),
        &Routed::near_roles(),
    )?;
    let s = r.stack_sock()?;
    let stack = malformed_transcript(
        &raw,
        &*s,
        &|| reasm_counters_stack(&r.rt),
        &Routed::stack_roles(),
    )?;
    assert_same(&kernel, &stack);
    Ok(())
}

/// Soft errors through the router (L1.2, L1.5): the router cannot resolve 10.0.1.99 and
/// answers host unreachable (3/1, EHOSTUNREACH, soft). A connected socket without IP_RECVERR
/// hears nothing; with IP_RECVERR the error is queued and pending, connected or not.
fn soft_error_transcript(
    make: &dyn Fn() -> io::Result<Box<dyn Sock>>,
    icmp_in: &dyn Fn() -> u64,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let dst = sa(Ipv4Addr::new(10, 0, 1, 99), 9);
    let payload = pattern(64, 99);
    let mut buf = vec![0u8; 2048];

    let s = make()?;
    t.result("1 connect", &s.connect(dst));
    let before = icmp_in();
    t.result("1 send", &s.send(&payload));
    t.note("1 ICMP arrived", wait_until(TIMEOUT, || icmp_in() > before));
    t.result("1 POLLERR", &s.wait_error(QUIET));
    t.result("1 recv", &s.recv_timeout(&mut buf, QUIET));
    t.error("1 SO_ERROR", s.take_error());

    let s = make()?;
    t.result("2 IP_RECVERR", &s.set_recv_error(true));
    t.result("2 connect", &s.connect(dst));
    t.result("2 send", &s.send(&payload));
    t.result("2 POLLERR", &s.wait_error(TIMEOUT));
    t.error("2 SO_ERROR", s.take_error());
    t.err_entry("2 errqueue", s.recv_error(&mut buf), &payload);
    t.result("2 recv", &s.recv_timeout(&mut buf, QUIET));

    let s = make()?;
    t.result("3 IP_RECVERR", &s.set_recv_error(true));
    t.result("3 sendto", &s.send_to(&payload, dst));
    t.result("3 POLLERR", &s.wait_error(TIMEOUT));
    t.result("3 recv", &s.recv_timeout(&mut buf, QUIET));
    t.err_entry("3 errqueue", s.recv_error(&mut buf), &payload);
    t.error("3 SO_ERROR", s.take_error());
    Ok(t)
}

#[test]
fn host_unreachable_is_a_soft_error_like_on_a_kernel_socket() -> io::Result<()> {
    // L1.2, L1.5: host unreachable (EHOSTUNREACH) is soft: invisible without IP_RECVERR, queued
    // with it.
    let Some(r) = Routed::open("host_unreachable_is_a_soft_error_like_on_a_kernel_socket")? else {
        return Ok(());
    };
    // One ARP probe, 100 ms apart: the router gives up on 10.0.1.99 quickly.
    r.router.sysctl("net.ipv4.neigh.veth0.mcast_solicit", "1")?;
    r.router
        .sysctl("net.ipv4.neigh.veth0.retrans_time_ms", "100")?;
    let kernel = soft_error_transcript(
        &|| r.near_sock(),
        &|| kernel_counter(&r.near, "Icmp", "InDestUnreachs"),
        &Routed::near_roles(),
    )?;
    let stack = soft_error_transcript(
        &|| r.stack_sock(),
        &|| r.rt.stats().icmp.in_dest_unreachs,
        &Routed::stack_roles(),
    )?;
    let lines = kernel.lines();
    assert_eq!(lines[2], "1 ICMP arrived: true", "{lines:#?}");
    assert_same(&kernel, &stack);
    Ok(())
}

/// UDP checksums on receive (L5.1, L5.2, L5.4), datagrams injected from the far host: a bad
/// checksum on a large and on a small datagram to an open port (dropped; the next good one is
/// received), a bad one to a closed port (no ICMP), and checksum 0 (none: accepted).
fn checksum_transcript(
    raw: &std::os::fd::OwnedFd,
    icmp: &std::os::fd::OwnedFd,
    sock: &dyn Sock,
    counters: &dyn Fn() -> (u64, u64, u64, u64, u64),
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let me = sock.local();
    let mut buf = vec![0u8; 4096];
    let mut id = 0x7300u16;
    let mut send = |dst: SocketAddrV4, len: usize, how: &str| -> io::Result<()> {
        let mut d = udp_datagram(sa(FAR_IP, 7777), dst, &pattern(len, len as u8));
        match how {
            "bad" => d[6] ^= 0x55,
            "zero" => d[6..8].copy_from_slice(&[0, 0]),
            _ => {}
        }
        id += 1;
        raw_send(
            raw,
            &ipv4_fragment(FAR_IP, *dst.ip(), id, 0, false, &d),
            *dst.ip(),
        )
    };
    let delivered = |before: (u64, u64, u64, u64, u64), n: u64| {
        wait_until(TIMEOUT, || counters().0 - before.0 >= n)
    };
    let delta = |a: (u64, u64, u64, u64, u64)| {
        let b = counters();
        (b.1 - a.1, b.2 - a.2, b.3 - a.3, b.4 - a.4)
    };
    for (name, len) in [
        ("bad checksum, 100 bytes", 100),
        ("bad checksum, 20 bytes", 20),
    ] {
        let before = counters();
        send(me, len, "bad")?;
        delivered(before, 1);
        // A blocking kernel socket's poll verifies queued checksums (first_packet_length), so
        // the kernel's deferred check (L5.2) does not show here.
        t.result(&format!("{name}: readable"), &sock.readable());
        send(me, 30, "good")?;
        t.result(
            &format!("{name}: recv"),
            &sock.recv_timeout(&mut buf, TIMEOUT),
        );
        t.note(
            &format!("{name}: (InDatagrams, InErrors, InCsumErrors, NoPorts)"),
            delta(before),
        );
    }
    let before = counters();
    send(sa(*me.ip(), 9), 100, "bad")?;
    delivered(before, 1);
    t.note(
        "bad checksum to a closed port: ICMP",
        raw_recv(icmp, QUIET)?.is_some(),
    );
    t.note(
        "bad checksum to a closed port: (InDatagrams, InErrors, InCsumErrors, NoPorts)",
        delta(before),
    );
    let before = counters();
    send(me, 100, "zero")?;
    t.result("checksum 0: recv", &sock.recv_timeout(&mut buf, TIMEOUT));
    t.note(
        "checksum 0: (InDatagrams, InErrors, InCsumErrors, NoPorts)",
        delta(before),
    );
    Ok(t)
}

#[test]
fn udp_checksums_are_checked_like_in_the_kernel() -> io::Result<()> {
    // L5.2, L5.4, L5.5: bad checksums dropped (InCsumErrors), no ICMP for them, checksum 0
    // accepted.
    let Some(r) = Routed::open("udp_checksums_are_checked_like_in_the_kernel")? else {
        return Ok(());
    };
    let raw = raw_ip_socket(&r.far)?;
    let icmp = raw_icmp_socket(&r.far)?;
    let k = r.near_sock()?;
    let near_counters = || {
        let c = |s, f| kernel_counter(&r.near, s, f);
        (
            c("Ip", "InDelivers"),
            c("Udp", "InDatagrams"),
            c("Udp", "InErrors"),
            c("Udp", "InCsumErrors"),
            c("Udp", "NoPorts"),
        )
    };
    let kernel = checksum_transcript(&raw, &icmp, &*k, &near_counters, &Routed::near_roles())?;
    let s = r.stack_sock()?;
    let stack_counters = || {
        let st = r.rt.stats();
        (
            st.ip.in_delivers,
            st.udp.in_datagrams,
            st.udp.in_errors,
            st.udp.in_csum_errors,
            st.udp.no_ports,
        )
    };
    let stack = checksum_transcript(&raw, &icmp, &*s, &stack_counters, &Routed::stack_roles())?;
    assert_same(&kernel, &stack);
    Ok(())
}

/// A far link narrower than min_pmtu (L2.1, L2.3): the router reports 500, the host clamps the
/// path MTU to 552 and locks it; WANT then sends without DF (the router fragments further),
/// while DO keeps DF, is refused by the router each time, and learns nothing more.
fn tiny_mtu_transcript(
    make: &dyn Fn() -> io::Result<Box<dyn Sock>>,
    sink: &KernelSock,
    watch: &std::os::fd::OwnedFd,
    icmp_in: &dyn Fn() -> u64,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let mut buf = vec![0u8; 4096];
    let data = pattern(1000, 50);
    // What became of a datagram just sent: an ICMP error, or its arrival (with the DF bit of
    // the packet the far host saw; after reassembly, that of the first fragment).
    let outcome = |s: &dyn Sock, before: u64, buf: &mut [u8]| -> io::Result<String> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if icmp_in() > before {
                s.wait_error(QUIET)?;
                return Ok("ICMP came back".to_owned());
            }
            if let Ok((n, _)) = sink.recv_timeout(buf, std::time::Duration::from_millis(2)) {
                let p = raw_recv(watch, TIMEOUT)?.expect("the copy of the raw UDP socket");
                let df = u16::from_be_bytes([p[6], p[7]]) & 0x4000 != 0;
                return Ok(format!("far host got {n}, DF {df}"));
            }
        }
        Ok("nothing".to_owned())
    };

    let s = make()?;
    t.result("WANT connect", &s.connect(sink.local()));
    for len in [1000, 1000, 100] {
        let before = icmp_in();
        t.result(&format!("WANT send {len}"), &s.send(&data[..len]));
        t.note("outcome", outcome(&*s, before, &mut buf)?);
        t.result("IP_MTU", &s.mtu());
        t.error("SO_ERROR", s.take_error());
    }
    let s = make()?;
    t.result("DO set", &s.set_pmtu(PmtuMode::Do));
    t.result("DO connect", &s.connect(sink.local()));
    t.result("IP_MTU", &s.mtu());
    for len in [524, 525] {
        let before = icmp_in();
        let sent = s.send(&data[..len]);
        t.result(&format!("DO send {len}"), &sent);
        if sent.is_ok() {
            t.note("outcome", outcome(&*s, before, &mut buf)?);
        }
        t.result("IP_MTU", &s.mtu());
        t.error("SO_ERROR", s.take_error());
    }
    Ok(t)
}

#[test]
fn a_far_link_below_min_pmtu_clamps_and_locks_like_the_kernel() -> io::Result<()> {
    // L2.1, L2.3: a 3/4 below min_pmtu (552) clamps and locks the entry; WANT then sends without
    // DF.
    let Some(r) = Routed::open("a_far_link_below_min_pmtu_clamps_and_locks_like_the_kernel")?
    else {
        return Ok(());
    };
    r.router.ip(["link", "set", "dev", "veth0", "mtu", "500"])?;
    r.far.ip(["link", "set", "dev", "eth0", "mtu", "500"])?;
    let sink = KernelSock::bind(&r.far, sa(FAR_IP, 5500))?;
    let watch = raw_udp_socket(&r.far)?;
    let kernel = tiny_mtu_transcript(
        &|| r.near_sock(),
        &sink,
        &watch,
        &|| kernel_counter(&r.near, "Icmp", "InDestUnreachs"),
        &Routed::near_roles(),
    )?;
    let stack = tiny_mtu_transcript(
        &|| r.stack_sock(),
        &sink,
        &watch,
        &|| r.rt.stats().icmp.in_dest_unreachs,
        &Routed::stack_roles(),
    )?;
    let lines = kernel.lines();
    assert!(lines.contains(&"IP_MTU: Ok(552)".to_owned()), "{lines:#?}");
    assert_same(&kernel, &stack);
    Ok(())
}
