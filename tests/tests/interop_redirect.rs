//! ICMP redirects from a real Linux router (L1.1), compared with a Linux host on the same link.
//!
//! ```text
//!            udpstack 10.0.0.2 ── tap0 ┐
//!   kernel "near" 10.0.0.4 ── veth ────┤ br0 10.0.0.1 [router, ip_forward=1]
//!   kernel "g2"   10.0.0.3 ── veth ────┘     route 10.0.3.0/24 via 10.0.0.3
//!                 10.0.3.1 (on g2's lo)
//! ```
//!
//! The stack and `near` route everything through the router. A datagram to 10.0.3.1 goes to the
//! router, which forwards it back out of the interface it came in on, to g2, and so tells the
//! sender with a host redirect (`send_redirects`, rate limited by `ip_rt_send_redirect`: the
//! second one at least 40 ms after the first). The sender does not know g2's MAC yet, so the
//! first redirect only starts ARP; the second one takes effect and later datagrams go to g2
//! directly. The transcript records, per datagram, whether the router forwarded it.
//! All namespaces are the test's own and go away when it ends.

mod interop;

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use interop::*;
use tap_harness::{privileged_or_skip, Netns, TapLink, TapLinkConfig};
use udpstack::runtime::Runtime;

const G2_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const NEAR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 4);
const DEST: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 1);

/// The topology above.
struct Lan {
    router: Netns,
    g2: Netns,
    near: Netns,
    device: Option<tap_harness::TapDevice>,
}

impl Lan {
    fn open(test: &str) -> io::Result<Option<Lan>> {
        if !privileged_or_skip(test)? {
            return Ok(None);
        }
        let TapLink { device, netns, .. } = TapLink::open(TapLinkConfig {
            prefix: "udpstack-redir".to_owned(),
            ..TapLinkConfig::default()
        })?;
        let router = netns;
        // The TAP's address moves to a bridge that also holds the two hosts' links.
        router.ip(["addr", "flush", "dev", "tap0"])?;
        router.ip(["link", "add", "br0", "type", "bridge"])?;
        router.ip(["link", "set", "tap0", "master", "br0"])?;
        router.ip(["addr", "add", "10.0.0.1/24", "dev", "br0"])?;
        router.ip(["link", "set", "br0", "up"])?;
        let g2 = Netns::new("udpstack-g2")?;
        let near = Netns::new("udpstack-near")?;
        for (ns, port, addr) in [(&g2, "vg2", "10.0.0.3/24"), (&near, "vnear", "10.0.0.4/24")] {
            router.ip([
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns.name(),
            ])?;
            router.ip(["link", "set", port, "master", "br0", "up"])?;
            ns.ip(["addr", "add", addr, "dev", "eth0"])?;
            ns.ip(["link", "set", "eth0", "up"])?;
            ns.ip(["link", "set", "lo", "up"])?;
        }
        // g2's own address on the far network (on lo: no dummy device needed).
        g2.ip(["addr", "add", "10.0.3.1/32", "dev", "lo"])?;
        near.ip(["route", "add", "default", "via", "10.0.0.1"])?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        router.ip(["route", "add", "10.0.3.0/24", "via", "10.0.0.3"])?;
        Ok(Some(Lan {
            router,
            g2,
            near,
            device: Some(device),
        }))
    }

    /// Sends four datagrams 150 ms apart with `send` and notes, for each, whether the router
    /// forwarded it and whether g2's socket got it.
    fn transcript(
        &self,
        sink: &KernelSock,
        send: &dyn Fn(u8) -> io::Result<usize>,
    ) -> io::Result<Transcript> {
        let mut t = Transcript::new(&[(G2_IP, "g2"), (DEST, "dest")]);
        let mut buf = [0u8; 64];
        for i in 0..4u8 {
            let before = kernel_counter(&self.router, "Ip", "ForwDatagrams");
            send(i)?;
            let got = sink.recv_timeout(&mut buf, Duration::from_secs(2));
            let forwarded = kernel_counter(&self.router, "Ip", "ForwDatagrams") - before;
            t.note(
                &format!("datagram {i}"),
                format_args!(
                    "arrived {} via-router {}",
                    got.is_ok_and(|(n, _)| buf[..n] == [i; 8]),
                    forwarded
                ),
            );
            std::thread::sleep(Duration::from_millis(150));
        }
        Ok(t)
    }
}

#[test]
fn a_redirect_from_the_router_moves_traffic_to_the_next_router_like_on_linux() -> io::Result<()> {
    // L1.1: a redirect from the gateway in use, naming a gateway on the link, moves the
    // destination there once the new gateway's MAC is known (the first redirect starts ARP).
    let Some(mut lan) =
        Lan::open("a_redirect_from_the_router_moves_traffic_to_the_next_router_like_on_linux")?
    else {
        return Ok(());
    };
    let sink = KernelSock::bind(&lan.g2, sa(DEST, 9))?;

    let near = KernelSock::bind(&lan.near, sa(NEAR_IP, 4000))?;
    let kernel = lan.transcript(&sink, &|i| near.send_to(&[i; 8], sa(DEST, 9)))?;
    let route = lan
        .near
        .ip(["route", "get", &DEST.to_string()])?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        route.contains("via 10.0.0.3"),
        "the kernel host was redirected: {route}"
    );

    let device = lan.device.take().expect("the TAP device");
    let rt = Runtime::start(device, stack_config(Some(KERNEL_IP)), 5)?;
    let ours = rt.bind(sa(STACK_IP, 4000))?;
    let stack = lan.transcript(&sink, &|i| ours.send_to(&[i; 8], sa(DEST, 9)))?;
    assert_same(&kernel, &stack);
    let link = rt.stats().link;
    assert_eq!(
        (link.redirects_ignored, link.redirects_applied),
        (1, 1),
        "the first redirect only started ARP"
    );
    assert_eq!(rt.stats().icmp.in_redirects, 2);
    drop(ours);
    rt.shutdown();
    Ok(())
}
