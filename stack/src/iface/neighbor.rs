//! The ARP neighbour cache: Linux's `net/core/neighbour.c` state machine for the ARP table
//! (`arp_tbl` in `net/ipv4/arp.c`), as a pure, sans-IO value.
//!
//! The cache builds no packets and reads no clock. The engine tells it what happened —
//! a frame wants to go to a next hop ([`NeighborCache::resolve`]), an ARP packet arrived
//! ([`NeighborCache::on_arp`]), time passed ([`NeighborCache::poll`]) — and gets back what to do:
//! frames to send with the MAC to put in them, ARP requests to emit
//! ([`NeighborAction::SendRequest`]), resolutions that failed with the frames that waited for
//! them ([`NeighborAction::Failed`], for which Linux's `arp_error_report` raises an ICMP host
//! unreachable). Every tunable is read from [`Sysctls`] at each call, as Linux reads
//! `NEIGH_VAR(parms, …)` each time, so a `sysctl -w` takes effect at once.
//!
//! # States (`NUD_*`)
//!
//! ```text
//!            resolve (first use)           ARP reply to us
//!   (none) ───────────────────▶ INCOMPLETE ──────────────────▶ REACHABLE ◀─────────┐
//!            + broadcast request   │ every retrans_time: broadcast     │ reachable_time  │
//!                                  │ after mcast_solicit: FAILED       ▼ expires, unused │
//!   ARP request for us ─────────────────────────────────────────▶ STALE                │
//!   (neigh_event_ns)                                                 │ resolve (used)  │ reply
//!                                                                    ▼                 │
//!                                   delay_first_probe_time ◀───── DELAY ── confirmed ──┤
//!                                                │                                     │
//!                                                ▼ ucast_solicit unicast probes        │
//!                                              PROBE ──────────────────────────────────┘
//!                                                │ no answer
//!                                                ▼
//!                                              FAILED ── resolve ──▶ INCOMPLETE again
//! ```
//!
//! * **Resolution** (`__neigh_event_send`): a frame for an unknown (or FAILED) next hop creates
//!   an INCOMPLETE entry with `probes = ucast_solicit`, queues the frame, sends the first
//!   broadcast request *at once* (`immediate_probe`) and arms the timer at
//!   `now + max(retrans_time, 10 ms)`. The timer (`neigh_timer_handler`) sends a request each
//!   time until `probes >= neigh_max_probes()` (= `ucast_solicit + app_solicit + mcast_solicit`),
//!   so exactly `mcast_solicit` broadcasts go out, at 0, 1, 2 s by default, and the entry fails
//!   at 3 s (`neigh_invalidate`: `res_failed`, queued frames handed back for
//!   `arp_error_report`). With `mcast_solicit = 0` the entry fails at once and the frame is
//!   freed ([`Resolve::Dropped`]).
//! * **The queue** (`__neigh_event_send`): frames wait in the INCOMPLETE entry, bounded by
//!   `unres_qlen_bytes` in [`QueuedFrame::truesize`]. A frame that does not fit pushes out the
//!   *oldest* ones (`__skb_dequeue`, `unres_discards`), then is queued even if it alone is
//!   larger than the bound (Linux's loop stops at an empty queue and queues the skb anyway).
//! * **Confirmation** (`arp_process` → `neigh_update`): an ARP reply received in a frame sent
//!   to our MAC makes the entry REACHABLE, for `reachable_time` drawn by
//!   `neigh_rand_reach_time` uniformly in `[base/2, 3·base/2)`; the queued frames are sent, in
//!   order. A request for one of our addresses creates the sender's entry STALE
//!   (`neigh_event_ns`), usable at once. Anything else (replies in broadcast frames, requests
//!   for other hosts, gratuitous ARP) only updates an entry we already have, to STALE: Linux
//!   creates no entry from unsolicited ARP while `arp_accept = 0` (its default).
//! * **Ageing** (`neigh_timer_handler`): a REACHABLE entry whose `confirmed + reachable_time`
//!   passes becomes STALE (or DELAY if it was used through the slow path in the last
//!   `delay_first_probe_time`). A STALE entry that is used goes to DELAY; after
//!   `delay_first_probe_time` without confirmation, to PROBE, which sends `ucast_solicit`
//!   unicast requests to the known MAC, `retrans_time` apart, then FAILED.
//! * **Garbage collection** (`neigh_periodic_work`, every `base_reachable_time/2`): when the
//!   table holds at least `gc_thresh1` entries, STALE and FAILED entries unused for
//!   `gc_stale_time` (and every FAILED one) are removed. Below `gc_thresh1` nothing is
//!   collected, as in Linux.
//! * **The bound** (`neigh_alloc`, `neigh_forced_gc`): the table never holds more than
//!   `gc_thresh3` entries. A new entry at `gc_thresh3` (or at `gc_thresh2` if the last forced
//!   GC was over 5 s ago) first runs the forced GC, which walks the entries **in creation
//!   order** and evicts those that are FAILED or were last updated more than 5 s ago, until the
//!   table is back to `gc_thresh2`. Entries with a timer running (INCOMPLETE, REACHABLE, DELAY,
//!   PROBE) hold a reference in Linux and are never evicted. If nothing could be evicted at
//!   `gc_thresh3`, the new entry is refused (`table_fulls`): the frame is dropped with ENOBUFS
//!   ([`Resolve::TableFull`]), an ARP request for us is not learned, and not answered either.
//!
//! # What the engine does around it
//!
//! [`NeighborCache::on_arp`] is the table-update part of `arp_process`. The checks before it
//! are the caller's, in this order: drop packets whose hardware type is neither 1 (Ethernet)
//! nor 6 (IEEE 802), whose protocol is not 0x0800, whose lengths are not 6/4, whose operation
//! is neither request nor reply, that arrived in a frame for another host
//! (`PACKET_OTHERHOST`), or whose target IP is multicast or loopback; answer a duplicate-address
//! probe (sender 0.0.0.0) for our address without learning anything. Then:
//!
//! * a request whose target is our address → [`ArpInput::RequestForUs`]; reply only if the
//!   sender now has an entry (`neigh_event_ns` returned it), which [`NeighborCache::contains`]
//!   tells;
//! * a reply in a frame whose Ethernet destination is our MAC → [`ArpInput::ReplyToUs`];
//! * anything else → [`ArpInput::Other`].
//!
//! `gratuitous` is `arp_is_garp`: sender IP = target IP, the sender IP a unicast address (not
//! ours, not broadcast or multicast), and for a reply also target MAC = sender MAC.
//!
//! Requests ([`NeighborAction::SendRequest`]) carry the target IP and the Ethernet destination:
//! broadcast, or the known MAC for a unicast probe. As in `arp_solicit`/`arp_create`, the
//! target MAC field inside the request is all zeros in both cases.
//!
//! # Where this differs from Linux, and why
//!
//! * The per-table `reachable_time` is redrawn lazily, at the first call after
//!   `last_rand + 300 s`, rather than by the periodic work (which only runs here while GC can
//!   act); the value and its distribution are Linux's. As in `neigh_table_init`, the first
//!   redraw is due `20 × reachable_time` after the first use.
//! * The periodic work is scheduled only while the table holds at least `gc_thresh1` entries,
//!   so an idle stack has no timer; below that threshold Linux's run does nothing but the
//!   redraw above.
//! * The forced GC's one-millisecond budget becomes a budget of
//!   [`FORCED_GC_SCAN_LIMIT`] entries examined.
//! * `gc_thresh1` and `gc_thresh2` are not in [`Sysctls`]; they default to Linux's 128 and 512
//!   and are set with [`NeighborCache::set_gc_thresholds`]. `app_solicit` and
//!   `mcast_resolicit` are 0 and `locktime` is 1 s, Linux's defaults.
//! * The first request of a resolution is not returned by `resolve` but by the next
//!   [`NeighborCache::poll`], which [`NeighborCache::poll_at`] says is due at once; the engine
//!   polls right after a [`Resolve::Queued`] so the request leaves without waiting, as in Linux.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use crate::config::Sysctls;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;

/// `NEIGH_VAR_LOCKTIME` of `arp_tbl`: after an update, other ARP replies proposing a different
/// MAC are ignored for this long ("use the FIRST one", `arp_process`).
pub const LOCKTIME: Duration = Duration::from_secs(1);

/// `arp_tbl.gc_thresh1`: below this many entries the periodic GC removes nothing.
pub const DEFAULT_GC_THRESH1: u32 = 128;

/// `arp_tbl.gc_thresh2`: the size the forced GC shrinks the table towards.
pub const DEFAULT_GC_THRESH2: u32 = 512;

/// How many candidates one forced GC examines at most: the stand-in for `neigh_forced_gc`'s
/// one-millisecond time budget (`tmax = ktime_get_ns() + NSEC_PER_MSEC`).
pub const FORCED_GC_SCAN_LIMIT: usize = 1024;

/// `HZ/100`: the shortest timer `neigh_timer_handler` arms, and the floor of `retrans_time`.
const MIN_TIMER: Duration = Duration::from_millis(10);
/// `tref = jiffies - 5 * HZ` in `neigh_forced_gc`, and the `last_flush + 5 * HZ` of `neigh_alloc`.
const FORCED_GC_AGE: Duration = Duration::from_secs(5);
/// `neigh_periodic_work` redraws `reachable_time` when `jiffies` passes `last_rand + 300 * HZ`.
const REACHABLE_REDRAW: Duration = Duration::from_secs(300);

/// A frame that can wait in a neighbour's queue: its size as the queue bound counts it.
pub trait QueuedFrame {
    /// The bytes this frame is charged for (`skb->truesize`): buffer plus overhead.
    fn truesize(&self) -> usize;
}

/// A neighbour entry's state, Linux's `NUD_*` (as `ip neigh` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighborState {
    /// `NUD_INCOMPLETE`: requests sent, no answer yet; frames queue.
    Incomplete,
    /// `NUD_REACHABLE`: confirmed within `reachable_time`.
    Reachable,
    /// `NUD_STALE`: a MAC known but not recently confirmed; usable, verified on use.
    Stale,
    /// `NUD_DELAY`: used while stale; waiting `delay_first_probe_time` for a confirmation.
    Delay,
    /// `NUD_PROBE`: unicast requests to the known MAC.
    Probe,
    /// `NUD_FAILED`: resolution failed; the next use starts over.
    Failed,
}

impl NeighborState {
    /// `NUD_VALID`: a MAC is known and frames may be sent with it.
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            NeighborState::Reachable
                | NeighborState::Stale
                | NeighborState::Delay
                | NeighborState::Probe
        )
    }

    /// `NUD_CONNECTED`: confirmed reachable.
    pub fn is_connected(self) -> bool {
        self == NeighborState::Reachable
    }

    /// `NUD_IN_TIMER`: the state has a timer running.
    fn in_timer(self) -> bool {
        matches!(
            self,
            NeighborState::Incomplete
                | NeighborState::Reachable
                | NeighborState::Delay
                | NeighborState::Probe
        )
    }

    /// The name `ip neigh` prints.
    pub fn name(self) -> &'static str {
        match self {
            NeighborState::Incomplete => "INCOMPLETE",
            NeighborState::Reachable => "REACHABLE",
            NeighborState::Stale => "STALE",
            NeighborState::Delay => "DELAY",
            NeighborState::Probe => "PROBE",
            NeighborState::Failed => "FAILED",
        }
    }
}

impl fmt::Display for NeighborState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of ARP packet [`NeighborCache::on_arp`] is told about; the caller classifies it
/// (see the module documentation for the checks `arp_process` makes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpInput {
    /// A request whose target IP is one of our addresses: the sender's entry is created if
    /// needed and set STALE with its MAC, overriding any other (`neigh_event_ns`).
    RequestForUs,
    /// A reply in a frame whose Ethernet destination is our MAC (`PACKET_HOST`): confirms an
    /// existing entry, REACHABLE. Creates none (`arp_accept = 0`).
    ReplyToUs {
        /// `arp_is_garp`: overrides a different MAC even within [`LOCKTIME`].
        gratuitous: bool,
    },
    /// Any other ARP packet (a request for another address, a reply in a broadcast frame):
    /// updates an existing entry to STALE if the MAC changed. Creates none.
    Other {
        /// `arp_is_garp`: overrides a different MAC even within [`LOCKTIME`].
        gratuitous: bool,
    },
}

/// What became of a frame handed to [`NeighborCache::resolve`].
#[derive(Debug)]
#[must_use]
pub enum Resolve<F> {
    /// Send it now with this destination MAC.
    Ready(MacAddr, F),
    /// It waits for the next hop to answer. The first request is due at once: the engine
    /// calls [`NeighborCache::poll`] next to send it.
    Queued {
        /// Older frames pushed out of the queue to make room (`unres_discards`), oldest first.
        dropped: Vec<F>,
    },
    /// `mcast_solicit` is 0: the entry failed at once and the frame is freed without an error
    /// (`__neigh_event_send`, `SKB_DROP_REASON_NEIGH_FAILED`).
    Dropped(F),
    /// The table is full and nothing could be evicted (`neigh_alloc`, "neighbor table
    /// overflow!", `table_fulls`): the frame is dropped and the send fails with ENOBUFS
    /// (`ip_finish_output2`, `SKB_DROP_REASON_NEIGH_CREATEFAIL`).
    TableFull(F),
}

/// Something the engine must do, from [`NeighborCache::poll`].
#[derive(Debug)]
pub enum NeighborAction<F> {
    /// Send an ARP request for `target` (`arp_solicit`).
    SendRequest {
        /// The IP address asked about.
        target: Ipv4Addr,
        /// The Ethernet destination: [`MacAddr::BROADCAST`], or the known MAC for a unicast
        /// probe of a STALE/PROBE neighbour.
        dst: MacAddr,
    },
    /// Resolution of `ip` failed (`neigh_invalidate`). Each frame is dropped with an ICMP
    /// host unreachable to its sender (`arp_error_report` → `dst_link_failure`). `frames` is
    /// empty when a PROBE fails (frames are sent, not queued, in PROBE).
    Failed {
        /// The neighbour that did not answer.
        ip: Ipv4Addr,
        /// The frames that were waiting for it, oldest first.
        frames: Vec<F>,
    },
}

/// Counters, named after the columns of `/proc/net/stat/arp_cache` where Linux has one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighborStats {
    /// Entries created.
    pub allocs: u64,
    /// Entries removed (by either GC or [`NeighborCache::flush`]).
    pub destroys: u64,
    /// Resolutions that failed (`neigh_invalidate`).
    pub res_failed: u64,
    /// Queued frames pushed out by newer ones.
    pub unres_discards: u64,
    /// Runs of the periodic GC.
    pub periodic_gc_runs: u64,
    /// Runs of the forced GC.
    pub forced_gc_runs: u64,
    /// New entries refused because the table was full.
    pub table_fulls: u64,
    /// Entries removed by the periodic GC (not a Linux column).
    pub periodic_gc_removals: u64,
    /// Entries evicted by the forced GC (not a Linux column).
    pub forced_gc_evictions: u64,
    /// Broadcast ARP requests emitted (not a Linux column).
    pub broadcast_requests: u64,
    /// Unicast ARP probes emitted (not a Linux column).
    pub unicast_probes: u64,
}

/// One entry as `ip -s neigh` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborEntry {
    /// The neighbour's IP address.
    pub ip: Ipv4Addr,
    /// Its MAC, when the state is valid (`ip neigh` prints `lladdr` only then).
    pub mac: Option<MacAddr>,
    /// The state.
    pub state: NeighborState,
    /// Requests sent in the current INCOMPLETE or PROBE phase (INCOMPLETE starts at
    /// `ucast_solicit`, as Linux's counter does).
    pub probes: u32,
    /// Frames waiting for resolution.
    pub queued_frames: usize,
    /// Their total truesize.
    pub queued_bytes: u64,
    /// Last use through the slow path.
    pub used: Instant,
    /// Last change of state or MAC.
    pub updated: Instant,
    /// Last confirmation; `None` if never confirmed (before the epoch, for Linux).
    pub confirmed: Option<Instant>,
}

impl fmt::Display for NeighborEntry {
    /// `10.0.0.1 lladdr 02:00:00:00:00:01 REACHABLE`, as `ip neigh` without the device.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mac {
            Some(mac) => write!(f, "{} lladdr {} {}", self.ip, mac, self.state),
            None => write!(f, "{} {}", self.ip, self.state),
        }
    }
}

/// A time in signed microseconds: `confirmed` is set to `now - 2·base_reachable_time`, which
/// may lie before the caller's epoch, and comparisons must not saturate.
type Stamp = i128;

fn stamp(t: Instant) -> Stamp {
    Stamp::from(t.total_micros())
}

fn span(d: Duration) -> Stamp {
    Stamp::from(d.total_micros())
}

fn instant_at(s: Stamp) -> Instant {
    Instant::from_micros(u64::try_from(s.max(0)).unwrap_or(u64::MAX))
}

/// `struct neighbour`, as much of it as ARP uses.
#[derive(Debug, Clone)]
struct Entry<F> {
    state: NeighborState,
    /// `ha`: meaningful while the state is valid.
    mac: MacAddr,
    /// `hh.hh_len != 0`: the header cache is built, so REACHABLE sends take `neigh_output`'s
    /// fast path (`neigh_hh_output`), which does not touch `used`.
    hh: bool,
    probes: u32,
    used: Instant,
    updated: Instant,
    confirmed: Stamp,
    /// The timer's expiry (`NUD_IN_TIMER` states only).
    timer: Option<Instant>,
    /// The expiry recorded in the cache's timer index.
    indexed_timer: Option<Instant>,
    /// Whether the entry is in the cache's GC index.
    indexed_gc: bool,
    /// Creation order: position on Linux's `gc_list`.
    seq: u64,
    queue: VecDeque<F>,
    queue_bytes: u64,
}

/// `neigh_parms.reachable_time` and `neigh_table.last_rand`.
#[derive(Debug, Clone, Copy)]
struct ReachableTime {
    value: Duration,
    base: Duration,
    last_rand: Instant,
}

/// `neigh_rand_reach_time`: `base ? get_random_u32_below(base) + (base >> 1) : 0`, in jiffies
/// (milliseconds).
fn rand_reach_time(base: Duration, rng: &mut Rng) -> Duration {
    let base_ms = base.total_millis();
    if base_ms == 0 {
        return Duration::ZERO;
    }
    let below = u64::from(rng.below(u32::try_from(base_ms).unwrap_or(u32::MAX)));
    Duration::from_millis(below + base_ms / 2)
}

/// What `__neigh_event_send` did with a frame.
enum EventSend<F> {
    Send(F),
    Queued(Vec<F>),
    Dropped(F),
}

/// The ARP table.
#[derive(Debug, Clone)]
pub struct NeighborCache<F> {
    entries: BTreeMap<Ipv4Addr, Entry<F>>,
    /// Running timers, by expiry.
    timers: BTreeSet<(Instant, Ipv4Addr)>,
    /// Entries without a timer (STALE, FAILED) in creation order: the only ones either GC can
    /// remove (the others hold a timer reference in Linux).
    gc_list: BTreeSet<(u64, Ipv4Addr)>,
    /// First requests of new resolutions, due at the instant given.
    outbox: VecDeque<(Instant, Ipv4Addr, MacAddr)>,
    next_seq: u64,
    reachable: Option<ReachableTime>,
    last_flush: Option<Instant>,
    periodic_at: Option<Instant>,
    gc_thresh1: u32,
    gc_thresh2: u32,
    stats: NeighborStats,
}

impl<F> Default for NeighborCache<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> NeighborCache<F> {
    /// An empty table with Linux's GC thresholds.
    pub fn new() -> Self {
        NeighborCache {
            entries: BTreeMap::new(),
            timers: BTreeSet::new(),
            gc_list: BTreeSet::new(),
            outbox: VecDeque::new(),
            next_seq: 0,
            reachable: None,
            last_flush: None,
            periodic_at: None,
            gc_thresh1: DEFAULT_GC_THRESH1,
            gc_thresh2: DEFAULT_GC_THRESH2,
            stats: NeighborStats::default(),
        }
    }

    /// Sets `gc_thresh1` (periodic GC acts from this many entries) and `gc_thresh2` (forced GC
    /// target), which [`Sysctls`] does not carry. `gc_thresh3` comes from the sysctls.
    pub fn set_gc_thresholds(&mut self, gc_thresh1: u32, gc_thresh2: u32) {
        self.gc_thresh1 = gc_thresh1;
        self.gc_thresh2 = gc_thresh2;
    }

    /// The entry for `ip`, if any.
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<NeighborEntry> {
        self.entries.get(&ip).map(|e| view(ip, e))
    }

    /// Whether `ip` has an entry. After [`ArpInput::RequestForUs`], Linux answers the request
    /// only if it does (`neigh_event_ns` returned an entry; it does not on a full table).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.entries.contains_key(&ip)
    }

    /// Every entry, by IP address, for display (`ip neigh`).
    pub fn iter(&self) -> impl Iterator<Item = NeighborEntry> + '_ {
        self.entries.iter().map(|(ip, e)| view(*ip, e))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> &NeighborStats {
        &self.stats
    }

    /// The table's current `reachable_time` (drawn at first use), as `ip ntable` shows it.
    pub fn reachable_time(&self) -> Option<Duration> {
        self.reachable.map(|r| r.value)
    }

    /// When [`poll`](Self::poll) next has something to do: the earliest entry timer, a first
    /// request waiting to go out, or the periodic GC. `None` if nothing is scheduled.
    /// O(log n).
    pub fn poll_at(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|&(t, _)| t);
        let outbox = self.outbox.front().map(|&(t, _, _)| t);
        [timer, outbox, self.periodic_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Upper-layer confirmation (`MSG_CONFIRM` → `sock_confirm_neigh` → `neigh_confirm`):
    /// marks `ip` as confirmed now, if it has an entry. The engine calls it before
    /// [`resolve`](Self::resolve) for such a send, as `ip_finish_output2` does.
    pub fn confirm(&mut self, now: Instant, ip: Ipv4Addr) {
        if let Some(e) = self.entries.get_mut(&ip) {
            e.confirmed = stamp(now);
        }
    }

    /// Each entry's waiting frames with the bytes it counts for them (for the conservation
    /// checker).
    pub fn queues(&self) -> impl Iterator<Item = (Ipv4Addr, u64, &VecDeque<F>)> + '_ {
        self.entries
            .iter()
            .map(|(&ip, e)| (ip, e.queue_bytes, &e.queue))
    }

    /// Removes every entry (`neigh_flush_dev`, on an address change or the link going down),
    /// returning the frames that were waiting: Linux frees them without an error.
    pub fn flush(&mut self) -> Vec<F> {
        let mut frames = Vec::new();
        for (_, e) in core::mem::take(&mut self.entries) {
            frames.extend(e.queue);
            self.stats.destroys += 1;
        }
        self.timers.clear();
        self.gc_list.clear();
        self.outbox.clear();
        self.periodic_at = None;
        frames
    }

    /// Takes an entry out of the map; its index records stay until [`put`](Self::put).
    fn take(&mut self, ip: Ipv4Addr) -> Option<Entry<F>> {
        self.entries.remove(&ip)
    }

    /// Puts an entry back, bringing the timer and GC indexes in line with it.
    fn put(&mut self, ip: Ipv4Addr, mut e: Entry<F>) {
        if e.indexed_timer != e.timer {
            if let Some(t) = e.indexed_timer {
                self.timers.remove(&(t, ip));
            }
            if let Some(t) = e.timer {
                self.timers.insert((t, ip));
            }
            e.indexed_timer = e.timer;
        }
        let want_gc = !e.state.in_timer();
        if want_gc != e.indexed_gc {
            if want_gc {
                self.gc_list.insert((e.seq, ip));
            } else {
                self.gc_list.remove(&(e.seq, ip));
            }
            e.indexed_gc = want_gc;
        }
        self.entries.insert(ip, e);
    }

    /// Removes an entry and its index records (`neigh_mark_dead` + release).
    fn remove_entry(&mut self, ip: Ipv4Addr) -> Option<Entry<F>> {
        let e = self.entries.remove(&ip)?;
        if let Some(t) = e.indexed_timer {
            self.timers.remove(&(t, ip));
        }
        if e.indexed_gc {
            self.gc_list.remove(&(e.seq, ip));
        }
        self.stats.destroys += 1;
        Some(e)
    }

    /// The per-table `reachable_time`, drawn or redrawn as Linux would by now: at table
    /// creation (`neigh_table_init`, first redraw `20 × reachable_time` later), on a write of
    /// `base_reachable_time` (`neigh_proc_base_reachable_time`), and when `last_rand + 300 s`
    /// has passed (`neigh_periodic_work`).
    fn refresh_reachable(&mut self, now: Instant, s: &Sysctls, rng: &mut Rng) {
        let base = s.neigh_base_reachable_time;
        match &mut self.reachable {
            None => {
                let value = rand_reach_time(base, rng);
                self.reachable = Some(ReachableTime {
                    value,
                    base,
                    last_rand: now + value.saturating_mul(20),
                });
            }
            Some(r) if r.base != base => {
                r.value = rand_reach_time(base, rng);
                r.base = base;
            }
            Some(r) if now > r.last_rand + REACHABLE_REDRAW => {
                r.value = rand_reach_time(base, rng);
                r.last_rand = now;
            }
            Some(_) => {}
        }
    }

    fn rt(&self) -> Duration {
        self.reachable.map_or(Duration::ZERO, |r| r.value)
    }

    /// Schedules the periodic work if the table is big enough for it to act.
    fn arm_periodic(&mut self, now: Instant, s: &Sysctls) {
        if self.periodic_at.is_none() && self.entries.len() as u64 >= u64::from(self.gc_thresh1) {
            let half = Duration::from_micros(s.neigh_base_reachable_time.total_micros() / 2);
            self.periodic_at = Some(now + half.max(Duration::from_millis(1)));
        }
    }

    /// `neigh_periodic_work`: removes STALE/FAILED entries unused for `gc_stale_time`, and
    /// every FAILED one, if the table holds at least `gc_thresh1` entries.
    fn periodic_work(&mut self, now: Instant, s: &Sysctls) {
        self.stats.periodic_gc_runs += 1;
        self.periodic_at = None;
        if (self.entries.len() as u64) < u64::from(self.gc_thresh1) {
            return;
        }
        let candidates: Vec<Ipv4Addr> = self.gc_list.iter().map(|&(_, ip)| ip).collect();
        for ip in candidates {
            let Some(e) = self.entries.get_mut(&ip) else {
                continue;
            };
            // time_before(n->used, n->confirmed) && time_is_before_eq_jiffies(n->confirmed)
            if stamp(e.used) < e.confirmed && e.confirmed <= stamp(now) {
                e.used = instant_at(e.confirmed);
            }
            // !time_in_range_open(jiffies, n->used, n->used + GC_STALETIME)
            let fresh = e.used <= now && now < e.used + s.neigh_gc_stale_time;
            if e.state == NeighborState::Failed || !fresh {
                self.remove_entry(ip);
                self.stats.periodic_gc_removals += 1;
            }
        }
    }

    /// `neigh_forced_gc`: walks STALE/FAILED entries in creation order, evicting those FAILED
    /// or not updated in the last 5 s, until `gc_entries - gc_thresh2` are gone. Returns how
    /// many were evicted.
    fn forced_gc(&mut self, now: Instant, gc_entries: u64) -> u64 {
        self.stats.forced_gc_runs += 1;
        let max_clean = i128::from(gc_entries) - i128::from(self.gc_thresh2);
        let mut shrunk: u64 = 0;
        let mut examined = 0usize;
        let mut next_seq = 0u64;
        let mut complete = true;
        while let Some(&(seq, ip)) = self
            .gc_list
            .range((next_seq, Ipv4Addr::UNSPECIFIED)..)
            .next()
        {
            next_seq = seq.saturating_add(1);
            let remove = self.entries.get(&ip).is_some_and(|e| {
                // !time_in_range(n->updated, jiffies - 5 * HZ, jiffies)
                let in_range = e.updated <= now && e.updated + FORCED_GC_AGE >= now;
                e.state == NeighborState::Failed || !in_range
            });
            if remove && self.remove_entry(ip).is_some() {
                shrunk += 1;
                self.stats.forced_gc_evictions += 1;
            }
            if i128::from(shrunk) >= max_clean {
                break;
            }
            examined += 1;
            if examined >= FORCED_GC_SCAN_LIMIT {
                complete = false;
                break;
            }
            if seq == u64::MAX {
                break;
            }
        }
        if complete {
            self.last_flush = Some(now);
        }
        shrunk
    }

    /// `neigh_alloc` + `___neigh_create`: a new entry in `NUD_NONE`, or `None` if the table is
    /// full and the forced GC freed nothing. `NUD_NONE` is represented as FAILED, which every
    /// path taken from here treats identically (neither valid nor in a timer).
    fn alloc(&mut self, now: Instant, s: &Sysctls) -> Option<Entry<F>> {
        let entries = self.entries.len() as u64;
        let thresh3 = u64::from(s.neigh_gc_thresh3);
        let last_flush = *self.last_flush.get_or_insert(now);
        if entries >= thresh3
            || (entries >= u64::from(self.gc_thresh2) && now > last_flush + FORCED_GC_AGE)
        {
            // gc_entries was incremented for the new entry before neigh_forced_gc reads it.
            if self.forced_gc(now, entries + 1) == 0 && entries >= thresh3 {
                self.stats.table_fulls += 1;
                return None;
            }
        }
        self.stats.allocs += 1;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        Some(Entry {
            state: NeighborState::Failed,
            mac: MacAddr::ZERO,
            hh: false,
            probes: 0,
            used: now,
            updated: now,
            confirmed: stamp(now) - 2 * span(s.neigh_base_reachable_time),
            timer: None,
            indexed_timer: None,
            indexed_gc: false,
            seq,
            queue: VecDeque::new(),
            queue_bytes: 0,
        })
    }

    /// `neigh_add_timer`: arms the timer and, as Linux does there, moves `used` up to
    /// `confirmed`.
    fn add_timer(e: &mut Entry<F>, when: Instant) {
        e.timer = Some(when);
        if stamp(e.used) < e.confirmed {
            e.used = instant_at(e.confirmed);
        }
    }

    /// `neigh_resolve_output` for an entry in a valid state: `neigh_event_send` (which marks
    /// the entry used and turns STALE into DELAY), then `neigh_hh_init`.
    fn output_valid(now: Instant, e: &mut Entry<F>, s: &Sysctls) {
        e.used = now;
        if e.state == NeighborState::Stale {
            e.state = NeighborState::Delay;
            e.updated = now;
            Self::add_timer(e, now + s.neigh_delay_first_probe_time);
        }
        e.hh = true;
    }

    /// `neigh_max_probes`: `ucast + app + (PROBE ? mcast_resolicit : mcast)`, with
    /// `app_solicit = mcast_resolicit = 0`.
    fn max_probes(state: NeighborState, s: &Sysctls) -> u32 {
        let mcast = if state == NeighborState::Probe {
            0
        } else {
            s.neigh_mcast_solicit
        };
        s.neigh_ucast_solicit.saturating_add(mcast)
    }

    /// `neigh_probe` → `arp_solicit`: the Ethernet destination of the next request — the
    /// known MAC while `probes < ucast_solicit` (`neigh_ha_snapshot`), broadcast after — and
    /// the probe counted.
    fn solicit(e: &mut Entry<F>, s: &Sysctls) -> MacAddr {
        let dst = if e.probes < s.neigh_ucast_solicit {
            e.mac
        } else {
            MacAddr::BROADCAST
        };
        e.probes = e.probes.saturating_add(1);
        dst
    }
}

impl<F: QueuedFrame> NeighborCache<F> {
    /// Hands over a frame for next hop `ip` (`neigh_output` → `neigh_resolve_output` →
    /// `neigh_event_send`), creating the entry if needed (`__neigh_create`).
    ///
    /// A REACHABLE entry whose header cache is built sends at once without being marked used
    /// (`neigh_hh_output`); otherwise the entry is marked used, a STALE one goes to DELAY, a
    /// new or FAILED one starts resolving, and an INCOMPLETE one queues the frame.
    ///
    /// The caller passes unicast next hops only: Linux gives broadcast and multicast
    /// destinations `NUD_NOARP` entries that never resolve (`arp_constructor`).
    pub fn resolve(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        frame: F,
        s: &Sysctls,
        rng: &mut Rng,
    ) -> Resolve<F> {
        self.refresh_reachable(now, s, rng);
        // neigh_output's fast path (NUD_CONNECTED with a cached header): nothing changes, so
        // read the entry in place instead of taking it out and putting it back.
        if let Some(e) = self.entries.get(&ip) {
            if e.state.is_connected() && e.hh {
                return Resolve::Ready(e.mac, frame);
            }
        }
        let mut e = match self.take(ip) {
            Some(e) => e,
            None => match self.alloc(now, s) {
                Some(e) => e,
                None => return Resolve::TableFull(frame),
            },
        };
        let result = self.event_send(now, ip, &mut e, frame, s);
        let mac = e.mac;
        self.put(ip, e);
        self.arm_periodic(now, s);
        match result {
            EventSend::Send(frame) => Resolve::Ready(mac, frame),
            EventSend::Queued(dropped) => Resolve::Queued { dropped },
            EventSend::Dropped(frame) => Resolve::Dropped(frame),
        }
    }

    /// `neigh_event_send_probe` + `__neigh_event_send` on an entry taken out of the map.
    fn event_send(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        e: &mut Entry<F>,
        frame: F,
        s: &Sysctls,
    ) -> EventSend<F> {
        if e.state.is_valid() {
            Self::output_valid(now, e, s);
            return EventSend::Send(frame);
        }
        e.used = now;
        let mut immediate_probe = false;
        if e.state == NeighborState::Failed {
            if !Self::start_resolving(now, e, s) {
                return EventSend::Dropped(frame);
            }
            immediate_probe = true;
        }
        // NUD_INCOMPLETE: queue, pushing out the oldest frames while over the bound.
        let size = frame.truesize() as u64;
        let bound = u64::from(s.neigh_unres_qlen_bytes);
        let mut dropped = Vec::new();
        while e.queue_bytes.saturating_add(size) > bound {
            let Some(old) = e.queue.pop_front() else {
                break;
            };
            e.queue_bytes = e.queue_bytes.saturating_sub(old.truesize() as u64);
            dropped.push(old);
            self.stats.unres_discards += 1;
        }
        if e.queue.is_empty() {
            e.queue_bytes = 0;
        }
        e.queue.push_back(frame);
        e.queue_bytes = e.queue_bytes.saturating_add(size);
        if immediate_probe {
            self.probe_now(now, ip, e, s);
        }
        EventSend::Queued(dropped)
    }

    /// A FAILED (or new) entry starts over: INCOMPLETE, its timer armed. `false` when no probe
    /// may be sent (`mcast_solicit` = 0), the entry then staying FAILED.
    fn start_resolving(now: Instant, e: &mut Entry<F>, s: &Sysctls) -> bool {
        e.updated = now;
        if s.neigh_mcast_solicit == 0 {
            return false;
        }
        e.probes = s.neigh_ucast_solicit;
        e.timer = None;
        e.state = NeighborState::Incomplete;
        Self::add_timer(e, now + s.neigh_retrans_time.max(MIN_TIMER));
        true
    }

    /// Queues the first request of a resolution for sending at once.
    fn probe_now(&mut self, now: Instant, ip: Ipv4Addr, e: &mut Entry<F>, s: &Sysctls) {
        let dst = Self::solicit(e, s);
        let cap = usize::try_from(s.neigh_gc_thresh3.max(1)).unwrap_or(usize::MAX);
        while self.outbox.len() >= cap {
            self.outbox.pop_front();
        }
        self.outbox.push_back((now, ip, dst));
    }

    /// `neigh_event_send(n, NULL)` on an entry that is not valid, as `__ip_do_redirect` does for
    /// a new gateway it cannot reach yet: creates the entry if needed and starts resolving it
    /// (a request goes out at once), with no frame to queue. Returns whether the entry is
    /// valid, in which case nothing was done.
    pub fn resolve_without_frame(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        s: &Sysctls,
        rng: &mut Rng,
    ) -> bool {
        self.refresh_reachable(now, s, rng);
        if self.entries.get(&ip).is_some_and(|e| e.state.is_valid()) {
            return true;
        }
        let mut e = match self.take(ip) {
            Some(e) => e,
            None => match self.alloc(now, s) {
                Some(e) => e,
                None => return false,
            },
        };
        e.used = now;
        if e.state == NeighborState::Failed && Self::start_resolving(now, &mut e, s) {
            self.probe_now(now, ip, &mut e, s);
        }
        self.put(ip, e);
        self.arm_periodic(now, s);
        false
    }

    /// Tells the cache about a received ARP packet from `sender_ip` at `sender_mac`
    /// (`arp_process`'s table update), returning the queued frames that can now be sent, in
    /// order, with their destination MAC.
    ///
    /// See [`ArpInput`] for what creates an entry. For a reply or other packet, a MAC different
    /// from the known one is taken only if the entry was last updated more than [`LOCKTIME`]
    /// ago or the packet is gratuitous (`override` in `arp_process`).
    pub fn on_arp(
        &mut self,
        now: Instant,
        sender_ip: Ipv4Addr,
        sender_mac: MacAddr,
        kind: ArpInput,
        s: &Sysctls,
        rng: &mut Rng,
    ) -> Vec<(MacAddr, F)> {
        self.refresh_reachable(now, s, rng);
        let (create, new, gratuitous) = match kind {
            ArpInput::RequestForUs => (true, NeighborState::Stale, false),
            ArpInput::ReplyToUs { gratuitous } => (false, NeighborState::Reachable, gratuitous),
            ArpInput::Other { gratuitous } => (false, NeighborState::Stale, gratuitous),
        };
        let mut e = match self.take(sender_ip) {
            Some(e) => e,
            None if create => match self.alloc(now, s) {
                Some(e) => e,
                None => return Vec::new(),
            },
            None => return Vec::new(),
        };
        // neigh_event_ns always overrides; arp_process overrides after locktime or for garp.
        let override_mac = create || gratuitous || now > e.updated + LOCKTIME;
        let ready = self.update(now, &mut e, sender_mac, new, override_mac, s);
        self.put(sender_ip, e);
        self.arm_periodic(now, s);
        ready
    }

    /// `__neigh_update` with a link-layer address and without `NEIGH_UPDATE_F_ADMIN`, as ARP
    /// calls it (`new` is REACHABLE or STALE).
    fn update(
        &mut self,
        now: Instant,
        e: &mut Entry<F>,
        lladdr: MacAddr,
        new: NeighborState,
        override_mac: bool,
        s: &Sysctls,
    ) -> Vec<(MacAddr, F)> {
        let old = e.state;
        let mut new = new;
        // `lladdr != neigh->ha` compares pointers: a MAC offered to an invalid entry counts as
        // a change even if the bytes are equal.
        let changed = !(old.is_valid() && lladdr == e.mac);
        if new.is_connected() {
            e.confirmed = stamp(now);
        }
        if old.is_valid() {
            if changed && !override_mac {
                return Vec::new();
            }
            if !changed && new == NeighborState::Stale {
                new = old;
            }
        }
        if new != old || changed {
            e.updated = now;
        }
        if new != old {
            e.timer = None;
            if new == NeighborState::Probe {
                e.probes = 0;
            }
            if new.in_timer() {
                let delay = if new == NeighborState::Reachable {
                    self.rt()
                } else {
                    Duration::ZERO
                };
                Self::add_timer(e, now + delay);
            }
            e.state = new;
        }
        if changed {
            e.mac = lladdr;
            if !new.is_connected() {
                e.confirmed = stamp(now) - 2 * span(s.neigh_base_reachable_time);
            }
        }
        if new == old || old.is_valid() {
            return Vec::new();
        }
        // neigh_update_process_arp_queue: each frame goes out through neigh_resolve_output.
        let mut ready = Vec::with_capacity(e.queue.len());
        while e.state.is_valid() {
            let Some(frame) = e.queue.pop_front() else {
                break;
            };
            Self::output_valid(now, e, s);
            ready.push((e.mac, frame));
        }
        e.queue.clear();
        e.queue_bytes = 0;
        ready
    }

    /// Runs everything due at `now`: first requests of new resolutions, entry timers
    /// (`neigh_timer_handler`: retransmissions, probes, ageing, failures) and the periodic GC.
    /// Afterwards [`poll_at`](Self::poll_at) is later than `now` (or `None`).
    pub fn poll(&mut self, now: Instant, s: &Sysctls, rng: &mut Rng) -> Vec<NeighborAction<F>> {
        self.refresh_reachable(now, s, rng);
        let mut out = Vec::new();
        for (_, target, dst) in self.outbox.drain(..) {
            out.push(NeighborAction::SendRequest { target, dst });
        }
        while let Some(&(t, ip)) = self.timers.first() {
            if t > now {
                break;
            }
            match self.take(ip) {
                Some(mut e) => {
                    // The timer fired; `put` drops its index record and files the new one.
                    e.timer = None;
                    self.fire(now, ip, &mut e, s, &mut out);
                    self.put(ip, e);
                }
                None => {
                    self.timers.remove(&(t, ip));
                }
            }
        }
        if self.periodic_at.is_some_and(|p| p <= now) {
            self.periodic_work(now, s);
        }
        self.arm_periodic(now, s);
        for action in &out {
            if let NeighborAction::SendRequest { dst, .. } = action {
                if dst.is_broadcast() {
                    self.stats.broadcast_requests += 1;
                } else {
                    self.stats.unicast_probes += 1;
                }
            }
        }
        out
    }

    /// `neigh_timer_handler` for an entry whose timer expired.
    fn fire(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        e: &mut Entry<F>,
        s: &Sysctls,
        out: &mut Vec<NeighborAction<F>>,
    ) {
        let rt = span(self.rt());
        let delay = span(s.neigh_delay_first_probe_time);
        let retrans = span(s.neigh_retrans_time.max(MIN_TIMER));
        let t = stamp(now);
        let mut next = t + span(Duration::from_secs(1));
        match e.state {
            NeighborState::Reachable => {
                if t <= e.confirmed + rt {
                    // "still alive": confirmed since the timer was armed.
                    next = e.confirmed + rt;
                } else if t <= stamp(e.used) + delay {
                    e.state = NeighborState::Delay;
                    e.updated = now;
                    next = t + delay;
                } else {
                    e.state = NeighborState::Stale;
                    e.updated = now;
                }
            }
            NeighborState::Delay => {
                if t <= e.confirmed + delay {
                    e.state = NeighborState::Reachable;
                    e.updated = now;
                    next = e.confirmed + rt;
                } else {
                    e.state = NeighborState::Probe;
                    e.updated = now;
                    e.probes = 0;
                    next = t + retrans;
                }
            }
            NeighborState::Incomplete | NeighborState::Probe => next = t + retrans,
            NeighborState::Stale | NeighborState::Failed => return,
        }
        let probing = matches!(e.state, NeighborState::Incomplete | NeighborState::Probe);
        if probing && e.probes >= Self::max_probes(e.state, s) {
            // neigh_invalidate
            e.state = NeighborState::Failed;
            e.updated = now;
            self.stats.res_failed += 1;
            let frames: Vec<F> = e.queue.drain(..).collect();
            e.queue_bytes = 0;
            out.push(NeighborAction::Failed { ip, frames });
            return;
        }
        if e.state.in_timer() {
            e.timer = Some(instant_at(next.max(t + span(MIN_TIMER))));
        }
        if probing {
            let dst = Self::solicit(e, s);
            out.push(NeighborAction::SendRequest { target: ip, dst });
        }
    }
}

fn view<F>(ip: Ipv4Addr, e: &Entry<F>) -> NeighborEntry {
    NeighborEntry {
        ip,
        mac: e.state.is_valid().then_some(e.mac),
        state: e.state,
        probes: e.probes,
        queued_frames: e.queue.len(),
        queued_bytes: e.queue_bytes,
        used: e.used,
        updated: e.updated,
        confirmed: (e.confirmed >= 0).then(|| instant_at(e.confirmed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::Rng;
    use proptest::prelude::*;
    use std::collections::BTreeSet as Set;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Frame {
        id: u64,
        size: usize,
    }

    impl QueuedFrame for Frame {
        fn truesize(&self) -> usize {
            self.size
        }
    }

    fn fr(id: u64) -> Frame {
        Frame { id, size: 1000 }
    }

    fn ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + n)
    }

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    const REPLY: ArpInput = ArpInput::ReplyToUs { gratuitous: false };

    impl<F: QueuedFrame> NeighborCache<F> {
        /// Every structural invariant: bounds, queue accounting, index consistency.
        fn check(&self, s: &Sysctls) -> Result<(), String> {
            if self.entries.len() as u64 > u64::from(s.neigh_gc_thresh3) {
                return Err(format!("{} entries", self.entries.len()));
            }
            let mut timers = Set::new();
            let mut gc = Set::new();
            for (&ip, e) in &self.entries {
                let sum: u64 = e.queue.iter().map(|f| f.truesize() as u64).sum();
                if sum != e.queue_bytes {
                    return Err(format!("{ip}: queue_bytes {} != {sum}", e.queue_bytes));
                }
                if e.queue_bytes > u64::from(s.neigh_unres_qlen_bytes) && e.queue.len() > 1 {
                    return Err(format!("{ip}: queue over bound"));
                }
                if !e.queue.is_empty() && e.state != NeighborState::Incomplete {
                    return Err(format!("{ip}: frames queued in {}", e.state));
                }
                if e.timer.is_some() != e.state.in_timer() || e.indexed_timer != e.timer {
                    return Err(format!("{ip}: timer {:?} in {}", e.timer, e.state));
                }
                if let Some(t) = e.timer {
                    timers.insert((t, ip));
                }
                if e.indexed_gc == e.state.in_timer() {
                    return Err(format!("{ip}: gc index"));
                }
                if e.indexed_gc {
                    gc.insert((e.seq, ip));
                }
            }
            if timers != self.timers || gc != self.gc_list {
                return Err("indexes disagree with entries".into());
            }
            if self.outbox.len() > s.neigh_gc_thresh3.max(1) as usize {
                return Err("outbox over bound".into());
            }
            Ok(())
        }

        fn requests(actions: &[NeighborAction<F>]) -> Vec<(Ipv4Addr, MacAddr)> {
            actions
                .iter()
                .filter_map(|a| match a {
                    NeighborAction::SendRequest { target, dst } => Some((*target, *dst)),
                    NeighborAction::Failed { .. } => None,
                })
                .collect()
        }
    }

    fn queued<F: fmt::Debug>(r: Resolve<F>) -> Vec<F> {
        match r {
            Resolve::Queued { dropped } => dropped,
            other => panic!("expected Queued, got {other:?}"),
        }
    }

    fn ready<F: fmt::Debug>(r: Resolve<F>) -> (MacAddr, F) {
        match r {
            Resolve::Ready(m, f) => (m, f),
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    fn state(c: &NeighborCache<Frame>, n: u32) -> Option<NeighborState> {
        c.lookup(ip(n)).map(|e| e.state)
    }

    /// Frames queued while INCOMPLETE go out in order, with the replied MAC, when the reply
    /// arrives; the first request went out at once, broadcast.
    #[test]
    fn reply_resolves_and_flushes_queue_in_order() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(1), NeighborCache::new());
        for id in 0..3 {
            assert!(queued(c.resolve(ms(0), ip(1), fr(id), &s, &mut rng)).is_empty());
        }
        assert_eq!(c.poll_at(), Some(ms(0)));
        let acts = c.poll(ms(0), &s, &mut rng);
        assert_eq!(
            NeighborCache::requests(&acts),
            [(ip(1), MacAddr::BROADCAST)]
        );
        assert_eq!(c.poll_at(), Some(ms(1000)));
        assert_eq!(state(&c, 1), Some(NeighborState::Incomplete));
        let out = c.on_arp(ms(5), ip(1), mac(1), REPLY, &s, &mut rng);
        assert_eq!(out, [(mac(1), fr(0)), (mac(1), fr(1)), (mac(1), fr(2))]);
        let e = c.lookup(ip(1)).unwrap();
        assert_eq!(
            (e.state, e.mac, e.queued_frames),
            (NeighborState::Reachable, Some(mac(1)), 0)
        );
        assert_eq!(
            ready(c.resolve(ms(6), ip(1), fr(3), &s, &mut rng)),
            (mac(1), fr(3))
        );
        assert!(c.poll(ms(2000), &s, &mut rng).is_empty());
        assert_eq!(c.stats().broadcast_requests, 1);
        c.check(&s).unwrap();
    }

    /// Without an answer: a broadcast request at 0, 1 and 2 s (exactly `mcast_solicit`), then
    /// FAILED at 3 s with the queued frames handed back; the next use starts over.
    #[test]
    fn retransmits_every_second_then_fails_with_frames() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(2), NeighborCache::new());
        let _ = queued(c.resolve(ms(0), ip(7), fr(1), &s, &mut rng));
        let _ = queued(c.resolve(ms(10), ip(7), fr(2), &s, &mut rng));
        let mut sent = Vec::new();
        let mut failed = None;
        for now in (0..=5000).step_by(10) {
            for a in c.poll(ms(now), &s, &mut rng) {
                match a {
                    NeighborAction::SendRequest { target, dst } => {
                        assert_eq!((target, dst), (ip(7), MacAddr::BROADCAST));
                        sent.push(now);
                    }
                    NeighborAction::Failed { ip: i, frames } => {
                        assert_eq!(i, ip(7));
                        failed = Some((now, frames));
                    }
                }
            }
            c.check(&s).unwrap();
        }
        assert_eq!(sent, [0, 1000, 2000]);
        assert_eq!(failed, Some((3000, vec![fr(1), fr(2)])));
        assert_eq!(state(&c, 7), Some(NeighborState::Failed));
        assert_eq!(c.stats().res_failed, 1);
        assert_eq!(c.poll_at(), None);
        // FAILED is not final: the next frame starts a new resolution.
        let _ = queued(c.resolve(ms(6000), ip(7), fr(3), &s, &mut rng));
        let acts = c.poll(ms(6000), &s, &mut rng);
        assert_eq!(
            NeighborCache::requests(&acts),
            [(ip(7), MacAddr::BROADCAST)]
        );
        assert_eq!(state(&c, 7), Some(NeighborState::Incomplete));

        let s5 = Sysctls {
            neigh_mcast_solicit: 5,
            neigh_retrans_time: Duration::from_millis(200),
            ..Sysctls::default()
        };
        let mut c = NeighborCache::new();
        let _ = queued(c.resolve(ms(0), ip(8), fr(1), &s5, &mut rng));
        let mut n = 0;
        for now in 0..=2000 {
            n += NeighborCache::requests(&c.poll(ms(now), &s5, &mut rng)).len();
        }
        assert_eq!(n, 5);
        assert_eq!(state(&c, 8), Some(NeighborState::Failed));
    }

    /// The queue holds `unres_qlen_bytes` of truesize; a new frame pushes out the oldest ones,
    /// counted in `unres_discards`. A frame bigger than the bound alone is still queued.
    #[test]
    fn queue_bound_drops_oldest_by_truesize() {
        let s = Sysctls {
            neigh_unres_qlen_bytes: 1000,
            ..Sysctls::default()
        };
        let (mut rng, mut c) = (Rng::new(3), NeighborCache::new());
        let f = |id, size| Frame { id, size };
        for id in 0..3 {
            assert!(queued(c.resolve(ms(0), ip(1), f(id, 300), &s, &mut rng)).is_empty());
        }
        assert_eq!(
            queued(c.resolve(ms(0), ip(1), f(3, 300), &s, &mut rng)),
            [f(0, 300)]
        );
        assert_eq!(
            queued(c.resolve(ms(0), ip(1), f(4, 500), &s, &mut rng)),
            [f(1, 300), f(2, 300)]
        );
        assert_eq!(c.lookup(ip(1)).unwrap().queued_bytes, 800);
        assert_eq!(c.stats().unres_discards, 3);
        c.check(&s).unwrap();
        assert_eq!(
            queued(c.resolve(ms(0), ip(1), f(5, 5000), &s, &mut rng)),
            [f(3, 300), f(4, 500)]
        );
        assert_eq!(c.lookup(ip(1)).unwrap().queued_bytes, 5000);
        c.check(&s).unwrap();
        assert_eq!(
            queued(c.resolve(ms(0), ip(1), f(6, 100), &s, &mut rng)),
            [f(5, 5000)]
        );
        let out = c.on_arp(ms(1), ip(1), mac(1), REPLY, &s, &mut rng);
        assert_eq!(out, [(mac(1), f(6, 100))]);
        assert_eq!(c.stats().unres_discards, 6);
    }

    /// A request from a peer for our address creates its entry STALE (`neigh_event_ns`); a
    /// frame to it goes out at once, no request needed, and the entry moves to DELAY.
    #[test]
    fn request_for_us_creates_stale_entry_usable_at_once() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(4), NeighborCache::new());
        assert!(c
            .on_arp(ms(0), ip(9), mac(9), ArpInput::RequestForUs, &s, &mut rng)
            .is_empty());
        assert!(c.contains(ip(9)));
        let e = c.lookup(ip(9)).unwrap();
        assert_eq!((e.state, e.mac), (NeighborState::Stale, Some(mac(9))));
        assert_eq!(e.to_string(), "10.0.0.9 lladdr 02:00:00:00:00:09 STALE");
        assert_eq!(c.poll_at(), None);
        assert_eq!(
            ready(c.resolve(ms(100), ip(9), fr(1), &s, &mut rng)),
            (mac(9), fr(1))
        );
        assert_eq!(state(&c, 9), Some(NeighborState::Delay));
        assert_eq!(c.poll_at(), Some(ms(5100)));
        assert!(c.poll(ms(100), &s, &mut rng).is_empty());
        // Replies and other packets from unknown senders create nothing (arp_accept = 0).
        assert!(c
            .on_arp(ms(0), ip(10), mac(10), REPLY, &s, &mut rng)
            .is_empty());
        let other = ArpInput::Other { gratuitous: true };
        assert!(c
            .on_arp(ms(0), ip(11), mac(11), other, &s, &mut rng)
            .is_empty());
        assert_eq!(c.len(), 1);
    }

    /// STALE used → DELAY; after `delay_first_probe_time`, PROBE sends `ucast_solicit`
    /// unicast requests to the known MAC a second apart; a reply brings REACHABLE back.
    #[test]
    fn stale_delay_probe_unicast_then_confirmed() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(5), NeighborCache::new());
        let _ = c.on_arp(ms(0), ip(2), mac(2), ArpInput::RequestForUs, &s, &mut rng);
        let _ = ready(c.resolve(ms(1000), ip(2), fr(1), &s, &mut rng));
        assert!(c.poll(ms(5999), &s, &mut rng).is_empty());
        let acts = c.poll(ms(6000), &s, &mut rng);
        assert_eq!(NeighborCache::requests(&acts), [(ip(2), mac(2))]);
        assert_eq!(state(&c, 2), Some(NeighborState::Probe));
        // Frames are sent, not queued, while probing.
        assert_eq!(
            ready(c.resolve(ms(6500), ip(2), fr(2), &s, &mut rng)),
            (mac(2), fr(2))
        );
        let acts = c.poll(ms(7000), &s, &mut rng);
        assert_eq!(NeighborCache::requests(&acts), [(ip(2), mac(2))]);
        let out = c.on_arp(ms(7500), ip(2), mac(2), REPLY, &s, &mut rng);
        assert!(out.is_empty());
        assert_eq!(state(&c, 2), Some(NeighborState::Reachable));
        assert!(c.poll(ms(8000), &s, &mut rng).is_empty());
        assert_eq!(c.stats().unicast_probes, 2);

        // Unanswered: exactly ucast_solicit probes, then FAILED with nothing queued.
        let mut c = NeighborCache::new();
        let _ = c.on_arp(ms(0), ip(3), mac(3), ArpInput::RequestForUs, &s, &mut rng);
        let _ = ready(c.resolve(ms(0), ip(3), fr(1), &s, &mut rng));
        let mut probes = Vec::new();
        let mut failed_at = None;
        for now in (0..20_000).step_by(100) {
            for a in c.poll(ms(now), &s, &mut rng) {
                match a {
                    NeighborAction::SendRequest { dst, .. } => probes.push((now, dst)),
                    NeighborAction::Failed { frames, .. } => {
                        assert!(frames.is_empty());
                        failed_at = Some(now);
                    }
                }
            }
        }
        assert_eq!(probes, [(5000, mac(3)), (6000, mac(3)), (7000, mac(3))]);
        assert_eq!(failed_at, Some(8000));
    }

    /// An upper-layer confirmation (MSG_CONFIRM) during DELAY returns the entry to REACHABLE
    /// without any probe.
    #[test]
    fn confirmation_in_delay_avoids_probe() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(6), NeighborCache::new());
        let _ = c.on_arp(ms(0), ip(4), mac(4), ArpInput::RequestForUs, &s, &mut rng);
        let _ = ready(c.resolve(ms(0), ip(4), fr(1), &s, &mut rng));
        c.confirm(ms(3000), ip(4));
        assert!(c.poll(ms(5000), &s, &mut rng).is_empty());
        assert_eq!(state(&c, 4), Some(NeighborState::Reachable));
    }

    /// REACHABLE lasts `reachable_time` from the confirmation; sends through the header cache
    /// do not mark the entry used, so it then goes STALE (not DELAY), and the next send
    /// starts DELAY.
    #[test]
    fn reachable_expires_to_stale() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(7), NeighborCache::new());
        let _ = queued(c.resolve(ms(0), ip(5), fr(1), &s, &mut rng));
        let _ = c.poll(ms(0), &s, &mut rng);
        let _ = c.on_arp(ms(10), ip(5), mac(5), REPLY, &s, &mut rng);
        let rt = c.reachable_time().unwrap();
        let expiry = ms(10) + rt;
        assert_eq!(c.poll_at(), Some(expiry));
        for k in 1..20 {
            let now = ms(10) + Duration::from_millis(k * rt.total_millis() / 20);
            let _ = ready(c.resolve(now, ip(5), fr(k + 1), &s, &mut rng));
            assert!(c.poll(now, &s, &mut rng).is_empty());
        }
        // time_before_eq(now, confirmed + reachable_time): at the very expiry it is "still
        // alive" and looks again HZ/100 later.
        assert!(c.poll(expiry, &s, &mut rng).is_empty());
        assert_eq!(state(&c, 5), Some(NeighborState::Reachable));
        let expiry = expiry + Duration::from_millis(10);
        assert_eq!(c.poll_at(), Some(expiry));
        assert!(c.poll(expiry, &s, &mut rng).is_empty());
        assert_eq!(state(&c, 5), Some(NeighborState::Stale));
        let _ = ready(c.resolve(expiry, ip(5), fr(99), &s, &mut rng));
        assert_eq!(state(&c, 5), Some(NeighborState::Delay));
    }

    /// `reachable_time` is drawn uniformly in [base/2, 3·base/2), per table, and redrawn when
    /// `base_reachable_time` is written.
    #[test]
    fn reachable_time_in_linux_range() {
        let s = Sysctls::default();
        let (mut lo, mut hi) = (u64::MAX, 0);
        for seed in 0..500 {
            let (mut rng, mut c) = (Rng::new(seed), NeighborCache::<Frame>::new());
            let _ = c.poll(ms(0), &s, &mut rng);
            let rt = c.reachable_time().unwrap().total_millis();
            assert!((15_000..45_000).contains(&rt), "{rt}");
            lo = lo.min(rt);
            hi = hi.max(rt);
        }
        assert!(lo < 17_000 && hi > 43_000, "{lo}..{hi}");
        let s2 = Sysctls {
            neigh_base_reachable_time: Duration::from_millis(1000),
            ..s.clone()
        };
        let (mut rng, mut c) = (Rng::new(1), NeighborCache::<Frame>::new());
        let _ = c.poll(ms(0), &s, &mut rng);
        let _ = c.poll(ms(1), &s2, &mut rng);
        let rt = c.reachable_time().unwrap().total_millis();
        assert!((500..1500).contains(&rt), "{rt}");
        let zero = Sysctls {
            neigh_base_reachable_time: Duration::ZERO,
            ..s
        };
        let _ = c.poll(ms(2), &zero, &mut rng);
        assert_eq!(c.reachable_time(), Some(Duration::ZERO));
    }

    /// Periodic GC, every base/2 once the table holds `gc_thresh1` entries, removes STALE
    /// entries unused for `gc_stale_time` and FAILED ones; entries in use stay; below
    /// `gc_thresh1` nothing is removed, as in Linux.
    #[test]
    fn periodic_gc_removes_unused_stale_entries() {
        let (s, mut rng, mut c) = (
            Sysctls::default(),
            Rng::new(8),
            NeighborCache::<Frame>::new(),
        );
        for n in 0..10 {
            let _ = c.on_arp(ms(0), ip(n), mac(1), ArpInput::RequestForUs, &s, &mut rng);
        }
        assert_eq!(c.poll_at(), None);
        let _ = c.poll(ms(600_000), &s, &mut rng);
        assert_eq!(c.len(), 10, "below gc_thresh1 nothing is collected");

        let mut c = NeighborCache::new();
        for n in 0..130 {
            let _ = c.on_arp(ms(0), ip(n), mac(1), ArpInput::RequestForUs, &s, &mut rng);
        }
        assert_eq!(c.poll_at(), Some(ms(15_000)));
        // One entry fails resolution: removed at the next run whatever its age.
        let _ = queued(c.resolve(ms(1000), ip(500), fr(1), &s, &mut rng));
        // One entry is kept busy through DELAY/PROBE and back to REACHABLE.
        let _ = ready(c.resolve(ms(1000), ip(0), fr(2), &s, &mut rng));
        for now in (1000..=60_000).step_by(1000) {
            let _ = c.poll(ms(now), &s, &mut rng);
            if now == 6000 {
                let _ = c.on_arp(ms(now), ip(0), mac(1), REPLY, &s, &mut rng);
            }
            if now == 45_000 {
                assert_eq!(c.len(), 130, "the failed entry went at 15 s");
                assert!(!c.contains(ip(500)));
            }
            c.check(&s).unwrap();
        }
        assert_eq!(c.len(), 1);
        assert!(c.contains(ip(0)));
        assert_eq!(c.stats().periodic_gc_removals, 130);
        assert_eq!(c.poll_at(), None, "no periodic work below gc_thresh1");

        // With gc_thresh1 = 0 the small table is collected too.
        let mut c = NeighborCache::<Frame>::new();
        c.set_gc_thresholds(0, DEFAULT_GC_THRESH2);
        let _ = c.on_arp(ms(0), ip(1), mac(1), ArpInput::RequestForUs, &s, &mut rng);
        for now in (0..=90_000).step_by(5000) {
            let _ = c.poll(ms(now), &s, &mut rng);
        }
        assert!(c.is_empty());
    }

    /// At `gc_thresh3` a new entry is refused when nothing can be evicted (all resolving),
    /// and an ARP request for us is then not learned; once entries fail, the forced GC evicts
    /// the oldest FAILED ones.
    #[test]
    fn table_full_refuses_then_forced_gc_evicts_oldest() {
        let s = Sysctls {
            neigh_gc_thresh3: 4,
            ..Sysctls::default()
        };
        let (mut rng, mut c) = (Rng::new(9), NeighborCache::new());
        c.set_gc_thresholds(0, 2);
        for n in 1..=4 {
            let _ = queued(c.resolve(ms(n.into()), ip(n), fr(n.into()), &s, &mut rng));
        }
        match c.resolve(ms(10), ip(5), fr(5), &s, &mut rng) {
            Resolve::TableFull(f) => assert_eq!(f, fr(5)),
            other => panic!("{other:?}"),
        }
        let _ = c.on_arp(ms(10), ip(6), mac(6), ArpInput::RequestForUs, &s, &mut rng);
        assert!(!c.contains(ip(6)));
        assert_eq!(c.stats().table_fulls, 2);
        for now in (0..=4000).step_by(10) {
            let _ = c.poll(ms(now), &s, &mut rng);
        }
        assert!((1..=4).all(|n| state(&c, n) == Some(NeighborState::Failed)));
        // 4 entries, thresh2 = 2: max_clean = 5 - 2 = 3, the three oldest go.
        let _ = queued(c.resolve(ms(4000), ip(5), fr(5), &s, &mut rng));
        assert_eq!(c.stats().forced_gc_evictions, 3);
        assert_eq!(c.iter().map(|e| e.ip).collect::<Vec<_>>(), [ip(4), ip(5)]);
        c.check(&s).unwrap();
    }

    /// A spray of 100 000 destinations, one per millisecond, never grows the table past
    /// `gc_thresh3`; every frame is accounted for exactly once.
    #[test]
    fn table_bound_under_spray() {
        let s = Sysctls::default();
        let (mut rng, mut c) = (Rng::new(10), NeighborCache::new());
        let (mut full, mut queued_n, mut failed_frames) = (0u64, 0u64, 0u64);
        for i in 0..100_000u32 {
            let now = ms(i.into());
            match c.resolve(now, ip(i), fr(i.into()), &s, &mut rng) {
                Resolve::TableFull(_) => full += 1,
                Resolve::Queued { dropped } => {
                    assert!(dropped.is_empty());
                    queued_n += 1;
                }
                other => panic!("{other:?}"),
            }
            for a in c.poll(now, &s, &mut rng) {
                if let NeighborAction::Failed { frames, .. } = a {
                    failed_frames += frames.len() as u64;
                }
            }
            assert!(c.len() <= 1024);
        }
        c.check(&s).unwrap();
        let still: u64 = c.iter().map(|e| e.queued_frames as u64).sum();
        assert_eq!(queued_n, failed_frames + still);
        assert_eq!(full + queued_n, 100_000);
        assert!(full > 0 && c.stats().forced_gc_evictions > 0);
        assert_eq!(c.stats().table_fulls, full);
    }

    /// ARP replies proposing another MAC are ignored within `locktime` of the last update,
    /// taken after it, and taken at once when gratuitous.
    #[test]
    fn locktime_and_gratuitous_override() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(11), NeighborCache::new());
        let _ = queued(c.resolve(ms(0), ip(1), fr(1), &s, &mut rng));
        let _ = c.on_arp(ms(100), ip(1), mac(1), REPLY, &s, &mut rng);
        let _ = c.on_arp(ms(600), ip(1), mac(2), REPLY, &s, &mut rng);
        assert_eq!(c.lookup(ip(1)).unwrap().mac, Some(mac(1)));
        let _ = c.on_arp(ms(1200), ip(1), mac(2), REPLY, &s, &mut rng);
        assert_eq!(c.lookup(ip(1)).unwrap().mac, Some(mac(2)));
        let garp = ArpInput::Other { gratuitous: true };
        let _ = c.on_arp(ms(1300), ip(1), mac(3), garp, &s, &mut rng);
        let e = c.lookup(ip(1)).unwrap();
        assert_eq!((e.mac, e.state), (Some(mac(3)), NeighborState::Stale));
        // The same MAC in a non-reply keeps the state.
        let _ = c.on_arp(
            ms(5000),
            ip(1),
            mac(3),
            ArpInput::Other { gratuitous: false },
            &s,
            &mut rng,
        );
        assert_eq!(state(&c, 1), Some(NeighborState::Stale));
    }

    /// With `mcast_solicit = 0` there is nothing to resolve with: the entry fails at once and
    /// the frame is dropped.
    #[test]
    fn no_multicast_solicit_drops() {
        let s = Sysctls {
            neigh_mcast_solicit: 0,
            ..Sysctls::default()
        };
        let (mut rng, mut c) = (Rng::new(12), NeighborCache::new());
        match c.resolve(ms(0), ip(1), fr(1), &s, &mut rng) {
            Resolve::Dropped(f) => assert_eq!(f, fr(1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(state(&c, 1), Some(NeighborState::Failed));
        assert_eq!(c.poll_at(), None);
    }

    /// `poll_at` names the earliest due work, and after `poll(now)` it is never at or before
    /// `now`.
    #[test]
    fn poll_at_is_exact_and_never_in_the_past() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(13), NeighborCache::new());
        assert_eq!(c.poll_at(), None);
        let _ = queued(c.resolve(ms(100), ip(1), fr(1), &s, &mut rng));
        assert_eq!(c.poll_at(), Some(ms(100)));
        let _ = c.poll(ms(100), &s, &mut rng);
        assert_eq!(c.poll_at(), Some(ms(1100)));
        let _ = c.on_arp(ms(200), ip(2), mac(2), ArpInput::RequestForUs, &s, &mut rng);
        let _ = ready(c.resolve(ms(300), ip(2), fr(2), &s, &mut rng));
        assert_eq!(c.poll_at(), Some(ms(1100)));
        // Polled late: everything due runs once, and the next deadline is in the future.
        let _ = c.poll(ms(7000), &s, &mut rng);
        assert!(c.poll_at().unwrap() > ms(7000));
        let mut now = ms(7000);
        while let Some(t) = c.poll_at() {
            assert!(t > now);
            now = t;
            let _ = c.poll(now, &s, &mut rng);
        }
        assert!(c.iter().all(|e| e.state == NeighborState::Failed));
    }

    /// `flush` empties the table and hands back queued frames.
    #[test]
    fn flush_returns_queued_frames() {
        let (s, mut rng, mut c) = (Sysctls::default(), Rng::new(14), NeighborCache::new());
        let _ = queued(c.resolve(ms(0), ip(1), fr(1), &s, &mut rng));
        let _ = queued(c.resolve(ms(0), ip(2), fr(2), &s, &mut rng));
        assert_eq!(c.flush(), [fr(1), fr(2)]);
        assert!(c.is_empty() && c.poll_at().is_none());
        assert_eq!(c.stats().destroys, 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Resolve { ip: u32, size: usize },
        Arp { ip: u32, mac: u8, kind: u8 },
        Confirm { ip: u32 },
        Advance { ms: u64 },
        Poll,
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..10u32, 1..3000usize).prop_map(|(ip, size)| Op::Resolve { ip, size }),
            4 => (0..10u32, 0..3u8, 0..5u8).prop_map(|(ip, mac, kind)| Op::Arp { ip, mac, kind }),
            1 => (0..10u32).prop_map(|ip| Op::Confirm { ip }),
            5 => (0..8000u64).prop_map(|ms| Op::Advance { ms }),
            4 => Just(Op::Poll),
            1 => Just(Op::Flush),
        ]
    }

    fn sysctls() -> impl Strategy<Value = Sysctls> {
        (
            0..4u32,
            0..4u32,
            0..3000u64,
            0..3000u64,
            1..6u32,
            0..8000u32,
        )
            .prop_map(|(mcast, ucast, base, retrans, thresh3, qlen)| Sysctls {
                neigh_mcast_solicit: mcast,
                neigh_ucast_solicit: ucast,
                neigh_base_reachable_time: Duration::from_millis(base),
                neigh_retrans_time: Duration::from_millis(retrans),
                neigh_delay_first_probe_time: Duration::from_millis(retrans * 2),
                neigh_gc_stale_time: Duration::from_millis(base * 3),
                neigh_gc_thresh3: thresh3,
                neigh_unres_qlen_bytes: qlen,
                ..Sysctls::default()
            })
    }

    fn give_back(f: Frame, outstanding: &mut Set<u64>) {
        assert!(outstanding.remove(&f.id), "frame {} returned twice", f.id);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any sequence of events: no panic; entries ≤ gc_thresh3; queues within
        /// unres_qlen_bytes (or one frame); indexes consistent; nothing happens before
        /// `poll_at`; `poll_at` is in the future after a poll; every frame comes back once.
        #[test]
        fn arbitrary_event_sequences(
            s in sysctls(),
            seed in any::<u64>(),
            thresh in (0..4u32, 0..4u32),
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut rng = Rng::new(seed);
            let mut c = NeighborCache::<Frame>::new();
            c.set_gc_thresholds(thresh.0, thresh.1);
            let mut now = ms(0);
            let mut next_id = 0u64;
            let mut outstanding = Set::new();
            for op in ops {
                match op {
                    Op::Resolve { ip: n, size } => {
                        next_id += 1;
                        outstanding.insert(next_id);
                        match c.resolve(now, ip(n), Frame { id: next_id, size }, &s, &mut rng) {
                            Resolve::Ready(_, f) | Resolve::Dropped(f) | Resolve::TableFull(f) => {
                                give_back(f, &mut outstanding)
                            }
                            Resolve::Queued { dropped } => {
                                for f in dropped {
                                    give_back(f, &mut outstanding);
                                }
                            }
                        }
                    }
                    Op::Arp { ip: n, mac: m, kind } => {
                        let kind = match kind {
                            0 => ArpInput::RequestForUs,
                            1 => ArpInput::ReplyToUs { gratuitous: false },
                            2 => ArpInput::ReplyToUs { gratuitous: true },
                            3 => ArpInput::Other { gratuitous: false },
                            _ => ArpInput::Other { gratuitous: true },
                        };
                        for (_, f) in c.on_arp(now, ip(n), mac(m), kind, &s, &mut rng) {
                            give_back(f, &mut outstanding);
                        }
                    }
                    Op::Confirm { ip: n } => c.confirm(now, ip(n)),
                    Op::Advance { ms: d } => {
                        let due = c.poll_at().is_some_and(|t| t <= now + Duration::from_millis(d));
                        if !due {
                            // Nothing may happen before poll_at.
                            let mut probe = c.clone();
                            prop_assert!(probe.poll(now + Duration::from_millis(d), &s, &mut rng.clone()).is_empty());
                        }
                        now += Duration::from_millis(d);
                    }
                    Op::Poll => {
                        for a in c.poll(now, &s, &mut rng) {
                            if let NeighborAction::Failed { frames, .. } = a {
                                for f in frames {
                                    give_back(f, &mut outstanding);
                                }
                            }
                        }
                        prop_assert!(c.poll_at().is_none_or(|t| t > now));
                    }
                    Op::Flush => {
                        for f in c.flush() {
                            give_back(f, &mut outstanding);
                        }
                    }
                }
                if let Err(e) = c.check(&s) {
                    return Err(TestCaseError::fail(e));
                }
            }
            let mut still: Set<u64> = Set::new();
            for e in c.entries.values() {
                still.extend(e.queue.iter().map(|f| f.id));
            }
            prop_assert_eq!(still, outstanding);
        }
    }
}
