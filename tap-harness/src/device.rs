//! [`TapDevice`]: a Linux TAP interface as a [`udpstack::device::Device`].

use std::fmt;
use std::fs::File;
use std::io::{self, IoSliceMut};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use udpstack::device::{Device, Waker};

use crate::sys;

/// How often a detached device looks for its interface again.
pub const REATTACH_INTERVAL: Duration = Duration::from_millis(100);

/// The MTU assumed when the interface's cannot be read.
pub const DEFAULT_MTU: u32 = 1500;

/// Ethernet header length: `max_frame_len` is MTU + 14.
const ETH_HLEN: usize = 14;

/// Bytes of spill-over space behind the caller's buffer in `try_recv`: a frame that reaches it
/// is longer than the buffer and is dropped whole rather than delivered truncated.
const OVERFLOW_LEN: usize = 65_536;

/// Counters of a [`TapDevice`], a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapStats {
    /// Frames received and handed to the caller.
    pub rx_frames: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames received but dropped because they were longer than the caller's buffer.
    pub rx_oversize: u64,
    /// Receive calls that failed (EBADFD after the interface went away, EIO, ...).
    pub rx_errors: u64,
    /// Frames written to the interface.
    pub tx_frames: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames dropped because the interface was momentarily full (EAGAIN, ENOBUFS).
    pub tx_dropped: u64,
    /// Send calls that failed (EIO while the interface is down, EBADFD, EINVAL, ...).
    pub tx_errors: u64,
    /// Times [`Waker::wake`] was called.
    pub wakes: u64,
    /// Times the device re-attached to its interface after losing it.
    pub reattaches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    rx_oversize: AtomicU64,
    rx_errors: AtomicU64,
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
    wakes: AtomicU64,
    reattaches: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> TapStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TapStats {
            rx_frames: get(&self.rx_frames),
            rx_bytes: get(&self.rx_bytes),
            rx_oversize: get(&self.rx_oversize),
            rx_errors: get(&self.rx_errors),
            tx_frames: get(&self.tx_frames),
            tx_bytes: get(&self.tx_bytes),
            tx_dropped: get(&self.tx_dropped),
            tx_errors: get(&self.tx_errors),
            wakes: get(&self.wakes),
            reattaches: get(&self.reattaches),
        }
    }
}

/// A handle on a [`TapDevice`]'s counters that stays readable after the device has moved into
/// a runtime thread.
#[derive(Debug, Clone)]
pub struct TapStatsHandle(Arc<Counters>);

impl TapStatsHandle {
    /// The counters now.
    pub fn get(&self) -> TapStats {
        self.0.snapshot()
    }
}

/// The [`Waker`] of a [`TapDevice`]: writes to an eventfd that `wait` polls.
struct EventWaker {
    event: Arc<OwnedFd>,
    counters: Arc<Counters>,
}

impl Waker for EventWaker {
    fn wake(&self) {
        bump(&self.counters.wakes, 1);
        // EAGAIN means the counter is saturated: a wake-up is pending anyway.
        let _ = rustix::io::write(&*self.event, &1u64.to_ne_bytes());
    }
}

/// A Linux TAP interface (Ethernet frames, no packet-info header) as a udpstack [`Device`].
///
/// # Where the interface lives
/// [`TapDevice::open`] creates (or attaches to) the interface in the **calling thread's**
/// network namespace; the file descriptor stays bound to that namespace for its whole life, so
/// the device may then be used from any thread in any namespace (a runtime thread in the host
/// namespace reads and writes frames of a TAP inside a test namespace). The device also keeps
/// that namespace alive: a namespace removed with `ip netns del` while a device is open goes on
/// existing, unnamed, until the device is dropped. Dropping the device closes the descriptor,
/// which deletes the (non-persistent) interface with its addresses and routes.
///
/// # When the interface goes down or away
/// * **Down** (`ip link set tap0 down`): [`Device::send`] fails with EIO, nothing is received;
///   once it is up again everything works, nothing to do.
/// * **Deleted** (`ip link del tap0`): the descriptor is detached. `try_recv` and `send` fail
///   with EBADFD and `wait` sleeps on the waker only (at most [`REATTACH_INTERVAL`] at a time,
///   so a runtime loop does not spin). Every [`REATTACH_INTERVAL`] the device looks for an
///   interface of the same name in its own namespace (never the caller's); when one exists
///   again (e.g. `ip tuntap add dev tap0 mode tap`) it attaches to it and carries on, counting a
///   [`TapStats::reattaches`]. The re-created interface is whatever its creator configured:
///   addresses, MTU and up/down state are not restored.
///
/// # How the kernel accounts the frames we write
/// The kernel builds a received frame's buffer differently depending on how it was written
/// (`tun_get_user`): a non-blocking write (the default) takes `tun_build_skb`, whose truesize is
/// `SKB_DATA_ALIGN(64 + len) + 576` (704 bytes for a tiny datagram, 1728 for a 1000-byte one);
/// a blocking write takes `tun_alloc_skb`, whose buffer comes from the small-head cache or a
/// power-of-two kmalloc (832 and 2304), what the behaviour reference measured and what
/// udpstack charges its own sockets (L6.2). A kernel socket's SO_RCVBUF holds different
/// numbers of datagrams in the two cases; [`TapDevice::set_blocking_writes`] picks the second.
pub struct TapDevice {
    name: String,
    tap: File,
    /// The namespace the device was opened in (for re-attaching).
    netns: File,
    /// A UDP socket in that namespace, for interface ioctls and name look-ups.
    ctl: OwnedFd,
    event: Arc<OwnedFd>,
    counters: Arc<Counters>,
    overflow: Box<[u8]>,
    detached: bool,
    last_reattach: Option<Instant>,
    last_mtu: AtomicU32,
    /// Each write in blocking mode (see the type's docs).
    blocking_writes: bool,
}

impl fmt::Debug for TapDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapDevice")
            .field("name", &self.name)
            .field("detached", &self.detached)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn context(e: io::Error, what: impl fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn control_socket() -> io::Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(io::Error::from)
}

fn tap_error(e: io::Error, name: &str) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            " (needs root or CAP_NET_ADMIN; see tap_harness::check_privileges)"
        }
        Some(libc::ENOENT) | Some(libc::ENODEV) => " (/dev/net/tun is missing: modprobe tun)",
        Some(libc::EBUSY) => " (another process is attached to it)",
        Some(libc::EINVAL) => " (an interface of that name exists and is not a TAP)",
        _ => "",
    };
    io::Error::new(
        e.kind(),
        format!("opening TAP interface {name} via /dev/net/tun: {e}{hint}"),
    )
}

/// `Ok` unless the calling thread is in the host namespace (or that cannot be told), where the
/// harness never creates an interface.
fn refuse_creation_in_host(name: &str) -> io::Result<()> {
    match sys::in_host_netns() {
        Ok(false) => Ok(()),
        Ok(true) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to create TAP interface {name} in the host network namespace; \
                 create it inside a namespace (Netns::enter, TapLink)"
            ),
        )),
        Err(e) => Err(context(
            e,
            format!(
                "refusing to create TAP interface {name}: cannot tell whether this thread is in \
                 the host network namespace"
            ),
        )),
    }
}

/// How long [`TapDevice::open`] waits for an interface that is up to come into operation.
pub const RUNNING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl TapDevice {
    /// Opens the TAP interface `name` in the calling thread's network namespace, creating it
    /// (down, without addresses) if absent, in non-blocking mode.
    ///
    /// To respect the project's rule that nothing is created in the host namespace, this
    /// refuses to *create* an interface while the calling thread is in the host namespace (as
    /// [`in_host_netns`](crate::in_host_netns) defines it); an interface that already exists there (made by an administrator with
    /// `ip tuntap add`) may be opened. Use [`Netns::enter`](crate::Netns::enter) or
    /// [`TapLink`](crate::TapLink) to create one in a namespace of its own.
    ///
    /// If the interface is up, this waits (at most [`RUNNING_WAIT`]) until the kernel has put
    /// it into operation (`IFF_RUNNING`). An interface set up before any descriptor was
    /// attached (`ip tuntap add` then `ip link set up`) gets its carrier now, and until the
    /// kernel's link watch has run, its queueing discipline is still the no-op one that
    /// discards what the kernel sends: the kernel's answer to our first ARP request would be
    /// lost, and the first datagrams would wait a whole ARP retransmission (1 s).
    ///
    /// # Errors
    /// An invalid name (empty, longer than 15 bytes, with '/', ':', '%' or spaces); the host
    /// namespace guard (`PermissionDenied`); no `/dev/net/tun` or no CAP_NET_ADMIN; an
    /// interface of that name that is not a TAP or has another reader (EBUSY).
    pub fn open(name: &str) -> io::Result<TapDevice> {
        sys::check_ifname(name)?;
        sys::note_initial_netns();
        let netns = File::open(sys::THREAD_NETNS)
            .map_err(|e| context(e, format!("opening {}", sys::THREAD_NETNS)))?;
        let ctl = control_socket().map_err(|e| context(e, "creating a control socket"))?;
        let exists = rustix::net::netdevice::name_to_index(&ctl, name).is_ok();
        if !exists {
            refuse_creation_in_host(name)?;
        }
        let tap = sys::open_tap(name).map_err(|e| tap_error(e, name))?;
        rustix::io::ioctl_fionbio(&tap, true)?;
        let event = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let device = TapDevice {
            name: name.to_owned(),
            tap,
            netns,
            ctl,
            event: Arc::new(event),
            counters: Arc::default(),
            overflow: vec![0; OVERFLOW_LEN].into_boxed_slice(),
            detached: false,
            last_reattach: None,
            last_mtu: AtomicU32::new(DEFAULT_MTU),
            blocking_writes: false,
        };
        let _ = device.max_frame_len(); // Prime the last known MTU.
        device.wait_until_running();
        Ok(device)
    }

    /// See [`TapDevice::open`]: an interface that is up waits for `IFF_RUNNING`; one that is
    /// down (or whose flags cannot be read) does not.
    fn wait_until_running(&self) {
        let up = libc::IFF_UP as libc::c_short;
        let running = libc::IFF_RUNNING as libc::c_short;
        let deadline = std::time::Instant::now() + RUNNING_WAIT;
        while let Ok(flags) = sys::get_flags(&self.ctl, &self.name) {
            if flags & up == 0 || flags & running != 0 || std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Writes each frame with the descriptor in blocking mode (reads stay non-blocking), so that
    /// the kernel accounts received frames the way it does for a blocking writer: `tun_alloc_skb`
    /// rather than `tun_build_skb` (see the type's docs). The writes never actually wait: a TAP's
    /// send buffer is unlimited. It costs two more system calls per frame.
    pub fn set_blocking_writes(&mut self, on: bool) {
        self.blocking_writes = on;
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's MTU, read now from the kernel (in the device's namespace).
    ///
    /// # Errors
    /// The interface does not exist (any more).
    pub fn mtu(&self) -> io::Result<u32> {
        let mtu = sys::get_mtu(&self.ctl, &self.name)?;
        self.last_mtu.store(mtu, Ordering::Relaxed);
        Ok(mtu)
    }

    /// Sets the interface's MTU (both sides of a TAP share one MTU).
    ///
    /// # Errors
    /// The kernel refused (out of range: 68..=65521 for a TAP; interface gone; no
    /// CAP_NET_ADMIN).
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        sys::set_mtu(&self.ctl, &self.name, mtu)
            .map_err(|e| context(e, format!("setting the MTU of {} to {mtu}", self.name)))?;
        self.last_mtu.store(mtu, Ordering::Relaxed);
        Ok(())
    }

    /// The counters now.
    pub fn stats(&self) -> TapStats {
        self.counters.snapshot()
    }

    /// A handle on the counters that outlives moving the device into a runtime.
    pub fn stats_handle(&self) -> TapStatsHandle {
        TapStatsHandle(Arc::clone(&self.counters))
    }

    /// Whether the device is attached to its interface (false after the interface was deleted,
    /// until it is re-attached).
    pub fn is_attached(&self) -> bool {
        !self.detached
    }

    /// Tries now to attach to an interface of the device's name in the device's namespace,
    /// if the device is detached. `Ok(true)` if attached afterwards.
    ///
    /// The interface must exist already: this never creates one (it only does if the interface
    /// vanishes again between the check and the attach, and then only in the device's own
    /// namespace).
    ///
    /// # Errors
    /// The interface exists but cannot be attached to (another reader: EBUSY; not a TAP).
    pub fn reattach(&mut self) -> io::Result<bool> {
        if !self.detached {
            return Ok(true);
        }
        self.last_reattach = Some(Instant::now());
        if rustix::net::netdevice::name_to_index(&self.ctl, &self.name).is_err() {
            return Ok(false);
        }
        let name = self.name.as_str();
        let netns = &self.netns;
        // setns affects only the calling thread: do it on a thread of our own that ends right
        // after, so no caller thread ever changes namespace.
        let tap = std::thread::scope(|s| {
            s.spawn(|| -> io::Result<File> {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(netns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                let tap = sys::open_tap(name).map_err(|e| tap_error(e, name))?;
                rustix::io::ioctl_fionbio(&tap, true)?;
                Ok(tap)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("re-attach thread panicked")))
        })?;
        self.tap = tap;
        self.detached = false;
        // As in `open`: the interface was probably set up before we attached.
        self.wait_until_running();
        bump(&self.counters.reattaches, 1);
        Ok(true)
    }

    /// When detached, re-attaches if [`REATTACH_INTERVAL`] has passed; then, if still
    /// detached, the EBADFD to report.
    fn check_attached(&mut self) -> io::Result<()> {
        if !self.detached {
            return Ok(());
        }
        let due = self
            .last_reattach
            .is_none_or(|at| at.elapsed() >= REATTACH_INTERVAL);
        if due && self.reattach().unwrap_or(false) {
            return Ok(());
        }
        Err(io::Error::from_raw_os_error(libc::EBADFD))
    }

    fn note_error(&mut self, e: Errno) -> io::Error {
        if e == Errno::BADFD {
            self.detached = true;
        }
        io::Error::from(e)
    }

    fn drain_event(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&*self.event, &mut buf);
    }
}

fn timeout_until(deadline: Option<Instant>, cap: Option<Duration>) -> Option<Timespec> {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let left = match (left, cap) {
        (Some(l), Some(c)) => Some(l.min(c)),
        (l, c) => l.or(c),
    };
    left.map(|d| {
        Timespec::try_from(d).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        })
    })
}

impl Device for TapDevice {
    /// MTU + 14, the MTU read from the kernel on each call (one ioctl, about a microsecond;
    /// the last value read, or 1500, if that fails). A runtime may cache it.
    fn max_frame_len(&self) -> usize {
        let mtu = self
            .mtu()
            .unwrap_or_else(|_| self.last_mtu.load(Ordering::Relaxed));
        usize::try_from(mtu).unwrap_or(usize::MAX - ETH_HLEN) + ETH_HLEN
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.check_attached().inspect_err(|_| {
            bump(&self.counters.rx_errors, 1);
        })?;
        loop {
            let len = buf.len();
            let mut slices = [IoSliceMut::new(buf), IoSliceMut::new(&mut self.overflow)];
            match rustix::io::readv(&self.tap, &mut slices) {
                Ok(0) => return Ok(None),
                Ok(n) if n > len => bump(&self.counters.rx_oversize, 1),
                Ok(n) => {
                    bump(&self.counters.rx_frames, 1);
                    bump(&self.counters.rx_bytes, n as u64);
                    return Ok(Some(n));
                }
                Err(Errno::AGAIN) => return Ok(None),
                Err(Errno::INTR) => {}
                Err(e) => {
                    bump(&self.counters.rx_errors, 1);
                    return Err(self.note_error(e));
                }
            }
        }
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.check_attached().inspect_err(|_| {
            bump(&self.counters.tx_errors, 1);
        })?;
        loop {
            let written = if self.blocking_writes {
                rustix::io::ioctl_fionbio(&self.tap, false)?;
                let r = rustix::io::write(&self.tap, frame);
                rustix::io::ioctl_fionbio(&self.tap, true)?;
                r
            } else {
                rustix::io::write(&self.tap, frame)
            };
            match written {
                Ok(_) => {
                    bump(&self.counters.tx_frames, 1);
                    bump(&self.counters.tx_bytes, frame.len() as u64);
                    return Ok(());
                }
                Err(Errno::AGAIN) | Err(Errno::NOBUFS) => {
                    bump(&self.counters.tx_dropped, 1);
                    return Ok(());
                }
                Err(Errno::INTR) => {}
                Err(e) => {
                    bump(&self.counters.tx_errors, 1);
                    return Err(self.note_error(e));
                }
            }
        }
    }

    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let (result, tap_revents, event_revents) = if self.detached {
            // Nothing to read: sleep on the waker, waking up in time to look for the interface.
            let timeout = timeout_until(deadline, Some(REATTACH_INTERVAL));
            let mut fds = [PollFd::new(&*self.event, PollFlags::IN)];
            let result = poll(&mut fds, timeout.as_ref());
            (result, PollFlags::empty(), fds[0].revents())
        } else {
            let timeout = timeout_until(deadline, None);
            let mut fds = [
                PollFd::new(&self.tap, PollFlags::IN),
                PollFd::new(&*self.event, PollFlags::IN),
            ];
            let result = poll(&mut fds, timeout.as_ref());
            (result, fds[0].revents(), fds[1].revents())
        };
        match result {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        // Consumed only when seen: a wake that lands after poll returned stays pending and
        // makes the next wait return at once, so no wake-up is ever lost.
        if event_revents.contains(PollFlags::IN) {
            self.drain_event();
        }
        if tap_revents.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL) {
            // The interface went away; the next try_recv/send reports it.
            self.detached = true;
        }
        Ok(())
    }

    fn waker(&self) -> Arc<dyn Waker> {
        Arc::new(EventWaker {
            event: Arc::clone(&self.event),
            counters: Arc::clone(&self.counters),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_a_tap_is_refused_in_the_host_namespace_only() -> io::Result<()> {
        if !crate::privileged_or_skip("creating_a_tap_is_refused_in_the_host_namespace_only")? {
            return Ok(());
        }
        // This test thread starts where the process started: the host namespace, unless the
        // whole test run was put in a namespace (then there is nothing to refuse here).
        if sys::in_host_netns()? {
            let e = refuse_creation_in_host("tap0").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
            assert!(e.to_string().contains("host network namespace"), "{e}");
        }
        let netns = crate::Netns::new("udpstack-unit")?;
        netns.enter(|| refuse_creation_in_host("tap0"))??;
        Ok(())
    }

    #[test]
    fn timeouts_are_capped_and_never_negative() {
        assert_eq!(timeout_until(None, None), None);
        let cap = timeout_until(None, Some(REATTACH_INTERVAL)).unwrap();
        assert_eq!(cap.tv_sec, 0);
        assert_eq!(cap.tv_nsec, 100_000_000);
        let past = timeout_until(Some(Instant::now()), None).unwrap();
        assert_eq!((past.tv_sec, past.tv_nsec), (0, 0));
        let far = timeout_until(Some(Instant::now() + Duration::from_secs(60)), None).unwrap();
        assert!(far.tv_sec >= 59);
    }
}
