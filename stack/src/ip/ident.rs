//! The IPv4 identification of packets not sent from a connected socket (L3.5).
//!
//! Linux picks the IPv4 ID in `ip_select_ident_segs()` (`include/net/ip.h`):
//!
//! ```c
//! if (sk && inet_sk(sk)->inet_daddr) {
//!         ...     /* connected socket: its own counter */
//!         val = atomic_add_return(segs, &inet_sk(sk)->inet_id);
//!         iph->id = htons(val);
//!         return;
//! }
//! if ((iph->frag_off & htons(IP_DF)) && !skb->ignore_df) {
//!         iph->id = 0;
//! } else {
//!         /* Unfortunately we need the big hammer to get a suitable IPID */
//!         __ip_select_ident(net, iph, segs);
//! }
//! ```
//!
//! This module is the "big hammer", `__ip_select_ident()` and `ip_idents_reserve()` of
//! `net/ipv4/route.c` (the per-socket counter and the DF case belong to the caller):
//!
//! ```c
//! hash = siphash_3u32((__force u32)iph->daddr,
//!                     (__force u32)iph->saddr,
//!                     iph->protocol,
//!                     &net->ipv4.ip_id_key);
//! id = ip_idents_reserve(hash, segs);
//! iph->id = htons(id);
//!
//! static u32 ip_idents_reserve(u32 hash, int segs)
//! {
//!         u32 bucket, old, now = (u32)jiffies;
//!         ...
//!         bucket = hash & ip_idents_mask;
//!         p_tstamp = ip_tstamps + bucket;
//!         p_id = ip_idents + bucket;
//!         old = READ_ONCE(*p_tstamp);
//!
//!         if (old != now && cmpxchg(p_tstamp, old, now) == old)
//!                 delta = get_random_u32_below(now - old);
//!
//!         return atomic_add_return(segs + delta, p_id) - segs;
//! }
//! ```
//!
//! That is: a keyed hash of (daddr, saddr, protocol) picks one of N buckets; each bucket holds a
//! 32-bit counter and the 32-bit jiffies of its last use. Within one jiffy (here one millisecond,
//! HZ = 1000) a bucket hands out consecutive IDs — the kernel capture in
//! `wire::golden` shows 0x8f33 then 0x8f34 for one flow. When the bucket was last used `d`
//! jiffies ago, the counter first jumps by a random amount in `0..d` ("In order to protect
//! privacy, we add a perturbation to identifiers if one generator is seldom used. This makes
//! hard for an attacker to infer how many packets were sent between two points in time.").
//! `segs` IDs are reserved (one per GSO segment; 1 for a UDP datagram, fragmented or not) and the
//! first is returned, truncated to 16 bits.
//!
//! Followed: mainline `net/ipv4/route.c` as of Linux 6.18 — the SipHash key since commit
//! df453700e8d8 ("inet: switch IP ID generator to siphash", 2019), the RAM-sized table since
//! commit aa6dd211e4b1 ("inet: use bigger hash table for IP ID generation", 2021),
//! `get_random_u32_below()` since the 2022 prandom cleanup, `ip_idents_reserve()` static since
//! 2021.
//!
//! # Bucket count
//!
//! Linux sizes the table at boot with `alloc_large_system_hash("IP idents", ..., 16 /* one
//! bucket per 64 KB */, ..., 2048, 256 * 1024)`: one bucket per 64 KiB of RAM, a power of two
//! from 2048 to 262 144. [`LINUX_DEFAULT_BUCKETS`] (65 536) is the value for the 4 GiB machine
//! the stack's other memory-derived defaults assume. [`IpIdent::new`] rounds any request up to a
//! power of two (the bucket is `hash & mask`) within 1 ..= [`MAX_BUCKETS`].
//!
//! # Differences from Linux
//!
//! * Linux fills every counter with `get_random_bytes()` at boot and every timestamp with 0.
//!   Here a bucket's counter is drawn from the [`Rng`] the first time the bucket is used, which
//!   gives the same distribution (Linux's first use adds a random jump below `jiffies - 0` to an
//!   already random counter) without drawing 65 536 numbers up front.
//! * The hash is SipHash-1-3 under a [`HashKey`] instead of the kernel's SipHash-2-4 under
//!   `ip_id_key`, over the addresses as numbers rather than as raw big-endian words; which flows
//!   share a bucket differs, as it differs between two boots of the same kernel.

use core::fmt;
use std::net::Ipv4Addr;

use crate::rand::{HashKey, Rng};
use crate::time::Instant;

/// The bucket count Linux picks on a machine with 4 GiB of RAM (one per 64 KiB).
pub const LINUX_DEFAULT_BUCKETS: usize = 65_536;

/// The fewest buckets Linux ever uses (machines with 128 MiB of RAM or less).
pub const LINUX_MIN_BUCKETS: usize = 2048;

/// The most buckets Linux (and [`IpIdent`]) ever uses.
pub const MAX_BUCKETS: usize = 256 * 1024;

/// One generator: `ip_idents[i]` and `ip_tstamps[i]`.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The next ID to hand out (before any jump).
    id: u32,
    /// Jiffies (ms, truncated to 32 bits like Linux's `(u32)jiffies`) of the last use.
    stamp: u32,
    /// Whether the counter has been seeded.
    used: bool,
}

/// The IPv4 ID generator for datagrams not sent from a connected socket (L3.5): Linux's
/// `__ip_select_ident()` and `ip_idents_reserve()`.
#[derive(Clone)]
pub struct IpIdent {
    key: HashKey,
    /// `ip_idents_mask`: the bucket count minus one.
    mask: u32,
    buckets: Vec<Bucket>,
}

impl fmt::Debug for IpIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpIdent")
            .field("buckets", &self.buckets.len())
            .finish_non_exhaustive()
    }
}

impl IpIdent {
    /// A generator with `buckets` generators (rounded up to a power of two, within
    /// 1 ..= [`MAX_BUCKETS`]; Linux uses 2048 ..= 262 144, [`LINUX_DEFAULT_BUCKETS`] on a 4 GiB
    /// machine) and the secret `key` standing in for the kernel's `net->ipv4.ip_id_key`.
    /// Allocates 12 bytes per bucket.
    pub fn new(key: HashKey, buckets: usize) -> Self {
        let n = buckets.clamp(1, MAX_BUCKETS).next_power_of_two();
        IpIdent {
            key,
            mask: (n - 1) as u32,
            buckets: vec![Bucket::default(); n],
        }
    }

    /// The number of buckets.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Reserves `segs` consecutive IDs for a packet from `saddr` to `daddr` carrying `protocol`
    /// at `now`, and returns the first (`__ip_select_ident()`). `segs` is 1 for a UDP datagram
    /// (all its fragments share the ID); 0 returns the next ID without using it up.
    pub fn reserve(
        &mut self,
        now: Instant,
        daddr: Ipv4Addr,
        saddr: Ipv4Addr,
        protocol: u8,
        segs: u16,
        rng: &mut Rng,
    ) -> u16 {
        let index = self.bucket_index(daddr, saddr, protocol);
        // `now = (u32)jiffies`: the kernel compares and subtracts 32-bit jiffies, wrapping.
        let now = now.total_millis() as u32;
        let Some(bucket) = self.buckets.get_mut(index) else {
            // Unreachable: the index is masked to the table size.
            return rng.next_u16();
        };
        if !bucket.used {
            bucket.used = true;
            bucket.id = rng.next_u32();
            bucket.stamp = now;
        } else if bucket.stamp != now {
            let delta = rng.below(now.wrapping_sub(bucket.stamp));
            bucket.stamp = now;
            bucket.id = bucket.id.wrapping_add(delta);
        }
        let first = bucket.id;
        bucket.id = bucket.id.wrapping_add(u32::from(segs));
        // `iph->id = htons(id)`: the low 16 bits.
        first as u16
    }

    /// `hash & ip_idents_mask` for the flow.
    fn bucket_index(&self, daddr: Ipv4Addr, saddr: Ipv4Addr, protocol: u8) -> usize {
        let hash = self
            .key
            .hash_u32s(&[u32::from(daddr), u32::from(saddr), u32::from(protocol)]);
        (hash & self.mask) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const UDP: u8 = 17;
    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn ident(seed: u64, buckets: usize) -> (IpIdent, Rng) {
        let mut rng = Rng::new(seed);
        let key = rng.hash_key();
        (IpIdent::new(key, buckets), rng)
    }

    #[test]
    fn consecutive_within_one_millisecond() {
        // L3.5: the golden capture shows 0x8f33 then 0x8f34 for one flow sent back to back.
        let (mut g, mut rng) = ident(1, LINUX_DEFAULT_BUCKETS);
        let t = Instant::from_millis(123_456);
        let first = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
        for i in 1..100u16 {
            // Different microseconds, same millisecond (jiffy).
            let t = t + Duration::from_micros(u64::from(i) * 9);
            assert_eq!(
                g.reserve(t, DST, SRC, UDP, 1, &mut rng),
                first.wrapping_add(i)
            );
        }
    }

    #[test]
    fn segs_reserves_that_many_ids() {
        // L3.5: ip_idents_reserve() returns the first of `segs` IDs.
        let (mut g, mut rng) = ident(2, LINUX_DEFAULT_BUCKETS);
        let t = Instant::from_secs(5);
        let a = g.reserve(t, DST, SRC, UDP, 3, &mut rng);
        let b = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
        let c = g.reserve(t, DST, SRC, UDP, 0, &mut rng);
        let d = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
        assert_eq!(b, a.wrapping_add(3));
        assert_eq!(c, b.wrapping_add(1));
        assert_eq!(d, c, "segs 0 uses nothing up");
    }

    #[test]
    fn idle_bucket_jumps_by_less_than_the_idle_time() {
        // L3.5: after d ms idle the counter jumps by get_random_u32_below(d), so the next ID is
        // previous + 1 + (0..d).
        let (mut g, mut rng) = ident(3, LINUX_DEFAULT_BUCKETS);
        let mut t = Instant::from_secs(10);
        let mut prev = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
        for idle in [1u64, 2, 5, 100, 1000, 30_000] {
            let mut jumped = false;
            for _ in 0..200 {
                t += Duration::from_millis(idle);
                let id = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
                let step = u64::from(id.wrapping_sub(prev));
                assert!((1..=idle).contains(&step), "idle {idle} ms: step {step}");
                jumped |= step > 1;
                prev = id;
            }
            // With 1 ms idle the jump is below 1, i.e. none; otherwise jumps happen.
            assert_eq!(jumped, idle > 1, "idle {idle}");
        }
    }

    #[test]
    fn first_use_is_random() {
        // L3.5: Linux seeds every counter randomly at boot.
        let t = Instant::from_secs(1);
        let firsts: Vec<u16> = (0..8)
            .map(|seed| {
                let (mut g, mut rng) = ident(seed, 2048);
                g.reserve(t, DST, SRC, UDP, 1, &mut rng)
            })
            .collect();
        let mut distinct = firsts.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 7, "{firsts:?}");
    }

    #[test]
    fn different_flows_usually_use_different_buckets() {
        // L3.5: the bucket is a keyed hash of (daddr, saddr, protocol).
        let (g, _) = ident(4, LINUX_DEFAULT_BUCKETS);
        let mut idx: Vec<usize> = (0..200u32)
            .map(|i| g.bucket_index(Ipv4Addr::from(0x0a01_0000 + i), SRC, UDP))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        assert!(idx.len() >= 195, "{} distinct buckets of 200", idx.len());
        // Every part of the flow key matters (this key separates these flows).
        let base = g.bucket_index(DST, SRC, UDP);
        assert_ne!(base, g.bucket_index(DST, SRC, 1));
        assert_ne!(base, g.bucket_index(SRC, DST, UDP));
        assert_ne!(base, g.bucket_index(DST, Ipv4Addr::new(10, 0, 0, 3), UDP));
    }

    #[test]
    fn flows_in_different_buckets_have_independent_sequences() {
        // L3.5: interleaved sends of two flows in one ms are each consecutive.
        let (mut g, mut rng) = ident(5, LINUX_DEFAULT_BUCKETS);
        let other = Ipv4Addr::new(192, 0, 2, 7);
        assert_ne!(
            g.bucket_index(DST, SRC, UDP),
            g.bucket_index(other, SRC, UDP)
        );
        let t = Instant::from_secs(2);
        let a0 = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
        let b0 = g.reserve(t, other, SRC, UDP, 1, &mut rng);
        for i in 1..50u16 {
            assert_eq!(g.reserve(t, DST, SRC, UDP, 1, &mut rng), a0.wrapping_add(i));
            assert_eq!(
                g.reserve(t, other, SRC, UDP, 1, &mut rng),
                b0.wrapping_add(i)
            );
        }
    }

    #[test]
    fn flows_sharing_a_bucket_share_its_counter() {
        // L3.5: with one bucket every flow draws from the same counter.
        let (mut g, mut rng) = ident(6, 1);
        assert_eq!(g.buckets(), 1);
        let t = Instant::from_secs(2);
        let first = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
        let second = g.reserve(t, Ipv4Addr::new(192, 0, 2, 1), SRC, 1, 1, &mut rng);
        assert_eq!(second, first.wrapping_add(1));
    }

    #[test]
    fn bucket_count_is_a_bounded_power_of_two() {
        let key = Rng::new(7).hash_key();
        assert_eq!(IpIdent::new(key, 0).buckets(), 1);
        assert_eq!(IpIdent::new(key, 2048).buckets(), 2048);
        assert_eq!(IpIdent::new(key, 3000).buckets(), 4096);
        assert_eq!(IpIdent::new(key, usize::MAX).buckets(), MAX_BUCKETS);
        const {
            assert!(LINUX_MIN_BUCKETS <= LINUX_DEFAULT_BUCKETS);
            assert!(LINUX_DEFAULT_BUCKETS <= MAX_BUCKETS);
        }
    }

    fn sequence(seed: u64) -> Vec<u16> {
        let (mut g, mut rng) = ident(seed, 2048);
        (0..2000u64)
            .map(|i| {
                let t = Instant::from_micros(i * 777);
                let dst = Ipv4Addr::from(0x0a00_0000 + (i % 13) as u32);
                g.reserve(t, dst, SRC, UDP, 1 + (i % 3) as u16, &mut rng)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_ids() {
        // L3.5 with seeded randomness: a run replays exactly.
        assert_eq!(sequence(8), sequence(8));
        assert_ne!(sequence(8), sequence(9));
    }

    #[test]
    fn wraps_and_never_panics() {
        // L3.5: all arithmetic wraps, as the kernel's u32 counters and jiffies do.
        let (mut g, mut rng) = ident(10, 4);
        let t = Instant::from_secs(3);
        let first = g.reserve(t, DST, SRC, UDP, u16::MAX, &mut rng);
        let mut prev = first;
        for _ in 0..70_000 {
            let id = g.reserve(t, DST, SRC, UDP, u16::MAX, &mut rng);
            assert_eq!(id, prev.wrapping_add(u16::MAX));
            prev = id;
        }
        // Time going backwards, the end of time, and jiffies wrapping at 2^32 ms.
        for t in [
            Instant::ZERO,
            Instant::from_micros(u64::MAX),
            Instant::from_millis(u64::from(u32::MAX)),
            Instant::from_millis(u64::from(u32::MAX) + 1),
            Instant::from_secs(1),
        ] {
            let _ = g.reserve(t, DST, SRC, UDP, 1, &mut rng);
            let _ = g.reserve(
                t,
                Ipv4Addr::BROADCAST,
                Ipv4Addr::UNSPECIFIED,
                255,
                0,
                &mut rng,
            );
        }
        // Across the 32-bit jiffies wrap the jump stays below the real idle time.
        let before = Instant::from_millis(u64::from(u32::MAX) - 2);
        let after = Instant::from_millis(u64::from(u32::MAX) + 3);
        let a = g.reserve(before, DST, SRC, UDP, 1, &mut rng);
        let b = g.reserve(after, DST, SRC, UDP, 1, &mut rng);
        assert!((1..=5).contains(&b.wrapping_sub(a)));
    }
}
