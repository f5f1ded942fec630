//! ARP on the wire: answering requests for our address, feeding what ARP teaches into the
//! neighbour cache, sending requests and probes, and handing frames to the link once their
//! next hop is resolved. The state machine itself is in [`super::neighbor`].
//!
//! Received ARP follows Linux's `arp_process`:
//! * a target that is multicast or loopback: ignored;
//! * a duplicate-address probe (sender 0.0.0.0) for our address: answered, nothing learned;
//! * a request for our address: answered, and the sender is learned (`neigh_event_ns`, STALE);
//! * anything else (replies, requests for others): updates an entry we already have, and only
//!   then (no entries are created from unsolicited ARP, `arp_accept` = 0).

use std::net::Ipv4Addr;

use tracing::debug;

use super::neighbor::{ArpInput, NeighborAction, Resolve};
use super::route::{self, NextHop};
use super::stack::LinkDst;
use super::stack::Stack;
use super::tx::TxFrame;
use crate::stats::DropReason;
use crate::wire::{
    arp, ethernet, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetRepr, MacAddr,
};

/// The Ethernet multicast address for an IPv4 group (RFC 1112 §6.4): 01:00:5e and the low 23
/// bits of the group.
pub(crate) fn multicast_mac(group: Ipv4Addr) -> MacAddr {
    let [_, b, c, d] = group.octets();
    MacAddr([0x01, 0x00, 0x5e, b & 0x7f, c, d])
}

impl Stack {
    pub(crate) fn arp_input(&mut self, eth_src: MacAddr, link: LinkDst, payload: &[u8]) {
        let repr = match ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(repr) => repr,
            Err(e) => return self.drop_frame(DropReason::ArpInvalid, &e),
        };
        self.stats.link.arp_in += 1;
        self.stats.rx_consumed += 1;
        let ours = self.ip();
        let (sip, tip) = (repr.sender_ip, repr.target_ip);
        debug!(target: "udpstack::arp", op = ?repr.operation, %sip, sha = %repr.sender_mac, %tip, %eth_src, "arp in");
        if tip.is_multicast() || tip.is_loopback() {
            return;
        }
        if repr.operation == ArpOperation::Request && tip == ours {
            if !sip.is_unspecified() {
                let now = self.now;
                let ready = self.neighbors.on_arp(
                    now,
                    sip,
                    repr.sender_mac,
                    ArpInput::RequestForUs,
                    &self.config.sysctls,
                    &mut self.rng,
                );
                self.send_ready(ready);
                if !self.neighbors.contains(sip) {
                    // The table was full: Linux replies only when neigh_event_ns found room.
                    return;
                }
            }
            // A duplicate-address probe (sender 0.0.0.0) is answered to 0.0.0.0, as Linux does.
            self.send_arp(
                ArpOperation::Reply,
                repr.sender_mac,
                ours,
                repr.sender_mac,
                sip,
            );
            return;
        }
        if sip.is_unspecified() {
            return;
        }
        // arp_is_garp: sender = target, a unicast sender, and for replies tha = sha.
        let gratuitous = sip == tip
            && (repr.operation == ArpOperation::Request || repr.target_mac == repr.sender_mac)
            && !route::is_broadcast(&self.config.iface, sip)
            && !route::is_local(&self.config.iface, sip)
            && !sip.is_multicast();
        // A reply confirms only in a frame addressed to our MAC (PACKET_HOST).
        let kind = if repr.operation == ArpOperation::Reply && link == LinkDst::Host {
            ArpInput::ReplyToUs { gratuitous }
        } else {
            ArpInput::Other { gratuitous }
        };
        let now = self.now;
        let ready = self.neighbors.on_arp(
            now,
            sip,
            repr.sender_mac,
            kind,
            &self.config.sysctls,
            &mut self.rng,
        );
        self.send_ready(ready);
    }

    /// Sends an ARP packet from us: to `eth_dst` at the link layer, about `target_ip` (with
    /// `target_mac` in the packet: the requester's for a reply, zeros for a request).
    pub(crate) fn send_arp(
        &mut self,
        op: ArpOperation,
        eth_dst: MacAddr,
        sender_ip: Ipv4Addr,
        target_mac: MacAddr,
        target_ip: Ipv4Addr,
    ) {
        let mut data = vec![0u8; ethernet::HEADER_LEN + arp::PACKET_LEN];
        let eth = EthernetRepr {
            dst: eth_dst,
            src: self.mac(),
            ethertype: EtherType::Arp,
        };
        let packet = ArpRepr {
            operation: op,
            sender_mac: self.mac(),
            sender_ip,
            target_mac,
            target_ip,
        };
        let emitted = eth
            .emit(&mut data)
            .and_then(|()| packet.emit(data.get_mut(ethernet::HEADER_LEN..).unwrap_or(&mut [])));
        if emitted.is_err() {
            return;
        }
        match op {
            ArpOperation::Request => self.stats.link.arp_requests_out += 1,
            ArpOperation::Reply => self.stats.link.arp_replies_out += 1,
        }
        debug!(target: "udpstack::arp", ?op, %eth_dst, %target_ip, "arp out");
        let _ = self.transmit(TxFrame::unowned(data));
    }

    /// Sends frames whose next hop was just resolved.
    fn send_ready(&mut self, ready: Vec<(MacAddr, TxFrame)>) {
        for (mac, mut frame) in ready {
            set_eth_dst(&mut frame, mac);
            let _ = self.transmit(frame);
        }
    }

    /// Hands an IP frame (Ethernet header built, destination MAC still to fill in) to the link
    /// towards `next_hop`, resolving it with ARP if needed.
    pub(crate) fn link_output(&mut self, next_hop: NextHop, mut frame: TxFrame) -> Result<(), ()> {
        match next_hop {
            NextHop::Broadcast => {
                set_eth_dst(&mut frame, MacAddr::BROADCAST);
                self.transmit(frame)
            }
            NextHop::Multicast(group) => {
                set_eth_dst(&mut frame, multicast_mac(group));
                self.transmit(frame)
            }
            NextHop::Neighbor(ip) => {
                let now = self.now;
                match self
                    .neighbors
                    .resolve(now, ip, frame, &self.config.sysctls, &mut self.rng)
                {
                    Resolve::Ready(mac, mut frame) => {
                        set_eth_dst(&mut frame, mac);
                        self.transmit(frame)
                    }
                    Resolve::Queued { dropped } => {
                        for f in dropped {
                            self.uncharge(&f);
                            self.stats.link.unres_discards += 1;
                            self.drop_frame(
                                DropReason::NeighborQueueOverflow,
                                &format_args!("{} bytes for {ip}", f.data.len()),
                            );
                        }
                        // A first request goes out at once.
                        self.neighbor_timers();
                        Ok(())
                    }
                    Resolve::Dropped(f) => {
                        self.uncharge(&f);
                        // mcast_solicit = 0: the entry fails at once and the frame is freed,
                        // yet the send succeeds (neigh_resolve_output returns 0).
                        self.stats.link.neigh_failures += 1;
                        self.drop_frame(
                            DropReason::NeighborFailed,
                            &format_args!("{} bytes for {ip}: no ARP probes allowed", f.data.len()),
                        );
                        Ok(())
                    }
                    Resolve::TableFull(f) => {
                        self.uncharge(&f);
                        // neigh_create failed: the send fails with ENOBUFS.
                        self.drop_frame(
                            DropReason::NeighborTableFull,
                            &format_args!("{} bytes for {ip}", f.data.len()),
                        );
                        Err(())
                    }
                }
            }
            // The IP layer loops local packets back itself.
            NextHop::Local => Err(()),
        }
    }

    /// Runs the neighbour cache's due timers and acts on what it asks for.
    pub(crate) fn neighbor_timers(&mut self) {
        let now = self.now;
        let actions = self
            .neighbors
            .poll(now, &self.config.sysctls, &mut self.rng);
        for action in actions {
            match action {
                NeighborAction::SendRequest { target, dst } => {
                    let ours = self.ip();
                    self.send_arp(ArpOperation::Request, dst, ours, MacAddr::ZERO, target);
                }
                NeighborAction::Failed { ip, frames } => {
                    self.stats.link.neigh_failures += 1;
                    for frame in frames {
                        self.drop_frame(
                            DropReason::NeighborFailed,
                            &format_args!("{ip} did not answer ARP"),
                        );
                        self.neighbor_failure_icmp(&frame);
                        self.uncharge(&frame);
                    }
                }
            }
        }
    }
}

/// Writes the destination MAC of a built frame.
fn set_eth_dst(frame: &mut TxFrame, mac: MacAddr) {
    if let Some(dst) = frame.data.get_mut(..6) {
        dst.copy_from_slice(&mac.octets());
    }
}
