//! smoltcp 0.14 as a peer: an `Interface` (10.0.0.1) and our stack (10.0.0.2) joined by an
//! in-memory Ethernet link, exchanging UDP datagrams both ways — with ARP resolution started
//! by either side, and datagrams larger than the MTU fragmented by either side and reassembled
//! by the other (smoltcp's `proto-ipv4-fragmentation`). Both sides compute and verify
//! checksums. Rules: L2.1 (ARP), L3.1 (sends), L3.4 (fragmentation), L4.1 (reassembly).

use std::collections::VecDeque;

use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle as SmolHandle, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::udp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};
use udpstack::{Duration, Instant, SocketHandle, Stack};
use udpstack_tests::fixture::*;

const SMOL_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const SMOL_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x51];

/// smoltcp's side of the link: frames from our stack wait in `inbox`; what smoltcp sends goes
/// to `outbox`. Default checksum capabilities: smoltcp computes and verifies them.
#[derive(Default)]
struct Link {
    inbox: VecDeque<Vec<u8>>,
    outbox: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl Device for Link {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps.checksum = ChecksumCapabilities::default();
        caps
    }

    fn receive(&mut self, _now: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((Rx(frame), Tx(&mut self.outbox)))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.outbox))
    }
}

struct Peers {
    iface: Interface,
    link: Link,
    sockets: SocketSet<'static>,
    smol: SmolHandle,
    stack: Stack,
    ours: SocketHandle,
    now: Instant,
    /// Frames each way, for the assertions about fragmentation.
    to_smol: Vec<Vec<u8>>,
    to_us: Vec<Vec<u8>>,
}

impl Peers {
    /// smoltcp's socket on 9000, ours on 7000.
    fn new() -> Self {
        let mut link = Link::default();
        let smol_config = SmolConfig::new(EthernetAddress(SMOL_MAC).into());
        let mut iface = Interface::new(smol_config, &mut link, SmolInstant::from_millis(0));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(SMOL_IP), 24)).unwrap());
        let buffer =
            || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 65_536]);
        let mut s = udp::Socket::new(buffer(), buffer());
        s.bind(9000).unwrap();
        let mut sockets = SocketSet::new(vec![]);
        let smol = sockets.add(s);
        let mut stack = Stack::new(config(IP_B, MAC_B), 3).unwrap();
        let ours = stack.udp_socket();
        stack.bind(ours, sa(IP_B, 7000)).unwrap();
        Peers {
            iface,
            link,
            sockets,
            smol,
            stack,
            ours,
            now: Instant::ZERO,
            to_smol: Vec::new(),
            to_us: Vec::new(),
        }
    }

    /// Runs both sides for `ms` milliseconds of simulated time, 1 ms at a time, moving frames
    /// across until both are quiet each millisecond.
    fn run(&mut self, ms: u64) {
        let mut buf = vec![0u8; 2048];
        for _ in 0..ms {
            let smol_now = SmolInstant::from_millis(self.now.total_millis() as i64);
            loop {
                self.iface.poll(smol_now, &mut self.link, &mut self.sockets);
                let mut moved = false;
                for f in self.link.outbox.drain(..) {
                    self.stack.handle_frame(self.now, &f);
                    self.to_us.push(f);
                    moved = true;
                }
                self.stack.handle_timeout(self.now);
                while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
                    self.link.inbox.push_back(buf[..n].to_vec());
                    self.to_smol.push(buf[..n].to_vec());
                    moved = true;
                }
                if !moved {
                    break;
                }
            }
            self.now += Duration::from_millis(1);
        }
        assert_eq!(self.stack.audit(), Ok(()));
    }

    fn smol_socket(&mut self) -> &mut udp::Socket<'static> {
        self.sockets.get_mut::<udp::Socket>(self.smol)
    }

    /// What smoltcp's socket received: payloads and sources.
    fn smol_received(&mut self) -> Vec<(Vec<u8>, IpEndpoint)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, meta)) = self.smol_socket().recv_slice(&mut buf) {
            out.push((buf[..n].to_vec(), meta.endpoint));
        }
        out
    }

    fn fragments(frames: &[Vec<u8>]) -> usize {
        frames
            .iter()
            .filter(|f| matches!(parse(f), Seen::Ip(_, ip, _) if ip.is_fragment()))
            .count()
    }
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn smol_endpoint() -> std::net::SocketAddrV4 {
    sa(std::net::Ipv4Addr::new(10, 0, 0, 1), 9000)
}

#[test]
fn we_resolve_smoltcp_and_datagrams_cross_both_ways() {
    // L2.1: our first send asks ARP for smoltcp's MAC; the datagram follows the reply (L3.1).
    let mut p = Peers::new();
    let now = p.now;
    let ours = p.ours;
    p.stack
        .send_to(now, ours, b"hello smoltcp", smol_endpoint())
        .unwrap();
    p.run(20);
    let got = p.smol_received();
    assert_eq!(got.len(), 1, "smoltcp received {got:?}");
    assert_eq!(got[0].0, b"hello smoltcp");
    assert_eq!(
        got[0].1,
        IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2)), 7000)
    );
    // And back: smoltcp learnt our MAC from our request.
    let back = got[0].1;
    p.smol_socket().send_slice(b"hello udpstack", back).unwrap();
    p.run(20);
    let mut buf = [0u8; 64];
    let (n, from) = p.stack.recv_from(ours, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello udpstack");
    assert_eq!(from, smol_endpoint());
}

#[test]
fn smoltcp_resolves_us_and_datagrams_cross_both_ways() {
    // L2.1: smoltcp speaks first; we answer its ARP request and learn its MAC from it, so our
    // reply needs no request of our own.
    let mut p = Peers::new();
    let to_us = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2)), 7000);
    for i in 0..3u8 {
        p.smol_socket().send_slice(&payload(100, i), to_us).unwrap();
    }
    p.run(20);
    let ours = p.ours;
    let mut buf = [0u8; 256];
    for i in 0..3u8 {
        let (n, from) = p.stack.recv_from(ours, &mut buf).unwrap();
        assert_eq!(buf[..n], payload(100, i)[..]);
        assert_eq!(from, smol_endpoint());
    }
    let now = p.now;
    p.stack
        .send_to(now, ours, b"reply", smol_endpoint())
        .unwrap();
    p.run(10);
    assert_eq!(p.smol_received().len(), 1);
    let our_arp_requests = p
        .to_smol
        .iter()
        .filter(|f| matches!(parse(f), Seen::Arp(_, a) if a.operation == udpstack::wire::ArpOperation::Request))
        .count();
    assert_eq!(our_arp_requests, 0, "we asked for a MAC we had been told");
}

#[test]
fn datagrams_above_the_mtu_are_fragmented_and_reassembled_both_ways() {
    // L3.4: ours leave in Linux's fragment layout and smoltcp reassembles them; L4.1: we
    // reassemble smoltcp's.
    let mut p = Peers::new();
    let ours = p.ours;
    for (i, len) in [1473usize, 4000, 8000].into_iter().enumerate() {
        let data = payload(len, i as u8);
        let now = p.now;
        p.stack.send_to(now, ours, &data, smol_endpoint()).unwrap();
        p.run(20);
        let got = p.smol_received();
        assert_eq!(got.len(), 1, "{len} bytes: smoltcp received {}", got.len());
        assert_eq!(got[0].0, data, "{len} bytes to smoltcp");

        let data = payload(len, 0x80 | i as u8);
        let to_us = got[0].1;
        p.smol_socket().send_slice(&data, to_us).unwrap();
        p.run(20);
        let mut buf = vec![0u8; 65_536];
        let (n, from) = p.stack.recv_from(ours, &mut buf).unwrap();
        assert_eq!(buf[..n], data[..], "{len} bytes from smoltcp");
        assert_eq!(from, smol_endpoint());
    }
    assert!(Peers::fragments(&p.to_smol) >= 2 + 3 + 6, "we fragmented");
    assert!(
        Peers::fragments(&p.to_us) >= 2 + 3 + 6,
        "smoltcp fragmented"
    );
    assert_eq!(p.stack.stats().ip.reasm_oks, 3);
}
