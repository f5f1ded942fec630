//! Total byte accessors shared by the views.
//!
//! Every read of a field that lies (partly) past the end of the buffer returns zero, and every
//! such write is skipped. Checked views never hit those cases; the point is that no accessor can
//! panic, even on an unchecked view over a short buffer.

/// A byte range of a header field.
pub(crate) type Field = core::ops::Range<usize>;

/// The byte at `at`, or 0.
#[inline]
pub(crate) fn read_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// The big-endian `u16` at `at`, or 0.
#[inline]
pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(read_array(buf, at))
}

/// The `N` bytes at `at`, or zeroes.
#[inline]
pub(crate) fn read_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    buf.get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

/// `buf[range]`, or the empty slice if the range does not fit.
#[inline]
pub(crate) fn slice(buf: &[u8], range: Field) -> &[u8] {
    buf.get(range).unwrap_or(&[])
}

/// `buf[range]` mutably, or the empty slice if the range does not fit.
#[inline]
pub(crate) fn slice_mut(buf: &mut [u8], range: Field) -> &mut [u8] {
    buf.get_mut(range).unwrap_or(&mut [])
}

/// Writes `value` at `at` if it fits.
#[inline]
pub(crate) fn write_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

/// Writes `value` big-endian at `at` if it fits.
#[inline]
pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    write_bytes(buf, at, &value.to_be_bytes());
}

/// Copies `bytes` to `at` if they fit.
#[inline]
pub(crate) fn write_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}
