//! Floods: memory stays bounded however much arrives, every datagram refused is counted, and the
//! stack serves normal traffic right after (L6.3, L6.4; the house rule "no unbounded memory").
//!
//! Besides the stack's own books (`Stack::audit`, checked at intervals), the heap itself is
//! watched: this binary's allocator counts the bytes each thread holds, so a flood that grew
//! any structure — a queue, a pool, a table — would show here even if the stack's counters
//! missed it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use udpstack::{Duration, Instant, SocketHandle, Stack};
use udpstack_tests::fixture::*;

/// The system allocator, counting the live bytes of each thread.
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn track(delta: i64) {
    // try_with: the thread's slot may be gone while the thread exits.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds GlobalAlloc's contract;
// the counting only touches a const-initialised thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes this thread holds on the heap now.
fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Stack B, which has learnt the probe's MAC from its ARP request.
fn receiver(sysctls: &[(&str, &str)]) -> Stack {
    let mut c = config(IP_B, MAC_B);
    for (name, value) in sysctls {
        c.set_sysctl(name, value).unwrap();
    }
    let mut s = Stack::new(c, 5).unwrap();
    s.handle_frame(Instant::ZERO, &probe_who_has(IP_B));
    transmit(&mut s, Instant::ZERO);
    s
}

fn bound(s: &mut Stack, port: u16) -> SocketHandle {
    let h = s.udp_socket();
    s.bind(h, sa(IP_B, port)).unwrap();
    h
}

fn datagram_to(port: u16, payload: &[u8]) -> Vec<u8> {
    probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(IP_B, port), payload)
}

/// The frames the device takes now.
fn transmit(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Reads every queued datagram; returns how many.
fn read_all(s: &mut Stack, h: SocketHandle) -> u64 {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while s.recv_from(h, &mut buf).is_ok() {
        n += 1;
    }
    n
}

/// The stack still works: a datagram to `h` (bound to `port`) is queued and read, and the
/// reply goes out to the probe.
fn serves_normal_traffic(s: &mut Stack, h: SocketHandle, port: u16, now: Instant) {
    s.handle_frame(now, &datagram_to(port, b"after the flood"));
    let mut buf = [0u8; 64];
    let (n, from) = s
        .recv_from(h, &mut buf)
        .expect("a datagram after the flood");
    assert_eq!(&buf[..n], b"after the flood");
    assert_eq!(s.send_to(now, h, b"still here", from).unwrap(), 10);
    let out = transmit(s, now);
    assert!(
        matches!(
            out.iter().map(|f| parse(f)).next_back(),
            Some(Seen::Udp(_, ip, udp, payload))
                if ip.dst == IP_PROBE && udp.dst_port == 5000 && payload == b"still here"
        ),
        "the reply leaves: {out:?}"
    );
    assert_eq!(s.audit(), Ok(()));
}

#[test]
fn a_million_datagrams_at_a_socket_that_never_reads() {
    // L6.3: the socket holds at most SO_RCVBUF, or one datagram more than it when it was
    // empty; every other datagram is refused and counted (RcvbufErrors, InErrors, drops).
    const N: u64 = 1_000_000;
    let mut s = receiver(&[]);
    let h = bound(&mut s, 7000);
    let other = bound(&mut s, 7001);
    let rcvbuf = s.recv_buffer_size(h).unwrap();
    let frames = [
        datagram_to(7000, &[0x11; 10]),
        datagram_to(7000, &[0x22; 1000]),
    ];
    let largest = udpstack::udp::truesize(frames[1].len());
    let mut now = Instant::ZERO;
    let mut baseline = None;
    for i in 0..N {
        if i % 1000 == 0 {
            now += Duration::from_millis(1);
        }
        s.handle_frame(now, &frames[(i % 2) as usize]);
        if i == 10_000 {
            // The queue is full long before this: from here on, the heap must not grow.
            baseline = Some(live());
        }
        if i % 50_000 == 49_999 {
            let held = s.recv_queue_bytes(h).unwrap();
            assert!(
                held <= rcvbuf + largest,
                "{held} bytes held, SO_RCVBUF {rcvbuf}"
            );
            assert_eq!(s.audit(), Ok(()), "after {} datagrams", i + 1);
            if let Some(base) = baseline {
                let grown = live() - base;
                assert!(
                    grown <= 64 * 1024,
                    "the heap grew by {grown} bytes during the flood"
                );
            }
        }
    }
    let st = s.stats().udp.clone();
    let queued = read_all(&mut s, h);
    assert!(queued > 0 && queued < 1000, "{queued} queued");
    assert_eq!(st.rcvbuf_errors, N - queued);
    assert_eq!(st.in_errors, N - queued);
    assert_eq!(st.mem_errors, 0);
    assert_eq!(s.drops(h).unwrap(), N - queued);
    assert_eq!(s.stats().udp.in_datagrams, queued);
    assert_eq!(s.audit(), Ok(()));
    // Right after: the flooded socket and another one both work.
    serves_normal_traffic(&mut s, h, 7000, now);
    serves_normal_traffic(&mut s, other, 7001, now);
}

/// A thousand sockets flooded round robin under `udp_mem` "min pressure max" with the given
/// per-CPU reserve; returns the stack and its sockets, everything read.
fn thousand_sockets(udp_mem: &str, pcpu_rsv: &str) -> (Stack, Vec<SocketHandle>) {
    let mut s = receiver(&[
        ("net.ipv4.udp_mem", udp_mem),
        ("net.core.mem_pcpu_rsv", pcpu_rsv),
    ]);
    let max: i64 = udp_mem.split_whitespace().nth(2).unwrap().parse().unwrap();
    let rsv: i64 = pcpu_rsv.parse().unwrap();
    let socks: Vec<SocketHandle> = (0..1000).map(|i| bound(&mut s, 10_000 + i)).collect();
    let frames: Vec<Vec<u8>> = (0..1000)
        .map(|i| datagram_to(10_000 + i, &[0x33; 100]))
        .collect();
    let now = Instant::ZERO;
    for round in 0..20 {
        for f in &frames {
            s.handle_frame(now, f);
            // L6.4: granted only while the pages counted stay at or under max; with a per-CPU
            // reserve the count is updated in batches of rsv pages, so both the count and the
            // pages really held can pass max by up to rsv (0: exactly bounded).
            let reserved = s.udp_memory().reserved();
            assert!(
                s.udp_memory().allocated() as i64 <= max + rsv && reserved <= max + rsv,
                "round {round}: {reserved} pages reserved, {} counted, max {max}",
                s.udp_memory().allocated()
            );
        }
        assert_eq!(s.audit(), Ok(()), "after round {round}");
    }
    let st = s.stats().udp.clone();
    assert!(st.mem_errors > 0, "udp_mem refused nothing: {st:?}");
    assert_eq!(st.rcvbuf_errors, 0, "no socket's own buffer was full");
    let read: u64 = socks.iter().map(|&h| read_all(&mut s, h)).sum();
    assert_eq!(
        read + st.mem_errors,
        20_000,
        "every datagram read or counted"
    );
    assert_eq!(st.in_errors, st.mem_errors);
    let drops: u64 = socks.iter().map(|&h| s.drops(h).unwrap()).sum();
    assert_eq!(drops, st.mem_errors);
    assert_eq!(s.audit(), Ok(()));
    (s, socks)
}

#[test]
fn a_thousand_sockets_share_a_small_udp_mem() {
    // L6.4 with exact accounting (mem_pcpu_rsv 0): never more than udp_mem[2] pages.
    let (mut s, socks) = thousand_sockets("32 48 64", "0");
    // A socket keeps one page of forward allocation after its queue empties (udp_rmem_release
    // with partial = 1); closing the others gives their pages back, and a new socket works.
    for &h in &socks[1..] {
        s.close(h).unwrap();
    }
    assert!(s.udp_memory().allocated() <= 1, "{}", s.sockstat());
    let fresh = bound(&mut s, 7000);
    serves_normal_traffic(&mut s, fresh, 7000, Instant::ZERO);
    serves_normal_traffic(&mut s, socks[0], 10_000, Instant::ZERO);
}

#[test]
fn with_the_per_cpu_reserve_the_overshoot_stays_under_it() {
    // L6.4 as Linux batches it (net.core.mem_pcpu_rsv, default 256 pages): the count the
    // limits see lags by less than the reserve, so at most max + rsv pages are ever held.
    let (mut s, socks) = thousand_sockets("8 12 16", "20");
    for &h in &socks {
        s.close(h).unwrap();
    }
    assert_eq!(s.udp_memory().reserved(), 0, "every page returned on close");
    let fresh = bound(&mut s, 7000);
    serves_normal_traffic(&mut s, fresh, 7000, Instant::ZERO);
}
