//! ICMP input (Linux's `icmp_rcv` and its per-type handlers): counters, echo replies, and
//! errors handed to the transport (`icmp_unreach`, L1.1).
//!
//! Types and codes are read raw from the header, not through [`Icmpv4Repr`], because the kernel
//! delivers some codes the wire layer's `Repr` has no name for (a time exceeded of code 2 still
//! reaches sockets as EHOSTUNREACH).

use tracing::debug;

use super::output::count_type;
use crate::iface::stack::Stack;
use crate::ip::input::IpRx;
use crate::stats::DropReason;
use crate::wire::icmpv4::{types, Quote};
use crate::wire::{checksum, Icmpv4Error, Icmpv4Packet};

/// `NR_ICMP_TYPES`: the highest type Linux knows.
const NR_ICMP_TYPES: u8 = 18;
/// `NR_ICMP_UNREACH`: the highest destination-unreachable code.
const NR_ICMP_UNREACH: u8 = 15;
const TIMESTAMP: u8 = 13;
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
            let echo_like = msg_type == types::ECHO_REQUEST || msg_type == TIMESTAMP;
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
                self.stats.rx_consumed += 1;
                // fib_compute_spec_dst: answer from the address asked, or ours for a broadcast.
                let from = if rx.broadcast { self.ip() } else { rx.dst() };
                let tos = (rx.header.dscp << 2) | rx.header.ecn;
                debug!(target: "udpstack::icmp", src = %rx.src(), id = packet.ident(), seq = packet.seq_no(), "echo request");
                self.icmp_echo_reply(
                    packet.ident(),
                    packet.seq_no(),
                    packet.body(),
                    rx.src(),
                    from,
                    tos,
                );
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
            _ => {
                // Redirects (ignored: udpstack keeps no route cache to update), timestamps (no
                // wall clock to answer from), address masks and obsolete types: handled by
                // doing nothing, as `icmp_discard` does.
                self.stats.rx_consumed += 1;
                debug!(target: "udpstack::icmp", msg_type, code, src = %rx.src(), "ignored");
            }
        }
    }

    /// `icmp_unreach`: checks the quote (L1.1) and hands the error to the transport.
    fn icmp_unreach(&mut self, rx: &IpRx<'_>, packet: &Icmpv4Packet<&[u8]>) {
        let (msg_type, code) = (packet.msg_type(), packet.code());
        let quote = match Quote::parse(packet.body()) {
            Ok(q) => q,
            Err(e) => {
                self.stats.icmp.in_errors += 1;
                return self.drop_frame(DropReason::IcmpBadQuote, &e);
            }
        };
        if msg_type == types::DST_UNREACHABLE && code > NR_ICMP_UNREACH {
            return self.drop_frame(
                DropReason::IcmpUnsupported,
                &format_args!("unreachable code {code}"),
            );
        }
        if msg_type == types::TIME_EXCEEDED && code == 1 {
            // Reassembly timeouts are not the sender's business (L1.1).
            self.stats.rx_consumed += 1;
            return;
        }
        if msg_type == types::SOURCE_QUENCH {
            // Deprecated (RFC 6633); Linux delivers it to nobody (L1.3).
            self.stats.rx_consumed += 1;
            return;
        }
        let protocol = quote.ip().protocol();
        if protocol != crate::wire::IpProtocol::Udp {
            // No other transport of ours can have sent the quoted packet.
            self.stats.icmp.in_errors += 1;
            return self.drop_frame(
                DropReason::IcmpNoSocket,
                &format_args!("quotes protocol {}", u8::from(protocol)),
            );
        }
        self.udp_err(rx, packet, &quote);
    }
}
