//! Receive-buffer accounting against the kernel over TAP (L6.2, L6.3): the same datagrams sent
//! to a kernel socket and to a stack socket with the same SO_RCVBUF, and what each admits,
//! shows in `/proc/net/udp` and drops, step by step.
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
