//! UDP input (Linux's `__udp4_lib_rcv`): lengths (L5.1), checksum (L5.2), socket lookup (L5.3),
//! broadcast fan-out, port unreachable (L5.4, L5.6) and receive-buffer admission (L6.3).
//!
//! The checksum is verified on arrival. Linux may defer the check of datagrams over 76 bytes
//! to `recvmsg` (and then counts a bad one when it is read); udpstack checks every datagram
//! before queueing it, so a bad datagram never occupies a receive buffer. The counters end up
//! the same once the kernel's reader has read.

use std::net::SocketAddrV4;

use tracing::{debug, trace};

use super::memory::Refusal;
use super::socket::Datagram;
use super::SocketHandle;
use crate::iface::stack::Stack;
use crate::ip::input::IpRx;
use crate::stats::DropReason;
use crate::wire::icmpv4::DstUnreachable;
use crate::wire::{UdpError, UdpPacket, UdpRepr};

impl Stack {
    pub(crate) fn udp_input(&mut self, rx: &IpRx<'_>) {
        let packet = match UdpPacket::new_checked(rx.payload) {
            Ok(p) => p,
            Err(e) => {
                self.stats.udp.in_errors += 1;
                return self.drop_frame(DropReason::UdpLength, &e);
            }
        };
        let repr = match UdpRepr::parse(&packet, rx.src(), rx.dst()) {
            Ok(r) => r,
            Err(e @ UdpError::BadChecksum { .. }) => {
                self.stats.udp.in_csum_errors += 1;
                self.stats.udp.in_errors += 1;
                return self.drop_frame(DropReason::UdpChecksum, &e);
            }
            Err(e) => {
                self.stats.udp.in_errors += 1;
                return self.drop_frame(DropReason::UdpLength, &e);
            }
        };
        let src = SocketAddrV4::new(rx.src(), repr.src_port);
        let dst = SocketAddrV4::new(rx.dst(), repr.dst_port);
        // What the datagram costs a socket (L6.2, L4.6).
        let size = rx.truesize;
        // __udp4_lib_rcv chooses by the route (RTCF_BROADCAST | RTCF_MULTICAST), not by how the
        // frame was addressed: a unicast destination in a link-layer broadcast or multicast
        // frame takes the unicast lookup (and draws no ICMP, L5.6). No multicast group is
        // joined, so IP multicast never gets here (the route drops it).
        if rx.broadcast {
            let receivers = self.sockets.broadcast_receivers(src, dst);
            if receivers.is_empty() {
                self.stats.udp.ignored_multi += 1;
                return self.drop_frame(
                    DropReason::UdpIgnoredBroadcast,
                    &format_args!("{src} -> {dst}"),
                );
            }
            // Every socket admits its copy or refuses it (counted on the socket); the frame
            // counts once: delivered if any took it, else dropped for the last refusal.
            let mut outcome = Err(DropReason::UdpRcvbuf);
            for h in receivers {
                let r = self.udp_enqueue(h, src, packet.payload(), size);
                outcome = outcome.or(r);
            }
            return self.udp_delivered(outcome, src, dst);
        }
        match self.sockets.lookup(src, dst, &self.keys.reuseport) {
            Some(h) => {
                let outcome = self.udp_enqueue(h, src, packet.payload(), size);
                self.udp_delivered(outcome, src, dst);
            }
            None => {
                self.stats.udp.no_ports += 1;
                self.drop_frame(DropReason::UdpNoPort, &format_args!("{src} -> {dst}"));
                // __udp4_lib_rcv has trimmed the skb to the UDP length (pskb_trim_rcsum) before
                // icmp_send: bytes past the UDP length are not quoted, though the quoted IP
                // header still shows the original total length.
                let mut offender = rx.offender();
                let end = rx.header.header_len() + usize::from(packet.length());
                offender.packet = rx.packet.get(..end).unwrap_or(rx.packet);
                self.icmp_dst_unreachable(&offender, DstUnreachable::PortUnreachable);
            }
        }
    }

    /// Counts a received frame once: delivered if a socket queued it, else dropped for the
    /// socket's refusal (already counted on the socket by [`Stack::udp_enqueue`]).
    fn udp_delivered(
        &mut self,
        outcome: Result<(), DropReason>,
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) {
        match outcome {
            Ok(()) => self.stats.rx_delivered += 1,
            Err(reason) => self.drop_frame(reason, &format_args!("{src} -> {dst}: refused")),
        }
    }

    /// Offers a datagram to a socket: queued if its receive buffer admits it (L6.3), else
    /// refused and counted on the socket (its drops, RcvbufErrors or MemErrors, InErrors, and
    /// a trace event); the refusal's drop reason is returned for the frame's own count.
    fn udp_enqueue(
        &mut self,
        h: SocketHandle,
        from: SocketAddrV4,
        payload: &[u8],
        size: usize,
    ) -> Result<(), DropReason> {
        let Some(s) = self.sockets.get_mut(h) else {
            // The lookup only returns open sockets.
            return Err(DropReason::UdpNoPort);
        };
        self.stats.sockets.offered += 1;
        if let Err(refusal) = self.udp_mem.charge_datagram(s, size, &self.config.sysctls) {
            s.drops += 1;
            let (rmem, rcvbuf) = (s.rmem_alloc, s.rcvbuf);
            self.stats.udp.in_errors += 1;
            return Err(match refusal {
                Refusal::Rcvbuf => {
                    self.stats.udp.rcvbuf_errors += 1;
                    debug!(target: "udpstack::udp", %h, rmem, size, rcvbuf, "refused: rcvbuf");
                    DropReason::UdpRcvbuf
                }
                Refusal::Memory => {
                    self.stats.udp.mem_errors += 1;
                    let pages = self.udp_mem.allocated();
                    debug!(target: "udpstack::udp", %h, pages, "refused: udp_mem");
                    DropReason::UdpMem
                }
            });
        }
        self.stats.sockets.queued += 1;
        s.rx_queue.push_back(Datagram {
            from,
            data: self.pool.copy_of(payload),
            truesize: size,
        });
        trace!(target: "udpstack::udp", %h, %from, len = payload.len(), truesize = size, "queued");
        debug!(target: "udpstack::udp", %h, %from, len = payload.len(), "delivered");
        Ok(())
    }
}
