//! Routing for the one interface: what a destination address means, on the way in and out.
//!
//! With one address `A/P`, an optional gateway and no forwarding, Linux's FIB holds: a local
//! route for `A`, a broadcast route for the subnet's broadcast address (prefixes up to /30), the
//! subnet on-link, the default route via the gateway, and the loopback device's 127.0.0.0/8.
//! These functions answer the questions `ip_route_input_slow` and `ip_route_output_key` answer
//! against that table.

use std::net::Ipv4Addr;

use crate::config::InterfaceConfig;
use crate::errno::Errno;

/// Where a received packet is going (`ip_route_input_slow`'s verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputRoute {
    /// Our unicast address (or a loopback address, for looped-back packets).
    Local,
    /// The limited broadcast address or our subnet's broadcast address.
    Broadcast,
    /// A source no host may use: the packet is dropped (`martian_source`).
    MartianSource,
    /// Unicast for another host (forwarding is off): `InAddrErrors` (`ip_error`).
    NotForUs,
    /// A destination no packet from the wire may have (0.0.0.0, loopback), or a multicast group
    /// we have not joined: dropped with no SNMP counter (`martian_destination`).
    MartianDestination,
}

/// How to reach a destination (`ip_route_output_key`'s verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutputRoute {
    /// The source address to use.
    pub src: Ipv4Addr,
    /// Where the frame goes next.
    pub next_hop: NextHop,
    /// The destination is a broadcast address (`RTCF_BROADCAST`): SO_BROADCAST needed.
    pub broadcast: bool,
    /// The destination is a multicast address.
    pub multicast: bool,
    /// The device MTU of the way out.
    pub mtu: u16,
}

/// The next hop of an output route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextHop {
    /// A neighbour to resolve with ARP: the destination itself, or the gateway.
    Neighbor(Ipv4Addr),
    /// The Ethernet broadcast address.
    Broadcast,
    /// An Ethernet multicast address mapped from the IP group (RFC 1112 §6.4).
    Multicast(Ipv4Addr),
    /// Ourselves: the loopback device.
    Local,
}

/// The loopback device's MTU.
pub(crate) const LOOPBACK_MTU: u16 = 65535;

fn is_limited_broadcast(ip: Ipv4Addr) -> bool {
    ip == Ipv4Addr::BROADCAST
}

/// Whether `ip` is one of our broadcast addresses.
pub(crate) fn is_broadcast(iface: &InterfaceConfig, ip: Ipv4Addr) -> bool {
    is_limited_broadcast(ip) || iface.addr.broadcast() == Some(ip)
}

/// Whether `ip` is one of our own addresses (ours, or loopback).
pub(crate) fn is_local(iface: &InterfaceConfig, ip: Ipv4Addr) -> bool {
    ip == iface.addr.addr() || ip.is_loopback()
}

/// The verdict for a received packet from `src` to `dst`; `looped` is true for packets that
/// came from the loopback device.
pub(crate) fn input(
    iface: &InterfaceConfig,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    looped: bool,
) -> InputRoute {
    // The order of ip_route_input_slow's checks.
    if src.is_multicast() || is_limited_broadcast(src) {
        return InputRoute::MartianSource;
    }
    let verdict = if is_limited_broadcast(dst) || (src.is_unspecified() && dst.is_unspecified()) {
        // brd_input: a 0.0.0.0 source is fine here (DHCP).
        if src.is_unspecified() {
            return InputRoute::Broadcast;
        }
        InputRoute::Broadcast
    } else {
        if src.is_unspecified() {
            return InputRoute::MartianSource;
        }
        if dst.is_unspecified() {
            return InputRoute::MartianDestination;
        }
        if !looped && dst.is_loopback() {
            return InputRoute::MartianDestination;
        }
        if !looped && src.is_loopback() {
            return InputRoute::MartianSource;
        }
        if dst.is_multicast() {
            // No multicast groups are joined.
            return InputRoute::MartianDestination;
        }
        if is_local(iface, dst) {
            InputRoute::Local
        } else if iface.addr.broadcast() == Some(dst) {
            InputRoute::Broadcast
        } else {
            return InputRoute::NotForUs;
        }
    };
    // fib_validate_source: from the wire, the source must route as unicast, not as one of our
    // own (local or broadcast) addresses.
    if !looped && (is_local(iface, src) || iface.addr.broadcast() == Some(src)) {
        return InputRoute::MartianSource;
    }
    verdict
}

/// The route to `dst` for a sender whose source address is `src` (0.0.0.0 when the socket has
/// none yet). `dont_route` restricts it to on-link destinations (MSG_DONTROUTE).
///
/// This is [`output`] plus one rule of `ip_route_output_key_hash_rcu`: the limited broadcast
/// address and multicast groups have no route of their own in the FIB (the local table holds
/// only the subnet's broadcast address), so without a source address they are looked up like any
/// destination and need the default route, reachable only without MSG_DONTROUTE (the default
/// route's scope is "universe", below the link scope MSG_DONTROUTE asks for); no default route
/// means ENETUNREACH. A source address that is one of ours takes the kernel's "special hack"
/// instead: the packet leaves by that address's device with no FIB lookup.
///
/// And one rule of `__mkroute_output`: a loopback source address may leave only through the
/// loopback device (`route_localnet` is off), else EINVAL.
///
/// # Errors
/// `ENETUNREACH` as for [`output`], and for the limited broadcast address or a multicast group
/// when `src` is 0.0.0.0 and there is no default route (or `dont_route` is set); `EINVAL` for
/// a loopback source towards anything but ourselves.
pub(crate) fn output_from(
    iface: &InterfaceConfig,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dont_route: bool,
) -> Result<OutputRoute, Errno> {
    let needs_fib = is_limited_broadcast(dst) || dst.is_multicast();
    if needs_fib && src.is_unspecified() && (iface.gateway.is_none() || dont_route) {
        return Err(Errno::ENETUNREACH);
    }
    let route = output(iface, dst, dont_route)?;
    if src.is_loopback() && route.next_hop != NextHop::Local {
        return Err(Errno::EINVAL);
    }
    Ok(route)
}

/// The route to `dst`. `dont_route` restricts it to on-link destinations (MSG_DONTROUTE).
///
/// The limited broadcast address and multicast groups are always routed out of the interface,
/// as for a sender with a source address (see [`output_from`] for a sender without one).
///
/// # Errors
/// `ENETUNREACH` when there is no route (off-link with no gateway, or off-link with
/// `dont_route`).
pub(crate) fn output(
    iface: &InterfaceConfig,
    dst: Ipv4Addr,
    dont_route: bool,
) -> Result<OutputRoute, Errno> {
    let ours = iface.addr.addr();
    let route = |src, next_hop, broadcast, multicast, mtu| OutputRoute {
        src,
        next_hop,
        broadcast,
        multicast,
        mtu,
    };
    if dst.is_unspecified() {
        // ip_route_output_key_hash_rcu: a 0.0.0.0 destination means ourselves.
        return Ok(route(ours, NextHop::Local, false, false, LOOPBACK_MTU));
    }
    if dst.is_loopback() {
        return Ok(route(
            Ipv4Addr::LOCALHOST,
            NextHop::Local,
            false,
            false,
            LOOPBACK_MTU,
        ));
    }
    if dst == ours {
        return Ok(route(ours, NextHop::Local, false, false, LOOPBACK_MTU));
    }
    if is_broadcast(iface, dst) {
        return Ok(route(ours, NextHop::Broadcast, true, false, iface.mtu));
    }
    if dst.is_multicast() {
        return Ok(route(ours, NextHop::Multicast(dst), false, true, iface.mtu));
    }
    if iface.addr.contains(dst) {
        return Ok(route(ours, NextHop::Neighbor(dst), false, false, iface.mtu));
    }
    match iface.gateway {
        Some(gw) if !dont_route => Ok(route(ours, NextHop::Neighbor(gw), false, false, iface.mtu)),
        _ => Err(Errno::ENETUNREACH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(gateway: Option<Ipv4Addr>) -> InterfaceConfig {
        InterfaceConfig {
            addr: "10.0.0.2/24".parse().unwrap(),
            gateway,
            ..InterfaceConfig::default()
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn input_verdicts() {
        let i = iface(None);
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("10.0.0.2"), false),
            InputRoute::Local
        );
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("10.0.0.255"), false),
            InputRoute::Broadcast
        );
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("255.255.255.255"), false),
            InputRoute::Broadcast
        );
        assert_eq!(
            input(&i, ip("0.0.0.0"), ip("255.255.255.255"), false),
            InputRoute::Broadcast
        );
        assert_eq!(
            input(&i, ip("0.0.0.0"), ip("10.0.0.2"), false),
            InputRoute::MartianSource
        );
        assert_eq!(
            input(&i, ip("224.0.0.1"), ip("10.0.0.2"), false),
            InputRoute::MartianSource
        );
        assert_eq!(
            input(&i, ip("10.0.0.255"), ip("10.0.0.2"), false),
            InputRoute::MartianSource
        );
        assert_eq!(
            input(&i, ip("10.0.0.2"), ip("255.255.255.255"), false),
            InputRoute::MartianSource
        );
        assert_eq!(
            input(&i, ip("127.0.0.1"), ip("10.0.0.2"), false),
            InputRoute::MartianSource
        );
        assert_eq!(
            input(&i, ip("10.0.0.2"), ip("10.0.0.2"), false),
            InputRoute::MartianSource
        );
        assert_eq!(
            input(&i, ip("10.0.0.2"), ip("10.0.0.2"), true),
            InputRoute::Local
        );
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("10.0.0.3"), false),
            InputRoute::NotForUs
        );
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("127.0.0.1"), false),
            InputRoute::MartianDestination
        );
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("224.0.0.1"), false),
            InputRoute::MartianDestination
        );
        assert_eq!(
            input(&i, ip("10.0.0.1"), ip("10.0.0.0"), false),
            InputRoute::NotForUs
        );
    }

    #[test]
    fn output_routes() {
        let i = iface(Some(ip("10.0.0.1")));
        let r = output(&i, ip("10.0.0.9"), false).unwrap();
        assert_eq!(
            (r.src, r.next_hop, r.broadcast, r.mtu),
            (
                ip("10.0.0.2"),
                NextHop::Neighbor(ip("10.0.0.9")),
                false,
                1500
            )
        );
        assert_eq!(
            output(&i, ip("8.8.8.8"), false).unwrap().next_hop,
            NextHop::Neighbor(ip("10.0.0.1"))
        );
        assert_eq!(output(&i, ip("8.8.8.8"), true), Err(Errno::ENETUNREACH));
        assert_eq!(
            output(&iface(None), ip("8.8.8.8"), false),
            Err(Errno::ENETUNREACH)
        );
        let b = output(&i, ip("10.0.0.255"), false).unwrap();
        assert!(b.broadcast && b.next_hop == NextHop::Broadcast);
        assert!(output(&i, ip("255.255.255.255"), false).unwrap().broadcast);
        assert_eq!(
            output(&i, ip("10.0.0.2"), false).unwrap().next_hop,
            NextHop::Local
        );
        // Without a source address, 255.255.255.255 and multicast need the default route.
        let none = iface(None);
        let any = Ipv4Addr::UNSPECIFIED;
        for dst in ["255.255.255.255", "224.0.0.251"] {
            assert_eq!(
                output_from(&none, any, ip(dst), false),
                Err(Errno::ENETUNREACH)
            );
            assert!(output_from(&none, ip("10.0.0.2"), ip(dst), false).is_ok());
            assert!(output_from(&i, any, ip(dst), false).is_ok());
            assert_eq!(output_from(&i, any, ip(dst), true), Err(Errno::ENETUNREACH));
        }
        assert!(output_from(&none, any, ip("10.0.0.255"), false).is_ok());
        let lo = output(&i, ip("127.0.0.5"), false).unwrap();
        assert_eq!(
            (lo.src, lo.next_hop, lo.mtu),
            (Ipv4Addr::LOCALHOST, NextHop::Local, LOOPBACK_MTU)
        );
    }
}
