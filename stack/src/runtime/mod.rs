//! The runtime: a [`Stack`] driven by one I/O thread over a [`Device`], and sockets that
//! application threads use like `std::net::UdpSocket`.
//!
//! This is the "bindings" half of the sans-IO design: it reads the clock (a monotonic
//! `std::time::Instant`, mapped to the stack's [`Instant`] from the moment the
//! runtime started), owns the thread and talks to the device. The stack itself stays
//! deterministic; a runtime is as reproducible as its device and its seed.
//!
//! # How the I/O thread works
//!
//! It sleeps in [`Device::wait`] until a frame may have arrived, the stack's next timer
//! ([`Stack::poll_at`]) is due, or a socket call woke it (a send queued frames, a timer moved
//! earlier). Then it reads up to 64 waiting frames (a NAPI weight) from the device *without*
//! the stack's lock, and, holding it, feeds them to [`Stack::handle_frame`], runs due timers,
//! and sends every frame the stack has to send. After each round it wakes the threads blocked
//! in `recv` or [`poll`], which check again; if the batch was full it goes round again at once,
//! else it sleeps. There is no busy loop and no fixed sleep.
//!
//! The batch bounds how long the lock is held: a link that delivers frames faster than the
//! stack handles them (a flood) never holds off socket calls, timers or transmissions. Readers
//! take the lock between batches, as a Linux reader takes its socket between NAPI polls, so a
//! flooded socket is read while the flood goes on and only what exceeds its receive buffer is
//! dropped (L6.3).
//!
//! A device error (EIO, ENETDOWN, a TAP that went away) is counted, traced and survived: the
//! thread backs off briefly and tries again. Dropping the [`Runtime`] stops the thread and
//! joins it; sockets that outlive it fail with ENETDOWN.

mod poll;
mod socket;

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{debug, warn};

pub use poll::{poll, Interest, PollEntry};
pub use socket::UdpSocket;

use crate::config::Config;
use crate::device::{Device, Waker};
use crate::errno::Errno;
use crate::stats::Stats;
use crate::{Instant, Stack};

/// How long the I/O thread backs off after a device error.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// The most frames the I/O thread reads from the device per round (Linux's NAPI weight).
const BATCH: usize = 64;

/// What the runtime's threads share.
pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    /// Notified after every round of the I/O thread and every socket call that may change
    /// readiness.
    pub(crate) changed: Condvar,
    pub(crate) waker: Arc<dyn Waker>,
    pub(crate) epoch: std::time::Instant,
}

/// The stack and the runtime's own bookkeeping, behind one lock.
pub(crate) struct State {
    pub(crate) stack: Stack,
    pub(crate) running: bool,
    pub(crate) device_errors: u64,
    pub(crate) last_device_error: Option<String>,
}

impl Inner {
    /// The stack's notion of now.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps until the stack changes or `deadline` (`None`: no limit) passes, releasing the
    /// lock meanwhile; the lock again, or `Err` with it once the deadline has passed (before
    /// or during the wait: the caller decides what a timeout means).
    pub(crate) fn wait<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        deadline: Option<std::time::Instant>,
    ) -> Result<MutexGuard<'a, State>, MutexGuard<'a, State>> {
        let Some(d) = deadline else {
            return Ok(self.changed.wait(st).unwrap_or_else(|p| p.into_inner()));
        };
        let now = std::time::Instant::now();
        if now >= d {
            return Err(st);
        }
        Ok(self
            .changed
            .wait_timeout(st, d - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0))
    }

    /// After a socket call: let the I/O thread send what was queued and recompute its
    /// deadline, and let waiting threads look again.
    pub(crate) fn poke(&self) {
        self.waker.wake();
        self.changed.notify_all();
    }
}

/// A running stack on a device.
pub struct Runtime {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts a stack with `config` on `device`, every random choice derived from `seed`.
    ///
    /// # Errors
    /// An invalid configuration (`InvalidInput`), or the thread could not be spawned.
    pub fn start<D: Device>(device: D, config: Config, seed: u64) -> io::Result<Runtime> {
        let mut stack =
            Stack::new(config, seed).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // The one wall-clock reading: ICMP timestamp replies (at the epoch of `Inner::now`).
        let unix_millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let epoch = std::time::Instant::now();
        stack.set_wall_clock(Instant::ZERO, unix_millis);
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                stack,
                running: true,
                device_errors: 0,
                last_device_error: None,
            }),
            changed: Condvar::new(),
            waker: device.waker(),
            epoch,
        });
        let io_inner = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("udpstack-io".into())
            .spawn(move || io_loop(io_inner, device))?;
        Ok(Runtime {
            inner,
            thread: Some(thread),
        })
    }

    /// A new, unbound UDP socket (`socket(AF_INET, SOCK_DGRAM, 0)`): set options such as
    /// SO_REUSEPORT on it, then bind or connect.
    pub fn udp_socket(&self) -> UdpSocket {
        let h = self.inner.lock().stack.udp_socket();
        UdpSocket::new(Arc::clone(&self.inner), h)
    }

    /// A UDP socket bound to `addr`, like `std::net::UdpSocket::bind`.
    ///
    /// # Errors
    /// As [`Stack::bind`]; `EAFNOSUPPORT` for an IPv6 address.
    pub fn bind(&self, addr: impl std::net::ToSocketAddrs) -> io::Result<UdpSocket> {
        let socket = self.udp_socket();
        socket.bind(addr)?;
        Ok(socket)
    }

    /// Runs `f` with the stack locked: for counters, tables and sysctls.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let r = f(&mut self.inner.lock().stack);
        self.inner.poke();
        r
    }

    /// The counters in `/proc/net/snmp` layout.
    pub fn snmp(&self) -> String {
        self.inner.lock().stack.snmp()
    }

    /// The sockets in `/proc/net/udp` layout.
    pub fn udp_table(&self) -> String {
        self.inner.lock().stack.udp_table()
    }

    /// A copy of all counters.
    pub fn stats(&self) -> Stats {
        self.inner.lock().stack.stats().clone()
    }

    /// Device errors survived so far, and the last one.
    pub fn device_errors(&self) -> (u64, Option<String>) {
        let st = self.inner.lock();
        (st.device_errors, st.last_device_error.clone())
    }

    /// Stops the I/O thread and waits for it (what dropping the runtime does).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.inner.lock().running = false;
        self.inner.poke();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The I/O thread.
fn io_loop<D: Device>(inner: Arc<Inner>, mut device: D) {
    let frame_len = device.max_frame_len().max(1514);
    // Receive buffers and the length of the frame in each: one to start with, grown up to
    // BATCH only if frames come that fast.
    let mut rx: Vec<(Vec<u8>, usize)> = vec![(vec![0u8; frame_len], 0)];
    let mut tx = vec![0u8; 65536 + 14];
    debug!(target: "udpstack::runtime", "io thread started");
    loop {
        // A batch of frames, read without the lock: socket calls go on meanwhile.
        let mut received = 0;
        let mut failed = None;
        while received < BATCH {
            if rx.len() == received {
                rx.push((vec![0u8; frame_len], 0));
            }
            let Some((buf, len)) = rx.get_mut(received) else {
                break;
            };
            match device.try_recv(buf) {
                Ok(Some(n)) => {
                    *len = n;
                    received += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let more_waiting = received == BATCH;
        let deadline = {
            let mut st = inner.lock();
            if !st.running {
                break;
            }
            let now = inner.now();
            for (buf, len) in rx.iter().take(received) {
                st.stack.handle_frame(now, buf.get(..*len).unwrap_or(&[]));
            }
            if st.stack.poll_at().is_some_and(|t| t <= now) {
                st.stack.handle_timeout(now);
            }
            while let Some(n) = st.stack.poll_transmit(now, &mut tx) {
                if let Err(e) = device.send(tx.get(..n).unwrap_or(&[])) {
                    failed = Some(e);
                }
            }
            if let Some(e) = failed {
                st.device_errors += 1;
                st.last_device_error = Some(e.to_string());
                warn!(target: "udpstack::runtime", error = %e, "device error");
                drop(st);
                inner.changed.notify_all();
                std::thread::sleep(ERROR_BACKOFF);
                continue;
            }
            st.stack
                .poll_at()
                .map(|t| inner.epoch + Duration::from_micros(t.total_micros()))
        };
        inner.changed.notify_all();
        if more_waiting {
            // A full batch: more frames are probably waiting. Another round at once, after the
            // threads just woken have had their chance at the lock.
            std::thread::yield_now();
            continue;
        }
        if let Err(e) = device.wait(deadline) {
            let mut st = inner.lock();
            st.device_errors += 1;
            st.last_device_error = Some(e.to_string());
            drop(st);
            warn!(target: "udpstack::runtime", error = %e, "device wait failed");
            std::thread::sleep(ERROR_BACKOFF);
        }
    }
    inner.changed.notify_all();
    debug!(target: "udpstack::runtime", "io thread stopped");
}

/// The error of a socket call on a stopped runtime.
pub(crate) fn stopped() -> io::Error {
    Errno::ENETDOWN.to_io()
}
