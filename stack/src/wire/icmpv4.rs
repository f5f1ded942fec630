//! ICMPv4 messages (RFC 792), with the next-hop MTU of RFC 1191 §4 and the quoting rules of
//! RFC 1122 §3.2.2.
//!
//! A message is an 8-byte header, whose meaning is an [`Icmpv4Message`], followed by a body: the
//! echoed data for echo request and reply, or for an error the *quote*, the IPv4 header and
//! leading payload of the datagram that caused it. [`Quote::parse`] reads a quote the way Linux's
//! `icmp_unreach` does: the quoted header needs IHL ≥ 5 and must be followed by at least 8 bytes
//! of its payload (L1.1).
//!
//! Messages udpstack does not handle (timestamps, address masks, router discovery, ...) are
//! reported as [`Icmpv4Error::UnsupportedType`], and unknown codes of known types as
//! [`Icmpv4Error::UnknownCode`] (Linux drops destination-unreachable codes above 15, L1.1).

use core::fmt;
use std::net::Ipv4Addr;

use super::checksum;
use super::field;
use super::ipv4::{Ipv4Error, Ipv4Packet};
use super::EmitError;

/// The length of the ICMP header (type, code, checksum, and four bytes of rest-of-header).
pub const HEADER_LEN: usize = 8;
/// How many bytes of the quoted datagram's payload an ICMP error must carry (RFC 792, L1.1).
pub const QUOTED_PAYLOAD_LEN: usize = 8;

mod fields {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    pub const POINTER: usize = 4;
    pub const GATEWAY: usize = 4;
    pub const MTU: usize = 6;
}

/// ICMP type numbers udpstack knows.
pub mod types {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated by RFC 6633; Linux ignores it).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// The codes of destination unreachable (type 3), all sixteen (RFC 792, RFC 1122 §3.2.2.1,
/// RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// 0: net unreachable.
    NetUnreachable,
    /// 1: host unreachable.
    HostUnreachable,
    /// 2: protocol unreachable.
    ProtoUnreachable,
    /// 3: port unreachable.
    PortUnreachable,
    /// 4: fragmentation needed and DF set, with the next-hop MTU of RFC 1191 (0 from routers
    /// that predate it).
    FragNeeded {
        /// The MTU of the next-hop network.
        next_hop_mtu: u16,
    },
    /// 5: source route failed.
    SourceRouteFailed,
    /// 6: destination network unknown.
    NetUnknown,
    /// 7: destination host unknown.
    HostUnknown,
    /// 8: source host isolated.
    HostIsolated,
    /// 9: communication with destination network administratively prohibited.
    NetProhibited,
    /// 10: communication with destination host administratively prohibited.
    HostProhibited,
    /// 11: network unreachable for type of service.
    NetUnreachableForTos,
    /// 12: host unreachable for type of service.
    HostUnreachableForTos,
    /// 13: communication administratively prohibited (RFC 1812).
    AdminProhibited,
    /// 14: host precedence violation (RFC 1812).
    HostPrecedenceViolation,
    /// 15: precedence cutoff in effect (RFC 1812).
    PrecedenceCutoff,
}

impl DstUnreachable {
    /// The code for `code` (with `next_hop_mtu` for code 4), or `None` above 15.
    pub fn from_code(code: u8, next_hop_mtu: u16) -> Option<Self> {
        use DstUnreachable::*;
        Some(match code {
            0 => NetUnreachable,
            1 => HostUnreachable,
            2 => ProtoUnreachable,
            3 => PortUnreachable,
            4 => FragNeeded { next_hop_mtu },
            5 => SourceRouteFailed,
            6 => NetUnknown,
            7 => HostUnknown,
            8 => HostIsolated,
            9 => NetProhibited,
            10 => HostProhibited,
            11 => NetUnreachableForTos,
            12 => HostUnreachableForTos,
            13 => AdminProhibited,
            14 => HostPrecedenceViolation,
            15 => PrecedenceCutoff,
            _ => return None,
        })
    }

    /// The code number.
    pub fn code(&self) -> u8 {
        use DstUnreachable::*;
        match self {
            NetUnreachable => 0,
            HostUnreachable => 1,
            ProtoUnreachable => 2,
            PortUnreachable => 3,
            FragNeeded { .. } => 4,
            SourceRouteFailed => 5,
            NetUnknown => 6,
            HostUnknown => 7,
            HostIsolated => 8,
            NetProhibited => 9,
            HostProhibited => 10,
            NetUnreachableForTos => 11,
            HostUnreachableForTos => 12,
            AdminProhibited => 13,
            HostPrecedenceViolation => 14,
            PrecedenceCutoff => 15,
        }
    }
}

/// The codes of time exceeded (type 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// 0: time to live exceeded in transit.
    TtlExpired,
    /// 1: fragment reassembly time exceeded.
    FragReassembly,
}

/// The codes of parameter problem (type 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamProblem {
    /// 0: the pointer indicates the error (RFC 792).
    AtPointer,
    /// 1: a required option is missing (RFC 1108).
    MissingOption,
    /// 2: bad length (RFC 1812).
    BadLength,
}

/// The codes of redirect (type 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Redirect {
    /// 0: for the network.
    Net,
    /// 1: for the host.
    Host,
    /// 2: for the type of service and network.
    TosNet,
    /// 3: for the type of service and host.
    TosHost,
}

/// Why an ICMPv4 message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Error {
    /// Shorter than the 8-byte header.
    Truncated {
        /// Bytes in the buffer.
        len: usize,
    },
    /// The checksum over the message does not verify.
    BadChecksum {
        /// The checksum field.
        checksum: u16,
        /// The value it should have held.
        expected: u16,
    },
    /// A type udpstack does not handle (timestamp, address mask, router discovery, ...).
    UnsupportedType {
        /// The type found.
        msg_type: u8,
    },
    /// A code not defined for its type (e.g. destination unreachable above 15).
    UnknownCode {
        /// The type.
        msg_type: u8,
        /// The code found.
        code: u8,
    },
}

impl fmt::Display for Icmpv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Icmpv4Error::Truncated { len } => {
                write!(
                    f,
                    "ICMP message of {len} bytes is shorter than the 8-byte header"
                )
            }
            Icmpv4Error::BadChecksum { checksum, expected } => {
                write!(f, "ICMP checksum {checksum:#06x} should be {expected:#06x}")
            }
            Icmpv4Error::UnsupportedType { msg_type } => {
                write!(f, "ICMP type {msg_type} is not supported")
            }
            Icmpv4Error::UnknownCode { msg_type, code } => {
                write!(f, "ICMP type {msg_type} has no code {code}")
            }
        }
    }
}

impl std::error::Error for Icmpv4Error {}

/// A zero-copy view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checks (fields past its end read as zero and are not written).
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps a received message after checking it holds the 8-byte header and its checksum,
    /// which covers the whole buffer, verifies.
    ///
    /// # Errors
    /// [`Icmpv4Error::Truncated`], then [`Icmpv4Error::BadChecksum`].
    pub fn new_checked(buffer: T) -> Result<Self, Icmpv4Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Icmpv4Error::Truncated { len });
        }
        let packet = Icmpv4Packet { buffer };
        if !packet.verify_checksum() {
            return Err(Icmpv4Error::BadChecksum {
                checksum: packet.checksum(),
                expected: packet.expected_checksum(),
            });
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

    /// The type.
    pub fn msg_type(&self) -> u8 {
        field::read_u8(self.buf(), fields::TYPE)
    }

    /// The code.
    pub fn code(&self) -> u8 {
        field::read_u8(self.buf(), fields::CODE)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        field::read_u16(self.buf(), fields::CHECKSUM)
    }

    /// The identifier of an echo request or reply.
    pub fn ident(&self) -> u16 {
        field::read_u16(self.buf(), fields::IDENT)
    }

    /// The sequence number of an echo request or reply.
    pub fn seq_no(&self) -> u16 {
        field::read_u16(self.buf(), fields::SEQ_NO)
    }

    /// The next-hop MTU of a fragmentation-needed message (RFC 1191 §4).
    pub fn next_hop_mtu(&self) -> u16 {
        field::read_u16(self.buf(), fields::MTU)
    }

    /// The pointer of a parameter problem.
    pub fn pointer(&self) -> u8 {
        field::read_u8(self.buf(), fields::POINTER)
    }

    /// The gateway address of a redirect.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_array(self.buf(), fields::GATEWAY))
    }

    /// The body after the 8-byte header: echo data, or the quote of an error.
    pub fn body(&self) -> &[u8] {
        let buf = self.buf();
        field::slice(buf, HEADER_LEN.min(buf.len())..buf.len())
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(checksum::sum(self.buf()))
    }

    /// The checksum the message should carry, computed with the checksum field taken as zero.
    pub fn expected_checksum(&self) -> u16 {
        let buf = self.buf();
        let before = checksum::sum(field::slice(buf, 0..fields::CHECKSUM));
        let after = checksum::sum(field::slice(buf, fields::CHECKSUM + 2..buf.len()));
        !checksum::combine(before, after)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the type.
    pub fn set_msg_type(&mut self, value: u8) {
        field::write_u8(self.buf_mut(), fields::TYPE, value);
    }

    /// Sets the code.
    pub fn set_code(&mut self, value: u8) {
        field::write_u8(self.buf_mut(), fields::CODE, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        field::write_u16(self.buf_mut(), fields::CHECKSUM, value);
    }

    /// Sets the four rest-of-header bytes (identifier and sequence, MTU, pointer, gateway).
    pub fn set_rest_of_header(&mut self, value: [u8; 4]) {
        field::write_bytes(self.buf_mut(), fields::IDENT, &value);
    }

    /// The body, mutably.
    pub fn body_mut(&mut self) -> &mut [u8] {
        let buf = self.buf_mut();
        let len = buf.len();
        field::slice_mut(buf, HEADER_LEN.min(len)..len)
    }

    /// Recomputes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.buf());
        self.set_checksum(value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of an ICMPv4 header: its type, code and rest-of-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Message {
    /// Type 8. The code is not checked (Linux answers any) and is emitted as 0.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
    },
    /// Type 0. The code is not checked and is emitted as 0.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
    },
    /// Type 3.
    DstUnreachable(DstUnreachable),
    /// Type 4, code 0 (any code is accepted, as in Linux).
    SourceQuench,
    /// Type 5.
    Redirect {
        /// The code.
        reason: Redirect,
        /// The better first hop.
        gateway: Ipv4Addr,
    },
    /// Type 11.
    TimeExceeded(TimeExceeded),
    /// Type 12.
    ParamProblem {
        /// The code.
        reason: ParamProblem,
        /// The octet of the quoted header where the problem was found.
        pointer: u8,
    },
}

impl Icmpv4Message {
    /// The type number.
    pub fn msg_type(&self) -> u8 {
        match self {
            Icmpv4Message::EchoRequest { .. } => types::ECHO_REQUEST,
            Icmpv4Message::EchoReply { .. } => types::ECHO_REPLY,
            Icmpv4Message::DstUnreachable(_) => types::DST_UNREACHABLE,
            Icmpv4Message::SourceQuench => types::SOURCE_QUENCH,
            Icmpv4Message::Redirect { .. } => types::REDIRECT,
            Icmpv4Message::TimeExceeded(_) => types::TIME_EXCEEDED,
            Icmpv4Message::ParamProblem { .. } => types::PARAM_PROBLEM,
        }
    }

    /// The code number.
    pub fn code(&self) -> u8 {
        match self {
            Icmpv4Message::EchoRequest { .. }
            | Icmpv4Message::EchoReply { .. }
            | Icmpv4Message::SourceQuench => 0,
            Icmpv4Message::DstUnreachable(reason) => reason.code(),
            Icmpv4Message::Redirect { reason, .. } => *reason as u8,
            Icmpv4Message::TimeExceeded(reason) => *reason as u8,
            Icmpv4Message::ParamProblem { reason, .. } => *reason as u8,
        }
    }

    /// Whether this is an error message, whose body is a quote (RFC 1122 §3.2.2).
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            Icmpv4Message::EchoRequest { .. } | Icmpv4Message::EchoReply { .. }
        )
    }

    /// Bytes 4..8 of the header.
    fn rest_of_header(&self) -> [u8; 4] {
        match *self {
            Icmpv4Message::EchoRequest { ident, seq_no }
            | Icmpv4Message::EchoReply { ident, seq_no } => {
                let [a, b] = ident.to_be_bytes();
                let [c, d] = seq_no.to_be_bytes();
                [a, b, c, d]
            }
            Icmpv4Message::DstUnreachable(DstUnreachable::FragNeeded { next_hop_mtu }) => {
                let [c, d] = next_hop_mtu.to_be_bytes();
                [0, 0, c, d]
            }
            Icmpv4Message::Redirect { gateway, .. } => gateway.octets(),
            Icmpv4Message::ParamProblem { pointer, .. } => [pointer, 0, 0, 0],
            Icmpv4Message::DstUnreachable(_)
            | Icmpv4Message::SourceQuench
            | Icmpv4Message::TimeExceeded(_) => [0; 4],
        }
    }
}

/// The meaning of an ICMPv4 message: header and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv4Repr<'a> {
    /// Type, code and rest-of-header.
    pub message: Icmpv4Message,
    /// The body: echo data, or for an error the quote (see [`Quote`]).
    pub body: &'a [u8],
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a checked message.
    ///
    /// # Errors
    /// [`Icmpv4Error::UnsupportedType`] or [`Icmpv4Error::UnknownCode`].
    pub fn parse(packet: &Icmpv4Packet<&'a [u8]>) -> Result<Self, Icmpv4Error> {
        let msg_type = packet.msg_type();
        let code = packet.code();
        let unknown = Icmpv4Error::UnknownCode { msg_type, code };
        let message = match msg_type {
            types::ECHO_REQUEST => Icmpv4Message::EchoRequest {
                ident: packet.ident(),
                seq_no: packet.seq_no(),
            },
            types::ECHO_REPLY => Icmpv4Message::EchoReply {
                ident: packet.ident(),
                seq_no: packet.seq_no(),
            },
            types::DST_UNREACHABLE => Icmpv4Message::DstUnreachable(
                DstUnreachable::from_code(code, packet.next_hop_mtu()).ok_or(unknown)?,
            ),
            types::SOURCE_QUENCH => Icmpv4Message::SourceQuench,
            types::REDIRECT => Icmpv4Message::Redirect {
                reason: match code {
                    0 => Redirect::Net,
                    1 => Redirect::Host,
                    2 => Redirect::TosNet,
                    3 => Redirect::TosHost,
                    _ => return Err(unknown),
                },
                gateway: packet.gateway(),
            },
            types::TIME_EXCEEDED => Icmpv4Message::TimeExceeded(match code {
                0 => TimeExceeded::TtlExpired,
                1 => TimeExceeded::FragReassembly,
                _ => return Err(unknown),
            }),
            types::PARAM_PROBLEM => Icmpv4Message::ParamProblem {
                reason: match code {
                    0 => ParamProblem::AtPointer,
                    1 => ParamProblem::MissingOption,
                    2 => ParamProblem::BadLength,
                    _ => return Err(unknown),
                },
                pointer: packet.pointer(),
            },
            msg_type => return Err(Icmpv4Error::UnsupportedType { msg_type }),
        };
        let buf: &'a [u8] = packet.buffer;
        let body = field::slice(buf, HEADER_LEN.min(buf.len())..buf.len());
        Ok(Icmpv4Repr { message, body })
    }

    /// The message length: 8 plus the body.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    /// Writes the whole message, body and checksum included, into the start of `buf`.
    ///
    /// # Errors
    /// [`EmitError::BufferTooShort`] if `buf` is shorter than [`Icmpv4Repr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EmitError> {
        let len = self.buffer_len();
        EmitError::check_len(len, buf.len())?;
        let mut packet = Icmpv4Packet::new_unchecked(field::slice_mut(buf, 0..len));
        packet.set_msg_type(self.message.msg_type());
        packet.set_code(self.message.code());
        packet.set_rest_of_header(self.message.rest_of_header());
        packet.body_mut().copy_from_slice(self.body);
        packet.fill_checksum();
        Ok(())
    }
}

/// Why the quote of an ICMP error cannot be matched to a datagram (L1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuoteError {
    /// The quoted IPv4 header is not there: too short, IHL < 5, or cut inside the header.
    Header(Ipv4Error),
    /// Fewer than 8 bytes follow the quoted header.
    PayloadTruncated {
        /// Bytes present after the quoted header.
        len: usize,
    },
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QuoteError::Header(e) => write!(f, "quoted header: {e}"),
            QuoteError::PayloadTruncated { len } => {
                write!(
                    f,
                    "quote carries {len} bytes after its header, fewer than 8"
                )
            }
        }
    }
}

impl std::error::Error for QuoteError {}

/// The datagram quoted in an ICMP error: its IPv4 header and the first 8 bytes of its payload,
/// which for UDP is the whole UDP header.
#[derive(Debug, Clone)]
pub struct Quote<'a> {
    body: &'a [u8],
    ip: Ipv4Packet<&'a [u8]>,
    transport: [u8; QUOTED_PAYLOAD_LEN],
}

impl<'a> Quote<'a> {
    /// Reads the body of an ICMP error as Linux's `icmp_unreach` does (L1.1).
    ///
    /// # Errors
    /// [`QuoteError::Header`] if the quoted header is not all there or has IHL < 5;
    /// [`QuoteError::PayloadTruncated`] if fewer than 8 bytes of payload follow it.
    pub fn parse(body: &'a [u8]) -> Result<Self, QuoteError> {
        let ip = Ipv4Packet::new_lax(body).map_err(QuoteError::Header)?;
        let after_header = field::slice(body, ip.header_len()..body.len());
        let transport = after_header
            .get(..QUOTED_PAYLOAD_LEN)
            .and_then(|t| t.try_into().ok())
            .ok_or(QuoteError::PayloadTruncated {
                len: after_header.len(),
            })?;
        Ok(Quote {
            body,
            ip,
            transport,
        })
    }

    /// The quoted IPv4 header, as a lax view (version, checksum and total length unchecked).
    pub fn ip(&self) -> &Ipv4Packet<&'a [u8]> {
        &self.ip
    }

    /// The first 8 bytes after the quoted header.
    pub fn transport_header(&self) -> [u8; QUOTED_PAYLOAD_LEN] {
        self.transport
    }

    /// The quoted source port (bytes 0..2 of the transport header, for UDP and TCP).
    pub fn src_port(&self) -> u16 {
        field::read_u16(&self.transport, 0)
    }

    /// The quoted destination port (bytes 2..4 of the transport header, for UDP and TCP).
    pub fn dst_port(&self) -> u16 {
        field::read_u16(&self.transport, 2)
    }

    /// Everything the quote carries after the first 8 bytes of payload: for a UDP datagram, the
    /// start of its payload, which Linux returns from the error queue (L1.7).
    pub fn rest(&self) -> &'a [u8] {
        let start = self.ip.header_len() + QUOTED_PAYLOAD_LEN;
        field::slice(self.body, start.min(self.body.len())..self.body.len())
    }
}

#[cfg(any(test, feature = "proptest"))]
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for Icmpv4Message {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            let unreachable = (0u8..16, any::<u16>())
                .prop_filter_map("code ≤ 15", |(code, mtu)| {
                    DstUnreachable::from_code(code, mtu)
                });
            prop_oneof![
                (any::<u16>(), any::<u16>())
                    .prop_map(|(ident, seq_no)| Icmpv4Message::EchoRequest { ident, seq_no }),
                (any::<u16>(), any::<u16>())
                    .prop_map(|(ident, seq_no)| Icmpv4Message::EchoReply { ident, seq_no }),
                unreachable.prop_map(Icmpv4Message::DstUnreachable),
                Just(Icmpv4Message::SourceQuench),
                (
                    prop_oneof![
                        Just(Redirect::Net),
                        Just(Redirect::Host),
                        Just(Redirect::TosNet),
                        Just(Redirect::TosHost)
                    ],
                    any::<[u8; 4]>()
                )
                    .prop_map(|(reason, gw)| Icmpv4Message::Redirect {
                        reason,
                        gateway: gw.into()
                    }),
                prop_oneof![
                    Just(TimeExceeded::TtlExpired),
                    Just(TimeExceeded::FragReassembly)
                ]
                .prop_map(Icmpv4Message::TimeExceeded),
                (
                    prop_oneof![
                        Just(ParamProblem::AtPointer),
                        Just(ParamProblem::MissingOption),
                        Just(ParamProblem::BadLength)
                    ],
                    any::<u8>()
                )
                    .prop_map(|(reason, pointer)| Icmpv4Message::ParamProblem { reason, pointer }),
            ]
            .boxed()
        }
    }
}
