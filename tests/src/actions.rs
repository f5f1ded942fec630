//! Arbitrary bytes as a sequence of events on one stack, with the conservation checker
//! ([`Stack::audit`]) after every event: shared by the `stack_actions` fuzz target and the
//! proptest in `tests/engine_conservation.rs`, so what the fuzzer runs is also run by
//! `cargo test`.
//!
//! The stack is B (10.0.0.2) with three sockets (ports 7, 40000 — the golden frames' — and
//! 7000), IP_RECVERR on, the probe's MAC known, and small limits chosen by the first bytes so
//! that every bound is reached quickly. Each later byte picks an event; the bytes after it are
//! its arguments (missing ones read as 0):
//!
//! | byte % 12 | event |
//! |---|---|
//! | 0 | a golden frame (next byte: which) sent to B's MAC, perhaps with one byte changed (position, value) |
//! | 1 | raw bytes as a frame (length byte % 64, then that many bytes) |
//! | 2 | a UDP datagram from the probe to socket k with a payload of `n × 6` bytes |
//! | 3 | recv on socket k (flags: peek, trunc; buffer size) |
//! | 4 | send on socket k of `n × 6` bytes (to the probe or an unresolved address; MSG_MORE) |
//! | 5 | UDP_CORK on or off |
//! | 6 | SO_RCVBUF or SO_SNDBUF (`n × 64`) |
//! | 7 | the device takes up to `n` frames |
//! | 8 | time passes (`n × 10` ms) and timers run |
//! | 9 | an ICMP error (port unreachable or fragmentation needed) about the last datagram sent |
//! | 10 | recv from the error queue |
//! | 11 | close socket k and open a new one on its port |

use crate::bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddrV4};

use udpstack::wire::{golden, DstUnreachable, Icmpv4Message, Icmpv4Repr, IpProtocol};
use udpstack::{Duration, Instant, RecvFlags, SendFlags, SocketHandle, Stack};

use crate::fixture::{
    config, icmp_message, ip_frame, ip_header, probe_udp, probe_who_has, sa, IP_B, IP_PROBE, MAC_B,
    MAC_PROBE,
};

const PORTS: [u16; 3] = [7, 40000, 7000];

/// Runs `data` as events and returns the stack as they left it; the first imbalance (with the
/// event that caused it) is the error.
///
/// # Errors
/// A [`udpstack::audit::Violation`], described.
pub fn run(data: &[u8]) -> Result<Stack, String> {
    let mut b = Bytes::new(data);
    let mut c = config(IP_B, MAC_B);
    let [mem, extra, rsv, unres, high] = [(); 5].map(|()| b.next());
    let (udp_mem, high) = (u64::from(mem % 16), u32::from(high) * 512);
    let settings = [
        (
            "net.ipv4.udp_mem",
            format!("{udp_mem} {udp_mem} {}", udp_mem + u64::from(extra % 32)),
        ),
        ("net.core.mem_pcpu_rsv", (rsv % 4).to_string()),
        (
            "net.ipv4.neigh.default.unres_qlen_bytes",
            (u32::from(unres) * 64).to_string(),
        ),
        ("net.ipv4.ipfrag_low_thresh", (high / 4 * 3).to_string()),
        ("net.ipv4.ipfrag_high_thresh", high.to_string()),
    ];
    for (name, value) in settings {
        c.set_sysctl(name, &value)
            .map_err(|e| format!("{name}={value}: {e}"))?;
    }
    let mut s = Stack::new(c, 1).map_err(|e| e.to_string())?;
    let mut socks: Vec<SocketHandle> = PORTS.iter().map(|&p| open(&mut s, p)).collect();
    let mut now = Instant::ZERO;
    s.handle_frame(now, &probe_who_has(IP_B));
    let mut last_sent: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; 2048];
    let mut step = 0;
    while !b.is_empty() {
        step += 1;
        let op = b.next() % 12;
        let k = usize::from(b.next()) % socks.len();
        let h = socks[k];
        // Errors from the calls are results, not failures: only the books matter here.
        match op {
            0 => {
                let (_, frame) = golden::ALL[usize::from(b.next()) % golden::ALL.len()];
                let mut f = frame.to_vec();
                // The kernel sent them to 02:00:00:00:00:02; readdress the unicast ones to B.
                if f[0] & 1 == 0 {
                    f[..6].copy_from_slice(&MAC_B.0);
                }
                let at = b.next();
                if at & 1 != 0 {
                    let at = usize::from(at >> 1) % f.len();
                    f[at] = b.next();
                }
                s.handle_frame(now, &f);
            }
            1 => {
                let n = usize::from(b.next() % 64);
                let f = b.take(n).to_vec();
                s.handle_frame(now, &f);
            }
            2 => {
                let n = usize::from(b.next() % 246) * 6;
                let f = probe_udp(MAC_B, sa(IP_PROBE, 5000), sa(IP_B, PORTS[k]), &vec![7; n]);
                s.handle_frame(now, &f);
            }
            3 => {
                let x = b.next();
                let mut flags = RecvFlags::empty();
                if x & 1 != 0 {
                    flags |= RecvFlags::PEEK;
                }
                if x & 2 != 0 {
                    flags |= RecvFlags::TRUNC;
                }
                let len = usize::from(x >> 2) * 32;
                let _ = s.recv_with(h, &mut buf[..len], flags);
            }
            4 => {
                let x = b.next();
                let n = usize::from(b.next()) * 6;
                let dst = if x & 1 == 0 {
                    sa(IP_PROBE, 9)
                } else {
                    // Nobody answers ARP for it: the frames wait in the neighbour's queue.
                    sa(Ipv4Addr::new(10, 0, 0, 77), 9)
                };
                let flags = if x & 2 != 0 {
                    SendFlags::MORE
                } else {
                    SendFlags::empty()
                };
                let _ = s.send_with(now, h, &vec![9; n], Some(dst), flags);
            }
            5 => {
                let _ = s.set_cork(h, b.next() & 1 != 0);
            }
            6 => {
                let x = b.next();
                let size = i32::from(b.next()) * 64;
                let _ = if x & 1 == 0 {
                    s.set_recv_buffer_size(h, size)
                } else {
                    s.set_send_buffer_size(h, size)
                };
            }
            7 => {
                for _ in 0..b.next() {
                    match s.poll_transmit(now, &mut buf) {
                        Some(n) => {
                            let f = &buf[..n];
                            if f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17 {
                                last_sent = Some(f.to_vec());
                            }
                        }
                        None => break,
                    }
                }
            }
            8 => {
                now += Duration::from_millis(u64::from(b.next()) * 10);
                s.handle_timeout(now);
            }
            9 => {
                if let Some(sent) = &last_sent {
                    let message = if b.next() & 1 == 0 {
                        DstUnreachable::PortUnreachable
                    } else {
                        DstUnreachable::FragNeeded { next_hop_mtu: 576 }
                    };
                    let quote = &sent[14..sent.len().min(14 + 28 + 64)];
                    let m = icmp_message(&Icmpv4Repr {
                        message: Icmpv4Message::DstUnreachable(message),
                        body: quote,
                    });
                    let f = ip_frame(
                        MAC_PROBE,
                        MAC_B,
                        &ip_header(IP_PROBE, IP_B, IpProtocol::Icmp, m.len()),
                        &m,
                    );
                    s.handle_frame(now, &f);
                }
            }
            10 => {
                let _ = s.recv_error(h, &mut buf[..64]);
            }
            _ => {
                let _ = s.close(h);
                socks[k] = open(&mut s, PORTS[k]);
            }
        }
        s.audit()
            .map_err(|v| format!("after event {step} (kind {op}, socket {k}): {v}"))?;
    }
    Ok(s)
}

fn open(s: &mut Stack, port: u16) -> SocketHandle {
    let h = s.udp_socket();
    let _ = s.bind(h, SocketAddrV4::new(IP_B, port));
    let _ = s.set_recv_error(h, true);
    h
}
