//! Differential tests of `udpstack::wire` against two independent parsers used as oracles:
//! [etherparse] 0.21 and [pnet_packet] 0.35.
//!
//! The suite has four parts:
//!
//! 1. **Valid frames** built from our `Arbitrary` `Repr`s and our `emit` (Ethernet + IPv4 + UDP,
//!    Ethernet + IPv4 + ICMP, Ethernet + ARP, Ethernet + IPv4 with any protocol, options and
//!    fragment fields): every parser accepts every layer, every field equals the `Repr` it was
//!    built from, and every checksum verifies for all three.
//! 2. **Mutated frames** (random byte flips, field rewrites, truncation, trailing padding, with
//!    the checksums optionally repaired so that deeper layers are reached): [`compare::compare_frame`]
//!    walks the layers with all three parsers. Whenever two parsers accept a layer, they agree on
//!    every field and on the checksum verdict. Where they disagree *on purpose*, the disagreement
//!    is a named branch that asserts exactly the documented difference (see the table below), and
//!    a focused `difference_*` test demonstrates each one on fixed bytes.
//! 3. **Checksums**: RFC 1071 sums over random data of random lengths and alignments, the RFC 1624
//!    incremental update and the RFC 768 pseudo-header checksum, against both oracles' helpers.
//! 4. **Golden kernel frames** (`udpstack::wire::golden::ALL`): all three parsers agree on every
//!    field, every checksum verifies, and no difference branch is taken at all.
//!
//! # Intentional differences
//!
//! Rules `L*.*` are from `shared/reference/linux-udp.md`. pnet validates nothing but the minimum
//! size of each fixed header (20 bytes for IPv4, 8 for UDP, 4 for ICMP, 28 for ARP); etherparse
//! checks lengths and the IPv4 version/IHL, but verifies no checksum. Each row is a constant
//! naming the branch of [`compare::compare_frame`] that asserts it.
//!
//! | branch | what happens | who is right |
//! |---|---|---|
//! | [`ETH_UNSUPPORTED`] | we reject VLAN tags, 802.3 lengths, IPv6 and unknown EtherTypes with a precise error; etherparse walks VLAN/IPv6 on, pnet does not care | ours: the stack speaks untagged IPv4/ARP only |
//! | [`IPV4_BAD_HEADER_CHECKSUM`] | we reject, etherparse and pnet accept | ours: RFC 1122 §3.2.1.2, Linux `ip_rcv_core` |
//! | [`IPV4_CHECKSUM_BEFORE_TOTAL_LEN`] | bad checksum *and* bad total length: we report the checksum, etherparse the length | ours: Linux's order (`InCsumErrors` before `InTruncatedPkts`) |
//! | [`IPV4_CHECKSUM_NEGATIVE_ZERO`] | stored 0xFFFF where the computed checksum is 0: we accept, the oracles' recompute-and-compare rejects | ours: RFC 1071 (the sum is all ones), Linux `ip_fast_csum` |
//! | [`IPV4_RESERVED_FLAG`] | etherparse's `Ipv4Header` drops the reserved flag, so its recomputed checksum is that of the header without it | neither rejects: Linux ignores the bit on receive |
//! | [`IPV4_BAD_OPTIONS`] | we reject malformed option TLVs, neither oracle validates options | ours: Linux `ip_options_compile` |
//! | [`IPV4_PNET_OPTION_TYPE`] | pnet recognises End of List and No Operation by the 5-bit option number, so types like 0x81 lose their length byte | ours: RFC 791 (the whole type octet), Linux `ip_options_compile` |
//! | [`IPV4_AUTH_HEADER`] | protocol 51: etherparse decodes an IPsec AH (RFC 4302) extension header, we keep an opaque payload | both, by design |
//! | [`UDP_LENGTH_ZERO`] | UDP length 0: etherparse falls back to the slice length (the RFC 2675 jumbogram convention), we reject | ours: RFC 768 minimum 8, L5.1 |
//! | [`UDP_ZERO_CHECKSUM`] | checksum 0: we accept it as "not computed"; neither oracle has a verdict, and etherparse never computes 0 | ours: RFC 768, L5.2 |
//! | [`UDP_COMPUTED_ZERO_PNET`] | a computed checksum of 0: pnet returns 0, we and etherparse 0xFFFF | ours/etherparse: RFC 768, L3.6 |
//! | [`UDP_PNET_PAYLOAD_UNTRIMMED`] | UDP length below the IP payload: pnet's `payload()` (and its checksum helper) use the whole buffer; we and etherparse trim | ours: L5.1 |
//! | [`ICMP_SHORT_PNET`] | 4..8-byte ICMP: pnet accepts, we and etherparse reject | ours: RFC 792's 8-byte header |
//! | [`ICMP_BAD_CHECKSUM`] | we reject, etherparse and pnet accept | ours: Linux `icmp_rcv` (`csum_error`) |
//! | [`ICMP_CHECKSUM_NEGATIVE_ZERO`] | stored 0xFFFF where the computed checksum is 0: we accept, the oracles' recompute-and-compare rejects | ours: RFC 1071, Linux `csum_fold` |
//! | [`ICMP_EP_TYPED_HEADER_LOSSY`] | etherparse's typed ICMP header re-serialises "unused" rest-of-header bytes as zero, so its checksum ignores them | ours (and pnet): the checksum covers the whole message (RFC 792) |
//! | [`ICMP_EP_TIMESTAMP_LENGTH`] | etherparse rejects timestamp messages that are not exactly 20 bytes; our view accepts, our `Repr` reports an unsupported type | both reject the message in the end |
//! | [`ICMP_ECHO_NONZERO_CODE`] | echo with a non-zero code: we accept (Linux answers any code), etherparse says "unknown" | ours: Linux `icmp_echo` |
//! | [`ICMP_SOURCE_QUENCH`] | etherparse has no source-quench variant ("unknown") | ours: RFC 792 type 4 (deprecated by RFC 6633; Linux ignores it, L1.3) |
//! | [`ICMP_PARAM_PROBLEM_POINTER`] | etherparse models the pointer only for code 0 | both: RFC 792 defines the pointer for code 0 |
//! | [`ICMP_UNSUPPORTED`] | types and codes we do not handle: we reject, etherparse says "unknown" (or timestamp) | ours: L1.1 (codes above 15 are dropped) |
//! | [`ICMP_QUOTE_VERSION`] | we read an ICMP error's quoted header without checking its version, etherparse checks it | ours: Linux `icmp_unreach` |
//! | [`ARP_NOT_ETHERNET_IPV4`] | we accept only Ethernet/IPv4 ARP (htype 1 or 6, ptype 0x0800, 6/4); etherparse accepts any address sizes, pnet assumes the 6/4 layout | ours: RFC 826 as Linux's `arp_process` applies it on an Ethernet device (htype 1 or 6) |
//! | [`ARP_OPERATION`] | operations other than 1 and 2 (RARP's 3/4, ...): we reject, the oracles accept | ours: only requests and replies are meaningful |
//!
//! The remaining branch constants ([`UDP_TRIMMED`], [`UDP_BAD_CHECKSUM`]) mark interesting cases
//! in which all parsers agree; they exist so the coverage test can check the mutations reach them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use etherparse as ep;
use pnet_packet as pn;
use pnet_packet::Packet as _;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use udpstack::wire::checksum;
use udpstack::wire::icmpv4::{ParamProblem, Redirect};
use udpstack::wire::{
    golden, ArpError, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetError, EthernetFrame,
    EthernetRepr, Icmpv4Error, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Error,
    Ipv4Packet, Ipv4Repr, MacAddr, Quote, QuoteError, TimeExceeded, UdpError, UdpPacket, UdpRepr,
};

mod checksums;
mod compare;
mod compare_icmp_arp;
mod differences;
mod golden_frames;
mod mutations;
mod valid;

use compare::*;
use compare_icmp_arp::*;
use mutations::*;
use valid::*;

// ------------------------------------------------------------------------------------------------
// Named branches
// ------------------------------------------------------------------------------------------------

/// We reject an EtherType other than IPv4 and ARP; the oracles read the same raw value.
pub(crate) const ETH_UNSUPPORTED: &str = "ETH_UNSUPPORTED";
/// We reject a bad IPv4 header checksum (RFC 1122 §3.2.1.2); etherparse and pnet do not verify it.
pub(crate) const IPV4_BAD_HEADER_CHECKSUM: &str = "IPV4_BAD_HEADER_CHECKSUM";
/// Bad checksum and bad total length: we say checksum (Linux's order), etherparse says length.
pub(crate) const IPV4_CHECKSUM_BEFORE_TOTAL_LEN: &str = "IPV4_CHECKSUM_BEFORE_TOTAL_LEN";
/// Stored 0xFFFF where 0 is computed: the same one's-complement value, which only we accept.
pub(crate) const IPV4_CHECKSUM_NEGATIVE_ZERO: &str = "IPV4_CHECKSUM_NEGATIVE_ZERO";
/// The reserved flag is set: etherparse's typed header cannot hold it.
pub(crate) const IPV4_RESERVED_FLAG: &str = "IPV4_RESERVED_FLAG";
/// A malformed option list: only we validate options (Linux `ip_options_compile`).
pub(crate) const IPV4_BAD_OPTIONS: &str = "IPV4_BAD_OPTIONS";
/// Protocol 51: etherparse decodes the IPsec authentication header, we do not.
pub(crate) const IPV4_AUTH_HEADER: &str = "IPV4_AUTH_HEADER";
/// UDP length 0: etherparse falls back to the slice length, we reject it (L5.1).
pub(crate) const UDP_LENGTH_ZERO: &str = "UDP_LENGTH_ZERO";
/// UDP checksum 0: "not computed" for us (L5.2).
pub(crate) const UDP_ZERO_CHECKSUM: &str = "UDP_ZERO_CHECKSUM";
/// A computed UDP checksum of 0: pnet returns 0, we and etherparse 0xFFFF (L3.6).
pub(crate) const UDP_COMPUTED_ZERO_PNET: &str = "UDP_COMPUTED_ZERO_PNET";
/// UDP length below the IP payload: pnet's payload is not trimmed (we and etherparse trim, L5.1).
pub(crate) const UDP_PNET_PAYLOAD_UNTRIMMED: &str = "UDP_PNET_PAYLOAD_UNTRIMMED";
/// UDP length below the IP payload: ours and etherparse trim the same way (not a difference).
pub(crate) const UDP_TRIMMED: &str = "UDP_TRIMMED";
/// A bad, non-zero UDP checksum that every parser judges bad (not a difference).
pub(crate) const UDP_BAD_CHECKSUM: &str = "UDP_BAD_CHECKSUM";
/// An option type with the number bits of EOL or NOP but other bits set: pnet misreads it.
pub(crate) const IPV4_PNET_OPTION_TYPE: &str = "IPV4_PNET_OPTION_TYPE";
/// An ICMP message of 4..8 bytes: pnet accepts it.
pub(crate) const ICMP_SHORT_PNET: &str = "ICMP_SHORT_PNET";
/// A bad ICMP checksum: only we reject it.
pub(crate) const ICMP_BAD_CHECKSUM: &str = "ICMP_BAD_CHECKSUM";
/// The other representation of a zero ICMP checksum: only we accept it.
pub(crate) const ICMP_CHECKSUM_NEGATIVE_ZERO: &str = "ICMP_CHECKSUM_NEGATIVE_ZERO";
/// etherparse's typed ICMP header drops non-zero "unused" bytes.
pub(crate) const ICMP_EP_TYPED_HEADER_LOSSY: &str = "ICMP_EP_TYPED_HEADER_LOSSY";
/// etherparse rejects a timestamp message that is not exactly 20 bytes.
pub(crate) const ICMP_EP_TIMESTAMP_LENGTH: &str = "ICMP_EP_TIMESTAMP_LENGTH";
/// Echo request/reply with a non-zero code: ours accepts, etherparse says unknown.
pub(crate) const ICMP_ECHO_NONZERO_CODE: &str = "ICMP_ECHO_NONZERO_CODE";
/// Source quench: etherparse has no variant for it.
pub(crate) const ICMP_SOURCE_QUENCH: &str = "ICMP_SOURCE_QUENCH";
/// Parameter problem code 1 or 2: etherparse does not model the pointer.
pub(crate) const ICMP_PARAM_PROBLEM_POINTER: &str = "ICMP_PARAM_PROBLEM_POINTER";
/// An ICMP type or code we do not handle.
pub(crate) const ICMP_UNSUPPORTED: &str = "ICMP_UNSUPPORTED";
/// A quoted header with a version other than 4: we read it (like Linux), etherparse refuses.
pub(crate) const ICMP_QUOTE_VERSION: &str = "ICMP_QUOTE_VERSION";
/// ARP that is not Ethernet/IPv4 with 6/4-byte addresses.
pub(crate) const ARP_NOT_ETHERNET_IPV4: &str = "ARP_NOT_ETHERNET_IPV4";
/// An ARP operation other than request and reply.
pub(crate) const ARP_OPERATION: &str = "ARP_OPERATION";

/// Which named branches [`compare::compare_frame`] took, and how often.
#[derive(Debug, Default)]
pub(crate) struct Seen(BTreeMap<&'static str, usize>);

impl Seen {
    fn hit(&mut self, branch: &'static str) {
        *self.0.entry(branch).or_default() += 1;
    }

    fn has(&self, branch: &str) -> bool {
        self.0.contains_key(branch)
    }
}

// ------------------------------------------------------------------------------------------------
// Small helpers
// ------------------------------------------------------------------------------------------------

pub(crate) const ETH_LEN: usize = 14;
pub(crate) const AH: u8 = 51;

pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// pnet's RFC 1071 checksum over all of `data` (no skipped word; pnet returns 0 for no data).
pub(crate) fn pnet_checksum(data: &[u8]) -> u16 {
    pn::util::checksum(data, usize::MAX)
}

/// etherparse's RFC 1071 checksum over all of `data`, as the big-endian field value.
pub(crate) fn ep_checksum(data: &[u8]) -> u16 {
    ep::checksum::Sum16BitWords::new()
        .add_slice(data)
        .ones_complement()
        .to_be()
}
