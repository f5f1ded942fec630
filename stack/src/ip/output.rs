//! IPv4 output: the header, the identification (L3.5), fragmentation with Linux's layout
//! (L3.4), local delivery through the loopback device, and the kernel's output counters.
//!
//! Counters follow Linux 6.18: `OutRequests` once per datagram handed to IP (`__ip_local_out`),
//! `FragOKs`/`FragCreates` when it is split (`ip_do_fragment`), `OutTransmits` and `OutOctets` for
//! every packet that goes to the link (`ip_finish_output2`), `OutDiscards` for packets the link
//! refused (`ip_send_skb`).

use std::net::Ipv4Addr;

use tracing::trace;

use crate::errno::Errno;
use crate::iface::route::{NextHop, OutputRoute};
use crate::iface::stack::Stack;
use crate::iface::tx::TxFrame;
use crate::stats::DropReason;
use crate::udp::memory::send_truesize;
use crate::udp::SocketHandle;
use crate::wire::{
    ethernet, ipv4, udp, EtherType, EthernetRepr, IpProtocol, Ipv4Options, Ipv4Repr, MacAddr,
    UdpRepr,
};

/// How the identification field is chosen (L3.5, Linux's `ip_select_ident_segs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdentMode {
    /// A connected socket's own counter: this value (already advanced by the caller).
    Socket(u16),
    /// DF set and fragmentation refused (IP_PMTUDISC_DO/PROBE): 0.
    Zero,
    /// The keyed hash of (destination, source, protocol) selects a shared counter.
    Hashed,
}

/// A datagram for the IP layer to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpTx<'a> {
    /// How to get there.
    pub route: OutputRoute,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of `payload`.
    pub protocol: IpProtocol,
    /// Time to live.
    pub ttl: u8,
    /// The TOS byte (DSCP and ECN).
    pub tos: u8,
    /// The DF bit.
    pub dont_frag: bool,
    /// How to choose the identification.
    pub ident: IdentMode,
    /// The transport header and data.
    pub payload: Payload<'a>,
    /// The sending socket.
    pub owner: Option<SocketHandle>,
    /// What each packet (fragment) is charged to the socket's send buffer, in order; a packet
    /// beyond the list is charged [`send_truesize`] of its length.
    pub charges: &'a [usize],
    /// IP options (an ICMP reply's echoed record route; none for UDP).
    pub options: Ipv4Options,
}

/// What an [`IpTx`] carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// Transport bytes, ready to go.
    Bytes(&'a [u8]),
    /// A UDP datagram to assemble in the frame itself (header, `data`, and the checksum over
    /// them), saving a copy when it needs no fragmenting.
    Udp {
        /// The header to write.
        repr: UdpRepr,
        /// The payload.
        data: &'a [u8],
    },
}

impl Payload<'_> {
    /// The transport length.
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Udp { data, .. } => udp::HEADER_LEN + data.len(),
        }
    }

    /// Writes the transport bytes into `out` (exactly [`Payload::len`] bytes) for a packet from
    /// `src` to `dst`.
    fn write(&self, out: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), Errno> {
        match self {
            Payload::Bytes(b) => {
                out.copy_from_slice(b);
                Ok(())
            }
            Payload::Udp { repr, data } => {
                if let Some(dst_data) = out.get_mut(udp::HEADER_LEN..) {
                    dst_data.copy_from_slice(data);
                }
                repr.emit(out, src, dst).map_err(|_| Errno::EMSGSIZE)
            }
        }
    }
}

impl Stack {
    /// Sends one datagram, fragmenting it to the route's MTU if it does not fit (the caller has
    /// already refused datagrams that may not be fragmented).
    ///
    /// # Errors
    /// `ENOBUFS` if the link refused a packet (the transmit queue was full).
    pub(crate) fn ip_output(&mut self, tx: IpTx<'_>) -> Result<(), Errno> {
        self.stats.ip.out_requests += 1;
        let ident = match tx.ident {
            IdentMode::Socket(id) => id,
            IdentMode::Zero => 0,
            IdentMode::Hashed => {
                let now = self.now;
                self.ident
                    .reserve(now, tx.dst, tx.src, u8::from(tx.protocol), 1, &mut self.rng)
            }
        };
        let header = Ipv4Repr {
            src: tx.src,
            dst: tx.dst,
            protocol: tx.protocol,
            dscp: tx.tos >> 2,
            ecn: tx.tos & 0x03,
            ident,
            dont_frag: tx.dont_frag,
            more_frags: false,
            frag_offset: 0,
            ttl: tx.ttl,
            options: tx.options,
            payload_len: tx.payload.len(),
        };
        if tx.route.broadcast {
            self.loop_broadcast(&header, tx.payload);
        }
        let mtu = usize::from(tx.route.mtu);
        if header.buffer_len() <= mtu {
            return self.ip_send_packet(&tx, &header, tx.payload, 0);
        }
        // Fragmenting needs the whole transport datagram (its checksum covers all of it).
        let mut whole = self.pool.zeroed(tx.payload.len());
        tx.payload.write(&mut whole, tx.src, tx.dst)?;
        let result = self.ip_fragment(&tx, &header, &whole);
        self.pool.give(whole);
        result
    }

    /// `ip_mc_output`: a packet to a broadcast address is also delivered to this host, whole
    /// (the clone is taken before `ip_finish_output` fragments), through the loopback device,
    /// so that our own sockets on the port get a copy and a port without one counts
    /// IgnoredMulti (L5.3). A full loopback queue drops the copy, counted.
    fn loop_broadcast(&mut self, header: &Ipv4Repr, payload: Payload<'_>) {
        let mut data = self.pool.zeroed(header.buffer_len());
        let written = header.emit(&mut data).is_ok()
            && data
                .get_mut(header.header_len()..)
                .is_some_and(|out| payload.write(out, header.src, header.dst).is_ok());
        if !written {
            self.pool.give(data);
            return;
        }
        if self.loopback_push(data).is_err() {
            self.drop_frame(DropReason::TxQueueFull, &"loopback queue full");
        }
    }

    /// Sends `payload` in fragments of Linux's layout (L3.4).
    fn ip_fragment(
        &mut self,
        tx: &IpTx<'_>,
        header: &Ipv4Repr,
        payload: &[u8],
    ) -> Result<(), Errno> {
        let mtu = usize::from(tx.route.mtu);
        // L3.4: every fragment but the last carries (mtu - header) & !7 bytes, offsets in
        // 8-byte units, MF on all but the last, one ID, and never DF.
        let chunk = (mtu - header.header_len()) & !7;
        if chunk == 0 {
            self.stats.ip.frag_fails += 1;
            return Err(Errno::EMSGSIZE);
        }
        self.stats.ip.frag_oks += 1;
        let mut result = Ok(());
        let mut offset = 0;
        // ip_options_fragment: later fragments carry the non-copied options as NOPs.
        let later_options = crate::ip::options::for_later_fragments(&header.options);
        for (index, piece) in payload.chunks(chunk).enumerate() {
            let more = offset + piece.len() < payload.len();
            let fragment = Ipv4Repr {
                dont_frag: false,
                more_frags: more,
                frag_offset: offset as u16,
                payload_len: piece.len(),
                options: if index == 0 {
                    header.options
                } else {
                    later_options
                },
                ..*header
            };
            self.stats.ip.frag_creates += 1;
            if let Err(e) = self.ip_send_packet(tx, &fragment, Payload::Bytes(piece), index) {
                result = Err(e);
            }
            offset += piece.len();
        }
        trace!(target: "udpstack::ip", dst = %tx.dst, len = payload.len(), fragments = payload.len().div_ceil(chunk), "fragmented");
        result
    }

    /// Builds one packet and hands it to the link (or the loopback device).
    fn ip_send_packet(
        &mut self,
        tx: &IpTx<'_>,
        header: &Ipv4Repr,
        payload: Payload<'_>,
        index: usize,
    ) -> Result<(), Errno> {
        let ip_len = header.buffer_len();
        let mut data = self.pool.zeroed(ethernet::HEADER_LEN + ip_len);
        let eth = EthernetRepr {
            dst: MacAddr::ZERO,
            src: self.mac(),
            ethertype: EtherType::Ipv4,
        };
        let (eth_part, ip_part) = data.split_at_mut(ethernet::HEADER_LEN);
        if eth.emit(eth_part).is_err() || header.emit(ip_part).is_err() {
            return Err(Errno::EINVAL);
        }
        if let Some(out) = ip_part.get_mut(header.header_len()..) {
            payload.write(out, header.src, header.dst)?;
        }
        self.stats.ip.out_transmits += 1;
        self.stats.ip_ext.out_octets += ip_len as u64;
        if tx.route.broadcast {
            self.stats.ip_ext.out_bcast_pkts += 1;
            self.stats.ip_ext.out_bcast_octets += ip_len as u64;
        } else if tx.route.multicast {
            self.stats.ip_ext.out_mcast_pkts += 1;
            self.stats.ip_ext.out_mcast_octets += ip_len as u64;
        }
        trace!(target: "udpstack::ip", src = %header.src, dst = %header.dst, id = header.ident, df = header.dont_frag, mf = header.more_frags, offset = header.frag_offset, len = ip_len, "ip out");
        let sent = if tx.route.next_hop == NextHop::Local {
            data.drain(..ethernet::HEADER_LEN);
            self.loopback_push(data).map_err(|()| {
                self.drop_frame(DropReason::TxQueueFull, &"loopback queue full");
            })
        } else {
            // L6.5: the socket's send buffer holds the packet until it leaves the device.
            let truesize = tx
                .charges
                .get(index)
                .copied()
                .unwrap_or_else(|| send_truesize(ip_len));
            if let Some(s) = tx.owner.and_then(|h| self.sockets.get_mut(h)) {
                s.wmem_alloc += truesize;
            }
            self.link_output(
                tx.route.next_hop,
                TxFrame {
                    data,
                    owner: tx.owner,
                    truesize,
                },
            )
        };
        sent.map_err(|()| {
            self.stats.ip.out_discards += 1;
            Errno::ENOBUFS
        })
    }
}

/// The largest IP payload a datagram may carry (65535 minus a 20-byte header).
#[allow(dead_code)]
pub(crate) const MAX_IP_PAYLOAD: usize = ipv4::MAX_PACKET_LEN - ipv4::HEADER_LEN;
