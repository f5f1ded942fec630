//! Helpers shared by the engine rule tests of the send, IP, ICMP and ARP sides
//! (`engine_send.rs`, `engine_ip.rs`, `engine_icmp.rs`, `engine_arp.rs`): raw frame surgery,
//! independent checksum arithmetic, and [`Lab`], a stack and a probe whose addresses, segment and
//! timing the test chooses.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::config::Config;
use udpstack::errno::Errno;
use udpstack::sim::{Network, NodeId, Segment};
use udpstack::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Message,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Options, Ipv4Packet, MacAddr,
};
use udpstack::{Duration, Instant, SocketHandle, Stack};
use udpstack_tests::fixture::*;

// `errno(result)` comes from the shared fixture and returns an `Errno`; these name the values
// the tests compare with.
pub const EAGAIN: Errno = Errno::EAGAIN;
pub const EACCES: Errno = Errno::EACCES;
pub const EINVAL: Errno = Errno::EINVAL;
pub const EDESTADDRREQ: Errno = Errno::EDESTADDRREQ;
pub const EMSGSIZE: Errno = Errno::EMSGSIZE;
pub const EOPNOTSUPP: Errno = Errno::EOPNOTSUPP;
pub const ENETUNREACH: Errno = Errno::ENETUNREACH;
pub const ECONNREFUSED: Errno = Errno::ECONNREFUSED;
pub const EHOSTUNREACH: Errno = Errno::EHOSTUNREACH;

/// The IPv4 view of an Ethernet frame carrying IPv4 (panics otherwise).
pub fn ip(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    let eth = EthernetFrame::new_checked(frame).expect("ethernet");
    assert_eq!(eth.ethertype(), EtherType::Ipv4, "not IPv4: {frame:02x?}");
    Ipv4Packet::new_checked(&frame[14..]).expect("valid IPv4")
}

/// The IP packet of a frame: the bytes after the Ethernet header, up to the total length.
pub fn ip_bytes(frame: &[u8]) -> &[u8] {
    let total = ip(frame).total_len() as usize;
    &frame[14..14 + total]
}

/// The Ethernet destination of a frame.
pub fn eth_dst(frame: &[u8]) -> MacAddr {
    EthernetFrame::new_checked(frame).expect("ethernet").dst()
}

/// Whether a frame carries ARP.
pub fn is_arp(frame: &[u8]) -> bool {
    EthernetFrame::new_checked(frame).is_ok_and(|e| e.ethertype() == EtherType::Arp)
}

/// The ARP packet of a frame, if it is one.
pub fn arp(frame: &[u8]) -> Option<(EthernetRepr, ArpRepr)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let repr = EthernetRepr::parse(&eth).ok()?;
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
    Some((repr, arp))
}

/// The frames that are not ARP.
pub fn ip_only(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames.into_iter().filter(|f| !is_arp(f)).collect()
}

/// The ICMP message (header and body) of a frame carrying ICMP, checksum verified.
pub fn icmp(frame: &[u8]) -> Vec<u8> {
    let p = ip(frame);
    assert_eq!(p.protocol(), IpProtocol::Icmp, "not ICMP");
    let msg = p.payload().to_vec();
    Icmpv4Packet::new_checked(&msg[..]).expect("valid ICMP");
    msg
}

/// The folded one's-complement sum of `data` (RFC 1071), computed here independently of the
/// crate's own checksum code.
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for pair in data.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).copied().map_or(0, u32::from);
        s += hi | lo;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Folds two sums.
pub fn ones_add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The UDP pseudo-header sum.
pub fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u16 {
    let mut b = Vec::new();
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b.extend_from_slice(&[0, 17]);
    b.extend_from_slice(&udp_len.to_be_bytes());
    ones_sum(&b)
}

/// Whether a whole UDP datagram (header included) from `src` to `dst` carries a checksum that
/// verifies.
pub fn udp_checksum_ok(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> bool {
    let len = u16::from_be_bytes([datagram[4], datagram[5]]);
    ones_add(pseudo_sum(src, dst, len), ones_sum(datagram)) == 0xffff
}

/// Recomputes the IPv4 header checksum of a frame after its header was edited.
pub fn refresh_ip_checksum(frame: &mut [u8]) {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    frame[24] = 0;
    frame[25] = 0;
    let c = !ones_sum(&frame[14..14 + ihl]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

/// A frame from the probe to stack B carrying `payload` in an IPv4 packet whose options area
/// holds `options` verbatim (a multiple of 4 bytes, possibly malformed).
pub fn frame_with_raw_options(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert!(options.len().is_multiple_of(4) && options.len() <= 40);
    let filler = vec![1u8; options.len()]; // NOPs, patched below
    let mut h = ip_header(src, dst, protocol, payload.len());
    h.options = Ipv4Options::new(&filler).expect("NOPs");
    let mut f = ip_frame(MAC_PROBE, MAC_B, &h, payload);
    f[34..34 + options.len()].copy_from_slice(options);
    refresh_ip_checksum(&mut f);
    f
}

/// A frame from the probe to stack B carrying an ICMP message.
pub fn probe_icmp(src: Ipv4Addr, message: Icmpv4Message, body: &[u8]) -> Vec<u8> {
    let m = icmp_message(&Icmpv4Repr { message, body });
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(src, IP_B, IpProtocol::Icmp, m.len()),
        &m,
    )
}

/// The probe answers the datagram in `frame` (which the stack sent) with an ICMP port
/// unreachable quoting the whole IP packet, as a Linux peer would.
pub fn refuse(p: &mut Probed, frame: &[u8]) {
    let quote = ip_bytes(frame).to_vec();
    p.send(probe_icmp(
        IP_PROBE,
        Icmpv4Message::DstUnreachable(udpstack::wire::DstUnreachable::PortUnreachable),
        &quote,
    ));
}

/// Sends `data` from socket `h` of the probed stack to `dst`, then lets the network settle.
pub fn send_to(p: &mut Probed, h: SocketHandle, data: &[u8], dst: SocketAddrV4) -> usize {
    let now = p.now();
    let n = p.stack().send_to(now, h, data, dst).expect("send_to");
    p.settle();
    n
}

/// A socket on the probed stack bound to `10.0.0.2:port`.
pub fn bound(p: &mut Probed, port: u16) -> SocketHandle {
    let s = p.stack().udp_socket();
    p.stack().bind(s, sa(IP_B, port)).expect("bind");
    s
}

/// A probed stack (B, with `config`) on a segment with `segment`'s properties.
pub fn probed_on(config: Config, segment: Segment, seed: u64) -> Probed {
    Probed::on(config, segment, seed)
}

/// One stack and one probe whose MAC and addresses the test chooses. Unlike [`Probed`], every
/// frame the probe receives is recorded with its arrival time (ARP requests included); the
/// probe answers ARP requests for its addresses if `answer_arp` is set.
pub struct Lab {
    pub net: Network,
    pub stack: NodeId,
    pub probe: NodeId,
    pub probe_mac: MacAddr,
    pub probe_ips: Vec<Ipv4Addr>,
    pub answer_arp: bool,
    pub seen: Vec<(Instant, Vec<u8>)>,
}

impl Lab {
    pub fn new(
        config: Config,
        segment: Segment,
        seed: u64,
        probe_mac: MacAddr,
        probe_ips: &[Ipv4Addr],
    ) -> Self {
        let mut net = Network::new(segment, seed);
        let stack = net.add_stack(Stack::new(config, seed).expect("valid config"));
        let probe = net.add_probe(probe_mac);
        Lab {
            net,
            stack,
            probe,
            probe_mac,
            probe_ips: probe_ips.to_vec(),
            answer_arp: true,
            seen: Vec::new(),
        }
    }

    /// The topology of the golden captures (`udpstack::wire::golden`): the stack plays the
    /// kernel (10.0.0.1, 02:00:00:00:00:01), the probe the peer (10.0.0.2, 02:00:00:00:00:02).
    pub fn golden() -> Self {
        let config = Config::default()
            .addr("10.0.0.1/24".parse().expect("cidr"))
            .mac(MacAddr([2, 0, 0, 0, 0, 1]));
        Lab::new(
            config,
            Segment::default(),
            11,
            MacAddr([2, 0, 0, 0, 0, 2]),
            &[Ipv4Addr::new(10, 0, 0, 2)],
        )
    }

    pub fn stack(&mut self) -> &mut Stack {
        self.net.stack(self.stack)
    }

    pub fn now(&self) -> Instant {
        self.net.now()
    }

    /// Sends a raw frame from the probe and runs until quiet.
    pub fn send(&mut self, frame: Vec<u8>) {
        self.net.send_raw(self.probe, frame);
        self.settle();
    }

    /// Runs until no frame is in flight, answering ARP for the probe's addresses.
    pub fn settle(&mut self) {
        for _ in 0..100 {
            self.net.drive();
            let inbox = self.net.probe_inbox(self.probe);
            if inbox.is_empty() {
                return;
            }
            for (at, frame) in inbox {
                if let Some(reply) = self.arp_reply(&frame) {
                    self.net.send_raw(self.probe, reply);
                }
                self.seen.push((at, frame));
            }
        }
    }

    fn arp_reply(&self, frame: &[u8]) -> Option<Vec<u8>> {
        let (_, a) = arp(frame)?;
        (self.answer_arp
            && a.operation == ArpOperation::Request
            && self.probe_ips.contains(&a.target_ip))
        .then(|| {
            arp_frame(
                ArpOperation::Reply,
                self.probe_mac,
                a.sender_mac,
                a.target_ip,
                a.sender_mac,
                a.sender_ip,
            )
        })
    }

    /// Advances time by `d` in steps of at most 10 ms, answering ARP as it comes.
    pub fn advance(&mut self, d: Duration) {
        let until = self.net.now() + d;
        while self.net.now() < until {
            let step = Duration::from_millis(10).min(until - self.net.now());
            self.net.advance(step);
            self.settle();
        }
    }

    /// Takes the frames received so far, without their times.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.seen)
            .into_iter()
            .map(|(_, f)| f)
            .collect()
    }

    /// Takes the frames received so far, with their arrival times.
    pub fn take_timed(&mut self) -> Vec<(Instant, Vec<u8>)> {
        std::mem::take(&mut self.seen)
    }
}

/// Asserts that a frame equals a golden kernel frame in every byte except the IPv4
/// identification and the header checksum, which the kernel chose at random (golden.rs says so).
pub fn assert_golden_except_id(ours: &[u8], golden: &[u8]) {
    assert_eq!(ours.len(), golden.len(), "frame length");
    for (i, (a, b)) in ours.iter().zip(golden).enumerate() {
        if matches!(i, 18 | 19 | 24 | 25) {
            continue;
        }
        assert_eq!(
            a, b,
            "byte {i} differs: ours {a:#04x}, kernel {b:#04x}\nours   {ours:02x?}\nkernel {golden:02x?}"
        );
    }
    assert!(ip(ours).verify_checksum());
}

/// The value of counter `name` in the `section:` lines of `/proc/net/snmp`-style `text`
/// (a names line followed by a values line).
pub fn counter(text: &str, section: &str, name: &str) -> u64 {
    let prefix = format!("{section}:");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    for pair in lines.chunks(2) {
        let names: Vec<&str> = pair[0].split_whitespace().skip(1).collect();
        let values: Vec<&str> = pair[1].split_whitespace().skip(1).collect();
        if let Some(i) = names.iter().position(|n| *n == name) {
            return values[i].parse().expect("a number");
        }
    }
    panic!("no {section}: {name} in\n{text}")
}
