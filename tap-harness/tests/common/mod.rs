//! Frames built and read with `udpstack::wire`, and a receive loop that answers ARP for the
//! stack's address the way the stack will.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tap_harness::{TapDevice, TapLinkConfig};
use udpstack::device::Device;
use udpstack::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Options, Ipv4Packet, Ipv4Repr, MacAddr, UdpRepr,
};

/// Generous: these run on loaded CI machines; the happy path takes milliseconds.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An Ethernet frame carrying an ARP packet.
pub fn arp_frame(dst: MacAddr, arp: ArpRepr) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + arp.buffer_len()];
    EthernetRepr {
        dst,
        src: arp.sender_mac,
        ethertype: EtherType::Arp,
    }
    .emit(&mut frame)
    .unwrap();
    arp.emit(&mut frame[14..]).unwrap();
    frame
}

/// "Who has `target`? Tell `config.stack_addr`", broadcast from the stack's MAC.
pub fn arp_request(config: &TapLinkConfig, target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        MacAddr::BROADCAST,
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: config.stack_mac,
            sender_ip: config.stack_addr,
            target_mac: MacAddr::ZERO,
            target_ip: target,
        },
    )
}

/// The ARP packet in `frame`, if it is one.
pub fn parse_arp(frame: &[u8]) -> Option<(EthernetRepr, ArpRepr)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let eth_repr = EthernetRepr::parse(&eth).ok()?;
    if eth_repr.ethertype != EtherType::Arp {
        return None;
    }
    let arp = ArpPacket::new_checked(eth.payload()).ok()?;
    Some((eth_repr, ArpRepr::parse(&arp).ok()?))
}

/// The IPv4 header and payload in `frame`, if it carries one.
pub fn parse_ipv4(frame: &[u8]) -> Option<(EthernetRepr, Ipv4Repr, Vec<u8>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let eth_repr = EthernetRepr::parse(&eth).ok()?;
    if eth_repr.ethertype != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let repr = Ipv4Repr::parse(&ip).ok()?;
    Some((eth_repr, repr, ip.payload().to_vec()))
}

/// An Ethernet frame with an IPv4/UDP datagram from the stack's address to `dst`.
pub fn udp_frame(
    config: &TapLinkConfig,
    dst: Ipv4Addr,
    dont_frag: bool,
    payload: &[u8],
) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: 40000,
        dst_port: 9,
        payload_len: payload.len(),
    };
    let ip = Ipv4Repr {
        src: config.stack_addr,
        dst,
        protocol: IpProtocol::Udp,
        dscp: 0,
        ecn: 0,
        ident: 0x1234,
        dont_frag,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        options: Ipv4Options::NONE,
        payload_len: udp.buffer_len(),
    };
    let mut frame = vec![0u8; 14 + ip.buffer_len()];
    EthernetRepr {
        dst: config.kernel_mac,
        src: config.stack_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut frame)
    .unwrap();
    ip.emit(&mut frame[14..]).unwrap();
    let udp_start = 14 + ip.header_len();
    frame[udp_start + 8..].copy_from_slice(payload);
    udp.emit(&mut frame[udp_start..], config.stack_addr, dst)
        .unwrap();
    frame
}

/// Receives frames until `pick` returns `Some` or `timeout` passes, answering ARP requests
/// for `config.stack_addr` on the way (as the stack would).
pub fn receive_until<T>(
    device: &mut TapDevice,
    config: &TapLinkConfig,
    timeout: Duration,
    mut pick: impl FnMut(&[u8]) -> Option<T>,
) -> io::Result<Option<T>> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; device.max_frame_len()];
    loop {
        while let Some(n) = device.try_recv(&mut buf)? {
            let frame = &buf[..n];
            if let Some((_, arp)) = parse_arp(frame) {
                if arp.operation == ArpOperation::Request && arp.target_ip == config.stack_addr {
                    let reply = arp_frame(
                        arp.sender_mac,
                        ArpRepr {
                            operation: ArpOperation::Reply,
                            sender_mac: config.stack_mac,
                            sender_ip: config.stack_addr,
                            target_mac: arp.sender_mac,
                            target_ip: arp.sender_ip,
                        },
                    );
                    device.send(&reply)?;
                }
            }
            if let Some(found) = pick(frame) {
                return Ok(Some(found));
            }
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        device.wait(Some(deadline))?;
    }
}

/// Sends ARP requests for the kernel's address (one every 200 ms, as a stack retries) until
/// the kernel replies or [`TIMEOUT`] passes. Retrying matters right after a link comes up: the
/// kernel drops what it sends until its link watch has activated the interface.
pub fn kernel_arp_reply(
    device: &mut TapDevice,
    config: &TapLinkConfig,
) -> io::Result<Option<ArpRepr>> {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        device.send(&arp_request(config, config.kernel_addr))?;
        let reply = receive_until(device, config, Duration::from_millis(200), |frame| {
            parse_arp(frame).map(|(_, arp)| arp).filter(|arp| {
                arp.operation == ArpOperation::Reply && arp.sender_ip == config.kernel_addr
            })
        })?;
        if reply.is_some() {
            return Ok(reply);
        }
    }
    Ok(None)
}
