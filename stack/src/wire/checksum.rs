//! The Internet checksum: RFC 1071 computation, RFC 1624 incremental update, and the IPv4
//! pseudo-header of RFC 768 / RFC 793.
//!
//! All sums here are *folded* 16-bit one's-complement sums, returned as the numeric value of the
//! big-endian word (the bytes `[0x12, 0x34]` sum to `0x1234`). A checksum field holds the
//! complement of such a sum ([`checksum`]); a packet verifies when the sum over it, checksum
//! field included, is `0xffff` ([`verify`]).
//!
//! [`sum`] reads the data eight bytes at a time into four independent 64-bit accumulators,
//! counting carries separately, so the loop runs four short independent dependency chains
//! (RFC 1071 §2(C) "deferred carries", §2(B) byte-order independence: words are added in native order and swapped once).
//! `docs/BENCHMARKS.md` records its throughput beside `memcpy`.

use std::net::Ipv4Addr;

/// The folded one's-complement sum of `data`, an odd final byte padded with a zero byte
/// (RFC 1071 §4.1). Not complemented; the empty slice sums to 0.
pub fn sum(data: &[u8]) -> u16 {
    let mut acc = [0u64; 4];
    let mut carries = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for (i, word) in block.chunks_exact(8).enumerate() {
            let word = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
            if let (Some(a), Some(c)) = (acc.get_mut(i), carries.get_mut(i)) {
                let (s, overflow) = a.overflowing_add(word);
                *a = s;
                *c += u64::from(overflow);
            }
        }
    }
    // Each lane holds at most len/32 carries, so the u128 total cannot overflow.
    let mut total: u128 = acc.iter().chain(&carries).map(|&x| u128::from(x)).sum();
    let mut rest = blocks.remainder().chunks_exact(8);
    for word in &mut rest {
        total += u128::from(u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])));
    }
    // The last 0..=7 bytes start at an even offset, so native-order pieces of 4, 2 and 1 bytes
    // still line up with the 16-bit words; the odd byte is padded with a zero (RFC 1071 §4.1).
    // Reading them piecewise avoids a variable-length copy (a call into memcpy).
    let mut tail = rest.remainder();
    if let Some((word, r)) = tail.split_first_chunk::<4>() {
        total += u128::from(u32::from_ne_bytes(*word));
        tail = r;
    }
    if let Some((word, r)) = tail.split_first_chunk::<2>() {
        total += u128::from(u16::from_ne_bytes(*word));
        tail = r;
    }
    if let Some(&byte) = tail.first() {
        total += u128::from(u16::from_ne_bytes([byte, 0]));
    }
    u16::from_be(fold(total))
}

/// Folds a wide one's-complement sum to 16 bits with end-around carries, in a fixed number of
/// steps. Each step maps a non-zero value to a non-zero value, so, exactly like the 16-bit loop of
/// RFC 1071, a non-zero sum never folds to 0.
#[inline]
fn fold(x: u128) -> u16 {
    let (low, carry) = (x as u64).overflowing_add((x >> 64) as u64);
    // No overflow: if the addition wrapped, `low` is at most 2^64 - 2.
    let x = low + u64::from(carry);
    let x = (x & 0xffff_ffff) + (x >> 32);
    let x = (x & 0xffff_ffff) + (x >> 32);
    let x = (x & 0xffff) + (x >> 16);
    let x = (x & 0xffff) + (x >> 16);
    let x = (x & 0xffff) + (x >> 16);
    x as u16
}

/// One's-complement addition of two folded sums.
#[inline]
pub fn combine(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The checksum field value for `data`: the complement of [`sum`] (RFC 1071 §1).
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Whether a folded sum taken over a packet *including* its checksum field says the packet is
/// intact (the sum is `0xffff`, "all ones", RFC 1071 §1 step 3).
pub fn verify(sum: u16) -> bool {
    sum == 0xffff
}

/// The sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768): source, destination,
/// zero + protocol, and the transport length.
#[inline]
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let words = [
        u16::from_be_bytes([s0, s1]),
        u16::from_be_bytes([s2, s3]),
        u16::from_be_bytes([d0, d1]),
        u16::from_be_bytes([d2, d3]),
        u16::from(protocol),
        length,
    ];
    words.iter().fold(0, |acc, &w| combine(acc, w))
}

/// RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the covered data changed
/// from `old` to `new`: `HC' = ~(~HC + ~m + m')`.
///
/// Unlike eqn. 2 this never produces `0x0000` from a valid non-zero header (RFC 1624 §3), and it
/// equals recomputation from scratch for every input that recomputation could have produced.
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!checksum, !old), new)
}

/// [`update`] for a 32-bit field (an address): applied to both halves.
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update(c, old as u16, new as u16)
}

/// A running sum over several byte slices of any lengths, as if they were one contiguous buffer.
///
/// [`sum`] pads an odd slice with a zero; chaining two slices therefore needs to know whether
/// the bytes so far were odd, in which case the next slice's words straddle and its sum is
/// byte-swapped (RFC 1071 §2(B)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accumulator {
    sum: u16,
    odd: bool,
}

impl Accumulator {
    /// An empty accumulator (sum 0, even length).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a folded sum that covers an even number of bytes (a pseudo-header, say).
    ///
    /// Must only be called while the bytes added so far are even in length.
    pub fn add_sum(&mut self, sum: u16) {
        let sum = if self.odd { sum.swap_bytes() } else { sum };
        self.sum = combine(self.sum, sum);
    }

    /// Adds the next `data` in the stream.
    pub fn add(&mut self, data: &[u8]) {
        let s = sum(data);
        let s = if self.odd { s.swap_bytes() } else { s };
        self.sum = combine(self.sum, s);
        self.odd ^= !data.len().is_multiple_of(2);
    }

    /// The folded sum of everything added.
    pub fn sum(&self) -> u16 {
        self.sum
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071's reference loop, byte by byte: the oracle.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            s += u32::from(data[i]) << 8;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn rfc1071_worked_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (big-endian words).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn empty_odd_and_all_ones() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0xff, 0xff]), 0xffff);
        // A non-zero sum never folds to 0: 0xffff + 0x0001 = 0x0001 after end-around carry.
        assert_eq!(sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        // Many all-ones words: stays 0xffff, never 0.
        assert_eq!(sum(&[0xff; 4096]), 0xffff);
    }

    #[test]
    fn verify_accepts_a_packet_with_its_checksum() {
        let mut data = vec![
            0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1,
        ];
        data.extend_from_slice(&[10, 0, 0, 2]);
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verify(sum(&data)));
        data[0] ^= 1;
        assert!(!verify(sum(&data)));
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 200, 254);
        let bytes = [10, 0, 0, 1, 192, 168, 200, 254, 0, 17, 0x05, 0xdc];
        assert_eq!(pseudo_header(src, dst, 17, 1500), naive(&bytes));
    }

    /// What eqn. 3 yields: recomputation's answer, except over all-zero data, where the
    /// recomputed field is 0xffff (the sum is +0) and eqn. 3 gives 0x0000 (-0). Both are the same
    /// one's-complement value and both verify; RFC 1624 §3 discusses exactly this case.
    fn expected_after(data: &[u8], recomputed: u16) -> u16 {
        if data.iter().all(|&b| b == 0) {
            0
        } else {
            recomputed
        }
    }

    #[test]
    fn incremental_update_on_all_zero_data_is_minus_zero() {
        assert_eq!(checksum(&[0, 0]), 0xffff);
        assert_eq!(update(checksum(&[0, 1]), 1, 0), 0x0000);
    }

    proptest! {
        // Each case already covers 16 392 slices; a few random buffers suffice.
        #![proptest_config(ProptestConfig::with_cases(4))]

        /// Every length 0..=2048 at every start alignment 0..8, against the byte-wise oracle.
        #[test]
        fn sum_equals_naive_every_length_and_alignment(seed in any::<u64>()) {
            let mut state = seed | 1;
            let buf: Vec<u8> = (0..2048 + 8)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            for align in 0..8 {
                for len in 0..=2048 {
                    let d = &buf[align..align + len];
                    prop_assert_eq!(sum(d), naive(d), "len {} align {}", len, align);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn sum_equals_naive_random(data in proptest::collection::vec(any::<u8>(), 0..70_000)) {
            prop_assert_eq!(sum(&data), naive(&data));
        }

        /// RFC 1624: rewriting one word and updating incrementally equals recomputing.
        #[test]
        fn incremental_update_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..200),
            at in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            let words = data.len() / 2;
            let i = at.index(words) * 2;
            let before = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let after = checksum(&data);
            prop_assert_eq!(update(before, old, new), expected_after(&data, after));
        }

        #[test]
        fn incremental_update_u32_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..64),
            new in any::<u32>(),
        ) {
            let before = checksum(&data);
            let old = u32::from_be_bytes(data[0..4].try_into().unwrap());
            data[0..4].copy_from_slice(&new.to_be_bytes());
            let after = checksum(&data);
            prop_assert_eq!(update_u32(before, old, new), expected_after(&data, after));
        }

        #[test]
        fn accumulator_equals_contiguous(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)
        ) {
            let mut acc = Accumulator::new();
            for p in &parts {
                acc.add(p);
            }
            let whole: Vec<u8> = parts.concat();
            prop_assert_eq!(acc.sum(), naive(&whole));
        }
    }
}
