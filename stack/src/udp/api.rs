//! The socket calls of a [`Stack`], by handle: what `socket`, `bind`, `connect`, `sendto`,
//! `recvmsg`, `getsockopt` and `setsockopt` do on a Linux UDP socket, as non-blocking calls
//! (blocking belongs to the runtime). Errors are `std::io::Error`s with Linux's errno values.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use tracing::debug;

use super::memory::{rcvbuf_for, sndbuf_for};
use super::output::SendStop;
use super::socket::{ExtendedError, PmtuMode, UdpSocket};
use super::{ports, RecvFlags, SendFlags, SocketHandle};
use crate::errno::Errno;
use crate::iface::route;
use crate::iface::stack::Stack;
use crate::time::Instant;

/// What [`Stack::recv_with`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes copied, or the datagram's full length with [`RecvFlags::TRUNC`] (L7.6).
    pub len: usize,
    /// The sender.
    pub from: SocketAddrV4,
    /// The datagram was longer than the buffer (`MSG_TRUNC` in `msg_flags`).
    pub truncated: bool,
}

/// What [`Stack::recv_error`] read from the error queue (L1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMessage {
    /// Bytes of the entry's payload copied (the quoted data after the UDP header).
    pub len: usize,
    /// The payload was longer than the buffer.
    pub truncated: bool,
    /// `msg_name`: the quoted destination, or for a local error (destination, peer port or 0).
    pub addr: SocketAddrV4,
    /// The extended error.
    pub error: ExtendedError,
}

/// What `poll(2)` would report for a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// POLLIN: a datagram is queued.
    pub readable: bool,
    /// POLLOUT: a send would not block.
    pub writable: bool,
    /// POLLERR: an error is pending or queued (L1.6).
    pub error: bool,
}

fn ebadf() -> io::Error {
    Errno::EBADF.to_io()
}

impl Stack {
    /// Opens a UDP socket (`socket(AF_INET, SOCK_DGRAM, 0)`), unbound, with the default buffer
    /// sizes (`rmem_default`, `wmem_default`).
    pub fn udp_socket(&mut self) -> SocketHandle {
        let s = &self.config.sysctls;
        let mut socket = UdpSocket::new(s.rmem_default as usize, s.wmem_default as usize);
        // inet_create (L2.4): WANT, or DONT when ip_no_pmtu_disc is set.
        socket.pmtu_mode = if s.ip_no_pmtu_disc != 0 {
            PmtuMode::Dont
        } else {
            PmtuMode::Want
        };
        let h = self.sockets.insert(socket);
        debug!(target: "udpstack::udp", %h, "socket");
        h
    }

    /// Closes a socket; its queued datagrams and errors are freed.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn close(&mut self, h: SocketHandle) -> io::Result<()> {
        let mut s = self.sockets.remove(h).ok_or_else(ebadf)?;
        self.stats.sockets.discarded_on_close += s.rx_queue.len() as u64;
        // udp_destruct_sock: what it held goes back to udp_mem.
        self.udp_mem.release_socket(&mut s, &self.config.sysctls);
        Ok(())
    }

    /// The number of open sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// `bind(2)` (L7.1, L7.2; port 0 picks an ephemeral port, L8.1). The process is treated as
    /// privileged: ports below 1024 are allowed.
    ///
    /// # Errors
    /// `EINVAL` if already bound or connected; `EADDRNOTAVAIL` for an address that is not ours,
    /// not a broadcast address and not 0.0.0.0; `EADDRINUSE` on a conflict or when no ephemeral
    /// port is free.
    pub fn bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> io::Result<()> {
        let iface = &self.config.iface;
        let ip = *addr.ip();
        let valid = ip.is_unspecified()
            || route::is_local(iface, ip)
            || route::is_broadcast(iface, ip)
            || ip.is_multicast();
        let s = self.sockets.get(h).ok_or_else(ebadf)?;
        if !valid {
            return Err(Errno::EADDRNOTAVAIL.into());
        }
        if s.is_bound() || s.peer.is_some() {
            return Err(Errno::EINVAL.into());
        }
        let (reuse_addr, reuse_port) = (s.reuse_addr, s.reuse_port);
        let port = if addr.port() == 0 {
            self.pick_port(h, ip)
                .ok_or_else(|| io::Error::from(Errno::EADDRINUSE))?
        } else {
            if self
                .sockets
                .conflicts(Some(h), ip, addr.port(), reuse_addr, reuse_port)
            {
                return Err(Errno::EADDRINUSE.into());
            }
            addr.port()
        };
        let broadcast_or_multicast =
            route::is_broadcast(&self.config.iface, ip) || ip.is_multicast();
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        s.local = SocketAddrV4::new(ip, port);
        // inet_bind: for broadcast and multicast addresses the source is left to the route.
        s.send_addr = if broadcast_or_multicast {
            Ipv4Addr::UNSPECIFIED
        } else {
            ip
        };
        s.addr_locked = !ip.is_unspecified();
        s.port_locked = addr.port() != 0;
        self.sockets.hash(h, true);
        debug!(target: "udpstack::udp", %h, local = %SocketAddrV4::new(ip, port), "bind");
        Ok(())
    }

    /// An ephemeral port free for socket `h` bound to `ip`.
    fn pick_port(&mut self, h: SocketHandle, ip: Ipv4Addr) -> Option<u16> {
        let s = self.sockets.get(h)?;
        let (reuse_addr, reuse_port) = (s.reuse_addr, s.reuse_port);
        let range = self.config.sysctls.ip_local_port_range;
        let sockets = &self.sockets;
        ports::pick(range, &mut self.rng, |p| {
            !sockets.conflicts(Some(h), ip, p, reuse_addr, reuse_port)
        })
    }

    /// Binds an unbound socket to an ephemeral port (`inet_autobind` → `get_port(sk, 0)`),
    /// keeping its local address: 0.0.0.0, or the address a disconnect left in place after
    /// `bind(addr:0)` (L7.5).
    pub(crate) fn autobind(&mut self, h: SocketHandle) -> Result<(), Errno> {
        let ip = *self.sockets.get(h).ok_or(Errno::EBADF)?.local.ip();
        let port = self.pick_port(h, ip).ok_or(Errno::EAGAIN)?;
        let s = self.sockets.get_mut(h).ok_or(Errno::EBADF)?;
        s.local = SocketAddrV4::new(ip, port);
        self.sockets.hash(h, true);
        debug!(target: "udpstack::udp", %h, port, "autobind");
        Ok(())
    }

    /// `connect(2)` (L7.4): binds an ephemeral port if needed, sets the local address if unset,
    /// records the peer and draws a fresh IP ID counter. Datagrams already queued stay.
    ///
    /// # Errors
    /// `EAGAIN` when no ephemeral port is free; `ENETUNREACH` with no route; `EINVAL` for a
    /// peer off the loopback device when the source address is 127.x; `EACCES` for a
    /// broadcast peer without SO_BROADCAST.
    pub fn connect(&mut self, now: Instant, h: SocketHandle, peer: SocketAddrV4) -> io::Result<()> {
        self.advance_to(now);
        let s = self.sockets.get(h).ok_or_else(ebadf)?;
        if !s.is_bound() {
            self.autobind(h)?;
        }
        let s = self.sockets.get(h).ok_or_else(ebadf)?;
        // ip_route_connect: the same lookup as a send from the socket's source address.
        let send_addr = s.send_addr;
        let route = match self.route_output(send_addr, *peer.ip(), false) {
            Ok(r) => r,
            Err(e) => {
                if e == Errno::ENETUNREACH {
                    self.stats.ip.out_no_routes += 1;
                }
                return Err(e.into());
            }
        };
        if route.broadcast && !s.broadcast {
            return Err(Errno::EACCES.into());
        }
        let old_ip = *s.local.ip();
        let new_ip = if old_ip.is_unspecified() {
            route.src
        } else {
            old_ip
        };
        // Out of the tables with the old addresses, back in with the new. A connected socket
        // leaves its SO_REUSEPORT group for good: udp_lib_rehash detaches it when the address
        // changes, and since 6.13 udp_lib_hash4 (udp_connect → udp4_hash4) always does.
        self.sockets.unhash_keep_group(h, true);
        let id = self.rng.next_u16();
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        if s.send_addr.is_unspecified() {
            s.send_addr = route.src;
        }
        s.local = SocketAddrV4::new(new_ip, s.local.port());
        s.peer = Some(peer);
        s.ip_id = id;
        // __ip4_datagram_connect rehashes (to the head of the new chain) only when it sets the
        // local address.
        self.sockets.rehash(h, new_ip != old_ip);
        debug!(target: "udpstack::udp", %h, %peer, "connect");
        Ok(())
    }

    /// `connect(2)` with AF_UNSPEC (L7.5): forgets the peer; the local address returns to
    /// 0.0.0.0 unless bind chose it, and an automatically chosen port is released.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn disconnect(&mut self, h: SocketHandle) -> io::Result<()> {
        let s = self.sockets.get(h).ok_or_else(ebadf)?;
        // __udp_disconnect: an address bind did not choose is reset and the socket rehashed
        // (udp_lib_rehash, which also detaches it from its SO_REUSEPORT group, even when the
        // address was already 0.0.0.0); it moves to the head of the 0.0.0.0 chain only if the
        // address changed. A port bind did not choose is released (udp_lib_unhash).
        let (addr_locked, port_locked) = (s.addr_locked, s.port_locked);
        let moved = !addr_locked && !s.local.ip().is_unspecified();
        self.sockets
            .unhash_keep_group(h, !addr_locked || !port_locked);
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        s.peer = None;
        if !addr_locked {
            s.local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, s.local.port());
            s.send_addr = Ipv4Addr::UNSPECIFIED;
        }
        if !port_locked {
            s.local = SocketAddrV4::new(*s.local.ip(), 0);
        } else {
            self.sockets.rehash(h, moved);
        }
        debug!(target: "udpstack::udp", %h, "disconnect");
        Ok(())
    }

    /// `sendto(2)`: sends `data` to `dst` (L3.1).
    ///
    /// # Errors
    /// See [`Stack::send_with`].
    pub fn send_to(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        dst: SocketAddrV4,
    ) -> io::Result<usize> {
        self.send_with(now, h, data, Some(dst), SendFlags::empty())
    }

    /// `send(2)` on a connected socket.
    ///
    /// # Errors
    /// See [`Stack::send_with`]; `EDESTADDRREQ` when not connected.
    pub fn send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> io::Result<usize> {
        self.send_with(now, h, data, None, SendFlags::empty())
    }

    /// `sendmsg(2)` with flags. Returns the bytes sent (all of `data`). With MSG_MORE, or
    /// UDP_CORK on, the data is appended to a pending datagram instead (L3.2); while one is
    /// pending, the address is not looked at.
    ///
    /// # Errors
    /// In the order of L3.1: `EAGAIN` (no port for the automatic bind), `EMSGSIZE` (above 65535
    /// bytes), `EOPNOTSUPP` (MSG_OOB), `EINVAL` (port 0), `EDESTADDRREQ`, `ENETUNREACH`,
    /// `EACCES` (broadcast without SO_BROADCAST), `EMSGSIZE` (the size limit of L3.3, corked
    /// data included), a pending error (L1.6), `EAGAIN` (send buffer full, L6.5), `ENOBUFS`
    /// (past twice the send buffer; or the transmit queue full, with IP_RECVERR only). An error
    /// while a datagram is pending discards it.
    pub fn send_with(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        dst: Option<SocketAddrV4>,
        flags: SendFlags,
    ) -> io::Result<usize> {
        match self.udp_send(now, h, data, dst, flags, false) {
            Ok(n) => Ok(n),
            Err(SendStop::Failed(e)) => Err(e.to_io()),
            Err(SendStop::Wait) => Err(Errno::EAGAIN.to_io()),
        }
    }

    /// [`Stack::send_with`] for a caller that blocks while the send buffer is full, as a
    /// blocking socket does in `sock_alloc_send_pskb`: `Ok(None)` instead of EAGAIN when there
    /// is no room (L6.5), counting nothing. Wait until [`Stack::readiness`] says writable (the
    /// kernel wakes a blocked sender only then) and call again; when giving up, call
    /// [`Stack::send_with`], which fails with EAGAIN and counts it.
    ///
    /// # Errors
    /// As [`Stack::send_with`], EAGAIN for a full send buffer excepted.
    pub fn send_or_wait(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        dst: Option<SocketAddrV4>,
        flags: SendFlags,
    ) -> io::Result<Option<usize>> {
        match self.udp_send(now, h, data, dst, flags, true) {
            Ok(n) => Ok(Some(n)),
            Err(SendStop::Failed(e)) => Err(e.to_io()),
            Err(SendStop::Wait) => Ok(None),
        }
    }

    /// `recvfrom(2)`: one datagram, truncated to `buf`.
    ///
    /// # Errors
    /// `EAGAIN` when nothing is queued; a pending error (L1.6).
    pub fn recv_from(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddrV4)> {
        self.recv_with(h, buf, RecvFlags::empty())
            .map(|r| (r.len, r.from))
    }

    /// `recvmsg(2)` with flags (L7.6): one datagram per call; a short buffer truncates and sets
    /// `truncated`; [`RecvFlags::TRUNC`] returns the full length; [`RecvFlags::PEEK`] leaves
    /// the datagram queued. A pending error is returned (and cleared) first, even with data
    /// queued (L1.6).
    ///
    /// # Errors
    /// `EAGAIN` when nothing is queued (the stack never blocks); a pending error.
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> io::Result<Received> {
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        if let Some(err) = s.pending_error.take() {
            return Err(err.into());
        }
        let peek = flags.contains(RecvFlags::PEEK);
        s.refill_reader();
        let Some(d) = s.rx_queue.front() else {
            return Err(Errno::EAGAIN.into());
        };
        let n = d.data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), d.data.get(..n)) {
            dst.copy_from_slice(src);
        }
        let (from, full_len) = (d.from, d.data.len());
        if !peek {
            if let Some(d) = s.rx_queue.pop_front() {
                s.reader_len = s.reader_len.saturating_sub(1);
                // L6.3: released now or later, as udp_rmem_release decides.
                self.udp_mem
                    .release_read(s, d.truesize, &self.config.sysctls);
                self.pool.give(d.data);
            }
            self.stats.udp.in_datagrams += 1;
        }
        let len = if flags.contains(RecvFlags::TRUNC) {
            full_len
        } else {
            n
        };
        Ok(Received {
            len,
            from,
            truncated: full_len > buf.len(),
        })
    }

    /// `recvmsg(2)` with MSG_ERRQUEUE (L1.7): the oldest error-queue entry. The pending error
    /// becomes the next ICMP entry's errno, or is cleared.
    ///
    /// # Errors
    /// `EAGAIN` when the error queue is empty.
    pub fn recv_error(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<ErrorMessage> {
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        let entry = s
            .err_queue
            .pop_front()
            .ok_or_else(|| io::Error::from(Errno::EAGAIN))?;
        self.udp_mem
            .release_error(s, entry.truesize, &self.config.sysctls);
        // sock_dequeue_err_skb
        let next_icmp = s
            .err_queue
            .front()
            .filter(|e| e.error.origin == super::socket::ErrorOrigin::Icmp);
        if let Some(next) = next_icmp {
            s.pending_error = Some(next.error.errno);
        } else if entry.error.origin == super::socket::ErrorOrigin::Icmp {
            s.pending_error = None;
        }
        let n = entry.payload.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), entry.payload.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(ErrorMessage {
            len: n,
            truncated: entry.payload.len() > buf.len(),
            addr: entry.addr,
            error: entry.error,
        })
    }

    /// `getsockopt(SO_ERROR)`: the pending error, cleared (L1.6).
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn take_error(&mut self, h: SocketHandle) -> io::Result<Option<io::Error>> {
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        Ok(s.pending_error.take().map(Errno::to_io))
    }

    /// `getsockname(2)`: 0.0.0.0:0 until bound.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn local_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        Ok(self.sockets.get(h).ok_or_else(ebadf)?.local)
    }

    /// `getpeername(2)`.
    ///
    /// # Errors
    /// `ENOTCONN` when not connected.
    pub fn peer_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        self.sockets
            .get(h)
            .ok_or_else(ebadf)?
            .peer
            .ok_or_else(|| Errno::ENOTCONN.into())
    }

    /// FIONREAD (L7.7): the payload length of the first queued datagram, or 0.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn pending(&mut self, h: SocketHandle) -> io::Result<usize> {
        let s = self.socket_mut(h)?;
        // first_packet_length looks at the reader's queue, refilling it first.
        s.refill_reader();
        Ok(s.rx_queue.front().map_or(0, |d| d.data.len()))
    }

    /// What `poll(2)` would report now.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn readiness(&self, h: SocketHandle) -> io::Result<Readiness> {
        let s = self.sockets.get(h).ok_or_else(ebadf)?;
        Ok(Readiness {
            readable: !s.rx_queue.is_empty(),
            // sock_writeable (L6.6): the bytes in flight, with the refcount's bias of 1, below
            // half the send buffer.
            writable: s.wmem_total() + 1 < s.sndbuf >> 1,
            error: s.pending_error.is_some() || !s.err_queue.is_empty(),
        })
    }

    fn socket_mut(&mut self, h: SocketHandle) -> io::Result<&mut UdpSocket> {
        self.sockets.get_mut(h).ok_or_else(ebadf)
    }

    fn socket_ref(&self, h: SocketHandle) -> io::Result<&UdpSocket> {
        self.sockets.get(h).ok_or_else(ebadf)
    }

    /// SO_REUSEADDR (L7.2). Takes effect at the next bind.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_reuse_addr(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.socket_mut(h)?.reuse_addr = on;
        Ok(())
    }

    /// SO_REUSEADDR.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn reuse_addr(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.socket_ref(h)?.reuse_addr)
    }

    /// SO_REUSEPORT (L7.2, L7.3). Takes effect at the next bind.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_reuse_port(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.socket_mut(h)?.reuse_port = on;
        Ok(())
    }

    /// SO_REUSEPORT.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn reuse_port(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.socket_ref(h)?.reuse_port)
    }

    /// SO_BROADCAST: allows sending to broadcast addresses (L3.1).
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_broadcast(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.socket_mut(h)?.broadcast = on;
        Ok(())
    }

    /// SO_BROADCAST.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn broadcast(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.socket_ref(h)?.broadcast)
    }

    /// IP_TTL (1..=255).
    ///
    /// # Errors
    /// `EINVAL` for 0.
    pub fn set_ttl(&mut self, h: SocketHandle, ttl: u32) -> io::Result<()> {
        let ttl = u8::try_from(ttl)
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| io::Error::from(Errno::EINVAL))?;
        self.socket_mut(h)?.ttl = Some(ttl);
        Ok(())
    }

    /// IP_TTL: the socket's, or `ip_default_ttl`.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn ttl(&self, h: SocketHandle) -> io::Result<u32> {
        Ok(u32::from(
            self.socket_ref(h)?
                .ttl
                .unwrap_or(self.config.sysctls.ip_default_ttl),
        ))
    }

    /// IP_TOS.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_tos(&mut self, h: SocketHandle, tos: u8) -> io::Result<()> {
        self.socket_mut(h)?.tos = tos;
        Ok(())
    }

    /// IP_MTU_DISCOVER (L2.3).
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_mtu_discover(&mut self, h: SocketHandle, mode: PmtuMode) -> io::Result<()> {
        self.socket_mut(h)?.pmtu_mode = mode;
        Ok(())
    }

    /// IP_MTU_DISCOVER.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn mtu_discover(&self, h: SocketHandle) -> io::Result<PmtuMode> {
        Ok(self.socket_ref(h)?.pmtu_mode)
    }

    /// IP_MTU (L2.5): the MTU in force towards the connected peer (L2.2).
    ///
    /// # Errors
    /// `ENOTCONN` on a socket that is not connected (Linux answers from the cached route, which
    /// only connected sockets keep).
    pub fn mtu(&self, h: SocketHandle) -> io::Result<u32> {
        let s = self.socket_ref(h)?;
        let peer = s.peer.ok_or_else(|| io::Error::from(Errno::ENOTCONN))?;
        let route = self
            .route_output(s.send_addr, *peer.ip(), false)
            .map_err(|_| io::Error::from(Errno::ENOTCONN))?;
        // dst_mtu of the socket's cached route: the path MTU when one was learned.
        Ok(u32::from(self.path_mtu(*peer.ip(), route.mtu).0))
    }

    /// IP_RECVERR (L1.5, L1.7). Turning it off purges the error queue.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_recv_error(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        let s = self.sockets.get_mut(h).ok_or_else(ebadf)?;
        s.recv_err = on;
        if !on {
            let sizes: Vec<usize> = s.err_queue.drain(..).map(|e| e.truesize).collect();
            for size in sizes {
                self.udp_mem.release_error(s, size, &self.config.sysctls);
            }
        }
        Ok(())
    }

    /// IP_RECVERR.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn recv_error_enabled(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.socket_ref(h)?.recv_err)
    }

    /// SO_RCVBUF (L6.1): stores twice `size`, capped by `rmem_max`, at least 2304.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_recv_buffer_size(&mut self, h: SocketHandle, size: i32) -> io::Result<()> {
        let max = self.config.sysctls.rmem_max;
        self.socket_mut(h)?.set_rcvbuf(rcvbuf_for(size, max, false));
        Ok(())
    }

    /// SO_RCVBUFFORCE (L6.1): like SO_RCVBUF without the `rmem_max` cap.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_recv_buffer_size_force(&mut self, h: SocketHandle, size: i32) -> io::Result<()> {
        let max = self.config.sysctls.rmem_max;
        self.socket_mut(h)?.set_rcvbuf(rcvbuf_for(size, max, true));
        Ok(())
    }

    /// SO_RCVBUF as getsockopt returns it (the doubled value).
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn recv_buffer_size(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.socket_ref(h)?.rcvbuf)
    }

    /// SO_SNDBUF (L6.1): stores twice `size`, capped by `wmem_max`, at least 4608.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_send_buffer_size(&mut self, h: SocketHandle, size: i32) -> io::Result<()> {
        let max = self.config.sysctls.wmem_max;
        self.socket_mut(h)?.set_sndbuf(sndbuf_for(size, max, false));
        Ok(())
    }

    /// SO_SNDBUFFORCE (L6.1): like SO_SNDBUF without the `wmem_max` cap.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_send_buffer_size_force(&mut self, h: SocketHandle, size: i32) -> io::Result<()> {
        let max = self.config.sysctls.wmem_max;
        self.socket_mut(h)?.set_sndbuf(sndbuf_for(size, max, true));
        Ok(())
    }

    /// SO_SNDBUF as getsockopt returns it.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn send_buffer_size(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.socket_ref(h)?.sndbuf)
    }

    /// Bytes charged to the receive buffer (`sk_rmem_alloc`): queued datagrams and error-queue
    /// entries, in truesize (L6.2).
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn recv_queue_bytes(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.socket_ref(h)?.rmem_alloc)
    }

    /// SIOCOUTQ (L6.6): the bytes of this socket's packets not yet handed to the device, a
    /// corked datagram's included, in truesize.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn outq(&self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.socket_ref(h)?.wmem_total())
    }

    /// UDP_CORK (L3.2): while on, sends append to one pending datagram; turning it off sends
    /// that datagram.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn set_cork(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.udp_set_cork(h, on).map_err(Errno::to_io)
    }

    /// UDP_CORK.
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn cork(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.socket_ref(h)?.cork)
    }

    /// Datagrams this socket dropped (`sk_drops`).
    ///
    /// # Errors
    /// `EBADF` for an unknown handle.
    pub fn drops(&self, h: SocketHandle) -> io::Result<u64> {
        Ok(self.socket_ref(h)?.drops)
    }

    /// The bound sockets in `/proc/net/udp` layout: slot, local and remote address as the
    /// kernel prints them (hex, the address as a little-endian host reads its network-order
    /// bytes), state (07 unconnected, 01 connected), tx and rx queue in bytes, and the drops.
    pub fn udp_table(&self) -> String {
        let hex = |a: SocketAddrV4| {
            format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(a.ip().octets()),
                a.port()
            )
        };
        let mut out = format!(
            "{:<127}\n",
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"
        );
        for (h, s) in self.sockets.iter().filter(|(_, s)| s.is_bound()) {
            let remote = s
                .peer
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            let state = if s.peer.is_some() { 1 } else { 7 };
            let line = format!(
                "{:5}: {} {} {:02X} {:08X}:{:08X} {:02X}:{:08X} {:08X} {:5} {:8} {} {} {:016X} {}",
                h.index,
                hex(s.local),
                hex(remote),
                state,
                s.wmem_total(),
                // udp_rqueue_get: read datagrams not yet released do not show.
                s.rmem_alloc - s.forward_deficit,
                0,
                0,
                0,
                0,
                0,
                h.index,
                2,
                0,
                s.drops
            );
            out.push_str(&format!("{line:<127}\n"));
        }
        out
    }
}
