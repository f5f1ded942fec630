//! ICMP errors to sockets (Linux's `__udp4_lib_err` and `ip_icmp_error`): the quoted datagram is
//! matched to a socket (L1.4), its type and code become an errno (L1.2, L1.3), and the error is
//! recorded as Linux records it (L1.5): without IP_RECVERR only a fatal error on a connected
//! socket, with IP_RECVERR every error, queued on the error queue (L1.7) and pending.

use std::net::SocketAddrV4;

use tracing::debug;

use super::memory::UdpMemory;
use super::socket::{ErrQueueEntry, ErrorOrigin, ExtendedError, PmtuMode};
use crate::errno::Errno;
use crate::iface::stack::Stack;
use crate::ip::input::IpRx;
use crate::stats::DropReason;
use crate::wire::icmpv4::{types, Quote};
use crate::wire::Icmpv4Packet;

/// `icmp_err_convert`: errno and whether the error is fatal ("hard"), for destination
/// unreachable codes 0..=15 (L1.2).
const UNREACH_ERRNO: [(Errno, bool); 16] = [
    (Errno::ENETUNREACH, false),  // 0 net unreachable
    (Errno::EHOSTUNREACH, false), // 1 host unreachable
    (Errno::ENOPROTOOPT, true),   // 2 protocol unreachable
    (Errno::ECONNREFUSED, true),  // 3 port unreachable
    (Errno::EMSGSIZE, false),     // 4 fragmentation needed (see L1.8)
    (Errno::EOPNOTSUPP, false),   // 5 source route failed
    (Errno::ENETUNREACH, true),   // 6 net unknown
    (Errno::EHOSTDOWN, true),     // 7 host unknown
    (Errno::ENONET, true),        // 8 host isolated
    (Errno::ENETUNREACH, true),   // 9 net prohibited
    (Errno::EHOSTUNREACH, true),  // 10 host prohibited
    (Errno::ENETUNREACH, false),  // 11 net unreachable for TOS
    (Errno::EHOSTUNREACH, false), // 12 host unreachable for TOS
    (Errno::EHOSTUNREACH, true),  // 13 administratively prohibited
    (Errno::EHOSTUNREACH, true),  // 14 host precedence violation
    (Errno::EHOSTUNREACH, true),  // 15 precedence cutoff
];

/// The errno of an ICMP error and whether it is fatal, or `None` if it reaches no socket
/// (L1.2, L1.3, L1.8).
pub(crate) fn icmp_errno(msg_type: u8, code: u8, mode: PmtuMode) -> Option<(Errno, bool)> {
    match msg_type {
        types::SOURCE_QUENCH | types::REDIRECT => None,
        types::PARAM_PROBLEM => Some((Errno::EPROTO, true)),
        types::DST_UNREACHABLE if code == 4 => {
            // L1.8: fatal EMSGSIZE, except that IP_PMTUDISC_DONT sockets hear nothing.
            (mode != PmtuMode::Dont).then_some((Errno::EMSGSIZE, true))
        }
        types::DST_UNREACHABLE => Some(
            UNREACH_ERRNO
                .get(usize::from(code))
                .copied()
                .unwrap_or((Errno::EHOSTUNREACH, false)),
        ),
        // Time exceeded, and any other type the kernel hands over.
        _ => Some((Errno::EHOSTUNREACH, false)),
    }
}

/// `ee_info` of an ICMP error: the next-hop MTU for fragmentation needed, the pointer for a
/// parameter problem, else 0.
fn icmp_info(packet: &Icmpv4Packet<&[u8]>, ip_no_pmtu_disc: u8) -> u32 {
    match (packet.msg_type(), packet.code()) {
        (types::DST_UNREACHABLE, 4) if ip_no_pmtu_disc == 0 => u32::from(packet.next_hop_mtu()),
        (types::PARAM_PROBLEM, _) => u32::from(packet.pointer()),
        _ => 0,
    }
}

impl Stack {
    /// An ICMP error quoting a UDP datagram.
    pub(crate) fn udp_err(
        &mut self,
        rx: &IpRx<'_>,
        packet: &Icmpv4Packet<&[u8]>,
        quote: &Quote<'_>,
    ) {
        let q = quote.ip();
        // L1.4: looked up like a datagram from the quoted destination to the quoted source.
        let from = SocketAddrV4::new(q.dst(), quote.dst_port());
        let to = SocketAddrV4::new(q.src(), quote.src_port());
        let Some(h) = self.sockets.lookup(from, to, &self.keys.reuseport) else {
            self.stats.icmp.in_errors += 1;
            return self.drop_frame(
                DropReason::IcmpNoSocket,
                &format_args!("quotes {to} -> {from}"),
            );
        };
        self.stats.rx_consumed += 1;
        let (msg_type, code) = (packet.msg_type(), packet.code());
        if msg_type == types::REDIRECT {
            // L1.1: ipv4_sk_redirect, and nothing for the socket itself.
            return self.ip_do_redirect(rx.src(), packet.gateway(), q.src(), q.dst(), code);
        }
        let info = icmp_info(packet, self.config.sysctls.ip_no_pmtu_disc);
        let icmp_truesize = rx.truesize;
        if msg_type == types::DST_UNREACHABLE && code == 4 {
            // L1.8: ipv4_sk_update_pmtu, unless the socket ignores path MTU (INTERFACE, OMIT).
            let accepts = self
                .sockets
                .get(h)
                .is_some_and(|s| s.pmtu_mode.accepts_pmtu());
            if accepts {
                self.learn_pmtu(*from.ip(), info as u16);
            }
        }
        let Some(s) = self.sockets.get_mut(h) else {
            return;
        };
        let Some((errno, fatal)) = icmp_errno(msg_type, code, s.pmtu_mode) else {
            debug!(target: "udpstack::udp", %h, msg_type, code, "icmp error ignored by socket");
            return;
        };
        if !s.recv_err {
            // L1.5: only fatal errors, and only on connected sockets.
            if !fatal || s.peer.is_none() {
                debug!(target: "udpstack::udp", %h, %errno, fatal, connected = s.peer.is_some(), "icmp error not recorded");
                return;
            }
        } else {
            // L1.7: queued if it fits (strictly below rcvbuf); the pending error is set anyway.
            if s.rmem_alloc + icmp_truesize < s.rcvbuf {
                UdpMemory::charge_error(s, icmp_truesize);
                s.err_queue.push_back(ErrQueueEntry {
                    error: ExtendedError {
                        errno,
                        origin: ErrorOrigin::Icmp,
                        icmp_type: msg_type,
                        icmp_code: code,
                        info,
                        data: 0,
                        offender: rx.src(),
                    },
                    addr: from,
                    payload: quote.rest().to_vec(),
                    truesize: icmp_truesize,
                });
            } else {
                debug!(target: "udpstack::udp", %h, "error queue entry dropped: receive buffer full");
            }
        }
        s.pending_error = Some(errno);
        debug!(target: "udpstack::udp", %h, %errno, msg_type, code, offender = %rx.src(), "socket error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_codes_map_like_icmp_err_convert() {
        // L1.2
        let want = [
            (0, Errno::ENETUNREACH, false),
            (1, Errno::EHOSTUNREACH, false),
            (2, Errno::ENOPROTOOPT, true),
            (3, Errno::ECONNREFUSED, true),
            (5, Errno::EOPNOTSUPP, false),
            (6, Errno::ENETUNREACH, true),
            (7, Errno::EHOSTDOWN, true),
            (8, Errno::ENONET, true),
            (9, Errno::ENETUNREACH, true),
            (10, Errno::EHOSTUNREACH, true),
            (11, Errno::ENETUNREACH, false),
            (12, Errno::EHOSTUNREACH, false),
            (13, Errno::EHOSTUNREACH, true),
            (14, Errno::EHOSTUNREACH, true),
            (15, Errno::EHOSTUNREACH, true),
        ];
        for (code, errno, fatal) in want {
            assert_eq!(
                icmp_errno(3, code, PmtuMode::Want),
                Some((errno, fatal)),
                "code {code}"
            );
        }
        // L1.8: frag needed is fatal EMSGSIZE, except in DONT mode.
        assert_eq!(
            icmp_errno(3, 4, PmtuMode::Want),
            Some((Errno::EMSGSIZE, true))
        );
        assert_eq!(icmp_errno(3, 4, PmtuMode::Dont), None);
    }

    #[test]
    fn other_types_map_like_udp_err() {
        // L1.3
        assert_eq!(
            icmp_errno(11, 0, PmtuMode::Want),
            Some((Errno::EHOSTUNREACH, false))
        );
        assert_eq!(
            icmp_errno(12, 0, PmtuMode::Want),
            Some((Errno::EPROTO, true))
        );
        assert_eq!(icmp_errno(4, 0, PmtuMode::Want), None);
        assert_eq!(icmp_errno(5, 1, PmtuMode::Want), None);
    }
}
