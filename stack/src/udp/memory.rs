//! Receive-buffer accounting: the truesize a datagram is charged (L6.2), SO_RCVBUF/SO_SNDBUF
//! arithmetic (L6.1), receive admission (L6.3), and the pages all sockets hold against
//! `udp_mem` (L6.4, [`UdpMemory`]).
//!
//! # truesize
//!
//! Linux charges a socket not the payload but the memory the packet occupies: its `sk_buff`
//! and the allocation holding the frame. For a frame written to a TAP device, `tun_get_user`
//! allocates with `sock_alloc_send_pskb`, which ends in `__alloc_skb(64 + frame_len)`:
//!
//! * the data size is `SKB_DATA_ALIGN(NET_SKB_PAD + frame_len)` (64 bytes of headroom, rounded
//!   up to a 64-byte cache line) plus 320 bytes of `skb_shared_info`;
//! * if that fits in 576 bytes it comes from the small-head cache (`SKB_SMALL_HEAD_CACHE_SIZE`,
//!   576 on x86-64), otherwise from kmalloc, which rounds up to a power of two;
//! * `truesize` is that allocation plus 256, the cache-aligned `struct sk_buff`.
//!
//! So a datagram in a frame of up to 192 bytes costs 832, up to 640 bytes 1280, and any frame up
//! to 1664 bytes (every full-size Ethernet frame) 2304: the reference's observations on Linux
//! 6.18 (832 for tiny payloads, 2304 for 1000–1472-byte payloads) are two points of this
//! function. `truesize` takes the Ethernet frame length: for a datagram that arrived over the
//! link that is the frame's length; for one looped back locally it is the IP length plus 14.

use super::socket::UdpSocket;
use crate::config::Sysctls;

/// `SKB_DATA_ALIGN(sizeof(struct sk_buff))` on x86-64.
const SK_BUFF: usize = 256;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64.
const SHARED_INFO: usize = 320;
/// `NET_SKB_PAD`: headroom reserved in front of a received frame.
const NET_SKB_PAD: usize = 64;
/// `SKB_SMALL_HEAD_CACHE_SIZE` on x86-64.
const SMALL_HEAD: usize = 576;
/// `SOCK_MIN_RCVBUF`: the smallest receive buffer (2048 + sizeof(struct sk_buff)).
pub const SOCK_MIN_RCVBUF: usize = 2304;
/// `SOCK_MIN_SNDBUF`: the smallest send buffer (twice SOCK_MIN_RCVBUF).
pub const SOCK_MIN_SNDBUF: usize = 4608;

/// What a received frame of `frame_len` bytes is charged to a socket (L6.2).
pub fn truesize(frame_len: usize) -> usize {
    let data = (NET_SKB_PAD + frame_len).next_multiple_of(64) + SHARED_INFO;
    let alloc = if data <= SMALL_HEAD {
        SMALL_HEAD
    } else {
        data.next_power_of_two()
    };
    SK_BUFF + alloc
}

/// `LL_RESERVED_SPACE` of an Ethernet device (16) plus the 15 bytes `__ip_append_data` adds
/// for alignment (`alloc_extra`).
const SEND_HEADROOM: usize = 31;

/// What a sent IP packet of `ip_len` bytes costs its socket's send buffer (L6.5): the buffer
/// `__ip_append_data` allocates for it (the packet linear, plus headroom) from the same caches
/// as [`truesize`], plus the `sk_buff`. Each fragment of a datagram is a packet of its own.
/// On Linux 6.18 (obs): 832 for a datagram of up to 197 bytes of payload, 1280 up to 645,
/// 2304 up to a full 1500-byte frame; 3000 bytes of payload in three fragments cost
/// 2304 + 2304 + 832.
pub fn send_truesize(ip_len: usize) -> usize {
    let data = (ip_len + SEND_HEADROOM).next_multiple_of(64) + SHARED_INFO;
    let alloc = if data <= SMALL_HEAD {
        SMALL_HEAD
    } else {
        data.next_power_of_two()
    };
    SK_BUFF + alloc
}

/// Why a datagram's next packet could not be allocated (L6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The datagram's first packet: the bytes in flight have reached SO_SNDBUF (EAGAIN, or a
    /// wait for a blocking socket).
    SendBuffer,
    /// A later packet would take the bytes in flight past twice SO_SNDBUF (ENOBUFS).
    TwiceSendBuffer,
}

/// The packets (`sk_buff`s) a datagram is built in, as `__ip_append_data` builds them for a
/// device with scatter-gather, call by call (one call, or several while corked, L3.2): each
/// packet's IP length and truesize.
///
/// A call's bytes (the UDP header counts on the first call) first fill the last packet — up
/// to the MTU if they all fit, else up to the last 8-byte boundary (`maxfraglen`) — as page
/// fragments, which cost their length exactly; what is left goes into new packets allocated to
/// size ([`send_truesize`]), each a fragment of Linux's layout (L3.4), taking from the one
/// before any bytes past its boundary (`fraggap`). The datagram's very first packet needs the
/// bytes in flight below SO_SNDBUF (`sock_alloc_send_skb`); every other new packet needs them,
/// with what this call allocated so far and the refcount's bias of 1, at most twice SO_SNDBUF.
/// Page fragments are not checked. So a corked datagram's SIOCOUTQ is not a function of its
/// length alone: 12 bytes in one call cost 832, in two calls of 6, 838 (obs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PacketModel {
    /// (IP length, truesize) of each packet, in order.
    pub packets: Vec<(usize, usize)>,
}

impl PacketModel {
    /// What the packets cost in all.
    pub fn truesize(&self) -> usize {
        self.packets.iter().map(|p| p.1).sum()
    }

    /// The packets' truesizes, in order.
    pub fn truesizes(&self) -> Vec<usize> {
        self.packets.iter().map(|p| p.1).collect()
    }

    /// Appends `length` bytes at MTU `mtu` for a socket with `wmem` bytes in flight (corked
    /// packets included) and SO_SNDBUF `sndbuf`; returns the truesize added.
    pub fn append(
        &mut self,
        mut length: usize,
        mtu: usize,
        wmem: usize,
        sndbuf: usize,
    ) -> Result<usize, NoRoom> {
        let header = crate::wire::ipv4::HEADER_LEN;
        let mtu = mtu.max(header + 8);
        let maxfraglen = ((mtu - header) & !7) + header;
        let mut added = 0;
        while length > 0 {
            if let Some(last) = self.packets.last_mut() {
                let mut room = mtu.saturating_sub(last.0);
                if room < length {
                    room = maxfraglen.saturating_sub(last.0);
                }
                if room > 0 {
                    let copy = room.min(length);
                    last.0 += copy;
                    last.1 += copy;
                    added += copy;
                    length -= copy;
                    continue;
                }
            }
            let fraggap = self
                .packets
                .last()
                .map_or(0, |p| p.0.saturating_sub(maxfraglen));
            let mut datalen = length + fraggap;
            if datalen > mtu - header {
                datalen = maxfraglen - header;
            }
            if self.packets.is_empty() {
                if wmem >= sndbuf {
                    return Err(NoRoom::SendBuffer);
                }
            } else if 1 + wmem + added > 2 * sndbuf {
                return Err(NoRoom::TwiceSendBuffer);
            }
            let truesize = send_truesize(datalen + header);
            if let Some(prev) = self.packets.last_mut() {
                prev.0 -= fraggap;
            }
            self.packets.push((datalen + header, truesize));
            added += truesize;
            length -= datalen - fraggap;
        }
        Ok(added)
    }
}

/// The stored SO_RCVBUF for a setsockopt value (L6.1): doubled, capped by `rmem_max` (unless
/// forced), at least [`SOCK_MIN_RCVBUF`].
pub fn rcvbuf_for(value: i32, rmem_max: u32, force: bool) -> usize {
    buffer_for(value, rmem_max, force, SOCK_MIN_RCVBUF)
}

/// The stored SO_SNDBUF for a setsockopt value (L6.1): doubled, capped by `wmem_max` (unless
/// forced), at least [`SOCK_MIN_SNDBUF`].
pub fn sndbuf_for(value: i32, wmem_max: u32, force: bool) -> usize {
    buffer_for(value, wmem_max, force, SOCK_MIN_SNDBUF)
}

/// `sk_setsockopt`: SO_RCVBUF/SO_SNDBUF take `min_t(u32, val, max)`, so a negative value,
/// read as a huge unsigned one, gets the maximum; the FORCE variants take `max(val, 0)`. Then
/// `val = min(val, INT_MAX / 2)`, stored as `max(val * 2, min)`.
fn buffer_for(value: i32, max: u32, force: bool, min: usize) -> usize {
    let v = if force {
        u64::from(value.max(0).unsigned_abs())
    } else {
        u64::from(value as u32).min(u64::from(max))
    };
    let v = v.min((i32::MAX / 2) as u64);
    (v as usize * 2).max(min)
}

/// Receive admission (L6.3, Linux 6.18 `__udp_enqueue_schedule_skb`): accepted iff it fits, or
/// nothing is charged to the socket yet (so even a tiny buffer always takes one datagram).
pub fn admits(rmem_alloc: usize, truesize: usize, rcvbuf: usize) -> bool {
    rmem_alloc + truesize <= rcvbuf || rmem_alloc == 0
}

/// The page size the kernel accounts socket memory in (`PAGE_SIZE`, `SK_MEM_QUANTUM`).
pub const PAGE: usize = 4096;

/// `sk_mem_pages`: whole pages needed for `bytes`.
fn pages_for(bytes: usize) -> usize {
    bytes.div_ceil(PAGE)
}

/// Why a datagram was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The socket's receive buffer is full (L6.3): `RcvbufErrors`.
    Rcvbuf,
    /// `udp_mem` refused the pages (L6.4): `MemErrors`.
    Memory,
}

/// The memory all UDP sockets of a stack hold, in pages (`udp_memory_allocated`), with the
/// per-CPU reserve Linux batches updates through (`per_cpu_fw_alloc`, for one CPU).
///
/// # How Linux accounts a socket's receive memory (6.18)
///
/// * **Forward allocation.** A socket charges each queued datagram's truesize to
///   `sk_rmem_alloc`, and pays for it from `sk_forward_alloc`, bytes it has already reserved
///   from the global pool. When the reserve is short, it reserves the missing bytes rounded up
///   to whole pages (`udp_rmem_schedule` → `__sk_mem_schedule`), which `udp_mem` may refuse
///   (L6.4): at or under `udp_mem[0]` pages in all, granted; over `udp_mem[2]`, refused; in
///   between, granted only while the socket holds less than `udp_rmem_min` (its
///   `sk_rmem_alloc`, the new datagram included). `udp_mem[1]`, "pressure", changes nothing
///   for UDP.
/// * **Deferred release.** A datagram read is not uncharged at once (`udp_rmem_release`): its
///   truesize joins a deficit, released — `sk_rmem_alloc` lowered, whole free pages returned
///   to the pool — only when the deficit reaches a quarter of the receive buffer, or when no
///   datagram is left in the reader's queue. Until then the memory still counts against
///   SO_RCVBUF, so a full socket that reads one datagram may still refuse the next (the
///   `rx_queue` column of `/proc/net/udp` shows `sk_rmem_alloc` minus the deficit).
/// * **Two queues.** Arrivals go to `sk_receive_queue`; a reader works from its own
///   `reader_queue` and moves everything over when that is empty (and after each release).
///   "No datagram left" means in the reader's queue.
/// * **Error-queue entries** are charged to `sk_rmem_alloc` and taken from the forward
///   allocation without asking the pool (`sk_mem_charge`); freeing one returns whole pages
///   (`sk_mem_reclaim`).
/// * **The per-CPU reserve.** Page counts reach the global counter in batches: each CPU
///   collects changes until they reach `net.core.mem_pcpu_rsv` pages (256) either way. The
///   limits are compared with the global counter, so they can be overshot by up to that much.
///   udpstack has one CPU; set `mem_pcpu_rsv` to 0 for exact accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpMemory {
    /// The global counter (`udp_memory_allocated`), in pages.
    allocated: i64,
    /// Changes not yet folded into it (this CPU's `per_cpu_fw_alloc`).
    pcpu: i64,
}

impl UdpMemory {
    /// The pages the limits are compared with (what `/proc/net/sockstat` shows as `mem`).
    pub fn allocated(&self) -> u64 {
        self.allocated.max(0) as u64
    }

    /// The pages actually reserved by sockets, the per-CPU reserve included.
    pub fn reserved(&self) -> i64 {
        self.allocated + self.pcpu
    }

    /// `sk_memory_allocated_add`.
    fn add(&mut self, pages: i64, rsv: i64) {
        self.pcpu += pages;
        if self.pcpu >= rsv {
            self.drain();
        }
    }

    /// `sk_memory_allocated_sub`.
    fn sub(&mut self, pages: i64, rsv: i64) {
        self.pcpu -= pages;
        if self.pcpu <= -rsv {
            self.drain();
        }
    }

    /// `proto_memory_pcpu_drain`.
    fn drain(&mut self) {
        self.allocated += self.pcpu;
        self.pcpu = 0;
    }

    /// `__sk_mem_raise_allocated` for a receive: reserves `pages` for a socket holding
    /// `rmem_alloc` bytes (the new datagram included), or refuses them.
    fn raise(&mut self, pages: usize, rmem_alloc: usize, s: &Sysctls) -> bool {
        let rsv = i64::from(s.mem_pcpu_rsv);
        let pages = pages as i64;
        self.add(pages, rsv);
        let allocated = self.allocated();
        let granted = allocated <= s.udp_mem[0]
            || (allocated <= s.udp_mem[2] && rmem_alloc < s.udp_rmem_min as usize);
        if !granted {
            self.sub(pages, rsv);
        }
        granted
    }

    /// Queues-to-be: charges a received datagram of `size` (truesize) to `sock`, or says why
    /// not (`__udp_enqueue_schedule_skb`, L6.3 then L6.4). On success the caller queues it.
    pub(crate) fn charge_datagram(
        &mut self,
        sock: &mut UdpSocket,
        size: usize,
        s: &Sysctls,
    ) -> Result<(), Refusal> {
        if !admits(sock.rmem_alloc, size, sock.rcvbuf) {
            return Err(Refusal::Rcvbuf);
        }
        sock.rmem_alloc += size;
        // udp_rmem_schedule
        let short = size as i64 - sock.forward_alloc;
        if short > 0 {
            let pages = pages_for(short as usize);
            if !self.raise(pages, sock.rmem_alloc, s) {
                sock.rmem_alloc -= size;
                return Err(Refusal::Memory);
            }
            sock.forward_alloc += (pages * PAGE) as i64;
        }
        sock.forward_alloc -= size as i64;
        Ok(())
    }

    /// `udp_rmem_release(size, partial = 1)` after the reader took a datagram of `size` off the
    /// front of `sock`'s queue.
    pub(crate) fn release_read(&mut self, sock: &mut UdpSocket, size: usize, s: &Sysctls) {
        sock.forward_deficit += size;
        if sock.forward_deficit < sock.rcvbuf >> 2 && sock.reader_len > 0 {
            return;
        }
        let size = std::mem::take(&mut sock.forward_deficit);
        self.release(sock, size, 1, s);
    }

    /// The release proper: `size` bytes uncharged, whole free pages (keeping `partial` bytes
    /// back) returned, and the reader's queue refilled.
    fn release(&mut self, sock: &mut UdpSocket, size: usize, partial: i64, s: &Sysctls) {
        let free = sock.forward_alloc + size as i64 - partial;
        let pages = if free > 0 { free / PAGE as i64 } else { 0 };
        sock.forward_alloc += size as i64 - pages * PAGE as i64;
        if pages > 0 {
            self.sub(pages, i64::from(s.mem_pcpu_rsv));
        }
        sock.rmem_alloc -= size;
        sock.reader_len = sock.rx_queue.len();
    }

    /// `skb_set_owner_r` for an error-queue entry of `size` (truesize): charged, paid from the
    /// forward allocation (which may go negative), nothing asked of the pool.
    pub(crate) fn charge_error(sock: &mut UdpSocket, size: usize) {
        sock.rmem_alloc += size;
        sock.forward_alloc -= size as i64;
    }

    /// `sock_rfree` for an error-queue entry of `size`: uncharged, and whole free pages of the
    /// forward allocation returned (`sk_mem_reclaim`).
    pub(crate) fn release_error(&mut self, sock: &mut UdpSocket, size: usize, s: &Sysctls) {
        sock.rmem_alloc -= size;
        sock.forward_alloc += size as i64;
        self.reclaim(sock, s);
    }

    /// `sk_mem_reclaim`: returns the forward allocation's whole pages.
    fn reclaim(&mut self, sock: &mut UdpSocket, s: &Sysctls) {
        if sock.forward_alloc >= PAGE as i64 {
            let pages = sock.forward_alloc / PAGE as i64;
            sock.forward_alloc -= pages * PAGE as i64;
            self.sub(pages, i64::from(s.mem_pcpu_rsv));
        }
    }

    /// A socket closed (`udp_destruct_sock`, `inet_sock_destruct`): everything it held goes
    /// back to the pool.
    pub(crate) fn release_socket(&mut self, sock: &mut UdpSocket, s: &Sysctls) {
        let queued: usize = sock.rx_queue.drain(..).map(|d| d.truesize).sum();
        let size = queued + std::mem::take(&mut sock.forward_deficit);
        self.release(sock, size, 0, s);
        let errors: Vec<usize> = sock.err_queue.drain(..).map(|e| e.truesize).collect();
        for size in errors {
            self.release_error(sock, size, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truesize_matches_the_kernel_observations() {
        // L6.2: 832 for tiny payloads, 2304 for 1000–1472-byte payloads (42 bytes of headers).
        for payload in [0, 1, 10, 100, 150] {
            assert_eq!(truesize(42 + payload), 832, "payload {payload}");
        }
        for payload in [1000, 1200, 1472] {
            assert_eq!(truesize(42 + payload), 2304, "payload {payload}");
        }
        assert_eq!(truesize(42 + 151), 1280);
        assert_eq!(truesize(42 + 662), 2304);
    }

    #[test]
    fn send_truesize_matches_the_kernel_observations() {
        // L6.5 (obs on Linux 6.18, SIOCOUTQ with the next hop unresolved): 832 for payloads up
        // to 197 bytes, 1280 up to 645, 2304 up to 1472; fragments each their own packet.
        let one = |payload: usize| {
            let mut m = PacketModel::default();
            m.append(8 + payload, 1500, 0, 1 << 20).unwrap();
            m.truesize()
        };
        for (payload, cost) in [
            (0, 832),
            (100, 832),
            (197, 832),
            (198, 1280),
            (500, 1280),
            (645, 1280),
            (646, 2304),
            (1000, 2304),
            (1472, 2304),
            (1473, 2304 + 832),
            (3000, 5440),
            (8000, 12_800),
        ] {
            assert_eq!(one(payload), cost, "payload {payload}");
        }
    }

    #[test]
    fn corked_appends_cost_what_linux_charges() {
        // L3.2, L6.6 (obs on Linux 6.18, SIOCOUTQ while corked): appends fill the last packet
        // as page fragments, byte for byte; the rest goes into new packets.
        let mut m = PacketModel::default();
        let mut seen = Vec::new();
        m.append(8 + 6, 1500, 0, 1 << 20).unwrap();
        seen.push(m.truesize());
        for _ in 0..3 {
            m.append(6, 1500, m.truesize(), 1 << 20).unwrap();
            seen.push(m.truesize());
        }
        assert_eq!(seen, [832, 838, 844, 850]);
        let mut m = PacketModel::default();
        let mut seen = Vec::new();
        m.append(8 + 500, 1500, 0, 1 << 20).unwrap();
        seen.push(m.truesize());
        for _ in 0..5 {
            m.append(500, 1500, m.truesize(), 1 << 20).unwrap();
            seen.push(m.truesize());
        }
        assert_eq!(seen, [1280, 1780, 3084, 3584, 4084, 5368]);
        // Uncorked, the same sizes as one call: 5 + 7 bytes at once cost 832, not 839.
        let mut m = PacketModel::default();
        m.append(8 + 5, 1500, 0, 1 << 20).unwrap();
        m.append(7, 1500, m.truesize(), 1 << 20).unwrap();
        assert_eq!(m.truesize(), 839);
    }

    #[test]
    fn later_packets_stop_at_twice_the_send_buffer() {
        // L6.5 (obs, SO_SNDBUF 4608, corked: 10 bytes, then 1400-byte appends; the fifth fails
        // with ENOBUFS when 1 + 9570 + 302 > 9216).
        let mut m = PacketModel::default();
        m.append(8 + 10, 1500, 0, 4608).unwrap();
        for _ in 0..4 {
            m.append(1400, 1500, m.truesize(), 4608).unwrap();
        }
        assert_eq!(m.truesize(), 9570);
        assert_eq!(
            m.append(1400, 1500, m.truesize(), 4608),
            Err(NoRoom::TwiceSendBuffer)
        );
        // The first packet needs room below SO_SNDBUF.
        assert_eq!(
            PacketModel::default().append(18, 1500, 4608, 4608),
            Err(NoRoom::SendBuffer)
        );
        // A layout at an MTU whose payload is not a multiple of 8 (1006: 984-byte fragments):
        // a packet filled to the MTU gives its tail to the next one.
        let mut m = PacketModel::default();
        m.append(8 + 978, 1006, 0, 1 << 20).unwrap();
        assert_eq!(m.packets.iter().map(|p| p.0).collect::<Vec<_>>(), [1006]);
        m.append(100, 1006, m.truesize(), 1 << 20).unwrap();
        assert_eq!(
            m.packets.iter().map(|p| p.0).collect::<Vec<_>>(),
            [1004, 122]
        );
    }

    #[test]
    fn so_rcvbuf_doubles_and_clamps() {
        // L6.1 (obs: 1153 -> 2306, 1000 -> 2304).
        assert_eq!(rcvbuf_for(1153, 4_194_304, false), 2306);
        assert_eq!(rcvbuf_for(1000, 4_194_304, false), 2304);
        assert_eq!(rcvbuf_for(4096, 4_194_304, false), 8192);
        assert_eq!(rcvbuf_for(i32::MAX, 212_992, false), 425_984);
        assert_eq!(
            rcvbuf_for(i32::MAX, 212_992, true),
            (i32::MAX / 2) as usize * 2
        );
        // SO_RCVBUF compares as u32: a negative value gets rmem_max; the FORCE variant
        // clamps it to 0.
        assert_eq!(rcvbuf_for(-5, 212_992, false), 425_984);
        assert_eq!(rcvbuf_for(-5, 212_992, true), 2304);
        assert_eq!(sndbuf_for(i32::MIN, 212_992, false), 425_984);
        assert_eq!(sndbuf_for(-1, 212_992, true), 4608);
        assert_eq!(sndbuf_for(100, 212_992, false), 4608);
    }

    #[test]
    fn admission_counts_match_the_kernel() {
        // L6.3 (obs: with rcvbuf 8192, 9 tiny or 3 × 1472-byte datagrams).
        for (frame, expected) in [(42 + 10, 9), (42 + 1472, 3)] {
            let mut rmem = 0;
            let mut admitted = 0;
            while admits(rmem, truesize(frame), 8192) {
                rmem += truesize(frame);
                admitted += 1;
            }
            assert_eq!(admitted, expected, "frame {frame}");
        }
        // An empty queue takes one datagram whatever its size.
        assert!(admits(0, 100_000, 2304));
        assert!(!admits(1, 100_000, 2304));
    }
}
