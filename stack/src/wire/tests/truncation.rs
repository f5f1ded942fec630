//! Every truncation length of every header yields the precise error.

use super::*;

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
