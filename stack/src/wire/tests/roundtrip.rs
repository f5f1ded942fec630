//! `parse(emit(repr)) == repr` for every `Repr`, and views that never panic.

use super::*;
use proptest::prelude::*;

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
