//! Shared by the kernel interop tests (`interop_tap.rs`, `interop_router.rs`): the stack's
//! configuration on a TAP link, kernel sockets with the Linux extras `std` lacks
//! (IP_RECVERR, MSG_ERRQUEUE, IP_MTU_DISCOVER, IP_MTU), one [`Sock`] interface over both kinds
//! of socket so that a scenario runs unchanged on each, and [`Transcript`]s of what a scenario
//! observed, with addresses replaced by roles so that the two can be compared line by line.
//!
//! No `unsafe` here: kernel sockets go through `std`, `nix` and `rustix`.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::fmt::Debug;
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag,
    SockProtocol, SockType, SockaddrIn,
};
use rustix::net::sockopt::Ipv4PathMtuDiscovery;
use tap_harness::Netns;
use udpstack::config::{Config, Ipv4Cidr};
use udpstack::runtime::{poll, Interest, PollEntry, UdpSocket};
use udpstack::udp::{ErrorOrigin, PmtuMode};
use udpstack::wire::MacAddr;

/// How long to wait for something that should happen (milliseconds when it works; generous
/// for loaded CI machines).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for something that should *not* happen, once whatever would have caused it
/// is known to have arrived.
pub const QUIET: Duration = Duration::from_millis(150);

/// The stack's address on the TAP link.
pub const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The stack's MAC.
pub const STACK_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
/// The kernel's side of the TAP link (the router in the router topology).
pub const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// The stack at 10.0.0.2/24 with MAC 02:00:00:00:00:02, default route via `gateway`.
pub fn stack_config(gateway: Option<Ipv4Addr>) -> Config {
    let config = Config::default()
        .addr(Ipv4Cidr::new(STACK_IP, 24).expect("/24"))
        .mac(STACK_MAC);
    match gateway {
        Some(gw) => config.gateway(gw),
        None => config,
    }
}

/// `ip:port`.
pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// `len` bytes of a pattern that differs per `seed`, so that a mixed-up datagram shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Polls `f` every few milliseconds until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A counter of the namespace's `/proc/net/snmp` or `/proc/net/netstat` (`section` such as
/// `Icmp`, `Ip`, `IpExt`; `field` such as `InDestUnreachs`), read from a thread inside it
/// (`/proc/thread-self/net` shows the calling thread's namespace).
pub fn kernel_counter(ns: &Netns, section: &str, field: &str) -> u64 {
    let read = |file: &str| {
        ns.enter(|| std::fs::read_to_string(format!("/proc/thread-self/net/{file}")))
            .expect("enter the namespace")
            .expect("read /proc/thread-self/net")
    };
    for text in [read("snmp"), read("netstat")] {
        if let Some(v) = snmp_value(&text, section, field) {
            return v;
        }
    }
    panic!("no counter {section}:{field}");
}

/// The value of `section:field` in text laid out as `/proc/net/snmp` or `/proc/net/netstat`.
pub fn snmp_value(text: &str, section: &str, field: &str) -> Option<u64> {
    tap_harness::snmp_counter(text, section, field)
}

/// IP option bytes for a transcript, the addresses of a record route (type 7) written out so
/// that a transcript names them by role.
pub fn show_ip_options(options: &[u8]) -> String {
    match options {
        [7, len, ptr, rest @ ..] => {
            let slots = usize::from(*len).saturating_sub(3).min(rest.len());
            let addrs: Vec<String> = rest[..slots]
                .chunks(4)
                .map(|a| match a {
                    [a, b, c, d] => Ipv4Addr::new(*a, *b, *c, *d).to_string(),
                    other => format!("{other:?}"),
                })
                .collect();
            format!(
                "RR len {len} ptr {ptr} [{}] then {:?}",
                addrs.join(", "),
                &rest[slots..]
            )
        }
        other => format!("{other:?}"),
    }
}

/// One error-queue entry (`recvmsg(MSG_ERRQUEUE)`): `sock_extended_err`, the offender
/// (0.0.0.0 when there is none), `msg_name`, the payload and its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrEntry {
    /// `ee_errno`.
    pub errno: i32,
    /// `ee_origin`: 1 local, 2 ICMP.
    pub origin: u8,
    /// `ee_type`.
    pub icmp_type: u8,
    /// `ee_code`.
    pub icmp_code: u8,
    /// `ee_info`.
    pub info: u32,
    /// `ee_data`.
    pub data: u32,
    /// `SO_EE_OFFENDER`.
    pub offender: Ipv4Addr,
    /// `msg_name`.
    pub addr: SocketAddrV4,
    /// Payload bytes returned.
    pub payload: Vec<u8>,
    /// MSG_TRUNC.
    pub truncated: bool,
}

/// What a scenario does with a socket, on the stack or on a kernel.
pub trait Sock {
    /// `connect(2)`.
    fn connect(&self, to: SocketAddrV4) -> io::Result<()>;
    /// `send(2)` on a connected socket.
    fn send(&self, buf: &[u8]) -> io::Result<usize>;
    /// `sendto(2)`.
    fn send_to(&self, buf: &[u8], to: SocketAddrV4) -> io::Result<usize>;
    /// `recvfrom(2)` with a timeout.
    fn recv_timeout(&self, buf: &mut [u8], t: Duration) -> io::Result<(usize, SocketAddrV4)>;
    /// SO_ERROR.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// IP_RECVERR.
    fn set_recv_error(&self, on: bool) -> io::Result<()>;
    /// IP_MTU_DISCOVER.
    fn set_pmtu(&self, mode: PmtuMode) -> io::Result<()>;
    /// IP_MTU.
    fn mtu(&self) -> io::Result<u32>;
    /// `recvmsg(MSG_ERRQUEUE)`, never blocking.
    fn recv_error(&self, buf: &mut [u8]) -> io::Result<ErrEntry>;
    /// `poll(2)` with no events asked for: whether POLLERR came within `t`.
    fn wait_error(&self, t: Duration) -> io::Result<bool>;
    /// `getsockname(2)`.
    fn local(&self) -> SocketAddrV4;
    /// SO_BROADCAST.
    fn set_broadcast(&self, on: bool) -> io::Result<()>;
    /// `poll(2)` for POLLIN, not waiting.
    fn readable(&self) -> io::Result<bool>;
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("IPv6 address {a}"),
    }
}

impl Sock for UdpSocket {
    fn connect(&self, to: SocketAddrV4) -> io::Result<()> {
        UdpSocket::connect(self, to)
    }
    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        UdpSocket::send(self, buf)
    }
    fn send_to(&self, buf: &[u8], to: SocketAddrV4) -> io::Result<usize> {
        UdpSocket::send_to(self, buf, to)
    }
    fn recv_timeout(&self, buf: &mut [u8], t: Duration) -> io::Result<(usize, SocketAddrV4)> {
        self.set_read_timeout(Some(t))?;
        self.recv_from(buf).map(|(n, a)| (n, v4(a)))
    }
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        UdpSocket::take_error(self)
    }
    fn set_recv_error(&self, on: bool) -> io::Result<()> {
        UdpSocket::set_recv_error(self, on)
    }
    fn set_pmtu(&self, mode: PmtuMode) -> io::Result<()> {
        self.set_mtu_discover(mode)
    }
    fn mtu(&self) -> io::Result<u32> {
        UdpSocket::mtu(self)
    }
    fn recv_error(&self, buf: &mut [u8]) -> io::Result<ErrEntry> {
        let m = UdpSocket::recv_error(self, buf)?;
        Ok(ErrEntry {
            errno: m.error.errno.0,
            origin: match m.error.origin {
                ErrorOrigin::Local => 1,
                ErrorOrigin::Icmp => 2,
            },
            icmp_type: m.error.icmp_type,
            icmp_code: m.error.icmp_code,
            info: m.error.info,
            data: m.error.data,
            offender: m.error.offender,
            addr: m.addr,
            payload: buf[..m.len].to_vec(),
            truncated: m.truncated,
        })
    }
    fn wait_error(&self, t: Duration) -> io::Result<bool> {
        let mut entries = [PollEntry::new(self, Interest::default())];
        poll(&mut entries, Some(t))?;
        Ok(entries[0].ready.error)
    }
    fn local(&self) -> SocketAddrV4 {
        v4(self.local_addr().expect("local address"))
    }
    fn set_broadcast(&self, on: bool) -> io::Result<()> {
        UdpSocket::set_broadcast(self, on)
    }
    fn readable(&self) -> io::Result<bool> {
        Ok(self.readiness()?.readable)
    }
}

/// A kernel UDP socket (made inside a namespace).
#[derive(Debug)]
pub struct KernelSock(pub std::net::UdpSocket);

impl KernelSock {
    /// A kernel UDP socket bound to `addr` inside `ns`.
    pub fn bind(ns: &Netns, addr: SocketAddrV4) -> io::Result<KernelSock> {
        let s = ns.enter(|| std::net::UdpSocket::bind(addr))??;
        Ok(KernelSock(s))
    }
}

fn pmtu_raw(mode: PmtuMode) -> Ipv4PathMtuDiscovery {
    match mode {
        PmtuMode::Dont => Ipv4PathMtuDiscovery::DONT,
        PmtuMode::Want => Ipv4PathMtuDiscovery::WANT,
        PmtuMode::Do => Ipv4PathMtuDiscovery::DO,
        PmtuMode::Probe => Ipv4PathMtuDiscovery::PROBE,
        PmtuMode::Interface => Ipv4PathMtuDiscovery::INTERFACE,
        PmtuMode::Omit => Ipv4PathMtuDiscovery::OMIT,
    }
}

impl Sock for KernelSock {
    fn connect(&self, to: SocketAddrV4) -> io::Result<()> {
        self.0.connect(to)
    }
    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }
    fn send_to(&self, buf: &[u8], to: SocketAddrV4) -> io::Result<usize> {
        self.0.send_to(buf, to)
    }
    fn recv_timeout(&self, buf: &mut [u8], t: Duration) -> io::Result<(usize, SocketAddrV4)> {
        let deadline = Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            self.0.set_read_timeout(Some(left))?;
            match self.0.recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map(|(n, a)| (n, v4(a))),
            }
        }
    }
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.take_error()
    }
    fn set_recv_error(&self, on: bool) -> io::Result<()> {
        setsockopt(&self.0, sockopt::Ipv4RecvErr, &on).map_err(io::Error::from)
    }
    fn set_pmtu(&self, mode: PmtuMode) -> io::Result<()> {
        rustix::net::sockopt::set_ip_mtu_discover(&self.0, pmtu_raw(mode)).map_err(io::Error::from)
    }
    fn mtu(&self) -> io::Result<u32> {
        rustix::net::sockopt::ip_mtu(&self.0).map_err(io::Error::from)
    }
    fn recv_error(&self, buf: &mut [u8]) -> io::Result<ErrEntry> {
        let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in);
        let (len, flags, addr, ee) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrIn>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
            )
            .map_err(io::Error::from)?;
            let mut ee = None;
            for c in msg.cmsgs().map_err(io::Error::from)? {
                if let ControlMessageOwned::Ipv4RecvErr(e, offender) = c {
                    ee = Some((e, offender));
                }
            }
            (msg.bytes, msg.flags, msg.address, ee)
        };
        let (e, offender) = ee.expect("an IP_RECVERR control message");
        let offender = offender
            .map(|o| Ipv4Addr::from(u32::from_be(o.sin_addr.s_addr)))
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let addr = addr.map_or(sa(Ipv4Addr::UNSPECIFIED, 0), |a| sa(a.ip(), a.port()));
        Ok(ErrEntry {
            errno: e.ee_errno as i32,
            origin: e.ee_origin,
            icmp_type: e.ee_type,
            icmp_code: e.ee_code,
            info: e.ee_info,
            data: e.ee_data,
            offender,
            addr,
            payload: buf[..len].to_vec(),
            truncated: flags.contains(MsgFlags::MSG_TRUNC),
        })
    }
    fn wait_error(&self, t: Duration) -> io::Result<bool> {
        let revents = poll_fd(self.0.as_fd(), PollFlags::empty(), t)?;
        Ok(revents.contains(PollFlags::POLLERR))
    }
    fn local(&self) -> SocketAddrV4 {
        v4(self.0.local_addr().expect("local address"))
    }
    fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.0.set_broadcast(on)
    }
    fn readable(&self) -> io::Result<bool> {
        let revents = poll_fd(self.0.as_fd(), PollFlags::POLLIN, Duration::ZERO)?;
        Ok(revents.contains(PollFlags::POLLIN))
    }
}

/// A raw IPv4 socket (`IPPROTO_RAW`: the caller writes the IP header; the kernel fills in the
/// checksum and total length) made inside `ns`.
pub fn raw_ip_socket(ns: &Netns) -> io::Result<OwnedFd> {
    ns.enter(|| {
        nix::sys::socket::socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Raw,
        )
    })?
    .map_err(io::Error::from)
}

/// A raw ICMP socket made inside `ns`: receives every ICMP message for the namespace, IP
/// header included.
pub fn raw_icmp_socket(ns: &Netns) -> io::Result<OwnedFd> {
    let fd = ns
        .enter(|| {
            nix::sys::socket::socket(
                AddressFamily::Inet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::Icmp,
            )
        })?
        .map_err(io::Error::from)?;
    Ok(fd)
}

/// A raw UDP socket made inside `ns`: receives a copy of every UDP datagram for the
/// namespace (after reassembly), IP header included.
pub fn raw_udp_socket(ns: &Netns) -> io::Result<OwnedFd> {
    ns.enter(|| {
        nix::sys::socket::socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Udp,
        )
    })?
    .map_err(io::Error::from)
}

/// Sends a whole IP packet on a raw socket to its destination.
pub fn raw_send(fd: &OwnedFd, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
    let to = SockaddrIn::from(sa(dst, 0));
    nix::sys::socket::sendto(fd.as_raw_fd(), packet, &to, MsgFlags::empty())
        .map(drop)
        .map_err(io::Error::from)
}

/// `poll(2)` on one descriptor for `events` (errors are always reported), at most `t`, retrying
/// when interrupted (EINTR: a signal, or the machine's scheduler freezing the process, which
/// this test environment was seen to do under load); the events that came, empty on timeout.
pub fn poll_fd(fd: BorrowedFd<'_>, events: PollFlags, t: Duration) -> io::Result<PollFlags> {
    let deadline = Instant::now() + t;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).expect("a timeout that fits");
        let mut fds = [PollFd::new(fd, events)];
        match nix::poll::poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => return Ok(fds[0].revents().unwrap_or(PollFlags::empty())),
        }
    }
}

/// Receives one packet from a raw socket, waiting at most `t`; `None` on timeout.
pub fn raw_recv(fd: &OwnedFd, t: Duration) -> io::Result<Option<Vec<u8>>> {
    if !poll_fd(fd.as_fd(), PollFlags::POLLIN, t)?.contains(PollFlags::POLLIN) {
        return Ok(None);
    }
    let mut buf = vec![0u8; 65536];
    let n = nix::sys::socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT)
        .map_err(io::Error::from)?;
    buf.truncate(n);
    Ok(Some(buf))
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A UDP datagram (header and payload) from `src` to `dst` with a correct checksum.
pub fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).expect("fits");
    let mut d = Vec::with_capacity(usize::from(len));
    d.extend_from_slice(&src.port().to_be_bytes());
    d.extend_from_slice(&dst.port().to_be_bytes());
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12 + d.len());
    pseudo.extend_from_slice(&src.ip().octets());
    pseudo.extend_from_slice(&dst.ip().octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&d);
    let c = match checksum(&pseudo) {
        0 => 0xffff,
        c => c,
    };
    d[6..8].copy_from_slice(&c.to_be_bytes());
    d
}

/// An IPv4 packet (TTL 64, protocol UDP) carrying `data` at byte `offset` of a datagram with
/// identification `id`; `more` sets MF, `dont_frag` DF; `options` (a multiple of 4 bytes) go
/// after the 20-byte header.
pub fn ipv4_packet(
    (src, dst): (Ipv4Addr, Ipv4Addr),
    id: u16,
    (offset, more, dont_frag): (usize, bool, bool),
    options: &[u8],
    data: &[u8],
) -> Vec<u8> {
    assert_eq!(offset % 8, 0, "fragment offsets are in 8-byte units");
    assert_eq!(options.len() % 4, 0, "options fill whole words");
    let header_len = 20 + options.len();
    let total = u16::try_from(header_len + data.len()).expect("fits");
    let frag = u16::try_from(offset / 8).expect("fits")
        | if more { 0x2000 } else { 0 }
        | if dont_frag { 0x4000 } else { 0 };
    let mut p = vec![0x40 | (header_len / 4) as u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(options);
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// A fragment without options or DF: [`ipv4_packet`] for the common case.
pub fn ipv4_fragment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    ipv4_packet((src, dst), id, (offset, more, false), &[], data)
}

/// What a scenario observed, one line per step, with addresses named by role.
#[derive(Debug)]
pub struct Transcript {
    lines: Vec<String>,
    roles: Vec<(String, &'static str)>,
}

impl Transcript {
    /// An empty transcript that writes `role` for each address of `roles`.
    pub fn new(roles: &[(Ipv4Addr, &'static str)]) -> Self {
        let mut roles: Vec<(String, &'static str)> =
            roles.iter().map(|(ip, r)| (ip.to_string(), *r)).collect();
        // Longest first, so that no address is replaced inside a longer one.
        roles.sort_by_key(|(ip, _)| std::cmp::Reverse(ip.len()));
        Transcript {
            lines: Vec::new(),
            roles,
        }
    }

    /// Records `what` for `step`.
    pub fn note(&mut self, step: &str, what: impl Debug) {
        let mut line = format!("{step}: {what:?}");
        for (ip, role) in &self.roles {
            line = line.replace(ip.as_str(), role);
        }
        self.lines.push(line);
    }

    /// Records a result: `Ok(value)` or `Err(errno N)`.
    pub fn result<T: Debug>(&mut self, step: &str, r: &io::Result<T>) {
        match r {
            Ok(v) => self.note(step, format_args!("Ok({v:?})")),
            Err(e) => self.note(step, format_args!("Err({})", describe(e))),
        }
    }

    /// Records SO_ERROR.
    pub fn error(&mut self, step: &str, r: io::Result<Option<io::Error>>) {
        let what = match r {
            Ok(None) => "None".to_owned(),
            Ok(Some(e)) => format!("Some({})", describe(&e)),
            Err(e) => format!("failed: {}", describe(&e)),
        };
        self.note(step, format_args!("{what}"));
    }

    /// Records an error-queue read; `sent` is the payload the entry should quote.
    pub fn err_entry(&mut self, step: &str, r: io::Result<ErrEntry>, sent: &[u8]) {
        match r {
            Ok(e) => {
                let quote_ok = sent.starts_with(&e.payload);
                self.note(
                    step,
                    format_args!(
                        "errno {} origin {} type {} code {} info {} data {} offender {} name {} \
                         len {} trunc {} payload-is-prefix-of-sent {quote_ok}",
                        e.errno,
                        e.origin,
                        e.icmp_type,
                        e.icmp_code,
                        e.info,
                        e.data,
                        e.offender,
                        e.addr,
                        e.payload.len(),
                        e.truncated
                    ),
                );
            }
            Err(e) => self.note(step, format_args!("Err({})", describe(&e))),
        }
    }

    /// The lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// `errno N` for an OS error, else the error's kind.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("errno {n}"),
        None => format!("{:?}", e.kind()),
    }
}

/// Asserts two transcripts are equal, printing both side by side when not.
pub fn assert_same(kernel: &Transcript, stack: &Transcript) {
    // Shown with --nocapture, or when the test fails.
    eprintln!("kernel transcript:\n  {}", kernel.lines().join("\n  "));
    eprintln!("stack transcript:\n  {}", stack.lines().join("\n  "));
    if kernel.lines() == stack.lines() {
        return;
    }
    let mut report = String::from("kernel and stack differ:\n");
    let n = kernel.lines().len().max(stack.lines().len());
    for i in 0..n {
        let k = kernel.lines().get(i).map_or("<none>", String::as_str);
        let s = stack.lines().get(i).map_or("<none>", String::as_str);
        let mark = if k == s { "  " } else { "!!" };
        report.push_str(&format!("{mark} kernel: {k}\n{mark} stack:  {s}\n"));
    }
    panic!("{report}");
}

/// ECONNREFUSED and friends (L1.5–L1.7): the steps a socket takes towards a closed port
/// `dst`, each part on a fresh socket from `make`. `icmp_in` counts the destination
/// unreachables the socket's host has received, so that "nothing happened" is only concluded
/// once the ICMP error is known to have arrived.
///
/// 1. Connected: send, then recv → ECONNREFUSED; SO_ERROR is then clear.
/// 2. Unconnected, no IP_RECVERR: nothing at all (no pending error, empty error queue).
/// 3. Unconnected with IP_RECVERR, 600 bytes: POLLERR, SO_ERROR = ECONNREFUSED, then the
///    queue entry (quote cut at 576 bytes of ICMP packet: 520 bytes of payload), then nothing.
/// 4. Unconnected with IP_RECVERR: recv → ECONNREFUSED; the entry read into a 16-byte buffer
///    (MSG_TRUNC).
///
/// Four ICMP errors in all: within the per-destination burst of 6 (L5.7).
pub fn closed_port_scenario(
    make: &dyn Fn() -> io::Result<Box<dyn Sock>>,
    dst: SocketAddrV4,
    icmp_in: &dyn Fn() -> u64,
    roles: &[(Ipv4Addr, &'static str)],
) -> io::Result<Transcript> {
    let mut t = Transcript::new(roles);
    let mut buf = vec![0u8; 2048];

    // 1. Connected.
    let s = make()?;
    t.result("1 connect", &s.connect(dst));
    t.result("1 send", &s.send(b"anyone there?"));
    t.result("1 recv", &s.recv_timeout(&mut buf, TIMEOUT));
    t.error("1 SO_ERROR", s.take_error());
    t.result("1 recv again", &s.recv_timeout(&mut buf, QUIET));
    drop(s);

    // 2. Unconnected, no IP_RECVERR.
    let s = make()?;
    let before = icmp_in();
    t.result("2 sendto", &s.send_to(b"anyone there?", dst));
    t.note("2 ICMP arrived", wait_until(TIMEOUT, || icmp_in() > before));
    t.result("2 POLLERR", &s.wait_error(QUIET));
    t.error("2 SO_ERROR", s.take_error());
    t.result("2 recv", &s.recv_timeout(&mut buf, QUIET));
    t.err_entry("2 errqueue", s.recv_error(&mut buf), &[]);
    drop(s);

    // 3. IP_RECVERR, SO_ERROR first.
    let s = make()?;
    t.result("3 IP_RECVERR", &s.set_recv_error(true));
    let payload = pattern(600, 3);
    t.result("3 sendto", &s.send_to(&payload, dst));
    t.result("3 POLLERR", &s.wait_error(TIMEOUT));
    t.error("3 SO_ERROR", s.take_error());
    t.err_entry("3 errqueue", s.recv_error(&mut buf), &payload);
    t.error("3 SO_ERROR after", s.take_error());
    t.err_entry("3 errqueue again", s.recv_error(&mut buf), &payload);
    t.result("3 POLLERR after", &s.wait_error(Duration::from_millis(1)));
    drop(s);

    // 4. IP_RECVERR, recv first, short buffer for the entry.
    let s = make()?;
    t.result("4 IP_RECVERR", &s.set_recv_error(true));
    let payload = pattern(40, 4);
    t.result("4 sendto", &s.send_to(&payload, dst));
    t.result("4 POLLERR", &s.wait_error(TIMEOUT));
    t.result("4 recv", &s.recv_timeout(&mut buf, TIMEOUT));
    t.err_entry("4 errqueue", s.recv_error(&mut buf[..16]), &payload);
    t.error("4 SO_ERROR after", s.take_error());
    Ok(t)
}
