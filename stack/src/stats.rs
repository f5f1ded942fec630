//! Counters: the kernel's SNMP MIBs as `/proc/net/snmp` and `/proc/net/netstat` show them, and
//! a table of drop reasons in which every frame the stack discards is counted exactly once.
//!
//! The SNMP counters follow Linux, including its double counting (a UDP checksum failure bumps
//! both `Udp: InCsumErrors` and `Udp: InErrors`), so that a run can be compared with a kernel's
//! counters line by line. The drop table is udpstack's own, in the spirit of the kernel's
//! `SKB_DROP_REASON_*`: one reason per discarded frame, so that "every frame in was delivered,
//! consumed, or dropped for exactly one named reason" can be checked.

use core::fmt::Write as _;

macro_rules! mib {
    ($(#[$meta:meta])* $name:ident, $section:literal { $($(#[$fmeta:meta])* $field:ident => $label:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: u64,)*
        }

        impl $name {
            /// The section name, as it starts each line in /proc.
            pub const SECTION: &'static str = $section;
            /// The counter names in /proc order.
            pub const NAMES: &'static [&'static str] = &[$($label),*];

            /// The counter values in /proc order.
            pub fn values(&self) -> Vec<u64> {
                vec![$(self.$field),*]
            }
        }
    };
}

mib! {
    /// `Ip:` of /proc/net/snmp (after the `Forwarding` and `DefaultTTL` settings).
    IpStats, "Ip" {
        /// Datagrams received from the link, errors included.
        in_receives => "InReceives",
        /// Header errors: bad version or IHL, truncated header, bad checksum, bad options.
        in_hdr_errors => "InHdrErrors",
        /// Not for us (udpstack does not forward).
        in_addr_errors => "InAddrErrors",
        /// Forwarded datagrams: always 0.
        forw_datagrams => "ForwDatagrams",
        /// Datagrams for an unknown protocol.
        in_unknown_protos => "InUnknownProtos",
        /// Datagrams discarded for lack of resources.
        in_discards => "InDiscards",
        /// Datagrams delivered to ICMP, UDP (or refused by them).
        in_delivers => "InDelivers",
        /// Datagrams handed to IP for sending, before fragmentation.
        out_requests => "OutRequests",
        /// Outgoing datagrams discarded (transmit queue full, neighbour queue overflow).
        out_discards => "OutDiscards",
        /// Sends with no route.
        out_no_routes => "OutNoRoutes",
        /// Reassembly timeouts.
        reasm_timeout => "ReasmTimeout",
        /// Fragments received.
        reasm_reqds => "ReasmReqds",
        /// Datagrams reassembled.
        reasm_oks => "ReasmOKs",
        /// Reassembly failures.
        reasm_fails => "ReasmFails",
        /// Datagrams fragmented.
        frag_oks => "FragOKs",
        /// Datagrams that needed fragmenting but could not be.
        frag_fails => "FragFails",
        /// Fragments created.
        frag_creates => "FragCreates",
        /// Packets handed to the link (after fragmentation).
        out_transmits => "OutTransmits",
    }
}

mib! {
    /// `IpExt:` of /proc/net/netstat.
    IpExtStats, "IpExt" {
        /// Received with no route (unused: everything for us is routable).
        in_no_routes => "InNoRoutes",
        /// Total length beyond the frame.
        in_truncated_pkts => "InTruncatedPkts",
        /// Multicast datagrams received.
        in_mcast_pkts => "InMcastPkts",
        /// Multicast datagrams sent.
        out_mcast_pkts => "OutMcastPkts",
        /// Broadcast datagrams received.
        in_bcast_pkts => "InBcastPkts",
        /// Broadcast datagrams sent.
        out_bcast_pkts => "OutBcastPkts",
        /// Bytes received (IP total lengths).
        in_octets => "InOctets",
        /// Bytes sent.
        out_octets => "OutOctets",
        /// Multicast bytes received.
        in_mcast_octets => "InMcastOctets",
        /// Multicast bytes sent.
        out_mcast_octets => "OutMcastOctets",
        /// Broadcast bytes received.
        in_bcast_octets => "InBcastOctets",
        /// Broadcast bytes sent.
        out_bcast_octets => "OutBcastOctets",
        /// Header checksum errors.
        in_csum_errors => "InCsumErrors",
        /// Received with ECN "not ECT".
        in_no_ect_pkts => "InNoECTPkts",
        /// Received with ECT(1).
        in_ect1_pkts => "InECT1Pkts",
        /// Received with ECT(0).
        in_ect0_pkts => "InECT0Pkts",
        /// Received with CE.
        in_ce_pkts => "InCEPkts",
        /// Fragment queues discarded for overlapping fragments.
        reasm_overlaps => "ReasmOverlaps",
    }
}

mib! {
    /// `Icmp:` of /proc/net/snmp.
    IcmpStats, "Icmp" {
        /// Messages received, errors included.
        in_msgs => "InMsgs",
        /// Messages with errors (checksum, length, unknown type, broadcast echo ignored, ...).
        in_errors => "InErrors",
        /// Checksum errors.
        in_csum_errors => "InCsumErrors",
        /// Destination unreachable received.
        in_dest_unreachs => "InDestUnreachs",
        /// Time exceeded received.
        in_time_excds => "InTimeExcds",
        /// Parameter problem received.
        in_parm_probs => "InParmProbs",
        /// Source quench received.
        in_src_quenchs => "InSrcQuenchs",
        /// Redirects received.
        in_redirects => "InRedirects",
        /// Echo requests received.
        in_echos => "InEchos",
        /// Echo replies received.
        in_echo_reps => "InEchoReps",
        /// Timestamp requests received.
        in_timestamps => "InTimestamps",
        /// Timestamp replies received.
        in_timestamp_reps => "InTimestampReps",
        /// Address mask requests received.
        in_addr_masks => "InAddrMasks",
        /// Address mask replies received.
        in_addr_mask_reps => "InAddrMaskReps",
        /// Messages sent.
        out_msgs => "OutMsgs",
        /// Messages not sent for lack of resources.
        out_errors => "OutErrors",
        /// Messages not sent because of the global rate limit (L5.7).
        out_rate_limit_global => "OutRateLimitGlobal",
        /// Messages not sent because of the per-destination rate limit (L5.7).
        out_rate_limit_host => "OutRateLimitHost",
        /// Destination unreachable sent.
        out_dest_unreachs => "OutDestUnreachs",
        /// Time exceeded sent.
        out_time_excds => "OutTimeExcds",
        /// Parameter problem sent.
        out_parm_probs => "OutParmProbs",
        /// Source quench sent.
        out_src_quenchs => "OutSrcQuenchs",
        /// Redirects sent.
        out_redirects => "OutRedirects",
        /// Echo requests sent.
        out_echos => "OutEchos",
        /// Echo replies sent.
        out_echo_reps => "OutEchoReps",
        /// Timestamp requests sent.
        out_timestamps => "OutTimestamps",
        /// Timestamp replies sent.
        out_timestamp_reps => "OutTimestampReps",
        /// Address mask requests sent.
        out_addr_masks => "OutAddrMasks",
        /// Address mask replies sent.
        out_addr_mask_reps => "OutAddrMaskReps",
    }
}

mib! {
    /// `Udp:` of /proc/net/snmp (L5.5).
    UdpStats, "Udp" {
        /// Datagrams handed to a reader by a non-peeking recv (not counted on arrival).
        in_datagrams => "InDatagrams",
        /// Datagrams for a port nobody listens on.
        no_ports => "NoPorts",
        /// Every receive drop: bad length, checksum, full buffers.
        in_errors => "InErrors",
        /// Datagrams handed to IP.
        out_datagrams => "OutDatagrams",
        /// Receive buffer full.
        rcvbuf_errors => "RcvbufErrors",
        /// Send buffer full or no transmit room.
        sndbuf_errors => "SndbufErrors",
        /// Checksum errors (always with InErrors).
        in_csum_errors => "InCsumErrors",
        /// Broadcast datagrams nobody wanted.
        ignored_multi => "IgnoredMulti",
        /// udp_mem exhausted.
        mem_errors => "MemErrors",
    }
}

mib! {
    /// udpstack's link-level, neighbour and routing counters (Linux keeps these in /proc/net/dev
    /// and /proc/net/stat/arp_cache, and only logs redirects).
    LinkStats, "Link" {
        /// Frames handed to `handle_frame`.
        rx_frames => "RxFrames",
        /// Frames sent.
        tx_frames => "TxFrames",
        /// Packets received from the loopback device (sent to ourselves).
        loopback_rx => "LoopbackRx",
        /// ARP packets received and processed.
        arp_in => "ArpIn",
        /// ARP requests sent.
        arp_requests_out => "ArpRequestsOut",
        /// ARP replies sent.
        arp_replies_out => "ArpRepliesOut",
        /// Frames dropped from a neighbour's queue (Linux `unres_discards`).
        unres_discards => "UnresDiscards",
        /// Neighbour resolutions that failed.
        neigh_failures => "NeighFailures",
        /// ICMP redirects followed: a destination now goes through the gateway they named.
        redirects_applied => "RedirectsApplied",
        /// ICMP redirects refused (not from the current gateway, a bad new gateway, or
        /// `accept_redirects` off), or put off while the new gateway is being resolved.
        redirects_ignored => "RedirectsIgnored",
    }
}

mib! {
    /// udpstack's own counters of datagrams at sockets, for the conservation checker
    /// ([`Stack::audit`](crate::Stack::audit)): every copy offered to a socket is queued or
    /// refused (`RcvbufErrors`, `MemErrors`); every queued one is read (`InDatagrams`), still
    /// queued, or discarded when its socket closed.
    SocketStats, "Sockets" {
        /// Datagram copies offered to a socket's queue (one per socket a broadcast reaches).
        offered => "Offered",
        /// Of those, queued.
        queued => "Queued",
        /// Queued datagrams discarded unread because their socket was closed.
        discarded_on_close => "DiscardedOnClose",
    }
}

/// Why the stack discarded a frame or a datagram. Each discarded frame is counted under exactly
/// one reason (see [`Stats::drops`]), and traced with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    EthernetTruncated,
    /// An 802.1Q/802.1ad tagged frame.
    EthernetVlan,
    /// An EtherType other than IPv4 or ARP, or an 802.3 length field.
    EthernetUnsupported,
    /// Unicast to another MAC address (Linux `PACKET_OTHERHOST`).
    OtherHost,
    /// An ARP packet udpstack cannot use (malformed, not Ethernet/IPv4, unknown operation).
    ArpInvalid,
    /// IPv4 header errors (`InHdrErrors`).
    IpHeader,
    /// IPv4 header checksum (`InCsumErrors`, `InHdrErrors`).
    IpChecksum,
    /// IPv4 total length beyond the frame (`InTruncatedPkts`).
    IpTruncated,
    /// Malformed IPv4 options (`InHdrErrors`; a parameter problem is sent).
    IpOptions,
    /// Not addressed to us (`InAddrErrors`).
    IpNotForUs,
    /// A source address no host may use (multicast, broadcast, loopback, our own, 0.0.0.0 to
    /// unicast).
    IpMartianSource,
    /// A destination no packet from the wire may have (0.0.0.0, loopback, an unjoined multicast
    /// group).
    IpMartianDestination,
    /// A source-routed packet (LSRR, SSRR): Linux drops them unless `accept_source_route`.
    IpSourceRoute,
    /// A fragment lying entirely inside data already held (L4.5).
    IpReasmDuplicate,
    /// A fragment overlapping held data: its whole queue is discarded (`ReasmOverlaps`,
    /// `ReasmFails`, L4.5).
    IpReasmOverlap,
    /// Reassembly memory above `ipfrag_high_thresh` (`ReasmFails`, L4.3).
    IpReasmMemory,
    /// A fragment that contradicts its queue (lengths, past the end, empty, over 65535, ECN):
    /// the queue is discarded (`ReasmFails`, L4.6).
    IpReasmInvalid,
    /// A protocol other than ICMP and UDP (`InUnknownProtos`; protocol unreachable is sent).
    IpUnknownProtocol,
    /// ICMP shorter than its header (`Icmp: InErrors`).
    IcmpTruncated,
    /// ICMP checksum (`Icmp: InCsumErrors`, `InErrors`).
    IcmpChecksum,
    /// An ICMP type or code udpstack does not handle (`Icmp: InErrors` for unknown types).
    IcmpUnsupported,
    /// An echo request to a broadcast address, ignored (`icmp_echo_ignore_broadcasts`), or any
    /// non-echo ICMP sent to broadcast (`Icmp: InErrors`).
    IcmpBroadcast,
    /// An echo request while `icmp_echo_ignore_all` is set.
    IcmpEchoIgnored,
    /// An echo reply: udpstack has no ping sockets to give it to.
    IcmpEchoReplyUnwanted,
    /// An ICMP error whose quote is too short or has IHL < 5 (`Icmp: InErrors`, L1.1).
    IcmpBadQuote,
    /// An ICMP error quoting no socket of ours (`Icmp: InErrors`, L1.4).
    IcmpNoSocket,
    /// UDP length errors (`Udp: InErrors`, L5.1).
    UdpLength,
    /// UDP checksum (`Udp: InCsumErrors`, `InErrors`, L5.2).
    UdpChecksum,
    /// No socket on the port (`Udp: NoPorts`, L5.4).
    UdpNoPort,
    /// A broadcast datagram no socket wanted (`Udp: IgnoredMulti`, L5.3).
    UdpIgnoredBroadcast,
    /// The socket's receive buffer was full (`Udp: RcvbufErrors`, `InErrors`, L6.3).
    UdpRcvbuf,
    /// `udp_mem` was exhausted (`Udp: MemErrors`, `InErrors`, L6.4).
    UdpMem,
    /// A frame to send found the transmit queue full (`Ip: OutDiscards`).
    TxQueueFull,
    /// A frame to send was larger than the buffer given to `poll_transmit`.
    TxBufferTooSmall,
    /// Dropped from a neighbour's queue to make room (`unres_discards`).
    NeighborQueueOverflow,
    /// Its neighbour could not be resolved.
    NeighborFailed,
    /// The neighbour table was full (`gc_thresh3`) and nothing could be evicted.
    NeighborTableFull,
}

impl DropReason {
    /// Every reason, in declaration order.
    pub const ALL: &'static [DropReason] = &[
        DropReason::EthernetTruncated,
        DropReason::EthernetVlan,
        DropReason::EthernetUnsupported,
        DropReason::OtherHost,
        DropReason::ArpInvalid,
        DropReason::IpHeader,
        DropReason::IpChecksum,
        DropReason::IpTruncated,
        DropReason::IpOptions,
        DropReason::IpNotForUs,
        DropReason::IpMartianSource,
        DropReason::IpMartianDestination,
        DropReason::IpSourceRoute,
        DropReason::IpReasmDuplicate,
        DropReason::IpReasmOverlap,
        DropReason::IpReasmMemory,
        DropReason::IpReasmInvalid,
        DropReason::IpUnknownProtocol,
        DropReason::IcmpTruncated,
        DropReason::IcmpChecksum,
        DropReason::IcmpUnsupported,
        DropReason::IcmpBroadcast,
        DropReason::IcmpEchoIgnored,
        DropReason::IcmpEchoReplyUnwanted,
        DropReason::IcmpBadQuote,
        DropReason::IcmpNoSocket,
        DropReason::UdpLength,
        DropReason::UdpChecksum,
        DropReason::UdpNoPort,
        DropReason::UdpIgnoredBroadcast,
        DropReason::UdpRcvbuf,
        DropReason::UdpMem,
        DropReason::TxQueueFull,
        DropReason::TxBufferTooSmall,
        DropReason::NeighborQueueOverflow,
        DropReason::NeighborFailed,
        DropReason::NeighborTableFull,
    ];

    /// Whether this reason discards a received frame (as opposed to one being sent).
    pub fn is_receive(self) -> bool {
        !matches!(
            self,
            DropReason::TxQueueFull
                | DropReason::TxBufferTooSmall
                | DropReason::NeighborQueueOverflow
                | DropReason::NeighborFailed
                | DropReason::NeighborTableFull
        )
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }
}

/// All of the stack's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `Ip:`.
    pub ip: IpStats,
    /// `IpExt:`.
    pub ip_ext: IpExtStats,
    /// `Icmp:`.
    pub icmp: IcmpStats,
    /// `IcmpMsg:` InType*N*: messages received per ICMP type.
    pub icmp_in_types: IcmpTypeCounts,
    /// `IcmpMsg:` OutType*N*: messages sent per ICMP type.
    pub icmp_out_types: IcmpTypeCounts,
    /// `Udp:`.
    pub udp: UdpStats,
    /// Link and neighbour counters.
    pub link: LinkStats,
    /// Datagrams at sockets.
    pub sockets: SocketStats,
    /// Received frames consumed by the stack itself (ARP, echo requests, ICMP errors handled).
    pub rx_consumed: u64,
    /// Received datagrams queued on at least one socket.
    pub rx_delivered: u64,
    drops: DropCounts,
}

/// A counter per ICMP type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpTypeCounts(pub [u64; 256]);

impl Default for IcmpTypeCounts {
    fn default() -> Self {
        IcmpTypeCounts([0; 256])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DropCounts(Vec<u64>);

impl Default for DropCounts {
    fn default() -> Self {
        DropCounts(vec![0; DropReason::ALL.len()])
    }
}

impl Stats {
    /// Counts one discarded frame under `reason`.
    pub(crate) fn drop(&mut self, reason: DropReason) {
        if let Some(c) = self.drops.0.get_mut(reason.index()) {
            *c += 1;
        }
    }

    /// How many frames were discarded for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// Received frames discarded, all reasons together.
    pub fn rx_dropped(&self) -> u64 {
        DropReason::ALL
            .iter()
            .filter(|r| r.is_receive())
            .map(|&r| self.drops(r))
            .sum()
    }

    /// `/proc/net/snmp`'s `Ip:`, `Icmp:`, `IcmpMsg:` and `Udp:` lines, exactly in the kernel's
    /// layout (a header line and a value line per section; `IcmpMsg:` only when some type was
    /// counted). `Tcp:` and `UdpLite:` are left out: udpstack has neither.
    pub fn snmp(&self, default_ttl: u8) -> String {
        let mut out = String::new();
        // Forwarding: 2 means "not a router" (RFC 1213 ipForwarding).
        let mut ip_names = vec!["Forwarding", "DefaultTTL"];
        ip_names.extend_from_slice(IpStats::NAMES);
        let mut ip_values = vec![2, u64::from(default_ttl)];
        ip_values.extend(self.ip.values());
        section(&mut out, IpStats::SECTION, &ip_names, &ip_values);
        section(
            &mut out,
            IcmpStats::SECTION,
            IcmpStats::NAMES,
            &self.icmp.values(),
        );
        self.icmp_msg(&mut out);
        section(
            &mut out,
            UdpStats::SECTION,
            UdpStats::NAMES,
            &self.udp.values(),
        );
        out
    }

    /// `/proc/net/netstat`'s `IpExt:` lines.
    pub fn netstat(&self) -> String {
        let mut out = String::new();
        section(
            &mut out,
            IpExtStats::SECTION,
            IpExtStats::NAMES,
            &self.ip_ext.values(),
        );
        out
    }

    /// udpstack's own counters: the link section, frames consumed and delivered, and every drop
    /// reason with a non-zero count, one `name count` pair per line.
    pub fn extended(&self) -> String {
        let mut out = String::new();
        section(
            &mut out,
            LinkStats::SECTION,
            LinkStats::NAMES,
            &self.link.values(),
        );
        section(
            &mut out,
            SocketStats::SECTION,
            SocketStats::NAMES,
            &self.sockets.values(),
        );
        let _ = writeln!(out, "RxConsumed {}", self.rx_consumed);
        let _ = writeln!(out, "RxDelivered {}", self.rx_delivered);
        for &reason in DropReason::ALL {
            let n = self.drops(reason);
            if n > 0 {
                let _ = writeln!(out, "Drop{reason:?} {n}");
            }
        }
        out
    }

    /// Like the kernel's `icmpmsg_put`: every non-zero InType then OutType, at most 16 per line
    /// pair.
    fn icmp_msg(&self, out: &mut String) {
        let counts: Vec<(String, u64)> = (0..256)
            .filter_map(|t| {
                let n = self.icmp_in_types.0.get(t).copied().unwrap_or(0);
                (n > 0).then(|| (format!("InType{t}"), n))
            })
            .chain((0..256).filter_map(|t| {
                let n = self.icmp_out_types.0.get(t).copied().unwrap_or(0);
                (n > 0).then(|| (format!("OutType{t}"), n))
            }))
            .collect();
        for chunk in counts.chunks(16) {
            let names: Vec<&str> = chunk.iter().map(|(n, _)| n.as_str()).collect();
            let values: Vec<u64> = chunk.iter().map(|&(_, v)| v).collect();
            section(out, "IcmpMsg", &names, &values);
        }
    }
}

/// One `Section: names` line and one `Section: values` line.
fn section(out: &mut String, name: &str, names: &[&str], values: &[u64]) {
    let _ = write!(out, "{name}:");
    for n in names {
        let _ = write!(out, " {n}");
    }
    let _ = write!(out, "\n{name}:");
    for v in values {
        let _ = write!(out, " {v}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_layout_is_the_kernel_s() {
        let mut s = Stats::default();
        s.ip.in_receives = 5;
        s.udp.no_ports = 1;
        s.icmp_in_types.0[3] = 1;
        s.icmp_out_types.0[0] = 2;
        let text = s.snmp(64);
        let lines: Vec<&str> = text.lines().collect();
        // Header lines copied from Linux 6.18's /proc/net/snmp.
        assert_eq!(lines[0], "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits");
        assert_eq!(lines[1], "Ip: 2 64 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
        assert_eq!(lines[2], "Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps");
        assert_eq!(lines[4], "IcmpMsg: InType3 OutType0");
        assert_eq!(lines[5], "IcmpMsg: 1 2");
        assert_eq!(lines[6], "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors");
        assert_eq!(lines[7], "Udp: 0 1 0 0 0 0 0 0 0");
        assert_eq!(lines.len(), 8);
        let ext = s.netstat();
        assert!(ext.starts_with("IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps\n"));
    }

    #[test]
    fn no_icmp_msg_lines_when_nothing_counted() {
        assert!(!Stats::default().snmp(64).contains("IcmpMsg"));
    }

    #[test]
    fn drops_are_counted_once_per_reason() {
        let mut s = Stats::default();
        s.drop(DropReason::UdpNoPort);
        s.drop(DropReason::UdpNoPort);
        s.drop(DropReason::TxQueueFull);
        assert_eq!(s.drops(DropReason::UdpNoPort), 2);
        assert_eq!(s.rx_dropped(), 2);
        assert!(s.extended().contains("DropUdpNoPort 2\n"));
        assert!(!s.extended().contains("DropIpHeader"));
        assert_eq!(
            DropReason::ALL.len(),
            DropReason::ALL
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }
}
