//! The kernel-router topology: a far host behind a router whose far link has MTU 1280.

mod common;

use std::io;

use common::{parse_ipv4, receive_until, udp_frame, TIMEOUT};
use tap_harness::{privileged_or_skip, RouterConfig, RouterLink};
use udpstack::device::Device;
use udpstack::wire::{
    DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, UdpPacket,
};

#[test]
fn the_far_host_reaches_the_router_and_the_stack_through_it() -> io::Result<()> {
    if !privileged_or_skip("the_far_host_reaches_the_router_and_the_stack_through_it")? {
        return Ok(());
    }
    let RouterLink {
        mut device,
        router,
        far,
        config,
    } = RouterLink::open(RouterConfig::default())?;
    let tap = &config.tap;

    // A kernel socket in the far namespace reaches the router's TAP-side address.
    far.exec(["ping", "-c1", "-W2", "10.0.0.1"])?;
    assert_eq!(router.read_sysctl("net.ipv4.ip_forward")?, "1");
    let link = far.ip(["-o", "link", "show", "dev", "eth0"])?;
    assert!(link.contains("mtu 1280"), "{link}");

    // A UDP datagram from a kernel socket in the far namespace to the stack's address crosses
    // the router (which ARPs for 10.0.0.2 first; the receive loop answers).
    let script = format!("echo hello > /dev/udp/{}/4000", tap.stack_addr);
    far.exec(["bash", "-c", &script])?;
    let got = receive_until(&mut device, tap, TIMEOUT, |frame| {
        let (eth, ip, payload) = parse_ipv4(frame)?;
        (ip.protocol == IpProtocol::Udp).then_some((eth, ip, payload))
    })?
    .expect("the datagram from the far host");
    let (eth, ip, payload) = got;
    assert_eq!(eth.src, tap.kernel_mac);
    assert_eq!(ip.src, config.far_addr);
    assert_eq!(ip.dst, tap.stack_addr);
    assert_eq!(ip.ttl, 63, "forwarded once");
    let udp = UdpPacket::new_checked(&payload[..]).unwrap();
    assert_eq!(udp.dst_port(), 4000);
    assert_eq!(udp.payload(), b"hello\n");
    Ok(())
}

#[test]
fn a_dont_fragment_datagram_too_big_for_the_far_link_draws_frag_needed() -> io::Result<()> {
    if !privileged_or_skip("a_dont_fragment_datagram_too_big_for_the_far_link_draws_frag_needed")? {
        return Ok(());
    }
    let RouterLink {
        mut device,
        router: _router,
        far: _far,
        config,
    } = RouterLink::open(RouterConfig::default())?;
    let tap = &config.tap;
    // 1400 bytes of IP: fits the TAP link (1500), not the far link (1280). RFC 1191.
    let frame = udp_frame(tap, config.far_addr, true, &[0x5a; 1400 - 28]);
    device.send(&frame)?;
    let message = receive_until(&mut device, tap, TIMEOUT, |frame| {
        let (_, ip, payload) = parse_ipv4(frame)?;
        if ip.protocol != IpProtocol::Icmp || ip.dst != tap.stack_addr {
            return None;
        }
        let packet = Icmpv4Packet::new_checked(&payload[..]).ok()?;
        Some(Icmpv4Repr::parse(&packet).ok()?.message)
    })?
    .expect("an ICMP error from the router");
    assert_eq!(
        message,
        Icmpv4Message::DstUnreachable(DstUnreachable::FragNeeded { next_hop_mtu: 1280 })
    );
    Ok(())
}
