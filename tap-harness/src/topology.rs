//! Ready-made topologies: a TAP link to a kernel ([`TapLink`]), veth pairs between namespaces
//! ([`add_veth`]) and a kernel router with a far host behind a narrower link ([`RouterLink`]).
//!
//! ```text
//!  TapLink:     udpstack ── TapDevice ══ tap0 [ns "udpstack-tap-…": 10.0.0.1/24, 02:00:00:00:00:01]
//!
//!  RouterLink:  udpstack ── TapDevice ══ tap0 10.0.0.1/24 [router ns, ip_forward=1]
//!                                        veth0 10.0.1.1/24 ══ MTU 1280 ══ eth0 10.0.1.2/24 [far ns]
//!                                                                         default via 10.0.1.1
//! ```
//!
//! Everything is created inside namespaces made for the purpose; nothing in the host namespace.

use std::io;
use std::net::Ipv4Addr;

use udpstack::wire::MacAddr;

use crate::{Netns, TapDevice};

/// The parameters of a [`TapLink`]; [`Default`] gives the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapLinkConfig {
    /// Namespace name prefix (default `udpstack-tap`).
    pub prefix: String,
    /// The TAP interface's name (default `tap0`).
    pub tap_name: String,
    /// The kernel side's address on the link (default 10.0.0.1).
    pub kernel_addr: Ipv4Addr,
    /// Prefix length of the link's subnet (default 24).
    pub prefix_len: u8,
    /// The kernel side's MAC address (default 02:00:00:00:00:01).
    pub kernel_mac: MacAddr,
    /// The link MTU (default 1500).
    pub mtu: u32,
    /// The address the stack on our side is meant to use (default 10.0.0.2). Informational:
    /// the kernel learns it by ARP; nothing is configured with it.
    pub stack_addr: Ipv4Addr,
    /// The MAC the stack on our side is meant to use (default 02:00:00:00:00:02).
    /// Informational, like `stack_addr`.
    pub stack_mac: MacAddr,
}

impl Default for TapLinkConfig {
    fn default() -> Self {
        TapLinkConfig {
            prefix: "udpstack-tap".to_owned(),
            tap_name: "tap0".to_owned(),
            kernel_addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix_len: 24,
            kernel_mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            mtu: 1500,
            stack_addr: Ipv4Addr::new(10, 0, 0, 2),
            stack_mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        }
    }
}

/// A namespace holding a TAP interface whose kernel side is configured and up, and the
/// [`TapDevice`] (our side) opened from inside it.
///
/// Take it apart to move the device into a runtime: `let TapLink { netns, device, .. } = link;`.
/// Keep `netns` alive as long as the link is used: dropping it removes the namespace (the
/// kernel side stays in being, unnamed, until the device is dropped too).
#[derive(Debug)]
pub struct TapLink {
    /// Our side of the link.
    pub device: TapDevice,
    /// The namespace where the kernel side lives.
    pub netns: Netns,
    /// What was configured.
    pub config: TapLinkConfig,
}

impl TapLink {
    /// Creates the namespace, opens the TAP inside it and configures the kernel side: MAC,
    /// MTU, `kernel_addr/prefix_len`, IPv6 disabled, up.
    ///
    /// # Errors
    /// Missing privileges ([`check_privileges`](crate::check_privileges)), an invalid
    /// parameter, or a failed `ip`/sysctl step; whatever was created is removed again.
    pub fn open(config: TapLinkConfig) -> io::Result<TapLink> {
        crate::check_privileges()?;
        let netns = Netns::new(&config.prefix)?;
        let device = netns.enter(|| TapDevice::open(&config.tap_name))??;
        let tap = config.tap_name.as_str();
        netns.sysctl(&format!("net.ipv6.conf.{tap}.disable_ipv6"), "1")?;
        netns.ip([
            "link",
            "set",
            "dev",
            tap,
            "address",
            &config.kernel_mac.to_string(),
            "mtu",
            &config.mtu.to_string(),
        ])?;
        let addr = format!("{}/{}", config.kernel_addr, config.prefix_len);
        netns.ip(["addr", "add", &addr, "dev", tap])?;
        netns.ip(["link", "set", "dev", tap, "up"])?;
        Ok(TapLink {
            device,
            netns,
            config,
        })
    }
}

/// One end of a veth pair for [`add_veth`].
#[derive(Debug, Clone, Copy)]
pub struct VethEnd<'a> {
    /// The namespace this end lives in.
    pub netns: &'a Netns,
    /// Interface name (at most 15 bytes).
    pub name: &'a str,
    /// Address on the link.
    pub addr: Ipv4Addr,
    /// Prefix length of the link's subnet.
    pub prefix_len: u8,
}

/// Joins two namespaces with a veth pair: end `a` is created inside `a.netns` with its peer
/// moved straight into `b.netns` (never passing through the host namespace), both ends get
/// their address, `mtu` and IPv6 disabled, and come up. The pair disappears with either
/// namespace.
///
/// # Errors
/// A name in use or invalid, an address conflict, an MTU out of range; `ip` failed.
pub fn add_veth(a: VethEnd<'_>, b: VethEnd<'_>, mtu: u32) -> io::Result<()> {
    a.netns.ip([
        "link",
        "add",
        a.name,
        "type",
        "veth",
        "peer",
        "name",
        b.name,
        "netns",
        b.netns.name(),
    ])?;
    for end in [a, b] {
        end.netns
            .sysctl(&format!("net.ipv6.conf.{}.disable_ipv6", end.name), "1")?;
        let addr = format!("{}/{}", end.addr, end.prefix_len);
        end.netns.ip(["addr", "add", &addr, "dev", end.name])?;
        end.netns.ip([
            "link",
            "set",
            "dev",
            end.name,
            "mtu",
            &mtu.to_string(),
            "up",
        ])?;
    }
    Ok(())
}

/// The parameters of a [`RouterLink`]; [`Default`] gives the documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// The TAP leg: the router's namespace is this link's (default prefix `udpstack-router`,
    /// otherwise [`TapLinkConfig::default`]).
    pub tap: TapLinkConfig,
    /// Name prefix of the far host's namespace (default `udpstack-far`).
    pub far_prefix: String,
    /// The router's interface towards the far host (default `veth0`).
    pub router_if: String,
    /// The far host's interface (default `eth0`).
    pub far_if: String,
    /// The router's address on the far link (default 10.0.1.1).
    pub router_far_addr: Ipv4Addr,
    /// The far host's address (default 10.0.1.2).
    pub far_addr: Ipv4Addr,
    /// Prefix length of the far link (default 24).
    pub far_prefix_len: u8,
    /// MTU of the far link (default 1280): narrower than the TAP link, so that a full-size
    /// datagram with DF set draws a real ICMP fragmentation-needed from the router.
    pub far_mtu: u32,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            tap: TapLinkConfig {
                prefix: "udpstack-router".to_owned(),
                ..TapLinkConfig::default()
            },
            far_prefix: "udpstack-far".to_owned(),
            router_if: "veth0".to_owned(),
            far_if: "eth0".to_owned(),
            router_far_addr: Ipv4Addr::new(10, 0, 1, 1),
            far_addr: Ipv4Addr::new(10, 0, 1, 2),
            far_prefix_len: 24,
            far_mtu: 1280,
        }
    }
}

/// A kernel router between our TAP link and a far host: the router's namespace holds the TAP's
/// kernel side and forwards (`net.ipv4.ip_forward = 1`) to a veth link of [`RouterConfig::far_mtu`]
/// whose other end is the far host, whose default route points back through the router.
/// Kernel sockets and tools in `far` (via [`Netns::exec`], [`Netns::enter`]) reach the stack
/// at [`TapLinkConfig::stack_addr`] through a real router.
///
/// The router's ICMP rate limits are the kernel's defaults (`net.ipv4.icmp_ratelimit`,
/// `icmp_msgs_per_sec`, `icmp_msgs_burst`; destination unreachable is in `icmp_ratemask`), as
/// on a real router; change them with [`Netns::sysctl`] on `router` if a test draws many errors.
#[derive(Debug)]
pub struct RouterLink {
    /// Our side of the TAP link (the router's first leg).
    pub device: TapDevice,
    /// The router's namespace.
    pub router: Netns,
    /// The far host's namespace.
    pub far: Netns,
    /// What was configured.
    pub config: RouterConfig,
}

impl RouterLink {
    /// Builds the topology.
    ///
    /// # Errors
    /// As [`TapLink::open`] and [`add_veth`]; whatever was created is removed again.
    pub fn open(config: RouterConfig) -> io::Result<RouterLink> {
        let TapLink { device, netns, .. } = TapLink::open(config.tap.clone())?;
        let far = Netns::new(&config.far_prefix)?;
        add_veth(
            VethEnd {
                netns: &netns,
                name: &config.router_if,
                addr: config.router_far_addr,
                prefix_len: config.far_prefix_len,
            },
            VethEnd {
                netns: &far,
                name: &config.far_if,
                addr: config.far_addr,
                prefix_len: config.far_prefix_len,
            },
            config.far_mtu,
        )?;
        netns.sysctl("net.ipv4.ip_forward", "1")?;
        let gateway = config.router_far_addr.to_string();
        far.ip(["route", "add", "default", "via", &gateway])?;
        Ok(RouterLink {
            device,
            router: netns,
            far,
            config,
        })
    }
}
