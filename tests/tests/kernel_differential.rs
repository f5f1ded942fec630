//! The kernel as oracle (issue 7): each scenario is written once, as a sequence of socket
//! operations on "self" and wire events from kernel peers, and run twice in two identical
//! worlds:
//!
//! ```text
//!  self 10.0.0.2 ══ 10.0.0.1 [router, ip_forward=1] 10.0.1.1 ══ MTU 1280 ══ 10.0.1.2 [far]
//! ```
//!
//! In the kernel world "self" is a namespace with a veth; in the stack world it is udpstack on
//! a TapDevice (the router's side of the link is the TAP). Addresses and ports are the same in
//! both, so the transcripts — every return value, errno, address, payload, MSG_TRUNC, poll
//! readiness, socket option and error-queue entry, and at the end the change of every `Udp:`
//! counter and of the ICMP counters of self — must be equal line for line. The peers (in the
//! router and far namespaces) are kernel sockets in both worlds.
//!
//! A scenario waits for arrivals by self's `Ip: InDelivers` counter, never by sleeping, so
//! "nothing was delivered" is only concluded after what could have caused it is known to have
//! arrived. What the kernel decides at random (ephemeral ports, the REUSEPORT hash secret) is
//! recorded as a property (in range, distinct, sticky, spread) rather than a value.
//!
//! Differences found by this suite are fixed in the stack or listed in docs/LINUX-PARITY.md.

mod interop;

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use interop::{
    assert_same, describe, pattern, poll_fd, sa, show_ip_options, snmp_value, stack_config,
    wait_until, ErrEntry, KernelSock, Sock, Transcript, QUIET, TIMEOUT,
};
use nix::libc;
use nix::poll::PollFlags;
use nix::sys::socket::{
    bind, recvmsg, setsockopt, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag,
    SockType, SockaddrIn,
};
use tap_harness::{add_veth, privileged_or_skip, Netns, RouterConfig, RouterLink, VethEnd};
use udpstack::runtime::{Runtime, UdpSocket};
use udpstack::udp::{PmtuMode, RecvFlags, SendFlags};

const SELF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ROUTER_FAR: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const FAR: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const BCAST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);
const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// Send flags, Linux values (the stack's `SendFlags` use the same bits).
const MSG_OOB: u32 = 0x01;
const MSG_MORE: u32 = 0x8000;
/// Receive flags.
const MSG_PEEK: u32 = 0x02;
const MSG_TRUNC: u32 = 0x20;

/// `Udp:` counters compared at the end of every scenario, and the ICMP ones of self.
const COUNTERS: &[(&str, &str)] = &[
    ("Udp", "InDatagrams"),
    ("Udp", "NoPorts"),
    ("Udp", "InErrors"),
    ("Udp", "OutDatagrams"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "SndbufErrors"),
    ("Udp", "InCsumErrors"),
    ("Udp", "IgnoredMulti"),
    ("Udp", "MemErrors"),
    ("Icmp", "InMsgs"),
    ("Icmp", "InErrors"),
    ("Icmp", "InDestUnreachs"),
    ("Icmp", "InTimeExcds"),
    ("Icmp", "OutMsgs"),
    ("Icmp", "OutDestUnreachs"),
    ("Icmp", "OutParmProbs"),
    ("Icmp", "InTimestamps"),
    ("Icmp", "OutTimestampReps"),
    ("Icmp", "OutTimestamps"),
    ("Icmp", "OutEchoReps"),
    ("Ip", "InHdrErrors"),
];

/// Self: the stack on its TAP, or a kernel namespace.
enum SelfHost {
    Stack(Runtime),
    Kernel(Netns),
}

/// One world. Fields drop in order: self (the runtime and its TAP) first.
struct World {
    me: SelfHost,
    router: Netns,
    far: Netns,
}

impl World {
    fn stack() -> io::Result<World> {
        let RouterLink {
            device,
            router,
            far,
            config,
        } = RouterLink::open(RouterConfig::default())?;
        assert_eq!((config.far_addr, config.far_mtu), (FAR, 1280));
        let rt = Runtime::start(device, stack_config(Some(ROUTER)), 0xd1ff)?;
        World {
            me: SelfHost::Stack(rt),
            router,
            far,
        }
        .resolved()
    }

    fn kernel() -> io::Result<World> {
        let me = Netns::new("udpstack-dself")?;
        let router = Netns::new("udpstack-drouter")?;
        let far = Netns::new("udpstack-dfar")?;
        let end = |netns, name, addr| VethEnd {
            netns,
            name,
            addr,
            prefix_len: 24,
        };
        add_veth(end(&router, "tap0", ROUTER), end(&me, "eth0", SELF), 1500)?;
        add_veth(
            end(&router, "veth0", ROUTER_FAR),
            end(&far, "eth0", FAR),
            1280,
        )?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        me.ip(["route", "add", "default", "via", "10.0.0.1"])?;
        far.ip(["route", "add", "default", "via", "10.0.1.1"])?;
        World {
            me: SelfHost::Kernel(me),
            router,
            far,
        }
        .resolved()
    }

    /// The world with every neighbour resolved (a ping from the far host to self): a burst
    /// sent while the router is still resolving self can be reordered (the kernel flushes its
    /// ARP queue while the sender's next packets already go out directly), which would make a
    /// scenario's arrival order depend on timing. The scenario's counters start after this.
    fn resolved(self) -> io::Result<World> {
        self.far
            .exec(["ping", "-n", "-q", "-c", "1", "-W", "2", "10.0.0.2"])?;
        Ok(self)
    }

    /// A fresh, unbound socket on self.
    fn socket(&self) -> io::Result<SelfSock> {
        match &self.me {
            SelfHost::Stack(rt) => Ok(SelfSock::Stack(rt.udp_socket())),
            SelfHost::Kernel(ns) => {
                // Close-on-exec, as std's sockets are: a process another test forks meanwhile
                // must not keep the socket (and its port) alive after we close it.
                let fd = ns.enter(|| {
                    nix::sys::socket::socket(
                        AddressFamily::Inet,
                        SockType::Datagram,
                        SockFlag::SOCK_CLOEXEC,
                        None,
                    )
                })??;
                Ok(SelfSock::Kernel(KernelSock(std::net::UdpSocket::from(fd))))
            }
        }
    }

    /// Self's /proc/net/snmp.
    fn snmp(&self) -> String {
        match &self.me {
            SelfHost::Stack(rt) => rt.snmp(),
            SelfHost::Kernel(ns) => ns
                .enter(|| std::fs::read_to_string("/proc/thread-self/net/snmp"))
                .expect("enter")
                .expect("read snmp"),
        }
    }

    fn counter(&self, section: &str, field: &str) -> u64 {
        snmp_value(&self.snmp(), section, field)
            .unwrap_or_else(|| panic!("no counter {section}:{field}"))
    }
}

/// A datagram as a transcript shows it: length, sender, MSG_TRUNC and the bytes (short ones
/// in full, long ones by length and a hash).
#[derive(Debug)]
#[allow(dead_code)] // Read through `Debug`, into the transcript.
struct Got {
    ret: usize,
    from: SocketAddrV4,
    trunc: bool,
    data: String,
}

fn show(data: &[u8]) -> String {
    if data.len() <= 24 {
        format!("{:?}", String::from_utf8_lossy(data))
    } else {
        // FNV-1a, enough to tell payloads apart.
        let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("{} bytes #{h:016x}", data.len())
    }
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("IPv6 address {a}"),
    }
}

/// A socket on self, of either kind.
enum SelfSock {
    Stack(UdpSocket),
    Kernel(KernelSock),
}

fn pmtu_raw(mode: PmtuMode) -> rustix::net::sockopt::Ipv4PathMtuDiscovery {
    use rustix::net::sockopt::Ipv4PathMtuDiscovery as M;
    match mode {
        PmtuMode::Dont => M::DONT,
        PmtuMode::Want => M::WANT,
        PmtuMode::Do => M::DO,
        PmtuMode::Probe => M::PROBE,
        PmtuMode::Interface => M::INTERFACE,
        PmtuMode::Omit => M::OMIT,
    }
}

fn send_flags(flags: u32) -> SendFlags {
    let mut f = SendFlags::DONTWAIT;
    if flags & MSG_OOB != 0 {
        f |= SendFlags::OOB;
    }
    if flags & MSG_MORE != 0 {
        f |= SendFlags::MORE;
    }
    f
}

fn msg_flags(flags: u32) -> MsgFlags {
    MsgFlags::from_bits_truncate(flags as i32) | MsgFlags::MSG_DONTWAIT
}

impl SelfSock {
    fn sock(&self) -> &dyn Sock {
        match self {
            SelfSock::Stack(s) => s,
            SelfSock::Kernel(k) => k,
        }
    }

    fn bind(&self, a: SocketAddrV4) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.bind(a),
            SelfSock::Kernel(k) => {
                bind(k.0.as_raw_fd(), &SockaddrIn::from(a)).map_err(io::Error::from)
            }
        }
    }

    fn connect(&self, a: SocketAddrV4) -> io::Result<()> {
        self.sock().connect(a)
    }

    fn disconnect(&self) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.disconnect(),
            SelfSock::Kernel(k) => rustix::net::connect_unspec(&k.0).map_err(io::Error::from),
        }
    }

    /// `send(2)` (or `sendto(2)` with `to`), never blocking.
    fn send(&self, buf: &[u8], to: Option<SocketAddrV4>, flags: u32) -> io::Result<usize> {
        match self {
            SelfSock::Stack(s) => s.send_with(buf, to, send_flags(flags)),
            SelfSock::Kernel(k) => {
                let fd = k.0.as_raw_fd();
                match to {
                    Some(to) => {
                        nix::sys::socket::sendto(fd, buf, &SockaddrIn::from(to), msg_flags(flags))
                    }
                    None => nix::sys::socket::send(fd, buf, msg_flags(flags)),
                }
                .map_err(io::Error::from)
            }
        }
    }

    /// `recvmsg(2)` into `len` bytes with `flags`, never blocking.
    fn recv(&self, len: usize, flags: u32) -> io::Result<Got> {
        let mut buf = vec![0u8; len];
        let (ret, from, trunc) = match self {
            SelfSock::Stack(s) => {
                let mut f = RecvFlags::DONTWAIT;
                if flags & MSG_PEEK != 0 {
                    f |= RecvFlags::PEEK;
                }
                if flags & MSG_TRUNC != 0 {
                    f |= RecvFlags::TRUNC;
                }
                let r = s.recv_with(&mut buf, f)?;
                (r.len, r.from, r.truncated)
            }
            SelfSock::Kernel(k) => {
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = recvmsg::<SockaddrIn>(k.0.as_raw_fd(), &mut iov, None, msg_flags(flags))
                    .map_err(io::Error::from)?;
                let from = msg.address.map_or(sa(ANY, 0), |a| sa(a.ip(), a.port()));
                (msg.bytes, from, msg.flags.contains(MsgFlags::MSG_TRUNC))
            }
        };
        let data = show(&buf[..ret.min(len)]);
        Ok(Got {
            ret,
            from,
            trunc,
            data,
        })
    }

    fn fionread(&self) -> io::Result<usize> {
        match self {
            SelfSock::Stack(s) => s.pending(),
            SelfSock::Kernel(k) => rustix::io::ioctl_fionread(&k.0)
                .map(|n| n as usize)
                .map_err(io::Error::from),
        }
    }

    fn outq(&self) -> io::Result<usize> {
        match self {
            SelfSock::Stack(s) => s.outq(),
            SelfSock::Kernel(k) => tap_harness::socket_outq(&k.0),
        }
    }

    fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_reuse_addr(on),
            SelfSock::Kernel(k) => setsockopt(&k.0, sockopt::ReuseAddr, &on).map_err(Into::into),
        }
    }

    fn set_reuseport(&self, on: bool) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_reuse_port(on),
            SelfSock::Kernel(k) => setsockopt(&k.0, sockopt::ReusePort, &on).map_err(Into::into),
        }
    }

    fn set_rcvbuf(&self, v: usize) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_recv_buffer_size(v as i32),
            SelfSock::Kernel(k) => setsockopt(&k.0, sockopt::RcvBuf, &v).map_err(Into::into),
        }
    }

    fn rcvbuf(&self) -> io::Result<usize> {
        match self {
            SelfSock::Stack(s) => s.recv_buffer_size(),
            SelfSock::Kernel(k) => {
                nix::sys::socket::getsockopt(&k.0, sockopt::RcvBuf).map_err(Into::into)
            }
        }
    }

    fn set_sndbuf(&self, v: usize) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_send_buffer_size(v as i32),
            SelfSock::Kernel(k) => setsockopt(&k.0, sockopt::SndBuf, &v).map_err(Into::into),
        }
    }

    fn sndbuf(&self) -> io::Result<usize> {
        match self {
            SelfSock::Stack(s) => s.send_buffer_size(),
            SelfSock::Kernel(k) => {
                nix::sys::socket::getsockopt(&k.0, sockopt::SndBuf).map_err(Into::into)
            }
        }
    }

    fn set_cork(&self, on: bool) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_cork(on),
            SelfSock::Kernel(k) => tap_harness::set_udp_cork(&k.0, on),
        }
    }

    fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock().set_broadcast(on)
    }

    fn set_recverr(&self, on: bool) -> io::Result<()> {
        self.sock().set_recv_error(on)
    }

    fn set_pmtu(&self, mode: PmtuMode) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_mtu_discover(mode),
            SelfSock::Kernel(k) => rustix::net::sockopt::set_ip_mtu_discover(&k.0, pmtu_raw(mode))
                .map_err(io::Error::from),
        }
    }

    fn mtu(&self) -> io::Result<u32> {
        self.sock().mtu()
    }

    fn set_tos(&self, tos: u8) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_tos(tos),
            SelfSock::Kernel(k) => {
                rustix::net::sockopt::set_ip_tos(&k.0, tos).map_err(io::Error::from)
            }
        }
    }

    fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match self {
            SelfSock::Stack(s) => s.set_ttl(ttl),
            SelfSock::Kernel(k) => k.0.set_ttl(ttl),
        }
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock().take_error()
    }

    fn recv_error(&self, len: usize) -> io::Result<ErrEntry> {
        let mut buf = vec![0u8; len];
        self.sock().recv_error(&mut buf)
    }

    /// What `poll(2)` reports now: (POLLIN, POLLOUT, POLLERR).
    fn poll(&self) -> io::Result<(bool, bool, bool)> {
        match self {
            SelfSock::Stack(s) => {
                let r = s.readiness()?;
                Ok((r.readable, r.writable, r.error))
            }
            SelfSock::Kernel(k) => {
                let r = poll_fd(
                    k.0.as_fd(),
                    PollFlags::POLLIN | PollFlags::POLLOUT,
                    Duration::ZERO,
                )?;
                Ok((
                    r.contains(PollFlags::POLLIN),
                    r.contains(PollFlags::POLLOUT),
                    r.contains(PollFlags::POLLERR),
                ))
            }
        }
    }

    fn local(&self) -> io::Result<SocketAddrV4> {
        match self {
            SelfSock::Stack(s) => s.local_addr().map(v4),
            SelfSock::Kernel(k) => k.0.local_addr().map(v4),
        }
    }

    fn peer(&self) -> io::Result<SocketAddrV4> {
        match self {
            SelfSock::Stack(s) => s.peer_addr().map(v4),
            SelfSock::Kernel(k) => k.0.peer_addr().map(v4),
        }
    }
}

/// A kernel peer socket (in the router or the far namespace), blocking with timeouts.
struct Peer(std::net::UdpSocket);

impl Peer {
    fn send_to(&self, buf: &[u8], to: SocketAddrV4) {
        self.0.send_to(buf, to).expect("peer sendto");
    }

    /// The next datagram within `t` with the TTL and TOS it arrived with (IP_RECVTTL,
    /// IP_RECVTOS); EAGAIN if none.
    fn recv_ttl_tos(&self, t: Duration) -> io::Result<(String, Option<u8>, Option<u8>)> {
        setsockopt(&self.0, sockopt::Ipv4RecvTtl, &true)?;
        setsockopt(&self.0, sockopt::IpRecvTos, &true)?;
        if !poll_fd(self.0.as_fd(), PollFlags::POLLIN, t)?.contains(PollFlags::POLLIN) {
            return Err(io::Error::from_raw_os_error(11));
        }
        let mut buf = vec![0u8; 65536];
        let mut cmsg = nix::cmsg_space!(libc::c_int, u8);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrIn>(
            self.0.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )?;
        let (mut ttl, mut tos) = (None, None);
        for c in msg.cmsgs()? {
            match c {
                ControlMessageOwned::Ipv4Ttl(v) => ttl = u8::try_from(v).ok(),
                ControlMessageOwned::Ipv4Tos(v) => tos = Some(v),
                _ => {}
            }
        }
        let n = msg.bytes;
        Ok((show(&buf[..n]), ttl, tos))
    }

    /// The next datagram within `t`, as the transcript shows it; EAGAIN if none.
    fn recv(&self, t: Duration) -> io::Result<Got> {
        let mut buf = vec![0u8; 65536];
        let k = KernelSock(self.0.try_clone()?);
        let (n, from) = k.recv_timeout(&mut buf, t)?;
        Ok(Got {
            ret: n,
            from,
            trunc: false,
            data: show(&buf[..n]),
        })
    }
}

/// A scenario's view of one world.
struct Ctx<'w> {
    w: &'w World,
    t: Transcript,
    start: Vec<u64>,
    delivered: u64,
}

impl<'w> Ctx<'w> {
    fn new(w: &'w World) -> Self {
        let snmp = w.snmp();
        let start = COUNTERS
            .iter()
            .map(|(s, f)| snmp_value(&snmp, s, f).unwrap_or_else(|| panic!("no {s}:{f}")))
            .collect();
        Ctx {
            w,
            t: Transcript::new(&[]),
            start,
            delivered: w.counter("Ip", "InDelivers"),
        }
    }

    /// A fresh unbound socket on self.
    fn sock(&self) -> SelfSock {
        self.w.socket().expect("a socket on self")
    }

    /// A fresh socket on self bound to `addr`.
    fn bound(&mut self, addr: SocketAddrV4) -> SelfSock {
        let s = self.sock();
        let r = s.bind(addr);
        self.t.result(&format!("bind {addr}"), &r);
        s
    }

    /// A kernel socket on the far host at 10.0.1.2:`port`.
    fn far(&self, port: u16) -> Peer {
        let s = self
            .w
            .far
            .enter(|| std::net::UdpSocket::bind(sa(FAR, port)))
            .expect("enter far")
            .expect("bind on far");
        Peer(s)
    }

    /// A kernel socket on the router at 10.0.0.1:`port` (on self's link), broadcast allowed.
    fn onlink(&self, port: u16) -> Peer {
        self.router_socket(sa(ROUTER, port))
    }

    /// A kernel socket on the router at 0.0.0.0:`port`: receives self's broadcasts too.
    fn onlink_any(&self, port: u16) -> Peer {
        self.router_socket(sa(ANY, port))
    }

    fn router_socket(&self, addr: SocketAddrV4) -> Peer {
        let s = self
            .w
            .router
            .enter(|| std::net::UdpSocket::bind(addr))
            .expect("enter router")
            .expect("bind on router");
        s.set_broadcast(true).expect("SO_BROADCAST");
        Peer(s)
    }

    /// Records `r` for `step`.
    fn r<T: std::fmt::Debug>(&mut self, step: &str, r: io::Result<T>) {
        self.t.result(step, &r);
    }

    fn note(&mut self, step: &str, what: impl std::fmt::Debug) {
        self.t.note(step, what);
    }

    /// Waits until `n` more packets (UDP or ICMP) have been delivered to self's transport
    /// layer since the last wait, and records whether they were.
    fn arrive(&mut self, n: u64) {
        let target = self.delivered + n;
        let ok = wait_until(TIMEOUT, || self.w.counter("Ip", "InDelivers") >= target);
        self.delivered = self.w.counter("Ip", "InDelivers");
        self.t.note(&format!("{n} delivered"), ok);
    }

    fn error(&mut self, step: &str, s: &SelfSock) {
        self.t.error(step, s.take_error());
    }

    fn errqueue(&mut self, step: &str, s: &SelfSock, len: usize, sent: &[u8]) {
        self.t.err_entry(step, s.recv_error(len), sent);
    }

    /// The counters' change over the scenario, appended to the transcript.
    fn finish(mut self) -> Transcript {
        let snmp = self.w.snmp();
        for ((section, field), before) in COUNTERS.iter().zip(&self.start) {
            let now = snmp_value(&snmp, section, field).expect("counter");
            if now != *before {
                self.t
                    .note(&format!("{section}:{field}"), now.wrapping_sub(*before));
            }
        }
        self.t
    }
}

/// Runs `scenario` in a kernel world and in a stack world and compares the transcripts.
fn differential(test: &str, scenario: fn(&mut Ctx<'_>)) -> io::Result<()> {
    if !privileged_or_skip(test)? {
        return Ok(());
    }
    let run = |w: World| {
        let mut ctx = Ctx::new(&w);
        scenario(&mut ctx);
        ctx.finish()
    };
    let kernel = run(World::kernel()?);
    let stack = run(World::stack()?);
    assert_same(&kernel, &stack);
    Ok(())
}

/// Declares one `#[test]` per scenario.
macro_rules! scenarios {
    ($($(#[$m:meta])* $name:ident,)*) => {
        mod run {
            $(
                $(#[$m])*
                #[test]
                fn $name() -> std::io::Result<()> {
                    super::differential(stringify!($name), super::$name)
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// L7.1, L7.2, L8.1: bind.

/// L7.1: binding twice is EINVAL; a non-local address EADDRNOTAVAIL; the subnet broadcast and
/// a multicast address are accepted; a privileged port is allowed to root.
fn bind_addresses(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 5000));
    c.r("bind again", s.bind(sa(SELF, 5001)));
    c.r("local", s.local());
    c.bound(sa(Ipv4Addr::new(10, 0, 0, 9), 5002));
    c.bound(sa(Ipv4Addr::new(192, 0, 2, 1), 5002));
    c.bound(sa(BCAST, 5003));
    c.bound(sa(Ipv4Addr::new(224, 0, 0, 5), 5004));
    c.bound(sa(SELF, 53));
}

/// L7.2: two sockets on one port conflict whatever the addresses' order (specific, wildcard)
/// unless both set SO_REUSEADDR; one side alone is not enough.
fn bind_conflicts_and_reuseaddr(c: &mut Ctx<'_>) {
    let _a = c.bound(sa(SELF, 6000));
    c.bound(sa(SELF, 6000));
    c.bound(sa(ANY, 6000));
    let _b = c.bound(sa(ANY, 6001));
    c.bound(sa(SELF, 6001));
    // Only the newcomer has SO_REUSEADDR.
    let n = c.sock();
    c.r("reuseaddr", n.set_reuseaddr(true));
    c.r("bind 6001 reuseaddr alone", n.bind(sa(SELF, 6001)));
    // Both.
    let x = c.sock();
    c.r("x reuseaddr", x.set_reuseaddr(true));
    c.r("x bind", x.bind(sa(ANY, 6002)));
    let y = c.sock();
    c.r("y reuseaddr", y.set_reuseaddr(true));
    c.r("y bind same", y.bind(sa(ANY, 6002)));
    let z = c.sock();
    c.r("z bind without", z.bind(sa(SELF, 6002)));
    // Closing frees the port.
    drop(_a);
    c.bound(sa(SELF, 6000));
}

/// L7.2, L7.3: SO_REUSEPORT on both sides allows sharing; on one side only it does not.
fn bind_reuseport(c: &mut Ctx<'_>) {
    let a = c.sock();
    c.r("a reuseport", a.set_reuseport(true));
    c.r("a bind", a.bind(sa(SELF, 6100)));
    let b = c.sock();
    c.r("b reuseport", b.set_reuseport(true));
    c.r("b bind", b.bind(sa(SELF, 6100)));
    let d = c.sock();
    c.r("d bind without", d.bind(sa(SELF, 6100)));
    let e = c.sock();
    c.r("e reuseport", e.set_reuseport(true));
    c.r("e bind wildcard", e.bind(sa(ANY, 6100)));
    let f = c.sock();
    c.r("f reuseaddr only", f.set_reuseaddr(true));
    c.r("f bind", f.bind(sa(SELF, 6100)));
}

/// L8.1: port 0 draws distinct ephemeral ports in ip_local_port_range.
fn bind_ephemeral(c: &mut Ctx<'_>) {
    let mut ports = Vec::new();
    let mut socks = Vec::new();
    for _ in 0..32 {
        let s = c.sock();
        s.bind(sa(SELF, 0)).expect("bind port 0");
        ports.push(s.local().expect("local").port());
        socks.push(s);
    }
    c.note(
        "all in 32768..=60999",
        ports.iter().all(|p| (32768..=60999).contains(p)),
    );
    ports.sort_unstable();
    ports.dedup();
    c.note("distinct", ports.len());
    c.note("address", socks[0].local().map(|a| *a.ip()));
}

/// L7.4, L8.1: connect binds an ephemeral port and the source address; a second connect keeps
/// the local address; getpeername follows.
fn connect_binds_and_reconnects(c: &mut Ctx<'_>) {
    let s = c.sock();
    c.r("peer before", s.peer());
    c.r("connect", s.connect(sa(FAR, 7000)));
    let local = s.local().expect("local");
    c.note("local ip", local.ip());
    c.note("ephemeral", (32768..=60999).contains(&local.port()));
    c.r("peer", s.peer());
    c.r("reconnect", s.connect(sa(ROUTER, 7001)));
    c.note("same local", s.local().ok() == Some(local));
    c.r("peer after", s.peer());
}

/// L7.5: disconnecting an auto-bound socket resets it to 0.0.0.0:0; an explicitly bound one
/// keeps its address; disconnect of an unconnected socket is fine.
fn disconnect_resets_local(c: &mut Ctx<'_>) {
    let s = c.sock();
    c.r("connect", s.connect(sa(FAR, 7000)));
    c.r("disconnect", s.disconnect());
    c.r("local", s.local());
    c.r("peer", s.peer());
    let b = c.bound(sa(SELF, 7100));
    c.r("connect", b.connect(sa(FAR, 7000)));
    c.r("disconnect", b.disconnect());
    c.r("local", b.local());
    let w = c.bound(sa(ANY, 7101));
    c.r("connect", w.connect(sa(FAR, 7000)));
    c.r("local connected", w.local());
    c.r("disconnect", w.disconnect());
    c.r("local", w.local());
    let u = c.sock();
    c.r("disconnect unconnected", u.disconnect());
    c.r("send after disconnect", b.send(b"x", None, 0));
}

/// L7.4, L8.1: sendto on an unbound socket binds 0.0.0.0:ephemeral; the peer sees self's
/// address and that port.
fn send_autobinds(c: &mut Ctx<'_>) {
    let p = c.far(7000);
    let s = c.sock();
    c.r("sendto", s.send(b"hello", Some(sa(FAR, 7000)), 0));
    let local = s.local().expect("local");
    c.note("local ip", local.ip());
    c.note("ephemeral", (32768..=60999).contains(&local.port()));
    let got = p.recv(TIMEOUT).expect("arrives");
    c.note(
        "peer got",
        (&got.data, got.from.ip(), got.from.port() == local.port()),
    );
}

// ---------------------------------------------------------------------------------------------
// L3.1: send checks.

/// L3.1: EDESTADDRREQ, EINVAL for port 0, EOPNOTSUPP for MSG_OOB, EMSGSIZE over 65507 bytes,
/// sendto on a connected socket goes to the given address.
fn send_checks(c: &mut Ctx<'_>) {
    let p = c.far(7000);
    let q = c.far(7002);
    let s = c.bound(sa(SELF, 7200));
    c.r("send unconnected", s.send(b"x", None, 0));
    c.r("sendto port 0", s.send(b"x", Some(sa(FAR, 0)), 0));
    c.r("MSG_OOB", s.send(b"x", Some(sa(FAR, 7000)), MSG_OOB));
    c.r("65508", s.send(&vec![0; 65508], Some(sa(FAR, 7000)), 0));
    c.r("65536", s.send(&vec![0; 65536], Some(sa(FAR, 7000)), 0));
    c.r("connect", s.connect(sa(FAR, 7000)));
    c.r("send connected", s.send(b"to p", None, 0));
    c.r("sendto other", s.send(b"to q", Some(sa(FAR, 7002)), 0));
    c.r("p", p.recv(TIMEOUT));
    c.r("q", q.recv(TIMEOUT));
    c.r("port 0 connected", s.send(b"x", Some(sa(FAR, 0)), 0));
}

/// L3.3, L3.4: the largest datagram (65507 bytes) goes out fragmented and the far host
/// reassembles it across the 1280 leg; zero-length datagrams are sent.
fn send_largest_and_empty(c: &mut Ctx<'_>) {
    let p = c.far(7000);
    let s = c.bound(sa(SELF, 7201));
    let big = pattern(65507, 9);
    c.r("65507", s.send(&big, Some(sa(FAR, 7000)), 0));
    c.r("far got", p.recv(TIMEOUT));
    c.r("empty", s.send(b"", Some(sa(FAR, 7000)), 0));
    c.r("far got empty", p.recv(TIMEOUT));
}

/// L3.1, L7.4: broadcast needs SO_BROADCAST (EACCES for sendto and connect), then reaches an
/// on-link peer, for the subnet and the limited broadcast address.
fn broadcast_send(c: &mut Ctx<'_>) {
    let p = c.onlink_any(7300);
    let s = c.bound(sa(ANY, 7301));
    c.r(
        "sendto subnet bcast",
        s.send(b"b1", Some(sa(BCAST, 7300)), 0),
    );
    c.r(
        "sendto limited",
        s.send(b"b2", Some(sa(Ipv4Addr::BROADCAST, 7300)), 0),
    );
    c.r("connect bcast", s.connect(sa(BCAST, 7300)));
    c.r("SO_BROADCAST", s.set_broadcast(true));
    c.r(
        "sendto subnet bcast",
        s.send(b"b3", Some(sa(BCAST, 7300)), 0),
    );
    c.r("router got", p.recv(TIMEOUT));
    c.r(
        "sendto limited",
        s.send(b"b4", Some(sa(Ipv4Addr::BROADCAST, 7300)), 0),
    );
    c.r("router got", p.recv(TIMEOUT));
    c.r("connect bcast", s.connect(sa(BCAST, 7300)));
    c.r("send", s.send(b"b5", None, 0));
    c.r("router got", p.recv(TIMEOUT));
}

/// L2.3, L3.3, L1.9: DO mode refuses more than MTU − 28 bytes locally; with IP_RECVERR the
/// local error is also queued; DONT mode sends it fragmented.
fn send_do_mode_local_emsgsize(c: &mut Ctx<'_>) {
    let p = c.onlink(7400);
    let s = c.bound(sa(SELF, 7401));
    c.r("DO", s.set_pmtu(PmtuMode::Do));
    c.r("1473", s.send(&pattern(1473, 1), Some(sa(ROUTER, 7400)), 0));
    c.r("1472", s.send(&pattern(1472, 2), Some(sa(ROUTER, 7400)), 0));
    c.r("router got", p.recv(TIMEOUT));
    c.r("IP_RECVERR", s.set_recverr(true));
    c.r("connect", s.connect(sa(ROUTER, 7400)));
    let big = pattern(1500, 3);
    c.r("1500 connected", s.send(&big, None, 0));
    c.errqueue("local entry", &s, 2000, &big);
    c.error("SO_ERROR", &s);
    c.r("DONT", s.set_pmtu(PmtuMode::Dont));
    c.r("1500 DONT", s.send(&big, None, 0));
    c.r("router got", p.recv(TIMEOUT));
}

/// L3.6: TTL 64 by default (63 after the router), IP_TTL and IP_TOS change what the far host
/// receives; a connected socket's IP_TTL is kept across connect.
fn send_header_ttl_and_tos(c: &mut Ctx<'_>) {
    let p = c.far(7501);
    let s = c.bound(sa(SELF, 7500));
    c.r("default", s.send(b"default", Some(sa(FAR, 7501)), 0));
    c.r("far got", p.recv_ttl_tos(TIMEOUT));
    c.r("IP_TTL 10", s.set_ttl(10));
    c.r("IP_TOS 0x28", s.set_tos(0x28));
    c.r("changed", s.send(b"changed", Some(sa(FAR, 7501)), 0));
    c.r("far got", p.recv_ttl_tos(TIMEOUT));
    c.r("IP_TOS 0xb9 (ECN bits too)", s.set_tos(0xb9));
    c.r("connect", s.connect(sa(FAR, 7501)));
    c.r("connected", s.send(b"connected", None, 0));
    c.r("far got", p.recv_ttl_tos(TIMEOUT));
}

// ---------------------------------------------------------------------------------------------
// L7.6, L7.7: receive.

/// L7.6: a short buffer truncates and sets MSG_TRUNC; the MSG_TRUNC flag returns the full
/// length; MSG_PEEK leaves the datagram; an empty queue gives EAGAIN; InDatagrams counts reads,
/// not peeks (L5.5).
fn recv_trunc_peek(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 8000));
    let p = c.far(8001);
    p.send_to(b"0123456789abcdefghij", sa(SELF, 8000));
    p.send_to(b"second datagram", sa(SELF, 8000));
    p.send_to(b"third", sa(SELF, 8000));
    c.arrive(3);
    c.r("peek 5", s.recv(5, MSG_PEEK));
    c.r("peek|trunc 5", s.recv(5, MSG_PEEK | MSG_TRUNC));
    c.r("fionread", s.fionread());
    c.r("recv 4", s.recv(4, 0));
    c.r("recv trunc 3", s.recv(3, MSG_TRUNC));
    c.r("recv 100", s.recv(100, 0));
    c.r("empty", s.recv(100, 0));
    c.r("poll", s.poll());
}

/// L7.6, L7.7: zero-length datagrams: FIONREAD says 0, poll says readable, recv returns 0 with
/// the sender; a zero-length read consumes a non-empty datagram.
fn recv_zero_length(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 8100));
    let p = c.far(8101);
    p.send_to(b"", sa(SELF, 8100));
    p.send_to(b"eaten", sa(SELF, 8100));
    p.send_to(b"kept", sa(SELF, 8100));
    c.arrive(3);
    c.r("fionread", s.fionread());
    c.r("poll", s.poll());
    c.r("recv empty", s.recv(10, 0));
    c.r("fionread", s.fionread());
    c.r("recv into 0 bytes", s.recv(0, 0));
    c.r("recv", s.recv(10, 0));
    c.r("fionread", s.fionread());
}

/// L5.3, L7.6: datagrams from several peers come out in arrival order with their senders.
fn recv_order_and_senders(c: &mut Ctx<'_>) {
    let s = c.bound(sa(ANY, 8200));
    let a = c.far(8201);
    let b = c.onlink(8202);
    a.send_to(b"from far", sa(SELF, 8200));
    c.arrive(1);
    b.send_to(b"from router", sa(SELF, 8200));
    c.arrive(1);
    a.send_to(b"far again", sa(SELF, 8200));
    c.arrive(1);
    for i in 0..4 {
        c.r(&format!("recv {i}"), s.recv(100, 0));
    }
}

/// L5.1, L5.4: a datagram to a port without a socket draws a port unreachable (NoPorts,
/// OutDestUnreachs) that the far socket sees as ECONNREFUSED.
fn no_port_answers_unreachable(c: &mut Ctx<'_>) {
    let p = c.far(8301);
    p.0.connect(sa(SELF, 8300)).expect("connect");
    p.0.send(b"anyone?").expect("send");
    c.arrive(1);
    let mut buf = [0u8; 16];
    p.0.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let r = p.0.recv(&mut buf).map_err(|e| describe(&e));
    c.note("far recv", r);
}

/// L7.4: a connected socket takes only its peer's datagrams; already queued ones stay;
/// others find no socket (NoPorts + port unreachable).
fn connected_filters(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 8400));
    let a = c.far(8401);
    let b = c.far(8402);
    b.send_to(b"early b", sa(SELF, 8400));
    c.arrive(1);
    c.r("connect a", s.connect(sa(FAR, 8401)));
    b.send_to(b"late b", sa(SELF, 8400));
    a.send_to(b"from a", sa(SELF, 8400));
    c.arrive(2); // late b (its port unreachable has left), from a
    c.r("recv", s.recv(100, 0));
    c.r("recv", s.recv(100, 0));
    c.r("recv", s.recv(100, 0));
}

/// L5.3: a socket bound to the destination address wins over a wildcard one on the same port,
/// whichever was bound first; between two wildcard sockets the last bound wins.
fn lookup_specific_beats_wildcard(c: &mut Ctx<'_>) {
    let p = c.far(8501);
    let w = c.sock();
    c.r("w reuseaddr", w.set_reuseaddr(true));
    c.r("w bind", w.bind(sa(ANY, 8500)));
    let sp = c.sock();
    c.r("sp reuseaddr", sp.set_reuseaddr(true));
    c.r("sp bind", sp.bind(sa(SELF, 8500)));
    let w2 = c.sock();
    c.r("w2 reuseaddr", w2.set_reuseaddr(true));
    c.r("w2 bind", w2.bind(sa(ANY, 8500)));
    p.send_to(b"to self", sa(SELF, 8500));
    c.arrive(1);
    c.r("specific", sp.recv(100, 0));
    c.r("wildcard", w.recv(100, 0));
    c.r("wildcard 2", w2.recv(100, 0));
    drop(sp);
    p.send_to(b"again", sa(SELF, 8500));
    c.arrive(1);
    c.r("wildcard", w.recv(100, 0));
    c.r("wildcard 2", w2.recv(100, 0));
}

/// L5.3: a connected socket is preferred over unconnected ones for its peer's datagrams.
fn lookup_connected_preferred(c: &mut Ctx<'_>) {
    let a = c.far(8601);
    let b = c.far(8602);
    let conn = c.sock();
    c.r("reuseaddr", conn.set_reuseaddr(true));
    c.r("bind", conn.bind(sa(ANY, 8600)));
    c.r("connect", conn.connect(sa(FAR, 8601)));
    let open = c.sock();
    c.r("reuseaddr", open.set_reuseaddr(true));
    c.r("bind", open.bind(sa(ANY, 8600)));
    a.send_to(b"from a", sa(SELF, 8600));
    b.send_to(b"from b", sa(SELF, 8600));
    c.arrive(2);
    c.r("connected", conn.recv(100, 0));
    c.r("connected", conn.recv(100, 0));
    c.r("open", open.recv(100, 0));
    c.r("open", open.recv(100, 0));
}

/// L5.2: UDP checksum 0 means none and is accepted; L5.1: a datagram shorter than its UDP
/// length field says is dropped.
fn checksum_zero_and_bad_lengths(c: &mut Ctx<'_>) {
    use interop::{ipv4_packet, raw_ip_socket, raw_send, udp_datagram};
    let s = c.bound(sa(SELF, 8700));
    let raw = raw_ip_socket(&c.w.far).expect("raw socket");
    let mut d = udp_datagram(sa(FAR, 8701), sa(SELF, 8700), b"no checksum");
    d[6..8].copy_from_slice(&[0, 0]);
    raw_send(
        &raw,
        &ipv4_packet((FAR, SELF), 1, (0, false, false), &[], &d),
        SELF,
    )
    .expect("send");
    let mut bad = udp_datagram(sa(FAR, 8701), sa(SELF, 8700), b"bad checksum");
    bad[6] ^= 0x55;
    raw_send(
        &raw,
        &ipv4_packet((FAR, SELF), 2, (0, false, false), &[], &bad),
        SELF,
    )
    .expect("send");
    let mut long = udp_datagram(sa(FAR, 8701), sa(SELF, 8700), b"length lies");
    long[4..6].copy_from_slice(&100u16.to_be_bytes());
    raw_send(
        &raw,
        &ipv4_packet((FAR, SELF), 3, (0, false, false), &[], &long),
        SELF,
    )
    .expect("send");
    let mut short = udp_datagram(sa(FAR, 8701), sa(SELF, 8700), b"trimmed tail");
    // UDP length 8 + 7: the last 5 bytes are padding past the UDP length; the checksum must
    // cover only the 7 (recomputed by building the shorter datagram).
    let seven = udp_datagram(sa(FAR, 8701), sa(SELF, 8700), b"trimmed");
    short[..seven.len()].copy_from_slice(&seven);
    raw_send(
        &raw,
        &ipv4_packet((FAR, SELF), 4, (0, false, false), &[], &short),
        SELF,
    )
    .expect("send");
    // IP delivers all four to UDP; UDP keeps two.
    c.arrive(4);
    c.r("recv", s.recv(100, 0));
    c.r("recv", s.recv(100, 0));
    c.r("recv", s.recv(100, 0));
}

// ---------------------------------------------------------------------------------------------
// L6: receive buffer.

/// L6.1: SO_RCVBUF doubles the value, with a floor of 2304 and a cap of 2 × rmem_max.
fn rcvbuf_values(c: &mut Ctx<'_>) {
    let s = c.sock();
    c.r("default", s.rcvbuf());
    for v in [0, 1000, 1153, 4096, 100_000, 10_000_000] {
        c.r(&format!("set {v}"), s.set_rcvbuf(v));
        c.r(&format!("get after {v}"), s.rcvbuf());
    }
}

/// L6.2, L6.3, L5.5: with SO_RCVBUF 4096 (8192 in force) tiny datagrams are admitted while
/// rmem + truesize ≤ rcvbuf; the rest are RcvbufErrors and InErrors.
fn rcvbuf_admission_tiny(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 8800));
    c.r("rcvbuf", s.set_rcvbuf(4096));
    let p = c.far(8801);
    for i in 0..20u8 {
        p.send_to(&[b'a' + i], sa(SELF, 8800));
    }
    c.arrive(20);
    let mut n = 0;
    while s.recv(100, 0).is_ok() {
        n += 1;
    }
    c.note("queued", n);
}

/// L6.2, L6.3: the same with 1472-byte datagrams, and then again once the queue has been read.
fn rcvbuf_admission_full_size(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 8900));
    c.r("rcvbuf", s.set_rcvbuf(4096));
    let p = c.onlink(8901);
    for round in 0..2u8 {
        for i in 0..6u8 {
            p.send_to(&pattern(1472, i + round), sa(SELF, 8900));
        }
        c.arrive(6);
        c.r("fionread", s.fionread());
        let mut got = Vec::new();
        while let Ok(g) = s.recv(2000, 0) {
            got.push(g.data);
        }
        c.note("read", got);
    }
}

/// L6.3: a datagram larger than the whole buffer is admitted into an empty queue.
fn rcvbuf_big_datagram_into_empty_queue(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9000));
    c.r("rcvbuf", s.set_rcvbuf(1000));
    let p = c.onlink(9001);
    p.send_to(&pattern(20000, 1), sa(SELF, 9000));
    c.arrive(1);
    p.send_to(b"small", sa(SELF, 9000));
    c.arrive(1);
    c.r("recv", s.recv(30000, 0));
    c.r("recv", s.recv(30000, 0));
}

/// L6.1, L6.5, L6.6: SO_SNDBUF doubles with a floor of 4608; SIOCOUTQ is 0 when idle and
/// POLLOUT is set; a blocked-size burst on a tiny send buffer gives EAGAIN with MSG_DONTWAIT.
fn sndbuf_values_and_outq(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9050));
    c.r("SIOCOUTQ idle", s.outq());
    c.r("poll idle", s.poll());
    for v in [0, 2000, 5000, 100_000] {
        c.r(&format!("set {v}"), s.set_sndbuf(v));
        c.r(&format!("get after {v}"), s.sndbuf());
    }
}

/// L5.4, L5.7: a burst of datagrams to a closed port draws port unreachables up to the
/// per-destination burst (6), then none; every datagram counts NoPorts.
fn no_port_unreachables_rate_limited(c: &mut Ctx<'_>) {
    let p = c.far(9061);
    for i in 0..10u8 {
        p.send_to(&[i], sa(SELF, 9060));
    }
    // Self's port unreachables are counted in the same step as the delivery.
    c.arrive(10);
}

// ---------------------------------------------------------------------------------------------
// L3.2: corking.

/// L3.2: with UDP_CORK on, sends append to one datagram sent when the cork comes off; the
/// address of later sends is not examined.
fn cork_builds_one_datagram(c: &mut Ctx<'_>) {
    let p = c.far(9101);
    let s = c.bound(sa(SELF, 9100));
    c.r("cork", s.set_cork(true));
    c.r("a", s.send(b"one,", Some(sa(FAR, 9101)), 0));
    c.r("SIOCOUTQ corked", s.outq());
    c.r("b to elsewhere", s.send(b"two,", Some(sa(FAR, 9999)), 0));
    c.r("c port 0", s.send(b"three", Some(sa(FAR, 0)), 0));
    c.r("nothing yet", p.recv(QUIET));
    c.r("uncork", s.set_cork(false));
    c.r("far got", p.recv(TIMEOUT));
    c.note(
        "outq drains",
        wait_until(TIMEOUT, || s.outq().ok() == Some(0)),
    );
}

/// L3.2: MSG_MORE appends; a send without it sends the whole datagram.
fn msg_more(c: &mut Ctx<'_>) {
    let p = c.far(9201);
    let s = c.bound(sa(SELF, 9200));
    c.r("connect", s.connect(sa(FAR, 9201)));
    c.r("more 1", s.send(b"alpha ", None, MSG_MORE));
    c.r("more 2", s.send(b"beta ", None, MSG_MORE));
    c.r("nothing yet", p.recv(QUIET));
    c.r("last", s.send(b"gamma", None, 0));
    c.r("far got", p.recv(TIMEOUT));
    c.r("plain", s.send(b"delta", None, 0));
    c.r("far got", p.recv(TIMEOUT));
}

/// L3.2, L3.3: an append that would pass 65507 bytes fails with EMSGSIZE and discards the
/// whole pending datagram; the socket then sends normally.
fn cork_overflow_discards(c: &mut Ctx<'_>) {
    let p = c.far(9301);
    let s = c.bound(sa(SELF, 9300));
    c.r("cork", s.set_cork(true));
    c.r("60000", s.send(&vec![1; 60000], Some(sa(FAR, 9301)), 0));
    c.r("6000 more", s.send(&vec![2; 6000], Some(sa(FAR, 9301)), 0));
    c.r("uncork", s.set_cork(false));
    c.r("nothing", p.recv(QUIET));
    c.r("fresh", s.send(b"fresh", Some(sa(FAR, 9301)), 0));
    c.r("far got", p.recv(TIMEOUT));
}

// ---------------------------------------------------------------------------------------------
// L1: ICMP errors.

/// L1.2, L1.5, L1.6: connected, a port unreachable is ECONNREFUSED on the next recv, once.
fn icmp_refused_connected_recv(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9400));
    c.r("connect", s.connect(sa(FAR, 9401)));
    c.r("send", s.send(b"knock", None, 0));
    c.arrive(1);
    c.r("poll", s.poll());
    c.r("recv", s.recv(100, 0));
    c.r("recv again", s.recv(100, 0));
    c.error("SO_ERROR", &s);
}

/// L1.6: the pending error fails the next send (which sends nothing), even to another address.
fn icmp_pending_error_fails_next_send(c: &mut Ctx<'_>) {
    let q = c.far(9502);
    let s = c.bound(sa(SELF, 9500));
    c.r("connect", s.connect(sa(FAR, 9501)));
    c.r("send", s.send(b"knock", None, 0));
    c.arrive(1);
    c.r("sendto other", s.send(b"lost", Some(sa(FAR, 9502)), 0));
    c.r("q got", q.recv(QUIET));
    c.r(
        "sendto other again",
        s.send(b"sent", Some(sa(FAR, 9502)), 0),
    );
    c.r("q got", q.recv(TIMEOUT));
}

/// L1.5: unconnected and without IP_RECVERR, a port unreachable is silently dropped.
fn icmp_refused_unconnected_silent(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9600));
    c.r("sendto", s.send(b"knock", Some(sa(FAR, 9601)), 0));
    c.arrive(1);
    c.r("poll", s.poll());
    c.error("SO_ERROR", &s);
    c.r("recv", s.recv(100, 0));
    c.errqueue("errqueue", &s, 100, b"");
}

/// L1.5, L1.7: with IP_RECVERR an unconnected socket queues the error and has it pending;
/// SO_ERROR takes the pending error, the entry stays; reading the entry with a short buffer
/// truncates; turning IP_RECVERR off purges the queue.
fn icmp_recverr_unconnected(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9700));
    c.r("IP_RECVERR", s.set_recverr(true));
    let payload = pattern(100, 7);
    c.r("sendto", s.send(&payload, Some(sa(FAR, 9701)), 0));
    c.arrive(1);
    c.r("poll", s.poll());
    c.error("SO_ERROR", &s);
    c.r("poll after SO_ERROR", s.poll());
    c.errqueue("entry, short buffer", &s, 10, &payload);
    c.errqueue("empty", &s, 100, &payload);
    c.r("sendto again", s.send(&payload, Some(sa(FAR, 9701)), 0));
    c.arrive(1);
    c.r("IP_RECVERR off", s.set_recverr(false));
    c.errqueue("purged", &s, 100, &payload);
    c.error("SO_ERROR", &s);
}

/// L1.6, L1.7: two errors queue in order; dequeuing sets the pending error to the next entry's.
fn icmp_recverr_two_entries(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9800));
    c.r("IP_RECVERR", s.set_recverr(true));
    c.r("sendto 1", s.send(b"first", Some(sa(FAR, 9801)), 0));
    c.arrive(1);
    c.r(
        "sendto 2 (fails with the pending error)",
        s.send(b"second", Some(sa(FAR, 9802)), 0),
    );
    c.error("SO_ERROR", &s);
    c.r("sendto 2", s.send(b"second", Some(sa(FAR, 9802)), 0));
    c.arrive(1);
    c.errqueue("entry 1", &s, 100, b"first");
    c.error("pending after 1", &s);
    c.errqueue("entry 2", &s, 100, b"second");
    c.error("pending after 2", &s);
    c.r("poll", s.poll());
}

/// L1.3, L1.5: TTL 1 draws a time exceeded from the router: a soft error, invisible without
/// IP_RECVERR even when connected; with it, an entry of type 11 from the router.
fn icmp_time_exceeded(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 9900));
    c.r("TTL 1", s.set_ttl(1));
    c.r("connect", s.connect(sa(FAR, 9901)));
    c.r("send", s.send(b"short-lived", None, 0));
    c.arrive(1);
    c.r("poll", s.poll());
    c.error("SO_ERROR", &s);
    c.r("recv", s.recv(100, 0));
    c.r("IP_RECVERR", s.set_recverr(true));
    c.r("send", s.send(b"short-lived", None, 0));
    c.arrive(1);
    c.error("SO_ERROR", &s);
    c.errqueue("entry", &s, 100, b"short-lived");
}

/// A port unreachable from the far host quoting a datagram self → far (`from` → `to`).
fn forged_port_unreachable(from: u16, to: u16, payload: &[u8]) -> Vec<u8> {
    forged_unreachable_about(from, sa(FAR, to), payload)
}

/// A port unreachable from the far host quoting a datagram from self:`from` to `to`.
fn forged_unreachable_about(from: u16, to: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    use interop::{checksum, ipv4_packet, udp_datagram};
    let quoted = ipv4_packet(
        (SELF, *to.ip()),
        0x1234,
        (0, false, true),
        &[],
        &udp_datagram(sa(SELF, from), to, payload),
    );
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted[..quoted.len().min(20 + 8 + payload.len())]);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut packet = ipv4_packet((FAR, SELF), 0x4321, (0, false, false), &[], &icmp);
    packet[9] = 1; // ICMP
    packet[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(&packet[..20]);
    packet[10..12].copy_from_slice(&c.to_be_bytes());
    packet
}

/// L1.4: an ICMP error quoting a flow whose socket is gone reaches nobody (IcmpInErrors; a
/// socket on another port sees nothing); one quoting a live connected flow reaches it; one
/// quoting the right port but another peer does not reach a connected socket.
fn icmp_quoting_unknown_flows(c: &mut Ctx<'_>) {
    let raw = interop::raw_ip_socket(&c.w.far).expect("raw socket");
    let other = c.bound(sa(SELF, 10001));
    c.r("IP_RECVERR", other.set_recverr(true));
    let s = c.bound(sa(SELF, 10000));
    c.r("connect", s.connect(sa(FAR, 10002)));
    let inject = |c: &mut Ctx<'_>, from, to| {
        let p = forged_port_unreachable(from, to, b"quoted");
        interop::raw_send(&raw, &p, SELF).expect("raw send");
        c.arrive(1);
    };
    inject(c, 10000, 10003); // the right port, another peer
    c.error("connected, other peer", &s);
    inject(c, 10000, 10002); // the connected flow
    c.error("connected, its peer", &s);
    drop(s);
    inject(c, 10000, 10002); // nobody any more
    inject(c, 10005, 10002); // never anybody
    c.r("other poll", other.poll());
    c.errqueue("other errqueue", &other, 100, b"");
}

/// L1.4, L1.5: an ICMP error quoting a datagram self sent to a broadcast address reaches the
/// sending socket: `icmp_unreach` drops such errors only when
/// `icmp_ignore_bogus_error_responses` is 0, and the default is 1.
fn icmp_quoting_a_broadcast(c: &mut Ctx<'_>) {
    let raw = interop::raw_ip_socket(&c.w.far).expect("raw socket");
    let s = c.bound(sa(ANY, 10010));
    c.r("SO_BROADCAST", s.set_broadcast(true));
    c.r("IP_RECVERR", s.set_recverr(true));
    for dst in [BCAST, Ipv4Addr::BROADCAST] {
        c.r(
            &format!("sendto {dst}"),
            s.send(b"all", Some(sa(dst, 10011)), 0),
        );
        c.arrive(1); // our own copy, looped back (IgnoredMulti)
        let p = forged_unreachable_about(10010, sa(dst, 10011), b"all");
        interop::raw_send(&raw, &p, SELF).expect("raw send");
        c.arrive(1);
        c.error("SO_ERROR", &s);
        c.errqueue("errqueue", &s, 100, b"all");
    }
}

/// RFC 792 timestamp requests, as Linux's `icmp_timestamp` answers them: a 20-byte reply of
/// type 14, code 0, the request's identifier, sequence and originate timestamp, and the same
/// receive and transmit timestamps, milliseconds since midnight UT (compared here with the far
/// host's clock); extra data is not returned; a request without its originate timestamp is
/// Icmp InErrors and no reply.
fn icmp_timestamp_requests(c: &mut Ctx<'_>) {
    use interop::{checksum, raw_icmp_socket, raw_recv, raw_send};
    let icmp = raw_icmp_socket(&c.w.far).expect("raw icmp socket");
    let now_ms = || {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970");
        (d.as_millis() % 86_400_000) as i64
    };
    let cases: [(&str, usize, u8); 3] = [
        ("plain", 12, 0),
        ("extra data, code 5", 40, 5),
        ("too short", 2, 0),
    ];
    for (i, (name, body_len, code)) in cases.into_iter().enumerate() {
        let mut m = vec![13, code, 0, 0, 0x12, 0x34, 0, i as u8];
        m.extend((0..body_len).map(|b| b as u8 ^ 0x5a));
        let cs = checksum(&m);
        m[2..4].copy_from_slice(&cs.to_be_bytes());
        raw_send(&icmp, &m, SELF).expect("send");
        c.arrive(1);
        let reply = loop {
            match raw_recv(&icmp, if body_len < 4 { QUIET } else { TIMEOUT }).expect("recv") {
                Some(p) if p[(usize::from(p[0] & 15)) * 4] == 14 => break Some(p),
                Some(_) => continue,
                None => break None,
            }
        };
        let Some(p) = reply else {
            c.note(name, "no reply");
            continue;
        };
        let ihl = usize::from(p[0] & 15) * 4;
        let r = &p[ihl..];
        let word = |at: usize| u32::from_be_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]]);
        let (orig, recv, xmit) = (word(8), word(12), word(16));
        let skew = (i64::from(recv) - now_ms()).abs();
        c.note(
            name,
            format_args!(
                "from {} tos {:#04x} len {} type {} code {} checksum ok {} id/seq {:02x?}                  originate echoed {} receive == transmit {} within 2 s of the far clock {}",
                Ipv4Addr::new(p[12], p[13], p[14], p[15]),
                p[1],
                r.len(),
                r[0],
                r[1],
                checksum(r) == 0,
                &r[4..8],
                orig.to_be_bytes() == m[8..12],
                recv == xmit,
                skew < 2000
            ),
        );
    }
}

/// An ICMP message as the far host receives it: type, code, the pointer byte, and the IP
/// options of the message and of its quote, record-route addresses written out.
fn show_icmp(p: &[u8]) -> String {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let icmp = &p[ihl..];
    let qihl = usize::from(icmp.get(8).map_or(0x45, |b| *b) & 0x0f) * 4;
    let quoted = icmp.get(8 + 20..8 + qihl).unwrap_or(&[]);
    format!(
        "from {} type {} code {} pointer {} options {} quoted options {} length {}",
        Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        icmp[0],
        icmp[1],
        icmp[4],
        show_ip_options(&p[20..ihl]),
        show_ip_options(quoted),
        p.len()
    )
}

/// RFC 791 record route, as `ip_options_compile` and `__ip_options_echo` handle it: on arrival
/// self records its address in the next slot (the socket gets the datagram as usual); the port
/// unreachable for a closed port echoes the route with self's address added where a slot is
/// left, and quotes the packet as changed; a pointer below 4, or one leaving no room for an
/// address, is a parameter problem pointing at it (InHdrErrors); a full route is left alone.
/// The packets come from the far host through the router (which records itself too), except
/// the one with pointer 3, which the router would refuse itself: the router sends that one,
/// from a raw socket (its own output does not check options).
fn ip_options_record_route(c: &mut Ctx<'_>) {
    use interop::{ipv4_packet, raw_icmp_socket, raw_ip_socket, raw_recv, raw_send, udp_datagram};
    let s = c.bound(sa(SELF, 10020));
    let cases: [(&str, bool, u16, &[u8]); 6] = [
        (
            "open port, room",
            false,
            10020,
            &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            "closed port, two slots",
            false,
            10021,
            &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            "closed port, three slots",
            false,
            10021,
            &[7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("closed port, full", false, 10021, &[7, 7, 8, 1, 2, 3, 4, 0]),
        (
            "pointer 3, from the router",
            true,
            10021,
            &[7, 7, 3, 0, 0, 0, 0, 0],
        ),
        (
            "no room for the next slot",
            false,
            10021,
            &[1, 7, 9, 4, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ];
    for (i, (name, from_router, port, options)) in cases.into_iter().enumerate() {
        let (ns, src) = if from_router {
            (&c.w.router, ROUTER)
        } else {
            (&c.w.far, FAR)
        };
        let raw = raw_ip_socket(ns).expect("raw socket");
        let icmp = raw_icmp_socket(ns).expect("raw icmp socket");
        let d = udp_datagram(sa(src, 10022), sa(SELF, port), name.as_bytes());
        let id = 0x5000 + i as u16;
        let p = ipv4_packet((src, SELF), id, (0, false, false), options, &d);
        raw_send(&raw, &p, SELF).expect("raw send");
        if port == 10020 {
            c.arrive(1);
            c.r(name, s.recv(100, 0));
            continue;
        }
        // The sender's raw ICMP socket sees what came back.
        let got = raw_recv(&icmp, TIMEOUT)
            .expect("raw recv")
            .map(|p| show_icmp(&p));
        c.note(name, got);
    }
}

// ---------------------------------------------------------------------------------------------
// L2: path MTU through the 1280 leg.

/// L1.8, L2.1, L2.5: DO mode, connected: 1400 bytes draw the router's fragmentation-needed;
/// the next send fails with EMSGSIZE; IP_MTU is 1280; 1252 bytes go through.
fn pmtu_do_connected(c: &mut Ctx<'_>) {
    let p = c.far(10101);
    let s = c.bound(sa(SELF, 10100));
    c.r("IP_MTU unconnected", s.mtu());
    c.r("DO", s.set_pmtu(PmtuMode::Do));
    c.r("connect", s.connect(sa(FAR, 10101)));
    c.r("IP_MTU", s.mtu());
    c.r("1400", s.send(&pattern(1400, 1), None, 0));
    c.arrive(1);
    c.r("poll", s.poll());
    c.r("1400 again", s.send(&pattern(1400, 1), None, 0));
    c.r("IP_MTU", s.mtu());
    c.r("1400 a third time", s.send(&pattern(1400, 1), None, 0));
    // The size check comes before the pending error is collected (at buffer allocation).
    c.r(
        "1252 (takes the pending error)",
        s.send(&pattern(1252, 2), None, 0),
    );
    c.r("1253", s.send(&pattern(1253, 2), None, 0));
    c.r("1252", s.send(&pattern(1252, 2), None, 0));
    c.r("far got", p.recv(TIMEOUT));
}

/// L1.7, L1.8: DO mode with IP_RECVERR: the frag-needed entry carries the MTU and the router as
/// offender.
fn pmtu_do_recverr_entry(c: &mut Ctx<'_>) {
    let s = c.bound(sa(SELF, 10200));
    c.r("DO", s.set_pmtu(PmtuMode::Do));
    c.r("IP_RECVERR", s.set_recverr(true));
    let big = pattern(1400, 4);
    c.r("sendto 1400", s.send(&big, Some(sa(FAR, 10201)), 0));
    c.arrive(1);
    c.errqueue("entry", &s, 2000, &big);
    c.error("SO_ERROR", &s);
    c.r("sendto 1400 again", s.send(&big, Some(sa(FAR, 10201)), 0));
    c.errqueue("local entry", &s, 2000, &big);
}

/// L2.3, L3.4: WANT mode learns 1280 and then fragments to it; the far host gets both.
fn pmtu_want_learns_and_fragments(c: &mut Ctx<'_>) {
    let p = c.far(10301);
    let s = c.bound(sa(SELF, 10300));
    c.r("connect", s.connect(sa(FAR, 10301)));
    c.r("1400 (DF)", s.send(&pattern(1400, 1), None, 0));
    c.arrive(1);
    c.r("SO_ERROR", s.take_error().map(|e| e.map(|e| describe(&e))));
    c.r("IP_MTU", s.mtu());
    c.r("1400 again", s.send(&pattern(1400, 2), None, 0));
    c.r("far got", p.recv(TIMEOUT));
}

/// L2.3: DONT mode never sets DF: the router fragments, nothing is learned.
fn pmtu_dont(c: &mut Ctx<'_>) {
    let p = c.far(10401);
    let s = c.bound(sa(SELF, 10400));
    c.r("DONT", s.set_pmtu(PmtuMode::Dont));
    c.r("connect", s.connect(sa(FAR, 10401)));
    c.r("1400", s.send(&pattern(1400, 1), None, 0));
    c.r("far got", p.recv(TIMEOUT));
    c.r("IP_MTU", s.mtu());
    c.error("SO_ERROR", &s);
}

/// L2.3: PROBE sizes by the device MTU and sets DF: learns 1280, yet 1400 is still accepted
/// locally (and dropped by the router again).
fn pmtu_probe(c: &mut Ctx<'_>) {
    let p = c.far(10501);
    let s = c.bound(sa(SELF, 10500));
    c.r("PROBE", s.set_pmtu(PmtuMode::Probe));
    c.r("connect", s.connect(sa(FAR, 10501)));
    c.r("1400", s.send(&pattern(1400, 1), None, 0));
    c.arrive(1);
    c.r("IP_MTU", s.mtu());
    c.r("pending", s.take_error().map(|e| e.map(|e| describe(&e))));
    c.r("1473", s.send(&pattern(1473, 1), None, 0));
    c.r("1300", s.send(&pattern(1300, 1), None, 0));
    c.arrive(1);
    c.r("1000", s.send(&pattern(1000, 2), None, 0));
    c.r("far got", p.recv(TIMEOUT));
}

/// L2.3, L1.8: INTERFACE and OMIT ignore fragmentation-needed; a WANT socket to the same
/// destination learns it afterwards (the entry is per destination, shared).
fn pmtu_interface_and_omit(c: &mut Ctx<'_>) {
    let p = c.far(10601);
    let s = c.bound(sa(SELF, 10600));
    c.r("INTERFACE", s.set_pmtu(PmtuMode::Interface));
    c.r("connect", s.connect(sa(FAR, 10601)));
    c.r("1400", s.send(&pattern(1400, 1), None, 0));
    c.r("far got (router fragments)", p.recv(TIMEOUT));
    c.r("1473", s.send(&pattern(1473, 1), None, 0));
    c.r("IP_MTU", s.mtu());
    c.r("OMIT", s.set_pmtu(PmtuMode::Omit));
    c.r("3000", s.send(&pattern(3000, 2), None, 0));
    c.r("far got", p.recv(TIMEOUT));
    let w = c.bound(sa(SELF, 10602));
    c.r("connect", w.connect(sa(FAR, 10601)));
    c.r("IP_MTU WANT", w.mtu());
}

// ---------------------------------------------------------------------------------------------
// L5.3: broadcast delivery.

/// L5.3: a broadcast from the link goes to every matching socket (wildcard ones, and one bound
/// to the broadcast address), not to one bound to self's unicast address; with no socket at all
/// it is IgnoredMulti, no ICMP.
fn broadcast_delivery(c: &mut Ctx<'_>) {
    let p = c.onlink(11001);
    let mk = |c: &mut Ctx<'_>, a| {
        let s = c.sock();
        c.r("reuseaddr", s.set_reuseaddr(true));
        c.r(&format!("bind {a}"), s.bind(a));
        s
    };
    let w1 = mk(c, sa(ANY, 11000));
    let w2 = mk(c, sa(ANY, 11000));
    let u = mk(c, sa(SELF, 11000));
    let b = mk(c, sa(BCAST, 11000));
    p.send_to(b"subnet", sa(BCAST, 11000));
    p.send_to(b"limited", sa(Ipv4Addr::BROADCAST, 11000));
    p.send_to(b"nobody", sa(BCAST, 11002));
    c.arrive(3);
    for (name, s) in [("w1", &w1), ("w2", &w2), ("unicast", &u), ("bcast", &b)] {
        for i in 0..3 {
            c.r(&format!("{name} {i}"), s.recv(100, 0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// L7.3: SO_REUSEPORT groups.

/// L7.3: 64 flows into a group of 4: every flow sticks to one member, every member gets some,
/// and nothing is lost.
fn reuseport_spread_and_stickiness(c: &mut Ctx<'_>) {
    let members: Vec<SelfSock> = (0..4)
        .map(|i| {
            let s = c.sock();
            c.r(&format!("member {i} reuseport"), s.set_reuseport(true));
            c.r(&format!("member {i} bind"), s.bind(sa(SELF, 11100)));
            s
        })
        .collect();
    let peers: Vec<Peer> = (0..64).map(|i| c.far(20000 + i)).collect();
    for round in 0..2 {
        for (i, p) in peers.iter().enumerate() {
            p.send_to(format!("{i}/{round}").as_bytes(), sa(SELF, 11100));
        }
        c.arrive(64);
    }
    let mut flows: Vec<Vec<usize>> = vec![Vec::new(); 64];
    let mut per_member = Vec::new();
    for (m, s) in members.iter().enumerate() {
        let mut n = 0;
        while let Ok(g) = s.recv(100, 0) {
            flows[usize::from(g.from.port() - 20000)].push(m);
            n += 1;
        }
        per_member.push(n);
    }
    c.note("total", per_member.iter().sum::<usize>());
    c.note("every member gets some", per_member.iter().all(|&n| n > 0));
    c.note(
        "every flow on one member",
        flows.iter().all(|f| f.len() == 2 && f[0] == f[1]),
    );
}

/// L7.3: a connected member only takes its peer's datagrams; the others share the rest.
fn reuseport_connected_member(c: &mut Ctx<'_>) {
    let a = c.sock();
    c.r("a reuseport", a.set_reuseport(true));
    c.r("a bind", a.bind(sa(SELF, 11200)));
    c.r("a connect", a.connect(sa(FAR, 11201)));
    let b = c.sock();
    c.r("b reuseport", b.set_reuseport(true));
    c.r("b bind", b.bind(sa(SELF, 11200)));
    let peers: Vec<Peer> = (0..16).map(|i| c.far(11201 + i)).collect();
    for (i, p) in peers.iter().enumerate() {
        p.send_to(format!("{i}").as_bytes(), sa(SELF, 11200));
    }
    c.arrive(16);
    let mut a_got = Vec::new();
    while let Ok(g) = a.recv(100, 0) {
        a_got.push(g.data);
    }
    let mut b_n = 0;
    while b.recv(100, 0).is_ok() {
        b_n += 1;
    }
    c.note("a got", a_got);
    c.note("b got", b_n);
}

scenarios! {
    bind_addresses,
    bind_conflicts_and_reuseaddr,
    bind_reuseport,
    bind_ephemeral,
    connect_binds_and_reconnects,
    disconnect_resets_local,
    send_autobinds,
    send_checks,
    send_largest_and_empty,
    broadcast_send,
    send_do_mode_local_emsgsize,
    send_header_ttl_and_tos,
    recv_trunc_peek,
    recv_zero_length,
    recv_order_and_senders,
    no_port_answers_unreachable,
    connected_filters,
    lookup_specific_beats_wildcard,
    lookup_connected_preferred,
    checksum_zero_and_bad_lengths,
    rcvbuf_values,
    rcvbuf_admission_tiny,
    rcvbuf_admission_full_size,
    rcvbuf_big_datagram_into_empty_queue,
    sndbuf_values_and_outq,
    no_port_unreachables_rate_limited,
    cork_builds_one_datagram,
    msg_more,
    cork_overflow_discards,
    icmp_refused_connected_recv,
    icmp_pending_error_fails_next_send,
    icmp_refused_unconnected_silent,
    icmp_recverr_unconnected,
    icmp_recverr_two_entries,
    icmp_time_exceeded,
    icmp_quoting_unknown_flows,
    icmp_quoting_a_broadcast,
    ip_options_record_route,
    icmp_timestamp_requests,
    pmtu_do_connected,
    pmtu_do_recverr_entry,
    pmtu_want_learns_and_fragments,
    pmtu_dont,
    pmtu_probe,
    pmtu_interface_and_omit,
    broadcast_delivery,
    reuseport_spread_and_stickiness,
    reuseport_connected_member,
}
