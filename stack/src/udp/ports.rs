//! Ephemeral port selection (L8.1), as `udp_lib_get_port` does it for port 0.
//!
//! Linux draws a random 32-bit `rand`, starts at `first = low + reciprocal_scale(rand, span)`,
//! and walks its hash table from the slot of `first` onwards. Within each slot it visits the
//! ports of that slot's residue class (modulo the table size) by steps of `rand | 1` times the
//! table size, an odd multiple, so every port of the class is visited once; the first port in
//! range that the conflict rules of L7.2 allow is taken. Walking all slots visits all 65 536 port
//! numbers, so a free port in range is always found if there is one.
//!
//! udpstack walks the same way with a virtual table of [`TABLE_SIZE`] slots (Linux sizes its
//! table from the machine's memory; 4096 is common). Exhaustion is `EAGAIN` for an implicit bind
//! (send, connect) and `EADDRINUSE` for `bind(port 0)` (L8.1); the caller decides which.

use crate::rand::{reciprocal_scale, Rng};

/// The number of slots of the virtual hash table (a power of two).
pub const TABLE_SIZE: u16 = 4096;

/// The first port in `range` for which `usable` holds, in Linux's visiting order, or `None` if
/// none is.
pub fn pick(range: (u16, u16), rng: &mut Rng, mut usable: impl FnMut(u16) -> bool) -> Option<u16> {
    let (low, high) = range;
    if low > high {
        return None;
    }
    let span = u32::from(high - low) + 1;
    let rand = rng.next_u32();
    let first = low.wrapping_add(reciprocal_scale(rand, span) as u16);
    // An odd multiple of the table size: stays in the residue class of `first`.
    let step = ((rand | 1) as u16).wrapping_mul(TABLE_SIZE);
    for slot in 0..TABLE_SIZE {
        let start = first.wrapping_add(slot);
        let mut port = start;
        loop {
            if (low..=high).contains(&port) && usable(port) {
                return Some(port);
            }
            port = port.wrapping_add(step);
            if port == start {
                break;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_port_of_the_range_is_reachable() {
        // L8.1: with all but one port taken, the walk still finds the free one.
        let mut rng = Rng::new(5);
        for free in [32768u16, 45000, 60999] {
            let got = pick((32768, 60999), &mut rng, |p| p == free);
            assert_eq!(got, Some(free));
        }
        assert_eq!(pick((1000, 1000), &mut rng, |p| p == 1000), Some(1000));
    }

    #[test]
    fn the_walk_visits_each_port_once() {
        let mut rng = Rng::new(9);
        let mut seen = HashSet::new();
        let got = pick((1, 65535), &mut rng, |p| {
            assert!(seen.insert(p), "port {p} visited twice");
            false
        });
        assert_eq!(got, None);
        assert_eq!(seen.len(), 65535);
    }

    #[test]
    fn starts_are_spread_over_the_range() {
        // L8.1: the start is random; different draws start in different places.
        let mut rng = Rng::new(11);
        let starts: HashSet<u16> = (0..64)
            .filter_map(|_| pick((32768, 60999), &mut rng, |_| true))
            .collect();
        assert!(starts.len() > 60, "{}", starts.len());
        assert!(starts.iter().all(|p| (32768..=60999).contains(p)));
    }

    #[test]
    fn an_empty_or_inverted_range_yields_nothing() {
        let mut rng = Rng::new(1);
        assert_eq!(pick((2, 1), &mut rng, |_| true), None);
    }
}
