//! UDP output (Linux's `inet_sendmsg` → `udp_sendmsg` → `ip_make_skb` / `ip_append_data` →
//! `udp_send_skb`).
//!
//! The checks run in the kernel's order (L3.1): automatic bind (EAGAIN when no port is free),
//! length above 65535 (EMSGSIZE), MSG_OOB (EOPNOTSUPP); then, unless a corked datagram is
//! pending, destination port 0 (EINVAL), no destination on an unconnected socket
//! (EDESTADDRREQ), no route (ENETUNREACH), broadcast without SO_BROADCAST (EACCES); the size
//! limit of L3.3 (EMSGSIZE, also queued as a local error with IP_RECVERR, L1.9); then the
//! allocation of the datagram's packets (L6.5): a pending error (L1.6), a full send buffer
//! (EAGAIN), twice the send buffer (ENOBUFS).
//!
//! # Corking (L3.2)
//!
//! With UDP_CORK on, or MSG_MORE on a send, the data joins one pending datagram
//! ([`Corked`]): the first call's destination, route, fragment size and TOS are kept, later
//! calls only append (their addresses are not even looked at), and the datagram leaves when a
//! send without MSG_MORE comes while UDP_CORK is off, or when UDP_CORK is turned off. Any error
//! while appending discards the whole pending datagram. Its packets are charged to the send
//! buffer as they are built ([`PacketModel`]), so SIOCOUTQ counts corked data.

use std::net::{Ipv4Addr, SocketAddrV4};

use tracing::debug;

use super::memory::{send_truesize, NoRoom, PacketModel, UdpMemory};
use super::socket::{Corked, ErrQueueEntry, ErrorOrigin, ExtendedError, PmtuMode};
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

/// A datagram ready to go: where, how, and what each of its packets is charged.
struct Outgoing<'a> {
    dst: SocketAddrV4,
    src_addr: Ipv4Addr,
    /// The route, its MTU the fragment size.
    route: OutputRoute,
    tos: u8,
    data: &'a [u8],
    charges: &'a [usize],
}

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
        let result = if s.pending.is_some() {
            // L3.1, L3.2: with a datagram pending the address is not examined.
            self.udp_append(h, data, flags)
        } else {
            let dst = match dst {
                Some(d) if d.port() == 0 => return Err(Errno::EINVAL.into()),
                Some(d) => d,
                None => s.peer.ok_or(Errno::EDESTADDRREQ)?,
            };
            self.udp_send_routed(h, data, dst, flags, may_wait)
        };
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

    /// The part of `udp_sendmsg` from the route lookup on, for a socket with nothing pending:
    /// every failure here goes through its common exit.
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
        // L2.2, L2.3: the MTU in force is the learned path MTU for DONT, WANT and DO
        // (ip_sk_use_pmtu), the device's for PROBE, INTERFACE and OMIT; it sizes fragments too
        // (the cork's fragsize, ip_setup_cork).
        let mtu = usize::from(if s.pmtu_mode.uses_pmtu() {
            self.path_mtu(*dst.ip(), route.mtu).0
        } else {
            route.mtu
        });
        let datagram_len = udp::HEADER_LEN + data.len();
        self.check_size(h, 0, datagram_len, *dst.ip(), mtu)?;
        let s = self.sockets.get_mut(h).ok_or(Errno::EBADF)?;
        // L6.5: the datagram's first packet; sock_alloc_send_pskb returns a pending error first.
        if let Some(err) = s.pending_error.take() {
            // L1.6: the pending error fails the send, which does not send.
            self.stats.ip.out_discards += 1;
            return Err(err.into());
        }
        let src_addr = if s.send_addr.is_unspecified() {
            route.src
        } else {
            s.send_addr
        };
        let route = OutputRoute {
            src: src_addr,
            mtu: mtu as u16,
            ..route
        };
        let (wmem, sndbuf, tos) = (s.wmem_total(), s.sndbuf, s.tos);
        if s.cork || flags.contains(SendFlags::MORE) {
            let mut packets = PacketModel::default();
            if let Err(no_room) = packets.append(datagram_len, mtu, wmem, sndbuf) {
                return Err(self.no_room(h, no_room, may_wait));
            }
            let data = self.pool.copy_of(data);
            debug!(target: "udpstack::udp", %h, %dst, len = data.len(), "corked");
            if let Some(s) = self.sockets.get_mut(h) {
                s.pending = Some(Corked {
                    dst,
                    src_addr,
                    route,
                    tos,
                    data,
                    packets,
                });
            }
            return Ok(datagram_len - udp::HEADER_LEN);
        }
        // The common case, one call: a datagram that fits one packet needs no model.
        let single;
        let model;
        let charges: &[usize] = if datagram_len + ipv4::HEADER_LEN <= mtu {
            if wmem >= sndbuf {
                return Err(self.no_room(h, NoRoom::SendBuffer, may_wait));
            }
            single = [send_truesize(datagram_len + ipv4::HEADER_LEN)];
            &single
        } else {
            let mut packets = PacketModel::default();
            if let Err(no_room) = packets.append(datagram_len, mtu, wmem, sndbuf) {
                return Err(self.no_room(h, no_room, may_wait));
            }
            model = packets.truesizes();
            &model
        };
        self.udp_push(
            h,
            Outgoing {
                dst,
                src_addr,
                route,
                tos,
                data,
                charges,
            },
        )
        .map(|()| data.len())
    }

    /// `do_append_data` with a datagram pending: appends `data`, and sends the datagram unless
    /// more is to come (L3.2). Any error discards it.
    fn udp_append(
        &mut self,
        h: SocketHandle,
        data: &[u8],
        flags: SendFlags,
    ) -> Result<usize, SendStop> {
        let s = self.sockets.get_mut(h).ok_or(Errno::EBADF)?;
        let (sndbuf, in_flight, more) = (
            s.sndbuf,
            s.wmem_alloc,
            s.cork || flags.contains(SendFlags::MORE),
        );
        let Some(mut c) = s.pending.take() else {
            return Err(Errno::EBADF.into());
        };
        let mtu = usize::from(c.route.mtu);
        let length = udp::HEADER_LEN + c.data.len();
        // On any error the datagram is dropped: `c` is not put back (udp_flush_pending_frames).
        self.check_size(h, length, data.len(), *c.dst.ip(), mtu)?;
        let wmem = in_flight + c.packets.truesize();
        if let Err(no_room) = c.packets.append(data.len(), mtu, wmem, sndbuf) {
            return Err(self.no_room(h, no_room, false));
        }
        c.data.extend_from_slice(data);
        if more {
            if let Some(s) = self.sockets.get_mut(h) {
                s.pending = Some(c);
            }
            return Ok(data.len());
        }
        self.udp_push_corked(h, c).map(|()| data.len())
    }

    /// Sends a corked datagram.
    fn udp_push_corked(&mut self, h: SocketHandle, c: Corked) -> Result<(), SendStop> {
        let charges = c.packets.truesizes();
        let result = self.udp_push(
            h,
            Outgoing {
                dst: c.dst,
                src_addr: c.src_addr,
                route: c.route,
                tos: c.tos,
                data: &c.data,
                charges: &charges,
            },
        );
        self.pool.give(c.data);
        result
    }

    /// The size limit of L3.3 for `adding` bytes to a datagram of `length` (`__ip_append_data`):
    /// the MTU in force for modes that do not fragment, 65535 for the others; EMSGSIZE, queued
    /// as a local error with IP_RECVERR (L1.9).
    fn check_size(
        &mut self,
        h: SocketHandle,
        length: usize,
        adding: usize,
        dst: Ipv4Addr,
        mtu: usize,
    ) -> Result<(), Errno> {
        let mode = self.sockets.get(h).ok_or(Errno::EBADF)?.pmtu_mode;
        let limit = if mode.ignores_df() {
            ipv4::MAX_PACKET_LEN
        } else {
            mtu
        };
        if length + adding + ipv4::HEADER_LEN > limit {
            self.local_emsgsize(h, dst, mtu as u32);
            return Err(Errno::EMSGSIZE);
        }
        Ok(())
    }

    /// A packet could not be allocated (L6.5): counted (`__ip_append_data` counts OutDiscards)
    /// and turned into EAGAIN (or a wait) or ENOBUFS.
    fn no_room(&mut self, h: SocketHandle, no_room: NoRoom, may_wait: bool) -> SendStop {
        match no_room {
            NoRoom::SendBuffer => {
                if let Some(s) = self.sockets.get_mut(h) {
                    s.nospace = true;
                }
                if may_wait {
                    return SendStop::Wait;
                }
                self.stats.ip.out_discards += 1;
                Errno::EAGAIN.into()
            }
            NoRoom::TwiceSendBuffer => {
                self.stats.ip.out_discards += 1;
                Errno::ENOBUFS.into()
            }
        }
    }

    /// Sends a built datagram (`udp_push_pending_frames` → `__ip_make_skb` → `udp_send_skb`):
    /// DF, identification and TTL are decided now, with the socket's options as they are now.
    fn udp_push(&mut self, h: SocketHandle, out: Outgoing<'_>) -> Result<(), SendStop> {
        let (path_mtu, locked) = self.path_mtu(*out.dst.ip(), out.route.mtu);
        let s = self.sockets.get_mut(h).ok_or(Errno::EBADF)?;
        let mode = s.pmtu_mode;
        let datagram_len = udp::HEADER_LEN + out.data.len();
        // L2.3: DF per mode; WANT sets it on datagrams that fit the path, unless the path's
        // entry is locked (ip_dont_fragment).
        let dont_frag = match mode {
            PmtuMode::Dont | PmtuMode::Interface | PmtuMode::Omit => false,
            PmtuMode::Do | PmtuMode::Probe => true,
            PmtuMode::Want => datagram_len + ipv4::HEADER_LEN <= usize::from(path_mtu) && !locked,
        };
        // L3.5: a socket with a peer numbers its own datagrams (the counter after the
        // increment); DF without fragmentation rights means 0; anything else hashes.
        let ident = if s.peer.is_some() {
            s.ip_id = s.ip_id.wrapping_add(1);
            IdentMode::Socket(s.ip_id)
        } else if dont_frag && !mode.ignores_df() {
            IdentMode::Zero
        } else {
            IdentMode::Hashed
        };
        let ttl = if out.route.multicast {
            1
        } else {
            s.ttl.unwrap_or(self.config.sysctls.ip_default_ttl)
        };
        let (recv_err, local_port) = (s.recv_err, s.local.port());
        let repr = UdpRepr {
            src_port: local_port,
            dst_port: out.dst.port(),
            payload_len: out.data.len(),
        };
        debug!(target: "udpstack::udp", %h, src = %out.src_addr, dst = %out.dst, len = out.data.len(), "send");
        let tx = IpTx {
            route: out.route,
            src: out.src_addr,
            dst: *out.dst.ip(),
            protocol: IpProtocol::Udp,
            ttl,
            tos: out.tos,
            dont_frag,
            ident,
            payload: Payload::Udp {
                repr,
                data: out.data,
            },
            owner: Some(h),
            charges: out.charges,
            options: crate::wire::ipv4::Ipv4Options::NONE,
        };
        let result = self.ip_output(tx);
        self.drain_loopback();
        match result {
            Ok(()) => {
                self.stats.udp.out_datagrams += 1;
                Ok(())
            }
            Err(Errno::ENOBUFS) if !recv_err => {
                // udp_send_skb: without IP_RECVERR a packet the device refused is only counted.
                self.stats.udp.sndbuf_errors += 1;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// UDP_CORK (L3.2): turning it off sends the pending datagram, if any (errors are not
    /// reported, as `udp_lib_setsockopt` ignores them; the counters still count).
    pub(crate) fn udp_set_cork(&mut self, h: SocketHandle, on: bool) -> Result<(), Errno> {
        let s = self.sockets.get_mut(h).ok_or(Errno::EBADF)?;
        s.cork = on;
        if !on {
            if let Some(c) = s.pending.take() {
                let _ = self.udp_push_corked(h, c);
            }
        }
        Ok(())
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
