//! Fixtures for engine tests: stacks on a simulated segment, a raw "probe" host that builds and
//! parses frames by hand, and small helpers to read what crossed the wire.
//!
//! Addresses: stack A is 10.0.0.1 (02:00:00:00:00:0a), stack B 10.0.0.2 (02:00:00:00:00:0b),
//! the probe 10.0.0.9 (02:00:00:00:00:99), all on 10.0.0.0/24.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::config::{Config, Ipv4Cidr};
use udpstack::errno::Errno;
use udpstack::sim::{Network, NodeId, Segment};
use udpstack::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, IpProtocol, Ipv4Options, Ipv4Packet, Ipv4Repr, MacAddr, UdpPacket, UdpRepr,
};
use udpstack::{Duration, Instant, SocketHandle, Stack};

/// Stack A's address.
pub const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Stack B's address.
pub const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The probe's address.
pub const IP_PROBE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
/// Stack A's MAC.
pub const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
/// Stack B's MAC.
pub const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0b]);
/// The probe's MAC.
pub const MAC_PROBE: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x99]);
/// The subnet's directed broadcast address.
pub const BROADCAST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);

/// `ip:port`.
pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// A configuration for `ip`/24 with `mac`.
pub fn config(ip: Ipv4Addr, mac: MacAddr) -> Config {
    Config::default()
        .addr(Ipv4Cidr::new(ip, 24).expect("/24"))
        .mac(mac)
}

/// A stack at `ip`/24 with `mac`.
pub fn stack(ip: Ipv4Addr, mac: MacAddr, seed: u64) -> Stack {
    Stack::new(config(ip, mac), seed).expect("valid config")
}

/// Two stacks, A and B, on one segment.
pub struct Pair {
    /// The network.
    pub net: Network,
    /// Stack A (10.0.0.1).
    pub a: NodeId,
    /// Stack B (10.0.0.2).
    pub b: NodeId,
}

impl Pair {
    /// A and B on a default segment.
    pub fn new() -> Self {
        Self::with(
            Segment::default(),
            config(IP_A, MAC_A),
            config(IP_B, MAC_B),
            1,
        )
    }

    /// A and B with the given segment, configurations and seed. Both stacks' books are audited
    /// after every event, and once more when the pair is dropped: an imbalance fails the test.
    pub fn with(segment: Segment, a: Config, b: Config, seed: u64) -> Self {
        let mut net = Network::new(segment, seed);
        net.audit_continuously(true);
        let a = net.add_stack(Stack::new(a, seed.wrapping_add(1)).expect("valid config"));
        let b = net.add_stack(Stack::new(b, seed.wrapping_add(2)).expect("valid config"));
        Pair { net, a, b }
    }

    /// Stack A.
    pub fn a(&mut self) -> &mut Stack {
        self.net.stack(self.a)
    }

    /// Stack B.
    pub fn b(&mut self) -> &mut Stack {
        self.net.stack(self.b)
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.net.now()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        fail_on_violation(&self.net);
    }
}

/// Fails the test (unless it is already failing) if a stack's books did not balance.
fn fail_on_violation(net: &Network) {
    if std::thread::panicking() {
        return;
    }
    if let Some(v) = net.violation() {
        panic!("the conservation checker found an imbalance: {v}");
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

/// One stack (B, 10.0.0.2) and a probe (10.0.0.9) that sends hand-built frames and sees what the
/// stack sends. The probe answers ARP requests for its address by itself.
pub struct Probed {
    /// The network.
    pub net: Network,
    /// The stack.
    pub stack: NodeId,
    /// The probe.
    pub probe: NodeId,
    /// Frames the probe received (ARP requests for it already answered), oldest first.
    pub seen: Vec<Vec<u8>>,
}

impl Probed {
    /// A stack at 10.0.0.2 and the probe; the stack has not learned the probe yet.
    pub fn new() -> Self {
        Self::with(config(IP_B, MAC_B), 7)
    }

    /// A stack with `config` and the probe.
    pub fn with(config: Config, seed: u64) -> Self {
        Self::on(config, Segment::default(), seed)
    }

    /// A stack with `config` and the probe on a segment with `segment`'s properties. The
    /// stack's books are audited after every event and when the fixture is dropped.
    pub fn on(config: Config, segment: Segment, seed: u64) -> Self {
        let mut net = Network::new(segment, seed);
        net.audit_continuously(true);
        let stack = net.add_stack(Stack::new(config, seed).expect("valid config"));
        let probe = net.add_probe(MAC_PROBE);
        Probed {
            net,
            stack,
            probe,
            seen: Vec::new(),
        }
    }

    /// The stack.
    pub fn stack(&mut self) -> &mut Stack {
        self.net.stack(self.stack)
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.net.now()
    }

    /// Sends a raw frame from the probe and runs the network until it is quiet; frames the
    /// probe receives are collected in [`Probed::seen`].
    pub fn send(&mut self, frame: Vec<u8>) {
        self.net.send_raw(self.probe, frame);
        self.settle();
    }

    /// Runs until quiet, answering ARP requests for the probe and collecting the rest.
    pub fn settle(&mut self) {
        for _ in 0..100 {
            self.net.drive();
            let inbox = self.net.probe_inbox(self.probe);
            if inbox.is_empty() {
                return;
            }
            for (_, frame) in inbox {
                if let Some(reply) = arp_reply_for_probe(&frame) {
                    self.net.send_raw(self.probe, reply);
                } else {
                    self.seen.push(frame);
                }
            }
        }
    }

    /// Advances time by `d`, answering ARP meanwhile.
    pub fn advance(&mut self, d: Duration) {
        let until = self.net.now() + d;
        // Step so that ARP requests are answered as they come.
        while self.net.now() < until {
            let step = Duration::from_millis(100).min(until - self.net.now());
            self.net.advance(step);
            self.settle();
        }
    }

    /// Takes the frames collected so far.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.seen)
    }

    /// Makes the stack learn the probe's MAC the way a real peer would: the probe asks for the
    /// stack's address (the stack answers and records the probe as STALE).
    pub fn introduce(&mut self) {
        let stack_ip = self.stack().ip();
        self.send(probe_who_has(stack_ip));
        self.take();
    }
}

impl Drop for Probed {
    fn drop(&mut self) {
        fail_on_violation(&self.net);
    }
}

impl Default for Probed {
    fn default() -> Self {
        Self::new()
    }
}

/// An ARP frame.
pub fn arp_frame(
    op: ArpOperation,
    src: MacAddr,
    dst: MacAddr,
    sender_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    EthernetRepr {
        dst,
        src,
        ethertype: EtherType::Arp,
    }
    .emit(&mut f)
    .expect("emit");
    ArpRepr {
        operation: op,
        sender_mac: src,
        sender_ip,
        target_mac,
        target_ip,
    }
    .emit(&mut f[14..])
    .expect("emit");
    f
}

/// The probe's broadcast ARP request for `ip`: a stack at `ip` answers it and learns the
/// probe's MAC.
pub fn probe_who_has(ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        ArpOperation::Request,
        MAC_PROBE,
        MacAddr::BROADCAST,
        IP_PROBE,
        MacAddr::ZERO,
        ip,
    )
}

/// If `frame` is an ARP request for the probe, the probe's reply.
fn arp_reply_for_probe(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
    (arp.operation == ArpOperation::Request && arp.target_ip == IP_PROBE).then(|| {
        arp_frame(
            ArpOperation::Reply,
            MAC_PROBE,
            arp.sender_mac,
            IP_PROBE,
            arp.sender_mac,
            arp.sender_ip,
        )
    })
}

/// The fields of an IPv4 header a test may want to set; [`ip_header`] fills the rest.
pub fn ip_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
) -> Ipv4Repr {
    Ipv4Repr {
        src,
        dst,
        protocol,
        dscp: 0,
        ecn: 0,
        ident: 0x1234,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        options: Ipv4Options::NONE,
        payload_len,
    }
}

/// An Ethernet frame carrying `ip` (its header) and `payload`.
pub fn ip_frame(src_mac: MacAddr, dst_mac: MacAddr, ip: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + ip.header_len() + payload.len()];
    EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut f)
    .expect("emit");
    let ip = Ipv4Repr {
        payload_len: payload.len(),
        ..*ip
    };
    ip.emit(&mut f[14..]).expect("emit");
    f[14 + ip.header_len()..].copy_from_slice(payload);
    f
}

/// A UDP datagram (header and payload) with a correct checksum.
pub fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 8 + payload.len()];
    d[8..].copy_from_slice(payload);
    UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        payload_len: payload.len(),
    }
    .emit(&mut d, *src.ip(), *dst.ip())
    .expect("emit");
    d
}

/// A frame from the probe carrying a UDP datagram from `src` to `dst`.
pub fn probe_udp(
    dst_mac: MacAddr,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let d = udp_datagram(src, dst, payload);
    ip_frame(
        MAC_PROBE,
        dst_mac,
        &ip_header(*src.ip(), *dst.ip(), IpProtocol::Udp, d.len()),
        &d,
    )
}

/// A fragment from the probe to stack B: UDP's protocol number, identification `ident`, the
/// fragment's `offset` in bytes (a multiple of 8), MF as `more`, and `bytes` of the datagram.
pub fn probe_fragment(ident: u16, offset: u16, more: bool, bytes: &[u8]) -> Vec<u8> {
    let h = Ipv4Repr {
        ident,
        dont_frag: false,
        more_frags: more,
        frag_offset: offset,
        ..ip_header(IP_PROBE, IP_B, IpProtocol::Udp, bytes.len())
    };
    ip_frame(MAC_PROBE, MAC_B, &h, bytes)
}

/// An ICMP message (with a correct checksum).
pub fn icmp_message(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut m).expect("emit");
    m
}

/// What a frame on the wire was, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// An ARP packet.
    Arp(EthernetRepr, ArpRepr),
    /// A UDP datagram (a whole one, not a fragment): IP header, UDP header, payload.
    Udp(EthernetRepr, Ipv4Repr, UdpRepr, Vec<u8>),
    /// An ICMP message: IP header, the raw ICMP message.
    Icmp(EthernetRepr, Ipv4Repr, Vec<u8>),
    /// An IPv4 fragment or another protocol: header and payload bytes.
    Ip(EthernetRepr, Ipv4Repr, Vec<u8>),
    /// Anything else.
    Other(Vec<u8>),
}

/// Parses a frame for assertions (checksums verified).
pub fn parse(frame: &[u8]) -> Seen {
    let Ok(eth_view) = EthernetFrame::new_checked(frame) else {
        return Seen::Other(frame.to_vec());
    };
    let Ok(eth) = EthernetRepr::parse(&eth_view) else {
        return Seen::Other(frame.to_vec());
    };
    if eth.ethertype == EtherType::Arp {
        return match ArpPacket::new_checked(eth_view.payload()).and_then(|p| ArpRepr::parse(&p)) {
            Ok(a) => Seen::Arp(eth, a),
            Err(_) => Seen::Other(frame.to_vec()),
        };
    }
    let Ok(ip_view) = Ipv4Packet::new_checked(eth_view.payload()) else {
        return Seen::Other(frame.to_vec());
    };
    let Ok(ip) = Ipv4Repr::parse(&ip_view) else {
        return Seen::Other(frame.to_vec());
    };
    let payload = ip_view.payload();
    if !ip.is_fragment() {
        match ip.protocol {
            IpProtocol::Udp => {
                if let Ok(u) = UdpPacket::new_checked(payload) {
                    if let Ok(repr) = UdpRepr::parse(&u, ip.src, ip.dst) {
                        return Seen::Udp(eth, ip, repr, u.payload().to_vec());
                    }
                }
            }
            IpProtocol::Icmp if Icmpv4Packet::new_checked(payload).is_ok() => {
                return Seen::Icmp(eth, ip, payload.to_vec());
            }
            _ => {}
        }
    }
    Seen::Ip(eth, ip, payload.to_vec())
}

/// The frames among `frames` that are not ARP.
pub fn non_arp(frames: &[Vec<u8>]) -> Vec<Seen> {
    frames
        .iter()
        .map(|f| parse(f))
        .filter(|s| !matches!(s, Seen::Arp(..)))
        .collect()
}

/// The errno of a call that must fail.
#[track_caller]
pub fn errno<T: std::fmt::Debug>(r: io::Result<T>) -> Errno {
    let e = r.expect_err("the call should fail");
    Errno(e.raw_os_error().expect("an errno"))
}

/// Every datagram queued on `h`, oldest first, until EAGAIN.
#[track_caller]
pub fn drain(stack: &mut Stack, h: SocketHandle) -> Vec<(Vec<u8>, SocketAddrV4)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match stack.recv_from(h, &mut buf) {
            Ok((n, from)) => out.push((buf[..n].to_vec(), from)),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(Errno::EAGAIN.0), "{e}");
                return out;
            }
        }
    }
}

/// The probe sends one unicast datagram from `10.0.0.9:sport` to `dst` on stack B's MAC.
pub fn from_probe(p: &mut Probed, sport: u16, dst: SocketAddrV4, payload: &[u8]) {
    p.send(probe_udp(MAC_B, sa(IP_PROBE, sport), dst, payload));
}

/// The `/proc/net/udp` row of the socket bound to `local` (hex address:port), split into fields.
pub fn udp_row(stack: &Stack, local: SocketAddrV4) -> Vec<String> {
    let key = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(local.ip().octets()),
        local.port()
    );
    let table = stack.udp_table();
    let line = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(key.as_str()))
        .unwrap_or_else(|| panic!("no row {key} in\n{table}"));
    line.split_whitespace().map(str::to_owned).collect()
}
