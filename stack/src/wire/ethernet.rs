//! Ethernet II framing (RFC 894): destination, source, EtherType.
//!
//! udpstack speaks IPv4 and ARP over untagged Ethernet II. Frames it cannot handle are
//! *recognised* and reported precisely rather than misparsed: an 802.1Q or 802.1ad tag
//! ([`EthernetError::VlanTagged`]), an IEEE 802.3 length field instead of an EtherType
//! ([`EthernetError::Ieee8023Length`]), and any other EtherType such as IPv6
//! ([`EthernetError::UnsupportedEtherType`]).

use core::fmt;
use core::str::FromStr;

use super::field::{self, Field};
use super::EmitError;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// The all-zero address, used as the unknown target in ARP requests (RFC 826).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// The group bit (least significant bit of the first octet) is set; broadcast included.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Not a group address.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The locally-administered bit (second least significant bit of the first octet) is set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not six colon-separated hexadecimal octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacAddrParseError {
    /// The string that failed to parse.
    pub input: String,
}

impl fmt::Display for MacAddrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address {:?}: expected six hex octets like 02:00:00:00:00:01",
            self.input
        )
    }
}

impl std::error::Error for MacAddrParseError {}

impl FromStr for MacAddr {
    type Err = MacAddrParseError;

    /// Parses `02:00:00:00:00:01` (`-` separators are accepted too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacAddrParseError {
            input: s.to_owned(),
        };
        let mut octets = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for octet in &mut octets {
            let part = parts.next().ok_or_else(err)?;
            if part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(octets))
    }
}

/// The EtherType field (IEEE 802 numbers), with the values udpstack recognises named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800, Internet Protocol version 4.
    Ipv4,
    /// 0x0806, Address Resolution Protocol.
    Arp,
    /// 0x86DD, Internet Protocol version 6 (recognised, not supported).
    Ipv6,
    /// 0x8100, an IEEE 802.1Q VLAN tag (recognised, not supported).
    Vlan,
    /// 0x88A8, an IEEE 802.1ad service tag, "Q-in-Q" (recognised, not supported).
    QinQ,
    /// Any other value, including IEEE 802.3 length fields (≤ 1500).
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88a8,
            EtherType::Unknown(other) => other,
        }
    }
}

/// Why an Ethernet frame was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EthernetError {
    /// Shorter than the 14-byte header.
    Truncated {
        /// Bytes in the buffer.
        len: usize,
    },
    /// An 802.1Q (TPID 0x8100) or 802.1ad (TPID 0x88A8) tag: VLANs are not supported.
    VlanTagged {
        /// The tag protocol identifier found in the EtherType position.
        tpid: u16,
        /// The tag control information (PCP, DEI, VLAN ID), if the frame holds it.
        tci: Option<u16>,
    },
    /// The field holds an IEEE 802.3 length (≤ 1500), not an EtherType: an LLC frame.
    Ieee8023Length {
        /// The length value.
        length: u16,
    },
    /// A valid EtherType other than IPv4 and ARP (IPv6 included).
    UnsupportedEtherType {
        /// The EtherType value.
        ethertype: u16,
    },
}

impl fmt::Display for EthernetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EthernetError::Truncated { len } => {
                write!(
                    f,
                    "ethernet frame of {len} bytes is shorter than the 14-byte header"
                )
            }
            EthernetError::VlanTagged { tpid, tci } => {
                write!(f, "VLAN-tagged frame (TPID {tpid:#06x}")?;
                if let Some(tci) = tci {
                    write!(f, ", VID {}", tci & 0x0fff)?;
                }
                write!(f, ") is not supported")
            }
            EthernetError::Ieee8023Length { length } => {
                write!(
                    f,
                    "IEEE 802.3 frame (length field {length}) is not supported"
                )
            }
            EthernetError::UnsupportedEtherType { ethertype } => {
                write!(f, "EtherType {ethertype:#06x} is not supported")
            }
        }
    }
}

impl std::error::Error for EthernetError {}

mod fields {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
    pub const TCI: usize = 14;
}

/// The length of an Ethernet II header.
pub const HEADER_LEN: usize = fields::PAYLOAD;

/// A zero-copy view of an Ethernet II frame (without the FCS, as a TAP device delivers it).
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checks. Fields lying past its end read as zero and are not
    /// written; use this to emit into a buffer of [`EthernetRepr::buffer_len`] bytes or more.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after checking it holds the 14-byte header.
    ///
    /// # Errors
    /// [`EthernetError::Truncated`] if it is shorter.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, EthernetError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(EthernetError::Truncated { len });
        }
        Ok(EthernetFrame { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination address.
    pub fn dst(&self) -> MacAddr {
        MacAddr(field::read_array(self.buffer.as_ref(), fields::DST.start))
    }

    /// The source address.
    pub fn src(&self) -> MacAddr {
        MacAddr(field::read_array(self.buffer.as_ref(), fields::SRC.start))
    }

    /// The raw EtherType field.
    pub fn ethertype_raw(&self) -> u16 {
        field::read_u16(self.buffer.as_ref(), fields::ETHERTYPE)
    }

    /// The EtherType field.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.ethertype_raw())
    }

    /// Everything after the header (Ethernet padding included: the IPv4 layer trims it).
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        field::slice(buf, HEADER_LEN..buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, addr: MacAddr) {
        field::write_bytes(self.buffer.as_mut(), fields::DST.start, &addr.0);
    }

    /// Sets the source address.
    pub fn set_src(&mut self, addr: MacAddr) {
        field::write_bytes(self.buffer.as_mut(), fields::SRC.start, &addr.0);
    }

    /// Sets the EtherType field.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        field::write_u16(self.buffer.as_mut(), fields::ETHERTYPE, ethertype.into());
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buf = self.buffer.as_mut();
        let len = buf.len();
        field::slice_mut(buf, HEADER_LEN..len)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an Ethernet II header that udpstack accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// [`EtherType::Ipv4`] or [`EtherType::Arp`] when parsed; `emit` writes any value.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads a frame carrying IPv4 or ARP.
    ///
    /// # Errors
    /// [`EthernetError::VlanTagged`], [`EthernetError::Ieee8023Length`] or
    /// [`EthernetError::UnsupportedEtherType`] for frames udpstack does not handle.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<Self, EthernetError> {
        let raw = frame.ethertype_raw();
        match frame.ethertype() {
            EtherType::Ipv4 | EtherType::Arp => Ok(EthernetRepr {
                dst: frame.dst(),
                src: frame.src(),
                ethertype: frame.ethertype(),
            }),
            EtherType::Vlan | EtherType::QinQ => {
                let buf = frame.buffer.as_ref();
                let tci = buf
                    .get(fields::TCI..fields::TCI + 2)
                    .map(|_| field::read_u16(buf, fields::TCI));
                Err(EthernetError::VlanTagged { tpid: raw, tci })
            }
            // 1501..=1535 is neither a length nor an EtherType; report it as unsupported.
            EtherType::Unknown(length) if length <= 1500 => {
                Err(EthernetError::Ieee8023Length { length })
            }
            EtherType::Ipv6 | EtherType::Unknown(_) => {
                Err(EthernetError::UnsupportedEtherType { ethertype: raw })
            }
        }
    }

    /// The header length, 14: the payload is written by the next layer.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 14 bytes of `buf`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooShort`] if `buf` is shorter than 14 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EmitError> {
        EmitError::check_len(HEADER_LEN, buf.len())?;
        let mut frame = EthernetFrame::new_unchecked(buf);
        frame.set_dst(self.dst);
        frame.set_src(self.src);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(any(test, feature = "proptest"))]
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for MacAddr {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            any::<[u8; 6]>().prop_map(MacAddr).boxed()
        }
    }

    impl Arbitrary for EthernetRepr {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        /// Frames udpstack accepts: IPv4 or ARP.
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (
                any::<MacAddr>(),
                any::<MacAddr>(),
                prop_oneof![Just(EtherType::Ipv4), Just(EtherType::Arp)],
            )
                .prop_map(|(dst, src, ethertype)| EthernetRepr {
                    dst,
                    src,
                    ethertype,
                })
                .boxed()
        }
    }
}
