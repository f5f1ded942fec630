//! The runtime over a real TAP device, against the Linux kernel on the other side of the link
//! (issue "runtime over TAP").
//!
//! ```text
//!  udpstack 10.0.0.2 ── TapDevice ══ tap0 10.0.0.1/24 [private namespace "udpstack-tap-…"]
//! ```
//!
//! Everything kernel-side lives in a namespace each test creates (`TapLink`); kernel sockets
//! are made inside it with `Netns::enter`. Each test keeps its runtime and namespace alive to
//! the end (dropped in that order), so nothing outlives a failing test.
//!
//! Covered: echo of 0 to 65 507-byte payloads both ways (fragmented by the stack and reassembled
//! by the kernel, and the reverse, with equal fragment counts on both sides, L3.4), the kernel's
//! ping, ICMP port unreachable in both directions with the same socket-visible outcomes
//! (L1.5–L1.7, L5.6), broadcasts both ways, and a pcap of a run whose checksums tshark
//! verifies; the stack's own broadcasts looped back to its own sockets (`ip_mc_output`).

mod interop;

use std::io;
use std::path::{Path, PathBuf};

use interop::*;
use tap_harness::{privileged_or_skip, Netns, TapLink, TapLinkConfig};
use udpstack::device::PcapDevice;
use udpstack::runtime::Runtime;

/// The stack on a TAP link to a kernel namespace. Fields drop in order: the runtime (and the
/// TAP with it) first, then the namespace.
struct Tap {
    rt: Runtime,
    ns: Netns,
}

impl Tap {
    /// `None` when the test is to be skipped (no privileges and UDPSTACK_SKIP_NETNS=1).
    fn open(test: &str, pcap: Option<&Path>) -> io::Result<Option<Tap>> {
        if !privileged_or_skip(test)? {
            return Ok(None);
        }
        let TapLink { device, netns, .. } = TapLink::open(TapLinkConfig::default())?;
        let config = stack_config(None);
        let rt = match pcap {
            Some(path) => Runtime::start(PcapDevice::create(device, path)?, config, 0x7a9)?,
            None => Runtime::start(device, config, 0x7a9)?,
        };
        Ok(Some(Tap { rt, ns: netns }))
    }
}

#[test]
fn echo_of_every_size_both_ways_is_byte_identical() -> io::Result<()> {
    // L3.3, L3.4, L4: payloads up to the largest (65 507); the stack fragments what the kernel
    // reassembles and the reverse. Both sides cut the same number of fragments (1473 → 2,
    // 8000 → 6, 65 507 → 45 at MTU 1500).
    let Some(tap) = Tap::open("echo_of_every_size_both_ways_is_byte_identical", None)? else {
        return Ok(());
    };
    let stack = tap.rt.bind(sa(STACK_IP, 7000))?;
    stack.set_read_timeout(Some(TIMEOUT))?;
    let kernel = KernelSock::bind(&tap.ns, sa(KERNEL_IP, 7001))?;
    let k_before = |field: &str| kernel_counter(&tap.ns, "Ip", field);
    let (k_frag0, k_reasm0) = (k_before("FragCreates"), k_before("ReasmOKs"));
    let s_before = tap.rt.stats().ip;

    let mut kbuf = vec![0u8; 65536];
    let mut sbuf = vec![0u8; 65536];
    for (i, size) in [0usize, 1, 1472, 1473, 8000, 65507].into_iter().enumerate() {
        let payload = pattern(size, i as u8);
        // Stack → kernel.
        assert_eq!(stack.send_to(&payload, sa(KERNEL_IP, 7001))?, size);
        let (n, from) = kernel
            .recv_timeout(&mut kbuf, TIMEOUT)
            .map_err(|e| io::Error::new(e.kind(), format!("kernel receiving {size} bytes: {e}")))?;
        assert_eq!(from.to_string(), "10.0.0.2:7000");
        assert!(kbuf[..n] == payload[..], "{size} bytes stack → kernel");
        // Kernel → stack: the kernel echoes what it got.
        assert_eq!(kernel.0.send_to(&kbuf[..n], from)?, size);
        let (n, from) = stack
            .recv_from(&mut sbuf)
            .map_err(|e| io::Error::new(e.kind(), format!("stack receiving {size} bytes: {e}")))?;
        assert_eq!(from.to_string(), "10.0.0.1:7001");
        assert!(sbuf[..n] == payload[..], "{size} bytes kernel → stack");
    }

    let s = tap.rt.stats().ip;
    let stack_frags = s.frag_creates - s_before.frag_creates;
    let kernel_frags = k_before("FragCreates") - k_frag0;
    assert_eq!(stack_frags, 2 + 6 + 45, "fragments the stack made");
    assert_eq!(kernel_frags, stack_frags, "fragments the kernel made");
    assert_eq!(s.frag_oks - s_before.frag_oks, 3);
    assert_eq!(
        s.reasm_oks - s_before.reasm_oks,
        3,
        "reassembled by the stack"
    );
    assert_eq!(
        k_before("ReasmOKs") - k_reasm0,
        3,
        "reassembled by the kernel"
    );
    assert_eq!(s.reasm_reqds - s_before.reasm_reqds, 53);
    assert_eq!(tap.rt.device_errors().0, 0);
    Ok(())
}

#[test]
fn the_kernel_pings_the_stack() -> io::Result<()> {
    // RFC 1122 3.2.2.6: every echo request to us gets a reply.
    let Some(tap) = Tap::open("the_kernel_pings_the_stack", None)? else {
        return Ok(());
    };
    let out = tap
        .ns
        .exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"])?;
    assert!(
        out.contains("3 packets transmitted, 3 received"),
        "ping output:\n{out}"
    );
    let icmp = tap.rt.stats().icmp;
    assert_eq!((icmp.in_echos, icmp.out_echo_reps), (3, 3));
    Ok(())
}

#[test]
fn port_unreachable_reaches_sockets_as_on_linux_both_ways() -> io::Result<()> {
    // L1.5–L1.7, L5.4, L5.6. The same steps twice: a stack socket towards a closed port of the
    // kernel (the kernel sends the ICMP errors), and a kernel socket towards a closed port of
    // the stack (the stack sends them). The kernel's transcript is the reference; each line
    // must match, with addresses as roles ("self", "peer").
    let Some(tap) = Tap::open(
        "port_unreachable_reaches_sockets_as_on_linux_both_ways",
        None,
    )?
    else {
        return Ok(());
    };
    let kernel_roles = [(KERNEL_IP, "self"), (STACK_IP, "peer")];
    let stack_roles = [(STACK_IP, "self"), (KERNEL_IP, "peer")];

    let kernel = closed_port_scenario(
        &|| Ok(Box::new(KernelSock::bind(&tap.ns, sa(KERNEL_IP, 0))?) as Box<dyn Sock>),
        sa(STACK_IP, 9),
        &|| kernel_counter(&tap.ns, "Icmp", "InDestUnreachs"),
        &kernel_roles,
    )?;
    let stack = closed_port_scenario(
        &|| Ok(Box::new(tap.rt.bind(sa(STACK_IP, 0))?) as Box<dyn Sock>),
        sa(KERNEL_IP, 9),
        &|| tap.rt.stats().icmp.in_dest_unreachs,
        &stack_roles,
    )?;

    // The reference itself, spelled out for the steps the issue names.
    let k = kernel.lines();
    assert_eq!(k[2], "1 recv: Err(errno 111)", "{k:#?}");
    assert_eq!(k[6], "2 ICMP arrived: true", "{k:#?}");
    assert_eq!(k[8], "2 SO_ERROR: None", "{k:#?}");
    assert!(
        k.iter().any(|l| l.starts_with(
            "3 errqueue: errno 111 origin 2 type 3 code 3 info 0 data 0 offender peer \
             name peer:9 len 520 trunc false"
        )),
        "{k:#?}"
    );
    assert_same(&kernel, &stack);
    assert_eq!(tap.rt.stats().icmp.out_dest_unreachs, 4);
    assert_eq!(tap.rt.stats().udp.no_ports, 4);
    Ok(())
}

#[test]
fn a_pcap_of_a_run_has_no_bad_checksums() -> io::Result<()> {
    // L3.6, L5.6: every checksum we compute (UDP, IPv4, ICMP, a rewritten quote) verifies.
    // Wireshark's checksum status: 0 bad, 1 good, 2 unverified, 3 not present, 4 illegal.
    // The run: echoes (one fragmented each way), ping, and port unreachables both ways, one
    // of them quoting a reassembled datagram (the quoted header's length and checksum are
    // rewritten, L5.6).
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("interop-tap-{}.pcap", std::process::id()));
    {
        let Some(tap) = Tap::open("a_pcap_of_a_run_has_no_bad_checksums", Some(&path))? else {
            return Ok(());
        };
        let stack = tap.rt.bind(sa(STACK_IP, 7000))?;
        stack.set_read_timeout(Some(TIMEOUT))?;
        let kernel = KernelSock::bind(&tap.ns, sa(KERNEL_IP, 7001))?;
        let mut buf = vec![0u8; 65536];
        for size in [100, 3000] {
            stack.send_to(&pattern(size, 1), sa(KERNEL_IP, 7001))?;
            let (n, from) = kernel.recv_timeout(&mut buf, TIMEOUT)?;
            kernel.0.send_to(&buf[..n], from)?;
            assert_eq!(stack.recv(&mut buf)?, size);
        }
        tap.ns
            .exec(["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.2"])?;
        // Kernel → closed stack port, small and fragmented; stack → closed kernel port.
        for size in [10, 3000] {
            let k = KernelSock::bind(&tap.ns, sa(KERNEL_IP, 0))?;
            k.0.connect(sa(STACK_IP, 9))?;
            k.0.send(&pattern(size, 2))?;
            let refused = k.recv_timeout(&mut buf, TIMEOUT).unwrap_err();
            assert_eq!(refused.raw_os_error(), Some(111));
        }
        let s = tap.rt.udp_socket();
        s.connect(sa(KERNEL_IP, 9))?;
        s.send(b"closed?")?;
        s.set_read_timeout(Some(TIMEOUT))?;
        assert_eq!(s.recv(&mut buf).unwrap_err().raw_os_error(), Some(111));
    }
    let frames = tap_harness::tshark_checksum_statuses(&path)?;
    eprintln!("checksum statuses per frame ([ip], [udp], [icmp]): {frames:?}");
    let all = |i: usize| frames.iter().flat_map(move |f| f[i].iter().copied());
    let good = tap_harness::CHECKSUM_GOOD;
    let udp_checked = all(1).filter(|&s| s == good).count();
    let bad: Vec<_> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.iter()
                .flatten()
                .any(|&s| tap_harness::checksum_status_is_bad(s))
        })
        .map(|(i, f)| (i + 1, f.clone()))
        .collect();
    assert!(
        bad.is_empty(),
        "frames with bad checksums (frame number, [ip, udp, icmp]): {bad:?}; pcap kept at {}",
        path.display()
    );
    assert!(
        udp_checked >= 6,
        "at least the six echoed datagrams verified: {frames:?}"
    );
    assert!(all(2).filter(|&s| s == good).count() >= 4 + 3, "{frames:?}");
    std::fs::remove_file(&path)?;
    Ok(())
}

/// Broadcasts (L3.1, L5.3, L7.4): refused without SO_BROADCAST (sendto and connect), sent with
/// it and received by the wildcard-bound sockets on port 7100 of both hosts (Linux loops a
/// broadcast back to its own sockets, `ip_mc_output`); one to a closed port draws no ICMP and
/// counts IgnoredMulti; the limited broadcast from an unbound and from a bound socket (neither
/// side has a default route). What the sending host's own sockets see is recorded only if
/// `own_host`.
#[allow(clippy::too_many_arguments)]
fn broadcast_transcript(
    own_host: bool,
    make: &dyn Fn(std::net::Ipv4Addr) -> io::Result<Box<dyn Sock>>,
    me: std::net::Ipv4Addr,
    local_receiver: &dyn Sock,
    remote_receiver: &dyn Sock,
    local_ignored: &dyn Fn() -> u64,
    remote_ignored: &dyn Fn() -> u64,
    icmp_in: &dyn Fn() -> u64,
    roles: &[(std::net::Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let port = remote_receiver.local().port();
    let bcast = std::net::Ipv4Addr::new(10, 0, 0, 255);
    let mut buf = vec![0u8; 2048];
    let mut drain = |t: &mut Transcript, step: &str| {
        for (side, r) in [("here", local_receiver), ("there", remote_receiver)] {
            let mut got = Vec::new();
            while let Ok((n, from)) = r.recv_timeout(&mut buf, QUIET) {
                got.push((n, *from.ip()));
            }
            if own_host || side == "there" {
                t.note(&format!("{step}: received {side}"), got);
            }
        }
    };
    let s = make(me)?;
    t.result(
        "sendto without SO_BROADCAST",
        &s.send_to(b"all?", sa(bcast, port)),
    );
    t.result("connect without SO_BROADCAST", &s.connect(sa(bcast, port)));
    t.result("SO_BROADCAST", &s.set_broadcast(true));
    t.result("sendto", &s.send_to(b"all!", sa(bcast, port)));
    drain(&mut t, "sendto");
    let (local0, remote0, icmp0) = (local_ignored(), remote_ignored(), icmp_in());
    t.result("sendto a closed port", &s.send_to(b"anyone?", sa(bcast, 9)));
    wait_until(TIMEOUT, || remote_ignored() > remote0);
    std::thread::sleep(QUIET);
    if own_host {
        t.note("IgnoredMulti here", local_ignored() - local0);
    }
    t.note("IgnoredMulti there", remote_ignored() - remote0);
    t.note("ICMP came back", icmp_in() > icmp0);
    for (name, bind) in [("unbound", std::net::Ipv4Addr::UNSPECIFIED), ("bound", me)] {
        let s = make(bind)?;
        s.set_broadcast(true)?;
        let step = format!("255.255.255.255 from {name}");
        let r = s.send_to(b"everyone", sa(std::net::Ipv4Addr::BROADCAST, port));
        t.result(&step, &r);
        if r.is_ok() {
            drain(&mut t, &step);
        }
    }
    Ok(t)
}

/// Runs [`broadcast_transcript`] on the kernel side, then on the stack, and compares.
fn compare_broadcasts(test: &str, own_host: bool) -> io::Result<()> {
    let Some(tap) = Tap::open(test, None)? else {
        return Ok(());
    };
    let any = |port| sa(std::net::Ipv4Addr::UNSPECIFIED, port);
    let stack_receiver = tap.rt.bind(any(7100))?;
    let kernel_receiver = KernelSock::bind(&tap.ns, any(7100))?;
    let stack_ignored = || tap.rt.stats().udp.ignored_multi;
    let kernel_ignored = || kernel_counter(&tap.ns, "Udp", "IgnoredMulti");
    let kernel = broadcast_transcript(
        own_host,
        &|ip| Ok(Box::new(KernelSock::bind(&tap.ns, sa(ip, 0))?) as Box<dyn Sock>),
        KERNEL_IP,
        &kernel_receiver,
        &stack_receiver,
        &kernel_ignored,
        &stack_ignored,
        &|| kernel_counter(&tap.ns, "Icmp", "InDestUnreachs"),
        &[(KERNEL_IP, "self"), (STACK_IP, "peer")],
    )?;
    let stack = broadcast_transcript(
        own_host,
        &|ip| Ok(Box::new(tap.rt.bind(sa(ip, 0))?) as Box<dyn Sock>),
        STACK_IP,
        &stack_receiver,
        &kernel_receiver,
        &stack_ignored,
        &kernel_ignored,
        &|| tap.rt.stats().icmp.in_dest_unreachs,
        &[(STACK_IP, "self"), (KERNEL_IP, "peer")],
    )?;
    assert_eq!(
        kernel.lines()[0],
        "sendto without SO_BROADCAST: Err(errno 13)"
    );
    if own_host {
        // The comparison means something only if the kernel's own socket did get its copy.
        assert!(
            kernel
                .lines()
                .iter()
                .any(|l| l.starts_with("sendto: received here: [(")),
            "{:#?}",
            kernel.lines()
        );
    }
    assert_same(&kernel, &stack);
    Ok(())
}

#[test]
fn broadcasts_behave_as_on_linux_both_ways() -> io::Result<()> {
    // L3.1, L7.4, L5.4: EACCES without SO_BROADCAST; delivery with it; IgnoredMulti, no ICMP, for a
    // closed port.
    compare_broadcasts("broadcasts_behave_as_on_linux_both_ways", false)
}

#[test]
fn a_broadcast_reaches_the_senders_own_sockets_as_on_linux() -> io::Result<()> {
    // L5.3, L5.5: a broadcast is delivered to the sender's own sockets too (ip_mc_output loops it
    // back).
    compare_broadcasts(
        "a_broadcast_reaches_the_senders_own_sockets_as_on_linux",
        true,
    )
}
