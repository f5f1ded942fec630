//! Arbitrary bytes as fragments of a few flows, fed one frame at a time to a stack whose UDP
//! socket is drained after every frame, with an independent oracle checked after every frame:
//! shared by the `reassembly` fuzz target and the proptest in `tests/fuzz_properties.rs`, so
//! what the fuzzer runs is also run by `cargo test`.
//!
//! # The stack
//!
//! B (10.0.0.2) with one UDP socket bound to 0.0.0.0:7000 (so datagrams to B and to the
//! subnet broadcast both reach it, L5.3). The first byte picks `ipfrag_high_thresh` (4 MiB down
//! to 0), `ipfrag_time` (30, 1, 2 or 5 s) and `ipfrag_max_dist` (64, 0, 1, 2, 3, 8, 16);
//! `ipfrag_low_thresh` is always three quarters of the high one (Linux 6.18 ignores it, L4.3).
//!
//! # Flows
//!
//! The second byte gives the number of flows (1 to 6); each flow takes four bytes:
//!
//! * `sel`: bits 0–1 the source (10.0.0.9, .10, .11, or 192.0.2.1 off-link), bits 2–3 the IP
//!   ID (`0x1234` + 0..3), bits 4–5 the protocol (UDP, UDP, ICMP, 253), bit 6 the subnet
//!   broadcast as destination instead of B, bit 7 a UDP destination port nobody listens on;
//! * two bytes (little endian) for the length `L` of the flow's datagram (the IP payload): below
//!   3000 bytes, or, when the top two bits are set, 65400–65599 (past 65515 the reassembled
//!   datagram is over 65535 bytes, L4.6);
//! * a byte whose low two bits pick the UDP checksum (none, correct, correct, wrong) and whose
//!   rest seeds the payload pattern.
//!
//! A UDP flow's datagram is a real UDP datagram (source port 5000 + source index); the others
//! are a byte pattern. Flows may share a reassembly key (same source, ID, protocol and
//! destination) with different contents: their fragments then conflict.
//!
//! # Actions
//!
//! Each later byte picks an action; the bytes after it are its arguments (missing ones read
//! as 0):
//!
//! | byte % 8 | action | arguments |
//! |---|---|---|
//! | 0, 1, 2 | one fragment of a flow | flow, offset (2 bytes), length (2 bytes), flags |
//! | 3 | a flow's whole datagram in fragments | flow, chunk size, order |
//! | 4 | time passes and timers run | amount |
//! | 5 | a tunable changes | which, value |
//! | 6 | a burst of tiny first-less fragments from one source, each its own key | source, count |
//! | 7 | a flow's datagram unfragmented (offset 0, MF clear) | flow |
//!
//! A fragment's flags: bit 0 takes the offset raw (13 bits × 8) instead of inside the datagram,
//! bit 1 the length raw (0..1480) instead of a multiple of 8 clipped at the datagram's end,
//! bits 2–3 MF (0, 3: set iff the fragment ends before `L`; 1: set; 2: clear), bit 4 corrupts
//! the bytes (a conflicting copy). An order: bits 0–1 in order, reversed, evens then odds,
//! rotated by one; bit 2 leaves one fragment out, bit 3 sends one twice. Amounts: bit 7 set,
//! `(n & 127) % 40` seconds; else `n × 40` ms.
//!
//! # The oracle
//!
//! Every frame is handled alone, the socket drained and the books audited ([`Stack::audit`])
//! before the next, so whatever a frame changed — counters, a delivery — is that frame's doing.
//! The oracle keeps, per reassembly key (source, destination, ID, protocol, L4.1), whether the
//! key has a queue, and if so exactly which fragments it holds, its length and last-fragment
//! flag, and its deadline — all of it derived from the reference; the stack's counters are
//! read only to attribute what the frame did (memory refusal, max_dist flush, and, for a
//! fragment inside the bytes held but across two held fragments, duplicate or overlap: the
//! kernel's runs decide, L4.5), never to excuse a difference. It also keeps every fragment
//! that entered the key's queue since it was last gone. It checks:
//!
//! * **Exactly once.** A datagram the socket receives comes from the frame just handled, which
//!   must have completed a reassembly (`ReasmOKs`); its bytes must be those of a set of
//!   fragments of that key actually supplied since the key's queue was last gone, tiling
//!   `[0, len)` without overlap, the frame just handled among them, a last fragment (MF clear)
//!   ending at `len` among the key's fragments — payload content included (L4.5, L4.6). After
//!   a delivery the queue is gone, so the same fragments never deliver twice; a later complete
//!   set for the same key is a new datagram (L4.6: a late duplicate starts a new queue).
//! * **At least once.** Each fragment's fate is predicted — queued, duplicate, overlap, length
//!   error, completion, oversize (L4.5, L4.6) — and must match what the stack did; a predicted
//!   completion must be reassembled, and delivered (byte for byte, charged the fragments'
//!   truesizes, L4.6) when it is a valid UDP datagram for the socket (L5.1, L5.2). A queue
//!   survives fragments refused for memory untouched (L4.3), restarts empty with a fresh timer
//!   after a max_dist flush (L4.4), and is gone after a discard, a completion or its timeout
//!   (L4.1, L4.2, L4.5, L4.6).
//! * **Memory (L4.3).** The oracle counts the memory held as the reassembler does (fragment
//!   truesizes plus 200 per queue): a fragment is refused exactly when it exceeds
//!   `ipfrag_high_thresh` (or that is 0), and it never exceeds `ipfrag_high_thresh` plus the
//!   audit's slack (one queue and one maximal fragment). The audit checks the reassembler's own
//!   total against the same bound after every frame.
//! * The counters move consistently: `ReasmReqds` once per fragment and never for a whole
//!   datagram; `ReasmOverlaps` with every overlap drop; `ReasmFails` exactly by the refusals,
//!   discards, timeouts and max_dist flushes; nothing is delivered while time passes.

use crate::bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::errno::Errno;
use udpstack::ip::reassembly::QUEUE_OVERHEAD;
use udpstack::stats::DropReason;
use udpstack::udp::truesize;
use udpstack::wire::{IpProtocol, Ipv4Options, Ipv4Repr, MacAddr};
use udpstack::{Duration, Instant, SocketHandle, Stack};

use crate::fixture::{config, ip_frame, BROADCAST, IP_B, MAC_B};

/// The port the socket listens on.
pub const PORT: u16 = 7000;
/// Fragment sources: three on-link hosts and one behind a (missing) gateway.
pub const SOURCES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 0, 0, 9),
    Ipv4Addr::new(10, 0, 0, 10),
    Ipv4Addr::new(10, 0, 0, 11),
    Ipv4Addr::new(192, 0, 2, 1),
];
/// Protocol numbers of the flows.
const PROTOCOLS: [u8; 4] = [17, 17, 1, 253];
/// `ipfrag_high_thresh` choices.
pub const HIGH_THRESH: [u64; 8] = [
    4_194_304, 4_194_304, 100_000, 20_000, 8_000, 3_000, 0, 4_194_304,
];
/// `ipfrag_time` choices, seconds.
pub const FRAG_TIME: [u64; 4] = [30, 1, 2, 5];
/// `ipfrag_max_dist` choices.
pub const MAX_DIST: [u32; 8] = [64, 64, 0, 1, 2, 3, 8, 16];
/// The most frames one input sends.
const MAX_FRAMES: usize = 3000;
/// The most fragments a whole-datagram sequence is cut into.
const MAX_SEQUENCE: usize = 200;
/// The largest IP payload (65535 minus a 20-byte header).
const MAX_PAYLOAD: u32 = 65_515;
/// The largest fragment offset (13 bits of 8-byte units).
const MAX_OFFSET: u32 = 65_528;

/// One flow, as the input's header describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSpec {
    /// Bits 0–1 source, 2–3 ID, 4–5 protocol, 6 broadcast destination, 7 wrong port.
    pub sel: u8,
    /// The length selector (see the module documentation).
    pub len: u16,
    /// Bits 0–1 checksum mode, the rest a payload seed.
    pub seed: u8,
}

/// One action (see the module documentation for the byte format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// One fragment of a flow.
    Fragment {
        /// Flow index (modulo the number of flows).
        flow: u8,
        /// Offset selector.
        offset: u16,
        /// Length selector.
        len: u16,
        /// Flags.
        flags: u8,
    },
    /// A flow's whole datagram, fragmented.
    Sequence {
        /// Flow index.
        flow: u8,
        /// Chunk: `8 × (1 + chunk % 64)` bytes.
        chunk: u8,
        /// Order and omissions.
        order: u8,
    },
    /// Time passes.
    Wait(u8),
    /// A tunable changes: `which % 3` is high_thresh, ipfrag_time, max_dist.
    Sysctl {
        /// Which tunable.
        which: u8,
        /// Index into its choices.
        value: u8,
    },
    /// `1 + count % 96` tiny fragments from source `src % 4`, each with a fresh ID.
    Burst {
        /// Source index.
        src: u8,
        /// Count selector.
        count: u8,
    },
    /// A flow's datagram unfragmented.
    Whole {
        /// Flow index.
        flow: u8,
    },
}

/// A whole input: settings, flows, actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Tunables (see the module documentation).
    pub settings: u8,
    /// The flows.
    pub flows: Vec<FlowSpec>,
    /// The actions.
    pub actions: Vec<Action>,
}

impl Input {
    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.settings, (self.flows.len().max(1) - 1) as u8];
        for f in &self.flows {
            out.push(f.sel);
            out.extend_from_slice(&f.len.to_le_bytes());
            out.push(f.seed);
        }
        for a in &self.actions {
            match *a {
                Action::Fragment {
                    flow,
                    offset,
                    len,
                    flags,
                } => {
                    out.extend_from_slice(&[0, flow]);
                    out.extend_from_slice(&offset.to_le_bytes());
                    out.extend_from_slice(&len.to_le_bytes());
                    out.push(flags);
                }
                Action::Sequence { flow, chunk, order } => {
                    out.extend_from_slice(&[3, flow, chunk, order])
                }
                Action::Wait(n) => out.extend_from_slice(&[4, n]),
                Action::Sysctl { which, value } => out.extend_from_slice(&[5, which, value]),
                Action::Burst { src, count } => out.extend_from_slice(&[6, src, count]),
                Action::Whole { flow } => out.extend_from_slice(&[7, flow]),
            }
        }
        out
    }

    /// Reads an input from arbitrary bytes (missing bytes read as 0).
    pub fn decode(data: &[u8]) -> Input {
        let mut b = Bytes::new(data);
        let settings = b.next();
        let n = 1 + usize::from(b.next()) % 6;
        let flows = (0..n)
            .map(|_| FlowSpec {
                sel: b.next(),
                len: b.u16(),
                seed: b.next(),
            })
            .collect();
        let mut actions = Vec::new();
        while !b.is_empty() {
            let op = b.next() % 8;
            actions.push(match op {
                0..=2 => Action::Fragment {
                    flow: b.next(),
                    offset: b.u16(),
                    len: b.u16(),
                    flags: b.next(),
                },
                3 => Action::Sequence {
                    flow: b.next(),
                    chunk: b.next(),
                    order: b.next(),
                },
                4 => Action::Wait(b.next()),
                5 => Action::Sysctl {
                    which: b.next(),
                    value: b.next(),
                },
                6 => Action::Burst {
                    src: b.next(),
                    count: b.next(),
                },
                _ => Action::Whole { flow: b.next() },
            });
        }
        Input {
            settings,
            flows,
            actions,
        }
    }
}

/// What a run did, for the seed tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Frames handed to the stack.
    pub frames: u64,
    /// Datagrams the socket received from reassembly.
    pub reassembled_deliveries: u64,
    /// Whole (unfragmented) datagrams the socket received.
    pub whole_deliveries: u64,
    /// Completions the oracle predicted and saw (at-least-once checks that fired).
    pub predicted_completions: u64,
    /// Of those, delivered to the socket byte for byte.
    pub predicted_deliveries: u64,
    /// Predicted duplicates.
    pub duplicates: u64,
    /// Overlap discards seen.
    pub overlaps: u64,
    /// Length-error discards seen.
    pub invalid: u64,
    /// Fragments refused for memory.
    pub memory_refusals: u64,
    /// max_dist flushes seen.
    pub flushes: u64,
    /// Queues that timed out (`ReasmTimeout` at the end).
    pub timeouts: u64,
    /// Fragments inside the bytes held but across held fragments, whose fate (duplicate or
    /// overlap) depends on the kernel's runs and was read from the stack (L4.5).
    pub unpredicted: u64,
}

/// A reassembly key (L4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    proto: u8,
}

/// A flow's datagram.
struct Flow {
    key: Key,
    bytes: Vec<u8>,
    seed: u8,
}

impl Flow {
    fn new(spec: FlowSpec) -> Flow {
        let src_ix = usize::from(spec.sel & 3);
        let key = Key {
            src: SOURCES[src_ix],
            dst: if spec.sel & 0x40 != 0 {
                BROADCAST
            } else {
                IP_B
            },
            id: 0x1234 + u16::from((spec.sel >> 2) & 3),
            proto: PROTOCOLS[usize::from((spec.sel >> 4) & 3)],
        };
        let len = if spec.len >> 14 == 3 {
            65_400 + usize::from(spec.len % 200)
        } else {
            usize::from(spec.len % 3000)
        };
        let seed = spec.seed >> 2;
        let mut bytes: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        if key.proto == 17 && len >= 8 {
            let dport = if spec.sel & 0x80 != 0 { PORT + 1 } else { PORT };
            bytes[0..2].copy_from_slice(&(5000 + src_ix as u16).to_be_bytes());
            bytes[2..4].copy_from_slice(&dport.to_be_bytes());
            bytes[4..6].copy_from_slice(&(len.min(65_535) as u16).to_be_bytes());
            bytes[6..8].copy_from_slice(&[0, 0]);
            let csum = match spec.seed & 3 {
                0 => 0,
                mode => {
                    let c = udp_checksum(key.src, key.dst, &bytes);
                    if mode == 3 {
                        c ^ 0x0101
                    } else {
                        c
                    }
                }
            };
            bytes[6..8].copy_from_slice(&csum.to_be_bytes());
        }
        Flow { key, bytes, seed }
    }

    fn len(&self) -> u32 {
        self.bytes.len() as u32
    }

    /// Bytes `[off, off + len)`: the datagram's, then a filler past its end.
    fn slice(&self, off: u32, len: u32) -> Vec<u8> {
        (off..off + len)
            .map(|p| {
                self.bytes
                    .get(p as usize)
                    .copied()
                    .unwrap_or((p as u8).wrapping_mul(13) ^ self.seed)
            })
            .collect()
    }
}

/// The Internet checksum of a UDP datagram with its pseudo-header (RFC 768), the checksum
/// field read as it is; 0 is sent as 0xFFFF.
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> u16 {
    let c = !fold(pseudo_sum(src, dst, datagram.len()) + ones_sum(datagram));
    if c == 0 {
        0xffff
    } else {
        c
    }
}

fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u64 {
    ones_sum(&src.octets()) + ones_sum(&dst.octets()) + 17 + len as u64
}

/// The 16-bit big-endian words of `data` summed (a trailing byte padded with 0).
pub(crate) fn ones_sum(data: &[u8]) -> u64 {
    data.chunks(2)
        .map(|w| u64::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum()
}

/// The ones' complement fold of a sum.
pub(crate) fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The payload and source port the socket must receive for a whole datagram (the IP payload
/// `r`) of `key`, or `None` if UDP drops it: not UDP, a bad length (L5.1), a bad checksum
/// (L5.2), or a port nobody listens on (L5.4).
fn deliverable(key: &Key, r: &[u8]) -> Option<(u16, Vec<u8>)> {
    if key.proto != 17 || r.len() < 8 {
        return None;
    }
    let ulen = usize::from(u16::from_be_bytes([r[4], r[5]]));
    if ulen < 8 || ulen > r.len() || u16::from_be_bytes([r[2], r[3]]) != PORT {
        return None;
    }
    let udp = &r[..ulen];
    if udp[6..8] != [0, 0] && fold(pseudo_sum(key.src, key.dst, ulen) + ones_sum(udp)) != 0xffff {
        return None;
    }
    Some((u16::from_be_bytes([r[0], r[1]]), r[8..ulen].to_vec()))
}

/// A fragment as a queue would hold it: `[off, end)`, its data trimmed to that, and what its
/// frame costs (L6.2).
#[derive(Debug, Clone)]
struct Frag {
    off: u32,
    end: u32,
    data: Vec<u8>,
    truesize: usize,
}

/// A queue whose contents the oracle knows exactly.
#[derive(Debug, Clone)]
struct Known {
    deadline: Instant,
    /// Held fragments by offset: disjoint.
    frags: BTreeMap<u32, Frag>,
    /// `INET_FRAG_LAST_IN`.
    last_in: bool,
    /// `q.len`.
    len: u32,
}

/// A key's queue as the oracle has it: it always knows whether the queue exists and what it
/// holds.
#[derive(Debug, Clone)]
enum Queue {
    Absent,
    Known(Known),
}

/// What the oracle expects a fragment to do to a known queue.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prediction {
    Queued,
    Complete(Vec<u8>),
    TooBig,
    Duplicate,
    Overlap,
    /// A length error (L4.6): last fragment mismatch, past the end, empty.
    Invalid,
    /// Inside the bytes held but across fragments: duplicate or overlap depending on the
    /// kernel's runs (L4.5).
    Either,
}

/// What the stack did with a frame, from its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Refused,
    Duplicate,
    Overlap,
    Invalid,
    Queued,
    Complete,
}

#[derive(Debug, Default)]
struct KeyState {
    queue: Option<Queue>,
    /// Fragments that entered the queue since it was last gone or flushed.
    pool: Vec<Frag>,
    /// Ends of the last fragments (MF clear) that reached the queue in that time.
    lasts: Vec<u32>,
}

impl KeyState {
    fn queue(&self) -> &Queue {
        self.queue.as_ref().unwrap_or(&Queue::Absent)
    }

    fn reset(&mut self) {
        self.queue = Some(Queue::Absent);
        self.pool.clear();
        self.lasts.clear();
    }

    /// Forgets a queue whose timer has run out by `now` (L4.1): the stack expires it before it
    /// looks at the next fragment, and at every timer run.
    fn expire(&mut self, now: Instant) {
        let gone = match self.queue() {
            Queue::Absent => false,
            Queue::Known(k) => k.deadline <= now,
        };
        if gone {
            self.reset();
        }
    }

    /// The memory the queue holds as the reassembler counts it (L4.3): its fragments'
    /// truesizes and the per-queue overhead, nothing once its timer has run out.
    fn memory(&self, now: Instant) -> u64 {
        match self.queue() {
            Queue::Known(k) if k.deadline > now => {
                QUEUE_OVERHEAD as u64 + k.frags.values().map(|f| f.truesize as u64).sum::<u64>()
            }
            _ => 0,
        }
    }
}

impl Known {
    fn new(deadline: Instant) -> Known {
        Known {
            deadline,
            frags: BTreeMap::new(),
            last_in: false,
            len: 0,
        }
    }

    /// `ip_frag_queue`'s decisions for a fragment at `off` with `data` (untrimmed) and MF
    /// `more`, from the reference alone (L4.5, L4.6). Updates the length fields as the kernel
    /// does before it looks at overlaps; the caller keeps or drops the result.
    fn predict(&mut self, off: u32, data: &[u8], more: bool) -> (Prediction, u32) {
        let raw_end = off + data.len() as u32;
        let end = if more {
            // L4.6: a non-last fragment's length is rounded down to a multiple of 8.
            let end = raw_end & !7;
            if end > self.len {
                if self.last_in {
                    return (Prediction::Invalid, end);
                }
                self.len = end;
            }
            end
        } else {
            // L4.6: a last fragment disagreeing with the known length.
            if raw_end < self.len || (self.last_in && raw_end != self.len) {
                return (Prediction::Invalid, raw_end);
            }
            self.last_in = true;
            self.len = raw_end;
            raw_end
        };
        if end <= off {
            return (Prediction::Invalid, end);
        }
        let touching: Vec<&Frag> = self
            .frags
            .range(..end)
            .map(|(_, f)| f)
            .filter(|f| f.end > off)
            .collect();
        if touching.is_empty() {
            return (Prediction::Queued, end);
        }
        // L4.5: inside one fragment held (so inside one of the kernel's runs): a duplicate.
        if touching.iter().any(|f| f.off <= off && end <= f.end) {
            return (Prediction::Duplicate, end);
        }
        let mut covered = off;
        for f in &touching {
            if f.off > covered {
                break;
            }
            covered = covered.max(f.end);
        }
        if covered >= end {
            (Prediction::Either, end)
        } else {
            (Prediction::Overlap, end)
        }
    }

    /// Whether the datagram is complete, and its payload if so.
    fn complete(&self) -> Option<Vec<u8>> {
        let meat: u32 = self.frags.values().map(|f| f.end - f.off).sum();
        if !(self.last_in && self.frags.contains_key(&0) && meat == self.len) {
            return None;
        }
        let mut out = Vec::with_capacity(self.len as usize);
        for f in self.frags.values() {
            out.extend_from_slice(&f.data);
        }
        Some(out)
    }
}

/// The counters a frame may move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    reqds: u64,
    oks: u64,
    fails: u64,
    timeouts: u64,
    overlaps: u64,
    memory: u64,
    duplicate: u64,
    overlap_drops: u64,
    invalid: u64,
}

impl Counters {
    fn of(s: &Stack) -> Counters {
        let st = s.stats();
        Counters {
            reqds: st.ip.reasm_reqds,
            oks: st.ip.reasm_oks,
            fails: st.ip.reasm_fails,
            timeouts: st.ip.reasm_timeout,
            overlaps: st.ip_ext.reasm_overlaps,
            memory: st.drops(DropReason::IpReasmMemory),
            duplicate: st.drops(DropReason::IpReasmDuplicate),
            overlap_drops: st.drops(DropReason::IpReasmOverlap),
            invalid: st.drops(DropReason::IpReasmInvalid),
        }
    }

    fn delta(self, before: Counters) -> Counters {
        Counters {
            reqds: self.reqds - before.reqds,
            oks: self.oks - before.oks,
            fails: self.fails - before.fails,
            timeouts: self.timeouts - before.timeouts,
            overlaps: self.overlaps - before.overlaps,
            memory: self.memory - before.memory,
            duplicate: self.duplicate - before.duplicate,
            overlap_drops: self.overlap_drops - before.overlap_drops,
            invalid: self.invalid - before.invalid,
        }
    }
}

/// One frame to send: a fragment (or a whole datagram) of `key`.
struct Sent {
    key: Key,
    off: u32,
    more: bool,
    data: Vec<u8>,
}

struct Run {
    s: Stack,
    sock: SocketHandle,
    now: Instant,
    high: u64,
    time: u64,
    keys: HashMap<Key, KeyState>,
    report: Report,
    buf: Vec<u8>,
    tx: Vec<u8>,
    burst_id: u16,
}

/// Runs `data` as an input and returns what it did; the first violation (with the frame that
/// caused it) is the error.
///
/// # Errors
/// A description of the violation.
pub fn run(data: &[u8]) -> Result<Report, String> {
    run_input(&Input::decode(data))
}

/// Runs a decoded input (see [`run`]).
///
/// # Errors
/// A description of the violation.
pub fn run_input(input: &Input) -> Result<Report, String> {
    let high = HIGH_THRESH[usize::from(input.settings & 7)];
    let time = FRAG_TIME[usize::from((input.settings >> 3) & 3)];
    let dist = MAX_DIST[usize::from(input.settings >> 5)];
    let mut c = config(IP_B, MAC_B);
    for (name, value) in [
        ("net.ipv4.ipfrag_low_thresh", (high / 4 * 3).to_string()),
        ("net.ipv4.ipfrag_high_thresh", high.to_string()),
        ("net.ipv4.ipfrag_time", time.to_string()),
        ("net.ipv4.ipfrag_max_dist", dist.to_string()),
    ] {
        c.set_sysctl(name, &value)
            .map_err(|e| format!("{name}={value}: {e}"))?;
    }
    let mut s = Stack::new(c, 3).map_err(|e| e.to_string())?;
    let sock = s.udp_socket();
    s.bind(sock, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .map_err(|e| e.to_string())?;
    let flows: Vec<Flow> = input.flows.iter().map(|&f| Flow::new(f)).collect();
    let mut r = Run {
        s,
        sock,
        now: Instant::ZERO,
        high,
        time,
        keys: HashMap::new(),
        report: Report::default(),
        buf: vec![0u8; 65_536],
        tx: vec![0u8; 2048],
        burst_id: 0,
    };
    for (i, a) in input.actions.iter().enumerate() {
        if r.report.frames as usize >= MAX_FRAMES {
            break;
        }
        r.action(&flows, a)
            .map_err(|e| format!("action {i} ({a:?}): {e}"))?;
    }
    r.report.timeouts = r.s.stats().ip.reasm_timeout;
    Ok(r.report)
}

impl Run {
    fn action(&mut self, flows: &[Flow], a: &Action) -> Result<(), String> {
        let flow = |i: u8| &flows[usize::from(i) % flows.len()];
        match *a {
            Action::Fragment {
                flow: f,
                offset,
                len,
                flags,
            } => {
                let f = flow(f);
                let l = f.len();
                let off = if flags & 1 == 0 {
                    (u32::from(offset) % (l.div_ceil(8) + 1) * 8).min(MAX_OFFSET)
                } else {
                    u32::from(offset & 0x1fff) * 8
                };
                let n = if flags & 2 == 0 {
                    let n = (1 + u32::from(len) % 32) * 8;
                    if off + n >= l {
                        l.saturating_sub(off)
                    } else {
                        n
                    }
                } else {
                    u32::from(len) % 1481
                };
                let more = match (flags >> 2) & 3 {
                    1 => true,
                    2 => false,
                    _ => off + n < l,
                };
                let mut data = f.slice(off, n);
                if flags & 0x10 != 0 {
                    for b in &mut data {
                        *b ^= 0x5a;
                    }
                }
                self.frame(Sent {
                    key: f.key,
                    off,
                    more,
                    data,
                })
            }
            Action::Sequence {
                flow: f,
                chunk,
                order,
            } => {
                let f = flow(f);
                let l = f.len();
                if l == 0 {
                    return Ok(());
                }
                let mut chunk = 8 * (1 + u32::from(chunk) % 64);
                if l.div_ceil(chunk) as usize > MAX_SEQUENCE {
                    chunk = l.div_ceil(MAX_SEQUENCE as u32).next_multiple_of(8);
                }
                let n = l.div_ceil(chunk) as usize;
                let mut idx: Vec<usize> = match order & 3 {
                    0 => (0..n).collect(),
                    1 => (0..n).rev().collect(),
                    2 => (0..n).step_by(2).chain((1..n).step_by(2)).collect(),
                    _ => (1..n).chain(0..1).collect(),
                };
                let pick = usize::from(order >> 4) % n;
                if order & 4 != 0 {
                    idx.retain(|&i| i != pick);
                }
                if order & 8 != 0 {
                    idx.push((pick + 1) % n);
                }
                for i in idx {
                    let off = i as u32 * chunk;
                    if off > MAX_OFFSET {
                        // Past what the offset field can say (the datagram is too big anyway).
                        continue;
                    }
                    let len = chunk.min(l - off);
                    self.frame(Sent {
                        key: f.key,
                        off,
                        more: off + len < l,
                        data: f.slice(off, len),
                    })?;
                }
                Ok(())
            }
            Action::Wait(n) => {
                let d = if n & 0x80 != 0 {
                    Duration::from_secs(u64::from(n & 0x7f) % 40)
                } else {
                    Duration::from_millis(u64::from(n) * 40)
                };
                self.wait(d)
            }
            Action::Sysctl { which, value } => self.sysctl(which, value),
            Action::Burst { src, count } => {
                let src = SOURCES[usize::from(src) % SOURCES.len()];
                for _ in 0..1 + count % 96 {
                    self.burst_id = self.burst_id.wrapping_add(1);
                    let data = vec![0xbb; 8];
                    self.frame(Sent {
                        key: Key {
                            src,
                            dst: IP_B,
                            id: 0x8000 | (self.burst_id & 0x7fff),
                            proto: 17,
                        },
                        off: 8,
                        more: true,
                        data,
                    })?;
                }
                Ok(())
            }
            Action::Whole { flow: f } => {
                let f = flow(f);
                if f.len() > MAX_PAYLOAD {
                    return Ok(());
                }
                self.frame(Sent {
                    key: f.key,
                    off: 0,
                    more: false,
                    data: f.bytes.clone(),
                })
            }
        }
    }

    fn sysctl(&mut self, which: u8, value: u8) -> Result<(), String> {
        let (name, v) = match which % 3 {
            0 => {
                let high = HIGH_THRESH[usize::from(value % 8)];
                // Lowering the threshold below what is held would leave more held than the
                // audit's bound (nothing is evicted, L4.3): only when what may be held fits.
                let held = self.memory();
                if held > high + slack() {
                    return Ok(());
                }
                self.s
                    .set_sysctl("net.ipv4.ipfrag_low_thresh", &(high / 4 * 3).to_string())
                    .map_err(|e| e.to_string())?;
                self.high = high;
                ("net.ipv4.ipfrag_high_thresh", high.to_string())
            }
            1 => {
                self.time = FRAG_TIME[usize::from(value % 4)];
                ("net.ipv4.ipfrag_time", self.time.to_string())
            }
            _ => (
                "net.ipv4.ipfrag_max_dist",
                MAX_DIST[usize::from(value % 8)].to_string(),
            ),
        };
        self.s.set_sysctl(name, &v).map_err(|e| e.to_string())
    }

    /// The reassembly memory held, queues past their deadline left out (L4.3).
    fn memory(&self) -> u64 {
        self.keys.values().map(|k| k.memory(self.now)).sum()
    }

    fn wait(&mut self, d: Duration) -> Result<(), String> {
        self.now += d;
        let before = Counters::of(&self.s);
        self.s.handle_timeout(self.now);
        self.drain_tx();
        let got = self.drain_socket()?;
        self.s.audit().map_err(|v| format!("audit: {v}"))?;
        // Nothing is delivered by time passing.
        if !got.is_empty() {
            return Err(format!("{} datagram(s) delivered by a timer", got.len()));
        }
        let d = Counters::of(&self.s).delta(before);
        // L4.2: a timeout counts ReasmFails and ReasmTimeout, nothing else.
        if d.fails != d.timeouts || d.reqds + d.oks + d.overlaps != 0 {
            return Err(format!("timers moved {d:?}"));
        }
        let now = self.now;
        self.keys.retain(|_, k| {
            k.expire(now);
            !matches!(k.queue(), Queue::Absent)
        });
        self.check_bound()
    }

    fn drain_tx(&mut self) {
        while self.s.poll_transmit(self.now, &mut self.tx).is_some() {}
    }

    fn drain_socket(&mut self) -> Result<Vec<(Vec<u8>, SocketAddrV4)>, String> {
        let mut out = Vec::new();
        loop {
            match self.s.recv_from(self.sock, &mut self.buf) {
                Ok((n, from)) => out.push((self.buf[..n].to_vec(), from)),
                Err(e) if e.raw_os_error() == Some(Errno::EAGAIN.0) => return Ok(out),
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
    }

    /// L4.3: what is known to be held stays within `ipfrag_high_thresh` plus the slack the
    /// audit allows (one queue and one maximal fragment admitted under the threshold).
    fn check_bound(&self) -> Result<(), String> {
        let held = self.memory();
        if held > self.high + slack() {
            return Err(format!(
                "reassembly holds {held} bytes, ipfrag_high_thresh {} + slack {}",
                self.high,
                slack()
            ));
        }
        Ok(())
    }

    fn frame(&mut self, sent: Sent) -> Result<(), String> {
        self.report.frames += 1;
        let Sent {
            key,
            off,
            more,
            data,
        } = sent;
        let header = Ipv4Repr {
            src: key.src,
            dst: key.dst,
            protocol: IpProtocol::from(key.proto),
            dscp: 0,
            ecn: 0,
            ident: key.id,
            dont_frag: false,
            more_frags: more,
            frag_offset: off as u16,
            ttl: 64,
            options: Ipv4Options::NONE,
            payload_len: data.len(),
        };
        let src_mac = MacAddr([2, 0, 0, 0, 1, key.src.octets()[3]]);
        let frame = ip_frame(src_mac, MAC_B, &header, &data);
        let ts = truesize(frame.len());
        let now = self.now;
        let held = self.memory();
        let before = Counters::of(&self.s);
        let rq_before = self
            .s
            .recv_queue_bytes(self.sock)
            .map_err(|e| e.to_string())?;
        self.s.handle_frame(now, &frame);
        self.drain_tx();
        let rq_after = self
            .s
            .recv_queue_bytes(self.sock)
            .map_err(|e| e.to_string())?;
        let got = self.drain_socket()?;
        self.s.audit().map_err(|v| format!("audit: {v}"))?;
        let d = Counters::of(&self.s).delta(before);
        let what = format!(
            "{} > {} id {:#x} proto {} offset {off} len {} MF {more}",
            key.src,
            key.dst,
            key.id,
            key.proto,
            data.len()
        );
        let fail = |msg: String| -> Result<(), String> {
            Err(format!("fragment {what}: {msg} (counters moved {d:?})"))
        };

        if off == 0 && !more {
            // Not a fragment: straight to UDP, the reassembler untouched.
            if d != Counters::default() {
                return fail("a whole datagram moved the reassembly counters".into());
            }
            let want: Vec<(Vec<u8>, SocketAddrV4)> = deliverable(&key, &data)
                .map(|(sport, p)| (p, SocketAddrV4::new(key.src, sport)))
                .into_iter()
                .collect();
            if got != want {
                return fail(format!("delivered {got:?}, expected {want:?}"));
            }
            self.report.whole_deliveries += got.len() as u64;
            return self.check_bound();
        }

        // The stack's verdict, from its counters. L4.3–L4.6: one verdict per fragment.
        if d.reqds != 1 {
            return fail("ReasmReqds must count each fragment once".into());
        }
        if d.overlaps != d.overlap_drops {
            return fail("ReasmOverlaps must move with each overlap discard (L4.5)".into());
        }
        let verdicts = d.memory + d.duplicate + d.overlap_drops + d.invalid + d.oks;
        if verdicts > 1 {
            return fail("more than one verdict for one fragment".into());
        }
        let explained = d.timeouts + d.memory + d.overlap_drops + d.invalid;
        if d.fails < explained || d.fails - explained > 1 {
            return fail("ReasmFails does not match refusals, discards and timeouts".into());
        }
        let flushed = d.fails - explained == 1;
        let seen = if d.memory == 1 {
            Seen::Refused
        } else if d.duplicate == 1 {
            Seen::Duplicate
        } else if d.overlap_drops == 1 {
            Seen::Overlap
        } else if d.invalid == 1 {
            Seen::Invalid
        } else if d.oks == 1 {
            Seen::Complete
        } else {
            Seen::Queued
        };
        if seen != Seen::Complete && !got.is_empty() {
            return fail(format!(
                "{} datagram(s) delivered without a reassembly",
                got.len()
            ));
        }
        if got.len() > 1 {
            return fail(format!("one reassembly delivered {} datagrams", got.len()));
        }

        let time = Duration::from_secs(self.time);
        let st = self.keys.entry(key).or_default();
        st.expire(now);

        // L4.3: refused exactly while the memory held exceeds ipfrag_high_thresh (or it is
        // 0); the queue is left as it was.
        let over = self.high == 0 || held > self.high;
        if (seen == Seen::Refused) != over {
            return fail(format!(
                "{} with {held} bytes held, ipfrag_high_thresh {}",
                if over { "accepted" } else { "refused" },
                self.high
            ));
        }
        if seen == Seen::Refused {
            self.report.memory_refusals += 1;
            if flushed {
                return fail("a refused fragment flushed a queue".into());
            }
            return self.check_bound();
        }

        let raw_end = off + data.len() as u32;
        let end = if more { raw_end & !7 } else { raw_end };
        let frag = Frag {
            off,
            end,
            data: data
                .get(..end.saturating_sub(off) as usize)
                .unwrap_or(&[])
                .to_vec(),
            truesize: ts,
        };

        // L4.4: a max_dist flush empties the queue and re-arms its timer; it is known again.
        if flushed {
            self.report.flushes += 1;
            if matches!(st.queue(), Queue::Absent) {
                return fail("max_dist flushed a queue that does not exist".into());
            }
            st.reset();
            st.queue = Some(Queue::Known(Known::new(now + time)));
        }
        if matches!(st.queue(), Queue::Absent) {
            // L4.1: a new queue, its timer armed for ipfrag_time from now.
            st.queue = Some(Queue::Known(Known::new(now + time)));
        }
        if !more {
            st.lasts.push(raw_end);
        }

        let queue = st.queue.take().unwrap_or(Queue::Absent);
        let next = match queue {
            Queue::Known(mut trial) => {
                let (mut p, _) = trial.predict(off, &data, more);
                if p == Prediction::Queued {
                    trial.frags.insert(off, frag.clone());
                    if let Some(bytes) = trial.complete() {
                        // L4.6: over 65535 bytes in all fails.
                        p = if 20 + bytes.len() > 65_535 {
                            Prediction::TooBig
                        } else {
                            Prediction::Complete(bytes)
                        };
                    }
                }
                match (p, seen) {
                    (Prediction::Queued, Seen::Queued) => Queue::Known(trial),
                    (Prediction::Duplicate, Seen::Duplicate) => {
                        // The queue goes on, with the length the fragment may have fixed.
                        self.report.duplicates += 1;
                        Queue::Known(trial)
                    }
                    (Prediction::Either, Seen::Duplicate) => {
                        self.report.unpredicted += 1;
                        self.report.duplicates += 1;
                        Queue::Known(trial)
                    }
                    (Prediction::Either, Seen::Overlap) => {
                        self.report.unpredicted += 1;
                        Queue::Absent
                    }
                    (Prediction::Overlap, Seen::Overlap)
                    | (Prediction::Invalid | Prediction::TooBig, Seen::Invalid) => Queue::Absent,
                    (Prediction::Complete(bytes), Seen::Complete) => {
                        // At least once: a complete, consistent set in time is reassembled,
                        // and delivered if UDP takes it (L4.6, L5.1, L5.2).
                        self.report.predicted_completions += 1;
                        let want = deliverable(&key, &bytes)
                            .map(|(sport, p)| (p, SocketAddrV4::new(key.src, sport)));
                        match (&want, got.first()) {
                            (None, None) => {}
                            (Some(w), Some(g)) if w == g => {
                                // L4.6: charged the sum of the fragments' truesizes.
                                let charge: usize = trial.frags.values().map(|f| f.truesize).sum();
                                if rq_after.checked_sub(rq_before) != Some(charge) {
                                    return fail(format!(
                                        "reassembled datagram charged {} bytes, its fragments' \
                                         truesizes sum to {charge}",
                                        rq_after as i64 - rq_before as i64
                                    ));
                                }
                                self.report.predicted_deliveries += 1;
                            }
                            _ => {
                                return fail(format!(
                                    "a complete datagram of {} bytes: expected {want:?}, \
                                     delivered {:?}",
                                    bytes.len(),
                                    got.first()
                                ));
                            }
                        }
                        Queue::Absent
                    }
                    (p, seen) => {
                        let p = match p {
                            Prediction::Complete(b) => format!("completion ({} bytes)", b.len()),
                            p => format!("{p:?}"),
                        };
                        return fail(format!(
                            "predicted {p} (L4.5, L4.6), the stack's verdict was {seen:?}"
                        ));
                    }
                }
            }
            // Never: an absent queue was made known above.
            Queue::Absent => Queue::Absent,
        };
        match seen {
            Seen::Overlap => self.report.overlaps += 1,
            Seen::Invalid => self.report.invalid += 1,
            _ => {}
        }

        if matches!(seen, Seen::Queued | Seen::Complete) {
            st.pool.push(frag.clone());
        }
        if let Some((payload, from)) = got.first() {
            // Exactly once: the datagram is made of fragments of this key supplied since its
            // queue was last known gone, the one just sent among them (L4.5, L4.6).
            if *from.ip() != key.src {
                return fail(format!(
                    "delivered from {from}, the fragments came from {}",
                    key.src
                ));
            }
            if !tiles(&st.pool, &st.lasts, &frag, from.port(), payload) {
                return fail(format!(
                    "delivered {} bytes from {from} that no set of this key's fragments \
                     supplied since its last reassembly makes up ({} fragments held: {})",
                    payload.len(),
                    st.pool.len(),
                    describe(&st.pool)
                ));
            }
            self.report.reassembled_deliveries += 1;
        }
        match next {
            Queue::Absent => st.reset(),
            q => st.queue = Some(q),
        }
        self.check_bound()
    }
}

fn slack() -> u64 {
    (QUEUE_OVERHEAD + truesize(65_535 + 14)) as u64
}

fn describe(pool: &[Frag]) -> String {
    let mut s = String::new();
    for f in pool.iter().take(16) {
        let _ = write!(s, "[{}, {}) ", f.off, f.end);
    }
    s
}

/// Whether some fragments of `pool`, `frag` among them, tile `[0, len)` without overlap for
/// a `len` some last fragment fixed, agreeing with the UDP datagram received: source port
/// `sport`, destination port [`PORT`], length `8 + payload.len()`, then `payload`.
fn tiles(pool: &[Frag], lasts: &[u32], frag: &Frag, sport: u16, payload: &[u8]) -> bool {
    let ulen = 8 + payload.len();
    let mut head = [0u8; 6];
    head[..2].copy_from_slice(&sport.to_be_bytes());
    head[2..4].copy_from_slice(&PORT.to_be_bytes());
    head[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
    // Does a fragment agree with the bytes known: 0..6 and 8..ulen?
    let agrees = |f: &Frag| {
        f.data.iter().enumerate().all(|(i, &b)| {
            let p = f.off as usize + i;
            match p {
                0..=5 => head[p] == b,
                6 | 7 => true,
                _ if p < ulen => payload[p - 8] == b,
                _ => true,
            }
        })
    };
    if !agrees(frag) {
        return false;
    }
    let ok: Vec<&Frag> = pool.iter().filter(|f| agrees(f)).collect();
    let mut ends: Vec<u32> = lasts.to_vec();
    ends.sort_unstable();
    ends.dedup();
    ends.into_iter().filter(|&l| l as usize >= ulen).any(|len| {
        let mut by_off: Vec<&&Frag> = ok.iter().filter(|f| f.end <= len).collect();
        by_off.sort_by_key(|f| f.off);
        let mut fwd = std::collections::HashSet::from([0u32]);
        for f in &by_off {
            if fwd.contains(&f.off) {
                fwd.insert(f.end);
            }
        }
        let mut by_end = by_off.clone();
        by_end.sort_by_key(|f| std::cmp::Reverse(f.end));
        let mut bwd = std::collections::HashSet::from([len]);
        for f in &by_end {
            if bwd.contains(&f.end) {
                bwd.insert(f.off);
            }
        }
        frag.end <= len && fwd.contains(&frag.off) && bwd.contains(&frag.end)
    })
}
