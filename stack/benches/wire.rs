//! Wire-layer benchmarks: the Internet checksum beside `memcpy`, and the full receive-side parse
//! and verification of one Ethernet/IPv4/UDP frame, each side by side with etherparse and
//! smoltcp. Figures and the machine they were measured on are in `docs/BENCHMARKS.md`.
//!
//! Run with `cargo bench -p udpstack --bench wire`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use udpstack::wire::{
    checksum, EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Options, Ipv4Packet,
    Ipv4Repr, MacAddr, UdpPacket, UdpRepr,
};

/// Buffer sizes for the checksum group: a minimum frame, an Ethernet MTU, a jumbo frame and the
/// largest IPv4 datagram.
const CHECKSUM_SIZES: [usize; 4] = [64, 1500, 9000, 65535];

/// A 1514-byte Ethernet frame: 14 + 20 (IPv4) + 8 (UDP) + 1472 payload bytes.
const FRAME_LEN: usize = 1514;
const PAYLOAD_LEN: usize = 1472;
const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// Offset of a byte in the middle of the UDP payload, corrupted to check rejection.
const PAYLOAD_BYTE: usize = ETH_LEN + IP_LEN + UDP_LEN + 700;
/// Offset of the low byte of the IPv4 identification field, corrupted to check that the IPv4
/// header checksum is verified (the UDP checksum does not cover it).
const IP_IDENT_BYTE: usize = ETH_LEN + 5;

const SRC_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 1);
const DST_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 2);
const SRC_PORT: u16 = 49152;
const DST_PORT: u16 = 4789;

/// Deterministic pseudo-random bytes (xorshift64), so that no checksum runs over zeroes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
}

// ---------------------------------------------------------------------------------------------
// checksum
// ---------------------------------------------------------------------------------------------

/// etherparse's RFC 1071 sum. `ones_complement` returns the complemented, folded sum in native
/// byte order; etherparse's own header code applies `to_be()` to it, as here.
fn etherparse_checksum(data: &[u8]) -> u16 {
    etherparse::checksum::Sum16BitWords::new()
        .add_slice(data)
        .ones_complement()
        .to_be()
}

/// smoltcp's RFC 1071 sum (folded, not complemented).
fn smoltcp_checksum(data: &[u8]) -> u16 {
    smoltcp::wire::checksum::data(data)
}

fn bench_checksum(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for &size in &CHECKSUM_SIZES {
        let src = bytes(size, size as u64);
        let mut dst = vec![0u8; size];

        // The three implementations agree, so each bench below computes the same thing.
        let ours = checksum::sum(&src);
        assert_eq!(smoltcp_checksum(&src), ours, "smoltcp disagrees at {size}");
        assert_eq!(
            etherparse_checksum(&src),
            !ours,
            "etherparse disagrees at {size}"
        );

        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("udpstack", size), &src, |b, src| {
            b.iter(|| checksum::sum(black_box(src)))
        });
        group.bench_with_input(BenchmarkId::new("etherparse", size), &src, |b, src| {
            b.iter(|| etherparse_checksum(black_box(src)))
        });
        group.bench_with_input(BenchmarkId::new("smoltcp", size), &src, |b, src| {
            b.iter(|| smoltcp_checksum(black_box(src)))
        });
        group.bench_with_input(BenchmarkId::new("memcpy", size), &src, |b, src| {
            b.iter(|| {
                let d: &mut [u8] = black_box(&mut dst[..]);
                d.copy_from_slice(black_box(&src[..]));
                black_box(d.as_ptr());
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// parse_verify_1514
// ---------------------------------------------------------------------------------------------

/// What every implementation extracts from the frame; black-boxed so none of it is dead code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload_len: usize,
}

const EXPECTED: Summary = Summary {
    src: SRC_IP,
    dst: DST_IP,
    src_port: SRC_PORT,
    dst_port: DST_PORT,
    payload_len: PAYLOAD_LEN,
};

/// Builds the frame with udpstack's own emit API: payload first, then UDP (whose checksum covers
/// it), IPv4 and Ethernet.
fn build_frame() -> Vec<u8> {
    let mut frame = vec![0u8; FRAME_LEN];
    let payload = bytes(PAYLOAD_LEN, 0x5eed);
    frame[ETH_LEN + IP_LEN + UDP_LEN..].copy_from_slice(&payload);

    let udp = UdpRepr {
        src_port: SRC_PORT,
        dst_port: DST_PORT,
        payload_len: PAYLOAD_LEN,
    };
    udp.emit(&mut frame[ETH_LEN + IP_LEN..], SRC_IP, DST_IP)
        .expect("emit UDP");
    let ip = Ipv4Repr {
        src: SRC_IP,
        dst: DST_IP,
        protocol: IpProtocol::Udp,
        dscp: 0,
        ecn: 0,
        ident: 0x1234,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        ttl: 64,
        options: Ipv4Options::NONE,
        payload_len: UDP_LEN + PAYLOAD_LEN,
    };
    ip.emit(&mut frame[ETH_LEN..]).expect("emit IPv4");
    let eth = EthernetRepr {
        dst: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        src: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
        ethertype: EtherType::Ipv4,
    };
    eth.emit(&mut frame).expect("emit Ethernet");
    frame
}

/// udpstack: checked Ethernet view and Repr; checked IPv4 view (verifies the header checksum)
/// and Repr; checked UDP view and `UdpRepr::parse` (verifies the checksum with pseudo-header).
fn parse_udpstack(frame: &[u8]) -> Option<Summary> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let eth_repr = EthernetRepr::parse(&eth).ok()?;
    if eth_repr.ethertype != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip).ok()?;
    if ip_repr.protocol != IpProtocol::Udp || ip_repr.is_fragment() {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let udp_repr = UdpRepr::parse(&udp, ip_repr.src, ip_repr.dst).ok()?;
    Some(Summary {
        src: ip_repr.src,
        dst: ip_repr.dst,
        src_port: udp_repr.src_port,
        dst_port: udp_repr.dst_port,
        payload_len: udp.payload().len(),
    })
}

/// etherparse: `SlicedPacket::from_ethernet` checks lengths only, so both checksums are
/// verified explicitly with etherparse's own calc functions, as an etherparse user would.
fn parse_etherparse(frame: &[u8]) -> Option<Summary> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        return None;
    };
    let header = ip.header();
    if header.to_header().calc_header_checksum() != header.header_checksum() {
        return None;
    }
    let Some(TransportSlice::Udp(udp)) = &sliced.transport else {
        return None;
    };
    let stored = udp.checksum();
    if stored != 0 {
        let computed = udp
            .to_header()
            .calc_checksum_ipv4_raw(header.source(), header.destination(), udp.payload())
            .ok()?;
        if computed != stored {
            return None;
        }
    }
    Some(Summary {
        src: header.source_addr(),
        dst: header.destination_addr(),
        src_port: udp.source_port(),
        dst_port: udp.destination_port(),
        payload_len: udp.payload().len(),
    })
}

/// smoltcp: checked views plus `Ipv4Repr::parse` and `UdpRepr::parse` with the default
/// `ChecksumCapabilities`, which verify both checksums on receive.
fn parse_smoltcp(frame: &[u8]) -> Option<Summary> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket,
        UdpRepr,
    };

    let caps = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, &caps).ok()?;
    if ip_repr.next_header != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let udp_repr = UdpRepr::parse(
        &udp,
        &IpAddress::Ipv4(ip_repr.src_addr),
        &IpAddress::Ipv4(ip_repr.dst_addr),
        &caps,
    )
    .ok()?;
    Some(Summary {
        src: ip_repr.src_addr,
        dst: ip_repr.dst_addr,
        src_port: udp_repr.src_port,
        dst_port: udp_repr.dst_port,
        payload_len: udp.payload().len(),
    })
}

/// Outside the timed loop: the implementation accepts the good frame with the expected result
/// and rejects a frame with a corrupted UDP payload byte and one with a corrupted IPv4 header
/// byte, so the timed work really includes both checksum verifications.
fn assert_verifies(name: &str, parse: impl Fn(&[u8]) -> Option<Summary>, frame: &[u8]) {
    assert_eq!(
        parse(frame),
        Some(EXPECTED),
        "{name} rejects the good frame"
    );
    let mut bad_udp = frame.to_vec();
    bad_udp[PAYLOAD_BYTE] ^= 0x01;
    assert_eq!(parse(&bad_udp), None, "{name} accepts a bad UDP checksum");
    let mut bad_ip = frame.to_vec();
    bad_ip[IP_IDENT_BYTE] ^= 0x01;
    assert_eq!(parse(&bad_ip), None, "{name} accepts a bad IPv4 checksum");
}

/// Checks `parse` as above, then times it on the good frame. Generic, so each implementation
/// is called statically (and may be inlined) exactly like the others.
fn bench_one<M, F>(group: &mut criterion::BenchmarkGroup<'_, M>, name: &str, parse: F, frame: &[u8])
where
    M: criterion::measurement::Measurement,
    F: Fn(&[u8]) -> Option<Summary>,
{
    assert_verifies(name, &parse, frame);
    group.bench_function(name, |b| b.iter(|| black_box(parse(black_box(frame)))));
}

fn bench_parse_verify(c: &mut Criterion) {
    let frame = build_frame();
    assert_eq!(frame.len(), FRAME_LEN);

    let mut group = c.benchmark_group("parse_verify_1514");
    group.throughput(Throughput::Bytes(FRAME_LEN as u64));
    bench_one(&mut group, "udpstack", parse_udpstack, &frame);
    bench_one(&mut group, "etherparse", parse_etherparse, &frame);
    bench_one(&mut group, "smoltcp", parse_smoltcp, &frame);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_checksum, bench_parse_verify
}
criterion_main!(benches);
