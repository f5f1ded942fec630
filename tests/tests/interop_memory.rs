//! Socket memory against the kernel over TAP. Receive side (L6.2, L6.3): the same datagrams
//! sent to a kernel socket and to a stack socket with the same SO_RCVBUF, and what each admits,
//! shows in `/proc/net/udp` and drops, step by step. Send side (L6.5, L6.6): a kernel socket
//! and a stack socket with the same SO_SNDBUF sending to a neighbour that never answers ARP,
//! so that every packet stays charged: the bytes in flight (`tx_queue`, which is SIOCOUTQ),
//! POLLOUT, EAGAIN, ENOBUFS and `SndbufErrors`.
//!
//! The kernel receives from the TAP, written in blocking mode (`tun_get_user` → `tun_alloc_skb`,
//! the allocation udpstack's truesize is modelled on; see `TapDevice::set_blocking_writes`);
//! the stack receives what the kernel sends out of it.

mod interop;

use std::io;
use std::net::SocketAddrV4;
use std::time::Duration;

use interop::*;
use tap_harness::{privileged_or_skip, Netns, TapLink, TapLinkConfig};
use udpstack::runtime::{Runtime, UdpSocket};

const PORT: u16 = 7000;

/// The stack on a TAP link to a kernel namespace (the runtime drops first).
struct Tap {
    rt: Runtime,
    ns: Netns,
}

impl Tap {
    fn open(test: &str) -> io::Result<Option<Tap>> {
        if !privileged_or_skip(test)? {
            return Ok(None);
        }
        let TapLink {
            mut device, netns, ..
        } = TapLink::open(TapLinkConfig {
            prefix: "udpstack-mem".to_owned(),
            ..TapLinkConfig::default()
        })?;
        // The kernel then charges what we write as the behaviour reference measured (and as
        // udpstack charges its own sockets): tun_alloc_skb, not tun_build_skb.
        device.set_blocking_writes(true);
        let rt = Runtime::start(device, stack_config(None), 0x3e3)?;
        Ok(Some(Tap { rt, ns: netns }))
    }
}

/// One side receiving: a socket with SO_RCVBUF 4096 (8192 stored) on port 7000, and what the
/// other side sends it.
trait Receiver {
    /// Sends `n` datagrams of `len` bytes from the other side and waits until they have been
    /// delivered to UDP (queued or dropped).
    fn deliver(&self, n: usize, len: usize) -> io::Result<()>;
    /// Reads one datagram (non-blocking).
    fn recv(&self) -> io::Result<usize>;
    /// The rx_queue and drops columns of the socket's /proc/net/udp row.
    fn row(&self) -> (usize, u64);
}

/// `/proc/net/udp`'s rx_queue (hex, after the colon of field 4) and drops (last field) for the
/// socket bound to `local`.
fn parse_row(table: &str, local: SocketAddrV4) -> (usize, u64) {
    let key = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(local.ip().octets()),
        local.port()
    );
    let line = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(key.as_str()))
        .unwrap_or_else(|| panic!("no row {key} in\n{table}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let rx = fields[4].split(':').nth(1).expect("tx:rx");
    (
        usize::from_str_radix(rx, 16).expect("hex"),
        fields.last().expect("drops").parse().expect("a number"),
    )
}

/// Waits until `counter` has grown by `n` from `before`.
fn await_count(before: u64, n: usize, counter: impl Fn() -> u64) -> io::Result<()> {
    if wait_until(Duration::from_secs(3), || counter() >= before + n as u64) {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{n} datagrams not delivered ({} of them)",
            counter() - before
        )))
    }
}

/// The kernel receives; the stack sends.
struct KernelReceives<'a> {
    tap: &'a Tap,
    sock: KernelSock,
    sender: UdpSocket,
}

impl<'a> KernelReceives<'a> {
    fn new(tap: &'a Tap) -> io::Result<Self> {
        let sock = KernelSock::bind(&tap.ns, sa(KERNEL_IP, PORT))?;
        rustix::net::sockopt::set_socket_recv_buffer_size(&sock.0, 4096)?;
        sock.0.set_nonblocking(true)?;
        let sender = tap.rt.bind(sa(STACK_IP, 0))?;
        Ok(KernelReceives { tap, sock, sender })
    }
}

impl Receiver for KernelReceives<'_> {
    fn deliver(&self, n: usize, len: usize) -> io::Result<()> {
        let before = kernel_counter(&self.tap.ns, "Ip", "InDelivers");
        for _ in 0..n {
            self.sender.send_to(&vec![0x5a; len], sa(KERNEL_IP, PORT))?;
        }
        await_count(before, n, || {
            kernel_counter(&self.tap.ns, "Ip", "InDelivers")
        })
    }
    fn recv(&self) -> io::Result<usize> {
        self.sock.0.recv(&mut [0u8; 2048])
    }
    fn row(&self) -> (usize, u64) {
        let table = self
            .tap
            .ns
            .enter(|| std::fs::read_to_string("/proc/thread-self/net/udp"))
            .expect("enter")
            .expect("read /proc/net/udp");
        parse_row(&table, sa(KERNEL_IP, PORT))
    }
}

/// The stack receives; the kernel sends.
struct StackReceives<'a> {
    tap: &'a Tap,
    sock: UdpSocket,
    sender: KernelSock,
}

impl<'a> StackReceives<'a> {
    fn new(tap: &'a Tap) -> io::Result<Self> {
        let sock = tap.rt.bind(sa(STACK_IP, PORT))?;
        sock.set_recv_buffer_size(4096)?;
        sock.set_nonblocking(true)?;
        let sender = KernelSock::bind(&tap.ns, sa(KERNEL_IP, 0))?;
        Ok(StackReceives { tap, sock, sender })
    }
}

impl Receiver for StackReceives<'_> {
    fn deliver(&self, n: usize, len: usize) -> io::Result<()> {
        let before = self.tap.rt.stats().ip.in_delivers;
        for _ in 0..n {
            self.sender
                .0
                .send_to(&vec![0x5a; len], sa(STACK_IP, PORT))?;
        }
        await_count(before, n, || self.tap.rt.stats().ip.in_delivers)
    }
    fn recv(&self) -> io::Result<usize> {
        self.sock.recv(&mut [0u8; 2048])
    }
    fn row(&self) -> (usize, u64) {
        parse_row(&self.tap.rt.udp_table(), sa(STACK_IP, PORT))
    }
}

/// Twenty datagrams of `len` bytes at a full-speed sender: what is queued, what is dropped,
/// how many can be read.
fn admission(r: &dyn Receiver, len: usize) -> io::Result<Transcript> {
    let mut t = Transcript::new(&[]);
    r.deliver(20, len)?;
    t.note(&format!("{len}-byte datagrams: rx_queue, drops"), r.row());
    let mut read = 0;
    while r.recv().is_ok() {
        read += 1;
    }
    t.note("read", read);
    t.note("after reading", r.row());
    Ok(t)
}

/// Nine tiny datagrams fill the buffer; then five times: read one, one more arrives.
fn deferred_release(r: &dyn Receiver) -> io::Result<Transcript> {
    let mut t = Transcript::new(&[]);
    r.deliver(9, 10)?;
    t.note("filled", r.row());
    for i in 1..=5 {
        r.recv()?;
        t.note(&format!("after read {i}"), r.row());
        r.deliver(1, 10)?;
        t.note(&format!("after arrival {i}"), r.row());
    }
    Ok(t)
}

fn compare(
    test: &str,
    scenario: &dyn Fn(&dyn Receiver) -> io::Result<Transcript>,
) -> io::Result<()> {
    let Some(tap) = Tap::open(test)? else {
        return Ok(());
    };
    let kernel = scenario(&KernelReceives::new(&tap)?)?;
    let stack = scenario(&StackReceives::new(&tap)?)?;
    assert_same(&kernel, &stack);
    Ok(())
}

#[test]
fn rcvbuf_8192_admits_what_the_kernel_admits() -> io::Result<()> {
    // L6.2, L6.3: 9 datagrams of 10 bytes, 3 of 1000 and 3 of 1472 bytes, the same truesize
    // in /proc/net/udp, the same drops.
    for len in [10, 1000, 1472] {
        compare("rcvbuf_8192_admits_what_the_kernel_admits", &|r| {
            admission(r, len)
        })?;
    }
    Ok(())
}

#[test]
fn read_datagrams_are_released_in_batches_as_in_the_kernel() -> io::Result<()> {
    // L6.3 with udp_rmem_release: a read datagram stays charged (and hidden from rx_queue)
    // until a quarter of the buffer has been read, so a full socket that read one datagram
    // may still drop the next.
    compare(
        "read_datagrams_are_released_in_batches_as_in_the_kernel",
        &deferred_release,
    )
}

/// A host on the TAP link that nobody answers ARP for.
const SILENT: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 0, 77);

/// One side sending, SO_SNDBUF 2304 (4608 stored) on each new socket.
trait Sender {
    /// A new socket: its local address.
    fn open(&mut self) -> io::Result<SocketAddrV4>;
    /// Sends `len` bytes to SILENT:9 without blocking.
    fn send(&self, len: usize) -> io::Result<usize>;
    /// POLLOUT now.
    fn writable(&self) -> io::Result<bool>;
    /// The tx_queue column of the socket's /proc/net/udp row (SIOCOUTQ).
    fn tx_queue(&self, local: SocketAddrV4) -> usize;
    /// `Udp: SndbufErrors` of the sending host.
    fn sndbuf_errors(&self) -> u64;
    /// Sends `len` bytes to SILENT:9 with MSG_MORE (L3.2), without blocking.
    fn send_more(&self, len: usize) -> io::Result<usize>;
    /// `Ip: OutDiscards` of the sending host.
    fn out_discards(&self) -> u64;
}

fn parse_tx(table: &str, local: SocketAddrV4) -> usize {
    let key = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(local.ip().octets()),
        local.port()
    );
    let line = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(key.as_str()))
        .unwrap_or_else(|| panic!("no row {key} in\n{table}"));
    let field = line.split_whitespace().nth(4).expect("tx:rx");
    usize::from_str_radix(field.split(':').next().expect("tx"), 16).expect("hex")
}

struct KernelSends<'a> {
    tap: &'a Tap,
    sock: Option<KernelSock>,
}

impl Sender for KernelSends<'_> {
    fn open(&mut self) -> io::Result<SocketAddrV4> {
        let sock = KernelSock::bind(&self.tap.ns, sa(KERNEL_IP, 0))?;
        rustix::net::sockopt::set_socket_send_buffer_size(&sock.0, 2304)?;
        sock.0.set_nonblocking(true)?;
        let local = match sock.0.local_addr()? {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        self.sock = Some(sock);
        Ok(local)
    }
    fn send(&self, len: usize) -> io::Result<usize> {
        let s = &self.sock.as_ref().expect("open").0;
        s.send_to(&vec![7u8; len], sa(SILENT, 9))
    }
    fn writable(&self) -> io::Result<bool> {
        use std::os::fd::AsFd;
        let s = &self.sock.as_ref().expect("open").0;
        let ready = poll_fd(s.as_fd(), nix::poll::PollFlags::POLLOUT, Duration::ZERO)?;
        Ok(ready.contains(nix::poll::PollFlags::POLLOUT))
    }
    fn tx_queue(&self, local: SocketAddrV4) -> usize {
        let table = self
            .tap
            .ns
            .enter(|| std::fs::read_to_string("/proc/thread-self/net/udp"))
            .expect("enter")
            .expect("read /proc/net/udp");
        parse_tx(&table, local)
    }
    fn sndbuf_errors(&self) -> u64 {
        kernel_counter(&self.tap.ns, "Udp", "SndbufErrors")
    }
    fn send_more(&self, len: usize) -> io::Result<usize> {
        let s = &self.sock.as_ref().expect("open").0;
        let flags = rustix::net::SendFlags::MORE | rustix::net::SendFlags::DONTWAIT;
        rustix::net::sendto(s, &vec![7u8; len], flags, &sa(SILENT, 9)).map_err(io::Error::from)
    }
    fn out_discards(&self) -> u64 {
        kernel_counter(&self.tap.ns, "Ip", "OutDiscards")
    }
}

struct StackSends<'a> {
    tap: &'a Tap,
    sock: Option<UdpSocket>,
}

impl Sender for StackSends<'_> {
    fn open(&mut self) -> io::Result<SocketAddrV4> {
        let sock = self.tap.rt.bind(sa(STACK_IP, 0))?;
        sock.set_send_buffer_size(2304)?;
        sock.set_nonblocking(true)?;
        let local = match sock.local_addr()? {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        self.sock = Some(sock);
        Ok(local)
    }
    fn send(&self, len: usize) -> io::Result<usize> {
        self.sock
            .as_ref()
            .expect("open")
            .send_to(&vec![7u8; len], sa(SILENT, 9))
    }
    fn writable(&self) -> io::Result<bool> {
        Ok(self.sock.as_ref().expect("open").readiness()?.writable)
    }
    fn tx_queue(&self, _local: SocketAddrV4) -> usize {
        let local = match self.sock.as_ref().expect("open").local_addr() {
            Ok(std::net::SocketAddr::V4(a)) => a,
            other => panic!("{other:?}"),
        };
        parse_tx(&self.tap.rt.udp_table(), local)
    }
    fn sndbuf_errors(&self) -> u64 {
        self.tap.rt.stats().udp.sndbuf_errors
    }
    fn send_more(&self, len: usize) -> io::Result<usize> {
        self.sock.as_ref().expect("open").send_with(
            &vec![7u8; len],
            Some(sa(SILENT, 9)),
            udpstack::SendFlags::MORE,
        )
    }
    fn out_discards(&self) -> u64 {
        self.tap.rt.stats().ip.out_discards
    }
}

/// For 100, 1000 and 3000-byte datagrams, a new socket sends until EAGAIN, noting POLLOUT
/// before and the bytes in flight after each send; then a 5913-byte datagram (ENOBUFS at this
/// SO_SNDBUF) and a 5912-byte one; and the SndbufErrors each part counted.
fn send_buffer(s: &mut dyn Sender) -> io::Result<Transcript> {
    let mut t = Transcript::new(&[]);
    for len in [100, 1000, 3000] {
        let local = s.open()?;
        let before = s.sndbuf_errors();
        for i in 0..12 {
            let writable = s.writable()?;
            let r = s.send(len);
            let queued = s.tx_queue(local);
            t.note(
                &format!("{len} bytes, send {i}"),
                format_args!("pollout {writable} -> {} in flight {queued}", show(&r)),
            );
            if r.is_err() {
                break;
            }
        }
        t.note("SndbufErrors", s.sndbuf_errors() - before);
    }
    let local = s.open()?;
    let before = s.sndbuf_errors();
    for len in [5913, 5912] {
        let r = s.send(len);
        t.note(
            &format!("{len} bytes"),
            format_args!("{} in flight {}", show(&r), s.tx_queue(local)),
        );
    }
    t.note("SndbufErrors", s.sndbuf_errors() - before);
    Ok(t)
}

fn show(r: &io::Result<usize>) -> String {
    match r {
        Ok(n) => format!("Ok({n})"),
        Err(e) => describe(e),
    }
}

#[test]
fn the_send_buffer_fills_and_refuses_as_in_the_kernel() -> io::Result<()> {
    // L6.5, L6.6: charged per packet until it leaves, POLLOUT below half SO_SNDBUF, EAGAIN at
    // SO_SNDBUF, ENOBUFS when a datagram's fragments pass twice SO_SNDBUF.
    compare_sends(
        "the_send_buffer_fills_and_refuses_as_in_the_kernel",
        &send_buffer,
    )
}

/// Runs a sending `scenario` on a kernel socket and on a stack socket and compares.
fn compare_sends(
    test: &str,
    scenario: &dyn Fn(&mut dyn Sender) -> io::Result<Transcript>,
) -> io::Result<()> {
    let Some(tap) = Tap::open(test)? else {
        return Ok(());
    };
    let kernel = scenario(&mut KernelSends {
        tap: &tap,
        sock: None,
    })?;
    let stack = scenario(&mut StackSends {
        tap: &tap,
        sock: None,
    })?;
    assert_same(&kernel, &stack);
    Ok(())
}

/// A datagram built with MSG_MORE: the bytes in flight after each append (6-byte appends, then
/// 1400-byte ones until ENOBUFS drops it), what ENOBUFS counted, and a new datagram after it
/// sent without MSG_MORE.
fn corked(s: &mut dyn Sender) -> io::Result<Transcript> {
    let mut t = Transcript::new(&[]);
    let local = s.open()?;
    for i in 0..4 {
        let r = s.send_more(6);
        t.note(
            &format!("6 bytes more {i}"),
            format_args!("{} in flight {}", show(&r), s.tx_queue(local)),
        );
    }
    let (errors, discards) = (s.sndbuf_errors(), s.out_discards());
    for i in 0..6 {
        let r = s.send_more(1400);
        t.note(
            &format!("1400 bytes more {i}"),
            format_args!("{} in flight {}", show(&r), s.tx_queue(local)),
        );
        if r.is_err() {
            break;
        }
    }
    t.note(
        "SndbufErrors, OutDiscards",
        (s.sndbuf_errors() - errors, s.out_discards() - discards),
    );
    let r = s.send_more(10);
    t.note(
        "a new one",
        format_args!("{} in flight {}", show(&r), s.tx_queue(local)),
    );
    let r = s.send(20);
    t.note(
        "sent",
        format_args!("{} in flight {}", show(&r), s.tx_queue(local)),
    );
    Ok(t)
}

#[test]
fn corked_data_is_charged_as_in_the_kernel() -> io::Result<()> {
    // L3.2, L6.5, L6.6: appends cost their bytes while they fit the last packet, new packets
    // their truesize; SIOCOUTQ counts it all; ENOBUFS past twice SO_SNDBUF drops the datagram.
    compare_sends("corked_data_is_charged_as_in_the_kernel", &corked)
}
