//! A catalogue of hostile frames. Each entry is a named frame (or a few) sent to a fresh stack
//! B (10.0.0.2, a socket on 7000, the probe's MAC known) with the exact change it must make to
//! the counters: the SNMP sections (`Ip`, `Icmp`, `IcmpMsg`, `Udp`), `IpExt` (without the
//! octet, ECN and broadcast tallies, which every frame moves), and the stack's own `Link`,
//! `Sockets`, `Rx*` and `Drop*` counters. A counter the entry does not name must not move.
//! Then the books must balance (`Stack::audit`), and the stack must still serve traffic: the
//! socket reads a fresh datagram and its reply leaves.
//!
//! The SNMP expectations are Linux 6.18's, from `ip_rcv_core`, `ip_route_input_slow`,
//! `ip_local_deliver_finish`, `ip_defrag`, `__udp4_lib_rcv`, `icmp_rcv` and `arp_process`; the
//! comment on each entry says which path counts what. Nothing may panic.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::{frame_with_raw_options, probe_icmp, refresh_ip_checksum};
use udpstack::wire::checksum::checksum;
use udpstack::wire::{
    ArpOperation, DstUnreachable, Icmpv4Message, Icmpv4Repr, IpProtocol, MacAddr,
};
use udpstack::{Duration, Instant, Stack};
use udpstack_tests::fixture::*;

/// IpExt counters every IPv4 frame moves (octets, ECN codepoints, broadcast tallies): left out.
const NOISE: &[&str] = &[
    "IpExt.InOctets",
    "IpExt.OutOctets",
    "IpExt.InNoECTPkts",
    "IpExt.InECT0Pkts",
    "IpExt.InECT1Pkts",
    "IpExt.InCEPkts",
    "IpExt.InBcastPkts",
    "IpExt.InBcastOctets",
    "IpExt.OutBcastPkts",
    "IpExt.OutBcastOctets",
    "IpExt.InMcastPkts",
    "IpExt.InMcastOctets",
    "IpExt.OutMcastPkts",
    "IpExt.OutMcastOctets",
];

/// Every counter the stack shows, as "Section.Name" (paired header and value lines) or "Name".
fn counters(s: &Stack) -> BTreeMap<String, i64> {
    let text = format!("{}{}{}", s.snmp(), s.netstat(), s.stats().extended());
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let header = lines[i];
        if let Some((section, names)) = header.split_once(':') {
            let values = lines
                .get(i + 1)
                .and_then(|l| l.strip_prefix(section)?.strip_prefix(':'));
            if let Some(values) = values {
                for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                    out.insert(format!("{section}.{n}"), v.parse().unwrap());
                }
                i += 2;
                continue;
            }
        }
        let mut parts = header.split_whitespace();
        if let (Some(n), Some(v)) = (parts.next(), parts.next()) {
            out.insert(n.to_owned(), v.parse().unwrap());
        }
        i += 1;
    }
    for n in NOISE {
        out.remove(*n);
    }
    out
}

fn diff(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut d = BTreeMap::new();
    for (k, &v) in after {
        let delta = v - before.get(k).copied().unwrap_or(0);
        if delta != 0 {
            d.insert(k.clone(), delta);
        }
    }
    for (k, &v) in before {
        if !after.contains_key(k) && v != 0 {
            d.insert(k.clone(), -v);
        }
    }
    d
}

/// One entry: a name, the sysctls it needs, its frames, and the counters it moves.
struct Case {
    name: &'static str,
    sysctls: &'static [(&'static str, &'static str)],
    frames: Vec<Vec<u8>>,
    expect: &'static [(&'static str, i64)],
}

fn case(name: &'static str, frame: Vec<u8>, expect: &'static [(&'static str, i64)]) -> Case {
    Case {
        name,
        sysctls: &[],
        frames: vec![frame],
        expect,
    }
}

// --- frame surgery -------------------------------------------------------------------------

/// A good datagram from the probe to 7000.
fn good() -> Vec<u8> {
    probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(IP_B, 7000), b"hostile?")
}

/// `good()` with `edit` applied to the frame, the IP header checksum recomputed after.
fn edited(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut f = good();
    edit(&mut f);
    refresh_ip_checksum(&mut f);
    f
}

/// A good datagram whose IP source is `src` (UDP checksum left as computed for the probe).
fn from_source(src: Ipv4Addr) -> Vec<u8> {
    edited(|f| f[26..30].copy_from_slice(&src.octets()))
}

fn to_destination(dst: Ipv4Addr) -> Vec<u8> {
    let d = udp_datagram(sa(IP_PROBE, 5000), sa(dst, 7000), b"hostile?");
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, dst, IpProtocol::Udp, d.len()),
        &d,
    )
}

/// An IPv4 packet from the probe with `protocol` and `payload` as given.
fn ip_packet(protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    ip_frame(
        MAC_PROBE,
        MAC_B,
        &ip_header(IP_PROBE, IP_B, protocol, payload.len()),
        payload,
    )
}

/// ICMP bytes (type, code, then `rest`) with a correct checksum.
fn icmp_bytes(kind: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(rest);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// What our stack sent to the probe from `sport`: the IP packet an ICMP error would quote.
fn our_datagram(sport: u16, dport: u16) -> Vec<u8> {
    let d = udp_datagram(sa(IP_B, sport), sa(IP_PROBE, dport), b"ours");
    let f = ip_frame(
        MAC_B,
        MAC_PROBE,
        &ip_header(IP_B, IP_PROBE, IpProtocol::Udp, d.len()),
        &d,
    );
    f[14..].to_vec()
}

fn arp(op: ArpOperation, dst: MacAddr, sender: (MacAddr, Ipv4Addr), target: Ipv4Addr) -> Vec<u8> {
    let target_mac = if op == ArpOperation::Reply {
        MAC_B
    } else {
        MacAddr::ZERO
    };
    let mut f = arp_frame(op, sender.0, dst, sender.1, target_mac, target);
    f[6..12].copy_from_slice(&sender.0 .0);
    f
}

fn catalogue() -> Vec<Case> {
    let other_mac = MacAddr([2, 0, 0, 0, 0, 0x77]);
    let stranger = MacAddr([2, 0, 0, 0, 0, 0x66]);
    let mut cases = vec![
        // --- link layer: no IP counter moves --------------------------------------------
        case(
            "empty frame",
            vec![],
            &[("Link.RxFrames", 1), ("DropEthernetTruncated", 1)],
        ),
        case(
            "13-byte frame",
            good()[..13].to_vec(),
            &[("Link.RxFrames", 1), ("DropEthernetTruncated", 1)],
        ),
        case(
            "802.1Q-tagged frame",
            {
                let mut f = good();
                f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
                f
            },
            &[("Link.RxFrames", 1), ("DropEthernetVlan", 1)],
        ),
        case(
            "IPv6 ethertype",
            {
                let mut f = good();
                f[12..14].copy_from_slice(&[0x86, 0xdd]);
                f
            },
            &[("Link.RxFrames", 1), ("DropEthernetUnsupported", 1)],
        ),
        case(
            // PACKET_OTHERHOST: dropped before ip_rcv_core counts anything.
            "unicast to another MAC",
            {
                let mut f = good();
                f[0..6].copy_from_slice(&other_mac.0);
                f
            },
            &[("Link.RxFrames", 1), ("DropOtherHost", 1)],
        ),
        // --- IP header (ip_rcv_core: InReceives first, then InHdrErrors, with IpExt's
        // InCsumErrors for a bad checksum; IpExt InTruncatedPkts for a short packet) -------
        case(
            "IP header cut at 19 bytes",
            good()[..14 + 19].to_vec(),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InHdrErrors", 1),
                ("DropIpHeader", 1),
            ],
        ),
        case(
            "IP version 6 in an IPv4 frame",
            edited(|f| f[14] = 0x65),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InHdrErrors", 1),
                ("DropIpHeader", 1),
            ],
        ),
        case(
            "IHL 4",
            {
                let mut f = good();
                f[14] = 0x44;
                f
            },
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InHdrErrors", 1),
                ("DropIpHeader", 1),
            ],
        ),
        case(
            "IHL 15 beyond the packet",
            {
                let mut f = good();
                f[14] = 0x4f;
                f.truncate(14 + 40);
                f
            },
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InHdrErrors", 1),
                ("DropIpHeader", 1),
            ],
        ),
        case(
            "bad IP header checksum",
            {
                let mut f = good();
                f[24] ^= 0x55;
                f
            },
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("IpExt.InCsumErrors", 1),
                ("Ip.InHdrErrors", 1),
                ("DropIpChecksum", 1),
            ],
        ),
        case(
            "total length beyond the frame",
            edited(|f| f[16..18].copy_from_slice(&1000u16.to_be_bytes())),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("IpExt.InTruncatedPkts", 1),
                ("DropIpTruncated", 1),
            ],
        ),
        case(
            "total length below the header",
            edited(|f| f[16..18].copy_from_slice(&12u16.to_be_bytes())),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InHdrErrors", 1),
                ("DropIpHeader", 1),
            ],
        ),
        // --- the route (ip_route_input_slow): martians count nothing in SNMP; not for us
        // is ip_error's InAddrErrors ------------------------------------------------------
        case(
            "source 255.255.255.255",
            from_source(Ipv4Addr::BROADCAST),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpMartianSource", 1),
            ],
        ),
        case(
            "multicast source",
            from_source(Ipv4Addr::new(224, 0, 0, 5)),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpMartianSource", 1),
            ],
        ),
        case(
            "source 0.0.0.0 to a unicast address",
            from_source(Ipv4Addr::UNSPECIFIED),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpMartianSource", 1),
            ],
        ),
        case(
            "loopback source from the wire",
            from_source(Ipv4Addr::LOCALHOST),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpMartianSource", 1),
            ],
        ),
        case(
            "our own address as the source",
            from_source(IP_B),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpMartianSource", 1),
            ],
        ),
        case(
            "loopback destination from the wire",
            to_destination(Ipv4Addr::LOCALHOST),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpMartianDestination", 1),
            ],
        ),
        case(
            "unicast for another host",
            to_destination(Ipv4Addr::new(10, 0, 0, 99)),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InAddrErrors", 1),
                ("DropIpNotForUs", 1),
            ],
        ),
        // --- options (ip_rcv_options) ---------------------------------------------------
        case(
            // ip_options_compile: a parameter problem pointing at the option, InHdrErrors.
            "option with length 0",
            frame_with_raw_options(
                IP_PROBE,
                IP_B,
                IpProtocol::Udp,
                &[7, 0, 0, 0], // record route, length 0
                &udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 7000), b"x"),
            ),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InHdrErrors", 1),
                ("Ip.OutRequests", 1),
                ("Ip.OutTransmits", 1),
                ("Icmp.OutMsgs", 1),
                ("Icmp.OutParmProbs", 1),
                ("IcmpMsg.OutType12", 1),
                ("Link.TxFrames", 1),
                ("DropIpOptions", 1),
            ],
        ),
        case(
            // accept_source_route 0: dropped, no counter.
            "loose source route",
            frame_with_raw_options(
                IP_PROBE,
                IP_B,
                IpProtocol::Udp,
                &[131, 7, 4, 10, 0, 0, 1, 1], // LSRR via 10.0.0.1, then NOP
                &udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 7000), b"x"),
            ),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("DropIpSourceRoute", 1),
            ],
        ),
        // --- transport ------------------------------------------------------------------
        case(
            // A host delivers whatever the TTL: RFC 1122 3.2.1.7 bounds forwarding only.
            "TTL 0 to us",
            edited(|f| f[22] = 0),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Sockets.Offered", 1),
                ("Sockets.Queued", 1),
                ("RxDelivered", 1),
            ],
        ),
        case(
            // ip_protocol_deliver_rcu: no handler, InUnknownProtos and a protocol unreachable.
            "unknown protocol 253",
            ip_packet(IpProtocol::Unknown(253), b"whatever"),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InUnknownProtos", 1),
                ("Ip.OutRequests", 1),
                ("Ip.OutTransmits", 1),
                ("Icmp.OutMsgs", 1),
                ("Icmp.OutDestUnreachs", 1),
                ("IcmpMsg.OutType3", 1),
                ("Link.TxFrames", 1),
                ("DropIpUnknownProtocol", 1),
            ],
        ),
        case(
            // udp_rcv is called (InDelivers), then short_packet: Udp InErrors.
            "UDP header cut at 4 bytes",
            ip_packet(IpProtocol::Udp, &[0x13, 0x88, 0x1b, 0x58]),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Udp.InErrors", 1),
                ("DropUdpLength", 1),
            ],
        ),
        case(
            "UDP length 7",
            edited(|f| f[38..40].copy_from_slice(&7u16.to_be_bytes())),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Udp.InErrors", 1),
                ("DropUdpLength", 1),
            ],
        ),
        case(
            "UDP length beyond the IP payload",
            edited(|f| f[38..40].copy_from_slice(&200u16.to_be_bytes())),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Udp.InErrors", 1),
                ("DropUdpLength", 1),
            ],
        ),
        case(
            "bad UDP checksum",
            edited(|f| f[41] ^= 0x5a),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Udp.InCsumErrors", 1),
                ("Udp.InErrors", 1),
                ("DropUdpChecksum", 1),
            ],
        ),
        case(
            "UDP to a closed port",
            probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(IP_B, 7001), b"anyone?"),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Udp.NoPorts", 1),
                ("Ip.OutRequests", 1),
                ("Ip.OutTransmits", 1),
                ("Icmp.OutMsgs", 1),
                ("Icmp.OutDestUnreachs", 1),
                ("IcmpMsg.OutType3", 1),
                ("Link.TxFrames", 1),
                ("DropUdpNoPort", 1),
            ],
        ),
        case(
            // __udp4_lib_mcast_deliver with no socket: IgnoredMulti, no ICMP.
            "UDP broadcast to a closed port",
            to_destination(Ipv4Addr::new(10, 0, 0, 255)),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Udp.IgnoredMulti", 1),
                ("DropUdpIgnoredBroadcast", 1),
            ],
        ),
        // --- ICMP (icmp_rcv: InMsgs first; InType after the checksum and the pull) -------
        case(
            "ICMP of 4 bytes",
            ip_packet(IpProtocol::Icmp, &icmp_bytes(8, 0, &[])),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InErrors", 1),
                ("DropIcmpTruncated", 1),
            ],
        ),
        case(
            "bad ICMP checksum",
            {
                let mut m = icmp_bytes(8, 0, &[0, 1, 0, 1, 9, 9]);
                m[2] ^= 0xff;
                ip_packet(IpProtocol::Icmp, &m)
            },
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InCsumErrors", 1),
                ("Icmp.InErrors", 1),
                ("DropIcmpChecksum", 1),
            ],
        ),
        case(
            // type > NR_ICMP_TYPES: counted by type, then an error.
            "ICMP type 42",
            ip_packet(IpProtocol::Icmp, &icmp_bytes(42, 0, &[0; 4])),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InErrors", 1),
                ("IcmpMsg.InType42", 1),
                ("DropIcmpUnsupported", 1),
            ],
        ),
        case(
            // ping_rcv finds no socket: dropped, no error counted.
            "echo reply nobody asked for",
            probe_icmp(
                IP_PROBE,
                Icmpv4Message::EchoReply {
                    ident: 7,
                    seq_no: 1,
                },
                b"pong",
            ),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InEchoReps", 1),
                ("IcmpMsg.InType0", 1),
                ("DropIcmpEchoReplyUnwanted", 1),
            ],
        ),
        case(
            // icmp_echo_ignore_broadcasts: counted by type, then InErrors.
            "echo request to the broadcast address",
            {
                let m = icmp_message(&Icmpv4Repr {
                    message: Icmpv4Message::EchoRequest {
                        ident: 7,
                        seq_no: 1,
                    },
                    body: b"smurf",
                });
                let bcast = Ipv4Addr::new(10, 0, 0, 255);
                ip_frame(
                    MAC_PROBE,
                    MacAddr::BROADCAST,
                    &ip_header(IP_PROBE, bcast, IpProtocol::Icmp, m.len()),
                    &m,
                )
            },
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InEchos", 1),
                ("IcmpMsg.InType8", 1),
                ("Icmp.InErrors", 1),
                ("DropIcmpBroadcast", 1),
            ],
        ),
        case(
            // __udp4_lib_err finds no socket for the quoted flow: Icmp InErrors.
            "port unreachable quoting a flow we do not have",
            probe_icmp(
                IP_PROBE,
                Icmpv4Message::DstUnreachable(DstUnreachable::PortUnreachable),
                &our_datagram(40404, 9),
            ),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InDestUnreachs", 1),
                ("IcmpMsg.InType3", 1),
                ("Icmp.InErrors", 1),
                ("DropIcmpNoSocket", 1),
            ],
        ),
        case(
            // icmp_unreach: the quoted IP header cannot be pulled, out_err: InErrors.
            "port unreachable with a 12-byte quote",
            probe_icmp(
                IP_PROBE,
                Icmpv4Message::DstUnreachable(DstUnreachable::PortUnreachable),
                &our_datagram(7000, 9)[..12],
            ),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InDestUnreachs", 1),
                ("IcmpMsg.InType3", 1),
                ("Icmp.InErrors", 1),
                ("DropIcmpBadQuote", 1),
            ],
        ),
        case(
            // icmp_socket_deliver: the IP header is there but not the 8 bytes after it.
            "port unreachable quoting the IP header and 4 bytes",
            probe_icmp(
                IP_PROBE,
                Icmpv4Message::DstUnreachable(DstUnreachable::PortUnreachable),
                &our_datagram(7000, 9)[..24],
            ),
            &[
                ("Link.RxFrames", 1),
                ("Ip.InReceives", 1),
                ("Ip.InDelivers", 1),
                ("Icmp.InMsgs", 1),
                ("Icmp.InDestUnreachs", 1),
                ("IcmpMsg.InType3", 1),
                ("Icmp.InErrors", 1),
                ("DropIcmpBadQuote", 1),
            ],
        ),
        // --- ARP (arp_process) ------------------------------------------------------------
        case(
            // No entry from an unsolicited reply (arp_accept 0).
            "ARP reply nobody asked for",
            arp(
                ArpOperation::Reply,
                MAC_B,
                (stranger, Ipv4Addr::new(10, 0, 0, 50)),
                IP_B,
            ),
            &[("Link.RxFrames", 1), ("Link.ArpIn", 1), ("RxConsumed", 1)],
        ),
        case(
            // A request claiming our own address: not answered, nothing learnt.
            "ARP request claiming our address",
            arp(
                ArpOperation::Request,
                MacAddr::BROADCAST,
                (stranger, IP_B),
                Ipv4Addr::new(10, 0, 0, 1),
            ),
            &[("Link.RxFrames", 1), ("Link.ArpIn", 1), ("RxConsumed", 1)],
        ),
        case(
            "ARP cut at 20 bytes",
            arp(
                ArpOperation::Request,
                MacAddr::BROADCAST,
                (stranger, Ipv4Addr::new(10, 0, 0, 50)),
                IP_B,
            )[..14 + 20]
                .to_vec(),
            &[("Link.RxFrames", 1), ("DropArpInvalid", 1)],
        ),
    ];
    cases.extend(fragment_cases());
    cases
}

/// The UDP datagram (header and payload) the fragment cases split.
fn datagram(len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    udp_datagram(sa(IP_PROBE, 5000), sa(IP_B, 7000), &payload)
}

fn fragment_cases() -> Vec<Case> {
    let d = datagram(3000);
    // Beyond 65535: 44 fragments of 1480 bytes and a last one at 65 120 ending at 66 600.
    let mut huge: Vec<Vec<u8>> = (0..44u16)
        .map(|i| probe_fragment(0x5151, i * 1480, true, &[0x42; 1480]))
        .collect();
    huge.push(probe_fragment(0x5151, 44 * 1480, false, &[0x42; 1480]));
    let huge_n = huge.len() as i64;
    let expect_huge: &'static [(&'static str, i64)] = Box::leak(
        vec![
            ("Link.RxFrames", huge_n),
            ("Ip.InReceives", huge_n),
            ("Ip.ReasmReqds", huge_n),
            ("Ip.ReasmFails", 1),
            ("RxConsumed", huge_n - 1),
            ("DropIpReasmInvalid", 1),
        ]
        .into_boxed_slice(),
    );
    vec![
        Case {
            // L4.5: the second overlaps the first without lying inside it: the queue dies.
            name: "teardrop: overlapping fragments",
            sysctls: &[],
            frames: vec![
                probe_fragment(0x7777, 0, true, &d[..1480]),
                probe_fragment(0x7777, 1472, false, &d[1472..]),
            ],
            expect: &[
                ("Link.RxFrames", 2),
                ("Ip.InReceives", 2),
                ("Ip.ReasmReqds", 2),
                ("Ip.ReasmFails", 1),
                ("IpExt.ReasmOverlaps", 1),
                ("RxConsumed", 1),
                ("DropIpReasmOverlap", 1),
            ],
        },
        Case {
            // Tiny but consistent fragments reassemble: 8 bytes of datagram each.
            name: "tiny fragments of 8 bytes",
            sysctls: &[],
            frames: datagram(24)
                .chunks(8)
                .enumerate()
                .map(|(i, c)| probe_fragment(0x1234, (i * 8) as u16, i < 3, c))
                .collect(),
            expect: &[
                ("Link.RxFrames", 4),
                ("Ip.InReceives", 4),
                ("Ip.ReasmReqds", 4),
                ("Ip.ReasmOKs", 1),
                ("Ip.InDelivers", 1),
                ("Sockets.Offered", 1),
                ("Sockets.Queued", 1),
                ("RxConsumed", 3),
                ("RxDelivered", 1),
            ],
        },
        Case {
            // L4.6: a reassembled size above 65535 fails.
            name: "reassembly beyond 65535 bytes",
            sysctls: &[],
            frames: huge,
            expect: expect_huge,
        },
        Case {
            // L4.3: past ipfrag_high_thresh every fragment is refused, ReasmFails each.
            name: "fragment flood past ipfrag_high_thresh",
            sysctls: &[
                ("net.ipv4.ipfrag_low_thresh", "3000"),
                ("net.ipv4.ipfrag_high_thresh", "4096"),
            ],
            frames: (0..5u16)
                .map(|i| probe_fragment(0x2000 + i, 0, true, &d[..1480]))
                .collect(),
            expect: &[
                ("Link.RxFrames", 5),
                ("Ip.InReceives", 5),
                ("Ip.ReasmReqds", 5),
                ("Ip.ReasmFails", 3),
                ("RxConsumed", 2),
                ("DropIpReasmMemory", 3),
            ],
        },
    ]
}

/// A fresh stack B with a socket on 7000 that knows the probe's MAC.
fn fresh(sysctls: &[(&str, &str)]) -> (Stack, udpstack::SocketHandle) {
    let mut c = config(IP_B, MAC_B);
    for (n, v) in sysctls {
        c.set_sysctl(n, v).unwrap();
    }
    let mut s = Stack::new(c, 9).unwrap();
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, 7000)).unwrap();
    s.handle_frame(Instant::ZERO, &probe_who_has(IP_B));
    let mut buf = vec![0u8; 2048];
    while s.poll_transmit(Instant::ZERO, &mut buf).is_some() {}
    (s, h)
}

#[test]
fn every_hostile_frame_moves_exactly_its_counters_and_the_stack_goes_on() {
    let cases = catalogue();
    assert_eq!(cases.len(), 44, "the catalogue the docs describe");
    let mut failures = Vec::new();
    for c in &cases {
        let (mut s, h) = fresh(c.sysctls);
        let now = Instant::ZERO + Duration::from_secs(1);
        let before = counters(&s);
        let mut buf = vec![0u8; 2048];
        for f in &c.frames {
            s.handle_frame(now, f);
            while s.poll_transmit(now, &mut buf).is_some() {}
        }
        let got = diff(&before, &counters(&s));
        let want: BTreeMap<String, i64> =
            c.expect.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
        if got != want {
            failures.push(format!(
                "{}:\n  expected {want:?}\n  got      {got:?}",
                c.name
            ));
        }
        assert_eq!(s.audit(), Ok(()), "{}", c.name);
        // Still serving: whatever the entry queued is read, then a fresh datagram is read
        // and answered.
        let mut data = [0u8; 64];
        while s.recv_from(h, &mut data).is_ok() {}
        s.handle_frame(now, &good());
        let (n, from) = s
            .recv_from(h, &mut data)
            .unwrap_or_else(|e| panic!("{}: no datagram after it: {e}", c.name));
        assert_eq!(&data[..n], b"hostile?", "{}", c.name);
        s.send_to(now, h, b"still here", from).unwrap();
        let mut sent = false;
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            sent |= matches!(parse(&buf[..n]), Seen::Udp(_, ip, _, p) if ip.dst == IP_PROBE && p == b"still here");
        }
        assert!(sent, "{}: the reply did not leave", c.name);
        assert_eq!(s.audit(), Ok(()), "{}", c.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} entries differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
