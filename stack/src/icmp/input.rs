//! ICMP input (Linux's `icmp_rcv` and its per-type handlers): counters, echo replies, and
//! errors handed to the transport (`icmp_unreach`, L1.1).
//!
//! Types and codes are read raw from the header, not through [`Icmpv4Repr`], because the kernel
//! delivers some codes the wire layer's `Repr` has no name for (a time exceeded of code 2 still
//! reaches sockets as EHOSTUNREACH).

use tracing::debug;

use super::output::count_type;
use crate::iface::route;
use crate::iface::stack::Stack;
use crate::ip::input::IpRx;
use crate::stats::DropReason;
use crate::wire::icmpv4::{types, Quote};
use crate::wire::{checksum, Icmpv4Error, Icmpv4Packet, IpProtocol, Ipv4Error, Ipv4Packet};

/// `NR_ICMP_TYPES`: the highest type Linux knows.
const NR_ICMP_TYPES: u8 = 18;
/// `NR_ICMP_UNREACH`: the highest destination-unreachable code.
const NR_ICMP_UNREACH: u8 = 15;
const ADDRESS: u8 = 17;
const ADDRESS_REPLY: u8 = 18;

impl Stack {
    pub(crate) fn icmp_input(&mut self, rx: &IpRx<'_>) {
        self.stats.icmp.in_msgs += 1;
        let packet = match Icmpv4Packet::new_checked(rx.payload) {
            Ok(p) => p,
            Err(e) => {
                // icmp_rcv validates the checksum before the length: a short message with a bad
                // checksum is a checksum error.
                let csum_bad = matches!(e, Icmpv4Error::BadChecksum { .. })
                    || !checksum::verify(checksum::sum(rx.payload));
                self.stats.icmp.in_errors += 1;
                if csum_bad {
                    self.stats.icmp.in_csum_errors += 1;
                    return self.drop_frame(DropReason::IcmpChecksum, &e);
                }
                return self.drop_frame(DropReason::IcmpTruncated, &e);
            }
        };
        let (msg_type, code) = (packet.msg_type(), packet.code());
        count_type(&mut self.stats, msg_type, false);
        if msg_type > NR_ICMP_TYPES {
            self.stats.icmp.in_errors += 1;
            return self.drop_frame(
                DropReason::IcmpUnsupported,
                &format_args!("type {msg_type}"),
            );
        }
        if rx.broadcast {
            // RFC 1122 §3.2.2.6 and §3.2.2.8: answer broadcast echo/timestamp only if allowed;
            // other types to broadcast are errors.
            let echo_like = msg_type == types::ECHO_REQUEST || msg_type == types::TIMESTAMP;
            let allowed = if echo_like {
                !self.config.sysctls.icmp_echo_ignore_broadcasts
            } else {
                msg_type == ADDRESS || msg_type == ADDRESS_REPLY
            };
            if !allowed {
                self.stats.icmp.in_errors += 1;
                return self.drop_frame(
                    DropReason::IcmpBroadcast,
                    &format_args!("type {msg_type} to {}", rx.dst()),
                );
            }
        }
        match msg_type {
            types::ECHO_REQUEST => {
                if self.config.sysctls.icmp_echo_ignore_all {
                    return self.drop_frame(DropReason::IcmpEchoIgnored, &"icmp_echo_ignore_all");
                }
                debug!(target: "udpstack::icmp", src = %rx.src(), id = packet.ident(), seq = packet.seq_no(), "echo request");
                // icmp_echo: the request's header with only the type changed (identifier,
                // sequence and code kept), the same data.
                self.icmp_reply(rx, &packet, types::ECHO_REPLY, code, packet.body());
            }
            types::ECHO_REPLY => {
                self.drop_frame(
                    DropReason::IcmpEchoReplyUnwanted,
                    &format_args!("from {}", rx.src()),
                );
            }
            types::DST_UNREACHABLE
            | types::SOURCE_QUENCH
            | types::TIME_EXCEEDED
            | types::PARAM_PROBLEM => {
                self.icmp_unreach(rx, &packet);
            }
            types::REDIRECT => self.icmp_redirect(rx, &packet),
            types::TIMESTAMP => self.icmp_timestamp(rx, &packet),
            _ => {
                // Timestamp replies, address masks and obsolete types: handled by doing
                // nothing, as `icmp_discard` does.
                self.stats.rx_consumed += 1;
                debug!(target: "udpstack::icmp", msg_type, code, src = %rx.src(), "ignored");
            }
        }
    }

    /// `icmp_timestamp`: a request carrying at least its originate timestamp is answered with
    /// a 20-byte timestamp reply (code 0, the request's identifier and sequence number, its
    /// originate timestamp, and milliseconds since midnight UT as both receive and transmit
    /// timestamps), from the address asked (ours for a broadcast), with the request's TOS and
    /// its record route echoed, as `icmp_reply` does. Shorter: Icmp InErrors.
    fn icmp_timestamp(&mut self, rx: &IpRx<'_>, packet: &Icmpv4Packet<&[u8]>) {
        let Some(originate) = packet.body().get(..4) else {
            self.stats.icmp.in_errors += 1;
            return self.drop_frame(
                DropReason::IcmpTruncated,
                &format_args!("timestamp request of {} bytes", 8 + packet.body().len()),
            );
        };
        let Some(now) = self.ms_since_midnight() else {
            self.stats.rx_consumed += 1;
            debug!(target: "udpstack::icmp", src = %rx.src(), "timestamp request ignored: no wall clock (Stack::set_wall_clock)");
            return;
        };
        let mut body = [0u8; 12];
        body[..4].copy_from_slice(originate);
        body[4..8].copy_from_slice(&now.to_be_bytes());
        body[8..].copy_from_slice(&now.to_be_bytes());
        debug!(target: "udpstack::icmp", src = %rx.src(), now, "timestamp request");
        self.icmp_reply(rx, packet, types::TIMESTAMP_REPLY, 0, &body);
    }

    /// `icmp_reply`: answers `request` (which came in `rx`) with a message of `msg_type` and
    /// `code` carrying the request's identifier and sequence number and `body`, sent from the
    /// address asked (ours for a broadcast) with the request's TOS and its record route echoed
    /// (`ip_options_echo`: if it cannot be echoed there is no reply, and the frame counts as
    /// dropped).
    fn icmp_reply(
        &mut self,
        rx: &IpRx<'_>,
        request: &Icmpv4Packet<&[u8]>,
        msg_type: u8,
        code: u8,
        body: &[u8],
    ) {
        let from = self.spec_dst(rx.dst(), rx.broadcast);
        let tos = (rx.header.dscp << 2) | rx.header.ecn;
        let header = rx.packet.get(..rx.header.header_len()).unwrap_or(&[]);
        let Some(options) = crate::ip::options::echo(header, rx.options, from) else {
            return self.drop_frame(DropReason::IpOptions, &"options cannot be echoed");
        };
        self.stats.rx_consumed += 1;
        let ids = (request.ident(), request.seq_no());
        self.icmp_send_reply((msg_type, code), ids, body, (from, rx.src()), tos, options);
    }

    /// `icmp_unreach`: checks the quote (L1.1) and hands the error to the transport
    /// (`icmp_socket_deliver`).
    fn icmp_unreach(&mut self, rx: &IpRx<'_>, packet: &Icmpv4Packet<&[u8]>) {
        let (msg_type, code) = (packet.msg_type(), packet.code());
        // The quoted IP header: 20 bytes with IHL ≥ 5 (pskb_may_pull of a struct iphdr,
        // "mangled header"). The rest of a longer header is checked later, with the 8 bytes
        // after it (icmp_socket_deliver).
        match Ipv4Packet::new_lax(packet.body()) {
            Ok(_) | Err(Ipv4Error::HeaderTruncated { .. }) => {}
            Err(e) => {
                self.stats.icmp.in_errors += 1;
                return self.drop_frame(DropReason::IcmpBadQuote, &e);
            }
        }
        let quoted = Ipv4Packet::new_unchecked(packet.body());
        if msg_type == types::DST_UNREACHABLE && code > NR_ICMP_UNREACH {
            return self.drop_frame(
                DropReason::IcmpUnsupported,
                &format_args!("unreachable code {code}"),
            );
        }
        if msg_type == types::DST_UNREACHABLE
            && code == 4
            && self.config.sysctls.ip_no_pmtu_disc >= 2
        {
            // L1.8, icmp_unreach: ip_no_pmtu_disc 2 discards fragmentation-needed messages, 3
            // keeps them only for protocols that validate them (icmp_tag_validation: not UDP).
            self.stats.rx_consumed += 1;
            debug!(target: "udpstack::icmp", src = %rx.src(), "fragmentation needed discarded (ip_no_pmtu_disc)");
            return;
        }
        if msg_type == types::TIME_EXCEEDED && code == 1 {
            // Reassembly timeouts are not the sender's business (L1.1).
            self.stats.rx_consumed += 1;
            return;
        }
        if !self.config.sysctls.icmp_ignore_bogus_error_responses
            && route::is_broadcast(&self.config.iface, quoted.dst())
        {
            // icmp_unreach: "some routers send bogus responses to broadcast frames". With
            // icmp_ignore_bogus_error_responses *off* (the check is inverted; on, the default,
            // only silences a warning) an error about a packet to one of our broadcast
            // addresses is dropped before any transport sees it, with no counter.
            self.stats.rx_consumed += 1;
            debug!(target: "udpstack::icmp", msg_type, code, src = %rx.src(), dst = %quoted.dst(), "error about a broadcast ignored");
            return;
        }
        // icmp_socket_deliver: the quoted header plus 8 bytes must be there.
        let quote = match Quote::parse(packet.body()) {
            Ok(q) => q,
            Err(e) => {
                self.stats.icmp.in_errors += 1;
                return self.drop_frame(DropReason::IcmpBadQuote, &e);
            }
        };
        // A source quench goes on to the transport too: __udp4_lib_err looks the socket up (and
        // counts InErrors if there is none) before ignoring it (L1.3).
        self.icmp_socket_deliver(rx, packet, &quote);
    }

    /// `icmp_redirect`: handed to the transport like an error; UDP's handler looks the quoted
    /// datagram's socket up (InErrors when there is none) and, if found, lets the route to its
    /// destination follow the redirect (L1.1, `ip::redirect`).
    fn icmp_redirect(&mut self, rx: &IpRx<'_>, packet: &Icmpv4Packet<&[u8]>) {
        match Quote::parse(packet.body()) {
            Ok(quote) => self.icmp_socket_deliver(rx, packet, &quote),
            Err(e) => {
                self.stats.icmp.in_errors += 1;
                self.drop_frame(DropReason::IcmpBadQuote, &e);
            }
        }
    }

    /// `icmp_socket_deliver`: hands an error to the err_handler of the quoted protocol.
    fn icmp_socket_deliver(
        &mut self,
        rx: &IpRx<'_>,
        packet: &Icmpv4Packet<&[u8]>,
        quote: &Quote<'_>,
    ) {
        let protocol = quote.ip().protocol();
        if protocol != IpProtocol::Udp {
            // No other transport of ours can have sent the quoted packet. In Linux TCP's handler
            // (tcp_v4_err) finds no socket and counts InErrors; ICMP's (icmp_err → ping_err) and
            // protocols without a handler count nothing.
            if protocol == IpProtocol::Tcp {
                self.stats.icmp.in_errors += 1;
            }
            return self.drop_frame(
                DropReason::IcmpNoSocket,
                &format_args!("quotes protocol {}", u8::from(protocol)),
            );
        }
        self.udp_err(rx, packet, quote);
    }
}
