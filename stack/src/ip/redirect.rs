//! ICMP redirects (L1.1): "send packets for this destination to that gateway instead", from
//! the gateway we are using. Linux's `__ip_do_redirect`, reached from the transport's error
//! handler (`udp_err` → `ipv4_sk_redirect`), so only a redirect quoting a datagram of one of
//! our sockets is considered (the caller has found the socket).
//!
//! The checks, in the kernel's order:
//!
//! 1. the code is one of net, host, TOS-net, TOS-host (0–3);
//! 2. the route to the quoted destination goes through a gateway, and that gateway sent the
//!    redirect (an on-link destination, or a redirect from anyone else, is ignored);
//! 3. the new gateway differs from the old one, `accept_redirects` is on, and the new gateway is
//!    not multicast, the limited broadcast address or in 0.0.0.0/8;
//! 4. with `shared_media` (the default) the new gateway must be a unicast address (not one of
//!    ours, not a broadcast address) — on-link or not, as RFC 1620 allows; without it, both
//!    gateways must be on-link, and with `secure_redirects` the new one must be a default
//!    gateway;
//! 5. the new gateway's neighbour entry must be valid: if it is not, resolution starts (an ARP
//!    request goes out) and the redirect is ignored — a later one will find it resolved.
//!
//! Then the destination's next-hop exception records the gateway for `route.gc_timeout` (300 s)
//! and every route to it (datagrams, ICMP we send) goes there
//! ([`Stack::route_output`](crate::Stack)). Refusals are logged by Linux, not counted; udpstack
//! counts them in `Link: RedirectsIgnored` and traces them.

use std::net::Ipv4Addr;

use tracing::debug;

use crate::iface::route::{self, NextHop};
use crate::iface::stack::Stack;

impl Stack {
    /// Handles a redirect from `old_gw` (the ICMP message's source) naming `new_gw` for the
    /// datagram from `src` to `dst` it quotes; `code` is the ICMP code.
    pub(crate) fn ip_do_redirect(
        &mut self,
        old_gw: Ipv4Addr,
        new_gw: Ipv4Addr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        code: u8,
    ) {
        if code & 7 > 3 {
            return self.redirect_ignored(dst, new_gw, "unknown code");
        }
        match self.route_output(src, dst, false) {
            Ok(r) if r.next_hop == NextHop::Neighbor(old_gw) && old_gw != dst => {}
            _ => return self.redirect_ignored(dst, new_gw, "not from the gateway in use"),
        }
        let iface = &self.config.iface;
        let s = &self.config.sysctls;
        if new_gw == old_gw
            || !s.accept_redirects
            || new_gw.is_multicast()
            || new_gw.is_broadcast()
            || new_gw.octets()[0] == 0
        {
            return self.redirect_ignored(dst, new_gw, "new gateway refused");
        }
        if s.shared_media {
            // inet_addr_type(new_gw) must be RTN_UNICAST.
            if route::is_local(iface, new_gw) || route::is_broadcast(iface, new_gw) {
                return self.redirect_ignored(dst, new_gw, "new gateway is not unicast");
            }
        } else {
            // inet_addr_onlink(new_gw, old_gw), then ip_fib_check_default.
            if !iface.addr.contains(new_gw) || !iface.addr.contains(old_gw) {
                return self.redirect_ignored(dst, new_gw, "gateway not on-link");
            }
            if s.secure_redirects && iface.gateway != Some(new_gw) {
                return self.redirect_ignored(dst, new_gw, "not a default gateway");
            }
        }
        let now = self.now;
        let valid =
            self.neighbors
                .resolve_without_frame(now, new_gw, &self.config.sysctls, &mut self.rng);
        if !valid {
            // The request goes out now; the redirect itself is forgotten.
            self.neighbor_timers();
            return self.redirect_ignored(dst, new_gw, "new gateway not resolved yet");
        }
        let lifetime = self.config.sysctls.route_gc_timeout;
        self.pmtu.redirect(now, dst, new_gw, lifetime);
        self.stats.link.redirects_applied += 1;
        debug!(target: "udpstack::route", %dst, %old_gw, %new_gw, "redirected");
    }

    fn redirect_ignored(&mut self, dst: Ipv4Addr, new_gw: Ipv4Addr, why: &str) {
        self.stats.link.redirects_ignored += 1;
        debug!(target: "udpstack::route", %dst, %new_gw, why, "redirect ignored");
    }
}
