//! Arbitrary bytes through every parser of `udpstack::wire`. Whatever parses must re-emit and
//! re-parse to the same `Repr`; nothing may panic.
//!
//! Each input is tried as-is at every layer (as an Ethernet frame, and directly as ARP, IPv4,
//! UDP and ICMP), then once more with its IPv4, ICMP and UDP checksums repaired, so that the
//! fuzzer reaches the layers behind the checksum checks without having to guess checksums.
//!
//! Run: `cargo fuzz run -s none wire_parse fuzz/corpus/wire_parse fuzz/seeds/wire_parse`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use udpstack::wire::{
    ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, Quote, UdpPacket, UdpRepr,
};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    check_all(data);
    let mut repaired = data.to_vec();
    repair_checksums(&mut repaired);
    check_all(&repaired);
});

fn check_all(data: &[u8]) {
    ethernet(data);
    arp(data);
    ipv4(data);
    udp(data, SRC, DST);
    icmp(data);
    if let Ok(quote) = Quote::parse(data) {
        let _ = (quote.ip().src(), quote.src_port(), quote.dst_port(), quote.rest().len());
    }
}

fn ethernet(data: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(data) else { return };
    let Ok(repr) = EthernetRepr::parse(&frame) else { return };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).expect("emit into buffer_len bytes");
    let again = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).expect("re-parse"));
    assert_eq!(again, Ok(repr));
    match repr.ethertype {
        EtherType::Arp => arp(frame.payload()),
        EtherType::Ipv4 => ipv4(frame.payload()),
        _ => unreachable!("parse accepts only IPv4 and ARP"),
    }
}

fn arp(data: &[u8]) {
    let Ok(packet) = ArpPacket::new_checked(data) else { return };
    let Ok(repr) = ArpRepr::parse(&packet) else { return };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).expect("emit into buffer_len bytes");
    assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).expect("re-parse")), Ok(repr));
}

fn ipv4(data: &[u8]) {
    if let Ok(lax) = Ipv4Packet::new_lax(data) {
        let _ = (lax.payload(), lax.options(), lax.verify_checksum(), Ipv4Repr::parse(&lax));
    }
    let Ok(packet) = Ipv4Packet::new_checked(data) else { return };
    let Ok(repr) = Ipv4Repr::parse(&packet) else { return };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).expect("emit into buffer_len bytes");
    buf[repr.header_len()..].copy_from_slice(packet.payload());
    let again = Ipv4Packet::new_checked(&buf[..]).expect("re-parse");
    assert_eq!(Ipv4Repr::parse(&again), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
    if repr.is_fragment() {
        return;
    }
    match repr.protocol {
        IpProtocol::Udp => udp(packet.payload(), repr.src, repr.dst),
        IpProtocol::Icmp => icmp(packet.payload()),
        _ => {}
    }
}

fn udp(data: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Ok(packet) = UdpPacket::new_checked(data) else { return };
    let Ok(repr) = UdpRepr::parse(&packet, src, dst) else { return };
    let mut buf = vec![0u8; repr.buffer_len()];
    buf[8..].copy_from_slice(packet.payload());
    repr.emit(&mut buf, src, dst).expect("emit into buffer_len bytes");
    let again = UdpPacket::new_checked(&buf[..]).expect("re-parse");
    assert_ne!(again.checksum(), 0, "a computed checksum is never sent as 0");
    assert_eq!(UdpRepr::parse(&again, src, dst), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
}

fn icmp(data: &[u8]) {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else { return };
    let Ok(repr) = Icmpv4Repr::parse(&packet) else { return };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).expect("emit into buffer_len bytes");
    let again = Icmpv4Packet::new_checked(&buf[..]).expect("re-parse");
    assert_eq!(Icmpv4Repr::parse(&again), Ok(repr));
    if repr.message.is_error() {
        if let Ok(quote) = Quote::parse(repr.body) {
            let _ = (quote.ip().dst(), quote.transport_header(), quote.rest().len());
        }
    }
}

/// Makes the IPv4 header checksum valid, at both the raw offset and behind an Ethernet header,
/// then the ICMP or UDP checksum inside.
fn repair_checksums(data: &mut [u8]) {
    for start in [0, 14] {
        let Some(buf) = data.get_mut(start..) else { continue };
        let Ok(mut ip) = Ipv4Packet::new_lax(&mut *buf) else { continue };
        ip.fill_checksum();
        let (src, dst, protocol) = (ip.src(), ip.dst(), ip.protocol());
        let payload = ip.payload_mut();
        match protocol {
            IpProtocol::Icmp => Icmpv4Packet::new_unchecked(payload).fill_checksum(),
            IpProtocol::Udp => UdpPacket::new_unchecked(payload).fill_checksum(src, dst),
            _ => {}
        }
    }
}
