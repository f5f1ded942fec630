//! Cross-module tests of the wire layer: the kernel's golden frames, every truncation of every
//! header, each error variant, and `parse(emit(repr)) == repr` for every `Repr`.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::arp::{self, ArpError, ArpOperation, ArpPacket, ArpRepr};
use super::checksum;
use super::ethernet::{self, EtherType, EthernetError, EthernetFrame, EthernetRepr, MacAddr};
use super::golden;
use super::icmpv4::{
    self, DstUnreachable, Icmpv4Error, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Quote, QuoteError,
};
use super::ipv4::{self, IpProtocol, Ipv4Error, Ipv4Options, Ipv4Packet, Ipv4Repr, OptionError};
use super::udp::{self, UdpError, UdpPacket, UdpRepr};
use super::EmitError;

const KERNEL_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// The IPv4 packet inside an Ethernet frame.
fn ip_of(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]).unwrap()
}

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

/// The header every kernel datagram to the peer shares; tests adjust what differs.
fn kernel_udp_header(ident: u16, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src: KERNEL_IP,
        dst: PEER_IP,
        protocol: IpProtocol::Udp,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        options: Ipv4Options::NONE,
        payload_len,
    }
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

#[test]
fn ethernet_padding_never_reaches_ip_or_udp() {
    // A 57-byte frame as a NIC would deliver it: padded to the 60-byte minimum, plus a stray
    // trailer of non-zero bytes.
    let mut frame = golden::UDP_DATAGRAM.to_vec();
    frame.extend_from_slice(&[0xee; 7]);
    let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
    assert_eq!(eth.payload().len(), 43 + 7);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.payload().len(), 23);
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(udp.payload(), b"hello, udpstack");
    assert!(udp.verify_checksum(KERNEL_IP, PEER_IP));
}

#[test]
fn udp_length_shorter_than_ip_payload_trims_and_checksum_covers_only_udp_length() {
    // L5.1: a UDP length below the IP payload trims; the checksum covers only the UDP length.
    let mut datagram = [0u8; 8 + 4 + 7];
    datagram[8..12].copy_from_slice(b"abcd");
    UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload_len: 4,
    }
    .emit(&mut datagram, PEER_IP, KERNEL_IP)
    .unwrap();
    datagram[12..].copy_from_slice(b"trailer");
    let udp = UdpPacket::new_checked(&datagram[..]).unwrap();
    assert_eq!(udp.payload(), b"abcd");
    assert_eq!(
        UdpRepr::parse(&udp, PEER_IP, KERNEL_IP)
            .unwrap()
            .payload_len,
        4
    );
}

#[test]
fn udp_zero_checksum_is_accepted_as_not_computed() {
    // L5.2: a received checksum of 0 means "none".
    let ip = ip_of(golden::UDP_DATAGRAM);
    let mut datagram = ip.payload().to_vec();
    datagram[6..8].copy_from_slice(&[0, 0]);
    datagram[8] ^= 0xff; // even corrupted data passes: nothing to check against
    let udp = UdpPacket::new_checked(&datagram[..]).unwrap();
    assert!(UdpRepr::parse(&udp, KERNEL_IP, PEER_IP).is_ok());
}

#[test]
fn udp_bad_checksum_reports_the_expected_value() {
    // L5.2: a bad checksum is an error naming the right value.
    let ip = ip_of(golden::UDP_DATAGRAM);
    let mut datagram = ip.payload().to_vec();
    datagram[6..8].copy_from_slice(&0x1234u16.to_be_bytes());
    let udp = UdpPacket::new_checked(&datagram[..]).unwrap();
    assert_eq!(
        UdpRepr::parse(&udp, KERNEL_IP, PEER_IP).unwrap_err(),
        UdpError::BadChecksum {
            checksum: 0x1234,
            expected: 0x46ba
        }
    );
    // The wrong pseudo-header (another destination) fails as well.
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(!udp.verify_checksum(KERNEL_IP, Ipv4Addr::new(10, 0, 0, 3)));
}

#[test]
fn udp_computed_zero_checksum_is_sent_as_ffff() {
    // L3.6: pick the payload so that the computed checksum is 0; it must go out as 0xFFFF.
    let repr = UdpRepr {
        src_port: 1000,
        dst_port: 2000,
        payload_len: 2,
    };
    let mut buf = [0u8; 10];
    repr.emit(&mut buf, PEER_IP, KERNEL_IP).unwrap();
    // With payload 0 the datagram sums to S (checksum field !S); a payload word of !S makes the
    // total sum 0xffff, so the checksum computes to 0.
    let s = !UdpPacket::new_unchecked(&buf[..]).checksum();
    buf[8..10].copy_from_slice(&(!s).to_be_bytes());
    repr.emit(&mut buf, PEER_IP, KERNEL_IP).unwrap();
    let udp = UdpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(udp.checksum(), 0xffff);
    assert!(udp.verify_checksum(PEER_IP, KERNEL_IP));
    assert_eq!(udp.expected_checksum(PEER_IP, KERNEL_IP), 0xffff);
}

#[test]
fn ttl_rewrite_with_incremental_checksum_equals_recompute() {
    // RFC 1624 on a real header: decrement the TTL the way a router would.
    let mut packet = golden::UDP_DATAGRAM[ethernet::HEADER_LEN..].to_vec();
    let mut ip = Ipv4Packet::new_unchecked(&mut packet[..]);
    let old_word = u16::from_be_bytes([ip.ttl(), 17]);
    ip.set_ttl(ip.ttl() - 1);
    let new_word = u16::from_be_bytes([ip.ttl(), 17]);
    let updated = checksum::update(ip.checksum(), old_word, new_word);
    ip.fill_checksum();
    assert_eq!(updated, ip.checksum());
    assert!(Ipv4Packet::new_checked(&packet[..]).is_ok());
}

// ---- every truncation length of every header ----

#[test]
fn ethernet_truncations() {
    for len in 0..ethernet::HEADER_LEN {
        assert_eq!(
            EthernetFrame::new_checked(&golden::UDP_DATAGRAM[..len]).unwrap_err(),
            EthernetError::Truncated { len }
        );
    }
    assert!(EthernetFrame::new_checked(&golden::UDP_DATAGRAM[..14]).is_ok());
}

#[test]
fn arp_truncations() {
    let arp = &golden::ARP_REPLY[ethernet::HEADER_LEN..];
    for len in 0..arp::PACKET_LEN {
        assert_eq!(
            ArpPacket::new_checked(&arp[..len]).unwrap_err(),
            ArpError::Truncated { len }
        );
    }
    assert!(ArpPacket::new_checked(&arp[..28]).is_ok());
}

#[test]
fn ipv4_truncations() {
    // With a 32-byte header: below 20 is Truncated, inside the options HeaderTruncated, inside
    // the payload TotalLenExceedsBuffer.
    let packet = &golden::UDP_WITH_IP_OPTIONS[ethernet::HEADER_LEN..];
    assert_eq!(packet.len(), 55);
    for len in 0..ipv4::HEADER_LEN {
        assert_eq!(
            Ipv4Packet::new_checked(&packet[..len]).unwrap_err(),
            Ipv4Error::Truncated { len }
        );
        assert_eq!(
            Ipv4Packet::new_lax(&packet[..len]).unwrap_err(),
            Ipv4Error::Truncated { len }
        );
    }
    for len in 20..32 {
        let e = Ipv4Error::HeaderTruncated {
            header_len: 32,
            len,
        };
        assert_eq!(Ipv4Packet::new_checked(&packet[..len]).unwrap_err(), e);
        assert_eq!(Ipv4Packet::new_lax(&packet[..len]).unwrap_err(), e);
    }
    for len in 32..55 {
        assert_eq!(
            Ipv4Packet::new_checked(&packet[..len]).unwrap_err(),
            Ipv4Error::TotalLenExceedsBuffer { total_len: 55, len }
        );
        // The lax view takes what is there, sliced to the buffer.
        let lax = Ipv4Packet::new_lax(&packet[..len]).unwrap();
        assert_eq!(lax.payload(), &packet[32..len]);
    }
    assert!(Ipv4Packet::new_checked(packet).is_ok());
}

#[test]
fn udp_truncations() {
    let ip = ip_of(golden::UDP_DATAGRAM);
    let datagram = ip.payload();
    for len in 0..udp::HEADER_LEN {
        assert_eq!(
            UdpPacket::new_checked(&datagram[..len]).unwrap_err(),
            UdpError::Truncated { len }
        );
    }
    for len in 8..23 {
        assert_eq!(
            UdpPacket::new_checked(&datagram[..len]).unwrap_err(),
            UdpError::LengthExceedsPayload {
                length: 23,
                payload_len: len
            }
        );
    }
}

#[test]
fn icmp_truncations() {
    let ip = ip_of(golden::ECHO_REQUEST);
    let message = ip.payload();
    for len in 0..icmpv4::HEADER_LEN {
        assert_eq!(
            Icmpv4Packet::new_checked(&message[..len]).unwrap_err(),
            Icmpv4Error::Truncated { len }
        );
    }
    // Past the header, the checksum (over the whole message) catches the cut.
    for len in 8..message.len() {
        assert!(matches!(
            Icmpv4Packet::new_checked(&message[..len]).unwrap_err(),
            Icmpv4Error::BadChecksum {
                checksum: 0xc2c6,
                ..
            }
        ));
    }
}

#[test]
fn quote_truncations() {
    // L1.1: the quote needs the whole quoted header and 8 bytes after it.
    let icmp = ip_of(golden::ICMP_PORT_UNREACHABLE);
    let body = Icmpv4Packet::new_checked(icmp.payload())
        .unwrap()
        .body()
        .to_vec();
    for len in 0..20 {
        assert_eq!(
            Quote::parse(&body[..len]).unwrap_err(),
            QuoteError::Header(Ipv4Error::Truncated { len })
        );
    }
    for len in 20..28 {
        assert_eq!(
            Quote::parse(&body[..len]).unwrap_err(),
            QuoteError::PayloadTruncated { len: len - 20 }
        );
    }
    for len in 28..=body.len() {
        let quote = Quote::parse(&body[..len]).unwrap();
        assert_eq!(quote.dst_port(), 9);
        assert_eq!(quote.rest(), &b"port unreachable probe"[..len - 28]);
    }
}

// ---- each error variant ----

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
        check(0, &[0, 6]),
        ArpError::UnsupportedHardwareType { htype: 6 }
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

// ---- parse(emit(repr)) == repr ----

proptest! {
    #[test]
    fn ethernet_round_trip(repr in any::<EthernetRepr>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
        repr.emit(&mut buf).unwrap();
        buf[14..].copy_from_slice(&payload);
        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
        prop_assert_eq!(frame.payload(), &payload[..]);
    }

    #[test]
    fn arp_round_trip(repr in any::<ArpRepr>()) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn ipv4_round_trip(repr in any::<Ipv4Repr>()) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
        prop_assert_eq!(packet.payload().len(), repr.payload_len);
    }

    #[test]
    fn udp_round_trip(repr in any::<UdpRepr>(), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), fill in any::<u8>()) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let mut buf = vec![fill; repr.buffer_len()];
        repr.emit(&mut buf, src, dst).unwrap();
        let packet = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_ne!(packet.checksum(), 0);
        prop_assert_eq!(UdpRepr::parse(&packet, src, dst).unwrap(), repr);
    }

    #[test]
    fn icmp_round_trip(message in any::<Icmpv4Message>(), body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let repr = Icmpv4Repr { message, body: &body };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        let packet = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&packet).unwrap(), repr);
    }

    /// No accessor of any view panics on any bytes, checked or not (the wire layer's contract).
    #[test]
    fn views_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        let d = &data[..];
        let eth = EthernetFrame::new_unchecked(d);
        let _ = (eth.dst(), eth.src(), eth.ethertype(), eth.payload());
        let _ = EthernetFrame::new_checked(d).map(|f| EthernetRepr::parse(&f));
        let arp = ArpPacket::new_unchecked(d);
        let _ = (arp.operation(), arp.sender_mac(), arp.sender_ip(), arp.target_mac(), arp.target_ip());
        let _ = ArpPacket::new_checked(d).map(|p| ArpRepr::parse(&p));
        let ip = Ipv4Packet::new_unchecked(d);
        let _ = (ip.header(), ip.options(), ip.payload(), ip.verify_checksum(), ip.expected_checksum(), ip.frag_offset());
        let _ = Ipv4Packet::new_checked(d).map(|p| Ipv4Repr::parse(&p));
        let _ = Ipv4Packet::new_lax(d).map(|p| Ipv4Repr::parse(&p).map(|r| r.options.iter().count()));
        let udp = UdpPacket::new_unchecked(d);
        let _ = (udp.payload(), udp.datagram(), udp.verify_checksum(PEER_IP, KERNEL_IP), udp.expected_checksum(PEER_IP, KERNEL_IP));
        let icmp = Icmpv4Packet::new_unchecked(d);
        let _ = (icmp.body(), icmp.expected_checksum(), icmp.gateway(), icmp.next_hop_mtu());
        let _ = Icmpv4Packet::new_checked(d).map(|p| Icmpv4Repr::parse(&p).map(|r| Quote::parse(r.body).map(|q| q.rest().len())));
        let _ = Quote::parse(d).map(|q| (q.src_port(), q.rest().len()));
        let mut owned = data.clone();
        let mut ipm = Ipv4Packet::new_unchecked(&mut owned[..]);
        ipm.fill_checksum();
        ipm.payload_mut().fill(0);
        ipm.options_mut().fill(0);
        let mut udpm = UdpPacket::new_unchecked(&mut owned[..]);
        udpm.fill_checksum(PEER_IP, KERNEL_IP);
        udpm.payload_mut().fill(1);
    }
}
