//! IPv4 options (RFC 791 §3.1), kept as the header's bytes and validated for length the way
//! Linux's `ip_options_compile` does: EOL ends the list (whatever follows is ignored), NOP is one
//! byte, every other option has a length byte ≥ 2 that stays inside the options area. What an
//! option means (record route, timestamps, source routes) is not interpreted here.

use core::fmt;

use super::HEADER_LEN;
use crate::wire::field;

/// The most option bytes a header can carry (IHL 15).
pub const MAX_OPTIONS_LEN: usize = 40;

/// Why an IPv4 option list is malformed. Offsets count from the start of the IPv4 header, so
/// they are what an ICMP parameter problem's pointer would name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionError {
    /// More than 40 option bytes (only [`Ipv4Options::new`] can see this; a header cannot).
    TooLong {
        /// The number of bytes given.
        len: usize,
    },
    /// An option other than EOL and NOP in the last byte, with no room for its length byte.
    MissingLength {
        /// Offset of the option's type byte.
        offset: usize,
        /// The option type.
        kind: u8,
    },
    /// A length byte below 2 or reaching past the end of the options.
    BadLength {
        /// Offset of the option's type byte.
        offset: usize,
        /// The option type.
        kind: u8,
        /// The length byte.
        length: u8,
        /// Option bytes left from `offset` to the end of the options.
        available: usize,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OptionError::TooLong { len } => {
                write!(
                    f,
                    "{len} bytes of IPv4 options exceed the maximum of {MAX_OPTIONS_LEN}"
                )
            }
            OptionError::MissingLength { offset, kind } => {
                write!(
                    f,
                    "IPv4 option {kind} at offset {offset} has no length byte"
                )
            }
            OptionError::BadLength {
                offset,
                kind,
                length,
                available,
            } => write!(
                f,
                "IPv4 option {kind} at offset {offset} has length {length} \
                 (must be 2..={available})"
            ),
        }
    }
}

impl std::error::Error for OptionError {}

/// IPv4 options as the bytes of the header (at most 40, a multiple of 4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Options {
    len: u8,
    bytes: [u8; MAX_OPTIONS_LEN],
}

impl Default for Ipv4Options {
    fn default() -> Self {
        Self::NONE
    }
}

impl fmt::Debug for Ipv4Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ipv4Options({:02x?})", self.as_bytes())
    }
}

/// One option of an [`Ipv4Options`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// Offset of the type byte from the start of the IPv4 header.
    pub offset: usize,
    /// The option type (copied flag, class and number).
    pub kind: u8,
    /// The option's bytes after the type and length bytes (empty for NOP).
    pub data: &'a [u8],
}

impl Ipv4Options {
    /// No options.
    pub const NONE: Ipv4Options = Ipv4Options {
        len: 0,
        bytes: [0; MAX_OPTIONS_LEN],
    };

    /// Option bytes as they follow the fixed header, padded with EOL (0) to a multiple of 4.
    ///
    /// # Errors
    /// [`OptionError::TooLong`] beyond 40 bytes, or the option list's first malformation.
    pub fn new(bytes: &[u8]) -> Result<Self, OptionError> {
        if bytes.len() > MAX_OPTIONS_LEN {
            return Err(OptionError::TooLong { len: bytes.len() });
        }
        validate_options(bytes)?;
        Ok(Self::from_header_bytes(bytes))
    }

    /// Copies header bytes without validation (`bytes` is at most 40 bytes, by construction).
    #[inline]
    pub(super) fn from_header_bytes(bytes: &[u8]) -> Self {
        let mut options = Self::NONE;
        let n = bytes.len().min(MAX_OPTIONS_LEN);
        if let (Some(dst), Some(src)) = (options.bytes.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        options.len = n.next_multiple_of(4) as u8;
        options
    }

    /// The option bytes, padding included.
    pub fn as_bytes(&self) -> &[u8] {
        field::slice(&self.bytes, 0..usize::from(self.len))
    }

    /// The number of option bytes (a multiple of 4).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The options in order, up to EOL. Stops early at a malformed option (which a parsed
    /// header never has).
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Option<'_>> {
        OptionIter {
            bytes: self.as_bytes(),
            at: 0,
        }
    }
}

struct OptionIter<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Ipv4Option<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = HEADER_LEN + self.at;
        match *self.bytes.get(self.at..)? {
            [] | [0, ..] => None,
            [1, ..] => {
                self.at += 1;
                Some(Ipv4Option {
                    offset,
                    kind: 1,
                    data: &[],
                })
            }
            [kind, length, ref rest @ ..] => {
                let data = rest.get(..usize::from(length).checked_sub(2)?)?;
                self.at += usize::from(length);
                Some(Ipv4Option { offset, kind, data })
            }
            [_] => None,
        }
    }
}

/// Checks the TLV structure of option bytes, as `ip_options_compile` does.
pub(super) fn validate_options(bytes: &[u8]) -> Result<(), OptionError> {
    let mut at = 0;
    loop {
        let offset = HEADER_LEN + at;
        match *field::slice(bytes, at..bytes.len()) {
            // EOL: Linux ignores (and overwrites) whatever follows.
            [] | [0, ..] => return Ok(()),
            [1, ..] => at += 1,
            [kind] => return Err(OptionError::MissingLength { offset, kind }),
            [kind, length, ..] => {
                let available = bytes.len() - at;
                if length < 2 || usize::from(length) > available {
                    return Err(OptionError::BadLength {
                        offset,
                        kind,
                        length,
                        available,
                    });
                }
                at += usize::from(length);
            }
        }
    }
}

#[cfg(any(test, feature = "proptest"))]
mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for Ipv4Options {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        /// Well-formed option lists: NOPs and TLV options of 2..=12 bytes, padded with EOL.
        fn arbitrary_with(_: ()) -> Self::Strategy {
            let option = prop_oneof![
                Just(vec![1u8]),
                (2u8.., proptest::collection::vec(any::<u8>(), 0..=10)).prop_map(|(kind, data)| {
                    let mut o = vec![kind, data.len() as u8 + 2];
                    o.extend(data);
                    o
                }),
            ];
            proptest::collection::vec(option, 0..6)
                .prop_map(|opts| {
                    let mut bytes: Vec<u8> = Vec::new();
                    for o in opts {
                        if bytes.len() + o.len() <= MAX_OPTIONS_LEN {
                            bytes.extend(o);
                        }
                    }
                    Ipv4Options::new(&bytes).unwrap_or(Ipv4Options::NONE)
                })
                .boxed()
        }
    }
}
