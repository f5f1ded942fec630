//! Part 4: the kernel's golden frames.

use super::*;
use crate::differences::branches;

// ------------------------------------------------------------------------------------------------
// Golden kernel frames
// ------------------------------------------------------------------------------------------------

/// The ten frames captured from Linux 6.18: every layer of every frame is accepted by all
/// three parsers with equal fields and valid checksums, and no difference branch is taken at
/// all (the kernel's frames carry no padding, no zero checksums and well-formed options).
#[test]
pub(crate) fn golden_frames_agree() {
    assert_eq!(golden::ALL.len(), 10);
    for &(name, frame) in golden::ALL {
        let seen = branches(frame);
        assert!(seen.0.is_empty(), "{name}: {seen:?}");

        let s = ep::SlicedPacket::from_ethernet(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = EthernetFrame::new_checked(frame).unwrap();
        let eth = EthernetRepr::parse(&ours).unwrap();
        let Some(ep::LinkSlice::Ethernet2(e)) = &s.link else {
            panic!("{name}")
        };
        assert_ep_ethernet(e, &eth);
        assert_pnet_ethernet(&pn::ethernet::EthernetPacket::new(frame).unwrap(), &eth);
        match eth.ethertype {
            EtherType::Arp => {
                let arp = ArpRepr::parse(&ArpPacket::new_checked(ours.payload()).unwrap()).unwrap();
                let Some(ep::NetSlice::Arp(a)) = &s.net else {
                    panic!("{name}")
                };
                assert_eq!(a.operation().0, arp.operation.code());
                assert_eq!(a.sender_hw_addr(), arp.sender_mac.0);
                assert_eq!(a.target_protocol_addr(), arp.target_ip.octets());
                assert_eq!(
                    arp.operation,
                    if name == "ARP_REQUEST" {
                        ArpOperation::Request
                    } else {
                        ArpOperation::Reply
                    }
                );
                assert_eq!(arp.sender_mac, MacAddr([2, 0, 0, 0, 0, 1]));
            }
            EtherType::Ipv4 => {
                let packet = Ipv4Packet::new_checked(ours.payload()).unwrap();
                let ip = Ipv4Repr::parse(&packet).unwrap();
                let Some(ep::NetSlice::Ipv4(v4)) = &s.net else {
                    panic!("{name}")
                };
                assert_ep_ipv4(&v4.header(), &ip);
                let pi = pn::ipv4::Ipv4Packet::new(ours.payload()).unwrap();
                assert_pnet_ipv4(&pi, &ip);
                assert_eq!(
                    (ip.src, ip.dst),
                    (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
                );
                match (&s.transport, ip.is_fragment()) {
                    // Nobody reads a transport header inside a fragment, the first included.
                    (None, true) => assert!(name.starts_with("FRAGMENT_")),
                    (Some(ep::TransportSlice::Udp(u)), false) => {
                        let udp = UdpPacket::new_checked(packet.payload()).unwrap();
                        let repr = UdpRepr::parse(&udp, ip.src, ip.dst).unwrap();
                        assert_eq!(
                            (u.source_port(), u.destination_port()),
                            (repr.src_port, repr.dst_port)
                        );
                        assert_eq!(u.payload(), b"hello, udpstack");
                        assert_eq!(udp.payload(), b"hello, udpstack");
                        let pu = pn::udp::UdpPacket::new(packet.payload()).unwrap();
                        assert_eq!(
                            pn::udp::ipv4_checksum(&pu, &ip.src, &ip.dst),
                            pu.get_checksum()
                        );
                    }
                    (Some(ep::TransportSlice::Icmpv4(i)), false) => {
                        let icmp = Icmpv4Packet::new_checked(packet.payload()).unwrap();
                        let repr = Icmpv4Repr::parse(&icmp).unwrap();
                        assert_eq!(i.type_u8(), repr.message.msg_type());
                        assert_eq!(i.payload(), repr.body);
                        assert_eq!(i.icmp_type().calc_checksum(i.payload()), i.checksum());
                        let pc = pn::icmp::IcmpPacket::new(packet.payload()).unwrap();
                        assert_eq!(pn::icmp::checksum(&pc), pc.get_checksum());
                    }
                    other => panic!("{name}: {other:?}"),
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
