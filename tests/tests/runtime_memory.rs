//! The runtime over an in-memory link: two stacks on their own I/O threads, and sockets used
//! like `std::net::UdpSocket` from application threads.

use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use udpstack::device::{Device, LinkConfig, MemoryLink, Waker};
use udpstack::runtime::{poll, Interest, PollEntry, Runtime, UdpSocket};
use udpstack_tests::fixture::*;

fn two_runtimes() -> (Runtime, Runtime) {
    let (la, lb) = MemoryLink::pair(LinkConfig::default(), 5);
    let a = Runtime::start(la, config(IP_A, MAC_A), 1).unwrap();
    let b = Runtime::start(lb, config(IP_B, MAC_B), 2).unwrap();
    (a, b)
}

#[test]
fn sockets_are_send_and_sync() {
    fn both<T: Send + Sync>() {}
    both::<UdpSocket>();
    both::<Runtime>();
}

#[test]
fn echo_across_two_runtimes() {
    let (a, b) = two_runtimes();
    let server = b.bind("10.0.0.2:7").unwrap();
    let t = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&buf[..n], from).unwrap();
    });
    let client = a.bind("10.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(b"echo me", "10.0.0.2:7").unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"echo me");
    assert_eq!(from.to_string(), "10.0.0.2:7");
    t.join().unwrap();
}

#[test]
fn a_read_timeout_fails_with_would_block_after_the_timeout() {
    let (a, _b) = two_runtimes();
    let s = a.bind("10.0.0.1:9000").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    let e = s.recv_from(&mut [0u8; 16]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(e.raw_os_error(), Some(11));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn non_blocking_receives_fail_at_once_and_zero_timeouts_are_refused() {
    let (a, _b) = two_runtimes();
    let s = a.bind("10.0.0.1:9001").unwrap();
    s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    assert_eq!(
        s.recv(&mut [0u8; 16]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(
        s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        s.set_write_timeout(Some(Duration::ZERO))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn two_threads_receiving_on_one_socket_get_distinct_datagrams() {
    let (a, b) = two_runtimes();
    let server = Arc::new(b.bind("10.0.0.2:7").unwrap());
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&server);
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 16];
                for _ in 0..50 {
                    let n = s.recv(&mut buf).unwrap();
                    got.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
                }
                got
            })
        })
        .collect();
    let client = a.udp_socket();
    for i in 0..100u32 {
        client.send_to(&i.to_be_bytes(), "10.0.0.2:7").unwrap();
        if i % 10 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    let mut all: Vec<u32> = readers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..100).collect::<Vec<_>>(),
        "each datagram to exactly one reader"
    );
}

#[test]
fn poll_reports_readable_sockets_and_times_out() {
    let (a, b) = two_runtimes();
    let s1 = b.bind("10.0.0.2:7001").unwrap();
    let s2 = b.bind("10.0.0.2:7002").unwrap();
    let mut entries = [
        PollEntry::new(&s1, Interest::READABLE),
        PollEntry::new(&s2, Interest::READABLE),
    ];
    let start = Instant::now();
    assert_eq!(
        poll(&mut entries, Some(Duration::from_millis(30))).unwrap(),
        0
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    let client = a.udp_socket();
    client.send_to(b"x", "10.0.0.2:7002").unwrap();
    let mut entries = [
        PollEntry::new(&s1, Interest::READABLE),
        PollEntry::new(&s2, Interest::READABLE),
    ];
    assert_eq!(poll(&mut entries, Some(Duration::from_secs(5))).unwrap(), 1);
    assert!(!entries[0].ready.readable && entries[1].ready.readable);
    // Writable is always ready (no send-buffer accounting yet).
    let mut w = [PollEntry::new(&s1, Interest::WRITABLE)];
    assert_eq!(poll(&mut w, Some(Duration::from_millis(1))).unwrap(), 1);
}

#[test]
fn a_pending_error_wakes_a_blocked_receive() {
    // L1.6: a connected socket blocked in recv gets ECONNREFUSED when the port unreachable
    // comes back; poll reports the error first.
    let (a, _b) = two_runtimes();
    let s = Arc::new(a.udp_socket());
    s.connect("10.0.0.2:9").unwrap();
    let t = {
        let s = Arc::clone(&s);
        thread::spawn(move || s.recv(&mut [0u8; 16]))
    };
    thread::sleep(Duration::from_millis(20));
    s.send(b"anyone?").unwrap();
    let r = t.join().unwrap();
    assert_eq!(r.unwrap_err().raw_os_error(), Some(111));
}

#[test]
fn loss_and_jitter_links_still_deliver_what_survives() {
    let (la, lb) = MemoryLink::pair(
        LinkConfig {
            loss: 0.2,
            jitter: Duration::from_millis(2),
            ..LinkConfig::default()
        },
        9,
    );
    let a = Runtime::start(la, config(IP_A, MAC_A), 1).unwrap();
    let b = Runtime::start(lb, config(IP_B, MAC_B), 2).unwrap();
    let server = b.bind("10.0.0.2:7").unwrap();
    let client = a.udp_socket();
    for i in 0..200u32 {
        client.send_to(&i.to_be_bytes(), "10.0.0.2:7").unwrap();
        thread::sleep(Duration::from_micros(200));
    }
    // The datagrams wait in the neighbour queue while ARP resolves; a lost ARP request is
    // retried after retrans_time (1 s), so allow for a few retries before the first arrives.
    server
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    let mut got = usize::from(server.recv(&mut [0u8; 8]).is_ok());
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while server.recv(&mut [0u8; 8]).is_ok() {
        got += 1;
    }
    assert!(got > 50 && got < 200, "{got} of 200 over a 20 % lossy link");
}

#[test]
fn dropping_the_runtime_stops_it_and_its_sockets_say_so() {
    let (a, _b) = two_runtimes();
    let s = a.bind("10.0.0.1:9100").unwrap();
    let start = Instant::now();
    drop(a);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the I/O thread stopped promptly"
    );
    assert_eq!(s.recv(&mut [0u8; 8]).unwrap_err().raw_os_error(), Some(100));
    assert_eq!(
        s.send_to(b"x", "10.0.0.2:7").unwrap_err().raw_os_error(),
        Some(100)
    );
}

#[test]
fn counters_and_tables_are_readable_while_running() {
    let (a, b) = two_runtimes();
    let server = b.bind("10.0.0.2:7").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    a.udp_socket().send_to(b"hi", "10.0.0.2:7").unwrap();
    server.recv(&mut [0u8; 8]).unwrap();
    assert!(b.snmp().contains("Udp: 1 0 0 0"), "{}", b.snmp());
    assert!(b.udp_table().contains("0200000A:0007"), "{}", b.udp_table());
    assert_eq!(b.device_errors().0, 0);
}

/// A runtime whose stack's ARP gives up after `fail_after` (one request, that long to wait),
/// on a link where nobody answers: a socket's packets to 10.0.0.77 stay in flight until then.
fn silent_link(fail_after_ms: u32) -> (Runtime, UdpSocket) {
    let (la, _lb) = MemoryLink::pair(LinkConfig::default(), 5);
    let mut c = config(IP_A, MAC_A);
    c.set_sysctl("net.ipv4.neigh.default.mcast_solicit", "1")
        .unwrap();
    c.set_sysctl(
        "net.ipv4.neigh.default.retrans_time_ms",
        &fail_after_ms.to_string(),
    )
    .unwrap();
    let rt = Runtime::start(la, c, 3).unwrap();
    let s = rt.bind("10.0.0.1:0").unwrap();
    s.set_send_buffer_size(2304).unwrap(); // 4608: six 100-byte datagrams in flight
    (rt, s)
}

#[test]
fn a_blocking_send_waits_for_room_then_times_out_with_eagain() {
    // L6.5: a blocking socket with a full send buffer waits; SO_SNDTIMEO ends the wait with
    // EAGAIN, counted as SndbufErrors.
    let (rt, s) = silent_link(60_000);
    for _ in 0..6 {
        s.send_to(&[0u8; 100], "10.0.0.77:9").unwrap();
    }
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    let e = s.send_to(&[0u8; 100], "10.0.0.77:9").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(rt.stats().udp.sndbuf_errors, 1);
    // Non-blocking: at once.
    s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let e = s.send_to(&[0u8; 100], "10.0.0.77:9").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert!(start.elapsed() < Duration::from_millis(100));
    assert_eq!(rt.stats().udp.sndbuf_errors, 2);
}

#[test]
fn a_blocked_send_goes_ahead_when_packets_leave() {
    // L6.5: room in the send buffer (here: ARP gave up and freed the queued packets after
    // 200 ms) lets a blocked send through, and nothing is counted.
    let (rt, s) = silent_link(200);
    for _ in 0..6 {
        s.send_to(&[0u8; 100], "10.0.0.77:9").unwrap();
    }
    let start = Instant::now();
    s.send_to(&[0u8; 100], "10.0.0.77:9").unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150), "it waited");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(rt.stats().udp.sndbuf_errors, 0);
    assert_eq!(rt.stats().udp.out_datagrams, 7);
}

/// A device with a frame ready at every read until `until` — a link faster than the stack, the
/// worst flood — that notes when each frame the stack sends leaves.
struct Flood {
    frame: Vec<u8>,
    until: Instant,
    sent: Arc<Mutex<Vec<Instant>>>,
}

struct NoWaker;

impl Waker for NoWaker {
    fn wake(&self) {}
}

impl Device for Flood {
    fn max_frame_len(&self) -> usize {
        1514
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if Instant::now() >= self.until {
            return Ok(None);
        }
        buf[..self.frame.len()].copy_from_slice(&self.frame);
        Ok(Some(self.frame.len()))
    }

    fn send(&mut self, _frame: &[u8]) -> io::Result<()> {
        self.sent.lock().unwrap().push(Instant::now());
        Ok(())
    }

    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        // Woken by nothing: naps of at most 5 ms (callers loop).
        let nap = Duration::from_millis(5);
        let left = deadline.map_or(nap, |d| d.saturating_duration_since(Instant::now()));
        thread::sleep(left.min(nap));
        Ok(())
    }

    fn waker(&self) -> Arc<dyn Waker> {
        Arc::new(NoWaker)
    }
}

#[test]
fn a_flood_holds_off_neither_socket_calls_nor_transmissions() {
    // L6.3 under overload (found by iperf against `udpstack serve`): the I/O thread takes the
    // stack's lock once per batch of frames, so while frames keep coming faster than it can
    // handle them a socket is bound, read and sent on, and frames leave; only what exceeds the
    // receive buffer is dropped. It used to drain the device under the lock, holding off every
    // socket call, timer and transmission until the flood ended.
    let flood = Duration::from_secs(5);
    let until = Instant::now() + flood;
    let sent = Arc::new(Mutex::new(Vec::new()));
    let device = Flood {
        frame: probe_udp(MAC_B, sa(IP_PROBE, 4000), sa(IP_B, 9), b"flood"),
        until,
        sent: Arc::clone(&sent),
    };
    let rt = Runtime::start(device, config(IP_B, MAC_B), 4).unwrap();
    let s = rt.bind("10.0.0.2:9").unwrap();
    s.set_read_timeout(Some(flood)).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..10 {
        let (n, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"flood");
        assert_eq!(from.to_string(), "10.0.0.9:4000");
    }
    // A send: the ARP request for its destination leaves.
    let before = sent.lock().unwrap().len();
    s.send_to(b"out", "10.0.0.77:9").unwrap();
    let deadline = Instant::now() + flood;
    while sent.lock().unwrap().len() == before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let last_sent = sent.lock().unwrap().last().copied();
    assert!(
        last_sent.is_some_and(|t| t < until),
        "nothing left during the flood"
    );
    assert!(Instant::now() < until, "all of it during the flood");
    let udp = rt.stats().udp;
    assert!(udp.rcvbuf_errors > 0, "the receive buffer overflowed");
    assert_eq!(udp.in_datagrams, 10);
}
