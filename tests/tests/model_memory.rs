//! Model-based test of socket memory (L6, L3.2, L7.6, L7.7): random sequences of operations —
//! datagrams arriving for socket k with payload size s, recv, peek, recv with MSG_TRUNC,
//! FIONREAD, SO_RCVBUF and SO_SNDBUF changes, `udp_mem` changes, sends (with the send buffer
//! full or not), UDP_CORK and MSG_MORE, the device taking the frames — run against the stack
//! and against [`Model`], a small reference model written from the rules rather than from the
//! stack's code. After every operation the results, every socket's SIOCOUTQ, charged bytes,
//! `/proc/net/udp` rx_queue and drops columns, poll readiness, the `udp_mem` pages and the
//! counters must be identical, and the stack's books must balance (`Stack::audit`).
//!
//! The model's domain: three sockets on one stack, the peer's MAC known (so frames queue only
//! in the transmit queue, which never fills here), datagrams that fit one frame (a corked
//! datagram is not grown past 1472 bytes; fragmentation while corked is tested in
//! `engine_cork.rs`), no ICMP errors (so nothing is on the error queues).

use std::collections::VecDeque;

use proptest::prelude::*;
use udpstack::errno::Errno;
use udpstack::{Duration, Instant, RecvFlags, SendFlags, SocketHandle, Stack};
use udpstack_tests::fixture::*;

const SOCKETS: usize = 3;
const PAGE: i64 = 4096;
/// `rmem_max` and `wmem_max`: 4194304 by default on Linux 6.18 (212992 on older kernels); L6.1
/// caps setsockopt values with them.
const BUF_MAX: i64 = 4_194_304;

/// What a received datagram of `payload` bytes costs (L6.2), from the kernel's observed
/// steps for a frame of `payload + 42` bytes read from a TAP device: the `sk_buff` (256) and a
/// head of 576 bytes, 1024 or 2048 holding 64 bytes of headroom, the frame rounded up to 64 and
/// 320 bytes of shared info.
fn recv_cost(payload: usize) -> usize {
    match payload + 42 {
        0..=192 => 832,
        193..=640 => 1280,
        _ => 2304,
    }
}

/// What a sent packet with `payload` bytes of UDP payload (its first call's, when corked) is
/// allocated (L6.5, obs on Linux 6.18: 832 up to 197 bytes, 1280 up to 645, 2304 up to 1472).
fn send_cost(payload: usize) -> usize {
    match payload {
        0..=197 => 832,
        198..=645 => 1280,
        _ => 2304,
    }
}

/// L6.1: a setsockopt value doubled, capped by rmem_max/wmem_max (a negative value reads as
/// huge), at least `min`.
fn buffer_size(value: i32, min: i64) -> usize {
    let v = if value < 0 {
        BUF_MAX
    } else {
        i64::from(value).min(BUF_MAX)
    };
    (2 * v).max(min) as usize
}

/// One operation. Sockets are numbered 0..SOCKETS.
#[derive(Debug, Clone)]
enum Op {
    /// A datagram with `size` bytes of payload arrives for socket `k`.
    Arrive { k: usize, size: usize },
    /// recvmsg with a buffer of `buf` bytes.
    Recv {
        k: usize,
        buf: usize,
        peek: bool,
        trunc: bool,
    },
    /// FIONREAD.
    Fionread { k: usize },
    /// SO_RCVBUF.
    SetRcvbuf { k: usize, value: i32 },
    /// SO_SNDBUF.
    SetSndbuf { k: usize, value: i32 },
    /// `sysctl -w net.ipv4.udp_mem="min min max"`.
    SetUdpMem { min: i64, max: i64 },
    /// sendto the peer with `size` bytes, with MSG_MORE or not.
    Send { k: usize, size: usize, more: bool },
    /// UDP_CORK on or off.
    Cork { k: usize, on: bool },
    /// The device takes every frame queued for it.
    Transmit,
}

fn payload_size() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=150, 151usize..=662, 663usize..=1472]
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..SOCKETS;
    prop_oneof![
        8 => (k.clone(), payload_size()).prop_map(|(k, size)| Op::Arrive { k, size }),
        4 => (k.clone(), prop_oneof![Just(0usize), Just(1), Just(5), Just(100), Just(2000)], any::<bool>(), any::<bool>())
            .prop_map(|(k, buf, peek, trunc)| Op::Recv { k, buf, peek, trunc }),
        1 => k.clone().prop_map(|k| Op::Fionread { k }),
        1 => (k.clone(), prop_oneof![0i32..=12_000, Just(-1), Just(300_000), Just(5_000_000)])
            .prop_map(|(k, value)| Op::SetRcvbuf { k, value }),
        3 => (k.clone(), prop_oneof![4 => 0i32..=6_000, 1 => Just(-1)])
            .prop_map(|(k, value)| Op::SetSndbuf { k, value }),
        1 => (0i64..6, 0i64..12).prop_map(|(min, extra)| Op::SetUdpMem { min, max: min + extra }),
        6 => (k.clone(), payload_size(), any::<bool>()).prop_map(|(k, size, more)| Op::Send { k, size, more }),
        1 => (k, any::<bool>()).prop_map(|(k, on)| Op::Cork { k, on }),
        1 => Just(Op::Transmit),
    ]
}

/// What an operation returned, in terms both sides can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Bytes (recv: the returned length) and whether MSG_TRUNC would be set.
    Bytes(usize, bool),
    Failed(Errno),
    /// Frames the device took.
    Frames(usize),
}

/// What is compared after every operation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    sockets: Vec<SocketView>,
    /// `udp_mem` pages as `/proc/net/sockstat` shows them.
    pages: u64,
    /// InDatagrams, InErrors, RcvbufErrors, MemErrors, OutDatagrams, SndbufErrors, and the IP
    /// layer's OutDiscards.
    counters: [u64; 7],
}

/// What is compared of each socket.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SocketView {
    /// SIOCOUTQ (L6.6).
    outq: usize,
    /// `sk_rmem_alloc`, read datagrams not yet released included (L6.3).
    rmem: usize,
    /// The rx_queue column of `/proc/net/udp` (without them).
    rx_queue: usize,
    /// The drops column.
    drops: u64,
    readable: bool,
    /// POLLOUT (L6.6).
    writable: bool,
    /// SO_RCVBUF and SO_SNDBUF as getsockopt reads them (L6.1).
    rcvbuf: usize,
    sndbuf: usize,
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    len: usize,
    cost: usize,
}

/// A corked datagram: payload so far and what its one packet costs.
#[derive(Debug, Clone, Copy)]
struct Pending {
    len: usize,
    cost: usize,
}

#[derive(Debug, Clone)]
struct ModelSocket {
    rcvbuf: usize,
    sndbuf: usize,
    /// `sk_receive_queue` and the reader's own queue, as two lists (Linux 6.18's UDP).
    arrivals: VecDeque<Queued>,
    reader: VecDeque<Queued>,
    rmem: usize,
    forward_alloc: i64,
    deficit: usize,
    drops: u64,
    /// Packets handed to the transmit queue, by cost.
    in_flight: Vec<usize>,
    cork: bool,
    pending: Option<Pending>,
}

impl ModelSocket {
    fn new() -> Self {
        ModelSocket {
            rcvbuf: 212_992,
            sndbuf: 212_992,
            arrivals: VecDeque::new(),
            reader: VecDeque::new(),
            rmem: 0,
            forward_alloc: 0,
            deficit: 0,
            drops: 0,
            in_flight: Vec::new(),
            cork: false,
            pending: None,
        }
    }

    fn wmem(&self) -> usize {
        self.in_flight.iter().sum::<usize>() + self.pending.map_or(0, |p| p.cost)
    }

    fn refill_reader(&mut self) {
        if self.reader.is_empty() {
            self.reader.append(&mut self.arrivals);
        }
    }
}

/// L6 as the reference states it, for one CPU.
#[derive(Debug, Clone)]
struct Model {
    sockets: Vec<ModelSocket>,
    udp_mem: (i64, i64),
    rmem_min: usize,
    pcpu_rsv: i64,
    /// `udp_memory_allocated` and this CPU's uncommitted pages.
    allocated: i64,
    pcpu: i64,
    counters: [u64; 7],
}

const IN_DATAGRAMS: usize = 0;
const IN_ERRORS: usize = 1;
const RCVBUF_ERRORS: usize = 2;
const MEM_ERRORS: usize = 3;
const OUT_DATAGRAMS: usize = 4;
const SNDBUF_ERRORS: usize = 5;
const OUT_DISCARDS: usize = 6;

impl Model {
    fn new(udp_mem: (i64, i64), rmem_min: usize, pcpu_rsv: i64) -> Self {
        Model {
            sockets: (0..SOCKETS).map(|_| ModelSocket::new()).collect(),
            udp_mem,
            rmem_min,
            pcpu_rsv,
            allocated: 0,
            pcpu: 0,
            counters: [0; 7],
        }
    }

    /// Adds `pages` (negative: returns them) through the per-CPU reserve.
    fn pages(&mut self, pages: i64) {
        self.pcpu += pages;
        if self.pcpu >= self.pcpu_rsv || self.pcpu <= -self.pcpu_rsv {
            self.allocated += self.pcpu;
            self.pcpu = 0;
        }
    }

    fn arrive(&mut self, k: usize, size: usize) -> Outcome {
        let cost = recv_cost(size);
        let sock = &self.sockets[k];
        // L6.3: it must fit, unless nothing is charged yet.
        if sock.rmem != 0 && sock.rmem + cost > sock.rcvbuf {
            self.sockets[k].drops += 1;
            self.counters[RCVBUF_ERRORS] += 1;
            self.counters[IN_ERRORS] += 1;
            return Outcome::Done;
        }
        let rmem = sock.rmem + cost;
        let short = cost as i64 - sock.forward_alloc;
        if short > 0 {
            // L6.4: whole pages from udp_mem.
            let pages = (short + PAGE - 1) / PAGE;
            self.pages(pages);
            let total = self.allocated.max(0);
            let granted =
                total <= self.udp_mem.0 || (total <= self.udp_mem.1 && rmem < self.rmem_min);
            if !granted {
                self.pages(-pages);
                self.sockets[k].drops += 1;
                self.counters[MEM_ERRORS] += 1;
                self.counters[IN_ERRORS] += 1;
                return Outcome::Done;
            }
            self.sockets[k].forward_alloc += pages * PAGE;
        }
        let sock = &mut self.sockets[k];
        sock.forward_alloc -= cost as i64;
        sock.rmem = rmem;
        sock.arrivals.push_back(Queued { len: size, cost });
        Outcome::Done
    }

    fn recv(&mut self, k: usize, buf: usize, peek: bool, trunc: bool) -> Outcome {
        let sock = &mut self.sockets[k];
        sock.refill_reader();
        let Some(&d) = sock.reader.front() else {
            return Outcome::Failed(Errno::EAGAIN);
        };
        let got = if trunc { d.len } else { d.len.min(buf) };
        if !peek {
            sock.reader.pop_front();
            self.counters[IN_DATAGRAMS] += 1;
            // L6.3: read memory is released in batches of a quarter of the buffer, or when the
            // reader's queue is empty, keeping one byte's page.
            sock.deficit += d.cost;
            if sock.deficit >= sock.rcvbuf / 4 || sock.reader.is_empty() {
                let size = std::mem::take(&mut sock.deficit);
                let free = (size as i64 + sock.forward_alloc - 1).max(0) / PAGE * PAGE;
                sock.forward_alloc += size as i64 - free;
                sock.rmem -= size;
                sock.reader.append(&mut sock.arrivals);
                self.pages(-(free / PAGE));
            }
        }
        Outcome::Bytes(got, d.len > buf)
    }

    fn send(&mut self, k: usize, size: usize, more: bool) -> Outcome {
        let sock = &mut self.sockets[k];
        let corking = sock.cork || more;
        match sock.pending {
            Some(ref mut p) => {
                // Appended to the packet in page fragments, which cost their bytes.
                p.len += size;
                p.cost += size;
            }
            None => {
                // L6.5: the datagram's packet needs the bytes in flight below SO_SNDBUF.
                // The failed allocation sets SOCK_NOSPACE, and udp_sendmsg counts an error
                // with it set as SndbufErrors; IP counts the packet it could not build.
                if sock.wmem() >= sock.sndbuf {
                    self.counters[SNDBUF_ERRORS] += 1;
                    self.counters[OUT_DISCARDS] += 1;
                    return Outcome::Failed(Errno::EAGAIN);
                }
                sock.pending = Some(Pending {
                    len: size,
                    cost: send_cost(size),
                });
            }
        }
        if !corking {
            self.push(k);
        }
        Outcome::Bytes(size, false)
    }

    fn push(&mut self, k: usize) {
        if let Some(p) = self.sockets[k].pending.take() {
            self.sockets[k].in_flight.push(p.cost);
            self.counters[OUT_DATAGRAMS] += 1;
        }
    }

    fn transmit(&mut self) -> Outcome {
        let mut frames = 0;
        for s in &mut self.sockets {
            frames += s.in_flight.len();
            s.in_flight.clear();
        }
        Outcome::Frames(frames)
    }

    /// Whether `op` is in the model's domain (a corked datagram stays within one frame).
    fn allows(&self, op: &Op) -> bool {
        match *op {
            Op::Send { k, size, .. } => self.sockets[k].pending.map_or(0, |p| p.len) + size <= 1472,
            _ => true,
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::Arrive { k, size } => self.arrive(k, size),
            Op::Recv {
                k,
                buf,
                peek,
                trunc,
            } => self.recv(k, buf, peek, trunc),
            Op::Fionread { k } => {
                let s = &mut self.sockets[k];
                s.refill_reader();
                Outcome::Bytes(s.reader.front().map_or(0, |d| d.len), false)
            }
            Op::SetRcvbuf { k, value } => {
                self.sockets[k].rcvbuf = buffer_size(value, 2304);
                Outcome::Done
            }
            Op::SetSndbuf { k, value } => {
                self.sockets[k].sndbuf = buffer_size(value, 4608);
                Outcome::Done
            }
            Op::SetUdpMem { min, max } => {
                self.udp_mem = (min, max);
                Outcome::Done
            }
            Op::Send { k, size, more } => self.send(k, size, more),
            Op::Cork { k, on } => {
                self.sockets[k].cork = on;
                if !on {
                    self.push(k);
                }
                Outcome::Done
            }
            Op::Transmit => self.transmit(),
        }
    }

    fn observe(&self) -> Observed {
        Observed {
            sockets: self
                .sockets
                .iter()
                .map(|s| {
                    let wmem = s.wmem();
                    SocketView {
                        outq: wmem,
                        rmem: s.rmem,
                        rx_queue: s.rmem - s.deficit,
                        drops: s.drops,
                        readable: !s.arrivals.is_empty() || !s.reader.is_empty(),
                        writable: wmem + 1 < s.sndbuf / 2,
                        rcvbuf: s.rcvbuf,
                        sndbuf: s.sndbuf,
                    }
                })
                .collect(),
            pages: self.allocated.max(0) as u64,
            counters: self.counters,
        }
    }
}

/// The stack under test: 10.0.0.2 with a socket on 7000 + k for each k, the peer's (the
/// probe's) MAC learnt from its ARP request.
struct Real {
    stack: Stack,
    handles: Vec<SocketHandle>,
    now: Instant,
    next_port: u16,
}

impl Real {
    fn new(udp_mem: (i64, i64), rmem_min: usize, pcpu_rsv: i64) -> Self {
        let mut c = config(IP_B, MAC_B);
        c.set_sysctl(
            "net.ipv4.udp_mem",
            &format!("{} {} {}", udp_mem.0, udp_mem.0, udp_mem.1),
        )
        .unwrap();
        c.set_sysctl("net.ipv4.udp_rmem_min", &rmem_min.to_string())
            .unwrap();
        c.set_sysctl("net.core.mem_pcpu_rsv", &pcpu_rsv.to_string())
            .unwrap();
        let mut stack = Stack::new(c, 11).unwrap();
        let handles = (0..SOCKETS)
            .map(|k| {
                let h = stack.udp_socket();
                stack.bind(h, sa(IP_B, 7000 + k as u16)).unwrap();
                h
            })
            .collect();
        let now = Instant::ZERO;
        stack.handle_frame(now, &probe_who_has(IP_B));
        let mut buf = vec![0u8; 2048];
        while stack.poll_transmit(now, &mut buf).is_some() {}
        Real {
            stack,
            handles,
            now,
            next_port: 1024,
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        self.now += Duration::from_millis(1);
        let now = self.now;
        let s = &mut self.stack;
        let h = |k: usize| self.handles[k];
        let bytes = |r: std::io::Result<usize>| match r {
            Ok(n) => Outcome::Bytes(n, false),
            Err(e) => Outcome::Failed(errno(Err::<(), _>(e))),
        };
        let done = |r: std::io::Result<()>| match r {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(errno(Err::<(), _>(e))),
        };
        match *op {
            Op::Arrive { k, size } => {
                self.next_port = self.next_port.wrapping_add(1).max(1024);
                let frame = probe_udp(
                    MAC_B,
                    sa(IP_PROBE, self.next_port),
                    sa(IP_B, 7000 + k as u16),
                    &vec![0x5a; size],
                );
                s.handle_frame(now, &frame);
                Outcome::Done
            }
            Op::Recv {
                k,
                buf,
                peek,
                trunc,
            } => {
                let mut flags = RecvFlags::empty();
                if peek {
                    flags |= RecvFlags::PEEK;
                }
                if trunc {
                    flags |= RecvFlags::TRUNC;
                }
                let mut b = vec![0u8; buf];
                match s.recv_with(h(k), &mut b, flags) {
                    Ok(r) => Outcome::Bytes(r.len, r.truncated),
                    Err(e) => Outcome::Failed(errno(Err::<(), _>(e))),
                }
            }
            Op::Fionread { k } => bytes(s.pending(h(k))),
            Op::SetRcvbuf { k, value } => done(s.set_recv_buffer_size(h(k), value)),
            Op::SetSndbuf { k, value } => done(s.set_send_buffer_size(h(k), value)),
            Op::SetUdpMem { min, max } => {
                s.set_sysctl("net.ipv4.udp_mem", &format!("{min} {min} {max}"))
                    .unwrap();
                Outcome::Done
            }
            Op::Send { k, size, more } => {
                let flags = if more {
                    SendFlags::MORE
                } else {
                    SendFlags::empty()
                };
                bytes(s.send_with(now, h(k), &vec![0xa5; size], Some(sa(IP_PROBE, 9)), flags))
            }
            Op::Cork { k, on } => done(s.set_cork(h(k), on)),
            Op::Transmit => {
                let mut buf = vec![0u8; 2048];
                let mut frames = 0;
                while s.poll_transmit(now, &mut buf).is_some() {
                    frames += 1;
                }
                Outcome::Frames(frames)
            }
        }
    }

    fn observe(&mut self) -> Observed {
        let s = &self.stack;
        let sockets = (0..SOCKETS)
            .map(|k| {
                let h = self.handles[k];
                let row = udp_row(s, sa(IP_B, 7000 + k as u16));
                let rx_column = row[4].split(':').nth(1).unwrap();
                let ready = s.readiness(h).unwrap();
                SocketView {
                    outq: s.outq(h).unwrap(),
                    rmem: s.recv_queue_bytes(h).unwrap(),
                    rx_queue: usize::from_str_radix(rx_column, 16).unwrap(),
                    drops: s.drops(h).unwrap(),
                    readable: ready.readable,
                    writable: ready.writable,
                    rcvbuf: s.recv_buffer_size(h).unwrap(),
                    sndbuf: s.send_buffer_size(h).unwrap(),
                }
            })
            .collect();
        let st = s.stats();
        Observed {
            sockets,
            pages: s.udp_memory().allocated(),
            counters: [
                st.udp.in_datagrams,
                st.udp.in_errors,
                st.udp.rcvbuf_errors,
                st.udp.mem_errors,
                st.udp.out_datagrams,
                st.udp.sndbuf_errors,
                st.ip.out_discards,
            ],
        }
    }
}

fn run(
    udp_mem: (i64, i64),
    rmem_min: usize,
    pcpu_rsv: i64,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = Model::new(udp_mem, rmem_min, pcpu_rsv);
    let mut real = Real::new(udp_mem, rmem_min, pcpu_rsv);
    prop_assert_eq!(real.observe(), model.observe());
    for (i, op) in ops.iter().enumerate() {
        if !model.allows(op) {
            continue;
        }
        let expected = model.apply(op);
        let got = real.apply(op);
        prop_assert_eq!(&got, &expected, "operation {} ({:?})", i, op);
        prop_assert_eq!(
            real.observe(),
            model.observe(),
            "after operation {} ({:?})",
            i,
            op
        );
        if let Err(v) = real.stack.audit() {
            return Err(TestCaseError::fail(format!(
                "after operation {i} ({op:?}): {v}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    // L6.1–L6.6, L3.2, L7.6 (recv, peek, MSG_TRUNC), L7.7 (FIONREAD, SIOCOUTQ).
    #[test]
    fn the_stack_accounts_memory_as_the_model_does(
        min in prop_oneof![3 => 0i64..8, 1 => Just(1_000_000)],
        extra in 0i64..24,
        rmem_min in prop_oneof![Just(4096usize), Just(1), Just(2304), Just(8192)],
        pcpu_rsv in prop_oneof![Just(0i64), Just(1), Just(3), Just(256)],
        ops in proptest::collection::vec(op(), 1..160),
    ) {
        run((min, min + extra), rmem_min, pcpu_rsv, &ops)?;
    }
}

/// A fixed sequence through every kind of operation, so a change that breaks the harness
/// itself (every operation refused, say) cannot pass unnoticed.
#[test]
fn a_known_sequence_exercises_every_operation() {
    let ops = [
        Op::SetRcvbuf { k: 0, value: 4096 },
        Op::Arrive { k: 0, size: 10 },
        Op::Arrive { k: 0, size: 1000 },
        Op::Arrive { k: 0, size: 10 },
        Op::Arrive { k: 0, size: 10 },
        Op::Fionread { k: 0 },
        Op::Recv {
            k: 0,
            buf: 5,
            peek: true,
            trunc: true,
        },
        Op::Recv {
            k: 0,
            buf: 5,
            peek: false,
            trunc: false,
        },
        Op::SetSndbuf { k: 1, value: 0 },
        Op::Send {
            k: 1,
            size: 1000,
            more: false,
        },
        Op::Send {
            k: 1,
            size: 1000,
            more: false,
        },
        Op::Send {
            k: 1,
            size: 10,
            more: false,
        },
        Op::Cork { k: 2, on: true },
        Op::Send {
            k: 2,
            size: 6,
            more: false,
        },
        Op::Send {
            k: 2,
            size: 6,
            more: true,
        },
        Op::Cork { k: 2, on: false },
        Op::SetUdpMem { min: 0, max: 0 },
        Op::Arrive { k: 1, size: 10 },
        Op::Transmit,
    ];
    let mut model = Model::new((100, 200), 4096, 0);
    let outcomes: Vec<Outcome> = ops.iter().map(|op| model.apply(op)).collect();
    // The model itself, against the rules' numbers: 8192 bytes hold 832 + 2304 + 832 + 832
    // and refuse nothing (L6.3); a 4608-byte send buffer takes two 2304-byte packets, then
    // EAGAIN (L6.5); 6 + 6 corked bytes cost 838 (L6.6 obs); udp_mem max 0 refuses (L6.4).
    assert_eq!(model.sockets[0].drops, 0);
    assert_eq!(outcomes[5], Outcome::Bytes(10, false));
    assert_eq!(outcomes[6], Outcome::Bytes(10, true));
    assert_eq!(outcomes[7], Outcome::Bytes(5, true));
    assert_eq!(outcomes[11], Outcome::Failed(Errno::EAGAIN));
    assert_eq!(model.counters[OUT_DISCARDS], 1);
    assert_eq!(model.counters[MEM_ERRORS], 1);
    assert_eq!(outcomes[18], Outcome::Frames(3));
    run((100, 200), 4096, 0, &ops).unwrap();
}
