//! Each error variant, provoked on purpose.

use super::*;

/// The IPv4 packet of `UDP_DATAGRAM` with `edit` applied and the checksum recomputed.
fn edited_ipv4(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut packet = ip_of(golden::UDP_DATAGRAM).into_inner().to_vec();
    edit(&mut packet);
    Ipv4Packet::new_unchecked(&mut packet[..]).fill_checksum();
    packet
}

#[test]
fn ipv4_header_errors() {
    let p = edited_ipv4(|p| p[0] = 0x65);
    assert_eq!(
        Ipv4Packet::new_checked(&p[..]).unwrap_err(),
        Ipv4Error::BadVersion { version: 6 }
    );
    // The lax view, like Linux's icmp_unreach, does not look at the version.
    assert!(Ipv4Packet::new_lax(&p[..]).is_ok());
    for ihl in 0..5u8 {
        let p = edited_ipv4(|p| p[0] = 0x40 | ihl);
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            Ipv4Error::HeaderLenTooSmall { ihl }
        );
        assert_eq!(
            Ipv4Packet::new_lax(&p[..]).unwrap_err(),
            Ipv4Error::HeaderLenTooSmall { ihl }
        );
    }
    let p = edited_ipv4(|p| p[2..4].copy_from_slice(&19u16.to_be_bytes()));
    assert_eq!(
        Ipv4Packet::new_checked(&p[..]).unwrap_err(),
        Ipv4Error::TotalLenTooSmall {
            total_len: 19,
            header_len: 20
        }
    );
    let mut p = edited_ipv4(|_| ());
    p[10..12].copy_from_slice(&0xbeefu16.to_be_bytes());
    assert_eq!(
        Ipv4Packet::new_checked(&p[..]).unwrap_err(),
        Ipv4Error::BadChecksum {
            checksum: 0xbeef,
            expected: 0x978b
        }
    );
}

#[test]
fn ipv4_bad_checksum_comes_before_total_length_as_in_linux() {
    // ip_rcv_core verifies the checksum before comparing the total length with the buffer.
    let mut p = edited_ipv4(|p| p[2..4].copy_from_slice(&1000u16.to_be_bytes()));
    assert_eq!(
        Ipv4Packet::new_checked(&p[..]).unwrap_err(),
        Ipv4Error::TotalLenExceedsBuffer {
            total_len: 1000,
            len: 43
        }
    );
    p[10] ^= 1;
    assert!(matches!(
        Ipv4Packet::new_checked(&p[..]).unwrap_err(),
        Ipv4Error::BadChecksum { .. }
    ));
}

/// A 20-byte header plus `options`, for option validation.
fn with_options(options: &[u8]) -> Vec<u8> {
    let header_len = 20 + options.len();
    let mut p = vec![0u8; header_len];
    p[0] = 0x40 | (header_len / 4) as u8;
    p[2..4].copy_from_slice(&(header_len as u16).to_be_bytes());
    p[20..].copy_from_slice(options);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    p
}

#[test]
fn ipv4_option_errors() {
    let parse = |options: &[u8]| {
        let p = with_options(options);
        Ipv4Repr::parse(&Ipv4Packet::new_checked(&p[..]).unwrap())
    };
    // NOPs, then a timestamp-like option that fits exactly.
    assert!(parse(&[1, 1, 1, 1, 68, 4, 5, 0]).is_ok());
    // EOL ends the list; what follows is not looked at (Linux overwrites it).
    assert!(parse(&[0, 99, 99, 99]).is_ok());
    assert_eq!(
        parse(&[1, 1, 1, 7]).unwrap_err(),
        Ipv4Error::BadOption(OptionError::MissingLength {
            offset: 23,
            kind: 7
        })
    );
    assert_eq!(
        parse(&[7, 1, 0, 0]).unwrap_err(),
        Ipv4Error::BadOption(OptionError::BadLength {
            offset: 20,
            kind: 7,
            length: 1,
            available: 4
        })
    );
    assert_eq!(
        parse(&[1, 7, 4, 0]).unwrap_err(),
        Ipv4Error::BadOption(OptionError::BadLength {
            offset: 21,
            kind: 7,
            length: 4,
            available: 3
        })
    );
    assert_eq!(
        Ipv4Options::new(&[1; 41]).unwrap_err(),
        OptionError::TooLong { len: 41 }
    );
    // Padding to a multiple of 4 with EOL.
    assert_eq!(
        Ipv4Options::new(&[1, 1, 1, 1, 1]).unwrap().as_bytes(),
        &[1, 1, 1, 1, 1, 0, 0, 0]
    );
}

#[test]
fn ethernet_unsupported_frames_are_recognised() {
    let mut frame = golden::UDP_DATAGRAM.to_vec();
    let parse = |f: &[u8]| EthernetRepr::parse(&EthernetFrame::new_checked(f).unwrap());
    frame[12..16].copy_from_slice(&[0x81, 0x00, 0x20, 0x64]);
    assert_eq!(
        parse(&frame).unwrap_err(),
        EthernetError::VlanTagged {
            tpid: 0x8100,
            tci: Some(0x2064)
        }
    );
    frame[12..14].copy_from_slice(&[0x88, 0xa8]);
    assert_eq!(
        parse(&frame).unwrap_err(),
        EthernetError::VlanTagged {
            tpid: 0x88a8,
            tci: Some(0x2064)
        }
    );
    assert_eq!(
        parse(&frame[..14]).unwrap_err(),
        EthernetError::VlanTagged {
            tpid: 0x88a8,
            tci: None
        }
    );
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(
        parse(&frame).unwrap_err(),
        EthernetError::UnsupportedEtherType { ethertype: 0x86dd }
    );
    frame[12..14].copy_from_slice(&46u16.to_be_bytes());
    assert_eq!(
        parse(&frame).unwrap_err(),
        EthernetError::Ieee8023Length { length: 46 }
    );
    frame[12..14].copy_from_slice(&1536u16.to_be_bytes());
    assert_eq!(
        parse(&frame).unwrap_err(),
        EthernetError::UnsupportedEtherType { ethertype: 1536 }
    );
}

#[test]
fn arp_unsupported_packets_are_reported() {
    let arp = golden::ARP_REQUEST[ethernet::HEADER_LEN..].to_vec();
    let check = |at: usize, bytes: &[u8]| {
        let mut a = arp.clone();
        a[at..at + bytes.len()].copy_from_slice(bytes);
        ArpPacket::new_checked(&a[..])
            .and_then(|p| ArpRepr::parse(&p))
            .unwrap_err()
    };
    assert_eq!(
        check(0, &[0, 7]),
        ArpError::UnsupportedHardwareType { htype: 7 }
    );
    assert_eq!(
        check(2, &[0x86, 0xdd]),
        ArpError::UnsupportedProtocolType { ptype: 0x86dd }
    );
    assert_eq!(check(4, &[8]), ArpError::BadHardwareLen { hlen: 8 });
    assert_eq!(check(5, &[16]), ArpError::BadProtocolLen { plen: 16 });
    assert_eq!(
        check(6, &[0, 3]),
        ArpError::UnsupportedOperation { operation: 3 }
    );
}

#[test]
fn arp_hardware_type_ieee802_is_accepted_like_linux() {
    // arp_process accepts hardware type 6 (IEEE 802) on Ethernet devices as well as 1.
    let mut arp = golden::ARP_REQUEST[ethernet::HEADER_LEN..].to_vec();
    arp[0..2].copy_from_slice(&6u16.to_be_bytes());
    let packet = ArpPacket::new_checked(&arp[..]).unwrap();
    assert_eq!(packet.hardware_type(), 6);
    let repr = ArpRepr::parse(&packet).unwrap();
    assert_eq!(repr.target_ip, PEER_IP);
    // What udpstack sends says Ethernet, as Linux's replies on an Ethernet device do.
    let mut out = [0u8; 28];
    repr.emit(&mut out).unwrap();
    assert_eq!(ArpPacket::new_unchecked(&out[..]).hardware_type(), 1);
}

#[test]
fn udp_length_errors() {
    let mut datagram = ip_of(golden::UDP_DATAGRAM).payload().to_vec();
    for length in 0..8u16 {
        datagram[4..6].copy_from_slice(&length.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&datagram[..]).unwrap_err(),
            UdpError::LengthTooSmall { length }
        );
    }
    datagram[4..6].copy_from_slice(&24u16.to_be_bytes());
    assert_eq!(
        UdpPacket::new_checked(&datagram[..]).unwrap_err(),
        UdpError::LengthExceedsPayload {
            length: 24,
            payload_len: 23
        }
    );
}

/// An ICMP message of `msg_type`/`code` with a valid checksum.
fn icmp_message(msg_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    Icmpv4Packet::new_unchecked(&mut m[..]).fill_checksum();
    m
}

#[test]
fn icmp_all_sixteen_unreachable_codes_and_frag_needed_mtu() {
    for code in 0..=15u8 {
        let m = icmp_message(3, code, [0, 0, 0x05, 0x78], &[]);
        let repr = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&m[..]).unwrap()).unwrap();
        let Icmpv4Message::DstUnreachable(reason) = repr.message else {
            panic!()
        };
        assert_eq!(reason.code(), code);
        // RFC 1191: only code 4 carries the next-hop MTU.
        if code == 4 {
            assert_eq!(reason, DstUnreachable::FragNeeded { next_hop_mtu: 1400 });
        }
    }
    // L1.1: codes above 15 are dropped.
    let m = icmp_message(3, 16, [0; 4], &[]);
    assert_eq!(
        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&m[..]).unwrap()).unwrap_err(),
        Icmpv4Error::UnknownCode {
            msg_type: 3,
            code: 16
        }
    );
}

#[test]
fn icmp_other_messages() {
    let parse = |m: &[u8]| {
        Icmpv4Packet::new_checked(m).and_then(|p| Icmpv4Repr::parse(&p).map(|r| r.message))
    };
    assert_eq!(
        parse(&icmp_message(11, 1, [0; 4], &[])).unwrap(),
        Icmpv4Message::TimeExceeded(icmpv4::TimeExceeded::FragReassembly)
    );
    assert_eq!(
        parse(&icmp_message(11, 2, [0; 4], &[])).unwrap_err(),
        Icmpv4Error::UnknownCode {
            msg_type: 11,
            code: 2
        }
    );
    assert_eq!(
        parse(&icmp_message(12, 0, [22, 0, 0, 0], &[])).unwrap(),
        Icmpv4Message::ParamProblem {
            reason: icmpv4::ParamProblem::AtPointer,
            pointer: 22
        }
    );
    assert_eq!(
        parse(&icmp_message(5, 1, [10, 0, 0, 254], &[])).unwrap(),
        Icmpv4Message::Redirect {
            reason: icmpv4::Redirect::Host,
            gateway: Ipv4Addr::new(10, 0, 0, 254)
        }
    );
    assert_eq!(
        parse(&icmp_message(4, 0, [0; 4], &[])).unwrap(),
        Icmpv4Message::SourceQuench
    );
    assert_eq!(
        parse(&icmp_message(13, 0, [0; 4], &[0; 12])).unwrap_err(),
        Icmpv4Error::UnsupportedType { msg_type: 13 }
    );
    let mut m = icmp_message(8, 0, [0, 1, 0, 2], b"data");
    m[9] ^= 0x40;
    let expected = Icmpv4Packet::new_unchecked(&m[..]).expected_checksum();
    assert_eq!(
        parse(&m).unwrap_err(),
        Icmpv4Error::BadChecksum {
            checksum: u16::from_be_bytes([m[2], m[3]]),
            expected
        }
    );
}

#[test]
fn emit_refuses_short_buffers_and_unrepresentable_fields() {
    let ip = kernel_udp_header(1, 100);
    for len in 0..ip.header_len() {
        assert_eq!(
            ip.emit(&mut vec![0; len]).unwrap_err(),
            EmitError::BufferTooShort { needed: 20, len }
        );
    }
    assert_eq!(
        Ipv4Repr {
            frag_offset: 12,
            ..ip
        }
        .emit(&mut [0; 20])
        .unwrap_err(),
        EmitError::InvalidField {
            field: "frag_offset",
            value: 12
        }
    );
    assert_eq!(
        Ipv4Repr { dscp: 64, ..ip }.emit(&mut [0; 20]).unwrap_err(),
        EmitError::InvalidField {
            field: "dscp",
            value: 64
        }
    );
    assert_eq!(
        Ipv4Repr {
            payload_len: 65516,
            ..ip
        }
        .emit(&mut [0; 20])
        .unwrap_err(),
        EmitError::InvalidField {
            field: "payload_len",
            value: 65516
        }
    );
    let udp = UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload_len: 3,
    };
    assert_eq!(
        udp.emit(&mut [0; 10], PEER_IP, KERNEL_IP).unwrap_err(),
        EmitError::BufferTooShort {
            needed: 11,
            len: 10
        }
    );
    let eth = EthernetRepr {
        dst: PEER_MAC,
        src: KERNEL_MAC,
        ethertype: EtherType::Ipv4,
    };
    assert_eq!(
        eth.emit(&mut [0; 13]).unwrap_err(),
        EmitError::BufferTooShort {
            needed: 14,
            len: 13
        }
    );
}

#[test]
fn mac_addr_text_round_trip() {
    let mac: MacAddr = "02:00:00:00:00:0a".parse().unwrap();
    assert_eq!(mac, MacAddr([2, 0, 0, 0, 0, 10]));
    assert_eq!(mac.to_string(), "02:00:00:00:00:0a");
    assert!(mac.is_unicast() && mac.is_local() && !mac.is_broadcast());
    assert!(MacAddr::BROADCAST.is_multicast());
    for bad in [
        "",
        "02:00:00:00:00",
        "02:00:00:00:00:00:00",
        "0g:00:00:00:00:00",
        "002:0:0:0:0:0",
    ] {
        assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
    }
}
