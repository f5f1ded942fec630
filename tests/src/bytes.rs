//! The byte reader the fuzz-input decoders share ([`crate::actions`], [`crate::reassembly`],
//! [`crate::icmp_errors`]): arbitrary bytes read one at a time, 0 once they run out, so that
//! every input decodes to something.

/// The bytes, read one at a time (0 once they run out).
pub(crate) struct Bytes<'a> {
    pub(crate) data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub(crate) fn next(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.next(), self.next()])
    }

    /// The next `n` bytes, or as many as are left.
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}
