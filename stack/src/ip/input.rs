//! IPv4 input: Linux's `ip_rcv_core` checks, `ip_route_input_slow`'s verdict, options, and
//! delivery to ICMP or UDP (`ip_local_deliver`), with the kernel's counters at each step.

use std::net::Ipv4Addr;

use tracing::{debug, trace};

use crate::icmp::output::Offender;
use crate::iface::route::{self, InputRoute};
use crate::iface::stack::{LinkDst, Stack};
use crate::ip::options::{self, RxOptions};
use crate::ip::reassembly::{Outcome, ReasmDrop};
use crate::stats::DropReason;
use crate::udp::memory::truesize;
use crate::wire::ethernet;
use crate::wire::icmpv4::{DstUnreachable, Icmpv4Message, TimeExceeded};
use crate::wire::ipv4::{Ipv4Options, OptionError, HEADER_LEN};
use crate::wire::{IpProtocol, Ipv4Error, Ipv4Packet, Ipv4Repr};

/// IPv4 options that request source routing: loose (131) and strict (137).
const OPT_LSRR: u8 = 0x83;
const OPT_SSRR: u8 = 0x89;

/// A received IPv4 packet that passed the IP layer's checks and is for us.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpRx<'a> {
    /// The parsed header.
    pub header: Ipv4Repr,
    /// The whole packet, sliced to its total length (what an ICMP error quotes).
    pub packet: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
    /// Sent to one of our broadcast addresses.
    pub broadcast: bool,
    /// How the frame was addressed at the link layer.
    pub link: LinkDst,
    /// It arrived on the loopback device.
    pub looped: bool,
    /// What it is charged to a socket (L6.2): its frame's truesize, or for a reassembled
    /// datagram the sum of its fragments' (L4.6).
    pub truesize: usize,
    /// What `ip_options_compile` did with its options (record route).
    pub options: RxOptions,
}

impl IpRx<'_> {
    /// The source address.
    pub fn src(&self) -> Ipv4Addr {
        self.header.src
    }

    /// The destination address.
    pub fn dst(&self) -> Ipv4Addr {
        self.header.dst
    }

    /// This packet as the subject of an ICMP error.
    pub fn offender(&self) -> Offender<'_> {
        Offender {
            packet: self.packet,
            src: self.header.src,
            dst: self.header.dst,
            tos: (self.header.dscp << 2) | self.header.ecn,
            protocol: self.header.protocol,
            frag_offset: self.header.frag_offset,
            broadcast: self.broadcast,
            link: self.link,
            incoming_loopback: self.looped,
            rx_options: self.options,
        }
    }
}

impl Stack {
    /// Receives one IPv4 packet (Ethernet padding may follow it).
    pub(crate) fn ip_input(&mut self, data: &[u8], link: LinkDst, looped: bool) {
        // A packet whose record route we fill in is handled from a copy.
        let mut recorded = Vec::new();
        self.stats.ip.in_receives += 1;
        self.stats.ip_ext.in_octets += data.len() as u64;
        let checked = Ipv4Packet::new_checked(data);
        // ip_rcv_core counts the ECN codepoint as soon as the version and IHL are good, before
        // it pulls the whole header and verifies the checksum and the total length.
        let ecn_readable = match checked {
            Ok(_) => true,
            Err(e) => !matches!(
                e,
                Ipv4Error::Truncated { .. }
                    | Ipv4Error::BadVersion { .. }
                    | Ipv4Error::HeaderLenTooSmall { .. }
            ),
        };
        if ecn_readable {
            match data.get(1).map_or(0, |tos| tos & 0x03) {
                0 => self.stats.ip_ext.in_no_ect_pkts += 1,
                1 => self.stats.ip_ext.in_ect1_pkts += 1,
                2 => self.stats.ip_ext.in_ect0_pkts += 1,
                _ => self.stats.ip_ext.in_ce_pkts += 1,
            }
        }
        let packet = match checked {
            Ok(p) => p,
            Err(e) => {
                let reason = match e {
                    Ipv4Error::BadChecksum { .. } => {
                        self.stats.ip_ext.in_csum_errors += 1;
                        self.stats.ip.in_hdr_errors += 1;
                        DropReason::IpChecksum
                    }
                    Ipv4Error::TotalLenExceedsBuffer { .. } => {
                        self.stats.ip_ext.in_truncated_pkts += 1;
                        DropReason::IpTruncated
                    }
                    _ => {
                        self.stats.ip.in_hdr_errors += 1;
                        DropReason::IpHeader
                    }
                };
                return self.drop_frame(reason, &e);
            }
        };
        let (src, dst) = (packet.src(), packet.dst());
        let broadcast = match route::input(&self.config.iface, src, dst, looped) {
            InputRoute::Local => false,
            InputRoute::Broadcast => {
                self.stats.ip_ext.in_bcast_pkts += 1;
                self.stats.ip_ext.in_bcast_octets += u64::from(packet.total_len());
                true
            }
            InputRoute::MartianSource => {
                return self
                    .drop_frame(DropReason::IpMartianSource, &format_args!("{src} -> {dst}"));
            }
            InputRoute::MartianDestination => {
                return self.drop_frame(
                    DropReason::IpMartianDestination,
                    &format_args!("{src} -> {dst}"),
                );
            }
            InputRoute::NotForUs => {
                self.stats.ip.in_addr_errors += 1;
                return self.drop_frame(DropReason::IpNotForUs, &format_args!("{src} -> {dst}"));
            }
        };
        let whole = data.get(..usize::from(packet.total_len())).unwrap_or(data);
        let mut header = match Ipv4Repr::parse(&packet) {
            Ok(h) => h,
            Err(e) => {
                self.stats.ip.in_hdr_errors += 1;
                self.drop_frame(DropReason::IpOptions, &e);
                if let Ipv4Error::BadOption(
                    OptionError::MissingLength { offset, .. }
                    | OptionError::BadLength { offset, .. },
                ) = e
                {
                    // ip_options_compile: a parameter problem pointing at the bad option.
                    let offender = Offender::from_view(&packet, whole, broadcast, link, looped);
                    self.icmp_param_problem(&offender, offset as u8);
                }
                return;
            }
        };
        if header
            .options
            .iter()
            .any(|o| o.kind == OPT_LSRR || o.kind == OPT_SSRR)
        {
            // accept_source_route is off by default: ip_rcv_options drops these silently.
            return self.drop_frame(DropReason::IpSourceRoute, &format_args!("{src} -> {dst}"));
        }
        let header_len = header.header_len();
        let mut rx_options = RxOptions::default();
        let mut whole = whole;
        if header.options.iter().any(|o| o.kind == options::OPT_RR) {
            // ip_options_compile: our address goes into the record route.
            recorded.extend_from_slice(whole);
            let copied = recorded.get_mut(..header_len).unwrap_or(&mut []);
            let spec_dst = self.spec_dst(dst, broadcast);
            match options::record_route_on_input(copied, &header.options, spec_dst) {
                Ok(o) => rx_options = o,
                Err(pointer) => {
                    self.stats.ip.in_hdr_errors += 1;
                    self.drop_frame(
                        DropReason::IpOptions,
                        &format_args!("record route: bad pointer at {pointer}"),
                    );
                    let offender = Offender::from_view(&packet, whole, broadcast, link, looped);
                    self.icmp_param_problem(&offender, pointer as u8);
                    return;
                }
            }
            whole = &recorded[..];
            if let Ok(o) = Ipv4Options::new(whole.get(HEADER_LEN..header_len).unwrap_or(&[])) {
                header.options = o;
            }
        }
        let rx = IpRx {
            header,
            packet: whole,
            payload: whole.get(header_len..).unwrap_or(&[]),
            broadcast,
            link,
            looped,
            truesize: truesize(data.len() + ethernet::HEADER_LEN),
            options: rx_options,
        };
        if header.is_fragment() {
            return self.ip_defrag(&rx, whole.get(..header_len).unwrap_or(&[]));
        }
        self.ip_local_deliver(&rx);
    }

    /// `fib_compute_spec_dst` on our one interface: the address a packet to `dst` was
    /// received as — `dst` itself, or ours for a broadcast. Answers come from it, and it is
    /// what record route records.
    pub(crate) fn spec_dst(&self, dst: Ipv4Addr, broadcast: bool) -> Ipv4Addr {
        if broadcast {
            self.ip()
        } else {
            dst
        }
    }

    /// `ip_defrag`: a fragment joins its queue; the one that completes a datagram delivers it.
    fn ip_defrag(&mut self, rx: &IpRx<'_>, header_bytes: &[u8]) {
        let now = self.now;
        let outcome = self.reassembler.insert(
            now,
            &rx.header,
            header_bytes,
            rx.payload,
            rx.truesize,
            &self.config.sysctls,
        );
        self.sync_reasm_stats();
        let h = &rx.header;
        match outcome {
            Outcome::Queued => {
                self.stats.rx_consumed += 1;
                trace!(target: "udpstack::ip", src = %h.src, id = h.ident, offset = h.frag_offset, len = rx.payload.len(), "fragment queued");
            }
            Outcome::Dropped(why) => {
                let reason = match why {
                    ReasmDrop::Duplicate => DropReason::IpReasmDuplicate,
                    ReasmDrop::Overlap => DropReason::IpReasmOverlap,
                    ReasmDrop::MemoryLimit => DropReason::IpReasmMemory,
                    _ => DropReason::IpReasmInvalid,
                };
                self.drop_frame(
                    reason,
                    &format_args!("{why:?}: id {:#06x} offset {}", h.ident, h.frag_offset),
                );
            }
            Outcome::Complete { packet, truesize } => {
                // The reassembler built this header itself (checksum refilled, length at most
                // 65535): these checks cannot fail, but a frame is never lost uncounted.
                let parsed =
                    Ipv4Packet::new_checked(&packet[..]).and_then(|view| Ipv4Repr::parse(&view));
                let header = match parsed {
                    Ok(h) => h,
                    Err(e) => return self.drop_frame(DropReason::IpReasmInvalid, &e),
                };
                debug!(target: "udpstack::ip", src = %header.src, id = header.ident, len = packet.len(), "reassembled");
                let whole = &packet[..];
                let rx = IpRx {
                    header,
                    packet: whole,
                    payload: whole.get(header.header_len()..).unwrap_or(&[]),
                    truesize,
                    options: options::inferred(&header.options),
                    ..*rx
                };
                self.ip_local_deliver(&rx);
            }
        }
    }

    /// `ip_expire` for every queue whose `ipfrag_time` ran out: if its first fragment had
    /// arrived, the source hears a time exceeded (11/1, fragment reassembly) quoting it (L4.2),
    /// unless it was sent to a broadcast address.
    pub(crate) fn reassembly_timers(&mut self) {
        let now = self.now;
        let expired = self.reassembler.poll(now);
        if expired.is_empty() {
            return;
        }
        self.sync_reasm_stats();
        for e in expired {
            debug!(target: "udpstack::ip", src = %e.key.src, id = e.key.ident, first = e.first_fragment.is_some(), "reassembly timed out");
            let Some(first) = e.first_fragment else {
                continue;
            };
            let Ok(view) = Ipv4Packet::new_lax(&first[..]) else {
                continue;
            };
            let broadcast = route::is_broadcast(&self.config.iface, view.dst());
            let mut offender =
                Offender::from_view(&view, &first[..], broadcast, LinkDst::Host, false);
            let options = Ipv4Options::new(view.options()).unwrap_or(Ipv4Options::NONE);
            offender.rx_options = options::inferred(&options);
            self.icmp_send_error(
                &offender,
                Icmpv4Message::TimeExceeded(TimeExceeded::FragReassembly),
            );
        }
    }

    /// Copies the reassembler's counters into the SNMP ones.
    pub(crate) fn sync_reasm_stats(&mut self) {
        let r = self.reassembler.stats();
        self.stats.ip.reasm_reqds = r.reasm_reqds;
        self.stats.ip.reasm_oks = r.reasm_oks;
        self.stats.ip.reasm_fails = r.reasm_fails;
        self.stats.ip.reasm_timeout = r.reasm_timeout;
        self.stats.ip_ext.reasm_overlaps = r.reasm_overlaps;
    }

    /// `ip_local_deliver_finish`: hands a whole datagram to its protocol.
    fn ip_local_deliver(&mut self, rx: &IpRx<'_>) {
        let (header, src) = (rx.header, rx.src());
        match header.protocol {
            IpProtocol::Icmp => {
                self.icmp_input(rx);
                self.stats.ip.in_delivers += 1;
            }
            IpProtocol::Udp => {
                self.udp_input(rx);
                self.stats.ip.in_delivers += 1;
            }
            IpProtocol::Igmp => {
                // Linux always has igmp_rcv registered (CONFIG_IP_MULTICAST): a host in no group
                // (udpstack joins none) has nothing to answer, but the packet is delivered
                // (InDelivers) and draws no protocol unreachable.
                debug!(target: "udpstack::ip", %src, "igmp ignored");
                self.stats.rx_consumed += 1;
                self.stats.ip.in_delivers += 1;
            }
            other => {
                self.stats.ip.in_unknown_protos += 1;
                self.drop_frame(
                    DropReason::IpUnknownProtocol,
                    &format_args!("protocol {}", u8::from(other)),
                );
                self.icmp_dst_unreachable(&rx.offender(), DstUnreachable::ProtoUnreachable);
            }
        }
    }
}
