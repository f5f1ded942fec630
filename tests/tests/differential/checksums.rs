//! Part 3: checksums against both oracles' helpers.

use super::*;

// ------------------------------------------------------------------------------------------------
// Checksums
// ------------------------------------------------------------------------------------------------

/// Data for checksum tests: random bytes, or mostly 0xFF (long carry chains), or mostly zero.
pub(crate) fn checksum_data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..max),
        prop::collection::vec(prop_oneof![9 => Just(0xffu8), 1 => any::<u8>()], 0..max),
        prop::collection::vec(prop_oneof![9 => Just(0u8), 1 => any::<u8>()], 0..max),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// RFC 1071: our `checksum` (and `sum`) equal pnet's `util::checksum` and etherparse's
    /// `Sum16BitWords` for any length and any start alignment. Representation of zero: for
    /// non-empty data all three agree (a non-zero sum never folds to 0); for no data at all
    /// we and etherparse return 0xFFFF (the complement of the empty sum), pnet returns 0.
    #[test]
    fn checksum_matches_oracles(data in checksum_data(3000), align in 0usize..8, cut in any::<Index>()) {
        let start = align.min(data.len());
        let data = &data[start..];
        let data = &data[..cut.index(data.len() + 1)];
        let ours = checksum::checksum(data);
        prop_assert_eq!(checksum::sum(data), !ours);
        prop_assert_eq!(ours, ep_checksum(data));
        if data.is_empty() {
            // pnet special-cases empty input.
            prop_assert_eq!((ours, pnet_checksum(data)), (0xffff, 0));
        } else {
            prop_assert_eq!(ours, pnet_checksum(data));
        }
        // etherparse's "no zero" variant, used for UDP, maps a computed 0 to 0xFFFF (L3.6).
        let nz = ep::checksum::Sum16BitWords::new().add_slice(data).to_ones_complement_with_no_zero().to_be();
        prop_assert_eq!(nz, if ours == 0 { 0xffff } else { ours });
        // pnet's skip-word (how it ignores a checksum field) equals zeroing that word.
        if data.len() >= 4 {
            let mut zeroed = data.to_vec();
            zeroed[2..4].fill(0);
            prop_assert_eq!(pn::util::checksum(data, 1), checksum::checksum(&zeroed));
        }
    }

    /// Our running `Accumulator` over chunks of odd and even lengths equals pnet's checksum of
    /// the concatenation (RFC 1071 §2(B): byte-swapping a chunk that starts at an odd offset).
    #[test]
    fn accumulator_matches_pnet(parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..33), 1..10)) {
        let mut acc = checksum::Accumulator::new();
        for part in &parts {
            acc.add(part);
        }
        let whole = parts.concat();
        prop_assume!(!whole.is_empty());
        prop_assert_eq!(!acc.sum(), pnet_checksum(&whole));
        prop_assert_eq!(!acc.sum(), ep_checksum(&whole));
    }

    /// RFC 1624 eqn. 3: updating a checksum for one rewritten 16-bit word equals pnet's
    /// recomputation, except over all-zero data, where recomputation gives 0xFFFF and eqn. 3
    /// the other zero, 0x0000 (RFC 1624 §3); both verify.
    #[test]
    fn incremental_update_matches_pnet(
        mut data in prop::collection::vec(any::<u8>(), 2..300),
        at in any::<Index>(),
        new in any::<u16>(),
    ) {
        let i = at.index(data.len() / 2) * 2;
        let before = pnet_checksum(&data);
        let old = be16(&data, i);
        data[i..i + 2].copy_from_slice(&new.to_be_bytes());
        let recomputed = pnet_checksum(&data);
        let updated = checksum::update(before, old, new);
        if data.iter().all(|&b| b == 0) {
            prop_assert_eq!((updated, recomputed), (0, 0xffff));
        } else {
            prop_assert_eq!(updated, recomputed);
        }
    }

    /// The IPv4 pseudo-header (RFC 768) sum, complemented, equals etherparse's checksum of the
    /// same twelve bytes and pnet's.
    #[test]
    fn pseudo_header_matches_oracles(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol in any::<u8>(), length in any::<u16>()) {
        let ours = !checksum::pseudo_header(src.into(), dst.into(), protocol, length);
        let bytes = [&src[..], &dst[..], &[0, protocol], &length.to_be_bytes()].concat();
        let e = ep::checksum::Sum16BitWords::new()
            .add_4bytes(src)
            .add_4bytes(dst)
            .add_2bytes([0, protocol])
            .add_2bytes(length.to_be_bytes())
            .ones_complement()
            .to_be();
        prop_assert_eq!(ours, e);
        prop_assert_eq!(ours, pnet_checksum(&bytes));
    }

    /// The UDP checksum over pseudo-header and datagram: what our `UdpRepr::emit` writes and
    /// `expected_checksum` returns equals etherparse's `calc_checksum_ipv4_raw` and pnet's
    /// `udp::ipv4_checksum`, and verifies with our `verify_checksum`. A computed 0 is written
    /// as 0xFFFF by us and returned as 0xFFFF by etherparse, but as 0 by pnet (L3.6).
    #[test]
    fn udp_checksum_matches_oracles(
        src in any::<[u8; 4]>(),
        dst in any::<[u8; 4]>(),
        ports in any::<(u16, u16)>(),
        mut payload in prop::collection::vec(any::<u8>(), 0..1500),
        force_zero in any::<bool>(),
        trailing in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let repr = UdpRepr { src_port: ports.0, dst_port: ports.1, payload_len: payload.len() };
        let mut dgram = vec![0u8; repr.buffer_len()];
        let force_zero = force_zero && payload.len() >= 2;
        if force_zero {
            payload[..2].fill(0);
            dgram[8..].copy_from_slice(&payload);
            repr.emit(&mut dgram, src, dst).unwrap();
            let s = pn::udp::ipv4_checksum(&pn::udp::UdpPacket::new(&dgram).unwrap(), &src, &dst);
            payload[..2].copy_from_slice(&s.to_be_bytes());
        }
        dgram[8..].copy_from_slice(&payload);
        repr.emit(&mut dgram, src, dst).unwrap();
        let stored = be16(&dgram, 6);

        let pnet_c = pn::udp::ipv4_checksum(&pn::udp::UdpPacket::new(&dgram).unwrap(), &src, &dst);
        let ep_c = ep::UdpHeaderSlice::from_slice(&dgram).unwrap().to_header()
            .calc_checksum_ipv4_raw(src.octets(), dst.octets(), &dgram[8..]).unwrap();
        prop_assert_eq!(stored, ep_c);
        if force_zero {
            prop_assert_eq!((stored, pnet_c), (0xffff, 0));
        } else {
            prop_assert_ne!(pnet_c, 0);
            prop_assert_eq!(stored, pnet_c);
        }

        // Trailing bytes after the UDP length (L5.1) change nothing for us.
        dgram.extend_from_slice(&trailing);
        let ours = UdpPacket::new_checked(&dgram[..]).unwrap();
        prop_assert_eq!(ours.expected_checksum(src, dst), ep_c);
        prop_assert!(ours.verify_checksum(src, dst));
        prop_assert_eq!(UdpRepr::parse(&ours, src, dst).unwrap(), repr);
    }
}

/// The same comparisons on long buffers (up to 70 000 bytes, past a 64 KiB datagram), which
/// exercise our 32-byte block loop and carry counting. pnet sums into a `u32` without folding,
/// which is exact up to 131 072 bytes.
#[test]
pub(crate) fn checksum_matches_oracles_on_long_buffers() {
    let mut runner = TestRunner::new(Config::with_cases(12));
    let strategy = (
        prop::collection::vec(
            prop_oneof![3 => Just(0xffu8), 1 => any::<u8>()],
            60_000..70_000,
        ),
        0usize..8,
    );
    runner
        .run(&strategy, |(data, align)| {
            let data = &data[align..];
            prop_assert_eq!(checksum::checksum(data), pnet_checksum(data));
            prop_assert_eq!(checksum::checksum(data), ep_checksum(data));
            Ok(())
        })
        .unwrap();
}
