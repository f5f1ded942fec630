//! What the IP layer does with the options of packets it receives and answers, as Linux does:
//! record route (RFC 791 §3.1, type 7) is filled in on arrival (`ip_options_compile`) and
//! echoed, with our address added, in the ICMP errors and echo replies we send back
//! (`__ip_options_echo`, `ip_options_build`). Non-first fragments of a packet we send carry the
//! non-copied options as NOPs (`ip_options_fragment`).
//!
//! Not done (see docs/LINUX-PARITY.md): the timestamp option is neither filled in nor echoed;
//! source routes are dropped before this (`accept_source_route` = 0).

use std::net::Ipv4Addr;

use crate::wire::ipv4::{Ipv4Options, HEADER_LEN};

/// Record route.
pub(crate) const OPT_RR: u8 = 7;
/// The "copied" flag of an option type: it belongs in every fragment.
const COPIED: u8 = 0x80;
/// No operation.
const NOP: u8 = 1;

/// What `ip_options_compile` found on arrival: where the (last) record-route option is, if
/// there is one. Linux also keeps `rr_needaddr` (we recorded ourselves, so the echo records us
/// again where a slot is left); that is derivable: after arrival a pointer still inside the
/// option means we recorded (an option full on arrival stays full, and a bad pointer was a
/// parameter problem), so [`echo`] reads it from the pointer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RxOptions {
    /// Offset of the record-route option from the start of the IP header, if there is one.
    pub rr: Option<usize>,
}

/// `ip_options_compile` for record route on a packet delivered to us: if there is a slot
/// left, writes `spec_dst` into it and advances the pointer (the header checksum is not
/// updated: the kernel does not either, so an ICMP error quoting the packet shows the new
/// route under the old checksum). `header` is the whole IP header, options included, and
/// `options` its parsed options. Like the kernel, every record-route option is filled in and
/// the last one is the one echoed.
///
/// # Errors
/// The offset (from the start of the header) an ICMP parameter problem points at: a record
/// route shorter than 3 bytes, a pointer below 4, or a pointer inside the option with no
/// room for a whole address.
pub(crate) fn record_route_on_input(
    header: &mut [u8],
    options: &Ipv4Options,
    spec_dst: Ipv4Addr,
) -> Result<RxOptions, usize> {
    for o in options.iter().filter(|o| o.kind == OPT_RR) {
        let (at, len) = (o.offset, 2 + o.data.len());
        let Some(&ptr) = o.data.first() else {
            return Err(at + 1);
        };
        let ptr = usize::from(ptr);
        if ptr < 4 {
            return Err(at + 2);
        }
        if ptr <= len {
            if ptr + 3 > len {
                return Err(at + 2);
            }
            if let Some(slot) = header.get_mut(at + ptr - 1..at + ptr + 3) {
                slot.copy_from_slice(&spec_dst.octets());
            }
            if let Some(p) = header.get_mut(at + 2) {
                *p = (ptr + 4) as u8;
            }
        }
    }
    Ok(inferred(options))
}

/// What [`record_route_on_input`] found, read again from a header it has already changed
/// (a reassembled datagram's, whose first fragment's was) through its parsed `options`.
pub(crate) fn inferred(options: &Ipv4Options) -> RxOptions {
    RxOptions {
        rr: options
            .iter()
            .filter(|o| o.kind == OPT_RR)
            .last()
            .map(|o| o.offset),
    }
}

/// `__ip_options_echo` then `ip_options_build`, for record route: the options of a reply (an
/// ICMP error or echo reply) to a packet whose header is `header`, sent from `src`. The
/// record route is copied, and if a slot is left (so we recorded ourselves on arrival, see
/// [`RxOptions`]), `src` is recorded in it; padded with EOL to a multiple of 4. `None` when the kernel refuses to echo
/// (a pointer inside the option with no room for an address): then no reply is sent at all.
pub(crate) fn echo(header: &[u8], rx: RxOptions, src: Ipv4Addr) -> Option<Ipv4Options> {
    let Some(at) = rx.rr else {
        return Some(Ipv4Options::NONE);
    };
    let len = usize::from(*header.get(at + 1)?);
    let mut rr = header.get(at..at + len)?.to_vec();
    let ptr = usize::from(*rr.get(2)?);
    if ptr <= len {
        if ptr + 3 > len {
            return None;
        }
        rr.get_mut(ptr.checked_sub(1)?..ptr + 3)?
            .copy_from_slice(&src.octets());
        rr[2] = (ptr + 4) as u8;
    }
    Ipv4Options::new(&rr).ok()
}

/// `ip_options_fragment`: the options of a fragment after the first, every option without the
/// copied flag overwritten with NOPs (the header keeps its length).
pub(crate) fn for_later_fragments(options: &Ipv4Options) -> Ipv4Options {
    let bytes = options.as_bytes();
    let mut out = bytes.to_vec();
    for o in options.iter() {
        if o.kind == NOP || o.kind & COPIED != 0 {
            continue;
        }
        let start = o.offset - HEADER_LEN;
        let end = (start + 2 + o.data.len()).min(out.len());
        if let Some(span) = out.get_mut(start..end) {
            span.fill(NOP);
        }
    }
    Ipv4Options::new(&out).unwrap_or(Ipv4Options::NONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(options: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        h[0] = 0x40 | ((HEADER_LEN + options.len()) / 4) as u8;
        h.extend_from_slice(options);
        h
    }

    /// [`record_route_on_input`] on `h`, its options parsed first as the IP layer does.
    fn record(h: &mut [u8]) -> Result<RxOptions, usize> {
        let options = Ipv4Options::new(&h[HEADER_LEN..]).unwrap();
        record_route_on_input(h, &options, ME)
    }

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn record_route_fills_the_next_slot_then_stops_when_full() {
        // RFC 791 3.1, ip_options_compile: our address in the next slot, pointer + 4.
        let mut h = header(&[7, 11, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0]);
        let rx = record(&mut h).unwrap();
        assert_eq!(
            &h[20..],
            &[7, 11, 12, 10, 0, 0, 1, 10, 0, 0, 2, 0],
            "recorded"
        );
        assert_eq!(rx, RxOptions { rr: Some(20) });
        // What was found can be read back from the changed header (a reassembled datagram).
        let options = Ipv4Options::new(&h[HEADER_LEN..]).unwrap();
        assert_eq!(inferred(&options), rx);
        // Full now: nothing more is written, and the echo copies it as is.
        let mut again = h.clone();
        assert_eq!(record(&mut again), Ok(rx));
        assert_eq!(again, h);
        let echoed = echo(&h, rx, ME).unwrap();
        assert_eq!(echoed.as_bytes(), &[7, 11, 12, 10, 0, 0, 1, 10, 0, 0, 2, 0]);
    }

    #[test]
    fn the_echo_records_the_replying_address_if_a_slot_is_left() {
        // __ip_options_echo + ip_options_build: ping -R shows our address twice.
        let mut h = header(&[1, 7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let rx = record(&mut h).unwrap();
        assert_eq!(rx.rr, Some(21));
        let echoed = echo(&h, rx, Ipv4Addr::new(10, 0, 0, 9)).unwrap();
        assert_eq!(
            echoed.as_bytes(),
            &[7, 15, 12, 10, 0, 0, 2, 10, 0, 0, 9, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn bad_pointers_are_parameter_problems() {
        // ip_options_compile: pointer < 4 → at the pointer; a partial slot → at the pointer;
        // no pointer at all → at the length.
        assert_eq!(record(&mut header(&[7, 7, 3, 0, 0, 0, 0, 0])), Err(22));
        assert_eq!(
            record(&mut header(&[7, 9, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            Err(22)
        );
        assert_eq!(record(&mut header(&[1, 7, 2, 0])), Err(22));
    }

    #[test]
    fn no_record_route_echoes_nothing() {
        // __ip_options_echo copies only record route (and timestamps, source routes).
        let h = header(&[1, 1, 1, 0]);
        let rx = RxOptions::default();
        assert!(echo(&h, rx, ME).unwrap().is_empty());
    }

    #[test]
    fn later_fragments_carry_non_copied_options_as_nops() {
        // ip_options_fragment: record route is not copied; a copied option (here 0x94, router
        // alert) stays.
        let o = Ipv4Options::new(&[7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0, 0]).unwrap();
        assert_eq!(
            for_later_fragments(&o).as_bytes(),
            &[1, 1, 1, 1, 1, 1, 1, 0x94, 4, 0, 0, 0]
        );
    }
}
