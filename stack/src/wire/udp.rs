//! UDP headers (RFC 768), with the length and checksum rules Linux applies on receive (L5.1,
//! L5.2) and send (L3.6).
//!
//! * Lengths (L5.1): fewer than 8 bytes, a UDP length above the IP payload, or a UDP length
//!   below 8 are errors; a UDP length *shorter* than the IP payload trims the datagram, and the
//!   checksum covers only the UDP length.
//! * Checksum (L5.2, L3.6): the sum over the pseudo-header (RFC 768) and the datagram. A received
//!   checksum of 0 means the sender did not compute one and is accepted; a computed checksum of
//!   0 is sent as 0xFFFF, its other one's-complement representation.

use core::fmt;
use std::net::Ipv4Addr;

use super::checksum;
use super::field;
use super::EmitError;

/// The length of the UDP header.
pub const HEADER_LEN: usize = 8;
/// The IPv4 protocol number of UDP.
const PROTOCOL: u8 = 17;

mod fields {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Why a UDP datagram was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpError {
    /// Fewer than 8 bytes of IP payload.
    Truncated {
        /// Bytes of IP payload.
        len: usize,
    },
    /// The UDP length field exceeds the IP payload.
    LengthExceedsPayload {
        /// The UDP length field.
        length: u16,
        /// Bytes of IP payload.
        payload_len: usize,
    },
    /// The UDP length field is below 8, shorter than its own header.
    LengthTooSmall {
        /// The UDP length field.
        length: u16,
    },
    /// The checksum is non-zero and does not verify.
    BadChecksum {
        /// The checksum field.
        checksum: u16,
        /// The value it should have held.
        expected: u16,
    },
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UdpError::Truncated { len } => {
                write!(
                    f,
                    "UDP datagram of {len} bytes is shorter than the 8-byte header"
                )
            }
            UdpError::LengthExceedsPayload {
                length,
                payload_len,
            } => {
                write!(
                    f,
                    "UDP length {length} exceeds the {payload_len}-byte IP payload"
                )
            }
            UdpError::LengthTooSmall { length } => write!(f, "UDP length {length} is below 8"),
            UdpError::BadChecksum { checksum, expected } => {
                write!(f, "UDP checksum {checksum:#06x} should be {expected:#06x}")
            }
        }
    }
}

impl std::error::Error for UdpError {}

/// A zero-copy view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checks (fields past its end read as zero and are not written).
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps the IP payload `buffer` after the length checks of L5.1, in Linux's order: 8 bytes
    /// present, the UDP length within the buffer, the UDP length at least 8.
    ///
    /// The checksum needs the IP addresses: see [`UdpPacket::verify_checksum`] and
    /// [`UdpRepr::parse`].
    ///
    /// # Errors
    /// [`UdpError::Truncated`], [`UdpError::LengthExceedsPayload`] or
    /// [`UdpError::LengthTooSmall`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(UdpError::Truncated { len });
        }
        let packet = UdpPacket { buffer };
        let length = packet.length();
        if usize::from(length) > len {
            return Err(UdpError::LengthExceedsPayload {
                length,
                payload_len: len,
            });
        }
        if usize::from(length) < HEADER_LEN {
            return Err(UdpError::LengthTooSmall { length });
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

    /// The source port.
    pub fn src_port(&self) -> u16 {
        field::read_u16(self.buf(), fields::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        field::read_u16(self.buf(), fields::DST_PORT)
    }

    /// The length field (header and payload).
    pub fn length(&self) -> u16 {
        field::read_u16(self.buf(), fields::LENGTH)
    }

    /// The checksum field (0: not computed by the sender).
    pub fn checksum(&self) -> u16 {
        field::read_u16(self.buf(), fields::CHECKSUM)
    }

    /// The datagram, header included, trimmed to the UDP length.
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        let buf = self.buf();
        field::slice(buf, 0..usize::from(self.length()).min(buf.len()))
    }

    /// The payload, trimmed to the UDP length (L5.1).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let (start, end) = self.payload_range();
        field::slice(self.buf(), start..end)
    }

    #[inline]
    fn payload_range(&self) -> (usize, usize) {
        let len = self.buf().len();
        let start = HEADER_LEN.min(len);
        let end = usize::from(self.length()).min(len).max(start);
        (start, end)
    }

    /// Whether the checksum verifies for a datagram from `src` to `dst`; a zero checksum
    /// ("not computed") always does (L5.2).
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::verify(self.sum(src, dst))
    }

    /// The folded sum of the pseudo-header and the datagram (trimmed to the UDP length).
    #[inline]
    fn sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let pseudo = checksum::pseudo_header(src, dst, PROTOCOL, self.length());
        checksum::combine(pseudo, checksum::sum(self.datagram()))
    }

    /// The checksum field the datagram should carry from `src` to `dst`, as a sender computes
    /// it (never 0: a computed 0 is sent as 0xFFFF).
    pub fn expected_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let d = self.datagram();
        let before = checksum::sum(field::slice(d, 0..fields::CHECKSUM));
        let after = checksum::sum(field::slice(d, fields::CHECKSUM + 2..d.len()));
        let pseudo = checksum::pseudo_header(src, dst, PROTOCOL, self.length());
        let without = checksum::combine(pseudo, checksum::combine(before, after));
        match !without {
            0 => 0xffff,
            value => value,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::DST_PORT, value);
    }

    /// Sets the length field.
    pub fn set_length(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::LENGTH, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::CHECKSUM, value);
    }

    /// Computes and stores the checksum for a datagram from `src` to `dst` (0 sent as 0xFFFF).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let value = match !self.sum(src, dst) {
            0 => 0xffff,
            value => value,
        };
        self.set_checksum(value);
    }

    /// The payload (up to the UDP length), mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.payload_range();
        field::slice_mut(self.buf_mut(), start..end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length: the UDP length minus 8.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked datagram that travelled from `src` to `dst`, verifying its checksum
    /// unless it is 0 (L5.2).
    ///
    /// # Errors
    /// [`UdpError::BadChecksum`].
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, UdpError> {
        if !packet.verify_checksum(src, dst) {
            return Err(UdpError::BadChecksum {
                checksum: packet.checksum(),
                expected: packet.expected_checksum(src, dst),
            });
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.length()).saturating_sub(HEADER_LEN),
        })
    }

    /// The datagram length: 8 plus the payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into `buf`, whose bytes `8..buffer_len()` must already hold the
    /// payload, and computes the checksum over both for a datagram from `src` to `dst` (a
    /// computed 0 is sent as 0xFFFF, L3.6).
    ///
    /// # Errors
    /// [`EmitError::InvalidField`] for a datagram above 65535 bytes;
    /// [`EmitError::BufferTooShort`] if `buf` is shorter than [`UdpRepr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), EmitError> {
        let len = self.buffer_len();
        EmitError::check_field(
            len <= usize::from(u16::MAX),
            "payload_len",
            self.payload_len as u64,
        )?;
        EmitError::check_len(len, buf.len())?;
        let mut packet = UdpPacket::new_unchecked(field::slice_mut(buf, 0..len));
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_length(len as u16);
        packet.fill_checksum(src, dst);
        Ok(())
    }
}

#[cfg(any(test, feature = "proptest"))]
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for UdpRepr {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        /// Payloads up to 2000 bytes keep buffers small.
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (any::<u16>(), any::<u16>(), 0usize..2000)
                .prop_map(|(src_port, dst_port, payload_len)| UdpRepr {
                    src_port,
                    dst_port,
                    payload_len,
                })
                .boxed()
        }
    }
}
