//! Part 1: valid frames, built from our `Arbitrary` `Repr`s, agree everywhere.

use super::*;

// ------------------------------------------------------------------------------------------------
// Valid frames
// ------------------------------------------------------------------------------------------------

/// A frame built from our `Repr`s with our `emit`, and the `Repr`s themselves.
#[derive(Debug, Clone)]
pub(crate) enum Valid {
    Udp {
        frame: Vec<u8>,
        eth: EthernetRepr,
        ip: Ipv4Repr,
        udp: UdpRepr,
        payload: Vec<u8>,
        zero_checksum: bool,
    },
    Icmp {
        frame: Vec<u8>,
        eth: EthernetRepr,
        ip: Ipv4Repr,
        message: Icmpv4Message,
        body: Vec<u8>,
    },
    Arp {
        frame: Vec<u8>,
        eth: EthernetRepr,
        arp: ArpRepr,
    },
    Ip {
        frame: Vec<u8>,
        eth: EthernetRepr,
        ip: Ipv4Repr,
    },
}

impl Valid {
    pub(crate) fn frame(&self) -> &[u8] {
        match self {
            Valid::Udp { frame, .. }
            | Valid::Icmp { frame, .. }
            | Valid::Arp { frame, .. }
            | Valid::Ip { frame, .. } => frame,
        }
    }
}

/// Ethernet padding or trailing garbage: none, zeroes up to the 60-byte minimum, or random bytes.
pub(crate) fn padding() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        (0usize..47).prop_map(|n| vec![0; n]),
        prop::collection::vec(any::<u8>(), 0..47),
    ]
}

/// An IPv4 header from [`Ipv4Repr`]'s `Arbitrary`, made into an unfragmented header for
/// `protocol` carrying `payload_len` bytes.
pub(crate) fn unfragmented(mut ip: Ipv4Repr, protocol: IpProtocol, payload_len: usize) -> Ipv4Repr {
    ip.protocol = protocol;
    ip.more_frags = false;
    ip.frag_offset = 0;
    ip.payload_len = payload_len;
    ip
}

/// Ethernet + IPv4 + UDP. With `zero_checksum` (and at least two payload bytes) the first
/// payload word is chosen so that the checksum computes to 0, which must be sent as 0xFFFF.
pub(crate) fn valid_udp() -> impl Strategy<Value = Valid> {
    (
        any::<EthernetRepr>(),
        any::<Ipv4Repr>(),
        any::<UdpRepr>(),
        prop::collection::vec(any::<u8>(), 0..1500),
        any::<bool>(),
        padding(),
    )
        .prop_map(|(mut eth, ip, mut udp, mut payload, zero, pad)| {
            eth.ethertype = EtherType::Ipv4;
            udp.payload_len = payload.len();
            let ip = unfragmented(ip, IpProtocol::Udp, udp.buffer_len());
            let zero_checksum = zero && payload.len() >= 2;
            let mut frame = vec![0u8; ETH_LEN + ip.buffer_len()];
            eth.emit(&mut frame).unwrap();
            ip.emit(&mut frame[ETH_LEN..]).unwrap();
            let l4 = &mut frame[ETH_LEN + ip.header_len()..];
            if zero_checksum {
                // With the word zeroed the sum is S; writing !S (pnet's raw checksum) there
                // makes the sum all ones, i.e. a computed checksum of 0.
                payload[..2].fill(0);
                l4[8..].copy_from_slice(&payload);
                udp.emit(l4, ip.src, ip.dst).unwrap();
                let raw =
                    pn::udp::ipv4_checksum(&pn::udp::UdpPacket::new(l4).unwrap(), &ip.src, &ip.dst);
                payload[..2].copy_from_slice(&raw.to_be_bytes());
            }
            l4[8..].copy_from_slice(&payload);
            udp.emit(l4, ip.src, ip.dst).unwrap();
            frame.extend_from_slice(&pad);
            Valid::Udp {
                frame,
                eth,
                ip,
                udp,
                payload,
                zero_checksum,
            }
        })
}

/// The body of an ICMP message: random bytes, or a quote (an emitted IPv4 header, possibly
/// claiming more payload than is quoted, followed by 8 or more bytes).
pub(crate) fn icmp_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (
            any::<Ipv4Repr>(),
            prop::collection::vec(any::<u8>(), 8..40),
            0usize..100
        )
            .prop_map(|(mut ip, quoted, extra)| {
                ip.payload_len = quoted.len() + extra;
                let mut body = vec![0u8; ip.header_len()];
                ip.emit(&mut body).unwrap();
                body.extend_from_slice(&quoted);
                body
            }),
    ]
}

/// Ethernet + IPv4 + ICMP.
pub(crate) fn valid_icmp() -> impl Strategy<Value = Valid> {
    (
        any::<EthernetRepr>(),
        any::<Ipv4Repr>(),
        any::<Icmpv4Message>(),
        icmp_body(),
        padding(),
    )
        .prop_map(|(mut eth, ip, message, body, pad)| {
            eth.ethertype = EtherType::Ipv4;
            let repr = Icmpv4Repr {
                message,
                body: &body,
            };
            let ip = unfragmented(ip, IpProtocol::Icmp, repr.buffer_len());
            let mut frame = vec![0u8; ETH_LEN + ip.buffer_len()];
            eth.emit(&mut frame).unwrap();
            ip.emit(&mut frame[ETH_LEN..]).unwrap();
            repr.emit(&mut frame[ETH_LEN + ip.header_len()..]).unwrap();
            frame.extend_from_slice(&pad);
            Valid::Icmp {
                frame,
                eth,
                ip,
                message,
                body,
            }
        })
}

/// Ethernet + ARP.
pub(crate) fn valid_arp() -> impl Strategy<Value = Valid> {
    (any::<EthernetRepr>(), any::<ArpRepr>(), padding()).prop_map(|(mut eth, arp, pad)| {
        eth.ethertype = EtherType::Arp;
        let mut frame = vec![0u8; ETH_LEN + arp.buffer_len()];
        eth.emit(&mut frame).unwrap();
        arp.emit(&mut frame[ETH_LEN..]).unwrap();
        frame.extend_from_slice(&pad);
        Valid::Arp { frame, eth, arp }
    })
}

/// Ethernet + IPv4 exactly as [`Ipv4Repr`]'s `Arbitrary` makes it (options, any fragment
/// fields, any protocol, now and then the authentication header's 51) and random payload.
pub(crate) fn valid_ip() -> impl Strategy<Value = Valid> {
    (
        any::<EthernetRepr>(),
        any::<Ipv4Repr>(),
        prop_oneof![4 => Just(None), 1 => Just(Some(IpProtocol::Unknown(AH)))],
        prop::collection::vec(any::<u8>(), 0..600),
        padding(),
    )
        .prop_map(|(mut eth, mut ip, protocol, payload, pad)| {
            eth.ethertype = EtherType::Ipv4;
            ip.protocol = protocol.unwrap_or(ip.protocol);
            ip.payload_len = payload.len();
            let mut frame = vec![0u8; ETH_LEN + ip.header_len()];
            eth.emit(&mut frame).unwrap();
            ip.emit(&mut frame[ETH_LEN..]).unwrap();
            frame.extend_from_slice(&payload);
            frame.extend_from_slice(&pad);
            Valid::Ip { frame, eth, ip }
        })
}

pub(crate) fn valid_frame() -> impl Strategy<Value = Valid> {
    prop_oneof![valid_udp(), valid_icmp(), valid_arp(), valid_ip()]
}

/// etherparse's Ethernet header equals `eth`.
pub(crate) fn assert_ep_ethernet(e: &ep::Ethernet2Slice, eth: &EthernetRepr) {
    assert_eq!(e.destination(), eth.dst.0);
    assert_eq!(e.source(), eth.src.0);
    assert_eq!(e.ether_type().0, u16::from(eth.ethertype));
}

/// pnet's Ethernet header equals `eth`.
pub(crate) fn assert_pnet_ethernet(p: &pn::ethernet::EthernetPacket, eth: &EthernetRepr) {
    assert_eq!(p.get_destination().octets(), eth.dst.0);
    assert_eq!(p.get_source().octets(), eth.src.0);
    assert_eq!(p.get_ethertype().0, u16::from(eth.ethertype));
}

/// etherparse's IPv4 header equals `ip`, and its checksum verifies by recomputation.
pub(crate) fn assert_ep_ipv4(h: &ep::Ipv4HeaderSlice, ip: &Ipv4Repr) {
    assert_eq!(h.version(), 4);
    assert_eq!(usize::from(h.ihl()) * 4, ip.header_len());
    assert_eq!(h.source_addr(), ip.src);
    assert_eq!(h.destination_addr(), ip.dst);
    assert_eq!(h.protocol().0, u8::from(ip.protocol));
    assert_eq!((h.dcp().value(), h.ecn().value()), (ip.dscp, ip.ecn));
    assert_eq!(h.identification(), ip.ident);
    assert_eq!(
        (h.dont_fragment(), h.more_fragments()),
        (ip.dont_frag, ip.more_frags)
    );
    assert_eq!(h.fragments_offset().byte_offset(), ip.frag_offset);
    assert_eq!(h.ttl(), ip.ttl);
    assert_eq!(h.options(), ip.options.as_bytes());
    assert_eq!(usize::from(h.total_len()), ip.buffer_len());
    assert_eq!(usize::from(h.payload_len().unwrap()), ip.payload_len);
    assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
}

/// pnet's IPv4 header equals `ip`, and its checksum verifies by recomputation.
pub(crate) fn assert_pnet_ipv4(p: &pn::ipv4::Ipv4Packet, ip: &Ipv4Repr) {
    assert_eq!(p.get_version(), 4);
    assert_eq!(usize::from(p.get_header_length()) * 4, ip.header_len());
    assert_eq!(p.get_source(), ip.src);
    assert_eq!(p.get_destination(), ip.dst);
    assert_eq!(p.get_next_level_protocol().0, u8::from(ip.protocol));
    assert_eq!((p.get_dscp(), p.get_ecn()), (ip.dscp, ip.ecn));
    assert_eq!(p.get_identification(), ip.ident);
    let flags = u8::from(ip.dont_frag) << 1 | u8::from(ip.more_frags);
    assert_eq!(p.get_flags(), flags, "reserved bit clear, DF, MF");
    assert_eq!(p.get_fragment_offset() * 8, ip.frag_offset);
    assert_eq!(p.get_ttl(), ip.ttl);
    assert_eq!(p.get_options_raw(), ip.options.as_bytes());
    assert_eq!(usize::from(p.get_total_length()), ip.buffer_len());
    assert_eq!(p.payload().len(), ip.payload_len);
    assert_eq!(pn::ipv4::checksum(p), p.get_checksum());
}

/// Our own parse of the Ethernet and IPv4 layers of `frame` gives back `eth` and `ip`.
pub(crate) fn assert_ours_ip(frame: &[u8], eth: &EthernetRepr, ip: &Ipv4Repr) -> Vec<u8> {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(EthernetRepr::parse(&f).unwrap(), *eth);
    let packet = Ipv4Packet::new_checked(f.payload()).unwrap();
    assert_eq!(Ipv4Repr::parse(&packet).unwrap(), *ip);
    packet.payload().to_vec()
}

/// Every parser accepts every layer of a valid frame, with the values it was built from, and
/// every checksum verifies.
pub(crate) fn check_valid(valid: &Valid) {
    let frame = valid.frame();
    let mut seen = Seen::default();
    compare_frame(frame, &mut seen);
    let pe = pn::ethernet::EthernetPacket::new(frame).unwrap();
    match valid {
        Valid::Udp {
            eth,
            ip,
            udp,
            payload,
            zero_checksum,
            ..
        } => {
            let l4 = assert_ours_ip(frame, eth, ip);
            let ours = UdpPacket::new_checked(&l4[..]).unwrap();
            assert_eq!(UdpRepr::parse(&ours, ip.src, ip.dst).unwrap(), *udp);
            assert_eq!(ours.payload(), payload);
            // L3.6: a computed 0 goes out as 0xFFFF.
            if *zero_checksum {
                assert_eq!(ours.checksum(), 0xffff);
            }
            assert_ne!(ours.checksum(), 0, "L3.6: we always send a checksum");

            let s = ep::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(ep::LinkSlice::Ethernet2(e)) = &s.link else {
                panic!("{s:?}")
            };
            assert_ep_ethernet(e, eth);
            let Some(ep::NetSlice::Ipv4(v4)) = &s.net else {
                panic!("{s:?}")
            };
            assert_ep_ipv4(&v4.header(), ip);
            let Some(ep::TransportSlice::Udp(u)) = &s.transport else {
                panic!("{s:?}")
            };
            assert_eq!(
                (u.source_port(), u.destination_port()),
                (udp.src_port, udp.dst_port)
            );
            assert_eq!(usize::from(u.length()), udp.buffer_len());
            assert_eq!(u.payload(), payload);
            let ep_c = u
                .to_header()
                .calc_checksum_ipv4_raw(ip.src.octets(), ip.dst.octets(), u.payload())
                .unwrap();
            assert_eq!(ep_c, u.checksum());

            assert_pnet_ethernet(&pe, eth);
            let pi = pn::ipv4::Ipv4Packet::new(pe.payload()).unwrap();
            assert_pnet_ipv4(&pi, ip);
            let pu = pn::udp::UdpPacket::new(pi.payload()).unwrap();
            assert_eq!(
                (pu.get_source(), pu.get_destination()),
                (udp.src_port, udp.dst_port)
            );
            assert_eq!(usize::from(pu.get_length()), udp.buffer_len());
            assert_eq!(pu.payload(), payload);
            let pnet_c = pn::udp::ipv4_checksum(&pu, &ip.src, &ip.dst);
            if *zero_checksum {
                // UDP_COMPUTED_ZERO_PNET
                assert_eq!((pnet_c, pu.get_checksum()), (0, 0xffff));
                assert!(seen.has(UDP_COMPUTED_ZERO_PNET));
            } else {
                assert_eq!(pnet_c, pu.get_checksum());
            }
        }
        Valid::Icmp {
            eth,
            ip,
            message,
            body,
            ..
        } => {
            let l4 = assert_ours_ip(frame, eth, ip);
            let ours = Icmpv4Packet::new_checked(&l4[..]).unwrap();
            let repr = Icmpv4Repr::parse(&ours).unwrap();
            assert_eq!((repr.message, repr.body), (*message, &body[..]));

            let s = ep::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(ep::LinkSlice::Ethernet2(e)) = &s.link else {
                panic!("{s:?}")
            };
            assert_ep_ethernet(e, eth);
            let Some(ep::NetSlice::Ipv4(v4)) = &s.net else {
                panic!("{s:?}")
            };
            assert_ep_ipv4(&v4.header(), ip);
            let Some(ep::TransportSlice::Icmpv4(i)) = &s.transport else {
                panic!("{s:?}")
            };
            assert_eq!(
                (i.type_u8(), i.code_u8()),
                (message.msg_type(), message.code())
            );
            assert_eq!(i.payload(), body);
            assert_eq!(i.slice(), &l4[..]);
            // etherparse's typed recomputation is exact unless it dropped bytes (asserted by
            // compare_frame under ICMP_EP_TYPED_HEADER_LOSSY, which our emitter reaches only
            // for parameter problems with codes 1 and 2 and a non-zero pointer).
            if i.icmp_type().calc_checksum(i.payload()) != i.checksum() {
                assert!(seen.has(ICMP_EP_TYPED_HEADER_LOSSY));
                assert!(matches!(
                    message,
                    Icmpv4Message::ParamProblem {
                        reason: ParamProblem::MissingOption | ParamProblem::BadLength,
                        pointer: 1..,
                    }
                ));
            }

            assert_pnet_ethernet(&pe, eth);
            let pi = pn::ipv4::Ipv4Packet::new(pe.payload()).unwrap();
            assert_pnet_ipv4(&pi, ip);
            let pc = pn::icmp::IcmpPacket::new(pi.payload()).unwrap();
            assert_eq!(
                (pc.get_icmp_type().0, pc.get_icmp_code().0),
                (message.msg_type(), message.code())
            );
            assert_eq!(&pc.payload()[4..], &body[..]);
            assert_eq!(pn::icmp::checksum(&pc), pc.get_checksum());
        }
        Valid::Arp { eth, arp, .. } => {
            let f = EthernetFrame::new_checked(frame).unwrap();
            assert_eq!(EthernetRepr::parse(&f).unwrap(), *eth);
            let ours = ArpPacket::new_checked(f.payload()).unwrap();
            assert_eq!(ArpRepr::parse(&ours).unwrap(), *arp);

            let s = ep::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(ep::LinkSlice::Ethernet2(e)) = &s.link else {
                panic!("{s:?}")
            };
            assert_ep_ethernet(e, eth);
            let Some(ep::NetSlice::Arp(a)) = &s.net else {
                panic!("{s:?}")
            };
            assert_eq!(a.hw_addr_type(), ep::ArpHardwareId::ETHERNET);
            assert_eq!(a.proto_addr_type(), ep::EtherType::IPV4);
            assert_eq!((a.hw_addr_size(), a.proto_addr_size()), (6, 4));
            assert_eq!(a.operation().0, arp.operation.code());
            assert_eq!(a.sender_hw_addr(), arp.sender_mac.0);
            assert_eq!(a.sender_protocol_addr(), arp.sender_ip.octets());
            assert_eq!(a.target_hw_addr(), arp.target_mac.0);
            assert_eq!(a.target_protocol_addr(), arp.target_ip.octets());
            assert!(s.transport.is_none());

            assert_pnet_ethernet(&pe, eth);
            let pa = pn::arp::ArpPacket::new(pe.payload()).unwrap();
            assert_eq!(pa.get_hardware_type(), pn::arp::ArpHardwareTypes::Ethernet);
            assert_eq!(pa.get_protocol_type(), pn::ethernet::EtherTypes::Ipv4);
            assert_eq!((pa.get_hw_addr_len(), pa.get_proto_addr_len()), (6, 4));
            assert_eq!(pa.get_operation().0, arp.operation.code());
            assert_eq!(pa.get_sender_hw_addr().octets(), arp.sender_mac.0);
            assert_eq!(pa.get_sender_proto_addr(), arp.sender_ip);
            assert_eq!(pa.get_target_hw_addr().octets(), arp.target_mac.0);
            assert_eq!(pa.get_target_proto_addr(), arp.target_ip);
        }
        Valid::Ip { eth, ip, .. } => {
            let payload = assert_ours_ip(frame, eth, ip);
            let e = ep::Ethernet2Slice::from_slice_without_fcs(frame).unwrap();
            assert_ep_ethernet(&e, eth);
            let eh = ep::Ipv4HeaderSlice::from_slice(e.payload_slice()).unwrap();
            assert_ep_ipv4(&eh, ip);
            match ep::Ipv4Slice::from_slice(e.payload_slice()) {
                Ok(v4) if u8::from(ip.protocol) != AH => {
                    assert_eq!(v4.payload().payload, &payload[..]);
                    assert_eq!(v4.payload().fragmented, ip.is_fragment());
                }
                // IPV4_AUTH_HEADER: etherparse decodes the random payload as an AH header.
                _ => assert!(seen.has(IPV4_AUTH_HEADER)),
            }
            assert_pnet_ethernet(&pe, eth);
            let pi = pn::ipv4::Ipv4Packet::new(pe.payload()).unwrap();
            assert_pnet_ipv4(&pi, ip);
            assert_eq!(pi.payload(), &payload[..]);
        }
    }
    // A valid IPv4 header has a valid checksum and well-formed options for everyone.
    for branch in [
        ETH_UNSUPPORTED,
        IPV4_BAD_HEADER_CHECKSUM,
        IPV4_CHECKSUM_NEGATIVE_ZERO,
        IPV4_RESERVED_FLAG,
        IPV4_BAD_OPTIONS,
        ARP_NOT_ETHERNET_IPV4,
        ARP_OPERATION,
    ] {
        assert!(!seen.has(branch), "{branch} on a valid frame: {seen:?}");
    }
    if !matches!(valid, Valid::Ip { .. }) {
        // The UDP and ICMP layers of UDP and ICMP frames are valid too.
        for branch in [
            UDP_LENGTH_ZERO,
            UDP_ZERO_CHECKSUM,
            UDP_BAD_CHECKSUM,
            ICMP_BAD_CHECKSUM,
        ] {
            assert!(!seen.has(branch), "{branch} on a valid frame: {seen:?}");
        }
    }
}

pub(crate) fn config(cases: u32) -> ProptestConfig {
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config(256))]

    /// Ethernet + IPv4 (with options) + UDP from our `Repr`s: etherparse's `SlicedPacket` and
    /// pnet read back every field (addresses, ports, lengths, ident, flags, offset, TTL,
    /// protocol, DSCP/ECN, option bytes), and recompute the same IPv4 and UDP checksums; the
    /// computed-zero UDP checksum is sent as 0xFFFF (L3.6), which pnet computes as 0.
    #[test]
    fn valid_udp_frames_agree(valid in valid_udp()) {
        check_valid(&valid);
    }

    /// Ethernet + IPv4 + ICMP from our `Repr`s, every message type and code we emit: type,
    /// code, rest-of-header, body and checksum agree with etherparse and pnet; errors' quotes
    /// agree with etherparse's IPv4 and UDP header slices.
    #[test]
    fn valid_icmp_frames_agree(valid in valid_icmp()) {
        check_valid(&valid);
    }

    /// Ethernet + ARP (RFC 826) from our `Repr`s: every field agrees, padding is not part of
    /// the packet for anyone.
    #[test]
    fn valid_arp_frames_agree(valid in valid_arp()) {
        check_valid(&valid);
    }

    /// Ethernet + IPv4 with arbitrary options, fragment fields and protocol: header fields,
    /// header checksum and the payload (trimmed to the total length) agree.
    #[test]
    fn valid_ipv4_frames_agree(valid in valid_ip()) {
        check_valid(&valid);
    }
}
