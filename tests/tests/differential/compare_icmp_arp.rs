//! The layer-by-layer comparison, continued: ICMP, its quotes, and ARP.

use super::*;

/// Compares the ICMP layer (`msg` is the IP payload), and the quote of an error message.
pub(crate) fn compare_icmp(msg: &[u8], seen: &mut Seen) {
    let ours = Icmpv4Packet::new_checked(msg);
    let e = ep::Icmpv4Slice::from_slice(msg);
    let p = pn::icmp::IcmpPacket::new(msg);
    assert_eq!(
        p.is_some(),
        msg.len() >= 4,
        "pnet needs only type, code and checksum"
    );
    if msg.len() < 8 {
        assert!(matches!(ours, Err(Icmpv4Error::Truncated { .. })));
        assert!(e.is_err());
        if p.is_some() {
            // ICMP_SHORT_PNET: RFC 792 gives every message an 8-byte header; pnet's generic
            // `Icmp` packet stops after the checksum.
            seen.hit(ICMP_SHORT_PNET);
        }
        return;
    }
    let p = p.expect("at least 4 bytes");
    let view = Icmpv4Packet::new_unchecked(msg);
    let is_timestamp = matches!(msg[0], 13 | 14) && msg[1] == 0;
    let e = match e {
        Ok(e) => Some(e),
        Err(_) => {
            // ICMP_EP_TIMESTAMP_LENGTH: etherparse insists on a 20-byte timestamp message; our
            // view accepts any message of 8 bytes or more and our `Repr` reports the type as
            // unsupported (asserted below).
            seen.hit(ICMP_EP_TIMESTAMP_LENGTH);
            assert!(is_timestamp && msg.len() != 20);
            None
        }
    };

    // Header fields and body.
    let rest = [
        &view.ident().to_be_bytes()[..],
        &view.seq_no().to_be_bytes()[..],
    ]
    .concat();
    assert_eq!(rest, &msg[4..8]);
    assert_eq!(view.msg_type(), p.get_icmp_type().0);
    assert_eq!(view.code(), p.get_icmp_code().0);
    assert_eq!(view.checksum(), p.get_checksum());
    assert_eq!(&p.payload()[..4], &rest[..]);
    assert_eq!(&p.payload()[4..], view.body());
    if let Some(e) = &e {
        assert_eq!(view.msg_type(), e.type_u8());
        assert_eq!(view.code(), e.code_u8());
        assert_eq!(view.checksum(), e.checksum());
        assert_eq!(e.bytes5to8(), &rest[..]);
        if is_timestamp {
            // etherparse counts the three timestamps as header.
            assert_eq!(e.payload(), &msg[20..]);
        } else {
            assert_eq!(e.payload(), view.body());
        }
    }

    // Checksum verdicts: pnet sums the raw message; etherparse its typed header plus payload.
    let stored = view.checksum();
    let pnet_c = pn::icmp::checksum(&p);
    assert_eq!(
        view.expected_checksum(),
        pnet_c,
        "our expected ICMP checksum vs pnet"
    );
    let ours_ok = view.verify_checksum();
    if ours_ok != (stored == pnet_c) {
        // ICMP_CHECKSUM_NEGATIVE_ZERO: a message whose checksum computes to 0 sums to all ones
        // with 0xFFFF stored as well (RFC 1071), and Linux's csum_fold accepts it; the oracles
        // compare field values. (A stored 0 where 0xFFFF is computed, i.e. over all-zero
        // bytes, leaves the sum at 0 and is rejected by everyone.)
        seen.hit(ICMP_CHECKSUM_NEGATIVE_ZERO);
        assert!(
            ours_ok && stored == 0xffff && pnet_c == 0,
            "{stored:#06x} {pnet_c:#06x}"
        );
    }
    if let Some(e) = &e {
        let typed = e.header().to_bytes();
        let ep_c = e.icmp_type().calc_checksum(e.payload());
        if typed[..] == msg[..typed.len()] {
            assert_eq!(ep_c, pnet_c, "etherparse vs pnet ICMP checksum");
        } else {
            // ICMP_EP_TYPED_HEADER_LOSSY: etherparse rebuilds the header from its typed value,
            // writing zeroes for the bytes its type calls unused (destination unreachable
            // other than code 4, time exceeded, parameter problem beyond the pointer, ...).
            // Its checksum is that of the zero-filled header; RFC 792 covers the real bytes.
            seen.hit(ICMP_EP_TYPED_HEADER_LOSSY);
            let mut rebuilt = typed.to_vec();
            rebuilt[2..4].fill(0);
            rebuilt.extend_from_slice(e.payload());
            assert_eq!(ep_c, pnet_checksum(&rebuilt));
        }
    }
    let checked = match ours {
        Ok(checked) => {
            assert!(ours_ok);
            checked
        }
        Err(Icmpv4Error::BadChecksum { checksum, expected }) => {
            // ICMP_BAD_CHECKSUM: Linux's icmp_rcv drops it (csum_error); the oracles parse it.
            seen.hit(ICMP_BAD_CHECKSUM);
            assert!(!ours_ok);
            assert_eq!((checksum, expected), (stored, pnet_c));
            return;
        }
        Err(other) => panic!("Icmpv4Packet::new_checked: {other:?}"),
    };

    // Meaning.
    let repr = match Icmpv4Repr::parse(&checked) {
        Ok(repr) => repr,
        Err(Icmpv4Error::UnsupportedType { .. } | Icmpv4Error::UnknownCode { .. }) => {
            // ICMP_UNSUPPORTED: we drop types and codes the stack does not handle (L1.1);
            // etherparse calls them unknown, or decodes a timestamp.
            seen.hit(ICMP_UNSUPPORTED);
            if let Some(e) = &e {
                assert!(matches!(
                    e.icmp_type(),
                    ep::Icmpv4Type::Unknown { .. }
                        | ep::Icmpv4Type::TimestampRequest(_)
                        | ep::Icmpv4Type::TimestampReply(_)
                ));
            }
            return;
        }
        Err(other) => panic!("Icmpv4Repr::parse: {other:?}"),
    };
    assert_eq!(repr.body, view.body());
    assert_eq!(repr.message.msg_type(), view.msg_type());
    let e = e.expect("etherparse rejects only timestamps, which we do not support");
    compare_icmp_meaning(&repr.message, msg, &e, seen);
    compare_icmp_pnet_meaning(&repr.message, msg);
    if repr.message.is_error() {
        compare_quote(repr.body, seen);
    }
}

/// Our [`Icmpv4Message`] against etherparse's [`ep::Icmpv4Type`] for the same bytes.
pub(crate) fn compare_icmp_meaning(
    message: &Icmpv4Message,
    msg: &[u8],
    e: &ep::Icmpv4Slice,
    seen: &mut Seen,
) {
    use ep::icmpv4::{ParameterProblemHeader as Pp, RedirectCode, TimeExceededCode};
    use ep::Icmpv4Type as T;
    let code = msg[1];
    match (*message, e.icmp_type()) {
        (Icmpv4Message::EchoRequest { ident, seq_no }, T::EchoRequest(h))
        | (Icmpv4Message::EchoReply { ident, seq_no }, T::EchoReply(h)) => {
            assert_eq!((ident, seq_no), (h.id, h.seq));
            assert_eq!(code, 0);
        }
        (
            Icmpv4Message::EchoRequest { .. } | Icmpv4Message::EchoReply { .. },
            T::Unknown { code_u8, .. },
        ) => {
            // ICMP_ECHO_NONZERO_CODE: Linux's icmp_echo answers whatever the code; etherparse
            // only decodes echo with code 0.
            seen.hit(ICMP_ECHO_NONZERO_CODE);
            assert_ne!(code_u8, 0);
        }
        (Icmpv4Message::DstUnreachable(reason), T::DestinationUnreachable(h)) => {
            assert_eq!(reason.code(), h.code_u8());
            if let ep::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu } = h {
                assert_eq!(
                    reason,
                    udpstack::wire::DstUnreachable::FragNeeded { next_hop_mtu }
                );
            }
        }
        (Icmpv4Message::SourceQuench, T::Unknown { type_u8, .. }) => {
            // ICMP_SOURCE_QUENCH: no etherparse variant for type 4.
            seen.hit(ICMP_SOURCE_QUENCH);
            assert_eq!(type_u8, 4);
        }
        (Icmpv4Message::Redirect { reason, gateway }, T::Redirect(h)) => {
            let expected = match reason {
                Redirect::Net => RedirectCode::RedirectForNetwork,
                Redirect::Host => RedirectCode::RedirectForHost,
                Redirect::TosNet => RedirectCode::RedirectForTypeOfServiceAndNetwork,
                Redirect::TosHost => RedirectCode::RedirectForTypeOfServiceAndHost,
            };
            assert_eq!(h.code, expected);
            assert_eq!(gateway.octets(), h.gateway_internet_address);
        }
        (Icmpv4Message::TimeExceeded(reason), T::TimeExceeded(c)) => {
            let expected = match reason {
                TimeExceeded::TtlExpired => TimeExceededCode::TtlExceededInTransit,
                TimeExceeded::FragReassembly => TimeExceededCode::FragmentReassemblyTimeExceeded,
            };
            assert_eq!(c, expected);
        }
        (
            Icmpv4Message::ParamProblem {
                reason: ParamProblem::AtPointer,
                pointer,
            },
            T::ParameterProblem(Pp::PointerIndicatesError(ep_pointer)),
        ) => assert_eq!(pointer, ep_pointer),
        (
            Icmpv4Message::ParamProblem {
                reason: ParamProblem::MissingOption,
                pointer,
            },
            T::ParameterProblem(Pp::MissingRequiredOption),
        )
        | (
            Icmpv4Message::ParamProblem {
                reason: ParamProblem::BadLength,
                pointer,
            },
            T::ParameterProblem(Pp::BadLength),
        ) => {
            // ICMP_PARAM_PROBLEM_POINTER: RFC 792 defines the pointer for code 0 only; we still
            // read byte 4 for codes 1 and 2, etherparse does not model it.
            seen.hit(ICMP_PARAM_PROBLEM_POINTER);
            assert_eq!(pointer, msg[4]);
        }
        (ours, theirs) => panic!("ICMP meaning disagrees: {ours:?} vs {theirs:?}"),
    }
}

/// Our [`Icmpv4Message`] against pnet's per-type packets.
pub(crate) fn compare_icmp_pnet_meaning(message: &Icmpv4Message, msg: &[u8]) {
    use pn::icmp::{destination_unreachable, echo_reply, echo_request, time_exceeded};
    match *message {
        Icmpv4Message::EchoRequest { ident, seq_no } => {
            let p = echo_request::EchoRequestPacket::new(msg).expect("8 bytes");
            assert_eq!(
                (ident, seq_no),
                (p.get_identifier(), p.get_sequence_number())
            );
            assert_eq!(p.payload(), &msg[8..]);
        }
        Icmpv4Message::EchoReply { ident, seq_no } => {
            let p = echo_reply::EchoReplyPacket::new(msg).expect("8 bytes");
            assert_eq!(
                (ident, seq_no),
                (p.get_identifier(), p.get_sequence_number())
            );
            assert_eq!(p.payload(), &msg[8..]);
        }
        Icmpv4Message::DstUnreachable(reason) => {
            let p = destination_unreachable::DestinationUnreachablePacket::new(msg).expect("8");
            assert_eq!(reason.code(), p.get_icmp_code().0);
            if let udpstack::wire::DstUnreachable::FragNeeded { next_hop_mtu } = reason {
                assert_eq!(next_hop_mtu, p.get_next_hop_mtu());
            }
            assert_eq!(p.payload(), &msg[8..]);
        }
        Icmpv4Message::TimeExceeded(reason) => {
            let p = time_exceeded::TimeExceededPacket::new(msg).expect("8 bytes");
            assert_eq!(reason as u8, p.get_icmp_code().0);
            assert_eq!(p.get_unused().to_be_bytes(), msg[4..8]);
            assert_eq!(p.payload(), &msg[8..]);
        }
        Icmpv4Message::SourceQuench
        | Icmpv4Message::Redirect { .. }
        | Icmpv4Message::ParamProblem { .. } => {}
    }
}

/// The quote of an ICMP error (L1.1): our [`Quote`] against etherparse's and pnet's headers.
pub(crate) fn compare_quote(body: &[u8], seen: &mut Seen) {
    let eh = ep::Ipv4HeaderSlice::from_slice(body);
    match Quote::parse(body) {
        Ok(q) => {
            let ip = q.ip();
            let p = pn::ipv4::Ipv4Packet::new(body).expect("20 bytes");
            assert_eq!((ip.src(), ip.dst()), (p.get_source(), p.get_destination()));
            assert_eq!(u8::from(ip.protocol()), p.get_next_level_protocol().0);
            assert_eq!(
                (ip.ident(), ip.total_len()),
                (p.get_identification(), p.get_total_length())
            );
            let transport = &body[ip.header_len()..];
            let uh = ep::UdpHeaderSlice::from_slice(transport).expect("8 bytes after the header");
            assert_eq!(q.transport_header(), uh.slice());
            assert_eq!(
                (q.src_port(), q.dst_port()),
                (uh.source_port(), uh.destination_port())
            );
            assert_eq!(q.rest(), &transport[8..]);
            if ip.version() == 4 {
                let eh = eh.expect("a quote we read has a whole header");
                assert_eq!(ip.header(), eh.slice());
                assert_eq!(
                    (ip.src(), ip.dst()),
                    (eh.source_addr(), eh.destination_addr())
                );
                assert_eq!(u8::from(ip.protocol()), eh.protocol().0);
            } else {
                // ICMP_QUOTE_VERSION: like Linux's icmp_unreach we do not check the quoted
                // version; etherparse's header slice does.
                seen.hit(ICMP_QUOTE_VERSION);
                assert!(matches!(
                    eh,
                    Err(ep::err::ipv4::HeaderSliceError::Content(
                        ep::err::ipv4::HeaderError::UnexpectedVersion { .. }
                    ))
                ));
            }
        }
        Err(QuoteError::Header(_)) => assert!(eh.is_err()),
        Err(QuoteError::PayloadTruncated { len }) => {
            let header_len = usize::from(body[0] & 0x0f) * 4;
            assert_eq!(len, body.len() - header_len);
            assert!(ep::UdpHeaderSlice::from_slice(&body[header_len..]).is_err());
        }
    }
}

/// Compares the ARP layer (`arp` is the Ethernet payload, padding included).
pub(crate) fn compare_arp(arp: &[u8], seen: &mut Seen) {
    let ours = ArpPacket::new_checked(arp);
    let e = ep::ArpPacketSlice::from_slice(arp);
    let p = pn::arp::ArpPacket::new(arp);
    // pnet reads the fixed Ethernet/IPv4 layout whatever the length fields say.
    assert_eq!(p.is_some(), arp.len() >= 28);
    let view = ArpPacket::new_unchecked(arp);
    if let Some(p) = &p {
        assert_eq!(view.hardware_type(), p.get_hardware_type().0);
        assert_eq!(view.protocol_type(), p.get_protocol_type().0);
        assert_eq!(view.hardware_len(), p.get_hw_addr_len());
        assert_eq!(view.protocol_len(), p.get_proto_addr_len());
        assert_eq!(view.operation(), p.get_operation().0);
        assert_eq!(view.sender_mac().0, p.get_sender_hw_addr().octets());
        assert_eq!(view.sender_ip(), p.get_sender_proto_addr());
        assert_eq!(view.target_mac().0, p.get_target_hw_addr().octets());
        assert_eq!(view.target_ip(), p.get_target_proto_addr());
        assert!(p.payload().is_empty());
    }
    if let Ok(e) = &e {
        assert_eq!(view.hardware_type(), e.hw_addr_type().0);
        assert_eq!(view.protocol_type(), e.proto_addr_type().0);
        assert_eq!(view.hardware_len(), e.hw_addr_size());
        assert_eq!(view.protocol_len(), e.proto_addr_size());
        assert_eq!(view.operation(), e.operation().0);
    }
    let o = match ours {
        Ok(o) => o,
        Err(err) => {
            // ARP_NOT_ETHERNET_IPV4: etherparse accepts any address sizes that fit the buffer
            // (8 + 2 × hlen + 2 × plen bytes), pnet any 28 bytes; we accept only the format
            // the stack speaks (hardware type 1, or 6 as Linux's arp_process also accepts on
            // Ethernet) and say which field is wrong.
            seen.hit(ARP_NOT_ETHERNET_IPV4);
            let sizes =
                8 + 2 * usize::from(view.hardware_len()) + 2 * usize::from(view.protocol_len());
            assert_eq!(e.is_ok(), arp.len() >= 8 && arp.len() >= sizes);
            match err {
                ArpError::Truncated { len } => {
                    assert_eq!(len, arp.len());
                    assert!(len < 28);
                }
                ArpError::UnsupportedHardwareType { htype } => {
                    assert_eq!(htype, view.hardware_type());
                    assert!(htype != 1 && htype != 6);
                }
                ArpError::UnsupportedProtocolType { ptype } => {
                    assert_eq!(ptype, view.protocol_type());
                    assert_ne!(ptype, 0x0800);
                }
                ArpError::BadHardwareLen { hlen } => assert_ne!(hlen, 6),
                ArpError::BadProtocolLen { plen } => assert_ne!(plen, 4),
                ArpError::UnsupportedOperation { .. } => panic!("new_checked ignores the op"),
            }
            return;
        }
    };
    let e = e.expect("etherparse accepts every Ethernet/IPv4 ARP packet");
    let p = p.expect("28 bytes");
    // etherparse's slice ends at the addresses: padding is not part of the packet.
    assert_eq!(e.slice(), &arp[..28]);
    assert_eq!(o.sender_mac().0, e.sender_hw_addr());
    assert_eq!(o.sender_ip().octets(), e.sender_protocol_addr());
    assert_eq!(o.target_mac().0, e.target_hw_addr());
    assert_eq!(o.target_ip().octets(), e.target_protocol_addr());
    match ArpRepr::parse(&o) {
        Ok(repr) => {
            assert_eq!(repr.operation.code(), e.operation().0);
            assert_eq!(repr.operation.code(), p.get_operation().0);
            assert_eq!(repr.sender_mac, o.sender_mac());
            assert_eq!(repr.sender_ip, o.sender_ip());
            assert_eq!(repr.target_mac, o.target_mac());
            assert_eq!(repr.target_ip, o.target_ip());
        }
        Err(ArpError::UnsupportedOperation { operation }) => {
            // ARP_OPERATION: RARP (3, 4), InARP (8, 9) and the rest are not ours to answer;
            // the oracles hand any operation code through.
            seen.hit(ARP_OPERATION);
            assert_eq!(operation, e.operation().0);
            assert!(!(1..=2).contains(&operation));
        }
        Err(other) => panic!("ArpRepr::parse: {other:?}"),
    }
}
