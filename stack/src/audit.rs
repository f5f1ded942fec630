//! The conservation checker: the books a [`Stack`] keeps must balance after any sequence of
//! events. Tests and fuzz targets call [`Stack::audit`] after every step; a [`Violation`] names
//! the first imbalance found.
//!
//! What it checks:
//!
//! * **Frames**: every frame received (or packet looped back) was delivered to a socket,
//!   consumed by the stack, or dropped for exactly one reason.
//! * **Datagrams**: every copy offered to a socket was queued or refused (`RcvbufErrors`,
//!   `MemErrors`); every queued one was read (`InDatagrams`), is still queued, or went with its
//!   socket when it closed.
//! * **Receive memory** (L6.2–L6.4): each socket's `sk_rmem_alloc` is the truesize of what it
//!   holds — queued datagrams, error-queue entries, and read datagrams not yet released (the
//!   deficit); the pages all sockets hold are exactly their forward allocations plus charges.
//! * **Send memory** (L6.5): each socket's bytes in flight are the truesizes of its frames in the
//!   transmit queue and the neighbours' queues.
//! * **Neighbour queues**: each unresolved neighbour counts exactly the truesizes of the frames
//!   it holds.
//! * **Limits**: a socket holds no more than the largest SO_RCVBUF it has had, except a single
//!   datagram admitted to an empty buffer (L6.3); no more in flight than twice the largest
//!   SO_SNDBUF, plus the packet allocated under the SO_SNDBUF check and a corked datagram's
//!   page-fragment appends, which are not checked (L6.5, L3.2); the reassembler no more than
//!   `ipfrag_high_thresh` plus the one queue and fragment admitted under it (L4.3); an
//!   unresolved neighbour no more than `unres_qlen_bytes`, unless it holds a single frame.

use std::collections::HashMap;
use std::fmt;

use crate::iface::stack::Stack;
use crate::ip::reassembly::QUEUE_OVERHEAD;
use crate::udp::memory::{send_truesize, truesize, PAGE};
use crate::udp::SocketHandle;

/// An imbalance in a stack's books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation(what()))
    }
}

impl Stack {
    /// Checks that the stack's books balance (see [`audit`](crate::audit)).
    ///
    /// # Errors
    /// The first imbalance found.
    pub fn audit(&self) -> Result<(), Violation> {
        let st = &self.stats;
        check(
            st.link.rx_frames + st.link.loopback_rx
                == st.rx_delivered + st.rx_consumed + st.rx_dropped(),
            || {
                format!(
                    "frames: {} received + {} looped back, {} delivered + {} consumed + {} \
                     dropped",
                    st.link.rx_frames,
                    st.link.loopback_rx,
                    st.rx_delivered,
                    st.rx_consumed,
                    st.rx_dropped()
                )
            },
        )?;
        let s = &st.sockets;
        check(
            s.offered == s.queued + st.udp.rcvbuf_errors + st.udp.mem_errors,
            || {
                format!(
                    "datagrams offered to sockets: {} != {} queued + {} RcvbufErrors + {} MemErrors",
                    s.offered, s.queued, st.udp.rcvbuf_errors, st.udp.mem_errors
                )
            },
        )?;
        let still: u64 = self
            .sockets
            .iter()
            .map(|(_, s)| s.rx_queue.len() as u64)
            .sum();
        check(
            s.queued == st.udp.in_datagrams + still + s.discarded_on_close,
            || {
                format!(
                    "datagrams queued: {} != {} read + {} queued + {} discarded on close",
                    s.queued, st.udp.in_datagrams, still, s.discarded_on_close
                )
            },
        )?;
        self.audit_receive_memory()?;
        self.audit_send_memory()?;
        self.audit_bounds()
    }

    fn audit_receive_memory(&self) -> Result<(), Violation> {
        let mut pages_bytes: i64 = 0;
        for (h, s) in self.sockets.iter() {
            let queued: usize = s.rx_queue.iter().map(|d| d.truesize).sum();
            let errors: usize = s.err_queue.iter().map(|e| e.truesize).sum();
            check(s.rmem_alloc == queued + errors + s.forward_deficit, || {
                format!(
                    "{h}: rmem_alloc {} != {queued} queued + {errors} error queue + {} deficit",
                    s.rmem_alloc, s.forward_deficit
                )
            })?;
            check(s.reader_len <= s.rx_queue.len(), || {
                format!("{h}: reader queue {} of {}", s.reader_len, s.rx_queue.len())
            })?;
            check(s.forward_deficit == 0 || s.reader_len > 0, || {
                format!(
                    "{h}: a deficit of {} with the reader's queue empty",
                    s.forward_deficit
                )
            })?;
            let lone = s.rx_queue.len() == 1 && s.forward_deficit == 0 && s.err_queue.is_empty();
            check(s.rmem_alloc <= s.rcvbuf_max || lone, || {
                format!(
                    "{h}: {} bytes held with SO_RCVBUF at most {}",
                    s.rmem_alloc, s.rcvbuf_max
                )
            })?;
            pages_bytes += s.forward_alloc + s.rmem_alloc as i64;
        }
        let reserved = self.udp_mem.reserved();
        check(pages_bytes == reserved * PAGE as i64, || {
            format!(
                "udp_mem: sockets hold {pages_bytes} bytes of forward allocation and charges, \
                 {reserved} pages reserved"
            )
        })
    }

    fn audit_send_memory(&self) -> Result<(), Violation> {
        let mut held: HashMap<SocketHandle, usize> = HashMap::new();
        let frames = self
            .tx
            .iter()
            .chain(self.neighbors.queues().flat_map(|(_, _, q)| q));
        for f in frames {
            if let Some(h) = f.owner {
                *held.entry(h).or_default() += f.truesize;
            }
        }
        for (h, s) in self.sockets.iter() {
            let frames = held.get(&h).copied().unwrap_or(0);
            check(s.wmem_alloc == frames, || {
                format!(
                    "{h}: {} bytes in flight, its frames hold {frames}",
                    s.wmem_alloc
                )
            })?;
            // The largest packet, and 64 KiB of corked appends (a datagram's limit).
            let bound = 2 * s.sndbuf_max + send_truesize(MAX_IP) + MAX_IP;
            check(s.wmem_total() <= bound, || {
                format!(
                    "{h}: {} bytes charged to a send buffer of at most {}",
                    s.wmem_total(),
                    s.sndbuf_max
                )
            })?;
        }
        Ok(())
    }

    fn audit_bounds(&self) -> Result<(), Violation> {
        let s = &self.config.sysctls;
        let reasm = self.reassembler.memory() as u64;
        // Checked before a fragment is added: one queue and one fragment may pass it.
        let slack = (QUEUE_OVERHEAD + truesize(MAX_IP + 14)) as u64;
        check(reasm <= s.ipfrag_high_thresh + slack, || {
            format!(
                "reassembly holds {reasm} bytes, ipfrag_high_thresh {}",
                s.ipfrag_high_thresh
            )
        })?;
        for (ip, bytes, queue) in self.neighbors.queues() {
            let held: u64 = queue.iter().map(|f| f.truesize as u64).sum();
            check(bytes == held, || {
                format!("neighbour {ip} counts {bytes} bytes, its frames hold {held}")
            })?;
            check(
                bytes <= u64::from(s.neigh_unres_qlen_bytes) || queue.len() == 1,
                || {
                    format!(
                        "neighbour {ip} queues {bytes} bytes in {} frames, unres_qlen_bytes {}",
                        queue.len(),
                        s.neigh_unres_qlen_bytes
                    )
                },
            )?;
        }
        Ok(())
    }
}

/// The largest IPv4 packet.
const MAX_IP: usize = 65_535;

#[cfg(test)]
mod tests {
    //! The checker must be able to fail: each test builds a stack whose books balance, breaks
    //! one entry the way a bug would, and expects the audit to name it.
    use std::net::{Ipv4Addr, SocketAddrV4};

    use crate::config::Config;
    use crate::config::Ipv4Cidr;
    use crate::iface::stack::Stack;
    use crate::time::Instant;
    use crate::udp::SocketHandle;
    use crate::wire::{golden, MacAddr};

    /// The golden frames' receiver (10.0.0.2) with a socket on port 7 holding one datagram.
    fn holding_one() -> (Stack, SocketHandle) {
        let config = Config::default()
            .addr(Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24).unwrap())
            .mac(MacAddr([2, 0, 0, 0, 0, 2]));
        let mut s = Stack::new(config, 1).unwrap();
        let h = s.udp_socket();
        s.bind(h, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 7))
            .unwrap();
        s.handle_frame(Instant::ZERO, golden::UDP_DATAGRAM);
        assert_eq!(s.audit(), Ok(()));
        assert_eq!(s.sockets.get(h).unwrap().rx_queue.len(), 1);
        (s, h)
    }

    fn violation(s: &Stack) -> String {
        s.audit().expect_err("the imbalance is found").0
    }

    #[test]
    fn a_frame_counted_nowhere_is_found() {
        let (mut s, _) = holding_one();
        s.stats.rx_delivered -= 1;
        assert!(violation(&s).starts_with("frames:"), "{}", violation(&s));
    }

    #[test]
    fn a_datagram_lost_from_a_queue_is_found() {
        let (mut s, h) = holding_one();
        s.sockets.get_mut(h).unwrap().rx_queue.clear();
        assert!(
            violation(&s).starts_with("datagrams queued"),
            "{}",
            violation(&s)
        );
    }

    #[test]
    fn a_refusal_without_its_counter_is_found() {
        let (mut s, _) = holding_one();
        s.stats.sockets.offered += 1;
        assert!(
            violation(&s).starts_with("datagrams offered"),
            "{}",
            violation(&s)
        );
    }

    #[test]
    fn a_charge_without_a_datagram_is_found() {
        let (mut s, h) = holding_one();
        s.sockets.get_mut(h).unwrap().rmem_alloc += 1;
        assert!(violation(&s).contains("rmem_alloc"), "{}", violation(&s));
    }

    #[test]
    fn pages_not_matching_the_sockets_are_found() {
        let (mut s, h) = holding_one();
        s.sockets.get_mut(h).unwrap().forward_alloc += 1;
        assert!(violation(&s).starts_with("udp_mem"), "{}", violation(&s));
    }

    #[test]
    fn send_memory_without_frames_is_found() {
        let (mut s, h) = holding_one();
        s.sockets.get_mut(h).unwrap().wmem_alloc += 832;
        assert!(violation(&s).contains("in flight"), "{}", violation(&s));
    }

    #[test]
    fn more_than_rcvbuf_is_found() {
        let (mut s, h) = holding_one();
        // A second datagram past the buffer the socket ever had (admitting it is a bug).
        s.handle_frame(Instant::ZERO, golden::UDP_DATAGRAM);
        let sock = s.sockets.get_mut(h).unwrap();
        assert_eq!(sock.rx_queue.len(), 2);
        sock.rcvbuf_max = sock.rmem_alloc - 1;
        assert!(violation(&s).contains("SO_RCVBUF"), "{}", violation(&s));
    }
}
