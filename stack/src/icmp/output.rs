//! ICMP output: errors about packets we received or tried to send (Linux's `__icmp_send`), and
//! echo replies (`icmp_reply`).
//!
//! An error is never sent (L5.6, RFC 1122 §3.2.2) about a frame that was not addressed to our
//! MAC (link broadcast or multicast), a packet to a broadcast or multicast address, a fragment
//! other than the first, or an ICMP error (or unknown ICMP type). Otherwise it is rate limited
//! (L5.7) and sent from the offending packet's destination with TOS `(tos & 0x1e) | 0xc0`
//! (`RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL`), TTL `ip_default_ttl`, no DF, quoting as much of
//! the offending packet as fits in 576 bytes.

use std::net::Ipv4Addr;

use tracing::debug;

use crate::icmp::ratelimit::RateDecision;
use crate::iface::route;
use crate::iface::stack::{LinkDst, Stack};
use crate::ip::options::{self, RxOptions};
use crate::ip::output::{IdentMode, IpTx, Payload};
use crate::wire::icmpv4::{self, DstUnreachable, Icmpv4Message, ParamProblem};
use crate::wire::ipv4::Ipv4Options;
use crate::wire::{Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet};

/// The most an ICMP error may be, IP header included (RFC 1812 §4.3.2.3, Linux's 576).
const MAX_ERROR_LEN: usize = 576;
/// `IPTOS_TOS_MASK`.
const TOS_MASK: u8 = 0x1e;
/// `IPTOS_PREC_INTERNETCONTROL`.
const PREC_INTERNETCONTROL: u8 = 0xc0;

/// The packet an ICMP error is about, and how it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offender<'a> {
    /// The whole packet, header first, as received (or as we built it).
    pub packet: &'a [u8],
    /// Its source: where the error goes.
    pub src: Ipv4Addr,
    /// Its destination: the error's source.
    pub dst: Ipv4Addr,
    /// Its TOS byte.
    pub tos: u8,
    /// Its protocol.
    pub protocol: IpProtocol,
    /// Its fragment offset in bytes.
    pub frag_offset: u16,
    /// It was sent to a broadcast (or multicast) address.
    pub broadcast: bool,
    /// How its frame was addressed.
    pub link: LinkDst,
    /// It arrived on the loopback device (Linux: `skb_in->dev` is loopback).
    pub incoming_loopback: bool,
    /// What `ip_options_compile` did with its record route on arrival (echoed in the error).
    pub rx_options: RxOptions,
}

impl<'a> Offender<'a> {
    /// Describes a received (or built) packet from its view.
    pub(crate) fn from_view(
        view: &Ipv4Packet<&'a [u8]>,
        packet: &'a [u8],
        broadcast: bool,
        link: LinkDst,
        incoming_loopback: bool,
    ) -> Self {
        Offender {
            packet,
            src: view.src(),
            dst: view.dst(),
            tos: view.tos(),
            protocol: view.protocol(),
            frag_offset: view.frag_offset(),
            broadcast,
            link,
            incoming_loopback,
            rx_options: RxOptions::default(),
        }
    }

    /// Its IP header, options included.
    fn header(&self) -> &'a [u8] {
        let len = usize::from(self.packet.first().map_or(5, |b| b & 0x0f)) * 4;
        self.packet.get(..len).unwrap_or(self.packet)
    }
}

/// Counts an ICMP message of `msg_type` received or sent: `IcmpMsg:` per type, and the named
/// `Icmp:` counter where the type has one (Linux derives those from the same per-type counts).
pub(crate) fn count_type(stats: &mut crate::stats::Stats, msg_type: u8, outgoing: bool) {
    let i = &mut stats.icmp;
    let named = match (outgoing, msg_type) {
        (false, 0) => Some(&mut i.in_echo_reps),
        (false, 3) => Some(&mut i.in_dest_unreachs),
        (false, 4) => Some(&mut i.in_src_quenchs),
        (false, 5) => Some(&mut i.in_redirects),
        (false, 8) => Some(&mut i.in_echos),
        (false, 11) => Some(&mut i.in_time_excds),
        (false, 12) => Some(&mut i.in_parm_probs),
        (false, 13) => Some(&mut i.in_timestamps),
        (false, 14) => Some(&mut i.in_timestamp_reps),
        (false, 17) => Some(&mut i.in_addr_masks),
        (false, 18) => Some(&mut i.in_addr_mask_reps),
        (true, 0) => Some(&mut i.out_echo_reps),
        (true, 3) => Some(&mut i.out_dest_unreachs),
        (true, 4) => Some(&mut i.out_src_quenchs),
        (true, 5) => Some(&mut i.out_redirects),
        (true, 8) => Some(&mut i.out_echos),
        (true, 11) => Some(&mut i.out_time_excds),
        (true, 12) => Some(&mut i.out_parm_probs),
        (true, 13) => Some(&mut i.out_timestamps),
        (true, 14) => Some(&mut i.out_timestamp_reps),
        (true, 17) => Some(&mut i.out_addr_masks),
        (true, 18) => Some(&mut i.out_addr_mask_reps),
        _ => None,
    };
    if let Some(c) = named {
        *c += 1;
    }
    let by_type = if outgoing {
        &mut stats.icmp_out_types
    } else {
        &mut stats.icmp_in_types
    };
    if let Some(c) = by_type.0.get_mut(usize::from(msg_type)) {
        *c += 1;
    }
}

/// Whether an ICMP message of type `t` is an error (RFC 1122 §3.2.2: never answered with an
/// error). Unknown types count as errors, as in Linux.
fn is_error_type(t: u8) -> bool {
    !matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) || t > 18
}

impl Stack {
    /// Sends a destination unreachable about `offender`.
    pub(crate) fn icmp_dst_unreachable(&mut self, offender: &Offender<'_>, reason: DstUnreachable) {
        self.icmp_send_error(offender, Icmpv4Message::DstUnreachable(reason));
    }

    /// Sends a parameter problem pointing at octet `pointer` of `offender`.
    pub(crate) fn icmp_param_problem(&mut self, offender: &Offender<'_>, pointer: u8) {
        self.icmp_send_error(
            offender,
            Icmpv4Message::ParamProblem {
                reason: ParamProblem::AtPointer,
                pointer,
            },
        );
    }

    /// Sends an ICMP error about `offender`, unless RFC 1122 or the rate limits forbid it.
    pub(crate) fn icmp_send_error(&mut self, offender: &Offender<'_>, message: Icmpv4Message) {
        let why_not = if offender.link != LinkDst::Host {
            Some("the frame was not addressed to us")
        } else if offender.broadcast {
            Some("the packet was sent to a broadcast address")
        } else if offender.frag_offset != 0 {
            Some("it is not the first fragment")
        } else if offender.protocol == IpProtocol::Icmp && self.quotes_icmp_error(offender) {
            Some("it is itself an ICMP error")
        } else if offender.src.is_unspecified() {
            Some("its source is 0.0.0.0")
        } else {
            None
        };
        if let Some(why) = why_not {
            debug!(target: "udpstack::icmp", ?message, src = %offender.src, why, "no icmp error");
            return;
        }
        let msg_type = message.msg_type();
        let code = message.code();
        // icmp_route_lookup comes before the per-destination limit (icmpv4_xrlim_allow): with no
        // route back the error is dropped with no counter, and no token is spent. (The global
        // check of icmpv4_global_allow runs earlier in Linux, but only consumes in
        // icmpv4_xrlim_allow; the one difference is that a refusal by an exhausted global
        // bucket would also have been counted for an unroutable source.)
        let Ok(route) = self.route_output(self.ip(), offender.src, false) else {
            debug!(target: "udpstack::icmp", ?message, dst = %offender.src, "no route for the icmp error");
            return;
        };
        let src = if route::is_local(&self.config.iface, offender.dst) {
            offender.dst
        } else {
            route.src
        };
        // __ip_options_echo: the error carries the offender's record route, ours added; when
        // the option cannot be echoed, no error is sent at all.
        let Some(options) = options::echo(offender.header(), offender.rx_options, src) else {
            debug!(target: "udpstack::icmp", ?message, dst = %offender.src, "options cannot be echoed: no icmp error");
            return;
        };
        let now = self.now;
        let decision = if offender.incoming_loopback {
            // __icmp_send skips the global bucket for packets that came in on the loopback
            // device, and icmpv4_xrlim_allow skips the per-destination one towards it.
            RateDecision::Allow
        } else if route.next_hop == route::NextHop::Local {
            // An error about our own outgoing packet (ARP failure) goes to ourselves.
            self.icmp_limiter.check_global_only(
                now,
                msg_type,
                code,
                &self.config.sysctls,
                &mut self.rng,
            )
        } else {
            self.icmp_limiter.check(
                now,
                offender.src,
                msg_type,
                code,
                &self.config.sysctls,
                &mut self.rng,
            )
        };
        match decision {
            RateDecision::Allow => {}
            RateDecision::LimitedGlobal => {
                self.stats.icmp.out_rate_limit_global += 1;
                debug!(target: "udpstack::icmp", ?message, dst = %offender.src, "rate limited (global)");
                return;
            }
            RateDecision::LimitedHost => {
                self.stats.icmp.out_rate_limit_host += 1;
                debug!(target: "udpstack::icmp", ?message, dst = %offender.src, "rate limited (host)");
                return;
            }
        }
        // icmp_send: the quote fills what is left of min(path MTU, 576) after the headers and
        // the echoed options; with no room for at least an IP header, nothing is sent.
        let mtu = usize::from(self.path_mtu(offender.src, route.mtu).0);
        let room = MAX_ERROR_LEN
            .min(mtu)
            .saturating_sub(20 + options.len() + icmpv4::HEADER_LEN);
        if room <= 20 {
            debug!(target: "udpstack::icmp", ?message, dst = %offender.src, mtu, "no room for a quote: no icmp error");
            return;
        }
        let quote = offender
            .packet
            .get(..room.min(offender.packet.len()))
            .unwrap_or(&[]);
        let tos = (offender.tos & TOS_MASK) | PREC_INTERNETCONTROL;
        debug!(target: "udpstack::icmp", ?message, dst = %offender.src, quoted = quote.len(), "icmp error out");
        self.icmp_output(
            Icmpv4Repr {
                message,
                body: quote,
            },
            src,
            offender.src,
            tos,
            route,
            options,
        );
    }

    /// Whether `offender` (an ICMP packet) carries an ICMP error, or a type too large to know.
    fn quotes_icmp_error(&self, offender: &Offender<'_>) -> bool {
        let header_len = usize::from(offender.packet.first().map_or(5, |b| b & 0x0f)) * 4;
        offender
            .packet
            .get(header_len)
            .is_none_or(|&t| is_error_type(t))
    }

    /// Sends a reply built by `icmp_reply` (an echo or timestamp reply): `(type, code)`, the
    /// request's `(identifier, sequence)`, `body`, `(from, to)`. Counted as an echo reply
    /// (OutEchoReps, OutType0) whatever its type, as Linux 6.18 counts it: `icmp_reply`'s flow
    /// leaves `fl4_icmp_type` at 0, and `__ip_make_skb` counts a raw socket's packet by the
    /// flow's type (observed: `kernel_differential.rs::icmp_timestamp_requests`).
    pub(crate) fn icmp_send_reply(
        &mut self,
        (msg_type, code): (u8, u8),
        (ident, seq_no): (u16, u16),
        body: &[u8],
        (from, to): (Ipv4Addr, Ipv4Addr),
        tos: u8,
        options: Ipv4Options,
    ) {
        // No route back → nothing sent, nothing counted.
        let Ok(route) = self.route_output(self.ip(), to, false) else {
            debug!(target: "udpstack::icmp", %to, msg_type, "no route for the reply");
            return;
        };
        let reply = Icmpv4Repr {
            message: Icmpv4Message::EchoReply { ident, seq_no },
            body,
        };
        let mut message = vec![0u8; reply.buffer_len()];
        if reply.emit(&mut message).is_err() {
            self.stats.icmp.out_errors += 1;
            return;
        }
        if (msg_type, code) != (icmpv4::types::ECHO_REPLY, 0) {
            let mut packet = Icmpv4Packet::new_unchecked(&mut message[..]);
            packet.set_msg_type(msg_type);
            packet.set_code(code);
            packet.fill_checksum();
        }
        self.icmp_output_raw(message, from, to, tos, route, options, Some(0));
    }

    /// Builds and sends one ICMP message (no DF, hashed ID, default TTL).
    fn icmp_output(
        &mut self,
        repr: Icmpv4Repr<'_>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tos: u8,
        route: route::OutputRoute,
        options: Ipv4Options,
    ) {
        let mut message = vec![0u8; repr.buffer_len()];
        if repr.emit(&mut message).is_err() {
            self.stats.icmp.out_errors += 1;
            return;
        }
        self.icmp_output_raw(message, src, dst, tos, route, options, None);
    }

    /// Sends one built ICMP message (checksum filled in) and counts it, as its own type or as
    /// `count_as` (replies, which Linux counts by their flow's type: 0).
    #[allow(clippy::too_many_arguments)]
    fn icmp_output_raw(
        &mut self,
        message: Vec<u8>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tos: u8,
        route: route::OutputRoute,
        options: Ipv4Options,
        count_as: Option<u8>,
    ) {
        let msg_type = count_as.unwrap_or_else(|| message.first().copied().unwrap_or(0));
        self.stats.icmp.out_msgs += 1;
        count_type(&mut self.stats, msg_type, true);
        // The ICMP socket (IP_PMTUDISC_DONT) fragments at the path MTU (dst_mtu).
        let mtu = self.path_mtu(dst, route.mtu).0;
        let tx = IpTx {
            route: route::OutputRoute { mtu, ..route },
            src,
            dst,
            protocol: IpProtocol::Icmp,
            ttl: self.config.sysctls.ip_default_ttl,
            tos,
            dont_frag: false,
            ident: IdentMode::Hashed,
            payload: Payload::Bytes(&message),
            owner: None,
            charges: &[],
            options,
        };
        if self.ip_output(tx).is_err() {
            self.stats.icmp.out_errors += 1;
        }
    }

    /// ARP gave up on the next hop of a frame we built: like Linux's `ipv4_link_failure`, tell
    /// ourselves with a host unreachable quoting the packet, which reaches the sending socket
    /// through the ordinary ICMP path (L1.5: EHOSTUNREACH, a soft error).
    pub(crate) fn neighbor_failure_icmp(&mut self, frame: &crate::iface::tx::TxFrame) {
        let packet = frame
            .data
            .get(crate::wire::ethernet::HEADER_LEN..)
            .unwrap_or(&[]);
        let Ok(view) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        let offender = Offender::from_view(&view, packet, false, LinkDst::Host, false);
        // The packet is ours: its destination is not local, so the error comes from our address.
        self.icmp_send_error(
            &offender,
            Icmpv4Message::DstUnreachable(DstUnreachable::HostUnreachable),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types() {
        for t in [3, 4, 5, 11, 12, 19, 40, 255] {
            assert!(is_error_type(t), "{t}");
        }
        for t in [0, 8, 13, 14, 15, 16, 17, 18] {
            assert!(!is_error_type(t), "{t}");
        }
    }
}
