//! A deterministic simulated network: stacks and raw probes on one switched Ethernet segment,
//! with seeded loss, duplication, reordering, an MTU and latency, driven by a simulated clock.
//!
//! This is the fixture udpstack's own tests are built on, and it is public so that research code
//! can run experiments on it: the same seed gives the same run, frame for frame.
//!
//! ```
//! use udpstack::sim::{Network, Segment};
//! use udpstack::config::Config;
//! use udpstack::Stack;
//! use std::net::SocketAddrV4;
//!
//! let mut net = Network::new(Segment::default(), 1);
//! let a = net.add_stack(Stack::new(Config::default().addr("10.0.0.1/24".parse().unwrap())
//!     .mac("02:00:00:00:00:0a".parse().unwrap()), 1).unwrap());
//! let b = net.add_stack(Stack::new(Config::default().addr("10.0.0.2/24".parse().unwrap())
//!     .mac("02:00:00:00:00:0b".parse().unwrap()), 2).unwrap());
//! let sb = net.stack(b).udp_socket();
//! net.stack(b).bind(sb, "10.0.0.2:7".parse().unwrap()).unwrap();
//! let sa = net.stack(a).udp_socket();
//! let now = net.now();
//! net.stack(a).send_to(now, sa, b"hi", "10.0.0.2:7".parse().unwrap()).unwrap();
//! net.drive();
//! let mut buf = [0; 16];
//! let (n, from) = net.stack(b).recv_from(sb, &mut buf).unwrap();
//! assert_eq!(&buf[..n], b"hi");
//! assert_eq!(*from.ip(), "10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap());
//! ```
//!
//! # The model
//!
//! The segment is a learning switch: a unicast frame goes to the node that owns its
//! destination MAC (or to every other node while that MAC is unknown), a broadcast or multicast
//! frame to every other node. Each delivery is decided independently: lost with probability
//! `loss`, duplicated with probability `duplicate`, delayed by `latency` plus a uniform extra
//! delay up to `jitter` (which reorders frames), and dropped if its IP packet is longer than the
//! segment's `mtu`. Nodes are either [`Stack`]s, driven by the network (their frames are
//! collected, their timers run), or probes: addresses that record what reaches them and send
//! whatever raw frames a test builds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::iface::stack::Stack;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::{EthernetFrame, MacAddr};

/// A node of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

/// The properties of the shared segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// One-way delay of every frame.
    pub latency: Duration,
    /// Up to this much extra delay, uniformly drawn per frame (reorders frames).
    pub jitter: Duration,
    /// Probability that a delivery is lost.
    pub loss: f64,
    /// Probability that a delivery happens twice.
    pub duplicate: f64,
    /// The largest IP packet carried (frames beyond it are dropped, like an oversized frame on a
    /// real link).
    pub mtu: u16,
}

impl Default for Segment {
    /// 100 µs of latency, no jitter, no loss, no duplication, MTU 1500.
    fn default() -> Self {
        Segment {
            latency: Duration::from_micros(100),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            mtu: 1500,
        }
    }
}

/// What happened on the segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Frames sent by nodes.
    pub sent: u64,
    /// Deliveries made.
    pub delivered: u64,
    /// Deliveries lost.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames dropped for exceeding the MTU.
    pub too_big: u64,
}

#[derive(Debug)]
enum Kind {
    Stack(Box<Stack>),
    Probe {
        mac: MacAddr,
        inbox: VecDeque<(Instant, Vec<u8>)>,
    },
}

#[derive(Debug)]
struct Node {
    kind: Kind,
}

impl Node {
    fn mac(&self) -> MacAddr {
        match &self.kind {
            Kind::Stack(s) => s.mac(),
            Kind::Probe { mac, .. } => *mac,
        }
    }
}

/// A frame in flight.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    frame: Vec<u8>,
}

/// The simulated network.
#[derive(Debug)]
pub struct Network {
    segment: Segment,
    nodes: Vec<Node>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    now: Instant,
    rng: Rng,
    seq: u64,
    stats: SegmentStats,
    capture: Option<Vec<(Instant, NodeId, Vec<u8>)>>,
    /// Run [`Stack::audit`] on every stack after every event.
    audit: bool,
    /// The first imbalance an audit found.
    violation: Option<String>,
}

/// How long [`Network::drive`] may run before it gives up (a guard against runaway loops).
const DRIVE_LIMIT: usize = 10_000_000;

impl Network {
    /// An empty network on `segment`; every random choice derives from `seed`.
    pub fn new(segment: Segment, seed: u64) -> Self {
        Network {
            segment,
            nodes: Vec::new(),
            in_flight: BinaryHeap::new(),
            now: Instant::ZERO,
            rng: Rng::new(seed),
            seq: 0,
            stats: SegmentStats::default(),
            capture: None,
            audit: false,
            violation: None,
        }
    }

    /// Checks every stack's books ([`Stack::audit`]) after every event from now on (off by
    /// default: it costs time proportional to what the stacks hold). The first imbalance is
    /// kept for [`Network::violation`].
    pub fn audit_continuously(&mut self, on: bool) {
        self.audit = on;
    }

    /// The first imbalance found by the continuous audit, with the node and the time, or by
    /// auditing every stack now.
    pub fn violation(&self) -> Option<String> {
        if let Some(v) = &self.violation {
            return Some(v.clone());
        }
        self.audit_now()
    }

    fn audit_now(&self) -> Option<String> {
        self.nodes
            .iter()
            .enumerate()
            .find_map(|(i, n)| match &n.kind {
                Kind::Stack(s) => s
                    .audit()
                    .err()
                    .map(|v| format!("node {i} at {}: {v}", self.now)),
                Kind::Probe { .. } => None,
            })
    }

    /// Adds a stack.
    pub fn add_stack(&mut self, stack: Stack) -> NodeId {
        self.nodes.push(Node {
            kind: Kind::Stack(Box::new(stack)),
        });
        NodeId(self.nodes.len() - 1)
    }

    /// Adds a probe with MAC `mac`: it records every frame delivered to it.
    pub fn add_probe(&mut self, mac: MacAddr) -> NodeId {
        self.nodes.push(Node {
            kind: Kind::Probe {
                mac,
                inbox: VecDeque::new(),
            },
        });
        NodeId(self.nodes.len() - 1)
    }

    /// The stack of node `id`.
    ///
    /// # Panics
    /// If `id` is a probe: a test bug.
    pub fn stack(&mut self, id: NodeId) -> &mut Stack {
        match self.nodes.get_mut(id.0).map(|n| &mut n.kind) {
            Some(Kind::Stack(s)) => s,
            _ => panic!("node {id:?} is not a stack"),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The segment's counters.
    pub fn stats(&self) -> SegmentStats {
        self.stats
    }

    /// Changes the segment's properties from now on.
    pub fn set_segment(&mut self, segment: Segment) {
        self.segment = segment;
    }

    /// Starts recording every frame sent on the segment (time, sender, bytes).
    pub fn start_capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// The frames recorded since [`Network::start_capture`].
    pub fn captured(&self) -> &[(Instant, NodeId, Vec<u8>)] {
        self.capture.as_deref().unwrap_or(&[])
    }

    /// Takes the frames a probe received, oldest first.
    pub fn probe_inbox(&mut self, id: NodeId) -> Vec<(Instant, Vec<u8>)> {
        match self.nodes.get_mut(id.0).map(|n| &mut n.kind) {
            Some(Kind::Probe { inbox, .. }) => inbox.drain(..).collect(),
            _ => Vec::new(),
        }
    }

    /// Sends a raw frame from node `from` (normally a probe) onto the segment now.
    pub fn send_raw(&mut self, from: NodeId, frame: Vec<u8>) {
        self.emit(from.0, frame);
    }

    /// Puts a frame on the segment from node `from`.
    fn emit(&mut self, from: usize, frame: Vec<u8>) {
        self.stats.sent += 1;
        if let Some(c) = self.capture.as_mut() {
            c.push((self.now, NodeId(from), frame.clone()));
        }
        if frame.len() > usize::from(self.segment.mtu) + 14 {
            self.stats.too_big += 1;
            return;
        }
        let dst = EthernetFrame::new_checked(&frame[..])
            .map(|f| f.dst())
            .unwrap_or(MacAddr::BROADCAST);
        let owner = (dst.is_unicast())
            .then(|| self.nodes.iter().position(|n| n.mac() == dst))
            .flatten();
        let targets: Vec<usize> = match owner {
            Some(i) if i != from => vec![i],
            Some(_) => Vec::new(),
            None => (0..self.nodes.len()).filter(|&i| i != from).collect(),
        };
        for to in targets {
            if self.chance(self.segment.loss) {
                self.stats.lost += 1;
                continue;
            }
            let copies = if self.chance(self.segment.duplicate) {
                2
            } else {
                1
            };
            self.stats.duplicated += copies - 1;
            for _ in 0..copies {
                let jitter = self.segment.jitter.total_micros();
                let extra = if jitter == 0 {
                    0
                } else {
                    self.rng.next_u64() % (jitter + 1)
                };
                let at = self.now + self.segment.latency + Duration::from_micros(extra);
                self.seq += 1;
                self.in_flight.push(Reverse(InFlight {
                    at,
                    seq: self.seq,
                    to,
                    frame: frame.clone(),
                }));
            }
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    /// Collects every frame the stacks want to send and puts them on the segment.
    fn flush(&mut self) {
        let mut buf = vec![0u8; 65536 + 14];
        for i in 0..self.nodes.len() {
            loop {
                let frame = match self.nodes.get_mut(i).map(|n| &mut n.kind) {
                    Some(Kind::Stack(s)) => s
                        .poll_transmit(self.now, &mut buf)
                        .map(|n| buf.get(..n).unwrap_or(&[]).to_vec()),
                    _ => None,
                };
                match frame {
                    Some(f) => self.emit(i, f),
                    None => break,
                }
            }
        }
    }

    /// The earliest timer of any stack.
    fn next_timer(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Stack(s) => s.poll_at(),
                Kind::Probe { .. } => None,
            })
            .min()
    }

    /// Runs every event up to and including time `until` (frame deliveries and stack timers, in
    /// time order), then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        self.flush();
        for _ in 0..DRIVE_LIMIT {
            let next_frame = self.in_flight.peek().map(|Reverse(f)| f.at);
            let next_timer = self.next_timer().map(|t| t.max(self.now));
            let next = match (next_frame, next_timer) {
                (Some(f), Some(t)) => f.min(t),
                (Some(f), None) => f,
                (None, Some(t)) => t,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if next_frame == Some(next) {
                if let Some(Reverse(f)) = self.in_flight.pop() {
                    self.deliver(f);
                }
            } else {
                let now = self.now;
                for n in &mut self.nodes {
                    if let Kind::Stack(s) = &mut n.kind {
                        if s.poll_at().is_some_and(|t| t <= now) {
                            s.handle_timeout(now);
                        }
                    }
                }
            }
            self.flush();
            if self.audit && self.violation.is_none() {
                self.violation = self.audit_now();
            }
        }
        self.now = self.now.max(until);
    }

    /// Advances the clock by `d`, running everything due.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until no frame is in flight, firing timers that come due meanwhile; timers still
    /// pending when the segment goes quiet are left for [`Network::advance`].
    pub fn drive(&mut self) {
        self.flush();
        for _ in 0..DRIVE_LIMIT {
            let Some(at) = self.in_flight.peek().map(|Reverse(f)| f.at) else {
                break;
            };
            self.run_until(at);
        }
    }

    fn deliver(&mut self, f: InFlight) {
        self.stats.delivered += 1;
        let now = self.now;
        match self.nodes.get_mut(f.to).map(|n| &mut n.kind) {
            Some(Kind::Stack(s)) => s.handle_frame(now, &f.frame),
            Some(Kind::Probe { inbox, .. }) => inbox.push_back((now, f.frame)),
            None => {}
        }
    }
}
