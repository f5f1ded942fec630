//! Engine benchmark: one UDP datagram from a socket to another, end to end through the stack,
//! side by side with smoltcp, with 2, 100, 1 000 and 10 000 other bound sockets on the receiving
//! side. Figures and the machine they were measured on are in `docs/BENCHMARKS.md`.
//!
//! Run with `cargo bench -p udpstack --bench engine`.
//!
//! * **udpstack**: two [`Stack`]s (10.0.0.1 and 10.0.0.2 on one /24) joined by a tiny in-memory
//!   link that moves each frame `poll_transmit` writes into the other stack's `handle_frame`.
//!   One iteration is `send_to` on A, the link, `recv_from` on B.
//! * **smoltcp**: what the issue asks for, two UDP sockets on one `Interface` over its `Loopback`
//!   device (medium Ethernet). One iteration is `send_slice`, one `iface.poll`, `recv_slice`.
//!   `poll` handles ingress before egress, so the datagram a poll puts on the loopback queue is
//!   received by the next poll: the timed loop runs one datagram behind, primed before timing,
//!   and every iteration still moves exactly one datagram through one poll. The `Loopback`
//!   device declares checksums ignored, so smoltcp neither computes nor verifies them there;
//!   **smoltcp_csum** is the same over a copy of `Loopback` that declares the default checksum
//!   capabilities (compute on send, verify on receive), as udpstack always does.
//!
//! The clock does not move during a run (neither stack has a timer due), so ARP, resolved once
//! before timing, stays valid. The idle sockets are bound before the two that exchange data.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, measurement::Measurement, BenchmarkGroup, BenchmarkId,
    Criterion, Throughput,
};
use udpstack::config::{Config, Ipv4Cidr};
use udpstack::wire::MacAddr;
use udpstack::{Instant, SocketHandle, Stack};

/// Other bound sockets on the receiving side, idle.
const OTHER_SOCKETS: [usize; 4] = [2, 100, 1_000, 10_000];
/// UDP payload sizes.
const PAYLOADS: [usize; 2] = [64, 1400];

const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SEND_PORT: u16 = 8000;
const RECV_PORT: u16 = 9000;
/// The idle sockets use ports from here up.
const IDLE_PORT_BASE: u16 = 20_000;
/// Large enough for any frame at MTU 1500 (1514 bytes) and for a 1400-byte receive.
const BUF_LEN: usize = 2048;

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
}

/// Deterministic pseudo-random bytes (xorshift64).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// udpstack
// ---------------------------------------------------------------------------------------------

/// Two stacks on a direct in-memory link.
struct Pair {
    a: Stack,
    b: Stack,
    /// The sending socket, on A.
    tx: SocketHandle,
    /// The receiving socket, on B.
    rx: SocketHandle,
    now: Instant,
    frame: Vec<u8>,
}

fn stack(ip: Ipv4Addr, mac: u8, seed: u64) -> Stack {
    let config = Config::default()
        .addr(Ipv4Cidr::new(ip, 24).expect("prefix"))
        .mac(MacAddr([0x02, 0, 0, 0, 0, mac]));
    Stack::new(config, seed).expect("valid config")
}

impl Pair {
    fn new(others: usize) -> Pair {
        let mut a = stack(IP_A, 0x0a, 1);
        let mut b = stack(IP_B, 0x0b, 2);
        for i in 0..others {
            let h = b.udp_socket();
            let port = IDLE_PORT_BASE + u16::try_from(i).expect("port");
            b.bind(h, SocketAddrV4::new(IP_B, port)).expect("bind idle");
        }
        let tx = a.udp_socket();
        a.bind(tx, SocketAddrV4::new(IP_A, SEND_PORT))
            .expect("bind sender");
        let rx = b.udp_socket();
        b.bind(rx, SocketAddrV4::new(IP_B, RECV_PORT))
            .expect("bind receiver");
        assert_eq!(b.socket_count(), others + 1);
        Pair {
            a,
            b,
            tx,
            rx,
            now: Instant::from_secs(1),
            frame: vec![0; BUF_LEN],
        }
    }

    /// The link: moves every waiting frame from A to B and back until neither has one.
    #[inline]
    fn pump(&mut self) {
        loop {
            while let Some(n) = self.a.poll_transmit(self.now, &mut self.frame) {
                self.b.handle_frame(self.now, &self.frame[..n]);
            }
            if !self.b.has_transmit() {
                break;
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut self.frame) {
                self.a.handle_frame(self.now, &self.frame[..n]);
            }
            if !self.a.has_transmit() {
                break;
            }
        }
    }

    /// One datagram from A's socket to B's; returns what `recv_from` read.
    #[inline]
    fn transfer(&mut self, payload: &[u8], out: &mut [u8]) -> (usize, SocketAddrV4) {
        let dst = SocketAddrV4::new(IP_B, RECV_PORT);
        self.a
            .send_to(self.now, self.tx, payload, dst)
            .expect("send_to");
        self.pump();
        self.b.recv_from(self.rx, out).expect("datagram received")
    }
}

fn bench_udpstack<M: Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    others: usize,
    payload: &[u8],
) {
    let mut pair = Pair::new(others);
    let mut out = vec![0u8; BUF_LEN];
    // The first datagram waits for ARP; the second goes straight out. Both must arrive intact.
    for _ in 0..2 {
        let (n, from) = pair.transfer(payload, &mut out);
        assert_eq!(&out[..n], payload, "udpstack: payload differs");
        assert_eq!(from, SocketAddrV4::new(IP_A, SEND_PORT));
    }
    // The clock stands still while timing: no timer may be due (neighbour ageing runs later).
    for stack in [&pair.a, &pair.b] {
        assert!(stack.poll_at().is_none_or(|t| t > pair.now));
    }
    group.bench_function(BenchmarkId::new("udpstack", others), |b| {
        b.iter(|| black_box(pair.transfer(black_box(payload), &mut out)))
    });
    // Nothing was dropped or left behind while timing.
    assert!(!pair.a.has_transmit() && !pair.b.has_transmit());
    assert_eq!(pair.b.pending(pair.rx).expect("socket"), 0);
}

// ---------------------------------------------------------------------------------------------
// smoltcp
// ---------------------------------------------------------------------------------------------

mod smol {
    use std::collections::VecDeque;

    use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
    use smoltcp::phy::{
        ChecksumCapabilities, Device, DeviceCapabilities, Loopback, Medium, RxToken, TxToken,
    };
    use smoltcp::socket::udp;
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};

    pub use smoltcp::phy::Loopback as Plain;

    /// smoltcp's `Loopback`, line for line (a FIFO of owned frames, one `Vec` per frame sent),
    /// but declaring the default checksum capabilities, so the interface computes checksums on
    /// send and verifies them on receive. Its queue is reachable, so the bench can check both.
    pub struct Checked {
        pub queue: VecDeque<Vec<u8>>,
    }

    impl Checked {
        pub fn new() -> Self {
            Checked {
                queue: VecDeque::new(),
            }
        }
    }

    pub struct CheckedRx(Vec<u8>);
    pub struct CheckedTx<'a>(&'a mut VecDeque<Vec<u8>>);

    impl RxToken for CheckedRx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl TxToken for CheckedTx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut buffer = vec![0; len];
            let result = f(&mut buffer);
            self.0.push_back(buffer);
            result
        }
    }

    impl Device for Checked {
        type RxToken<'a> = CheckedRx;
        type TxToken<'a> = CheckedTx<'a>;

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = Loopback::new(Medium::Ethernet).capabilities();
            caps.checksum = ChecksumCapabilities::default();
            caps
        }

        fn receive(&mut self, _now: Instant) -> Option<(CheckedRx, CheckedTx<'_>)> {
            let frame = self.queue.pop_front()?;
            Some((CheckedRx(frame), CheckedTx(&mut self.queue)))
        }

        fn transmit(&mut self, _now: Instant) -> Option<CheckedTx<'_>> {
            Some(CheckedTx(&mut self.queue))
        }
    }

    /// Packets and bytes of each buffer of an idle socket: small, so 10 000 sockets fit easily.
    pub const IDLE_PACKETS: usize = 1;
    pub const IDLE_BYTES: usize = 64;
    /// Packets and bytes of each buffer of the two active sockets.
    pub const ACTIVE_PACKETS: usize = 4;
    pub const ACTIVE_BYTES: usize = 4 * 2048;

    pub const ADDR: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);

    fn buffer(packets: usize, bytes: usize) -> udp::PacketBuffer<'static> {
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0; bytes])
    }

    pub struct Setup<D: Device> {
        pub iface: Interface,
        pub device: D,
        pub sockets: SocketSet<'static>,
        pub tx: SocketHandle,
        pub rx: SocketHandle,
        pub dst: IpEndpoint,
        pub now: Instant,
    }

    impl<D: Device> Setup<D> {
        pub fn new(mut device: D, others: usize, ports: (u16, u16, u16)) -> Self {
            let (send_port, recv_port, idle_base) = ports;
            let now = Instant::from_millis(1000);
            let config = Config::new(EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]).into());
            let mut iface = Interface::new(config, &mut device, now);
            iface.update_ip_addrs(|addrs| {
                addrs
                    .push(IpCidr::new(IpAddress::Ipv4(ADDR), 24))
                    .expect("address");
            });
            let mut sockets = SocketSet::new(Vec::with_capacity(others + 2));
            for i in 0..others {
                let mut s = udp::Socket::new(
                    buffer(IDLE_PACKETS, IDLE_BYTES),
                    buffer(IDLE_PACKETS, IDLE_BYTES),
                );
                let port = idle_base + u16::try_from(i).expect("port");
                s.bind(port).expect("bind idle");
                sockets.add(s);
            }
            let mut s = udp::Socket::new(
                buffer(ACTIVE_PACKETS, ACTIVE_BYTES),
                buffer(ACTIVE_PACKETS, ACTIVE_BYTES),
            );
            s.bind(send_port).expect("bind sender");
            let tx = sockets.add(s);
            let mut s = udp::Socket::new(
                buffer(ACTIVE_PACKETS, ACTIVE_BYTES),
                buffer(ACTIVE_PACKETS, ACTIVE_BYTES),
            );
            s.bind(recv_port).expect("bind receiver");
            let rx = sockets.add(s);
            Setup {
                iface,
                device,
                sockets,
                tx,
                rx,
                dst: IpEndpoint::new(IpAddress::Ipv4(ADDR), recv_port),
                now,
            }
        }

        #[inline]
        pub fn send(&mut self, payload: &[u8]) {
            self.sockets
                .get_mut::<udp::Socket>(self.tx)
                .send_slice(payload, self.dst)
                .expect("send_slice");
        }

        #[inline]
        pub fn poll(&mut self) {
            self.iface
                .poll(self.now, &mut self.device, &mut self.sockets);
        }

        #[inline]
        pub fn recv(&mut self, out: &mut [u8]) -> Option<(usize, IpEndpoint)> {
            self.sockets
                .get_mut::<udp::Socket>(self.rx)
                .recv_slice(out)
                .ok()
                .map(|(n, meta)| (n, meta.endpoint))
        }

        /// The timed step: send one, poll once, receive the one the previous poll sent.
        #[inline]
        pub fn transfer(&mut self, payload: &[u8], out: &mut [u8]) -> (usize, IpEndpoint) {
            self.send(payload);
            self.poll();
            self.recv(out).expect("datagram received")
        }

        pub fn queued(&mut self) -> (usize, usize) {
            let tx = self.sockets.get::<udp::Socket>(self.tx).send_queue();
            let rx = self.sockets.get::<udp::Socket>(self.rx).recv_queue();
            (tx, rx)
        }
    }
}

/// The sender's endpoint, as smoltcp reports it.
fn smoltcp_from() -> smoltcp::wire::IpEndpoint {
    smoltcp::wire::IpEndpoint::new(smoltcp::wire::IpAddress::Ipv4(smol::ADDR), SEND_PORT)
}

/// Sends the first datagram, which waits for ARP (the interface asks for its own address and
/// answers itself over the loopback), polls until it arrives and checks it.
fn smoltcp_first<D: smoltcp::phy::Device>(s: &mut smol::Setup<D>, name: &str, payload: &[u8]) {
    let mut out = vec![0u8; BUF_LEN];
    s.send(payload);
    let mut got = None;
    for _ in 0..10 {
        s.poll();
        got = s.recv(&mut out);
        if got.is_some() {
            break;
        }
    }
    let (n, endpoint) = got.unwrap_or_else(|| panic!("{name}: first datagram never arrived"));
    assert_eq!(&out[..n], payload, "{name}: payload differs");
    assert_eq!(endpoint, smoltcp_from());
    assert_eq!(s.queued(), (0, 0));
}

/// Outside the timed loop: with the checksum-declaring device, the frame smoltcp sends carries
/// correct IPv4 and UDP checksums, and a frame with one flipped UDP payload byte or one flipped
/// IPv4 identification byte is dropped, so `smoltcp_csum` really computes and verifies both.
fn assert_smoltcp_checksums(payload: &[u8]) {
    use smoltcp::wire::{EthernetFrame, IpAddress, Ipv4Packet, UdpPacket};

    let mut s = smol::Setup::new(
        smol::Checked::new(),
        0,
        (SEND_PORT, RECV_PORT, IDLE_PORT_BASE),
    );
    smoltcp_first(&mut s, "smoltcp_csum", payload);
    s.send(payload);
    s.poll();
    assert_eq!(s.device.queue.len(), 1);
    let frame = s.device.queue.pop_front().expect("frame");
    {
        let eth = EthernetFrame::new_checked(&frame[..]).expect("Ethernet");
        let ip = Ipv4Packet::new_checked(eth.payload()).expect("IPv4");
        assert!(ip.verify_checksum(), "smoltcp_csum: bad IPv4 checksum");
        let (src, dst) = (
            IpAddress::Ipv4(ip.src_addr()),
            IpAddress::Ipv4(ip.dst_addr()),
        );
        let udp = UdpPacket::new_checked(ip.payload()).expect("UDP");
        assert_ne!(udp.checksum(), 0, "smoltcp_csum: no UDP checksum");
        assert!(
            udp.verify_checksum(&src, &dst),
            "smoltcp_csum: bad UDP checksum"
        );
    }
    let mut out = vec![0u8; BUF_LEN];
    // Ethernet 14 + IPv4 20 + UDP 8, then the payload; the IPv4 identification is at 14 + 4.
    for (offset, what) in [(14 + 20 + 8 + payload.len() / 2, "UDP"), (14 + 5, "IPv4")] {
        let mut bad = frame.clone();
        bad[offset] ^= 0x01;
        s.device.queue.push_back(bad);
        s.poll();
        assert!(
            s.recv(&mut out).is_none(),
            "smoltcp_csum accepts a bad {what} checksum"
        );
    }
    s.device.queue.push_back(frame);
    s.poll();
    let (n, _) = s.recv(&mut out).expect("the good frame");
    assert_eq!(&out[..n], payload);
}

fn bench_smoltcp<M, D>(
    group: &mut BenchmarkGroup<'_, M>,
    name: &str,
    device: D,
    others: usize,
    payload: &[u8],
) where
    M: Measurement,
    D: smoltcp::phy::Device,
{
    let mut s = smol::Setup::new(device, others, (SEND_PORT, RECV_PORT, IDLE_PORT_BASE));
    smoltcp_first(&mut s, name, payload);
    let mut out = vec![0u8; BUF_LEN];
    // Prime the pipeline: one datagram on the loopback queue.
    s.send(payload);
    s.poll();
    assert!(
        s.recv(&mut out).is_none(),
        "{name}: delivered in the same poll"
    );
    // Steady state: each step delivers the datagram sent one step earlier, intact.
    for _ in 0..2 {
        out.fill(0);
        let (n, endpoint) = s.transfer(payload, &mut out);
        assert_eq!(&out[..n], payload, "{name}: payload differs");
        assert_eq!(endpoint, smoltcp_from());
    }
    group.bench_function(BenchmarkId::new(name, others), |b| {
        b.iter(|| black_box(s.transfer(black_box(payload), &mut out)))
    });
    // One datagram is still in flight (the pipeline); nothing else was left behind.
    assert_eq!(s.queued(), (0, 0));
}

fn bench_engine(c: &mut Criterion) {
    use smoltcp::phy::Medium;

    for &len in &PAYLOADS {
        let payload = bytes(len, len as u64);
        assert_smoltcp_checksums(&payload);
        let mut group = c.benchmark_group(format!("engine_{len}"));
        group.throughput(Throughput::Elements(1));
        for &others in &OTHER_SOCKETS {
            bench_udpstack(&mut group, others, &payload);
            bench_smoltcp(
                &mut group,
                "smoltcp",
                smol::Plain::new(Medium::Ethernet),
                others,
                &payload,
            );
            bench_smoltcp(
                &mut group,
                "smoltcp_csum",
                smol::Checked::new(),
                others,
                &payload,
            );
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_engine
}
criterion_main!(benches);
