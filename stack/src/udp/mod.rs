//! UDP (RFC 768) as Linux does it: the socket table and its lookup (L5.3), sockets and their
//! options, input (L5.x), output (L3.x), ICMP errors to sockets (L1.x), receive-buffer
//! accounting (L6.x) and ephemeral ports (L8.1).

mod api;
mod error;
mod input;
pub(crate) mod memory;
mod output;
pub(crate) mod ports;
mod socket;
pub(crate) mod table;

pub use api::{ErrorMessage, Readiness, Received};
pub use memory::{truesize, UdpMemory};
pub use output::MAX_PAYLOAD;
pub use socket::{ErrorOrigin, ExtendedError, PmtuMode, SocketHandle};

macro_rules! flags {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $flag:ident = $bit:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            $($(#[$fmeta])* pub const $flag: $name = $name($bit);)*

            /// No flags.
            pub const fn empty() -> Self {
                $name(0)
            }

            /// Whether every flag of `other` is set.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl core::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl core::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: $name) {
                self.0 |= rhs.0;
            }
        }
    };
}

flags! {
    /// Flags of a receive call (`recvmsg`'s `flags`), with Linux's values.
    RecvFlags {
        /// MSG_PEEK: leave the datagram queued.
        PEEK = 0x02,
        /// MSG_TRUNC: return the datagram's real length even if the buffer was shorter.
        TRUNC = 0x20,
        /// MSG_DONTWAIT: do not block (the sans-IO stack never blocks).
        DONTWAIT = 0x40,
        /// MSG_WAITALL: no effect for UDP (L7.6).
        WAITALL = 0x100,
    }
}

flags! {
    /// Flags of a send call (`sendmsg`'s `flags`), with Linux's values.
    SendFlags {
        /// MSG_OOB: refused with EOPNOTSUPP.
        OOB = 0x01,
        /// MSG_DONTROUTE: only on-link destinations.
        DONTROUTE = 0x04,
        /// MSG_DONTWAIT: do not block (the sans-IO stack never blocks).
        DONTWAIT = 0x40,
        /// MSG_MORE: more data is coming; append to a pending datagram (L3.2).
        MORE = 0x8000,
    }
}
