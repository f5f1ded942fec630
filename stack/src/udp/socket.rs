//! The state of one UDP socket: its addresses, options, receive queue, pending error and error
//! queue.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::memory::PacketModel;
use crate::errno::Errno;
use crate::iface::route::OutputRoute;

/// An opaque reference to a socket of a [`Stack`](crate::Stack): an index and a generation, so
/// that a handle to a closed socket never reaches the socket that later reuses its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl core::fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "udp#{}", self.index)
    }
}

/// One received datagram waiting in a socket's queue.
#[derive(Debug, Clone)]
pub(crate) struct Datagram {
    /// The sender.
    pub from: SocketAddrV4,
    /// The payload.
    pub data: Vec<u8>,
    /// What it is charged to the receive buffer (L6.2).
    pub truesize: usize,
}

/// Where an error-queue entry came from (`ee_origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorOrigin {
    /// `SO_EE_ORIGIN_LOCAL` (1): detected by the stack itself (L1.9).
    Local,
    /// `SO_EE_ORIGIN_ICMP` (2): an ICMP error from the network (L1.7).
    Icmp,
}

/// The extended error of an error-queue entry: Linux's `struct sock_extended_err` plus the
/// offender address that follows it (L1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedError {
    /// `ee_errno`.
    pub errno: Errno,
    /// `ee_origin`.
    pub origin: ErrorOrigin,
    /// `ee_type`: the ICMP type (0 for local errors).
    pub icmp_type: u8,
    /// `ee_code`: the ICMP code (0 for local errors).
    pub icmp_code: u8,
    /// `ee_info`: the next-hop MTU for fragmentation needed and local EMSGSIZE, the pointer for
    /// parameter problem, else 0.
    pub info: u32,
    /// `ee_data`: always 0 for UDP.
    pub data: u32,
    /// `SO_EE_OFFENDER`: the source of the ICMP message (0.0.0.0 for local errors).
    pub offender: Ipv4Addr,
}

/// One entry of a socket's error queue (MSG_ERRQUEUE).
#[derive(Debug, Clone)]
pub(crate) struct ErrQueueEntry {
    /// The extended error.
    pub error: ExtendedError,
    /// `msg_name`: the quoted destination (L1.7), or the local error's destination (L1.9).
    pub addr: SocketAddrV4,
    /// The payload returned: the quoted bytes after the UDP header.
    pub payload: Vec<u8>,
    /// What it is charged to the receive buffer.
    pub truesize: usize,
}

/// IP_MTU_DISCOVER modes (L2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PmtuMode {
    /// `IP_PMTUDISC_DONT` (0): never set DF, fragment to the path MTU.
    Dont,
    /// `IP_PMTUDISC_WANT` (1, the default): DF when the datagram fits the path MTU.
    #[default]
    Want,
    /// `IP_PMTUDISC_DO` (2): always DF; larger datagrams fail with EMSGSIZE.
    Do,
    /// `IP_PMTUDISC_PROBE` (3): always DF, sized by the device MTU.
    Probe,
    /// `IP_PMTUDISC_INTERFACE` (4): no DF, sized by the device MTU, ignores ICMP.
    Interface,
    /// `IP_PMTUDISC_OMIT` (5): no DF, fragments to the device MTU, ignores ICMP.
    Omit,
}

impl PmtuMode {
    /// The mode for the socket option's integer value (`EINVAL` outside 0..=5).
    pub fn from_raw(value: i32) -> Option<PmtuMode> {
        Some(match value {
            0 => PmtuMode::Dont,
            1 => PmtuMode::Want,
            2 => PmtuMode::Do,
            3 => PmtuMode::Probe,
            4 => PmtuMode::Interface,
            5 => PmtuMode::Omit,
            _ => return None,
        })
    }

    /// Linux's `ip_sk_accept_pmtu`: does this socket learn from fragmentation-needed messages?
    pub(crate) fn accepts_pmtu(self) -> bool {
        !matches!(self, PmtuMode::Interface | PmtuMode::Omit)
    }

    /// Linux's `ip_sk_use_pmtu`: is this socket's size limit (and fragment size) the path MTU
    /// rather than the device MTU?
    pub(crate) fn uses_pmtu(self) -> bool {
        matches!(self, PmtuMode::Dont | PmtuMode::Want | PmtuMode::Do)
    }

    /// Linux's `ip_sk_ignore_df`: may packets of this socket be fragmented locally?
    pub(crate) fn ignores_df(self) -> bool {
        matches!(self, PmtuMode::Dont | PmtuMode::Want | PmtuMode::Omit)
    }
}

/// A datagram being built while corked (L3.2): Linux's `up->pending` with `inet->cork`.
#[derive(Debug, Clone)]
pub(crate) struct Corked {
    /// Where it goes: the first call's destination.
    pub dst: SocketAddrV4,
    /// Its source address.
    pub src_addr: Ipv4Addr,
    /// The route taken by the first call; its MTU is the fragment size then in force
    /// (`cork->fragsize`).
    pub route: OutputRoute,
    /// The TOS of the first call.
    pub tos: u8,
    /// The payload so far.
    pub data: Vec<u8>,
    /// Its packets, as charged to the send buffer.
    pub packets: PacketModel,
}

/// One UDP socket.
#[derive(Debug)]
pub(crate) struct UdpSocket {
    /// Local address (0.0.0.0 = any) and port (0 = not bound). Linux's `inet_rcv_saddr` and
    /// `inet_num`.
    pub local: SocketAddrV4,
    /// The source address used for sending when the local address is a broadcast address
    /// (Linux's `inet_saddr`, which bind leaves at 0 for broadcast and multicast addresses).
    pub send_addr: Ipv4Addr,
    /// The address was chosen by bind (`SOCK_BINDADDR_LOCK`).
    pub addr_locked: bool,
    /// The port was chosen by bind (`SOCK_BINDPORT_LOCK`).
    pub port_locked: bool,
    /// The connected peer (`TCP_ESTABLISHED` with `inet_daddr`, `inet_dport`).
    pub peer: Option<SocketAddrV4>,
    /// SO_REUSEADDR.
    pub reuse_addr: bool,
    /// SO_REUSEPORT.
    pub reuse_port: bool,
    /// SO_BROADCAST.
    pub broadcast: bool,
    /// IP_TTL, if set (else `ip_default_ttl`).
    pub ttl: Option<u8>,
    /// IP_TOS.
    pub tos: u8,
    /// IP_MTU_DISCOVER.
    pub pmtu_mode: PmtuMode,
    /// IP_RECVERR.
    pub recv_err: bool,
    /// SO_RCVBUF as stored (the doubled value, L6.1).
    pub rcvbuf: usize,
    /// SO_SNDBUF as stored (the doubled value, L6.1).
    pub sndbuf: usize,
    /// The largest SO_RCVBUF this socket has had (for the conservation checker's bounds).
    pub rcvbuf_max: usize,
    /// The largest SO_SNDBUF this socket has had.
    pub sndbuf_max: usize,
    /// Received datagrams.
    pub rx_queue: VecDeque<Datagram>,
    /// Bytes charged to the receive buffer: datagrams and error-queue entries (`sk_rmem_alloc`),
    /// read datagrams included until their release (L6.3, [`UdpMemory`](super::memory::UdpMemory)).
    pub rmem_alloc: usize,
    /// Bytes reserved from `udp_mem` and not yet charged (`sk_forward_alloc`; negative while
    /// error-queue entries borrow from it).
    pub forward_alloc: i64,
    /// Bytes read but not yet released (`forward_deficit`).
    pub forward_deficit: usize,
    /// How many datagrams at the front of `rx_queue` are in the reader's queue
    /// (`reader_queue`); the rest are still in `sk_receive_queue`.
    pub reader_len: usize,
    /// Bytes of this socket's packets not yet handed to the device, in truesize (`sk_wmem_alloc`
    /// without its bias of 1; SIOCOUTQ, L6.5, L6.6).
    pub wmem_alloc: usize,
    /// UDP_CORK (L3.2).
    pub cork: bool,
    /// The datagram being built while corked (`up->pending`), if any.
    pub pending: Option<Corked>,
    /// A send found the send buffer full at least once (`SOCK_NOSPACE`): from then on every send
    /// that fails after the route lookup also counts `SndbufErrors`, as in Linux, where the
    /// flag is never cleared for UDP.
    pub nospace: bool,
    /// Datagrams dropped at this socket (`sk_drops`, the "drops" column of /proc/net/udp).
    pub drops: u64,
    /// The pending error (`sk_err`, L1.6).
    pub pending_error: Option<Errno>,
    /// The error queue (L1.7).
    pub err_queue: VecDeque<ErrQueueEntry>,
    /// The IP ID counter of a connected socket (`inet_id`, L3.5).
    pub ip_id: u16,
    /// The socket's place in the lookup order: set when it is bound and when connect or
    /// disconnect changes its local address (Linux puts it at the head of its hash chain then),
    /// not otherwise. The most recent wins ties (L5.3).
    pub hash_seq: u64,
}

impl UdpSocket {
    pub fn new(rcvbuf: usize, sndbuf: usize) -> Self {
        UdpSocket {
            local: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            send_addr: Ipv4Addr::UNSPECIFIED,
            addr_locked: false,
            port_locked: false,
            peer: None,
            reuse_addr: false,
            reuse_port: false,
            broadcast: false,
            ttl: None,
            tos: 0,
            pmtu_mode: PmtuMode::default(),
            recv_err: false,
            rcvbuf,
            sndbuf,
            rcvbuf_max: rcvbuf,
            sndbuf_max: sndbuf,
            rx_queue: VecDeque::new(),
            rmem_alloc: 0,
            forward_alloc: 0,
            forward_deficit: 0,
            reader_len: 0,
            wmem_alloc: 0,
            cork: false,
            pending: None,
            nospace: false,
            drops: 0,
            pending_error: None,
            err_queue: VecDeque::new(),
            ip_id: 0,
            hash_seq: 0,
        }
    }

    /// The bytes charged to the send buffer: packets in flight and a corked datagram's
    /// (`sk_wmem_alloc`, SIOCOUTQ, L6.6).
    pub fn wmem_total(&self) -> usize {
        self.wmem_alloc + self.pending.as_ref().map_or(0, |c| c.packets.truesize())
    }

    /// Stores SO_RCVBUF (already doubled and clamped), remembering the largest.
    pub fn set_rcvbuf(&mut self, rcvbuf: usize) {
        self.rcvbuf = rcvbuf;
        self.rcvbuf_max = self.rcvbuf_max.max(rcvbuf);
    }

    /// Stores SO_SNDBUF (already doubled and clamped), remembering the largest.
    pub fn set_sndbuf(&mut self, sndbuf: usize) {
        self.sndbuf = sndbuf;
        self.sndbuf_max = self.sndbuf_max.max(sndbuf);
    }

    /// Moves every arrival into the reader's queue if that is empty (what `__skb_recv_udp` and
    /// `first_packet_length` do before looking at it).
    pub fn refill_reader(&mut self) {
        if self.reader_len == 0 {
            self.reader_len = self.rx_queue.len();
        }
    }

    /// Bound to a port (explicitly or automatically).
    pub fn is_bound(&self) -> bool {
        self.local.port() != 0
    }
}
