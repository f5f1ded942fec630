//! Cross-module tests of the wire layer, by topic: the kernel's golden frames, length and
//! checksum semantics, every truncation of every header, each error variant, and
//! `parse(emit(repr)) == repr` for every `Repr`.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

mod errors;
mod golden_frames;
mod roundtrip;
mod semantics;
mod truncation;

use std::net::Ipv4Addr;

use crate::wire::arp::{self, ArpError, ArpOperation, ArpPacket, ArpRepr};
use crate::wire::checksum;
use crate::wire::ethernet::{self, EtherType, EthernetError, EthernetFrame, EthernetRepr, MacAddr};
use crate::wire::golden;
use crate::wire::icmpv4::{
    self, DstUnreachable, Icmpv4Error, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Quote, QuoteError,
};
use crate::wire::ipv4::{
    self, IpProtocol, Ipv4Error, Ipv4Options, Ipv4Packet, Ipv4Repr, OptionError,
};
use crate::wire::udp::{self, UdpError, UdpPacket, UdpRepr};
use crate::wire::EmitError;

const KERNEL_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// The IPv4 packet inside an Ethernet frame.
fn ip_of(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]).unwrap()
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
