//! The wire layer: parsing and building the packets udpstack speaks, with no state at all.
//!
//! Every protocol has one module with the same three parts (the shape smoltcp made popular):
//!
//! * a **view**, `Packet<T: AsRef<[u8]>>`, a zero-copy window over a byte buffer. Its
//!   `new_checked` constructor validates everything the accessors rely on, after which no
//!   accessor can panic; getters need `AsRef<[u8]>`, setters `AsMut<[u8]>`. Accessors are in
//!   fact total even on an unchecked view: a field lying past the end of the buffer reads as zero
//!   and is not written (this module denies `clippy::indexing_slicing`).
//! * a **`Repr`**, a plain value holding the parsed meaning of the header, with
//!   `parse(&view) -> Result<Repr, Error>`, `buffer_len()` and `emit(&mut [u8])`. `emit` never
//!   panics: for a `Repr` whose fields are in range it succeeds on any buffer of at least
//!   `buffer_len()` bytes; otherwise it returns an [`EmitError`] saying what was wrong.
//! * an **error enum** of its own whose variants say exactly what was wrong, with the lengths and
//!   values involved, so that a counter or a trace line can name the reason for a drop.
//!
//! Module docs cite the RFC sections they implement; the Linux behaviour they follow is cited by
//! rule number (`L5.1`) from the project's reference.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
mod field;
pub mod golden;
pub mod icmpv4;
pub mod ipv4;
pub mod udp;

#[cfg(test)]
mod tests;

pub use arp::{ArpError, ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetError, EthernetFrame, EthernetRepr, MacAddr};
pub use icmpv4::{
    DstUnreachable, Icmpv4Error, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Quote, QuoteError,
    TimeExceeded,
};
pub use ipv4::{IpProtocol, Ipv4Error, Ipv4Options, Ipv4Packet, Ipv4Repr};
pub use std::net::Ipv4Addr;
pub use udp::{UdpError, UdpPacket, UdpRepr};

/// Why an `emit` could not write a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmitError {
    /// The buffer is shorter than the packet.
    BufferTooShort {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        len: usize,
    },
    /// A `Repr` field holds a value its header field cannot represent (a fragment offset that
    /// is not a multiple of 8, a DSCP above 63, a total length above 65535, ...).
    InvalidField {
        /// The `Repr` field's name.
        field: &'static str,
        /// The value it holds.
        value: u64,
    },
}

impl EmitError {
    /// `Ok(())` if `len >= needed`, otherwise [`EmitError::BufferTooShort`].
    pub(crate) fn check_len(needed: usize, len: usize) -> Result<(), EmitError> {
        if len < needed {
            Err(EmitError::BufferTooShort { needed, len })
        } else {
            Ok(())
        }
    }

    /// `Ok(())` if `ok`, otherwise [`EmitError::InvalidField`].
    pub(crate) fn check_field(ok: bool, field: &'static str, value: u64) -> Result<(), EmitError> {
        if ok {
            Ok(())
        } else {
            Err(EmitError::InvalidField { field, value })
        }
    }
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            EmitError::BufferTooShort { needed, len } => {
                write!(f, "buffer of {len} bytes is too short for {needed} bytes")
            }
            EmitError::InvalidField { field, value } => {
                write!(f, "field {field} cannot hold the value {value}")
            }
        }
    }
}

impl std::error::Error for EmitError {}
