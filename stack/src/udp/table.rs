//! The socket table: a slab of sockets, and the hash maps that find a datagram's socket in O(1)
//! average time however many sockets are bound (L5.3).
//!
//! Linux keeps UDP sockets in a table hashed by port, a second hashed by (address, port) and,
//! since 6.13, a third hashed by the full 4-tuple for connected sockets. The lookup here follows
//! the same plan with three maps:
//!
//! * `connected`: (local address, local port, peer address, peer port) → connected sockets;
//! * `unconnected`: (local address, local port) → bound sockets without a peer;
//! * `by_port`: port → every bound socket, for bind conflicts and broadcast delivery, which have
//!   to look at all sockets of a port anyway.
//!
//! A unicast datagram to `dst:dport` from `src:sport` is matched in two passes, as
//! `__udp4_lib_lookup` does: first sockets bound to `dst`, then sockets bound to 0.0.0.0. In each
//! pass a connected socket whose peer is exactly `src:sport` beats an unconnected one (Linux
//! finds it first in its 4-tuple table); among equals the most recently bound wins (the kernel
//! adds to the head of its chains at bind, and moves a socket to the head only when connect or
//! disconnect changes its local address); an SO_REUSEPORT group picks its member by a keyed
//! hash of the 4-tuple, skipping connected members (L7.3). Since Linux 6.13 a socket leaves its
//! group when it connects (`udp_lib_hash4` → `reuseport_detach_sock`) and never rejoins it. No
//! step scans the sockets of other ports or flows.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::socket::{SocketHandle, UdpSocket};
use crate::rand::{reciprocal_scale, FastKeyedState, HashKey};

/// A map of the table, hashed by a [`FastKeyedState`].
type FastMap<K, V> = HashMap<K, V, FastKeyedState>;

/// An address and port, packed: the key of the (address, port) maps.
type AddrPort = u64;
/// Local address and port, peer address and port, packed: the key of the connected map.
type FourTuple = u128;

/// Packs an address and a port.
#[inline]
fn ap(ip: Ipv4Addr, port: u16) -> AddrPort {
    (u64::from(u32::from(ip)) << 16) | u64::from(port)
}

/// Packs a 4-tuple.
#[inline]
fn four(local: Ipv4Addr, lport: u16, peer: Ipv4Addr, pport: u16) -> FourTuple {
    (u128::from(ap(local, lport)) << 64) | u128::from(ap(peer, pport))
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    socket: Option<UdpSocket>,
    /// The (address, port) of the SO_REUSEPORT group this socket joined at bind, if any.
    group: Option<AddrPort>,
}

/// All UDP sockets of a stack.
#[derive(Debug)]
pub(crate) struct SocketTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_port: FastMap<u16, Vec<u32>>,
    unconnected: FastMap<AddrPort, Vec<u32>>,
    connected: FastMap<FourTuple, Vec<u32>>,
    groups: FastMap<AddrPort, Vec<u32>>,
    seq: u64,
    open: usize,
}

/// Whether two bound addresses overlap for bind conflicts: equal, or either is the wildcard.
fn addrs_overlap(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

/// Removes one occurrence of `index` from the vector stored at `key`, dropping empty vectors.
fn remove_from<K: std::hash::Hash + Eq>(map: &mut FastMap<K, Vec<u32>>, key: K, index: u32) {
    if let Some(v) = map.get_mut(&key) {
        if let Some(pos) = v.iter().position(|&i| i == index) {
            v.remove(pos);
        }
        if v.is_empty() {
            map.remove(&key);
        }
    }
}

impl SocketTable {
    /// An empty table whose hash maps are keyed by `key` (drawn from the stack's seed).
    pub fn new(key: HashKey) -> Self {
        let state = FastKeyedState::new(key);
        SocketTable {
            slots: Vec::new(),
            free: Vec::new(),
            by_port: HashMap::with_hasher(state),
            unconnected: HashMap::with_hasher(state),
            connected: HashMap::with_hasher(state),
            groups: HashMap::with_hasher(state),
            seq: 0,
            open: 0,
        }
    }

    /// Adds a new, unbound socket.
    pub fn insert(&mut self, socket: UdpSocket) -> SocketHandle {
        self.open += 1;
        if let Some(index) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.socket = Some(socket);
                slot.group = None;
                return SocketHandle {
                    index,
                    generation: slot.generation,
                };
            }
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            socket: Some(socket),
            group: None,
        });
        SocketHandle {
            index,
            generation: 0,
        }
    }

    /// Removes a socket, unhashing it first. Returns it, or `None` for a stale handle.
    pub fn remove(&mut self, h: SocketHandle) -> Option<UdpSocket> {
        self.get(h)?;
        self.unhash(h);
        let slot = self.slots.get_mut(h.index as usize)?;
        let socket = slot.socket.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        self.open -= 1;
        socket
    }

    /// The number of open sockets.
    pub fn len(&self) -> usize {
        self.open
    }

    pub fn get(&self, h: SocketHandle) -> Option<&UdpSocket> {
        let slot = self.slots.get(h.index as usize)?;
        (slot.generation == h.generation).then_some(slot.socket.as_ref()?)
    }

    pub fn get_mut(&mut self, h: SocketHandle) -> Option<&mut UdpSocket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_mut()
    }

    fn handle(&self, index: u32) -> Option<SocketHandle> {
        let slot = self.slots.get(index as usize)?;
        slot.socket.as_ref()?;
        Some(SocketHandle {
            index,
            generation: slot.generation,
        })
    }

    fn by_index(&self, index: u32) -> Option<&UdpSocket> {
        self.slots.get(index as usize)?.socket.as_ref()
    }

    /// Every open socket with its handle, in slot order (for /proc/net/udp-style listings).
    pub fn iter(&self) -> impl Iterator<Item = (SocketHandle, &UdpSocket)> {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let socket = slot.socket.as_ref()?;
            Some((
                SocketHandle {
                    index: i as u32,
                    generation: slot.generation,
                },
                socket,
            ))
        })
    }

    /// Puts a socket that has just been bound (by bind or automatically) into the lookup maps,
    /// as the most recently hashed. `join_group` joins (or creates) the SO_REUSEPORT group of
    /// its (address, port), as Linux does when a socket is first bound (`udp_lib_get_port` →
    /// `udp_reuseport_add_sock`).
    pub fn hash(&mut self, h: SocketHandle, join_group: bool) {
        self.put_in_maps(h, true);
        let Some(s) = self.get(h) else { return };
        if !(join_group && s.is_bound() && s.reuse_port) {
            return;
        }
        let key = ap(*s.local.ip(), s.local.port());
        self.groups.entry(key).or_default().push(h.index);
        if let Some(slot) = self.slots.get_mut(h.index as usize) {
            slot.group = Some(key);
        }
    }

    /// Puts a socket back into the lookup maps after connect or disconnect changed its peer or
    /// addresses. `moved`: its local address changed, which Linux handles with
    /// `udp_lib_rehash`, putting the socket at the head of its new (address, port) chain, so
    /// it becomes the most recently hashed. Otherwise it keeps its place among the sockets of
    /// its (address, port): connect and disconnect do not touch the chain order (L5.3).
    pub fn rehash(&mut self, h: SocketHandle, moved: bool) {
        self.put_in_maps(h, moved);
    }

    /// Inserts a bound socket into the lookup maps; `to_front` makes it the most recently
    /// hashed, else it keeps its `hash_seq` and so its place among the unconnected sockets of
    /// its (address, port).
    fn put_in_maps(&mut self, h: SocketHandle, to_front: bool) {
        if to_front {
            self.seq += 1;
            let seq = self.seq;
            if let Some(s) = self.get_mut(h) {
                s.hash_seq = seq;
            }
        }
        let Some(s) = self.get(h) else { return };
        if !s.is_bound() {
            return;
        }
        let (local, peer, seq) = (s.local, s.peer, s.hash_seq);
        let i = h.index;
        self.by_port.entry(local.port()).or_default().push(i);
        match peer {
            Some(p) => {
                let key = four(*local.ip(), local.port(), *p.ip(), p.port());
                self.connected.entry(key).or_default().push(i);
            }
            None => {
                // Kept in hash order, oldest first, so that the last is the most recent.
                let slots = &self.slots;
                let order = |j: u32| {
                    slots
                        .get(j as usize)
                        .and_then(|slot| slot.socket.as_ref())
                        .map_or(0, |s| s.hash_seq)
                };
                let v = self
                    .unconnected
                    .entry(ap(*local.ip(), local.port()))
                    .or_default();
                let pos = v.partition_point(|&j| order(j) < seq);
                v.insert(pos, i);
            }
        }
    }

    /// Takes a socket out of the lookup maps (before its addresses change, or at close). Its
    /// SO_REUSEPORT group membership is left alone unless `leave_group`.
    pub fn unhash_keep_group(&mut self, h: SocketHandle, leave_group: bool) {
        let Some(s) = self.get(h) else { return };
        if !s.is_bound() {
            return;
        }
        let (local, peer, i) = (s.local, s.peer, h.index);
        remove_from(&mut self.by_port, local.port(), i);
        match peer {
            Some(p) => remove_from(
                &mut self.connected,
                four(*local.ip(), local.port(), *p.ip(), p.port()),
                i,
            ),
            None => remove_from(&mut self.unconnected, ap(*local.ip(), local.port()), i),
        }
        if leave_group {
            self.leave_group(h);
        }
    }

    /// Takes a socket out of every map, group included.
    pub fn unhash(&mut self, h: SocketHandle) {
        self.unhash_keep_group(h, true);
    }

    /// Leaves the SO_REUSEPORT group. Like `reuseport_detach_sock`, the last member moves into
    /// the leaver's place.
    pub fn leave_group(&mut self, h: SocketHandle) {
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        let Some(key) = slot.group.take() else { return };
        if let Some(members) = self.groups.get_mut(&key) {
            if let Some(pos) = members.iter().position(|&m| m == h.index) {
                members.swap_remove(pos);
            }
            if members.is_empty() {
                self.groups.remove(&key);
            }
        }
    }

    /// Whether binding `s` (its address and reuse options) to `port` conflicts with another
    /// socket (L7.2, Linux's `udp_lib_lport_inuse`): same port, overlapping addresses, and not
    /// (both SO_REUSEADDR) and not (both SO_REUSEPORT).
    pub fn conflicts(
        &self,
        h: Option<SocketHandle>,
        addr: Ipv4Addr,
        port: u16,
        reuse_addr: bool,
        reuse_port: bool,
    ) -> bool {
        let Some(indices) = self.by_port.get(&port) else {
            return false;
        };
        indices.iter().any(|&i| {
            if h.is_some_and(|h| h.index == i) {
                return false;
            }
            let Some(other) = self.by_index(i) else {
                return false;
            };
            addrs_overlap(addr, *other.local.ip())
                && !(reuse_addr && other.reuse_addr)
                && !(reuse_port && other.reuse_port)
        })
    }

    /// The socket for a unicast datagram from `src` to `dst` (L5.3).
    pub fn lookup(
        &self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        reuseport_key: &HashKey,
    ) -> Option<SocketHandle> {
        for local in [*dst.ip(), Ipv4Addr::UNSPECIFIED] {
            if let Some(found) = self.lookup_pass(src, local, dst, reuseport_key) {
                return Some(found);
            }
        }
        None
    }

    fn lookup_pass(
        &self,
        src: SocketAddrV4,
        local: Ipv4Addr,
        dst: SocketAddrV4,
        key: &HashKey,
    ) -> Option<SocketHandle> {
        // No connected socket anywhere (the common case for servers): skip that probe.
        if !self.connected.is_empty() {
            let four = four(local, dst.port(), *src.ip(), src.port());
            if let Some(&i) = self.connected.get(&four).and_then(|v| v.last()) {
                return self.handle(i);
            }
        }
        let &candidate = self.unconnected.get(&ap(local, dst.port()))?.last()?;
        let group = self.slots.get(candidate as usize)?.group;
        if let Some(members) = group.and_then(|g| self.groups.get(&g)) {
            let hash = key.hash_u32s(&[
                u32::from(*src.ip()),
                u32::from(src.port()),
                u32::from(*dst.ip()),
                u32::from(dst.port()),
            ]);
            if let Some(i) = self.select_member(members, hash) {
                return self.handle(i);
            }
        }
        self.handle(candidate)
    }

    /// `reuseport_select_sock_by_hash`: member `hash × n >> 32`, or the next one that is not
    /// connected.
    fn select_member(&self, members: &[u32], hash: u32) -> Option<u32> {
        let n = members.len();
        let start = reciprocal_scale(hash, n as u32) as usize;
        (0..n)
            .map(|k| (start + k) % n)
            .filter_map(|j| members.get(j).copied())
            .find(|&i| self.by_index(i).is_some_and(|s| s.peer.is_none()))
    }

    /// Every socket that receives a copy of a broadcast datagram from `src` to `dst` (L5.3):
    /// bound to port `dst.port()` and to `dst`'s address or the wildcard, and, if connected,
    /// connected to `src`.
    pub fn broadcast_receivers(&self, src: SocketAddrV4, dst: SocketAddrV4) -> Vec<SocketHandle> {
        let Some(indices) = self.by_port.get(&dst.port()) else {
            return Vec::new();
        };
        let mut out: Vec<(u64, SocketHandle)> = indices
            .iter()
            .filter_map(|&i| {
                let s = self.by_index(i)?;
                let addr_ok = s.local.ip().is_unspecified() || s.local.ip() == dst.ip();
                let peer_ok = s.peer.is_none_or(|p| p == src);
                (addr_ok && peer_ok).then(|| Some((s.hash_seq, self.handle(i)?)))?
            })
            .collect();
        // Most recently hashed first, like the kernel's chain order.
        out.sort_by_key(|&(seq, _)| std::cmp::Reverse(seq));
        out.into_iter().map(|(_, h)| h).collect()
    }
}
