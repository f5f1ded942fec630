//! [`Stack`]: the sans-IO engine. Frames and time go in, frames, wake-up times and socket
//! results come out; nothing here reads a clock, draws unseeded randomness or does I/O.
//!
//! # Driving a stack
//!
//! 1. Feed every received Ethernet frame to [`Stack::handle_frame`].
//! 2. After any call into the stack (a frame, a socket call, a timeout), call
//!    [`Stack::poll_transmit`] until it returns `None`, sending each frame it writes.
//! 3. Call [`Stack::handle_timeout`] no later than [`Stack::poll_at`] says.
//!
//! Time passed in must not go backwards; an earlier `now` is treated as the latest seen.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use tracing::{debug, trace};

use super::neighbor::NeighborCache;
use super::pool::BufferPool;
use super::route::{self, NextHop, OutputRoute};
use super::tx::{TxFrame, TxQueue};
use crate::config::Config;
use crate::errno::Errno;
use crate::icmp::ratelimit::IcmpRateLimiter;
use crate::ip::ident::IpIdent;
use crate::ip::pmtu::PmtuCache;
use crate::ip::reassembly::Reassembler;
use crate::rand::{HashKey, Rng};
use crate::stats::{DropReason, Stats};
use crate::time::Instant;
use crate::udp::memory::UdpMemory;
use crate::udp::table::SocketTable;
use crate::wire::{EtherType, EthernetError, EthernetFrame, EthernetRepr, MacAddr};

/// How the frame carrying a packet was addressed at the link layer (Linux's `pkt_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkDst {
    /// To our MAC address (`PACKET_HOST`), or looped back.
    Host,
    /// To the broadcast address (`PACKET_BROADCAST`).
    Broadcast,
    /// To a multicast address (`PACKET_MULTICAST`).
    Multicast,
}

/// Destinations whose ICMP rate-limit buckets are remembered (Linux's inet_peer pool is bounded
/// by `inet_peer_threshold`, 65536 + 128).
const ICMP_PEERS: usize = 65_536;
/// IP ID buckets (Linux sizes `ip_idents` from memory; 2048 was the fixed size before 5.x).
const IDENT_BUCKETS: usize = 2048;
/// Destinations whose path MTU is remembered (Linux bounds its next-hop exception chains and
/// reclaims the oldest, `fnhe_oldest`).
const PMTU_ENTRIES: usize = 4096;
/// Packets the loopback device holds while they wait to be received.
const LOOPBACK_QUEUE: usize = 1000;

/// The secrets of a stack's keyed hashes, drawn from its seed.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// SO_REUSEPORT member selection (`udp_ehash_secret`).
    pub reuseport: HashKey,
}

/// A userspace UDP/IPv4 stack on one Ethernet interface.
#[derive(Debug)]
pub struct Stack {
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    pub(crate) keys: Keys,
    pub(crate) ident: IpIdent,
    pub(crate) neighbors: NeighborCache<TxFrame>,
    pub(crate) reassembler: Reassembler,
    pub(crate) pmtu: PmtuCache,
    pub(crate) icmp_limiter: IcmpRateLimiter,
    pub(crate) sockets: SocketTable,
    /// The pages all sockets hold against `udp_mem` (L6.4).
    pub(crate) udp_mem: UdpMemory,
    pub(crate) tx: TxQueue,
    /// IP packets sent to ourselves, waiting to be received (the loopback device).
    pub(crate) loopback: VecDeque<Vec<u8>>,
    pub(crate) stats: Stats,
    pub(crate) now: Instant,
    /// Buffers for frames and datagrams, reused.
    pub(crate) pool: BufferPool,
    /// What UTC time it was at an instant of the stack's clock (milliseconds since the Unix
    /// epoch), if anyone said: the only use of wall-clock time, answering ICMP timestamp
    /// requests.
    pub(crate) wall_clock: Option<(Instant, u64)>,
}

impl Stack {
    /// A stack with `config`, whose every random choice derives from `seed`.
    ///
    /// # Errors
    /// The interface settings' first problem (see [`Config::validate`]).
    pub fn new(config: Config, seed: u64) -> Result<Stack, String> {
        config.validate()?;
        let mut rng = Rng::new(seed);
        let keys = Keys {
            reuseport: rng.hash_key(),
        };
        let ident = IpIdent::new(rng.hash_key(), IDENT_BUCKETS);
        let table_key = rng.hash_key();
        let reasm_key = rng.hash_key();
        let pmtu_key = rng.hash_key();
        let tx = TxQueue::new(config.iface.txqueuelen);
        Ok(Stack {
            config,
            rng,
            keys,
            ident,
            neighbors: NeighborCache::new(),
            reassembler: Reassembler::new(reasm_key),
            pmtu: PmtuCache::new(PMTU_ENTRIES, pmtu_key),
            icmp_limiter: IcmpRateLimiter::new(ICMP_PEERS),
            sockets: SocketTable::new(table_key),
            udp_mem: UdpMemory::default(),
            tx,
            loopback: VecDeque::new(),
            stats: Stats::default(),
            now: Instant::ZERO,
            pool: BufferPool::default(),
            wall_clock: None,
        })
    }

    /// Tells the stack that at `at` (its own clock) it was `unix_millis` milliseconds past the
    /// Unix epoch, UTC. The stack reads no clock itself; this is what it answers ICMP timestamp
    /// requests from (RFC 792, Linux's `icmp_timestamp`: milliseconds since midnight UT). Until
    /// it is told, timestamp requests are ignored. The runtime tells it at start.
    pub fn set_wall_clock(&mut self, at: Instant, unix_millis: u64) {
        self.wall_clock = Some((at, unix_millis));
    }

    /// Milliseconds since midnight UT now (`inet_current_timestamp`), if the wall clock is
    /// known.
    pub(crate) fn ms_since_midnight(&self) -> Option<u32> {
        let (at, unix) = self.wall_clock?;
        const DAY: u64 = 86_400_000;
        let elapsed = self.now.saturating_duration_since(at).total_millis();
        Some(((unix % DAY + elapsed % DAY) % DAY) as u32)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets a tunable by its sysctl name on the running stack, as `sysctl -w` would.
    ///
    /// # Errors
    /// See [`Config::set_sysctl`].
    pub fn set_sysctl(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<(), crate::config::SysctlError> {
        self.config.set_sysctl(name, value)
    }

    /// Our MAC address.
    pub fn mac(&self) -> MacAddr {
        self.config.iface.mac
    }

    /// Our IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        self.config.iface.addr.addr()
    }

    /// All counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The counters in `/proc/net/snmp` layout (`Ip:`, `Icmp:`, `IcmpMsg:`, `Udp:`).
    pub fn snmp(&self) -> String {
        self.stats.snmp(self.config.sysctls.ip_default_ttl)
    }

    /// The pages UDP sockets hold against `udp_mem` (L6.4).
    pub fn udp_memory(&self) -> UdpMemory {
        self.udp_mem
    }

    /// The UDP line of `/proc/net/sockstat`: sockets in use and pages held (`UDP: inuse N mem
    /// M`; the pages as the `udp_mem` limits see them, L6.4).
    pub fn sockstat(&self) -> String {
        format!(
            "UDP: inuse {} mem {}\n",
            self.sockets.iter().filter(|(_, s)| s.is_bound()).count(),
            self.udp_mem.allocated()
        )
    }

    /// The `IpExt:` counters in `/proc/net/netstat` layout.
    pub fn netstat(&self) -> String {
        self.stats.netstat()
    }

    /// Moves the stack's clock to `now` unless it is already later.
    pub(crate) fn advance_to(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Counts and traces a discarded frame.
    pub(crate) fn drop_frame(&mut self, reason: DropReason, detail: &dyn core::fmt::Display) {
        self.stats.drop(reason);
        debug!(target: "udpstack::drop", ?reason, %detail, "dropped");
    }

    /// Takes one received Ethernet frame (without FCS). Malformed or unwanted frames are
    /// counted and dropped; nothing here returns an error.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.advance_to(now);
        self.stats.link.rx_frames += 1;
        self.ethernet_input(frame);
        self.drain_loopback();
    }

    fn ethernet_input(&mut self, frame: &[u8]) {
        let eth = match EthernetFrame::new_checked(frame) {
            Ok(eth) => eth,
            Err(e) => return self.drop_frame(DropReason::EthernetTruncated, &e),
        };
        let dst = eth.dst();
        let link = if dst == self.config.iface.mac {
            LinkDst::Host
        } else if dst.is_broadcast() {
            LinkDst::Broadcast
        } else if dst.is_multicast() {
            LinkDst::Multicast
        } else {
            return self.drop_frame(DropReason::OtherHost, &format_args!("frame for {dst}"));
        };
        match EthernetRepr::parse(&eth) {
            Ok(repr) => {
                trace!(target: "udpstack::rx", src = %repr.src, dst = %repr.dst, ethertype = ?repr.ethertype, len = frame.len(), "frame");
                match repr.ethertype {
                    EtherType::Arp => self.arp_input(repr.src, link, eth.payload()),
                    _ => self.ip_input(eth.payload(), link, false),
                }
            }
            Err(e @ EthernetError::VlanTagged { .. }) => {
                self.drop_frame(DropReason::EthernetVlan, &e)
            }
            Err(e) => self.drop_frame(DropReason::EthernetUnsupported, &e),
        }
    }

    /// Receives the packets sent to ourselves, as the loopback device would, until none is left
    /// (answers to them may loop back too; ICMP errors are never answered, so this ends).
    pub(crate) fn drain_loopback(&mut self) {
        while let Some(packet) = self.loopback.pop_front() {
            self.stats.link.loopback_rx += 1;
            self.ip_input(&packet, LinkDst::Host, true);
            self.pool.give(packet);
        }
    }

    /// Queues an IP packet for the loopback device.
    pub(crate) fn loopback_push(&mut self, packet: Vec<u8>) -> Result<(), ()> {
        if self.loopback.len() >= LOOPBACK_QUEUE {
            return Err(());
        }
        self.loopback.push_back(packet);
        Ok(())
    }

    /// Writes the next frame to send into `buf` and returns its length, or `None` when nothing
    /// is waiting. A frame larger than `buf` is dropped (counted as
    /// [`DropReason::TxBufferTooSmall`]): give a buffer of at least MTU + 14 bytes.
    #[must_use = "the frame written into buf must be sent"]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance_to(now);
        while let Some(frame) = self.tx.pop() {
            // L6.5, L6.6: the device has the packet; its socket's send buffer is free of it.
            self.uncharge(&frame);
            let len = frame.data.len();
            match buf.get_mut(..len) {
                Some(dst) => {
                    dst.copy_from_slice(&frame.data);
                    self.pool.give(frame.data);
                    self.stats.link.tx_frames += 1;
                    trace!(target: "udpstack::tx", len, owner = ?frame.owner, "frame sent");
                    return Some(len);
                }
                None => self.drop_frame(
                    DropReason::TxBufferTooSmall,
                    &format_args!("{len}-byte frame, {}-byte buffer", buf.len()),
                ),
            }
        }
        None
    }

    /// Whether frames are waiting for `poll_transmit`.
    pub fn has_transmit(&self) -> bool {
        !self.tx.is_empty()
    }

    /// The time by which [`Stack::handle_timeout`] must next be called, or `None` if no timer is
    /// running. Frames waiting for `poll_transmit` are not timers: poll them after every call.
    pub fn poll_at(&self) -> Option<Instant> {
        [self.neighbors.poll_at(), self.reassembler.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the timers due at `now`: ARP retransmissions and failures, neighbour ageing,
    /// reassembly timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_to(now);
        self.neighbor_timers();
        self.reassembly_timers();
        self.drain_loopback();
    }

    /// Learns a path MTU towards `dst` from a fragmentation-needed message (L2.1).
    pub(crate) fn learn_pmtu(&mut self, dst: Ipv4Addr, reported: u16) {
        let Ok(route) = self.route_output(self.ip(), dst, false) else {
            return;
        };
        let now = self.now;
        let update = self
            .pmtu
            .update(now, dst, reported, route.mtu, &self.config.sysctls);
        debug!(target: "udpstack::pmtu", %dst, reported, ?update, "path mtu");
    }

    /// The path MTU in force towards `dst` over a route of MTU `route_mtu` (L2.2), and whether
    /// the entry is locked.
    pub(crate) fn path_mtu(&self, dst: Ipv4Addr, route_mtu: u16) -> (u16, bool) {
        (
            self.pmtu.mtu(self.now, dst, route_mtu),
            self.pmtu.locked(self.now, dst),
        )
    }

    /// The route to `dst` for a sender with source address `src` (`ip_route_output_key`): the
    /// FIB's answer ([`route::output_from`]) with the destination's next-hop exception applied,
    /// so that a gateway learned from an ICMP redirect replaces the default gateway (L1.1).
    pub(crate) fn route_output(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        dont_route: bool,
    ) -> Result<OutputRoute, Errno> {
        let mut route = route::output_from(&self.config.iface, src, dst, dont_route)?;
        if let NextHop::Neighbor(hop) = route.next_hop {
            // Only a route through a gateway can have been redirected (__ip_do_redirect).
            if hop != dst {
                if let Some(gw) = self.pmtu.gateway(self.now, dst) {
                    route.next_hop = NextHop::Neighbor(gw);
                }
            }
        }
        Ok(route)
    }

    /// A frame is gone, sent or dropped: the send buffer of the socket that sent it (if it is
    /// still open) no longer holds it (`sock_wfree`, L6.5).
    pub(crate) fn uncharge(&mut self, frame: &TxFrame) {
        if let Some(s) = frame.owner.and_then(|h| self.sockets.get_mut(h)) {
            s.wmem_alloc = s.wmem_alloc.saturating_sub(frame.truesize);
        }
    }

    /// Pushes a built frame to the transmit queue; `Err` (and a count) if it is full.
    pub(crate) fn transmit(&mut self, frame: TxFrame) -> Result<(), ()> {
        match self.tx.push(frame) {
            Ok(()) => Ok(()),
            Err(frame) => {
                self.uncharge(&frame);
                self.drop_frame(
                    DropReason::TxQueueFull,
                    &format_args!("{} bytes", frame.data.len()),
                );
                Err(())
            }
        }
    }
}
