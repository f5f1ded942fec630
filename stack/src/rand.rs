//! Seeded randomness and keyed hashing: the engine's only sources of unpredictability, both
//! derived from the seed given to `Stack::new`, so that a run can be replayed exactly.
//!
//! * [`Rng`] is xoshiro256++ (Blackman and Vigna, "Scrambled linear pseudorandom number
//!   generators", 2021), seeded through SplitMix64 as its authors recommend. It stands in for the
//!   kernel's `get_random_u32()` wherever Linux draws a random number: ephemeral port starts, IP
//!   ID jumps, connect-time IP IDs, neighbour reachable times, ICMP credit consumption.
//! * [`HashKey`] is a SipHash-1-3 key, standing in for the kernel's boot-time secrets (the IP ID
//!   key of `ip_idents_reserve`, the `udp_ehash_secret` of SO_REUSEPORT selection). The values differ
//!   from any kernel's, as the kernel's secrets differ from boot to boot; the *structure* of the
//!   computation is what udpstack reproduces.

use core::hash::{BuildHasher, Hasher};
use std::collections::HashMap;

use siphasher::sip::SipHasher13;

/// A seeded xoshiro256++ generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

/// SplitMix64, used to expand a 64-bit seed into xoshiro's 256-bit state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.s;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        let mut s = [s0, s1, s2 ^ s0, s3 ^ s1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        self.s = s;
        result
    }

    /// The next 32 random bits (the high half, the better-mixed one).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// The next 16 random bits.
    pub fn next_u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }

    /// A number in `0..bound` (0 if `bound` is 0), like the kernel's `get_random_u32_below`,
    /// by Lemire's multiply-shift (bias below 2^-32, irrelevant here).
    pub fn below(&mut self, bound: u32) -> u32 {
        ((u64::from(self.next_u32()) * u64::from(bound)) >> 32) as u32
    }

    /// A fresh hash key drawn from this generator.
    pub fn hash_key(&mut self) -> HashKey {
        HashKey {
            k0: self.next_u64(),
            k1: self.next_u64(),
        }
    }
}

/// A secret key for keyed hashing (SipHash-1-3).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

impl HashKey {
    /// The keyed hash of `words`, truncated to 32 bits (the width of the kernel's hashes).
    pub fn hash_u32s(&self, words: &[u32]) -> u32 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        for w in words {
            h.write_u32(*w);
        }
        h.finish() as u32
    }
}

/// A `BuildHasher` for the engine's hash maps: SipHash-1-3 under a key drawn from the stack's
/// seed. `std`'s default `RandomState` seeds itself from the operating system, which would make
/// the engine's behaviour depend on unseeded randomness; this keeps every run replayable while
/// the key still keeps remote peers from choosing colliding keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyedState(HashKey);

impl KeyedState {
    /// Hashing under `key`.
    pub fn new(key: HashKey) -> Self {
        KeyedState(key)
    }
}

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.0.k0, self.0.k1)
    }
}

/// A `HashMap` hashed by a [`KeyedState`].
pub type KeyedMap<K, V> = HashMap<K, V, KeyedState>;

/// A fast keyed `BuildHasher` for the socket table's integer keys (an address and port packed
/// into a `u64`, a 4-tuple into a `u128`): a folded multiply (as in foldhash) seeded with a
/// secret key, in the spirit of the kernel's `jhash` with `udp_ehash_secret`. It costs a few
/// nanoseconds where SipHash costs fifteen, on the path every datagram takes; the key still
/// keeps peers from predicting collisions.
#[derive(Debug, Clone, Copy)]
pub struct FastKeyedState {
    k0: u64,
    k1: u64,
}

impl FastKeyedState {
    /// Hashing under `key`.
    pub fn new(key: HashKey) -> Self {
        FastKeyedState {
            k0: key.k0,
            k1: key.k1 | 1,
        }
    }
}

/// The hasher of [`FastKeyedState`].
#[derive(Debug, Clone, Copy)]
pub struct FastKeyedHasher {
    acc: u64,
    k1: u64,
}

/// `(a × b)` as a 128-bit product, its halves xored.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a).wrapping_mul(u128::from(b));
    (full as u64) ^ ((full >> 64) as u64)
}

/// An odd constant from the fractional digits of pi.
const MIX: u64 = 0x243f_6a88_85a3_08d3;

impl FastKeyedHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        self.acc = folded_multiply(self.acc ^ x, MIX);
    }
}

impl Hasher for FastKeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            if let Some(w) = word.get_mut(..chunk.len()) {
                w.copy_from_slice(chunk);
            }
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u16(&mut self, x: u16) {
        self.mix(u64::from(x));
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.mix(u64::from(x));
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.mix(x);
    }

    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.mix(x as u64);
        self.mix((x >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, self.k1)
    }
}

impl BuildHasher for FastKeyedState {
    type Hasher = FastKeyedHasher;

    #[inline]
    fn build_hasher(&self) -> FastKeyedHasher {
        FastKeyedHasher {
            acc: self.k0,
            k1: self.k1,
        }
    }
}

/// `(hash × n) >> 32`: maps a 32-bit hash onto `0..n` without division, as the kernel's
/// `reciprocal_scale` does (SO_REUSEPORT member choice, ephemeral port start).
pub fn reciprocal_scale(hash: u32, n: u32) -> u32 {
    ((u64::from(hash) * u64::from(n)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn xoshiro256plusplus_reference_vector() {
        // From the reference C implementation with state {1, 2, 3, 4}.
        let mut r = Rng { s: [1, 2, 3, 4] };
        let out: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(
            out,
            [41943041, 58720359, 3588806011781223, 3591011842654386]
        );
    }

    #[test]
    fn below_stays_below_and_covers() {
        let mut r = Rng::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = r.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn keyed_hash_depends_on_key_and_input() {
        let mut r = Rng::new(3);
        let (k1, k2) = (r.hash_key(), r.hash_key());
        assert_eq!(k1.hash_u32s(&[1, 2, 3]), k1.hash_u32s(&[1, 2, 3]));
        assert_ne!(k1.hash_u32s(&[1, 2, 3]), k1.hash_u32s(&[1, 2, 4]));
        assert_ne!(k1.hash_u32s(&[1, 2, 3]), k2.hash_u32s(&[1, 2, 3]));
    }

    #[test]
    fn fast_keyed_hash_depends_on_key_and_input() {
        use core::hash::BuildHasher;
        let mut r = Rng::new(4);
        let (a, b) = (
            FastKeyedState::new(r.hash_key()),
            FastKeyedState::new(r.hash_key()),
        );
        assert_eq!(a.hash_one(42u64), a.hash_one(42u64));
        assert_ne!(a.hash_one(42u64), a.hash_one(43u64));
        assert_ne!(a.hash_one(42u64), b.hash_one(42u64));
        assert_ne!(a.hash_one(1u128 << 64), a.hash_one(1u128));
    }

    #[test]
    fn reciprocal_scale_maps_into_range() {
        assert_eq!(reciprocal_scale(0, 4), 0);
        assert_eq!(reciprocal_scale(u32::MAX, 4), 3);
        assert_eq!(reciprocal_scale(0x8000_0000, 4), 2);
    }
}
