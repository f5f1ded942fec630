//! The kernel's golden frames: exact fields, and byte-identical re-emission.

use super::*;

/// Parses `frame` layer by layer and emits it again from the `Repr`s alone (non-first fragments
/// carry their payload over as bytes).
fn reemit(frame: &[u8]) -> Vec<u8> {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let eth_repr = EthernetRepr::parse(&eth).unwrap();
    let mut out = vec![0u8; frame.len()];
    eth_repr.emit(&mut out).unwrap();
    let out_l3 = &mut out[eth_repr.buffer_len()..];
    match eth_repr.ethertype {
        EtherType::Arp => {
            let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
            arp.emit(out_l3).unwrap();
        }
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            let ip_repr = Ipv4Repr::parse(&ip).unwrap();
            ip_repr.emit(out_l3).unwrap();
            let out_l4 = &mut out_l3[ip_repr.header_len()..ip_repr.buffer_len()];
            if ip_repr.is_fragment() {
                out_l4.copy_from_slice(ip.payload());
            } else {
                match ip_repr.protocol {
                    IpProtocol::Udp => {
                        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                        let repr = UdpRepr::parse(&udp, ip_repr.src, ip_repr.dst).unwrap();
                        out_l4[udp::HEADER_LEN..].copy_from_slice(udp.payload());
                        repr.emit(out_l4, ip_repr.src, ip_repr.dst).unwrap();
                    }
                    IpProtocol::Icmp => {
                        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
                        Icmpv4Repr::parse(&icmp).unwrap().emit(out_l4).unwrap();
                    }
                    other => panic!("no golden frame carries {other:?}"),
                }
            }
        }
        other => panic!("no golden frame carries {other:?}"),
    }
    out
}

#[test]
fn every_golden_frame_reemits_byte_identically() {
    assert_eq!(golden::ALL.len(), 10);
    for &(name, frame) in golden::ALL {
        assert_eq!(reemit(frame), frame, "{name}");
    }
}

#[test]
fn golden_arp_request() {
    let eth = EthernetFrame::new_checked(golden::ARP_REQUEST).unwrap();
    assert_eq!(
        EthernetRepr::parse(&eth).unwrap(),
        EthernetRepr {
            dst: MacAddr::BROADCAST,
            src: KERNEL_MAC,
            ethertype: EtherType::Arp
        }
    );
    let arp = ArpPacket::new_checked(eth.payload()).unwrap();
    assert_eq!((arp.hardware_type(), arp.protocol_type()), (1, 0x0800));
    assert_eq!((arp.hardware_len(), arp.protocol_len()), (6, 4));
    assert_eq!(
        ArpRepr::parse(&arp).unwrap(),
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: KERNEL_MAC,
            sender_ip: KERNEL_IP,
            target_mac: MacAddr::ZERO,
            target_ip: PEER_IP,
        }
    );
}

#[test]
fn golden_arp_reply() {
    let eth = EthernetFrame::new_checked(golden::ARP_REPLY).unwrap();
    assert_eq!(
        EthernetRepr::parse(&eth).unwrap(),
        EthernetRepr {
            dst: PEER_MAC,
            src: KERNEL_MAC,
            ethertype: EtherType::Arp
        }
    );
    assert_eq!(
        ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap(),
        ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: KERNEL_MAC,
            sender_ip: KERNEL_IP,
            target_mac: PEER_MAC,
            target_ip: PEER_IP,
        }
    );
}

#[test]
fn golden_udp_datagram() {
    let eth = EthernetFrame::new_checked(golden::UDP_DATAGRAM).unwrap();
    assert_eq!(
        EthernetRepr::parse(&eth).unwrap(),
        EthernetRepr {
            dst: PEER_MAC,
            src: KERNEL_MAC,
            ethertype: EtherType::Ipv4
        }
    );
    let ip = ip_of(golden::UDP_DATAGRAM);
    assert_eq!(
        (ip.version(), ip.ihl(), ip.total_len(), ip.checksum()),
        (4, 5, 43, 0x978b)
    );
    assert_eq!(Ipv4Repr::parse(&ip).unwrap(), kernel_udp_header(0x8f34, 23));
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((udp.length(), udp.checksum()), (23, 0x46ba));
    assert_eq!(
        UdpRepr::parse(&udp, KERNEL_IP, PEER_IP).unwrap(),
        UdpRepr {
            src_port: 40000,
            dst_port: 7,
            payload_len: 15
        }
    );
    assert_eq!(udp.payload(), b"hello, udpstack");
}

#[test]
fn golden_udp_with_ip_options() {
    let ip = ip_of(golden::UDP_WITH_IP_OPTIONS);
    assert_eq!(
        (ip.ihl(), ip.header_len(), ip.total_len(), ip.checksum()),
        (8, 32, 55, 0x843e)
    );
    let repr = Ipv4Repr::parse(&ip).unwrap();
    // The kernel recorded its own address in the first Record Route slot and advanced the
    // pointer from 4 to 8.
    let options = [7, 11, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0];
    assert_eq!(
        repr,
        Ipv4Repr {
            options: Ipv4Options::new(&options).unwrap(),
            ..kernel_udp_header(0x8f60, 23)
        }
    );
    assert_eq!(ip.options(), options);
    let opts: Vec<_> = repr.options.iter().collect();
    assert_eq!(opts.len(), 1);
    assert_eq!((opts[0].offset, opts[0].kind), (20, 7));
    assert_eq!(opts[0].data, &[8, 10, 0, 0, 1, 0, 0, 0, 0]);
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(
        UdpRepr::parse(&udp, KERNEL_IP, PEER_IP).unwrap(),
        UdpRepr {
            src_port: 40000,
            dst_port: 7,
            payload_len: 15
        }
    );
    assert_eq!(udp.payload(), b"hello, udpstack");
}

#[test]
fn golden_icmp_port_unreachable_and_its_quote() {
    let ip = ip_of(golden::ICMP_PORT_UNREACHABLE);
    // L5.6: TOS = original | 0xc0, TTL 64, no DF.
    assert_eq!((ip.tos(), ip.dscp(), ip.ecn()), (0xc0, 48, 0));
    assert_eq!(
        Ipv4Repr::parse(&ip).unwrap(),
        Ipv4Repr {
            protocol: IpProtocol::Icmp,
            dscp: 48,
            dont_frag: false,
            ..kernel_udp_header(0x8b24, 58)
        }
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.code(), icmp.checksum()),
        (3, 3, 0x112f)
    );
    let repr = Icmpv4Repr::parse(&icmp).unwrap();
    assert_eq!(
        repr.message,
        Icmpv4Message::DstUnreachable(DstUnreachable::PortUnreachable)
    );
    assert!(repr.message.is_error());
    assert_eq!(repr.body.len(), 50);

    let quote = Quote::parse(repr.body).unwrap();
    let q = quote.ip();
    assert_eq!(
        (q.src(), q.dst(), q.protocol()),
        (PEER_IP, KERNEL_IP, IpProtocol::Udp)
    );
    assert_eq!(
        (q.ident(), q.total_len(), q.checksum(), q.dont_frag()),
        (0x1234, 50, 0x1485, true)
    );
    assert_eq!((quote.src_port(), quote.dst_port()), (50000, 9));
    assert_eq!(
        quote.transport_header(),
        [0xc3, 0x50, 0x00, 0x09, 0x00, 0x1e, 0x2a, 0xb4]
    );
    assert_eq!(quote.rest(), b"port unreachable probe");
    // The whole datagram was quoted, so it also parses as a checked packet.
    let quoted = Ipv4Packet::new_checked(repr.body).unwrap();
    let udp = UdpPacket::new_checked(quoted.payload()).unwrap();
    assert!(udp.verify_checksum(PEER_IP, KERNEL_IP));
}

#[test]
fn golden_fragments_have_linux_layout_and_reassemble() {
    // L3.4: 1480 / 1480 / 48 bytes of IP payload at MTU 1500, one ID, MF on all but the last,
    // no DF on fragments.
    let frames = [
        golden::FRAGMENT_FIRST,
        golden::FRAGMENT_MIDDLE,
        golden::FRAGMENT_LAST,
    ];
    let expected = [
        (0, true, 1480, 0xb194),
        (1480, true, 1480, 0xb0db),
        (2960, false, 48, 0xd5ba),
    ];
    let mut reassembled = Vec::new();
    for (frame, (offset, mf, len, csum)) in frames.into_iter().zip(expected) {
        let ip = ip_of(frame);
        assert_eq!(ip.checksum(), csum);
        assert!(ip.is_fragment());
        assert_eq!(
            Ipv4Repr::parse(&ip).unwrap(),
            Ipv4Repr {
                dont_frag: false,
                more_frags: mf,
                frag_offset: offset,
                ..kernel_udp_header(0x8f7a, len)
            }
        );
        assert_eq!(ip.payload().len(), len);
        reassembled.extend_from_slice(ip.payload());
    }
    // The first fragment holds the UDP header of the whole datagram: its length runs past the
    // fragment, so only an unchecked view can read it.
    let first_ip = ip_of(golden::FRAGMENT_FIRST);
    let first = UdpPacket::new_unchecked(first_ip.payload());
    assert_eq!(
        (
            first.src_port(),
            first.dst_port(),
            first.length(),
            first.checksum()
        ),
        (40000, 7, 3008, 0xb9ab)
    );
    assert_eq!(
        UdpPacket::new_checked(ip_of(golden::FRAGMENT_FIRST).payload()).unwrap_err(),
        UdpError::LengthExceedsPayload {
            length: 3008,
            payload_len: 1480
        }
    );
    // Joined, the fragments are the datagram, checksum and all.
    let udp = UdpPacket::new_checked(&reassembled[..]).unwrap();
    assert_eq!(
        UdpRepr::parse(&udp, KERNEL_IP, PEER_IP).unwrap(),
        UdpRepr {
            src_port: 40000,
            dst_port: 7,
            payload_len: 3000
        }
    );
    assert!(udp
        .payload()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
}

#[test]
fn golden_echo_request_and_reply() {
    let ip = ip_of(golden::ECHO_REQUEST);
    assert_eq!(
        Ipv4Repr::parse(&ip).unwrap(),
        Ipv4Repr {
            protocol: IpProtocol::Icmp,
            ..kernel_udp_header(0x8b6d, 24)
        }
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.checksum(), 0xc2c6);
    let repr = Icmpv4Repr::parse(&icmp).unwrap();
    assert_eq!(
        repr.message,
        Icmpv4Message::EchoRequest {
            ident: 0x1234,
            seq_no: 1
        }
    );
    assert_eq!(repr.body, b"udpstack echo rq");
    assert!(!repr.message.is_error());

    let ip = ip_of(golden::ECHO_REPLY);
    assert_eq!(
        Ipv4Repr::parse(&ip).unwrap(),
        Ipv4Repr {
            protocol: IpProtocol::Icmp,
            dont_frag: false,
            ..kernel_udp_header(0x8bb6, 24)
        }
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.checksum(), 0x8683);
    let repr = Icmpv4Repr::parse(&icmp).unwrap();
    assert_eq!(
        repr.message,
        Icmpv4Message::EchoReply {
            ident: 0x5678,
            seq_no: 1
        }
    );
    assert_eq!(repr.body, b"udpstack echo rp");
}
