//! Receive-buffer accounting: the truesize a datagram is charged (L6.2), SO_RCVBUF/SO_SNDBUF
//! arithmetic (L6.1) and receive admission (L6.3).
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
//! So a datagram in a frame of up to 192 bytes costs 832, up to 704 bytes 1280, and any frame up
//! to 1728 bytes (every full-size Ethernet frame) 2304: the reference's observations on Linux
//! 6.18 (832 for tiny payloads, 2304 for 1000–1472-byte payloads) are two points of this
//! function. `truesize` takes the Ethernet frame length: for a datagram that arrived over the
//! link that is the frame's length; for one looped back locally it is the IP length plus 14.

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
