//! ARP for IPv4 over Ethernet (RFC 826): requests and replies.
//!
//! Only the one format udpstack needs is accepted: hardware type 1 (Ethernet) or 6 (IEEE 802,
//! which Linux's `arp_process` also accepts on Ethernet devices, per RFC 2625), protocol type
//! 0x0800 (IPv4), hardware length 6, protocol length 4, operation 1 (request) or 2 (reply). That
//! fixes the packet at 28 bytes; Ethernet padding after it is ignored. Emitted packets always say
//! hardware type 1, as Linux's do on an Ethernet device.

use core::fmt;
use std::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::field;
use super::EmitError;

/// The length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

mod fields {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// Hardware type 1, Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Hardware type 6, IEEE 802 networks: accepted on Ethernet like type 1 (RFC 2625, Linux).
pub const HTYPE_IEEE802: u16 = 6;
/// Protocol type 0x0800, IPv4.
pub const PTYPE_IPV4: u16 = 0x0800;

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1: who has `target_ip`? tell `sender_ip`.
    Request,
    /// 2: `sender_ip` is at `sender_mac`.
    Reply,
}

impl ArpOperation {
    /// The operation code on the wire.
    pub const fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        }
    }
}

/// Why an ARP packet was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpError {
    /// Shorter than the 28 bytes of an Ethernet/IPv4 ARP packet.
    Truncated {
        /// Bytes in the buffer.
        len: usize,
    },
    /// Hardware type other than 1 (Ethernet) or 6 (IEEE 802).
    UnsupportedHardwareType {
        /// The hardware type found.
        htype: u16,
    },
    /// Protocol type other than 0x0800 (IPv4).
    UnsupportedProtocolType {
        /// The protocol type found.
        ptype: u16,
    },
    /// Hardware address length other than 6.
    BadHardwareLen {
        /// The length found.
        hlen: u8,
    },
    /// Protocol address length other than 4.
    BadProtocolLen {
        /// The length found.
        plen: u8,
    },
    /// An operation other than request (1) or reply (2), e.g. RARP's 3 and 4.
    UnsupportedOperation {
        /// The operation code found.
        operation: u16,
    },
}

impl fmt::Display for ArpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArpError::Truncated { len } => {
                write!(f, "ARP packet of {len} bytes is shorter than {PACKET_LEN}")
            }
            ArpError::UnsupportedHardwareType { htype } => {
                write!(
                    f,
                    "ARP hardware type {htype} is neither Ethernet (1) nor IEEE 802 (6)"
                )
            }
            ArpError::UnsupportedProtocolType { ptype } => {
                write!(f, "ARP protocol type {ptype:#06x} is not IPv4 (0x0800)")
            }
            ArpError::BadHardwareLen { hlen } => {
                write!(f, "ARP hardware address length {hlen} is not 6")
            }
            ArpError::BadProtocolLen { plen } => {
                write!(f, "ARP protocol address length {plen} is not 4")
            }
            ArpError::UnsupportedOperation { operation } => {
                write!(
                    f,
                    "ARP operation {operation} is neither request (1) nor reply (2)"
                )
            }
        }
    }
}

impl std::error::Error for ArpError {}

/// A zero-copy view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checks (fields past its end read as zero and are not written).
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after checking it is an Ethernet/IPv4 ARP packet: at least 28 bytes, then
    /// hardware type, protocol type, and the two address lengths, in that order.
    ///
    /// # Errors
    /// The first of [`ArpError::Truncated`], [`ArpError::UnsupportedHardwareType`],
    /// [`ArpError::UnsupportedProtocolType`], [`ArpError::BadHardwareLen`],
    /// [`ArpError::BadProtocolLen`] that applies.
    pub fn new_checked(buffer: T) -> Result<Self, ArpError> {
        let len = buffer.as_ref().len();
        if len < PACKET_LEN {
            return Err(ArpError::Truncated { len });
        }
        let packet = ArpPacket { buffer };
        if !matches!(packet.hardware_type(), HTYPE_ETHERNET | HTYPE_IEEE802) {
            return Err(ArpError::UnsupportedHardwareType {
                htype: packet.hardware_type(),
            });
        }
        if packet.protocol_type() != PTYPE_IPV4 {
            return Err(ArpError::UnsupportedProtocolType {
                ptype: packet.protocol_type(),
            });
        }
        if packet.hardware_len() != 6 {
            return Err(ArpError::BadHardwareLen {
                hlen: packet.hardware_len(),
            });
        }
        if packet.protocol_len() != 4 {
            return Err(ArpError::BadProtocolLen {
                plen: packet.protocol_len(),
            });
        }
        Ok(packet)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 for Ethernet, 6 for IEEE 802).
    pub fn hardware_type(&self) -> u16 {
        field::read_u16(self.buffer.as_ref(), fields::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        field::read_u16(self.buffer.as_ref(), fields::PTYPE)
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        field::read_u8(self.buffer.as_ref(), fields::HLEN)
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        field::read_u8(self.buffer.as_ref(), fields::PLEN)
    }

    /// The raw operation code.
    pub fn operation(&self) -> u16 {
        field::read_u16(self.buffer.as_ref(), fields::OPER)
    }

    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(field::read_array(self.buffer.as_ref(), fields::SHA))
    }

    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_array(self.buffer.as_ref(), fields::SPA))
    }

    /// Target hardware address.
    pub fn target_mac(&self) -> MacAddr {
        MacAddr(field::read_array(self.buffer.as_ref(), fields::THA))
    }

    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_array(self.buffer.as_ref(), fields::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        field::write_u16(self.buffer.as_mut(), fields::HTYPE, value);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: u16) {
        field::write_u16(self.buffer.as_mut(), fields::PTYPE, value);
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        field::write_u8(self.buffer.as_mut(), fields::HLEN, value);
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        field::write_u8(self.buffer.as_mut(), fields::PLEN, value);
    }

    /// Sets the operation code.
    pub fn set_operation(&mut self, value: u16) {
        field::write_u16(self.buffer.as_mut(), fields::OPER, value);
    }

    /// Sets the sender hardware address.
    pub fn set_sender_mac(&mut self, addr: MacAddr) {
        field::write_bytes(self.buffer.as_mut(), fields::SHA, &addr.0);
    }

    /// Sets the sender protocol address.
    pub fn set_sender_ip(&mut self, addr: Ipv4Addr) {
        field::write_bytes(self.buffer.as_mut(), fields::SPA, &addr.octets());
    }

    /// Sets the target hardware address.
    pub fn set_target_mac(&mut self, addr: MacAddr) {
        field::write_bytes(self.buffer.as_mut(), fields::THA, &addr.0);
    }

    /// Sets the target protocol address.
    pub fn set_target_ip(&mut self, addr: Ipv4Addr) {
        field::write_bytes(self.buffer.as_mut(), fields::TPA, &addr.octets());
    }
}

/// The meaning of an Ethernet/IPv4 ARP request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (all zeroes in a request, by convention).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads a checked packet.
    ///
    /// # Errors
    /// [`ArpError::UnsupportedOperation`] for operations other than request and reply.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, ArpError> {
        let operation = match packet.operation() {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            operation => return Err(ArpError::UnsupportedOperation { operation }),
        };
        Ok(ArpRepr {
            operation,
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// The packet length, 28.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first 28 bytes of `buf`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooShort`] if `buf` is shorter than 28 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EmitError> {
        EmitError::check_len(PACKET_LEN, buf.len())?;
        let mut packet = ArpPacket::new_unchecked(buf);
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation.code());
        packet.set_sender_mac(self.sender_mac);
        packet.set_sender_ip(self.sender_ip);
        packet.set_target_mac(self.target_mac);
        packet.set_target_ip(self.target_ip);
        Ok(())
    }
}

#[cfg(any(test, feature = "proptest"))]
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for ArpRepr {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (
                prop_oneof![Just(ArpOperation::Request), Just(ArpOperation::Reply)],
                any::<MacAddr>(),
                any::<[u8; 4]>(),
                any::<MacAddr>(),
                any::<[u8; 4]>(),
            )
                .prop_map(|(operation, sender_mac, spa, target_mac, tpa)| ArpRepr {
                    operation,
                    sender_mac,
                    sender_ip: spa.into(),
                    target_mac,
                    target_ip: tpa.into(),
                })
                .boxed()
        }
    }
}
