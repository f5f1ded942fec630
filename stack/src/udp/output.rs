//! UDP output (Linux's `inet_sendmsg` → `udp_sendmsg` → `ip_make_skb` → `udp_send_skb`).
//!
//! The checks run in the kernel's order (L3.1): automatic bind (EAGAIN when no port is free),
//! length above 65535 (EMSGSIZE), MSG_OOB (EOPNOTSUPP), destination port 0 (EINVAL), no
//! destination on an unconnected socket (EDESTADDRREQ), no route (ENETUNREACH), broadcast
//! without SO_BROADCAST (EACCES), the size limit of L3.3 (EMSGSIZE, also queued as a local error
//! with IP_RECVERR, L1.9), and then a pending error, which the send returns instead of sending
//! (L1.6).

use std::net::{Ipv4Addr, SocketAddrV4};

use tracing::debug;

use super::memory::{datagram_send_truesizes, UdpMemory};
use super::socket::{ErrQueueEntry, ErrorOrigin, ExtendedError, PmtuMode};
use super::{SendFlags, SocketHandle};
use crate::errno::Errno;
use crate::iface::route::OutputRoute;
use crate::iface::stack::Stack;
use crate::ip::output::{IdentMode, IpTx, Payload};
use crate::time::Instant;
use crate::wire::{ipv4, udp, IpProtocol, UdpRepr};

/// What a locally generated error-queue entry is charged: `alloc_skb(sizeof(struct iphdr))`.
const LOCAL_ERROR_TRUESIZE: usize = 832;
/// The largest UDP payload (65535 - 20 - 8).
pub const MAX_PAYLOAD: usize = ipv4::MAX_PACKET_LEN - ipv4::HEADER_LEN - udp::HEADER_LEN;

/// Why a send did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendStop {
    /// It failed with this errno.
    Failed(Errno),
    /// The send buffer is full and the caller may wait for room (a blocking socket): nothing
    /// was counted; try again when the socket is writable.
    Wait,
}

impl From<Errno> for SendStop {
    fn from(e: Errno) -> Self {
        SendStop::Failed(e)
    }
}

impl Stack {
    /// `udp_sendmsg` for socket `h`. With `may_wait`, a full send buffer gives
    /// [`SendStop::Wait`] instead of EAGAIN, for a caller that blocks.
    pub(crate) fn udp_send(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        dst: Option<SocketAddrV4>,
        flags: SendFlags,
        may_wait: bool,
    ) -> Result<usize, SendStop> {
        self.advance_to(now);
        let s = self.sockets.get(h).ok_or(Errno::EBADF)?;
        if !s.is_bound() {
            // inet_send_prepare: autobind before anything else.
            self.autobind(h)?;
        }
        if data.len() > 0xffff {
            return Err(Errno::EMSGSIZE.into());
        }
        if flags.contains(SendFlags::OOB) {
            return Err(Errno::EOPNOTSUPP.into());
        }
        let s = self.sockets.get(h).ok_or(Errno::EBADF)?;
        let dst = match dst {
            Some(d) if d.port() == 0 => return Err(Errno::EINVAL.into()),
            Some(d) => d,
            None => s.peer.ok_or(Errno::EDESTADDRREQ)?,
        };
        let result = self.udp_send_routed(h, data, dst, flags, may_wait);
        if let Err(SendStop::Failed(e)) = result {
            // udp_sendmsg's exit: ENOBUFS, or any failure once the send buffer has been found
            // full (SOCK_NOSPACE, never cleared for UDP), counts SndbufErrors (L6.5).
            let nospace = self.sockets.get(h).is_some_and(|s| s.nospace);
            if e == Errno::ENOBUFS || nospace {
                self.stats.udp.sndbuf_errors += 1;
            }
        }
        result
    }

    /// The part of `udp_sendmsg` from the route lookup on: every failure here goes through its
    /// common exit.
    fn udp_send_routed(
        &mut self,
        h: SocketHandle,
        data: &[u8],
        dst: SocketAddrV4,
        flags: SendFlags,
        may_wait: bool,
    ) -> Result<usize, SendStop> {
        let dont_route = flags.contains(SendFlags::DONTROUTE);
        let send_addr = self.sockets.get(h).ok_or(Errno::EBADF)?.send_addr;
        let route = match self.route_output(send_addr, *dst.ip(), dont_route) {
            Ok(r) => r,
            Err(e) => {
                // udp_sendmsg counts OutNoRoutes for ENETUNREACH only.
                if e == Errno::ENETUNREACH {
                    self.stats.ip.out_no_routes += 1;
                }
                return Err(e.into());
            }
        };
        let s = self.sockets.get(h).ok_or(Errno::EBADF)?;
        if route.broadcast && !s.broadcast {
            return Err(Errno::EACCES.into());
        }
        let mode = s.pmtu_mode;
        // L2.2, L2.3: the MTU in force is the learned path MTU for DONT, WANT and DO
        // (ip_sk_use_pmtu), the device's for PROBE, INTERFACE and OMIT; it sizes fragments too.
        let (path_mtu, locked) = self.path_mtu(*dst.ip(), route.mtu);
        let mtu = usize::from(if mode.uses_pmtu() {
            path_mtu
        } else {
            route.mtu
        });
        // L3.3: EMSGSIZE above 65535 for modes that may fragment, above the MTU in force for
        // the others.
        let limit = if mode.ignores_df() {
            ipv4::MAX_PACKET_LEN
        } else {
            mtu
        };
        let datagram_len = udp::HEADER_LEN + data.len();
        if datagram_len + ipv4::HEADER_LEN > limit {
            self.local_emsgsize(h, *dst.ip(), mtu as u32);
            return Err(Errno::EMSGSIZE.into());
        }
        let s = self.sockets.get_mut(h).ok_or(Errno::EBADF)?;
        if let Some(err) = s.pending_error.take() {
            // L1.6: the pending error fails the send, which does not send.
            return Err(err.into());
        }
        // L6.5 (sock_alloc_send_pskb, then __ip_append_data for each further fragment): the
        // first packet needs the bytes in flight below SO_SNDBUF; each further one needs them,
        // with this datagram's packets so far and the refcount's bias of 1, at most twice
        // SO_SNDBUF, else the whole datagram fails with ENOBUFS.
        if s.wmem_alloc >= s.sndbuf {
            s.nospace = true;
            return Err(if may_wait {
                SendStop::Wait
            } else {
                Errno::EAGAIN.into()
            });
        }
        let mut held = 1 + s.wmem_alloc;
        for (i, cost) in datagram_send_truesizes(datagram_len, mtu).enumerate() {
            if i > 0 && held > 2 * s.sndbuf {
                return Err(Errno::ENOBUFS.into());
            }
            held += cost;
        }
        let src_addr = if s.send_addr.is_unspecified() {
            route.src
        } else {
            s.send_addr
        };
        let src = SocketAddrV4::new(src_addr, s.local.port());
        // L3.5: a socket with a peer numbers its own datagrams (the counter after the
        // increment); DF without fragmentation rights means 0; anything else hashes.
        // L2.3: DF per mode; WANT sets it on datagrams that fit, unless the path's entry is
        // locked (ip_dont_fragment).
        let dont_frag = match mode {
            PmtuMode::Dont | PmtuMode::Interface | PmtuMode::Omit => false,
            PmtuMode::Do | PmtuMode::Probe => true,
            PmtuMode::Want => datagram_len + ipv4::HEADER_LEN <= mtu && !locked,
        };
        let ident = if s.peer.is_some() {
            s.ip_id = s.ip_id.wrapping_add(1);
            IdentMode::Socket(s.ip_id)
        } else if dont_frag && !mode.ignores_df() {
            IdentMode::Zero
        } else {
            IdentMode::Hashed
        };
        let ttl = if route.multicast {
            1
        } else {
            s.ttl.unwrap_or(self.config.sysctls.ip_default_ttl)
        };
        let (tos, recv_err) = (s.tos, s.recv_err);
        let repr = UdpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            payload_len: data.len(),
        };
        debug!(target: "udpstack::udp", %h, %src, %dst, len = data.len(), "send");
        let tx = IpTx {
            route: OutputRoute {
                src: src_addr,
                mtu: mtu as u16,
                ..route
            },
            src: src_addr,
            dst: *dst.ip(),
            protocol: IpProtocol::Udp,
            ttl,
            tos,
            dont_frag,
            ident,
            payload: Payload::Udp { repr, data },
            owner: Some(h),
        };
        let result = self.ip_output(tx);
        self.drain_loopback();
        match result {
            Ok(()) => {
                self.stats.udp.out_datagrams += 1;
                Ok(data.len())
            }
            Err(Errno::ENOBUFS) if !recv_err => {
                // udp_send_skb: without IP_RECVERR a packet the device refused is only counted.
                self.stats.udp.sndbuf_errors += 1;
                Ok(data.len())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// L1.9: a local EMSGSIZE is queued on the error queue with IP_RECVERR (never pending).
    fn local_emsgsize(&mut self, h: SocketHandle, dst: Ipv4Addr, mtu: u32) {
        let Some(s) = self.sockets.get_mut(h) else {
            return;
        };
        if !s.recv_err || s.rmem_alloc + LOCAL_ERROR_TRUESIZE >= s.rcvbuf {
            return;
        }
        let port = s.peer.map_or(0, |p| p.port());
        UdpMemory::charge_error(s, LOCAL_ERROR_TRUESIZE);
        s.err_queue.push_back(ErrQueueEntry {
            error: ExtendedError {
                errno: Errno::EMSGSIZE,
                origin: ErrorOrigin::Local,
                icmp_type: 0,
                icmp_code: 0,
                info: mtu,
                data: 0,
                offender: Ipv4Addr::UNSPECIFIED,
            },
            addr: SocketAddrV4::new(dst, port),
            payload: Vec::new(),
            truesize: LOCAL_ERROR_TRUESIZE,
        });
    }
}
