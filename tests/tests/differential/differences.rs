//! Each documented difference, demonstrated on fixed bytes.

use super::*;

// ------------------------------------------------------------------------------------------------
// Each documented difference on fixed bytes
// ------------------------------------------------------------------------------------------------

/// A copy of a golden frame with `edit` applied, then the IPv4 header checksum recomputed if
/// `fix_ip`.
pub(crate) fn edited(frame: &[u8], fix_ip: bool, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut f = frame.to_vec();
    edit(&mut f);
    if fix_ip {
        fix_ip_checksum(&mut f);
    }
    f
}

/// Runs [`compare_frame`] and returns the branches it took.
pub(crate) fn branches(frame: &[u8]) -> Seen {
    let mut seen = Seen::default();
    compare_frame(frame, &mut seen);
    seen
}

/// The kernel's UDP datagram (golden `UDP_DATAGRAM`): IPv4 at 14, UDP at 34.
pub(crate) const UDP_AT: usize = 34;

/// ETH_UNSUPPORTED: an 802.1Q tag, an 802.3 length and IPv6 are each refused with an error
/// naming the value, while etherparse decodes the VLAN tag and pnet simply reports the value.
#[test]
pub(crate) fn difference_ethernet_unsupported_ethertypes() {
    let vlan = edited(golden::UDP_DATAGRAM, false, |f| {
        f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    });
    let ours = EthernetRepr::parse(&EthernetFrame::new_checked(&vlan[..]).unwrap());
    assert_eq!(
        ours,
        Err(EthernetError::VlanTagged {
            tpid: 0x8100,
            tci: Some(5)
        })
    );
    let s = ep::SlicedPacket::from_ethernet(&vlan).unwrap();
    assert_eq!(s.vlan_ids().first().map(|v| v.value()), Some(5));
    assert!(
        matches!(s.net, Some(ep::NetSlice::Ipv4(_))),
        "etherparse looks through the tag"
    );
    assert_eq!(
        pn::ethernet::EthernetPacket::new(&vlan)
            .unwrap()
            .get_ethertype()
            .0,
        0x8100
    );
    assert!(branches(&vlan).has(ETH_UNSUPPORTED));

    let llc = edited(golden::ARP_REQUEST, false, |f| {
        f[12..14].copy_from_slice(&28u16.to_be_bytes())
    });
    let ours = EthernetRepr::parse(&EthernetFrame::new_checked(&llc[..]).unwrap());
    assert_eq!(ours, Err(EthernetError::Ieee8023Length { length: 28 }));
    assert!(branches(&llc).has(ETH_UNSUPPORTED));

    let v6 = edited(golden::UDP_DATAGRAM, false, |f| {
        f[12..14].copy_from_slice(&[0x86, 0xdd])
    });
    let ours = EthernetRepr::parse(&EthernetFrame::new_checked(&v6[..]).unwrap());
    assert_eq!(
        ours,
        Err(EthernetError::UnsupportedEtherType { ethertype: 0x86dd })
    );
    assert!(branches(&v6).has(ETH_UNSUPPORTED));
}

/// IPV4_BAD_HEADER_CHECKSUM and IPV4_CHECKSUM_BEFORE_TOTAL_LEN: a flipped checksum byte is
/// dropped by us (RFC 1122 §3.2.1.2) and parsed by both oracles; with a total length beyond the
/// buffer as well, we report the checksum (Linux's order), etherparse the length.
#[test]
pub(crate) fn difference_ipv4_bad_header_checksum() {
    let bad = edited(golden::UDP_DATAGRAM, false, |f| f[24] ^= 0x01);
    let ip = &bad[ETH_LEN..];
    assert_eq!(
        Ipv4Packet::new_checked(ip).unwrap_err(),
        Ipv4Error::BadChecksum {
            checksum: 0x968b,
            expected: 0x978b
        }
    );
    assert!(ep::Ipv4Slice::from_slice(ip).is_ok());
    let p = pn::ipv4::Ipv4Packet::new(ip).unwrap();
    assert_ne!(pn::ipv4::checksum(&p), p.get_checksum());
    let seen = branches(&bad);
    assert!(seen.has(IPV4_BAD_HEADER_CHECKSUM));
    assert!(!seen.has(IPV4_CHECKSUM_BEFORE_TOTAL_LEN));

    let both = edited(golden::UDP_DATAGRAM, false, |f| {
        f[24] ^= 0x01;
        f[16..18].copy_from_slice(&100u16.to_be_bytes());
    });
    assert!(matches!(
        Ipv4Packet::new_checked(&both[ETH_LEN..]),
        Err(Ipv4Error::BadChecksum { .. })
    ));
    assert!(matches!(
        ep::Ipv4Slice::from_slice(&both[ETH_LEN..]),
        Err(ep::err::ipv4::SliceError::Len(_))
    ));
    assert!(branches(&both).has(IPV4_CHECKSUM_BEFORE_TOTAL_LEN));
}

/// IPV4_CHECKSUM_NEGATIVE_ZERO: a header whose checksum computes to 0 but which carries 0xFFFF
/// (the other one's-complement zero) sums to all ones: we accept it, as Linux's `ip_fast_csum`
/// does; pnet and etherparse compute 0 and compare field values.
#[test]
pub(crate) fn difference_ipv4_negative_zero_checksum() {
    let frame = edited(golden::UDP_DATAGRAM, false, |f| {
        // With the checksum and ident fields zero the header sums to S; an ident of !S makes
        // the sum all ones, so the computed checksum is 0.
        f[18..20].fill(0);
        f[24..26].fill(0);
        let s = pnet_checksum(&f[ETH_LEN..ETH_LEN + 20]);
        f[18..20].copy_from_slice(&s.to_be_bytes());
        f[24..26].copy_from_slice(&[0xff, 0xff]);
    });
    let ip = &frame[ETH_LEN..];
    let ours = Ipv4Packet::new_checked(ip).unwrap();
    assert_eq!((ours.checksum(), ours.expected_checksum()), (0xffff, 0));
    assert!(ours.verify_checksum());
    let p = pn::ipv4::Ipv4Packet::new(ip).unwrap();
    assert_eq!(pn::ipv4::checksum(&p), 0);
    let eh = ep::Ipv4HeaderSlice::from_slice(ip).unwrap();
    assert_eq!(eh.to_header().calc_header_checksum(), 0);
    assert!(branches(&frame).has(IPV4_CHECKSUM_NEGATIVE_ZERO));
}

/// IPV4_RESERVED_FLAG: the reserved ("evil", RFC 3514) bit is kept by us and pnet and ignored on
/// receive, as Linux does; etherparse's typed header drops it and so computes the checksum of a
/// different header.
#[test]
pub(crate) fn difference_ipv4_reserved_flag() {
    let frame = edited(golden::UDP_DATAGRAM, true, |f| f[20] |= 0x80);
    let ip = &frame[ETH_LEN..];
    let ours = Ipv4Packet::new_checked(ip).unwrap();
    assert!(ours.reserved_flag() && ours.dont_frag());
    let p = pn::ipv4::Ipv4Packet::new(ip).unwrap();
    assert_eq!(p.get_flags(), 0b110);
    assert_eq!(pn::ipv4::checksum(&p), p.get_checksum());
    let eh = ep::Ipv4HeaderSlice::from_slice(ip).unwrap();
    assert_ne!(eh.to_header().calc_header_checksum(), eh.header_checksum());
    assert!(branches(&frame).has(IPV4_RESERVED_FLAG));
}

/// IPV4_BAD_OPTIONS: an option whose length byte runs past the options area is refused by our
/// `Ipv4Repr::parse` (Linux `ip_options_compile`: parameter problem); the oracles keep the bytes.
#[test]
pub(crate) fn difference_ipv4_bad_options() {
    let frame = edited(golden::UDP_WITH_IP_OPTIONS, true, |f| f[35] = 13);
    let ip = &frame[ETH_LEN..];
    let ours = Ipv4Packet::new_checked(ip).unwrap();
    assert!(matches!(
        Ipv4Repr::parse(&ours),
        Err(Ipv4Error::BadOption(_))
    ));
    let es = ep::Ipv4Slice::from_slice(ip).unwrap();
    assert_eq!(es.header().options(), ours.options());
    let p = pn::ipv4::Ipv4Packet::new(ip).unwrap();
    assert_eq!(p.get_options_raw(), ours.options());
    assert!(branches(&frame).has(IPV4_BAD_OPTIONS));
}

/// IPV4_PNET_OPTION_TYPE: option type 0x81 (copied flag set, number 1) is a TLV option for RFC 791,
/// Linux and us; pnet takes it for a one-byte No Operation by its number bits and then reads the
/// length byte 0x04 as an option of its own (number 4, timestamp).
#[test]
pub(crate) fn difference_ipv4_pnet_option_type() {
    let options = [0x81, 0x04, 0xaa, 0xbb, 0x01, 0x01, 0x01, 0x00, 0, 0, 0, 0];
    let frame = edited(golden::UDP_WITH_IP_OPTIONS, true, |f| {
        f[34..46].copy_from_slice(&options);
    });
    let ip = &frame[ETH_LEN..];
    let repr = Ipv4Repr::parse(&Ipv4Packet::new_checked(ip).unwrap()).unwrap();
    let ours: Vec<_> = repr
        .options
        .iter()
        .map(|o| (o.kind, o.data.to_vec()))
        .collect();
    assert_eq!(
        ours,
        [
            (0x81, vec![0xaa, 0xbb]),
            (1, vec![]),
            (1, vec![]),
            (1, vec![])
        ]
    );
    let p = pn::ipv4::Ipv4Packet::new(ip).unwrap();
    let theirs: Vec<_> = p
        .get_options_iter()
        .take(2)
        .map(|o| (o.get_number().0, o.get_length()))
        .collect();
    assert_eq!(theirs, [(1, vec![]), (4, vec![0xaa])]);
    assert!(branches(&frame).has(IPV4_PNET_OPTION_TYPE));
}

/// IPV4_AUTH_HEADER: with protocol 51 etherparse parses the payload as an IPsec authentication
/// header (RFC 4302) and fails on the kernel's UDP bytes; our payload is opaque bytes.
#[test]
pub(crate) fn difference_ipv4_auth_header() {
    let frame = edited(golden::UDP_DATAGRAM, true, |f| f[23] = AH);
    let ip = &frame[ETH_LEN..];
    let ours = Ipv4Packet::new_checked(ip).unwrap();
    assert_eq!(ours.payload(), &golden::UDP_DATAGRAM[UDP_AT..]);
    assert!(ep::Ipv4Slice::from_slice(ip).is_err());
    assert!(branches(&frame).has(IPV4_AUTH_HEADER));
}

/// UDP_LENGTH_ZERO: etherparse reads UDP length 0 as "to the end of the slice"; RFC 768 has no
/// such rule for IPv4 and Linux drops UDP lengths below 8 (L5.1), as we do.
#[test]
pub(crate) fn difference_udp_length_zero() {
    let frame = edited(golden::UDP_DATAGRAM, false, |f| f[38..40].fill(0));
    let dgram = &frame[UDP_AT..];
    assert_eq!(
        UdpPacket::new_checked(dgram).unwrap_err(),
        UdpError::LengthTooSmall { length: 0 }
    );
    let e = ep::UdpSlice::from_slice(dgram).unwrap();
    assert_eq!(e.payload(), b"hello, udpstack");
    assert!(branches(&frame).has(UDP_LENGTH_ZERO));
}

/// UDP_ZERO_CHECKSUM: a zero checksum means "not computed" and is accepted (RFC 768, L5.2);
/// the oracles only compute a value (etherparse never 0), so a naive compare would reject.
#[test]
pub(crate) fn difference_udp_zero_checksum() {
    let frame = edited(golden::UDP_DATAGRAM, false, |f| f[40..42].fill(0));
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let ours = UdpPacket::new_checked(&frame[UDP_AT..]).unwrap();
    assert!(ours.verify_checksum(src, dst));
    assert_eq!(UdpRepr::parse(&ours, src, dst).unwrap().payload_len, 15);
    let e = ep::UdpSlice::from_slice(&frame[UDP_AT..]).unwrap();
    let ep_c = e
        .to_header()
        .calc_checksum_ipv4_raw(src.octets(), dst.octets(), e.payload())
        .unwrap();
    assert_eq!(ep_c, 0x46ba);
    let seen = branches(&frame);
    assert!(seen.has(UDP_ZERO_CHECKSUM));
    assert!(!seen.has(UDP_BAD_CHECKSUM));
}

/// UDP_COMPUTED_ZERO_PNET: for a datagram whose checksum computes to 0, we emit 0xFFFF (L3.6,
/// RFC 768), etherparse computes 0xFFFF, pnet returns 0.
#[test]
pub(crate) fn difference_udp_computed_zero() {
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    // Payload word chosen as !S, where S is the sum with that word zero.
    let mut dgram = vec![
        0x9c, 0x40, 0x00, 0x07, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let s = pn::udp::ipv4_checksum(&pn::udp::UdpPacket::new(&dgram).unwrap(), &src, &dst);
    dgram[8..10].copy_from_slice(&s.to_be_bytes());
    let repr = UdpRepr {
        src_port: 40000,
        dst_port: 7,
        payload_len: 4,
    };
    repr.emit(&mut dgram, src, dst).unwrap();
    assert_eq!(be16(&dgram, 6), 0xffff);
    let p = pn::udp::UdpPacket::new(&dgram).unwrap();
    assert_eq!(pn::udp::ipv4_checksum(&p, &src, &dst), 0);
    let e = ep::UdpSlice::from_slice(&dgram).unwrap();
    let ep_c = e
        .to_header()
        .calc_checksum_ipv4_raw(src.octets(), dst.octets(), e.payload())
        .unwrap();
    assert_eq!(ep_c, 0xffff);
    let mut seen = Seen::default();
    compare_udp(&dgram, src, dst, &mut seen);
    assert!(seen.has(UDP_COMPUTED_ZERO_PNET));
}

/// UDP_PNET_PAYLOAD_UNTRIMMED: a UDP length shorter than the IP payload trims the datagram for
/// us and etherparse (L5.1, the checksum covers the UDP length only); pnet's payload runs to the
/// end of the buffer and its checksum helper puts the buffer length in the pseudo-header.
#[test]
pub(crate) fn difference_udp_pnet_untrimmed() {
    // The kernel's datagram with 5 bytes of junk added inside the IP packet.
    let frame = edited(golden::UDP_DATAGRAM, true, |f| {
        f.extend_from_slice(b"junk!");
        f[16..18].copy_from_slice(&48u16.to_be_bytes());
    });
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let dgram = &frame[UDP_AT..];
    let ours = UdpPacket::new_checked(dgram).unwrap();
    assert_eq!(ours.payload(), b"hello, udpstack");
    assert!(ours.verify_checksum(src, dst));
    assert_eq!(
        ep::UdpSlice::from_slice(dgram).unwrap().payload(),
        b"hello, udpstack"
    );
    let p = pn::udp::UdpPacket::new(dgram).unwrap();
    assert_eq!(p.payload(), b"hello, udpstackjunk!");
    assert_ne!(pn::udp::ipv4_checksum(&p, &src, &dst), 0x46ba);
    let seen = branches(&frame);
    assert!(seen.has(UDP_TRIMMED) && seen.has(UDP_PNET_PAYLOAD_UNTRIMMED));
}

/// ICMP_SHORT_PNET: a 6-byte ICMP message is refused by us and etherparse (RFC 792's header is
/// 8 bytes), pnet's generic packet needs only 4.
#[test]
pub(crate) fn difference_icmp_short() {
    let msg = [8u8, 0, 0xf7, 0xfd, 0, 1];
    assert_eq!(
        Icmpv4Packet::new_checked(&msg[..]).unwrap_err(),
        Icmpv4Error::Truncated { len: 6 }
    );
    assert!(ep::Icmpv4Slice::from_slice(&msg).is_err());
    assert!(pn::icmp::IcmpPacket::new(&msg).is_some());
    let mut seen = Seen::default();
    compare_icmp(&msg, &mut seen);
    assert!(seen.has(ICMP_SHORT_PNET));
}

/// ICMP_BAD_CHECKSUM and ICMP_CHECKSUM_NEGATIVE_ZERO: a corrupted echo request is dropped by us
/// (Linux `icmp_rcv`) and parsed by the oracles. An echo request whose checksum computes to 0
/// but carries 0xFFFF (the other zero) sums to all ones: we accept it, as Linux's `csum_fold`
/// does, while pnet and etherparse compute 0 and compare field values.
#[test]
pub(crate) fn difference_icmp_checksums() {
    let bad = edited(golden::ECHO_REQUEST, false, |f| f[40] ^= 0x80);
    let msg = &bad[UDP_AT..];
    assert!(matches!(
        Icmpv4Packet::new_checked(msg),
        Err(Icmpv4Error::BadChecksum {
            checksum: 0xc2c6,
            ..
        })
    ));
    assert!(ep::Icmpv4Slice::from_slice(msg).is_ok());
    assert!(branches(&bad).has(ICMP_BAD_CHECKSUM));

    // 0x0800 + 0xf7ff = 0xffff: the computed checksum is 0.
    let minus_zero = [8u8, 0, 0xff, 0xff, 0xf7, 0xff, 0, 0];
    let ours = Icmpv4Packet::new_checked(&minus_zero[..]).unwrap();
    assert_eq!(ours.expected_checksum(), 0);
    let p = pn::icmp::IcmpPacket::new(&minus_zero).unwrap();
    assert_eq!(pn::icmp::checksum(&p), 0);
    let e = ep::Icmpv4Slice::from_slice(&minus_zero).unwrap();
    assert_eq!(e.icmp_type().calc_checksum(e.payload()), 0);
    let mut seen = Seen::default();
    compare_icmp(&minus_zero, &mut seen);
    assert!(seen.has(ICMP_CHECKSUM_NEGATIVE_ZERO));

    // The converse is not a difference: over all-zero bytes only 0xFFFF verifies (a stored 0
    // leaves the sum at 0), for us, pnet and Linux alike.
    let zero = [0u8; 8];
    assert!(Icmpv4Packet::new_checked(&zero[..]).is_err());
    assert_eq!(
        pn::icmp::checksum(&pn::icmp::IcmpPacket::new(&zero).unwrap()),
        0xffff
    );
}

/// ICMP_EP_TYPED_HEADER_LOSSY and ICMP_PARAM_PROBLEM_POINTER: the parameter problem we emit for
/// code 1 carries its pointer in byte 4, which etherparse's typed header neither exposes nor
/// re-serialises, so its checksum recomputation disagrees with the (valid) stored value;
/// likewise a port unreachable with non-zero unused bytes.
#[test]
pub(crate) fn difference_icmp_typed_header_lossy() {
    let repr = Icmpv4Repr {
        message: Icmpv4Message::ParamProblem {
            reason: ParamProblem::MissingOption,
            pointer: 20,
        },
        body: &golden::UDP_DATAGRAM[ETH_LEN..ETH_LEN + 28],
    };
    let mut msg = vec![0u8; repr.buffer_len()];
    repr.emit(&mut msg).unwrap();
    assert!(Icmpv4Packet::new_checked(&msg[..]).is_ok());
    let e = ep::Icmpv4Slice::from_slice(&msg).unwrap();
    assert_eq!(
        e.icmp_type(),
        ep::Icmpv4Type::ParameterProblem(ep::icmpv4::ParameterProblemHeader::MissingRequiredOption)
    );
    assert_ne!(e.icmp_type().calc_checksum(e.payload()), e.checksum());
    let mut seen = Seen::default();
    compare_icmp(&msg, &mut seen);
    assert!(seen.has(ICMP_EP_TYPED_HEADER_LOSSY) && seen.has(ICMP_PARAM_PROBLEM_POINTER));

    let mut unreachable = golden::ICMP_PORT_UNREACHABLE.to_vec();
    unreachable[38] = 0x12;
    fix_icmp_checksum(&mut unreachable);
    let seen = branches(&unreachable);
    assert!(seen.has(ICMP_EP_TYPED_HEADER_LOSSY) && !seen.has(ICMP_BAD_CHECKSUM));
}

/// ICMP_EP_TIMESTAMP_LENGTH and ICMP_UNSUPPORTED: a 24-byte timestamp request is refused by
/// etherparse (it must be 20 bytes); our view accepts it and our `Repr` reports the type as
/// unsupported; an unknown type is "unknown" to etherparse and unsupported for us.
#[test]
pub(crate) fn difference_icmp_timestamp_and_unsupported() {
    let mut msg = vec![13u8, 0, 0, 0, 0, 1, 0, 2];
    msg.extend_from_slice(&[0; 16]);
    let c = pnet_checksum(&msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    assert!(ep::Icmpv4Slice::from_slice(&msg).is_err());
    let ours = Icmpv4Packet::new_checked(&msg[..]).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&ours).unwrap_err(),
        Icmpv4Error::UnsupportedType { msg_type: 13 }
    );
    let mut seen = Seen::default();
    compare_icmp(&msg, &mut seen);
    assert!(seen.has(ICMP_EP_TIMESTAMP_LENGTH) && seen.has(ICMP_UNSUPPORTED));

    let mut code16 = golden::ICMP_PORT_UNREACHABLE[UDP_AT..].to_vec();
    code16[1] = 16;
    fix_checksum_at(&mut code16, 2);
    let ours = Icmpv4Packet::new_checked(&code16[..]).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&ours).unwrap_err(),
        Icmpv4Error::UnknownCode {
            msg_type: 3,
            code: 16
        }
    );
    assert!(matches!(
        ep::Icmpv4Slice::from_slice(&code16).unwrap().icmp_type(),
        ep::Icmpv4Type::Unknown {
            type_u8: 3,
            code_u8: 16,
            ..
        }
    ));
    let mut seen = Seen::default();
    compare_icmp(&code16, &mut seen);
    assert!(seen.has(ICMP_UNSUPPORTED));
}

/// Recomputes a checksum field at `at` over all of `data` with pnet.
pub(crate) fn fix_checksum_at(data: &mut [u8], at: usize) {
    data[at..at + 2].fill(0);
    let c = pnet_checksum(data);
    data[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// ICMP_ECHO_NONZERO_CODE and ICMP_SOURCE_QUENCH: an echo request with code 1 is an echo
/// request for us (Linux's `icmp_echo` ignores the code) and "unknown" for etherparse; a source
/// quench has no etherparse variant.
#[test]
pub(crate) fn difference_icmp_echo_code_and_source_quench() {
    let mut echo = golden::ECHO_REQUEST[UDP_AT..].to_vec();
    echo[1] = 1;
    fix_checksum_at(&mut echo, 2);
    let ours = Icmpv4Packet::new_checked(&echo[..]).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&ours).unwrap().message,
        Icmpv4Message::EchoRequest {
            ident: 0x1234,
            seq_no: 1
        }
    );
    let mut seen = Seen::default();
    compare_icmp(&echo, &mut seen);
    assert!(seen.has(ICMP_ECHO_NONZERO_CODE));

    let mut quench = golden::ICMP_PORT_UNREACHABLE[UDP_AT..].to_vec();
    quench[..2].copy_from_slice(&[4, 0]);
    fix_checksum_at(&mut quench, 2);
    let ours = Icmpv4Packet::new_checked(&quench[..]).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&ours).unwrap().message,
        Icmpv4Message::SourceQuench
    );
    let mut seen = Seen::default();
    compare_icmp(&quench, &mut seen);
    assert!(seen.has(ICMP_SOURCE_QUENCH));
}

/// ICMP_QUOTE_VERSION: the quoted header of an ICMP error is read without a version check, as
/// Linux's `icmp_unreach` reads it (only IHL ≥ 5 and 8 payload bytes matter, L1.1); etherparse's
/// header slice refuses a version other than 4.
#[test]
pub(crate) fn difference_icmp_quote_version() {
    let mut msg = golden::ICMP_PORT_UNREACHABLE[UDP_AT..].to_vec();
    msg[8] = 0x65; // quoted version 6, IHL 5
    fix_checksum_at(&mut msg, 2);
    let ours = Icmpv4Packet::new_checked(&msg[..]).unwrap();
    let quote = Quote::parse(Icmpv4Repr::parse(&ours).unwrap().body).unwrap();
    assert_eq!((quote.src_port(), quote.dst_port()), (50000, 9));
    assert!(ep::Ipv4HeaderSlice::from_slice(&msg[8..]).is_err());
    let mut seen = Seen::default();
    compare_icmp(&msg, &mut seen);
    assert!(seen.has(ICMP_QUOTE_VERSION));
}

/// ARP_NOT_ETHERNET_IPV4 and ARP_OPERATION: ARP for another hardware type (ARCnet, 7), and
/// RARP's operation 3, are refused by us with the field named; etherparse and pnet read them.
/// (Hardware type 6, IEEE 802, is accepted like 1, as Linux's `arp_process` does on Ethernet.)
#[test]
pub(crate) fn difference_arp() {
    let arcnet = edited(golden::ARP_REQUEST, false, |f| {
        f[14..16].copy_from_slice(&[0, 7])
    });
    assert_eq!(
        ArpPacket::new_checked(&arcnet[ETH_LEN..]).unwrap_err(),
        ArpError::UnsupportedHardwareType { htype: 7 }
    );
    assert!(ep::ArpPacketSlice::from_slice(&arcnet[ETH_LEN..]).is_ok());
    assert!(branches(&arcnet).has(ARP_NOT_ETHERNET_IPV4));

    let rarp = edited(golden::ARP_REQUEST, false, |f| f[21] = 3);
    let ours = ArpPacket::new_checked(&rarp[ETH_LEN..]).unwrap();
    assert_eq!(
        ArpRepr::parse(&ours).unwrap_err(),
        ArpError::UnsupportedOperation { operation: 3 }
    );
    let e = ep::ArpPacketSlice::from_slice(&rarp[ETH_LEN..]).unwrap();
    assert_eq!(e.operation(), ep::ArpOperation(3));
    assert!(branches(&rarp).has(ARP_OPERATION));
}
