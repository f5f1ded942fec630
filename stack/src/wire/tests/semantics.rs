//! Length and checksum semantics: padding, trimming, the zero checksum, incremental updates.

use super::*;

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
