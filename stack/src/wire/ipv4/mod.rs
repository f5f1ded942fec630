//! IPv4 headers (RFC 791 §3.1), with the receive checks of RFC 1122 §3.2.1 in the order Linux's
//! `ip_rcv_core` applies them.
//!
//! [`Ipv4Packet::new_checked`] establishes, in this order (each failure its own [`Ipv4Error`]):
//! at least 20 bytes; version 4; IHL ≥ 5; the IHL-sized header fits in the buffer; the header
//! checksum is valid; the total length fits in the buffer; the total length covers the header.
//! This is the kernel's order: a packet with both a bad checksum and a total length beyond the
//! buffer is a checksum error (`InCsumErrors`), not a truncated packet (`InTruncatedPkts`). A
//! checked packet therefore always carries a valid header checksum.
//!
//! The payload is always sliced to the total length, so Ethernet padding never leaks upwards.
//!
//! [`Ipv4Packet::new_lax`] reads the header quoted inside an ICMP error (RFC 792), which is
//! usually cut short after 8 bytes of payload and whose checksum nobody checks. It requires only
//! what Linux's `icmp_unreach` requires: 20 bytes, IHL ≥ 5, and the IHL-sized header present.
//! Like Linux it does not check the quoted version.
//!
//! Options are kept as bytes ([`Ipv4Options`]) and validated for length by [`Ipv4Repr::parse`]
//! (see the `options` module).

use core::fmt;
use std::net::Ipv4Addr;

mod options;

pub use options::{Ipv4Option, Ipv4Options, OptionError, MAX_OPTIONS_LEN};

use super::checksum;
use super::field;
use super::EmitError;

/// The length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// The largest total length.
pub const MAX_PACKET_LEN: usize = 65535;

mod fields {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// The protocol field (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1, ICMP.
    Icmp,
    /// 2, IGMP.
    Igmp,
    /// 6, TCP.
    Tcp,
    /// 17, UDP.
    Udp,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        match value {
            1 => IpProtocol::Icmp,
            2 => IpProtocol::Igmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        match value {
            IpProtocol::Icmp => 1,
            IpProtocol::Igmp => 2,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

/// Why an IPv4 packet was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv4Error {
    /// Shorter than the 20-byte fixed header.
    Truncated {
        /// Bytes in the buffer.
        len: usize,
    },
    /// The version field is not 4.
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// IHL below 5 (a header shorter than 20 bytes).
    HeaderLenTooSmall {
        /// The IHL found, in 32-bit words.
        ihl: u8,
    },
    /// The header length given by IHL runs past the buffer.
    HeaderTruncated {
        /// IHL × 4.
        header_len: usize,
        /// Bytes in the buffer.
        len: usize,
    },
    /// The header checksum does not verify.
    BadChecksum {
        /// The checksum field.
        checksum: u16,
        /// The value it should have held.
        expected: u16,
    },
    /// The total length runs past the buffer (a truncated packet: Linux's `InTruncatedPkts`).
    TotalLenExceedsBuffer {
        /// The total length field.
        total_len: usize,
        /// Bytes in the buffer.
        len: usize,
    },
    /// The total length is shorter than the header.
    TotalLenTooSmall {
        /// The total length field.
        total_len: usize,
        /// IHL × 4.
        header_len: usize,
    },
    /// A malformed option.
    BadOption(OptionError),
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ipv4Error::Truncated { len } => {
                write!(
                    f,
                    "IPv4 packet of {len} bytes is shorter than the 20-byte header"
                )
            }
            Ipv4Error::BadVersion { version } => write!(f, "IP version {version} is not 4"),
            Ipv4Error::HeaderLenTooSmall { ihl } => write!(f, "IPv4 IHL {ihl} is below 5"),
            Ipv4Error::HeaderTruncated { header_len, len } => {
                write!(
                    f,
                    "IPv4 header of {header_len} bytes runs past the {len}-byte buffer"
                )
            }
            Ipv4Error::BadChecksum { checksum, expected } => {
                write!(
                    f,
                    "IPv4 header checksum {checksum:#06x} should be {expected:#06x}"
                )
            }
            Ipv4Error::TotalLenExceedsBuffer { total_len, len } => {
                write!(
                    f,
                    "IPv4 total length {total_len} runs past the {len}-byte buffer"
                )
            }
            Ipv4Error::TotalLenTooSmall {
                total_len,
                header_len,
            } => {
                write!(
                    f,
                    "IPv4 total length {total_len} is shorter than the {header_len}-byte header"
                )
            }
            Ipv4Error::BadOption(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Ipv4Error {}

impl From<OptionError> for Ipv4Error {
    fn from(e: OptionError) -> Self {
        Ipv4Error::BadOption(e)
    }
}

/// A zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checks (fields past its end read as zero and are not written);
    /// for emitting into a fresh buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a received packet after every check of the module docs, in Linux's order.
    ///
    /// # Errors
    /// The first failing check's [`Ipv4Error`] (never [`Ipv4Error::BadOption`]: options are
    /// validated by [`Ipv4Repr::parse`]).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let packet = Self::new_lax_inner(buffer, true)?;
        let header_len = packet.header_len();
        let header = field::slice(packet.buffer.as_ref(), 0..header_len);
        if !checksum::verify(checksum::sum(header)) {
            return Err(Ipv4Error::BadChecksum {
                checksum: packet.checksum(),
                expected: packet.expected_checksum(),
            });
        }
        let len = packet.buffer.as_ref().len();
        let total_len = usize::from(packet.total_len());
        if total_len > len {
            return Err(Ipv4Error::TotalLenExceedsBuffer { total_len, len });
        }
        if total_len < header_len {
            return Err(Ipv4Error::TotalLenTooSmall {
                total_len,
                header_len,
            });
        }
        Ok(packet)
    }

    /// Wraps the (usually truncated) packet quoted in an ICMP error: 20 bytes, IHL ≥ 5 and the
    /// whole header present; version, checksum and total length are not checked.
    ///
    /// [`Ipv4Packet::payload`] then holds what the quote carries of the payload, up to the total
    /// length.
    ///
    /// # Errors
    /// [`Ipv4Error::Truncated`], [`Ipv4Error::HeaderLenTooSmall`] or
    /// [`Ipv4Error::HeaderTruncated`].
    pub fn new_lax(buffer: T) -> Result<Self, Ipv4Error> {
        Self::new_lax_inner(buffer, false)
    }

    #[inline]
    fn new_lax_inner(buffer: T, check_version: bool) -> Result<Self, Ipv4Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Ipv4Error::Truncated { len });
        }
        let packet = Ipv4Packet { buffer };
        if check_version && packet.version() != 4 {
            return Err(Ipv4Error::BadVersion {
                version: packet.version(),
            });
        }
        if packet.ihl() < 5 {
            return Err(Ipv4Error::HeaderLenTooSmall { ihl: packet.ihl() });
        }
        let header_len = packet.header_len();
        if header_len > len {
            return Err(Ipv4Error::HeaderTruncated { header_len, len });
        }
        Ok(packet)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        field::read_u8(self.buf(), fields::VER_IHL) >> 4
    }

    /// The IHL field, in 32-bit words.
    pub fn ihl(&self) -> u8 {
        field::read_u8(self.buf(), fields::VER_IHL) & 0x0f
    }

    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// Differentiated Services code point (RFC 2474), the upper 6 bits of the old TOS byte.
    pub fn dscp(&self) -> u8 {
        field::read_u8(self.buf(), fields::DSCP_ECN) >> 2
    }

    /// Explicit Congestion Notification (RFC 3168), the lower 2 bits of the old TOS byte.
    pub fn ecn(&self) -> u8 {
        field::read_u8(self.buf(), fields::DSCP_ECN) & 0x03
    }

    /// The whole TOS byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        field::read_u8(self.buf(), fields::DSCP_ECN)
    }

    /// The total length field (header and payload).
    pub fn total_len(&self) -> u16 {
        field::read_u16(self.buf(), fields::LENGTH)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        field::read_u16(self.buf(), fields::IDENT)
    }

    fn flags_offset(&self) -> u16 {
        field::read_u16(self.buf(), fields::FLG_OFF)
    }

    /// The reserved flag bit (must be zero; not checked on receive, as in Linux).
    pub fn reserved_flag(&self) -> bool {
        self.flags_offset() & FLAG_RESERVED != 0
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// The fragment offset in bytes (the field × 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        field::read_u8(self.buf(), fields::TTL)
    }

    /// The protocol field.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(field::read_u8(self.buf(), fields::PROTOCOL))
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        field::read_u16(self.buf(), fields::CHECKSUM)
    }

    /// The source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_array(self.buf(), fields::SRC))
    }

    /// The destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_array(self.buf(), fields::DST))
    }

    /// The header bytes (IHL × 4, or less if the buffer is shorter).
    pub fn header(&self) -> &[u8] {
        let end = self.header_len().min(self.buf().len());
        field::slice(self.buf(), 0..end)
    }

    /// The option bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        let end = self.header_len().min(self.buf().len());
        field::slice(self.buf(), HEADER_LEN.min(end)..end)
    }

    /// The payload: from the end of the header to the total length, or to the end of the buffer
    /// if that comes first (a lax view of a quote). Never includes link-layer padding.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let (start, end) = self.payload_range();
        field::slice(self.buf(), start..end)
    }

    #[inline]
    fn payload_range(&self) -> (usize, usize) {
        let len = self.buf().len();
        let start = self.header_len().min(len);
        let end = usize::from(self.total_len()).min(len).max(start);
        (start, end)
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(checksum::sum(self.header()))
    }

    /// The checksum the header should carry, computed with the checksum field taken as zero.
    pub fn expected_checksum(&self) -> u16 {
        let header = self.header();
        let before = checksum::sum(field::slice(header, 0..fields::CHECKSUM));
        let after = checksum::sum(field::slice(header, fields::CHECKSUM + 2..header.len()));
        !checksum::combine(before, after)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version 4 and the IHL for a header of `header_len` bytes (a multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        let ihl = (header_len / 4).min(15) as u8;
        field::write_u8(self.buf_mut(), fields::VER_IHL, 0x40 | ihl);
    }

    /// Sets DSCP (6 bits) and ECN (2 bits).
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        field::write_u8(self.buf_mut(), fields::DSCP_ECN, (dscp << 2) | (ecn & 0x03));
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::LENGTH, value);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::IDENT, value);
    }

    /// Sets the DF and MF flags (reserved bit clear) and the fragment offset in bytes (a
    /// multiple of 8).
    pub fn set_flags_and_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut value = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            value |= FLAG_DF;
        }
        if more_frags {
            value |= FLAG_MF;
        }
        field::write_u16(self.buf_mut(), fields::FLG_OFF, value);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        field::write_u8(self.buf_mut(), fields::TTL, value);
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: IpProtocol) {
        field::write_u8(self.buf_mut(), fields::PROTOCOL, value.into());
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src(&mut self, addr: Ipv4Addr) {
        field::write_bytes(self.buf_mut(), fields::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        field::write_bytes(self.buf_mut(), fields::DST, &addr.octets());
    }

    /// Recomputes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.header());
        self.set_checksum(value);
    }

    /// The option bytes, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len().min(self.buf().len());
        field::slice_mut(self.buf_mut(), HEADER_LEN.min(end)..end)
    }

    /// The payload (up to the total length), mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.payload_range();
        field::slice_mut(self.buf_mut(), start..end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// DSCP, 0..=63.
    pub dscp: u8,
    /// ECN, 0..=3.
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes: a multiple of 8, at most 65528.
    pub frag_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Options (empty for a 20-byte header).
    pub options: Ipv4Options,
    /// Payload length: total length minus header length.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Reads a checked packet, validating its options.
    ///
    /// # Errors
    /// [`Ipv4Error::BadOption`] for a malformed option list.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, Ipv4Error> {
        // Most headers carry no options: skip validating and copying nothing.
        let options = if packet.header_len() == HEADER_LEN {
            Ipv4Options::NONE
        } else {
            options::validate_options(packet.options())?;
            Ipv4Options::from_header_bytes(packet.options())
        };
        Ok(Ipv4Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            ttl: packet.ttl(),
            options,
            payload_len: usize::from(packet.total_len()).saturating_sub(packet.header_len()),
        })
    }

    /// The header length: 20 plus the options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// The whole packet's length: header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Whether this header describes a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Writes the header, checksum included, into the start of `buf`; the payload is the
    /// caller's to write after [`Ipv4Repr::header_len`] bytes.
    ///
    /// # Errors
    /// [`EmitError::BufferTooShort`] if `buf` cannot hold the header;
    /// [`EmitError::InvalidField`] for a DSCP above 63, an ECN above 3, a fragment offset that
    /// is not a multiple of 8 below 65536, or a total length above 65535.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EmitError> {
        EmitError::check_field(self.dscp < 64, "dscp", self.dscp.into())?;
        EmitError::check_field(self.ecn < 4, "ecn", self.ecn.into())?;
        EmitError::check_field(
            self.frag_offset.is_multiple_of(8),
            "frag_offset",
            self.frag_offset.into(),
        )?;
        let total_len = self.buffer_len();
        EmitError::check_field(
            total_len <= MAX_PACKET_LEN,
            "payload_len",
            self.payload_len as u64,
        )?;
        let header_len = self.header_len();
        EmitError::check_len(header_len, buf.len())?;
        let mut packet = Ipv4Packet::new_unchecked(buf);
        packet.set_version_and_header_len(header_len);
        packet.set_dscp_ecn(self.dscp, self.ecn);
        packet.set_total_len(total_len as u16);
        packet.set_ident(self.ident);
        packet.set_flags_and_offset(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src(self.src);
        packet.set_dst(self.dst);
        packet
            .options_mut()
            .copy_from_slice(self.options.as_bytes());
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(any(test, feature = "proptest"))]
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for IpProtocol {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            any::<u8>().prop_map(IpProtocol::from).boxed()
        }
    }

    impl Arbitrary for Ipv4Repr {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        /// Any header `emit` accepts; payloads up to 2000 bytes keep buffers small.
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (
                (
                    any::<[u8; 4]>(),
                    any::<[u8; 4]>(),
                    any::<IpProtocol>(),
                    0u8..64,
                    0u8..4,
                ),
                (
                    any::<u16>(),
                    any::<bool>(),
                    any::<bool>(),
                    0u16..8192,
                    any::<u8>(),
                ),
                (any::<Ipv4Options>(), 0usize..2000),
            )
                .prop_map(
                    |(
                        (src, dst, protocol, dscp, ecn),
                        (ident, df, mf, off, ttl),
                        (options, payload_len),
                    )| {
                        Ipv4Repr {
                            src: src.into(),
                            dst: dst.into(),
                            protocol,
                            dscp,
                            ecn,
                            ident,
                            dont_frag: df,
                            more_frags: mf,
                            frag_offset: off << 3,
                            ttl,
                            options,
                            payload_len,
                        }
                    },
                )
                .boxed()
        }
    }
}
