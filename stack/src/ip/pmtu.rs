//! The path MTU cache (L2.1, L2.2): what ICMP "fragmentation needed" messages taught about each
//! destination, shared by all sockets, as Linux keeps it in next-hop exceptions (`fnhe`). The
//! same exceptions hold the gateways ICMP redirects name (L1.1, [`PmtuCache::redirect`]), and,
//! as in Linux, an exception has one expiry time for both: a redirect (which lasts
//! `route.gc_timeout`, 300 s) also shortens or lengthens the life of a learned PMTU, and a
//! learned PMTU (`mtu_expires`) that of a redirect.
//!
//! An update follows `__ip_rt_update_pmtu`:
//! * an entry that is locked ignores every report until it expires (`ip_mtu_locked`);
//! * a report larger than the MTU in force is ignored (`if (old_mtu < mtu) return;`);
//! * a report below `min_pmtu` sets the PMTU to `min(old, min_pmtu)` and locks the entry, so a
//!   forged tiny MTU cannot push the path below 552 bytes, and WANT sockets stop setting DF
//!   towards it (`ip_dont_fragment`);
//! * the entry expires `mtu_expires` (600 s) after it was last learned; a report of the same
//!   MTU refreshes it only once half of that has passed.
//!
//! The MTU in force towards a destination (`ipv4_mtu`) is an unexpired learned PMTU, else the
//! route's MTU (a `u16`, so never above 65535, `IP_MAX_MTU`). The cache holds at most `capacity` destinations; when full, the
//! least recently learned entry is evicted and counted (Linux bounds its exception hash chains
//! the same way, reclaiming the oldest, `fnhe_oldest`).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use crate::config::Sysctls;
use crate::rand::{HashKey, KeyedMap, KeyedState};
use crate::time::{Duration, Instant};

/// One next-hop exception: a learned path MTU, a redirect's gateway, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtuEntry {
    /// The learned MTU, if any (`fnhe_pmtu`; a redirect alone sets none).
    pub mtu: Option<u16>,
    /// Learned below `min_pmtu` and clamped: further reports are ignored until it expires.
    pub locked: bool,
    /// The gateway an ICMP redirect named (`fnhe_gw`), if any.
    pub gateway: Option<Ipv4Addr>,
    /// When it is forgotten.
    pub expires: Instant,
    /// When it was last learned (the eviction order).
    learned: Instant,
    seq: u64,
}

/// What an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmtuUpdate {
    /// The entry now holds this MTU.
    Learned {
        /// The MTU in force from now on.
        mtu: u16,
        /// Whether the entry is locked.
        locked: bool,
    },
    /// Ignored: the entry is locked.
    Locked,
    /// Ignored: the reported MTU is larger than the MTU in force.
    Larger,
}

/// The path MTU cache.
#[derive(Debug, Clone)]
pub struct PmtuCache {
    entries: KeyedMap<Ipv4Addr, PmtuEntry>,
    /// (learned, seq, destination): the eviction order.
    order: BTreeSet<(Instant, u64, Ipv4Addr)>,
    capacity: usize,
    seq: u64,
    evictions: u64,
}

impl PmtuCache {
    /// An empty cache holding at most `capacity` destinations (at least 1), its hash keyed by
    /// `key`.
    pub fn new(capacity: usize, key: HashKey) -> Self {
        PmtuCache {
            entries: HashMap::with_hasher(KeyedState::new(key)),
            order: BTreeSet::new(),
            capacity: capacity.max(1),
            seq: 0,
            evictions: 0,
        }
    }

    /// The unexpired entry for `dst`, if any.
    pub fn get(&self, now: Instant, dst: Ipv4Addr) -> Option<PmtuEntry> {
        self.entries.get(&dst).copied().filter(|e| now < e.expires)
    }

    /// The MTU in force towards `dst` over a route of MTU `route_mtu` (L2.2).
    pub fn mtu(&self, now: Instant, dst: Ipv4Addr, route_mtu: u16) -> u16 {
        self.get(now, dst)
            .and_then(|e| e.mtu)
            .map_or(route_mtu, |m| m.min(route_mtu))
    }

    /// Whether the entry for `dst` is locked (WANT sockets then stop setting DF, L2.1).
    pub fn locked(&self, now: Instant, dst: Ipv4Addr) -> bool {
        self.get(now, dst)
            .is_some_and(|e| e.locked && e.mtu.is_some())
    }

    /// The gateway a redirect set for `dst`, while its exception lasts.
    pub fn gateway(&self, now: Instant, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.get(now, dst).and_then(|e| e.gateway)
    }

    /// Records that packets to `dst` go through `gateway` until `now + lifetime`
    /// (`update_or_create_fnhe` from `__ip_do_redirect`): the learned MTU, if any, stays, but
    /// its expiry becomes the redirect's.
    pub fn redirect(&mut self, now: Instant, dst: Ipv4Addr, gateway: Ipv4Addr, lifetime: Duration) {
        let current = self.get(now, dst);
        self.insert(
            dst,
            PmtuEntry {
                mtu: current.and_then(|e| e.mtu),
                locked: current.is_some_and(|e| e.locked),
                gateway: Some(gateway),
                expires: now + lifetime,
                learned: now,
                seq: 0,
            },
        );
    }

    /// Learns that the path to `dst` carries `reported` bytes (L2.1), over a route of MTU
    /// `route_mtu`.
    pub fn update(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        reported: u16,
        route_mtu: u16,
        sysctls: &Sysctls,
    ) -> PmtuUpdate {
        let current = self.get(now, dst);
        if current.is_some_and(|e| e.locked) {
            return PmtuUpdate::Locked;
        }
        let old = self.mtu(now, dst, route_mtu);
        if old < reported {
            return PmtuUpdate::Larger;
        }
        let (mtu, locked) = if reported < sysctls.min_pmtu {
            (old.min(sysctls.min_pmtu), true)
        } else {
            (reported, false)
        };
        let expires = now + sysctls.mtu_expires;
        // An unchanged, recently learned value is left alone.
        if let Some(e) = current {
            let half = Duration::from_micros(sysctls.mtu_expires.total_micros() / 2);
            if e.mtu == Some(mtu) && !locked && now < e.expires - half {
                return PmtuUpdate::Learned { mtu, locked: false };
            }
        }
        self.insert(
            dst,
            PmtuEntry {
                mtu: Some(mtu),
                locked,
                gateway: current.and_then(|e| e.gateway),
                expires,
                learned: now,
                seq: 0,
            },
        );
        PmtuUpdate::Learned { mtu, locked }
    }

    fn insert(&mut self, dst: Ipv4Addr, mut entry: PmtuEntry) {
        if let Some(old) = self.entries.remove(&dst) {
            self.order.remove(&(old.learned, old.seq, dst));
        } else if self.entries.len() >= self.capacity {
            if let Some(&(learned, seq, victim)) = self.order.iter().next() {
                self.order.remove(&(learned, seq, victim));
                self.entries.remove(&victim);
                self.evictions += 1;
            }
        }
        self.seq += 1;
        entry.seq = self.seq;
        self.order.insert((entry.learned, entry.seq, dst));
        self.entries.insert(dst, entry);
    }

    /// Entries held (expired ones included until they are replaced or evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries evicted to make room.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The unexpired entries, for display (like `ip route show cache`).
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = (Ipv4Addr, PmtuEntry)> + '_ {
        self.entries
            .iter()
            .filter(move |(_, e)| now < e.expires)
            .map(|(&d, &e)| (d, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn s() -> Sysctls {
        Sysctls::default()
    }

    #[test]
    fn learns_lower_values_only() {
        // L2.1: larger reports are ignored; lower ones are learned.
        let mut c = PmtuCache::new(16, crate::rand::Rng::new(1).hash_key());
        let t = Instant::from_secs(1);
        assert_eq!(c.update(t, DST, 1600, 1500, &s()), PmtuUpdate::Larger);
        assert_eq!(
            c.update(t, DST, 1280, 1500, &s()),
            PmtuUpdate::Learned {
                mtu: 1280,
                locked: false
            }
        );
        assert_eq!(c.mtu(t, DST, 1500), 1280);
        assert_eq!(c.update(t, DST, 1400, 1500, &s()), PmtuUpdate::Larger);
        assert_eq!(
            c.update(t, DST, 1000, 1500, &s()),
            PmtuUpdate::Learned {
                mtu: 1000,
                locked: false
            }
        );
        assert_eq!(c.mtu(t, DST, 1500), 1000);
        // Other destinations keep the route MTU (L2.2).
        assert_eq!(c.mtu(t, Ipv4Addr::new(192, 0, 2, 2), 1500), 1500);
    }

    #[test]
    fn below_min_pmtu_clamps_and_locks() {
        // L2.1 (obs: 300 -> 552, locked).
        let mut c = PmtuCache::new(16, crate::rand::Rng::new(1).hash_key());
        let t = Instant::from_secs(1);
        assert_eq!(
            c.update(t, DST, 300, 1500, &s()),
            PmtuUpdate::Learned {
                mtu: 552,
                locked: true
            }
        );
        assert!(c.locked(t, DST));
        assert_eq!(c.update(t, DST, 1000, 1500, &s()), PmtuUpdate::Locked);
        assert_eq!(c.update(t, DST, 200, 1500, &s()), PmtuUpdate::Locked);
        assert_eq!(c.mtu(t, DST, 1500), 552);
        // A report of 0 (an old router) is below min_pmtu too.
        let other = Ipv4Addr::new(192, 0, 2, 9);
        assert_eq!(
            c.update(t, other, 0, 1500, &s()),
            PmtuUpdate::Learned {
                mtu: 552,
                locked: true
            }
        );
        // Below min_pmtu over a route whose MTU is already smaller keeps the smaller one.
        let third = Ipv4Addr::new(192, 0, 2, 10);
        assert_eq!(
            c.update(t, third, 100, 400, &s()),
            PmtuUpdate::Learned {
                mtu: 400,
                locked: true
            }
        );
    }

    #[test]
    fn entries_expire_after_mtu_expires() {
        // L2.1: 600 s; a locked entry unlocks when it expires.
        let mut c = PmtuCache::new(16, crate::rand::Rng::new(1).hash_key());
        let t = Instant::from_secs(10);
        c.update(t, DST, 300, 1500, &s());
        assert_eq!(c.mtu(t + Duration::from_secs(599), DST, 1500), 552);
        let later = t + Duration::from_secs(600);
        assert_eq!(c.mtu(later, DST, 1500), 1500);
        assert!(!c.locked(later, DST));
        assert_eq!(
            c.update(later, DST, 1400, 1500, &s()),
            PmtuUpdate::Learned {
                mtu: 1400,
                locked: false
            }
        );
    }

    #[test]
    fn same_value_refreshes_only_after_half_the_lifetime() {
        let mut c = PmtuCache::new(16, crate::rand::Rng::new(1).hash_key());
        let t = Instant::from_secs(1);
        c.update(t, DST, 1400, 1500, &s());
        let e1 = c.get(t, DST).unwrap().expires;
        c.update(t + Duration::from_secs(100), DST, 1400, 1500, &s());
        assert_eq!(
            c.get(t, DST).unwrap().expires,
            e1,
            "not refreshed before half"
        );
        c.update(t + Duration::from_secs(301), DST, 1400, 1500, &s());
        assert_eq!(c.get(t, DST).unwrap().expires, t + Duration::from_secs(901));
    }

    #[test]
    fn the_route_mtu_caps_and_the_table_is_bounded() {
        let mut c = PmtuCache::new(4, crate::rand::Rng::new(1).hash_key());
        let t = Instant::from_secs(1);
        for i in 0..10u8 {
            let d = Ipv4Addr::new(198, 51, 100, i);
            c.update(t + Duration::from_millis(u64::from(i)), d, 1300, 1500, &s());
        }
        assert_eq!(c.len(), 4);
        assert_eq!(c.evictions(), 6);
        // The oldest went first.
        assert!(c.get(t, Ipv4Addr::new(198, 51, 100, 0)).is_none());
        assert!(c
            .get(t + Duration::from_millis(9), Ipv4Addr::new(198, 51, 100, 9))
            .is_some());
        // A learned PMTU above a (now smaller) route MTU does not raise it.
        assert_eq!(
            c.mtu(
                t + Duration::from_millis(9),
                Ipv4Addr::new(198, 51, 100, 9),
                1000
            ),
            1000
        );
    }
}
