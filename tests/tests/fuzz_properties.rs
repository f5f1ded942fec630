//! The properties the `reassembly` and `icmp_errors` fuzz targets check, run by `cargo test`
//! too: a short proptest over arbitrary bytes for each (the interpreters and oracles live in
//! `udpstack_tests::reassembly` and `udpstack_tests::icmp_errors`), and the targets' committed
//! seeds, each checked to reach the path its name promises.
//!
//! The seeds are the encodings of the inputs below. Set `UDPSTACK_WRITE_FUZZ_SEEDS=1` to
//! rewrite `fuzz/seeds/` after changing an input or the byte format; otherwise a seed file
//! that differs from its input fails the test.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use udpstack_tests::icmp_errors::{self, Event, SocketSpec};
use udpstack_tests::reassembly::{self, Action, FlowSpec, Input};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// Checks (or, with `UDPSTACK_WRITE_FUZZ_SEEDS` set, writes) the seed file `name` of `target`.
fn seed_file(target: &str, name: &str, bytes: &[u8]) {
    let path = seeds_dir(target).join(name);
    if std::env::var_os("UDPSTACK_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(seeds_dir(target)).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        committed,
        bytes,
        "{} differs from its input: rerun with UDPSTACK_WRITE_FUZZ_SEEDS=1",
        path.display()
    );
}

/// Every seed file of `target` is one of `names`.
fn no_stray_seeds(target: &str, names: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(seeds_dir(target))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "seeds of {target}");
}

// ---------------------------------------------------------------------------------------------
// reassembly

/// A UDP flow from 10.0.0.9 to B's port 7000 with a correct checksum, `len` bytes long.
fn udp_flow(len: u16) -> FlowSpec {
    FlowSpec {
        sel: 0,
        len,
        seed: 1 | (7 << 2),
    }
}

/// Fragment `[8 × unit, 8 × unit + 400)` of a 1200-byte flow (a raw length), MF set iff it
/// does not reach the end.
fn third(flow: u8, unit: u16) -> Action {
    Action::Fragment {
        flow,
        offset: unit,
        len: 400,
        flags: 2,
    }
}

fn reassembly_seeds() -> Vec<(&'static str, Input)> {
    let one = |settings: u8, actions: Vec<Action>| Input {
        settings,
        flows: vec![udp_flow(1200)],
        actions,
    };
    vec![
        // L4.1, L4.6: three fragments in order make one datagram.
        (
            "in-order",
            one(
                0,
                vec![Action::Sequence {
                    flow: 0,
                    chunk: 49,
                    order: 0,
                }],
            ),
        ),
        // L4.5: out of order, with a duplicate in the middle, still once.
        (
            "out-of-order-duplicate",
            one(
                0,
                vec![third(0, 100), third(0, 0), third(0, 100), third(0, 50)],
            ),
        ),
        // L4.5: an overlap discards the queue; the whole set sent again is a new datagram.
        (
            "overlap-then-whole",
            one(
                0,
                vec![
                    third(0, 0),
                    third(0, 25),
                    Action::Sequence {
                        flow: 0,
                        chunk: 49,
                        order: 1,
                    },
                ],
            ),
        ),
        // L4.1, L4.2: ipfrag_time 1 s; the first fragment times out, the rest never complete.
        (
            "timeout",
            one(
                1 << 3,
                vec![third(0, 0), Action::Wait(0x82), third(0, 50), third(0, 100)],
            ),
        ),
        // L4.3: ipfrag_high_thresh 3000: a burst fills it, later fragments are refused.
        (
            "memory-limit",
            one(
                5,
                vec![
                    Action::Burst { src: 1, count: 5 },
                    Action::Sequence {
                        flow: 0,
                        chunk: 49,
                        order: 0,
                    },
                ],
            ),
        ),
        // L4.4: ipfrag_max_dist 1: fragments of other queues from the same source flush ours.
        (
            "max-dist-flush",
            one(
                3 << 5,
                vec![
                    third(0, 0),
                    Action::Burst { src: 0, count: 2 },
                    third(0, 50),
                    third(0, 100),
                    third(0, 0),
                    third(0, 50),
                ],
            ),
        ),
        // L4.6: a datagram over 65535 bytes (an IP payload of 65550) is refused whole.
        (
            "too-big",
            Input {
                settings: 0,
                flows: vec![udp_flow(0xc0c6)],
                actions: vec![Action::Sequence {
                    flow: 0,
                    chunk: 0,
                    order: 0,
                }],
            },
        ),
    ]
}

#[test]
fn the_reassembly_seeds_reach_their_paths() {
    let seeds = reassembly_seeds();
    for (name, input) in &seeds {
        seed_file("reassembly", name, &input.encode());
        assert_eq!(&Input::decode(&input.encode()), input, "{name}");
    }
    no_stray_seeds(
        "reassembly",
        &seeds.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
    );
    let run = |name: &str| {
        let input = &seeds.iter().find(|(n, _)| *n == name).unwrap().1;
        reassembly::run_input(input).unwrap_or_else(|v| panic!("{name}: {v}"))
    };
    // L4.1, L4.6: delivered once, as predicted, byte for byte.
    let r = run("in-order");
    assert_eq!(
        (r.predicted_deliveries, r.reassembled_deliveries),
        (1, 1),
        "{r:?}"
    );
    // L4.5: the duplicate is dropped and the datagram delivered once.
    let r = run("out-of-order-duplicate");
    assert_eq!((r.predicted_deliveries, r.duplicates), (1, 1), "{r:?}");
    // L4.5: one overlap discard, then one delivery.
    let r = run("overlap-then-whole");
    assert_eq!((r.overlaps, r.predicted_deliveries), (1, 1), "{r:?}");
    // L4.2: the queue timed out; nothing delivered.
    let r = run("timeout");
    assert!(r.timeouts >= 1, "{r:?}");
    assert_eq!(r.reassembled_deliveries, 0, "{r:?}");
    // L4.3: refusals.
    let r = run("memory-limit");
    assert!(r.memory_refusals >= 1, "{r:?}");
    // L4.4: a flush, and the datagram still completes from fragments after it.
    let r = run("max-dist-flush");
    assert!(r.flushes >= 1, "{r:?}");
    assert_eq!(r.predicted_deliveries, 1, "{r:?}");
    // L4.6: the oversize datagram is discarded at completion.
    let r = run("too-big");
    assert_eq!((r.invalid, r.reassembled_deliveries), (1, 0), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// icmp_errors

/// 10.0.0.2:5000 connected to 10.0.0.9:9 (`extra` adds IP_RECVERR, a mode), 0.0.0.0:5000 with
/// IP_RECVERR, and an unbound socket.
fn three_sockets(extra: u8) -> Vec<SocketSpec> {
    vec![
        SocketSpec {
            a: 0x60 ^ extra,
            c: 1,
        },
        SocketSpec { a: 0x69, c: 0 },
        SocketSpec { a: 0x67, c: 0 },
    ]
}

/// Socket `k` sends `n` bytes to its peer (or to 10.0.0.9:9).
fn send(k: u8, n: u8) -> Event {
    Event::Send { k, dst: 0x10, n }
}

/// An ICMP message of type selector `t` (0: destination unreachable), code `code`, `extra`,
/// quoting sent datagram `which` whole, from 10.0.0.9.
fn quote(which: u8, t: u8, code: u8, extra: u8) -> Event {
    Event::Quote {
        which,
        icmp: [t, code, extra],
        cut: 0,
        mutations: 0,
        position: 0,
        value: 0,
        source: 0,
        flags: 0,
    }
}

fn icmp_seeds() -> Vec<(&'static str, icmp_errors::Input)> {
    let input = |sockets, events| icmp_errors::Input {
        settings: 0,
        sockets,
        events,
    };
    vec![
        // L1.2, L1.5, L1.6: port unreachable reaches the connected socket without IP_RECVERR;
        // recv returns ECONNREFUSED once.
        (
            "port-unreachable-connected",
            input(
                three_sockets(0),
                vec![
                    send(0, 5),
                    quote(0, 0, 3, 0),
                    Event::Take { k: 0, which: 1 },
                    Event::Take { k: 0, which: 0 },
                ],
            ),
        ),
        // L1.7, L1.8, L2.1, L2.5: fragmentation needed (MTU 1280) to a DO socket with
        // IP_RECVERR: the path MTU is learned, the entry queued and read.
        (
            "frag-needed",
            input(
                three_sockets(0x08 | 0x40),
                vec![
                    send(0, 40),
                    quote(0, 0, 4, 8),
                    Event::ErrQueue { k: 0, size: 0 },
                    Event::Take { k: 0, which: 0 },
                ],
            ),
        ),
        // L1.4: a quote of nobody's flow reaches no socket; the connected socket's datagram
        // quoted with another destination reaches the wildcard socket on its port instead.
        (
            "foreign-flow",
            input(
                three_sockets(0),
                vec![
                    send(0, 5),
                    Event::Forged {
                        src: 0,
                        sport: 1,
                        dst: 1,
                        dport: 1,
                        proto: 0,
                        icmp: [0, 3, 0],
                        source: 1,
                        flags: 0,
                    },
                    Event::Quote {
                        which: 0,
                        icmp: [0, 3, 0],
                        cut: 0,
                        mutations: 2,
                        position: 19,
                        value: 77,
                        source: 2,
                        flags: 0,
                    },
                    Event::ErrQueue { k: 1, size: 1 },
                    Event::Take { k: 0, which: 0 },
                ],
            ),
        ),
        // L1.7: a full receive buffer drops the entry but still sets the pending error.
        (
            "error-queue-full",
            input(
                vec![
                    SocketSpec { a: 0xe9, c: 0 },
                    SocketSpec { a: 0x62, c: 0 },
                    SocketSpec { a: 0x67, c: 0 },
                ],
                vec![
                    send(0, 1),
                    quote(0, 6, 0, 0),
                    quote(0, 8, 0, 9),
                    quote(0, 0, 1, 0),
                    Event::ErrQueue { k: 0, size: 0 },
                    Event::ErrQueue { k: 0, size: 0 },
                    Event::ErrQueue { k: 0, size: 0 },
                ],
            ),
        ),
        // L1.1, L1.3: a redirect, a source quench, an echo request and a bad checksum set no
        // socket error.
        (
            "no-error-types",
            input(
                vec![
                    SocketSpec { a: 0x68, c: 3 },
                    SocketSpec { a: 0x69, c: 0 },
                    SocketSpec { a: 0x6f, c: 0 },
                ],
                vec![
                    send(0, 3),
                    Event::Quote {
                        which: 0,
                        icmp: [5, 1, 1],
                        cut: 0,
                        mutations: 0,
                        position: 0,
                        value: 0,
                        source: 2,
                        flags: 0,
                    },
                    quote(0, 4, 0, 0),
                    quote(0, 89, 0, 0),
                    Event::Quote {
                        which: 0,
                        icmp: [0, 3, 0],
                        cut: 0,
                        mutations: 0,
                        position: 0,
                        value: 0,
                        source: 0,
                        flags: 7,
                    },
                    send(2, 2),
                ],
            ),
        ),
    ]
}

#[test]
fn the_icmp_errors_seeds_reach_their_paths() {
    let seeds = icmp_seeds();
    for (name, input) in &seeds {
        seed_file("icmp_errors", name, &input.encode());
        assert_eq!(
            &icmp_errors::Input::decode(&input.encode()),
            input,
            "{name}"
        );
    }
    no_stray_seeds(
        "icmp_errors",
        &seeds.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
    );
    let run = |name: &str| {
        let input = &seeds.iter().find(|(n, _)| *n == name).unwrap().1;
        icmp_errors::run_input(input).unwrap_or_else(|v| panic!("{name}: {v}"))
    };
    // L1.5, L1.6: recorded once, returned once.
    let r = run("port-unreachable-connected");
    assert_eq!(
        (r.matched, r.recorded, r.pending_returned),
        (1, 1, 1),
        "{r:?}"
    );
    // L1.7, L1.8, L2.1: learned and queued; the entry read.
    let r = run("frag-needed");
    assert_eq!(
        (r.mtu_lowered, r.queued, r.entries_read),
        (1, 1, 1),
        "{r:?}"
    );
    // L1.4: one quote matched nothing, the other reached the wildcard socket's queue.
    let r = run("foreign-flow");
    assert_eq!((r.unmatched, r.matched, r.queued), (1, 1, 1), "{r:?}");
    // L1.7: two entries fit the smallest buffer, the third is dropped.
    let r = run("error-queue-full");
    assert_eq!((r.queued, r.queue_full, r.entries_read), (2, 1, 2), "{r:?}");
    // L1.1, L1.3: the source quench is matched and ignored; nothing recorded.
    let r = run("no-error-types");
    assert_eq!((r.matched, r.recorded), (1, 0), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// L4.1–L4.6: arbitrary fragment sequences, the reassembly oracle after every frame (the
    /// `reassembly` fuzz target's property).
    #[test]
    fn reassembly_delivers_exactly_what_was_supplied(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Err(v) = reassembly::run(&data) {
            return Err(TestCaseError::fail(v));
        }
    }

    /// L1.1–L1.9, L2.1–L2.5: arbitrary socket calls and ICMP messages, the error model after
    /// every step (the `icmp_errors` fuzz target's property).
    #[test]
    fn icmp_errors_reach_only_the_socket_whose_flow_they_quote(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Err(v) = icmp_errors::run(&data) {
            return Err(TestCaseError::fail(v));
        }
    }
}
