//! The crate's only `unsafe` code, short blocks, each with its safety argument:
//!
//! * taking ownership of the TAP file descriptor out of `tun_tap::Iface` (which exposes it only
//!   as a raw fd) so that the safe `rustix` calls can borrow it;
//! * `SIOCGIFMTU`, `SIOCSIFMTU` and `SIOCGIFFLAGS` on a control socket, which neither `rustix`
//!   nor `nix` wrap;
//! * for tests that compare the stack with kernel sockets: `UDP_CORK` (set) and
//!   `SIOCOUTQ` on a kernel UDP socket, which neither wraps either.
//!
//! Everything else (poll, eventfd, setns, readv/write, sockets) goes through `rustix`.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub(crate) const IFNAME_MAX: usize = 15;

/// Creates or attaches to the TAP interface `name` (IFF_TAP | IFF_NO_PI) in the calling thread's
/// network namespace, returning its file descriptor, blocking mode unchanged.
pub(crate) fn open_tap(name: &str) -> io::Result<File> {
    let iface = tun_tap::Iface::without_packet_info(name, tun_tap::Mode::Tap)?;
    if iface.name() != name {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the kernel named the TAP interface {:?}, not {name:?}",
                iface.name()
            ),
        ));
    }
    let raw = iface.into_raw_fd();
    // SAFETY: `into_raw_fd` hands over ownership of the open /dev/net/tun descriptor that `iface`
    // owned (a `File` inside it); nothing else holds or closes it, so owning it here is sound.
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok(File::from(owned))
}

/// Checks an interface name: 1..=15 bytes, no '/', ':', '%', whitespace or NUL.
pub(crate) fn check_ifname(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'%'));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid interface name {name:?}: 1 to {IFNAME_MAX} printable ASCII characters, \
                 without '/', ':', '%' or spaces"
            ),
        ))
    }
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    check_ifname(name)?;
    // An all-zero ifreq is valid: a NUL name and a zero union.
    let mut ifr = libc::ifreq {
        ifr_name: [0; libc::IFNAMSIZ],
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_mtu: 0 },
    };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

/// The MTU of interface `name`, asked through `socket` (so in the socket's network namespace,
/// whatever namespace the calling thread is in).
pub(crate) fn get_mtu(socket: impl AsFd, name: &str) -> io::Result<u32> {
    let mut ifr = ifreq_for(name)?;
    // SAFETY: SIOCGIFMTU reads a NUL-terminated name from and writes a c_int into the `ifreq`
    // we pass by valid, exclusive pointer; `check_ifname` guarantees the name is NUL-terminated
    // within IFNAMSIZ. The fd is a live socket borrowed for the call.
    let rc = unsafe { libc::ioctl(socket.as_fd().as_raw_fd(), libc::SIOCGIFMTU, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel filled the `ifru_mtu` member of the union.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::other(format!("negative MTU {mtu} for {name}")))
}

/// The flags (`IFF_UP`, `IFF_RUNNING`, …) of interface `name`, asked through `socket`.
pub(crate) fn get_flags(socket: impl AsFd, name: &str) -> io::Result<libc::c_short> {
    let mut ifr = ifreq_for(name)?;
    // SAFETY: SIOCGIFFLAGS reads a NUL-terminated name from and writes a c_short into the
    // `ifreq` we pass by valid, exclusive pointer (the name's termination as for `get_mtu`).
    let rc = unsafe { libc::ioctl(socket.as_fd().as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel filled the `ifru_flags` member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_flags })
}

/// Sets the MTU of interface `name` through `socket` (needs CAP_NET_ADMIN in its namespace).
pub(crate) fn set_mtu(socket: impl AsFd, name: &str, mtu: u32) -> io::Result<()> {
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU too large"))?;
    // SAFETY: SIOCSIFMTU reads the NUL-terminated name and the c_int MTU from the valid `ifreq`
    // we pass by pointer and writes nothing back to user memory.
    let rc = unsafe { libc::ioctl(socket.as_fd().as_raw_fd(), libc::SIOCSIFMTU, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Identity of a namespace file (`/proc/.../ns/net` or a bind mount of one): device and inode.
pub(crate) fn ns_id(path: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// The calling thread's network namespace file.
pub(crate) const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// The network namespace of PID 1: "the host" for the project's safety rule.
pub(crate) const HOST_NETNS: &str = "/proc/1/ns/net";

/// The namespace the first thread to use the harness was in, before any `enter`.
static INITIAL_NETNS: OnceLock<(u64, u64)> = OnceLock::new();

/// Records the calling thread's namespace as the process's initial one, if none is recorded
/// yet. Called before any thread is moved by [`crate::Netns::enter`].
pub(crate) fn note_initial_netns() {
    if INITIAL_NETNS.get().is_none() {
        if let Ok(id) = ns_id(Path::new(THREAD_NETNS)) {
            let _ = INITIAL_NETNS.set(id);
        }
    }
}

/// The inode of the calling thread's network namespace (as `ls -Li /proc/thread-self/ns/net`).
///
/// # Errors
/// `/proc/thread-self/ns/net` cannot be read (no /proc).
pub fn current_netns_inode() -> io::Result<u64> {
    ns_id(Path::new(THREAD_NETNS)).map(|(_, ino)| ino)
}

/// Whether the calling thread is in the host network namespace: PID 1's when
/// `/proc/1/ns/net` is readable, otherwise (in a sandbox that hides PID 1) the namespace the
/// process was in when it first used the harness (before any [`Netns::enter`](crate::Netns::enter)).
///
/// # Errors
/// `/proc/thread-self/ns/net` cannot be read.
pub fn in_host_netns() -> io::Result<bool> {
    note_initial_netns();
    let current = ns_id(Path::new(THREAD_NETNS))?;
    let host = match ns_id(Path::new(HOST_NETNS)) {
        Ok(id) => id,
        Err(_) => *INITIAL_NETNS.get().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no reference network namespace")
        })?,
    };
    Ok(current == host)
}

/// `setsockopt(fd, IPPROTO_UDP, UDP_CORK, on)` on a kernel UDP socket.
///
/// # Errors
/// As the system call (ENOTSOCK, EBADF, ENOPROTOOPT for a non-UDP socket).
pub fn set_udp_cork(socket: impl AsFd, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    // SAFETY: the kernel reads `optlen` bytes (one c_int) from the valid pointer to `value`;
    // the fd is a live socket borrowed for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_UDP,
            libc::UDP_CORK,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ioctl(fd, SIOCOUTQ)` on a kernel UDP socket: the bytes (truesize) of its send queue.
///
/// # Errors
/// As the system call.
pub fn socket_outq(socket: impl AsFd) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one c_int through the valid, exclusive pointer we
    // pass; the fd is a live socket borrowed for the call.
    let rc = unsafe { libc::ioctl(socket.as_fd().as_raw_fd(), libc::TIOCOUTQ, &raw mut value) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(value).map_err(|_| io::Error::other(format!("negative SIOCOUTQ {value}")))
}
