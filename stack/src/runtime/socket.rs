//! [`UdpSocket`]: `std::net::UdpSocket`'s methods, with the same meanings, on a [`Runtime`]
//! (`super::Runtime`), plus the Linux options the stack offers.
//!
//! Blocking, timeouts and non-blocking mode behave as on a kernel socket: a receive that times
//! out fails with `WouldBlock` (EAGAIN), a non-blocking one on an empty queue likewise, and a
//! zero timeout is refused with `InvalidInput` as `std` refuses it. A pending error (L1.6) wakes
//! a blocked receive, which returns it. A send blocks while the socket's send buffer is full
//! (L6.5), up to the write timeout; non-blocking or MSG_DONTWAIT, it fails with EAGAIN.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{stopped, Inner};
use crate::errno::Errno;
use crate::udp::{ErrorMessage, PmtuMode, Readiness, Received, RecvFlags, SendFlags, SocketHandle};

#[derive(Debug, Clone, Copy, Default)]
struct Options {
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
}

/// A UDP socket of a runtime. `Send + Sync`: several threads may use one socket, and each
/// receive takes its own datagram.
pub struct UdpSocket {
    inner: Arc<Inner>,
    handle: SocketHandle,
    options: Mutex<Options>,
}

impl core::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("handle", &self.handle)
            .finish()
    }
}

/// The first IPv4 address `addr` resolves to.
fn v4(addr: impl ToSocketAddrs) -> io::Result<SocketAddrV4> {
    let mut saw_v6 = false;
    for a in addr.to_socket_addrs()? {
        match a {
            SocketAddr::V4(a) => return Ok(a),
            SocketAddr::V6(_) => saw_v6 = true,
        }
    }
    Err(if saw_v6 {
        Errno::EAFNOSUPPORT.to_io()
    } else {
        io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
    })
}

fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl UdpSocket {
    pub(crate) fn new(inner: Arc<Inner>, handle: SocketHandle) -> Self {
        UdpSocket {
            inner,
            handle,
            options: Mutex::new(Options::default()),
        }
    }

    /// The stack handle of this socket (for [`Runtime::with_stack`](super::Runtime::with_stack)).
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    fn options(&self) -> MutexGuard<'_, Options> {
        self.options.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a stack call for this socket and wakes the I/O thread afterwards.
    fn call<R>(
        &self,
        f: impl FnOnce(&mut crate::Stack, SocketHandle, crate::Instant) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut st = self.inner.lock();
        if !st.running {
            return Err(stopped());
        }
        let now = self.inner.now();
        let r = f(&mut st.stack, self.handle, now);
        drop(st);
        self.inner.poke();
        r
    }

    /// Reads a stack value for this socket (ENETDOWN once the runtime has stopped, as every
    /// call's documentation says).
    fn get<R>(
        &self,
        f: impl FnOnce(&crate::Stack, SocketHandle) -> io::Result<R>,
    ) -> io::Result<R> {
        let st = self.inner.lock();
        if !st.running {
            return Err(stopped());
        }
        f(&st.stack, self.handle)
    }

    /// `bind(2)` (L7.1).
    ///
    /// # Errors
    /// See [`Stack::bind`](crate::Stack::bind).
    pub fn bind(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addr = v4(addr)?;
        self.call(|s, h, _| s.bind(h, addr))
    }

    /// `connect(2)` (L7.4).
    ///
    /// # Errors
    /// See [`Stack::connect`](crate::Stack::connect).
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addr = v4(addr)?;
        self.call(|s, h, now| s.connect(now, h, addr))
    }

    /// `connect(2)` with AF_UNSPEC (L7.5).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn disconnect(&self) -> io::Result<()> {
        self.call(|s, h, _| s.disconnect(h))
    }

    /// Sends on a connected socket.
    ///
    /// # Errors
    /// See [`Stack::send_with`](crate::Stack::send_with).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_with(buf, None, SendFlags::empty())
    }

    /// Sends to `addr`.
    ///
    /// # Errors
    /// See [`Stack::send_with`](crate::Stack::send_with).
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = v4(addr)?;
        self.send_with(buf, Some(addr), SendFlags::empty())
    }

    /// Sends with flags (MSG_DONTROUTE, MSG_OOB, MSG_DONTWAIT), to `addr` or the connected
    /// peer. A blocking socket whose send buffer is full waits for room (L6.5) — until the bytes
    /// in flight are below SO_SNDBUF, an error is pending, or the write timeout passes (then
    /// EAGAIN, counted as `SndbufErrors`); a non-blocking one, or MSG_DONTWAIT, fails with
    /// EAGAIN at once.
    ///
    /// # Errors
    /// See [`Stack::send_with`](crate::Stack::send_with).
    pub fn send_with(
        &self,
        buf: &[u8],
        addr: Option<SocketAddrV4>,
        flags: SendFlags,
    ) -> io::Result<usize> {
        let opts = *self.options();
        if opts.nonblocking || flags.contains(SendFlags::DONTWAIT) {
            return self.call(|s, h, now| s.send_with(now, h, buf, addr, flags));
        }
        let deadline = opts.write_timeout.map(|t| Instant::now() + t);
        let mut st = self.inner.lock();
        let result = loop {
            if !st.running {
                return Err(stopped());
            }
            let now = self.inner.now();
            match st.stack.send_or_wait(now, self.handle, buf, addr, flags) {
                Ok(Some(n)) => break Ok(n),
                Err(e) => break Err(e),
                Ok(None) => {}
            }
            // sock_wait_for_wmem: until there is room or an error to report.
            loop {
                let room = st.stack.outq(self.handle)? < st.stack.send_buffer_size(self.handle)?;
                let error = st.stack.readiness(self.handle)?.error;
                if room || error || !st.running {
                    break;
                }
                st = match self.inner.wait(st, deadline) {
                    Ok(st) => st,
                    Err(mut st) => {
                        // Timed out: the send fails with EAGAIN, counted.
                        let now = self.inner.now();
                        let r = st.stack.send_with(now, self.handle, buf, addr, flags);
                        drop(st);
                        self.inner.poke();
                        return r;
                    }
                };
            }
        };
        drop(st);
        self.inner.poke();
        result
    }

    /// Receives one datagram, blocking per the socket's mode (L7.6).
    ///
    /// # Errors
    /// `WouldBlock` (EAGAIN) when non-blocking and empty, or on timeout; a pending error.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let r = self.recv_with(buf, RecvFlags::empty())?;
        Ok((r.len, SocketAddr::V4(r.from)))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// As [`UdpSocket::recv_from`].
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_with(buf, RecvFlags::empty()).map(|r| r.len)
    }

    /// Like [`UdpSocket::recv_from`], leaving the datagram queued.
    ///
    /// # Errors
    /// As [`UdpSocket::recv_from`].
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let r = self.recv_with(buf, RecvFlags::PEEK)?;
        Ok((r.len, SocketAddr::V4(r.from)))
    }

    /// Like [`UdpSocket::recv`], leaving the datagram queued.
    ///
    /// # Errors
    /// As [`UdpSocket::recv_from`].
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_with(buf, RecvFlags::PEEK).map(|r| r.len)
    }

    /// `recvmsg(2)` with flags: PEEK, TRUNC (return the full length), DONTWAIT (do not block
    /// this once). Returns the length, the sender and whether the datagram was truncated.
    ///
    /// # Errors
    /// As [`UdpSocket::recv_from`].
    pub fn recv_with(&self, buf: &mut [u8], flags: RecvFlags) -> io::Result<Received> {
        let opts = *self.options();
        let nonblocking = opts.nonblocking || flags.contains(RecvFlags::DONTWAIT);
        let deadline = opts.read_timeout.map(|t| Instant::now() + t);
        let mut st = self.inner.lock();
        loop {
            if !st.running {
                return Err(stopped());
            }
            match st.stack.recv_with(self.handle, buf, flags) {
                Err(e) if e.raw_os_error() == Some(Errno::EAGAIN.0) && !nonblocking => {}
                r => return r,
            }
            st = self
                .inner
                .wait(st, deadline)
                .map_err(|_| Errno::EAGAIN.to_io())?;
        }
    }

    /// `recvmsg(2)` with MSG_ERRQUEUE (L1.7): never blocks.
    ///
    /// # Errors
    /// `WouldBlock` (EAGAIN) when the error queue is empty.
    pub fn recv_error(&self, buf: &mut [u8]) -> io::Result<ErrorMessage> {
        self.call(|s, h, _| s.recv_error(h, buf))
    }

    /// The local address (0.0.0.0:0 until bound).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get(|s, h| s.local_addr(h)).map(SocketAddr::V4)
    }

    /// The connected peer.
    ///
    /// # Errors
    /// ENOTCONN when not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get(|s, h| s.peer_addr(h)).map(SocketAddr::V4)
    }

    /// The read timeout (`None`: block forever).
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration, as `std`.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.options().read_timeout = t;
        Ok(())
    }

    /// The read timeout.
    ///
    /// # Errors
    /// Never; `Result` for `std`'s signature.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.options().read_timeout)
    }

    /// The write timeout: how long a blocking send waits for room in the send buffer (L6.5).
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration, as `std`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.options().write_timeout = t;
        Ok(())
    }

    /// The write timeout.
    ///
    /// # Errors
    /// Never; `Result` for `std`'s signature.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.options().write_timeout)
    }

    /// Non-blocking mode: receives on an empty queue, and sends with a full send buffer, fail
    /// with `WouldBlock`.
    ///
    /// # Errors
    /// Never; `Result` for `std`'s signature.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.options().nonblocking = on;
        Ok(())
    }

    /// UDP_CORK (L3.2): while on, sends append to one datagram, sent when it is turned off.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_cork(&self, on: bool) -> io::Result<()> {
        self.call(|s, h, _| s.set_cork(h, on))
    }

    /// UDP_CORK.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn cork(&self) -> io::Result<bool> {
        self.get(|s, h| s.cork(h))
    }

    /// SIOCOUTQ (L6.6): bytes not yet handed to the device, corked data included, in truesize.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn outq(&self) -> io::Result<usize> {
        self.get(|s, h| s.outq(h))
    }

    /// SO_BROADCAST.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.call(|s, h, _| s.set_broadcast(h, on))
    }

    /// SO_BROADCAST.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.get(|s, h| s.broadcast(h))
    }

    /// IP_TTL.
    ///
    /// # Errors
    /// `EINVAL` for 0 or above 255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.call(|s, h, _| s.set_ttl(h, ttl))
    }

    /// IP_TTL.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn ttl(&self) -> io::Result<u32> {
        self.get(|s, h| s.ttl(h))
    }

    /// SO_ERROR: the pending error, cleared (L1.6).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.call(|s, h, _| s.take_error(h))
    }

    /// SO_REUSEADDR (before bind).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_reuse_addr(&self, on: bool) -> io::Result<()> {
        self.call(|s, h, _| s.set_reuse_addr(h, on))
    }

    /// SO_REUSEPORT (before bind).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_reuse_port(&self, on: bool) -> io::Result<()> {
        self.call(|s, h, _| s.set_reuse_port(h, on))
    }

    /// SO_RCVBUF (L6.1).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_recv_buffer_size(&self, size: i32) -> io::Result<()> {
        self.call(|s, h, _| s.set_recv_buffer_size(h, size))
    }

    /// SO_RCVBUF as getsockopt returns it.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.get(|s, h| s.recv_buffer_size(h))
    }

    /// SO_SNDBUF (L6.1).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_send_buffer_size(&self, size: i32) -> io::Result<()> {
        self.call(|s, h, _| s.set_send_buffer_size(h, size))
    }

    /// SO_SNDBUF as getsockopt returns it.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.get(|s, h| s.send_buffer_size(h))
    }

    /// FIONREAD (L7.7).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn pending(&self) -> io::Result<usize> {
        self.call(|s, h, _| s.pending(h))
    }

    /// IP_RECVERR (L1.5, L1.7).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_recv_error(&self, on: bool) -> io::Result<()> {
        self.call(|s, h, _| s.set_recv_error(h, on))
    }

    /// IP_MTU_DISCOVER (L2.3).
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_mtu_discover(&self, mode: PmtuMode) -> io::Result<()> {
        self.call(|s, h, _| s.set_mtu_discover(h, mode))
    }

    /// IP_MTU (L2.5).
    ///
    /// # Errors
    /// ENOTCONN when not connected.
    pub fn mtu(&self) -> io::Result<u32> {
        self.get(|s, h| s.mtu(h))
    }

    /// IP_TOS.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn set_tos(&self, tos: u8) -> io::Result<()> {
        self.call(|s, h, _| s.set_tos(h, tos))
    }

    /// What `poll(2)` would report now.
    ///
    /// # Errors
    /// ENETDOWN when the runtime has stopped.
    pub fn readiness(&self) -> io::Result<Readiness> {
        self.get(|s, h| s.readiness(h))
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let _ = self.inner.lock().stack.close(self.handle);
        self.inner.poke();
    }
}
