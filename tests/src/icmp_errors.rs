//! Arbitrary bytes as socket calls and ICMP messages on one stack with several live UDP
//! sockets, with a model of every socket's pending error, error queue and path MTU written
//! from the behaviour reference (L1, L2) and checked after every step: shared by the
//! `icmp_errors` fuzz target and the proptest in `tests/fuzz_properties.rs`.
//!
//! # The stack
//!
//! B (10.0.0.2/24, gateway 10.0.0.1). Peers: 10.0.0.9 and 10.0.0.10 on the link, 192.0.2.1
//! behind the gateway, on ports 9, 53, 4000 and 33434. Every ARP request the stack sends is
//! answered at once, and no time passes, so no neighbour ever fails (which would raise errors
//! of its own).
//!
//! # Byte format
//!
//! Byte 0: bit 2 set means `ip_no_pmtu_disc` = bits 0–1, else 0. Byte 1: `3 + b % 4` sockets,
//! two bytes each:
//!
//! * `a`: bits 0–2 the binding (10.0.0.2:5000, 0.0.0.0:5000, 10.0.0.2:5001, 0.0.0.0:5001,
//!   10.0.0.2:7000, 0.0.0.0:7000, 10.0.0.2:0, none — the first send or connect picks a port),
//!   bit 3 IP_RECVERR, bits 4–6 IP_MTU_DISCOVER (0–5; 6, 7 leave the default), bit 7 the
//!   smallest SO_RCVBUF (room for two error-queue entries);
//! * `c`: bits 0–1 connect (0: no; 1–3: to peer 0–2), bits 2–3 the peer's port.
//!
//! Sockets bound to a fixed port have SO_REUSEADDR, so that one bound to 10.0.0.2 and one to
//! 0.0.0.0 can share the port; a binding another socket already has is skipped (the socket
//! stays unbound), and so is a connect that would give two sockets the same addresses and
//! peer: no two sockets ever tie in the lookup (L5.3), so the model knows which one an error
//! reaches.
//!
//! Then each byte picks an event, the bytes after it its arguments (missing ones read as 0):
//!
//! | byte % 10 | event | arguments |
//! |---|---|---|
//! | 0, 1 | socket k sends `n % 48` bytes (to its peer, or to a peer) | k, destination, n |
//! | 2, 3, 4 | an ICMP message quoting a datagram a socket sent, whole, cut or mutated | which, type, code, extra, cut, mutations, position, value, source, flags |
//! | 5 | an ICMP message quoting an arbitrary tuple | source, port, destination, port, protocol, type, code, extra, source, flags |
//! | 6 | SO_ERROR (even) or recv (odd) on socket k | k, which |
//! | 7 | recv from the error queue of socket k, with a 64-byte or a 4-byte buffer | k, size |
//! | 8 | IP_RECVERR toggled, IP_MTU_DISCOVER or SO_RCVBUF set | k, what |
//! | 9 | socket k connects to a peer, or disconnects | k, what |
//!
//! An ICMP message's type is 3 (four times in ten), 4, 5, 11 (twice), 12, or arbitrary
//! (`type / 10`, so echo requests and unknown types too); its code, the fragmentation-needed
//! MTU or the parameter-problem pointer or the redirect's gateway come from the next bytes; a
//! flags value with its three low bits set spoils the checksum. The source is a peer, the
//! gateway, a router (10.0.0.254, 192.0.2.99), or B itself (a martian).
//!
//! # What is checked
//!
//! After every step: the audit ([`Stack::audit`]); each socket's addresses as the model has
//! them (L7.4, L7.5); POLLERR exactly when the model has a pending error or a queued entry
//! (L1.6, L1.7); the receive memory exactly the queued entries' truesizes (L1.7); IP_MTU of
//! each connected socket equal to the model's path MTU towards its peer (L1.8, L2.1, L2.2,
//! L2.5). Every SO_ERROR, recv, send and error-queue read returns what the model says (L1.5,
//! L1.6, L1.7). The model delivers an ICMP error only to the socket the reference's lookup
//! finds for the quote read reversed — local = quoted source, remote = quoted destination,
//! a connected socket only for its own peer, sockets bound to the quoted source address
//! before wildcard ones (L1.4, L5.3) — and only after the checks of L1.1; that socket's quote
//! is asserted to be its own flow (the quoted source port is its port, the quoted source
//! address its address unless it is bound to 0.0.0.0, the quoted destination its peer if it
//! is connected). So no socket ever shows an error, an error-queue entry, a failed call or an
//! IP_MTU change that does not quote its own flow. An entry's fields must match the ICMP that
//! caused it: `ee_type`/`ee_code` the message's, `ee_errno` from L1.2/L1.3/L1.8, `ee_info`
//! the MTU or pointer, the offender the ICMP's source, `msg_name` the quoted destination, the
//! payload the quoted bytes after the UDP header — for an unmutated quote of a datagram the
//! socket sent, a prefix of what it sent.
//!
//! # A known difference from Linux, kept out of the model's way
//!
//! An ICMP error whose quoted destination is one of our broadcast addresses reaches the socket
//! lookup like any other: Linux's `icmp_unreach` drops it only when
//! `icmp_ignore_bogus_error_responses` is 0 (`if (!READ_ONCE(net->ipv4.sysctl_icmp_ignore_bogus_error_responses)
//! && ... == RTN_BROADCAST) goto out;`), and the default, which this target keeps, is 1.
//! (This model once followed udpstack's opposite reading; that was a stack bug, now fixed.)

use crate::bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::errno::Errno;
use udpstack::udp::{truesize, ErrorOrigin, PmtuMode};
use udpstack::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, IpProtocol, MacAddr,
};
use udpstack::{Instant, SendFlags, SocketHandle, Stack};

use crate::fixture::{arp_frame, config, ip_frame, ip_header, BROADCAST, IP_B, MAC_B};
use crate::reassembly::{fold, ones_sum};

/// The default gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peers sockets send to.
pub const PEERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 0, 9),
    Ipv4Addr::new(10, 0, 0, 10),
    Ipv4Addr::new(192, 0, 2, 1),
];
/// The peers' ports.
pub const PEER_PORTS: [u16; 4] = [9, 53, 4000, 33434];
/// Our fixed ports.
pub const PORTS: [u16; 3] = [5000, 5001, 7000];
/// Sources of ICMP messages: peers, the gateway, routers, and B itself (a martian source).
const OFFENDERS: [Ipv4Addr; 6] = [
    Ipv4Addr::new(10, 0, 0, 9),
    Ipv4Addr::new(10, 0, 0, 10),
    GATEWAY,
    Ipv4Addr::new(10, 0, 0, 254),
    Ipv4Addr::new(192, 0, 2, 99),
    IP_B,
];
/// ICMP types by selector (`None`: arbitrary).
const TYPES: [Option<u8>; 10] = [
    Some(3),
    Some(3),
    Some(3),
    Some(3),
    Some(4),
    Some(5),
    Some(11),
    Some(11),
    Some(12),
    None,
];
/// Next-hop MTUs a fragmentation-needed message reports (the last: `extra × 8`).
const MTUS: [u16; 15] = [
    0, 68, 296, 500, 551, 552, 576, 1000, 1280, 1400, 1492, 1500, 1600, 9000, 65535,
];
/// Gateways a redirect names.
const REDIRECT_TO: [Ipv4Addr; 5] = [
    Ipv4Addr::new(10, 0, 0, 9),
    Ipv4Addr::new(10, 0, 0, 254),
    GATEWAY,
    IP_B,
    Ipv4Addr::new(192, 0, 2, 1),
];
/// The route MTU (the device's).
const ROUTE_MTU: u16 = 1500;
/// `route.min_pmtu`.
const MIN_PMTU: u16 = 552;

/// One step of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Socket `k` sends `n % 48` bytes; `dst` bits 0–1 peer (3: peer 0), 2–3 port, bit 4 on
    /// a connected socket: `send` without an address.
    Send {
        /// Socket.
        k: u8,
        /// Destination selector.
        dst: u8,
        /// Length selector.
        n: u8,
    },
    /// An ICMP message quoting sent datagram `which` (modulo their number).
    Quote {
        /// Which datagram.
        which: u8,
        /// The ICMP header: type selector, code, extra.
        icmp: [u8; 3],
        /// How much of it is quoted: `cut % 8` 0–2 all, 3 the headers, 4 the headers and
        /// `(cut >> 3) % (payload + 1)` bytes, 5 the IP header and `(cut >> 3) % 8` bytes,
        /// 6 `(cut >> 3) % 20` bytes, 7 all and 4 bytes more.
        cut: u8,
        /// Bits 0–1: 0, 0, 1 or 2 bytes changed.
        mutations: u8,
        /// Where the first change is.
        position: u8,
        /// What it writes.
        value: u8,
        /// Source (offender) selector.
        source: u8,
        /// Flags: low three bits all set spoil the checksum.
        flags: u8,
    },
    /// An ICMP message quoting an arbitrary header.
    Forged {
        /// Quoted source address selector.
        src: u8,
        /// Quoted source port selector.
        sport: u8,
        /// Quoted destination address selector.
        dst: u8,
        /// Quoted destination port selector.
        dport: u8,
        /// Quoted protocol selector.
        proto: u8,
        /// The ICMP header: type selector, code, extra.
        icmp: [u8; 3],
        /// Source (offender) selector.
        source: u8,
        /// Flags.
        flags: u8,
    },
    /// SO_ERROR (`which` even) or recv (odd) on socket `k`.
    Take {
        /// Socket.
        k: u8,
        /// Which call.
        which: u8,
    },
    /// Error-queue read on socket `k` with a 64-byte (`size` even) or 4-byte buffer.
    ErrQueue {
        /// Socket.
        k: u8,
        /// Buffer selector.
        size: u8,
    },
    /// `what % 3`: 0 toggles IP_RECVERR, 1 sets IP_MTU_DISCOVER to `(what >> 2) % 6`, 2 sets
    /// SO_RCVBUF to the smallest (bit 2 clear) or the default.
    Option {
        /// Socket.
        k: u8,
        /// What.
        what: u8,
    },
    /// `what & 3` 0: disconnect; else connect to peer `(what & 3) - 1`, port `(what >> 2) & 3`.
    Connect {
        /// Socket.
        k: u8,
        /// What.
        what: u8,
    },
}

/// One socket as the input's header describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketSpec {
    /// Binding, IP_RECVERR, mode, small buffer.
    pub a: u8,
    /// Connect.
    pub c: u8,
}

/// A whole input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Byte 0 (`ip_no_pmtu_disc`).
    pub settings: u8,
    /// The sockets (3 to 6).
    pub sockets: Vec<SocketSpec>,
    /// The events.
    pub events: Vec<Event>,
}

impl Input {
    /// Reads an input from arbitrary bytes.
    pub fn decode(data: &[u8]) -> Input {
        let mut b = Bytes::new(data);
        let settings = b.next();
        let n = 3 + usize::from(b.next()) % 4;
        let sockets = (0..n)
            .map(|_| SocketSpec {
                a: b.next(),
                c: b.next(),
            })
            .collect();
        let mut events = Vec::new();
        while !b.is_empty() {
            let op = b.next() % 10;
            events.push(match op {
                0 | 1 => Event::Send {
                    k: b.next(),
                    dst: b.next(),
                    n: b.next(),
                },
                2..=4 => Event::Quote {
                    which: b.next(),
                    icmp: [b.next(), b.next(), b.next()],
                    cut: b.next(),
                    mutations: b.next(),
                    position: b.next(),
                    value: b.next(),
                    source: b.next(),
                    flags: b.next(),
                },
                5 => Event::Forged {
                    src: b.next(),
                    sport: b.next(),
                    dst: b.next(),
                    dport: b.next(),
                    proto: b.next(),
                    icmp: [b.next(), b.next(), b.next()],
                    source: b.next(),
                    flags: b.next(),
                },
                6 => Event::Take {
                    k: b.next(),
                    which: b.next(),
                },
                7 => Event::ErrQueue {
                    k: b.next(),
                    size: b.next(),
                },
                8 => Event::Option {
                    k: b.next(),
                    what: b.next(),
                },
                _ => Event::Connect {
                    k: b.next(),
                    what: b.next(),
                },
            });
        }
        Input {
            settings,
            sockets,
            events,
        }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.settings, (self.sockets.len().max(3) - 3) as u8];
        for s in &self.sockets {
            out.extend_from_slice(&[s.a, s.c]);
        }
        for e in &self.events {
            match *e {
                Event::Send { k, dst, n } => out.extend_from_slice(&[0, k, dst, n]),
                Event::Quote {
                    which,
                    icmp,
                    cut,
                    mutations,
                    position,
                    value,
                    source,
                    flags,
                } => {
                    out.extend_from_slice(&[2, which]);
                    out.extend_from_slice(&icmp);
                    out.extend_from_slice(&[cut, mutations, position, value, source, flags]);
                }
                Event::Forged {
                    src,
                    sport,
                    dst,
                    dport,
                    proto,
                    icmp,
                    source,
                    flags,
                } => {
                    out.extend_from_slice(&[5, src, sport, dst, dport, proto]);
                    out.extend_from_slice(&icmp);
                    out.extend_from_slice(&[source, flags]);
                }
                Event::Take { k, which } => out.extend_from_slice(&[6, k, which]),
                Event::ErrQueue { k, size } => out.extend_from_slice(&[7, k, size]),
                Event::Option { k, what } => out.extend_from_slice(&[8, k, what]),
                Event::Connect { k, what } => out.extend_from_slice(&[9, k, what]),
            }
        }
        out
    }
}

/// What a run did, for the seed tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Datagrams sent.
    pub sent: u64,
    /// ICMP messages handed to the stack.
    pub icmp: u64,
    /// Of those, the ones the model matched to a socket (past the checks of L1.1).
    pub matched: u64,
    /// Of those, the ones that recorded an error (pending, queued, or both).
    pub recorded: u64,
    /// Error-queue entries queued.
    pub queued: u64,
    /// Entries dropped because the receive buffer was full (the pending error still set).
    pub queue_full: u64,
    /// Path MTU reports the model applied.
    pub pmtu_updates: u64,
    /// ICMP errors that passed the checks of L1.1 and matched no socket.
    pub unmatched: u64,
    /// Calls that returned a pending error (SO_ERROR, recv, send).
    pub pending_returned: u64,
    /// Error-queue entries read.
    pub entries_read: u64,
    /// Path MTU reports that lowered a peer's path MTU.
    pub mtu_lowered: u64,
}

/// An error-queue entry as the model expects it (L1.7).
#[derive(Debug, Clone)]
struct Entry {
    errno: Errno,
    icmp_type: u8,
    icmp_code: u8,
    info: u32,
    offender: Ipv4Addr,
    addr: SocketAddrV4,
    payload: Vec<u8>,
    truesize: usize,
    /// For an unmutated quote of a datagram this socket sent: that datagram's payload.
    sent: Option<Vec<u8>>,
}

/// A socket as the model has it.
#[derive(Debug, Clone)]
struct Sock {
    h: SocketHandle,
    /// What bind was given (0.0.0.0:0 if not bound): where a disconnect brings it back.
    bound: SocketAddrV4,
    /// Local address; port 0: not bound (not in the lookup tables).
    local: SocketAddrV4,
    addr_locked: bool,
    port_locked: bool,
    peer: Option<SocketAddrV4>,
    recv_err: bool,
    mode: PmtuMode,
    rcvbuf: usize,
    pending: Option<Errno>,
    errq: VecDeque<Entry>,
}

impl Sock {
    fn rmem(&self) -> usize {
        self.errq.iter().map(|e| e.truesize).sum()
    }
}

/// A datagram a socket sent: its IP header and UDP datagram as they left.
#[derive(Debug, Clone)]
struct Sent {
    sock: usize,
    packet: Vec<u8>,
}

/// What the model expects an ICMP message to do.
#[derive(Debug, Default)]
struct Effect {
    /// It passed the checks of L1.1 and reached the socket lookup.
    looked_up: bool,
    /// The socket it reaches (past the checks of L1.1).
    socket: Option<usize>,
    /// The path MTU report applied: (destination, reported MTU).
    pmtu: Option<(Ipv4Addr, u16)>,
    /// The error: errno, fatal, info.
    error: Option<(Errno, bool, u32)>,
}

struct Run {
    s: Stack,
    now: Instant,
    no_pmtu_disc: u8,
    socks: Vec<Sock>,
    sent: Vec<Sent>,
    /// Path MTU per peer: (learned MTU, locked) (L2.1).
    pmtu: HashMap<Ipv4Addr, (u16, bool)>,
    report: Report,
    buf: Vec<u8>,
}

fn errno_of(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno)
}

fn mode_of(v: u8) -> Option<PmtuMode> {
    PmtuMode::from_raw(i32::from(v))
}

/// Runs `data` as an input and returns what it did; the first violation (with the step that
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
    let no_pmtu_disc = if input.settings & 4 != 0 {
        input.settings & 3
    } else {
        0
    };
    let mut c = config(IP_B, MAC_B).gateway(GATEWAY);
    c.set_sysctl("net.ipv4.ip_no_pmtu_disc", &no_pmtu_disc.to_string())
        .map_err(|e| e.to_string())?;
    let s = Stack::new(c, 5).map_err(|e| e.to_string())?;
    let mut r = Run {
        s,
        now: Instant::ZERO,
        no_pmtu_disc,
        socks: Vec::new(),
        sent: Vec::new(),
        pmtu: HashMap::new(),
        report: Report::default(),
        buf: vec![0u8; 2048],
    };
    for (i, spec) in input.sockets.iter().enumerate() {
        r.open(*spec)
            .map_err(|e| format!("socket {i} ({spec:?}): {e}"))?;
    }
    r.check().map_err(|e| format!("after setup: {e}"))?;
    for (i, e) in input.events.iter().enumerate() {
        r.event(e).map_err(|v| format!("event {i} ({e:?}): {v}"))?;
        r.check()
            .map_err(|v| format!("after event {i} ({e:?}): {v}"))?;
    }
    Ok(r.report)
}

impl Run {
    fn open(&mut self, spec: SocketSpec) -> Result<(), String> {
        let h = self.s.udp_socket();
        // L2.4: WANT, or DONT when ip_no_pmtu_disc is set.
        let default_mode = if self.no_pmtu_disc != 0 {
            PmtuMode::Dont
        } else {
            PmtuMode::Want
        };
        let mut sock = Sock {
            h,
            bound: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            local: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            addr_locked: false,
            port_locked: false,
            peer: None,
            recv_err: false,
            mode: default_mode,
            rcvbuf: 0,
            pending: None,
            errq: VecDeque::new(),
        };
        let bind = match spec.a & 7 {
            7 => None,
            6 => Some(SocketAddrV4::new(IP_B, 0)),
            b => {
                let ip = if b % 2 == 0 {
                    IP_B
                } else {
                    Ipv4Addr::UNSPECIFIED
                };
                Some(SocketAddrV4::new(ip, PORTS[usize::from(b / 2)]))
            }
        };
        // No two sockets with the same binding: they would tie in the lookup (once both are
        // unconnected again).
        let bind = bind.filter(|a| a.port() == 0 || !self.socks.iter().any(|s| s.bound == *a));
        if let Some(addr) = bind {
            if addr.port() != 0 {
                self.s.set_reuse_addr(h, true).map_err(|e| e.to_string())?;
            }
            self.s
                .bind(h, addr)
                .map_err(|e| format!("bind {addr}: {e}"))?;
            sock.local = self.s.local_addr(h).map_err(|e| e.to_string())?;
            if addr.port() != 0 && sock.local != addr {
                return Err(format!("bound to {addr}, local address {}", sock.local));
            }
            sock.bound = addr;
            sock.addr_locked = !addr.ip().is_unspecified();
            sock.port_locked = addr.port() != 0;
        }
        if spec.a & 8 != 0 {
            self.s.set_recv_error(h, true).map_err(|e| e.to_string())?;
            sock.recv_err = true;
        }
        if let Some(mode) = mode_of((spec.a >> 4) & 7) {
            self.s
                .set_mtu_discover(h, mode)
                .map_err(|e| e.to_string())?;
            sock.mode = mode;
        }
        if spec.a & 0x80 != 0 {
            self.s
                .set_recv_buffer_size(h, 1)
                .map_err(|e| e.to_string())?;
        }
        sock.rcvbuf = self.s.recv_buffer_size(h).map_err(|e| e.to_string())?;
        self.socks.push(sock);
        if spec.c & 3 != 0 {
            let k = self.socks.len() - 1;
            self.connect(k, spec.c)?;
        }
        Ok(())
    }

    /// Connects socket `k` to peer `(what & 3) - 1` (L7.4), unless that would make it tie
    /// with another socket in the lookup.
    fn connect(&mut self, k: usize, what: u8) -> Result<(), String> {
        let peer = SocketAddrV4::new(
            PEERS[usize::from(what & 3) - 1],
            PEER_PORTS[usize::from((what >> 2) & 3)],
        );
        let me = &self.socks[k];
        if me.local.port() != 0 {
            let local_ip = if me.local.ip().is_unspecified() {
                IP_B
            } else {
                *me.local.ip()
            };
            let local = SocketAddrV4::new(local_ip, me.local.port());
            let tie = self
                .socks
                .iter()
                .enumerate()
                .any(|(j, s)| j != k && s.local == local && s.peer == Some(peer));
            if tie {
                return Ok(());
            }
        }
        let h = me.h;
        self.s
            .connect(self.now, h, peer)
            .map_err(|e| format!("connect {peer}: {e}"))?;
        let sock = &mut self.socks[k];
        if sock.local.port() == 0 {
            // Bound to an ephemeral port first (L7.4, L8.1): whatever the stack picked.
            let port = self.s.local_addr(h).map_err(|e| e.to_string())?.port();
            sock.local = SocketAddrV4::new(*sock.local.ip(), port);
        }
        // L7.4: the local address is set only if unset.
        if sock.local.ip().is_unspecified() {
            sock.local = SocketAddrV4::new(IP_B, sock.local.port());
        }
        sock.peer = Some(peer);
        Ok(())
    }

    /// L7.5: forgets the peer; an address or port bind did not choose is released.
    fn disconnect(&mut self, k: usize) -> Result<(), String> {
        let sock = &mut self.socks[k];
        self.s.disconnect(sock.h).map_err(|e| e.to_string())?;
        sock.peer = None;
        if !sock.addr_locked {
            sock.local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, sock.local.port());
        }
        if !sock.port_locked {
            sock.local = SocketAddrV4::new(*sock.local.ip(), 0);
        }
        Ok(())
    }

    fn event(&mut self, e: &Event) -> Result<(), String> {
        let n = self.socks.len();
        match *e {
            Event::Send { k, dst, n: len } => self.send(usize::from(k) % n, dst, len),
            Event::Quote {
                which,
                icmp,
                cut,
                mutations,
                position,
                value,
                source,
                flags,
            } => {
                if self.sent.is_empty() {
                    return Ok(());
                }
                let sent = self.sent[usize::from(which) % self.sent.len()].clone();
                let p = &sent.packet;
                let payload = p.len() - 28;
                let arg = usize::from(cut >> 3);
                let mut quote = match cut % 8 {
                    0..=2 => p.clone(),
                    3 => p[..28].to_vec(),
                    4 => p[..28 + arg % (payload + 1)].to_vec(),
                    5 => p[..20 + arg % 8].to_vec(),
                    6 => p[..arg % 20].to_vec(),
                    _ => {
                        let mut q = p.clone();
                        q.extend_from_slice(&[0xee; 4]);
                        q
                    }
                };
                let count = [0, 0, 1, 2][usize::from(mutations & 3)];
                for i in 0..count {
                    if !quote.is_empty() {
                        let at = (usize::from(position) + 7 * i) % quote.len();
                        quote[at] = value.wrapping_add(i as u8);
                    }
                }
                // An entry from an unmutated quote of a datagram the socket sent carries a
                // prefix of what it sent.
                let from_sent = (count == 0 && cut % 8 != 7).then(|| (sent.sock, p[28..].to_vec()));
                self.icmp(icmp, &quote, source, flags, from_sent)
            }
            Event::Forged {
                src,
                sport,
                dst,
                dport,
                proto,
                icmp,
                source,
                flags,
            } => {
                let src =
                    [IP_B, IP_B, Ipv4Addr::UNSPECIFIED, PEERS[0], BROADCAST][usize::from(src) % 5];
                let sport = match sport % 5 {
                    0..=2 => PORTS[usize::from(sport % 5)],
                    3 => self.socks[usize::from(sport >> 3) % n].local.port(),
                    _ => u16::from(sport).wrapping_mul(257),
                };
                let dst = match dst % 8 {
                    0..=2 => PEERS[usize::from(dst % 8)],
                    3 => BROADCAST,
                    4 => Ipv4Addr::BROADCAST,
                    5 => Ipv4Addr::new(10, 0, 0, 77),
                    6 => Ipv4Addr::LOCALHOST,
                    _ => IP_B,
                };
                let dport = match dport % 5 {
                    0..=3 => PEER_PORTS[usize::from(dport % 5)],
                    _ => u16::from(dport).wrapping_mul(251),
                };
                let proto = [17, 17, 17, 6, 1, proto][usize::from(proto) % 6];
                let mut q = vec![0u8; 32];
                let mut header = ip_header(src, dst, IpProtocol::from(proto), 12);
                header.ident = u16::from(flags) << 4;
                header.emit(&mut q).map_err(|e| format!("emit: {e:?}"))?;
                q[20..22].copy_from_slice(&sport.to_be_bytes());
                q[22..24].copy_from_slice(&dport.to_be_bytes());
                q[24..26].copy_from_slice(&12u16.to_be_bytes());
                q[28..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
                self.icmp(icmp, &q, source, flags, None)
            }
            Event::Take { k, which } => {
                let k = usize::from(k) % n;
                let h = self.socks[k].h;
                let want = self.socks[k].pending.take();
                if want.is_some() {
                    self.report.pending_returned += 1;
                }
                if which % 2 == 0 {
                    // L1.6: SO_ERROR returns the pending error once and clears it.
                    let got = self
                        .s
                        .take_error(h)
                        .map_err(|e| e.to_string())?
                        .and_then(|e| errno_of(&e));
                    if got != want {
                        return Err(format!("SO_ERROR gave {got:?}, expected {want:?} (L1.6)"));
                    }
                } else {
                    // L1.6: recv returns the pending error first; nothing else ever arrives.
                    let got = self.s.recv_from(h, &mut self.buf);
                    let got = got.map_err(|e| errno_of(&e));
                    if got != Err(Some(want.unwrap_or(Errno::EAGAIN))) {
                        return Err(format!(
                            "recv gave {got:?}, expected the error {want:?} or EAGAIN (L1.6)"
                        ));
                    }
                }
                Ok(())
            }
            Event::ErrQueue { k, size } => {
                let k = usize::from(k) % n;
                let size = if size % 2 == 0 { 64 } else { 4 };
                self.recv_error(k, size)
            }
            Event::Option { k, what } => {
                let k = usize::from(k) % n;
                let h = self.socks[k].h;
                match what % 3 {
                    0 => {
                        let on = !self.socks[k].recv_err;
                        self.s.set_recv_error(h, on).map_err(|e| e.to_string())?;
                        let sock = &mut self.socks[k];
                        sock.recv_err = on;
                        if !on {
                            // L1.7: turning IP_RECVERR off purges the queue.
                            sock.errq.clear();
                        }
                    }
                    1 => {
                        let mode = mode_of((what >> 2) % 6).unwrap_or_default();
                        self.s
                            .set_mtu_discover(h, mode)
                            .map_err(|e| e.to_string())?;
                        self.socks[k].mode = mode;
                    }
                    _ => {
                        let size = if what & 4 == 0 { 1 } else { 106_496 };
                        self.s
                            .set_recv_buffer_size(h, size)
                            .map_err(|e| e.to_string())?;
                        self.socks[k].rcvbuf =
                            self.s.recv_buffer_size(h).map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
            Event::Connect { k, what } => {
                let k = usize::from(k) % n;
                if what & 3 == 0 {
                    self.disconnect(k)
                } else {
                    self.connect(k, what)
                }
            }
        }
    }

    fn send(&mut self, k: usize, dst: u8, len: u8) -> Result<(), String> {
        let sock = &self.socks[k];
        let h = sock.h;
        let to = SocketAddrV4::new(
            PEERS[usize::from(dst & 3) % 3],
            PEER_PORTS[usize::from((dst >> 2) & 3)],
        );
        let data: Vec<u8> = (0..len % 48).map(|i| i.wrapping_mul(7) ^ len).collect();
        let addr = if sock.peer.is_some() && dst & 0x10 != 0 {
            None
        } else {
            Some(to)
        };
        let got = self
            .s
            .send_with(self.now, h, &data, addr, SendFlags::empty())
            .map_err(|e| errno_of(&e));
        // L1.6: a pending error fails the next send, which sends nothing, even to another
        // address.
        let want = match self.socks[k].pending.take() {
            Some(e) => {
                self.report.pending_returned += 1;
                Err(Some(e))
            }
            None => Ok(data.len()),
        };
        if got != want {
            return Err(format!("send gave {got:?}, expected {want:?} (L1.6)"));
        }
        let sock = &mut self.socks[k];
        if sock.local.port() == 0 {
            // L8.1: the first send binds an ephemeral port.
            let port = self.s.local_addr(h).map_err(|e| e.to_string())?.port();
            sock.local = SocketAddrV4::new(*sock.local.ip(), port);
        }
        let frames = self.drain();
        let udp: Vec<Vec<u8>> = frames
            .into_iter()
            .filter(|p| p.len() >= 28 && p[9] == 17)
            .collect();
        match (got.is_ok(), udp.len()) {
            (true, 1) => {
                self.report.sent += 1;
                let packet = udp.into_iter().next().unwrap_or_default();
                self.sent.push(Sent { sock: k, packet });
                if self.sent.len() > 64 {
                    self.sent.remove(0);
                }
                Ok(())
            }
            (false, 0) => Ok(()),
            (_, n) => Err(format!("the send put {n} UDP packets on the wire")),
        }
    }

    /// Takes every frame the stack sends, answering ARP requests at once; returns the IPv4
    /// packets.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for _ in 0..64 {
            let mut replies = Vec::new();
            while let Some(n) = self.s.poll_transmit(self.now, &mut self.buf) {
                let f = &self.buf[..n];
                let Ok(eth) = EthernetFrame::new_checked(f) else {
                    continue;
                };
                let Ok(repr) = EthernetRepr::parse(&eth) else {
                    continue;
                };
                match repr.ethertype {
                    EtherType::Arp => {
                        let arp =
                            ArpPacket::new_checked(eth.payload()).and_then(|p| ArpRepr::parse(&p));
                        if let Ok(a) = arp {
                            if a.operation == ArpOperation::Request {
                                let mac = MacAddr([2, 0, 0, 0, 2, a.target_ip.octets()[3]]);
                                replies.push(arp_frame(
                                    ArpOperation::Reply,
                                    mac,
                                    a.sender_mac,
                                    a.target_ip,
                                    a.sender_mac,
                                    a.sender_ip,
                                ));
                            }
                        }
                    }
                    EtherType::Ipv4 => out.push(eth.payload().to_vec()),
                    _ => {}
                }
            }
            if replies.is_empty() {
                break;
            }
            for r in replies {
                self.s.handle_frame(self.now, &r);
            }
        }
        out
    }

    /// Builds the ICMP message, hands it to the stack, and applies the model's effect.
    fn icmp(
        &mut self,
        [tsel, code, extra]: [u8; 3],
        body: &[u8],
        source: u8,
        flags: u8,
        from_sent: Option<(usize, Vec<u8>)>,
    ) -> Result<(), String> {
        let msg_type = TYPES[usize::from(tsel) % TYPES.len()].unwrap_or(tsel / 10);
        let code = match msg_type {
            3 => code % 18,
            11 => code % 3,
            12 => code % 2,
            _ => code,
        };
        let rest: [u8; 4] = match (msg_type, code) {
            (3, 4) => {
                let mtu = MTUS
                    .get(usize::from(extra % 16))
                    .copied()
                    .unwrap_or(u16::from(extra) * 8);
                let [hi, lo] = mtu.to_be_bytes();
                [0, 0, hi, lo]
            }
            (12, _) => [extra, 0, 0, 0],
            (5, _) => REDIRECT_TO[usize::from(extra) % REDIRECT_TO.len()].octets(),
            _ => [0, 0, 0, extra & 1],
        };
        let mut m = vec![msg_type, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(body);
        let mut csum = !fold(ones_sum(&m));
        if flags & 7 == 7 {
            csum ^= 0x5555;
        }
        m[2..4].copy_from_slice(&csum.to_be_bytes());
        let offender = OFFENDERS[usize::from(source) % OFFENDERS.len()];
        let mut header = ip_header(offender, IP_B, IpProtocol::Icmp, m.len());
        header.dont_frag = false;
        let frame = ip_frame(
            MacAddr([2, 0, 0, 0, 3, offender.octets()[3]]),
            MAC_B,
            &header,
            &m,
        );
        let ts = truesize(frame.len());
        let effect = self.expect(offender, &m)?;
        self.report.icmp += 1;
        self.s.handle_frame(self.now, &frame);
        self.drain();

        // Apply the model.
        if let Some((dst, reported)) = effect.pmtu {
            self.report.pmtu_updates += 1;
            self.learn(dst, reported);
        }
        let Some(k) = effect.socket else {
            if effect.looked_up {
                self.report.unmatched += 1;
            }
            return Ok(());
        };
        self.report.matched += 1;
        let Some((errno, fatal, info)) = effect.error else {
            return Ok(());
        };
        let body_ihl = usize::from(body[0] & 0x0f) * 4;
        let qdst = Ipv4Addr::new(body[16], body[17], body[18], body[19]);
        let dport = u16::from_be_bytes([body[body_ihl + 2], body[body_ihl + 3]]);
        let sock = &mut self.socks[k];
        if sock.recv_err {
            // L1.5, L1.7: queued if it fits, strictly below SO_RCVBUF; pending either way.
            if sock.rmem() + ts < sock.rcvbuf {
                let sent = from_sent.filter(|(s, _)| *s == k).map(|(_, p)| p);
                sock.errq.push_back(Entry {
                    errno,
                    icmp_type: msg_type,
                    icmp_code: code,
                    info,
                    offender,
                    addr: SocketAddrV4::new(qdst, dport),
                    payload: body[body_ihl + 8..].to_vec(),
                    truesize: ts,
                    sent,
                });
                self.report.queued += 1;
            } else {
                self.report.queue_full += 1;
            }
            sock.pending = Some(errno);
            self.report.recorded += 1;
        } else if fatal && sock.peer.is_some() {
            // L1.5: without IP_RECVERR, only fatal errors on connected sockets.
            sock.pending = Some(errno);
            self.report.recorded += 1;
        }
        Ok(())
    }

    /// L2.1: a report lowers the path MTU towards `dst`, never raises it; below min_pmtu it
    /// clamps to min(old, 552) and locks; a locked entry ignores reports.
    fn learn(&mut self, dst: Ipv4Addr, reported: u16) {
        if !PEERS.contains(&dst) {
            // Only the peers' paths are observed (IP_MTU of sockets connected to them).
            return;
        }
        let old = self.pmtu.get(&dst).copied();
        if old.is_some_and(|(_, locked)| locked) {
            return;
        }
        let current = old.map_or(ROUTE_MTU, |(m, _)| m.min(ROUTE_MTU));
        if current < reported {
            return;
        }
        let entry = if reported < MIN_PMTU {
            (current.min(MIN_PMTU), true)
        } else {
            (reported, false)
        };
        if entry.0 < current {
            self.report.mtu_lowered += 1;
        }
        self.pmtu.insert(dst, entry);
    }

    /// L2.2: the MTU in force towards `dst`.
    fn path_mtu(&self, dst: Ipv4Addr) -> u16 {
        self.pmtu
            .get(&dst)
            .map_or(ROUTE_MTU, |&(m, _)| m.min(ROUTE_MTU))
    }

    /// The reference's verdict on an ICMP message from `offender` (L1.1–L1.4, L1.8).
    fn expect(&self, offender: Ipv4Addr, m: &[u8]) -> Result<Effect, String> {
        let none = Ok(Effect::default());
        // Our own address as a source is a martian (fib_validate_source): dropped by IP.
        if offender == IP_B {
            return none;
        }
        // L1.1: a valid checksum, the ICMP header whole.
        if m.len() < 8 || fold(ones_sum(m)) != 0xffff {
            return none;
        }
        let (t, c) = (m[0], m[1]);
        // Only 3, 4, 11, 12 reach the transport as errors; a redirect (5) only updates
        // routing, which does not change a path MTU (L1.1, L1.3).
        if !matches!(t, 3 | 4 | 11 | 12) {
            return none;
        }
        let body = &m[8..];
        // L1.1: the quoted header there with IHL ≥ 5.
        if body.len() < 20 || body[0] & 0x0f < 5 {
            return none;
        }
        // L1.1: unreachable codes above 15 are dropped; time exceeded 1 never reaches sockets;
        // L1.8: ip_no_pmtu_disc 2 and 3 discard fragmentation needed for UDP.
        if (t == 3 && c > 15) || (t == 11 && c == 1) || (t == 3 && c == 4 && self.no_pmtu_disc >= 2)
        {
            return none;
        }
        let qsrc = Ipv4Addr::new(body[12], body[13], body[14], body[15]);
        let qdst = Ipv4Addr::new(body[16], body[17], body[18], body[19]);
        // L1.1: the quoted header plus 8 bytes.
        let ihl = usize::from(body[0] & 0x0f) * 4;
        if body.len() < ihl + 8 || body[9] != 17 {
            return none;
        }
        let sport = u16::from_be_bytes([body[ihl], body[ihl + 1]]);
        let dport = u16::from_be_bytes([body[ihl + 2], body[ihl + 3]]);
        let remote = SocketAddrV4::new(qdst, dport);
        let Some(k) = self.lookup(qsrc, sport, remote)? else {
            return Ok(Effect {
                looked_up: true,
                ..Effect::default()
            });
        };
        // The socket found quotes its own flow: its port, its address unless it is bound to
        // the wildcard, its peer if connected (L1.4).
        let sock = &self.socks[k];
        let own = sock.local.port() == sport
            && (sock.local.ip().is_unspecified() || *sock.local.ip() == qsrc)
            && sock.peer.is_none_or(|p| p == remote);
        if !own {
            return Err(format!(
                "model: socket {k} ({} peer {:?}) found for a quote of {qsrc}:{sport} -> {remote}",
                sock.local, sock.peer
            ));
        }
        let mut effect = Effect {
            looked_up: true,
            socket: Some(k),
            ..Effect::default()
        };
        effect.error = match (t, c) {
            // L1.3: a source quench is looked up, then ignored.
            (4, _) => None,
            (3, 4) => {
                // L1.8: ip_no_pmtu_disc 0 reports the ICMP's MTU, 1 reports 0.
                let mtu = if self.no_pmtu_disc == 0 {
                    u16::from_be_bytes([m[6], m[7]])
                } else {
                    0
                };
                if !matches!(sock.mode, PmtuMode::Interface | PmtuMode::Omit) {
                    effect.pmtu = Some((qdst, mtu));
                }
                (sock.mode != PmtuMode::Dont).then_some((Errno::EMSGSIZE, true, u32::from(mtu)))
            }
            (3, c) => Some(unreachable(c)),
            (11, _) => Some((Errno::EHOSTUNREACH, false, 0)),
            _ => Some((Errno::EPROTO, true, u32::from(m[4]))),
        };
        Ok(effect)
    }

    /// L1.4, L5.3: the socket a datagram from `remote` to `local_ip:port` would reach: first
    /// among sockets bound to `local_ip`, then among wildcard ones; a connected socket only if
    /// `remote` is its peer, and before unconnected ones.
    fn lookup(
        &self,
        local_ip: Ipv4Addr,
        port: u16,
        remote: SocketAddrV4,
    ) -> Result<Option<usize>, String> {
        for pass in [local_ip, Ipv4Addr::UNSPECIFIED] {
            let found: Vec<(usize, bool)> = self
                .socks
                .iter()
                .enumerate()
                .filter(|(_, s)| s.local.port() == port && port != 0 && *s.local.ip() == pass)
                .filter(|(_, s)| s.peer.is_none_or(|p| p == remote))
                .map(|(k, s)| (k, s.peer.is_some()))
                .collect();
            let best: Vec<usize> = if found.iter().any(|&(_, c)| c) {
                found.iter().filter(|&&(_, c)| c).map(|&(k, _)| k).collect()
            } else {
                found.iter().map(|&(k, _)| k).collect()
            };
            match best.len() {
                0 => continue,
                1 => return Ok(Some(best[0])),
                _ => {
                    return Err(format!(
                        "model: sockets {best:?} tie for {remote} -> {pass}:{port}"
                    ))
                }
            }
        }
        Ok(None)
    }

    fn recv_error(&mut self, k: usize, size: usize) -> Result<(), String> {
        let h = self.socks[k].h;
        let mut buf = vec![0u8; size];
        let got = self.s.recv_error(h, &mut buf);
        let sock = &mut self.socks[k];
        let Some(want) = sock.errq.pop_front() else {
            return match got {
                Err(e) if errno_of(&e) == Some(Errno::EAGAIN) => Ok(()),
                other => Err(format!(
                    "error queue read gave {other:?}, expected EAGAIN (L1.7)"
                )),
            };
        };
        // L1.7: dequeuing makes the next entry's errno pending, or clears it.
        sock.pending = sock.errq.front().map(|e| e.errno);
        self.report.entries_read += 1;
        let got =
            got.map_err(|e| format!("error queue read failed: {e}, expected {want:?} (L1.7)"))?;
        let n = want.payload.len().min(size);
        let e = got.error;
        let fields = (
            e.errno,
            e.origin,
            e.icmp_type,
            e.icmp_code,
            e.info,
            e.data,
            e.offender,
            got.addr,
            got.len,
            got.truncated,
        );
        let expected = (
            want.errno,
            ErrorOrigin::Icmp,
            want.icmp_type,
            want.icmp_code,
            want.info,
            0,
            want.offender,
            want.addr,
            n,
            want.payload.len() > size,
        );
        if fields != expected || buf[..n] != want.payload[..n] {
            return Err(format!(
                "error queue entry {fields:?} {:?}, expected {expected:?} {:?} (L1.7)",
                &buf[..got.len.min(size)],
                &want.payload[..n]
            ));
        }
        if let Some(sent) = &want.sent {
            if !sent.starts_with(&want.payload) {
                return Err("an error-queue entry's payload is not what the socket sent".into());
            }
        }
        Ok(())
    }

    /// The checks after every step.
    fn check(&self) -> Result<(), String> {
        self.s.audit().map_err(|v| format!("audit: {v}"))?;
        for (k, sock) in self.socks.iter().enumerate() {
            let h = sock.h;
            let name = format!("socket {k} ({} peer {:?})", sock.local, sock.peer);
            let local = self.s.local_addr(h).map_err(|e| e.to_string())?;
            let peer = self.s.peer_addr(h).ok();
            if local != sock.local || peer != sock.peer {
                return Err(format!(
                    "{name}: the stack has it at {local} peer {peer:?} (L7.4, L7.5)"
                ));
            }
            let ready = self.s.readiness(h).map_err(|e| e.to_string())?;
            let want = sock.pending.is_some() || !sock.errq.is_empty();
            if ready.error != want {
                return Err(format!(
                    "{name}: POLLERR {}, the model has pending {:?} and {} queued entries: an \
                     error that does not quote its own flow, or a missing one (L1.4–L1.7)",
                    ready.error,
                    sock.pending,
                    sock.errq.len()
                ));
            }
            let rmem = self.s.recv_queue_bytes(h).map_err(|e| e.to_string())?;
            if rmem != sock.rmem() {
                return Err(format!(
                    "{name}: {rmem} bytes charged, the model's {} queued entries hold {} (L1.7)",
                    sock.errq.len(),
                    sock.rmem()
                ));
            }
            if let Some(p) = sock.peer {
                let mtu = self.s.mtu(h).map_err(|e| format!("{name}: IP_MTU: {e}"))?;
                let want = u32::from(self.path_mtu(*p.ip()));
                if mtu != want {
                    return Err(format!(
                        "{name}: IP_MTU {mtu}, expected {want} from the reports about {} \
                         (L1.8, L2.1, L2.5)",
                        p.ip()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// L1.2: destination unreachable code → errno, fatal.
fn unreachable(code: u8) -> (Errno, bool, u32) {
    let (errno, fatal) = match code {
        0 => (Errno::ENETUNREACH, false),
        1 => (Errno::EHOSTUNREACH, false),
        2 => (Errno::ENOPROTOOPT, true),
        3 => (Errno::ECONNREFUSED, true),
        5 => (Errno::EOPNOTSUPP, false),
        6 => (Errno::ENETUNREACH, true),
        7 => (Errno::EHOSTDOWN, true),
        8 => (Errno::ENONET, true),
        9 => (Errno::ENETUNREACH, true),
        10 => (Errno::EHOSTUNREACH, true),
        11 => (Errno::ENETUNREACH, false),
        12 => (Errno::EHOSTUNREACH, false),
        _ => (Errno::EHOSTUNREACH, true),
    };
    (errno, fatal, 0)
}
