//! Configuration: the interface (MAC, address, gateway, MTU) and every tunable, named and
//! defaulted as the Linux sysctl it mirrors.
//!
//! Defaults are those of the kernel the project's interop tests run against (Linux 6.18), read
//! from `/proc/sys` in a fresh network namespace. Where a Linux default depends on the machine
//! (`udp_mem` derives from the amount of memory), the default here is fixed and documented, so a
//! run does not depend on the machine it runs on.
//!
//! ```
//! use udpstack::config::Config;
//! let mut config = Config::default();
//! config.set_sysctl("net.ipv4.udp_mem", "4096 8192 16384").unwrap();
//! assert_eq!(config.sysctls.udp_mem, [4096, 8192, 16384]);
//! assert!(config.set_sysctl("net.ipv4.no_such_thing", "1").is_err());
//! ```

mod sysctl;

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

pub use sysctl::{SysctlError, SYSCTL_NAMES};

use crate::time::Duration;
use crate::wire::MacAddr;

/// An IPv4 address with its prefix length, such as `10.0.0.2/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `addr/prefix_len`, or `None` for a prefix above 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= 32).then_some(Ipv4Cidr { addr, prefix_len })
    }

    /// The address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask (`255.255.255.0` for /24).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The directed broadcast address (host bits one), for prefixes up to /30; Linux adds no
    /// broadcast route for /31 and /32 (RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len < 31).then(|| Ipv4Addr::from(u32::from(self.addr) | !self.mask()))
    }

    /// Whether `ip` is on this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A string that is not `A.B.C.D/N` with N ≤ 32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrParseError {
    /// The string that failed to parse.
    pub input: String,
}

impl fmt::Display for CidrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid address/prefix {:?}: expected A.B.C.D/N with N at most 32",
            self.input
        )
    }
}

impl std::error::Error for CidrParseError {}

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrParseError {
            input: s.to_owned(),
        };
        let (addr, len) = s.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        let len: u8 = len.parse().map_err(|_| err())?;
        Ipv4Cidr::new(addr, len).ok_or_else(err)
    }
}

/// The one Ethernet interface the stack owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// Our MAC address.
    pub mac: MacAddr,
    /// Our IPv4 address and subnet.
    pub addr: Ipv4Cidr,
    /// The default gateway, if any; it must be on the subnet.
    pub gateway: Option<Ipv4Addr>,
    /// The device MTU: the largest IPv4 packet the link carries (1500 for Ethernet).
    pub mtu: u16,
    /// Frames the transmit queue holds before it drops (Linux's `txqueuelen`, 1000 for a TAP).
    pub txqueuelen: usize,
}

impl Default for InterfaceConfig {
    /// `02:00:00:00:00:01`, `10.0.0.2/24`, no gateway, MTU 1500, txqueuelen 1000.
    fn default() -> Self {
        InterfaceConfig {
            mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            addr: Ipv4Cidr {
                addr: Ipv4Addr::new(10, 0, 0, 2),
                prefix_len: 24,
            },
            gateway: None,
            mtu: 1500,
            txqueuelen: 1000,
        }
    }
}

/// The tunables, named after the Linux sysctls they mirror, with Linux 6.18's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctls {
    /// `net.ipv4.ip_local_port_range`: ephemeral ports, inclusive (L8.1).
    pub ip_local_port_range: (u16, u16),
    /// `net.ipv4.ip_default_ttl`: TTL of outgoing packets (L3.6).
    pub ip_default_ttl: u8,
    /// `net.ipv4.ip_no_pmtu_disc`: 0 learn from ICMP; 1 clamp to min_pmtu; 2, 3 ignore (L1.8).
    pub ip_no_pmtu_disc: u8,
    /// `net.ipv4.route.min_pmtu`: the smallest PMTU learned (L2.1).
    pub min_pmtu: u16,
    /// `net.ipv4.route.mtu_expires`: how long a learned PMTU lasts (L2.1).
    pub mtu_expires: Duration,
    /// `net.ipv4.icmp_ratelimit`: per-destination token interval, in ms in /proc (L5.7).
    pub icmp_ratelimit: Duration,
    /// `net.ipv4.icmp_ratemask`: bit N set = ICMP type N is rate limited (types 3, 4, 11, 12).
    pub icmp_ratemask: u32,
    /// `net.ipv4.icmp_msgs_per_sec`: the global ICMP bucket's refill rate (L5.7).
    pub icmp_msgs_per_sec: u32,
    /// `net.ipv4.icmp_msgs_burst`: the global ICMP bucket's size (L5.7).
    pub icmp_msgs_burst: u32,
    /// `net.ipv4.icmp_echo_ignore_all`: answer no echo request.
    pub icmp_echo_ignore_all: bool,
    /// `net.ipv4.icmp_ignore_bogus_error_responses` (default on). Linux's check is inverted
    /// from what the name suggests: `icmp_unreach` drops an error quoting a datagram to one of
    /// our broadcast addresses only when this is **off**; on (the default) it merely keeps the
    /// kernel from logging a warning, and the error reaches the socket.
    pub icmp_ignore_bogus_error_responses: bool,
    /// `net.ipv4.icmp_echo_ignore_broadcasts`: answer no echo request sent to a broadcast
    /// address (on by default).
    pub icmp_echo_ignore_broadcasts: bool,
    /// `net.ipv4.conf.all.accept_redirects`: follow ICMP redirects (L1.1; on for a host).
    /// udpstack has one interface, so this stands for Linux's `all` and per-device values
    /// combined (a host ORs them).
    pub accept_redirects: bool,
    /// `net.ipv4.conf.all.shared_media` (on by default): a redirect may name any unicast
    /// gateway, on-link or not (RFC 1620). Off, the new gateway must be on-link, and with
    /// `secure_redirects` also a default gateway.
    pub shared_media: bool,
    /// `net.ipv4.conf.all.secure_redirects` (on by default): without `shared_media`, accept a
    /// redirect only to one of the default gateways.
    pub secure_redirects: bool,
    /// `net.ipv4.route.gc_timeout`: how long a redirect's route lasts (300 s).
    pub route_gc_timeout: Duration,
    /// `net.core.rmem_default`: a new socket's receive buffer (L6.1).
    pub rmem_default: u32,
    /// `net.core.rmem_max`: the largest SO_RCVBUF a socket may ask for (L6.1); 4 MiB since
    /// Linux 6.x, 212992 before.
    pub rmem_max: u32,
    /// `net.core.wmem_default`: a new socket's send buffer (L6.1).
    pub wmem_default: u32,
    /// `net.core.wmem_max`: the largest SO_SNDBUF a socket may ask for (L6.1).
    pub wmem_max: u32,
    /// `net.ipv4.udp_mem`: min, pressure, max pages for all UDP sockets (L6.4). Linux derives
    /// it from the machine's memory; this default is that of a machine with 4 GiB (limit =
    /// 1/8 of its pages), fixed so that runs do not depend on the host.
    pub udp_mem: [u64; 3],
    /// `net.core.mem_pcpu_rsv`: pages a CPU collects before updating the global `udp_mem`
    /// counter (L6.4; 0 makes the accounting exact).
    pub mem_pcpu_rsv: u32,
    /// `net.ipv4.udp_rmem_min`: what a socket may always use while udp_mem is under pressure.
    pub udp_rmem_min: u32,
    /// `net.ipv4.udp_wmem_min`: no effect on UDP (kept for completeness, L6.4).
    pub udp_wmem_min: u32,
    /// `net.ipv4.ipfrag_high_thresh`: reassembly memory bound, bytes (L4.3).
    pub ipfrag_high_thresh: u64,
    /// `net.ipv4.ipfrag_low_thresh`: kept for completeness (not used by Linux 6.18 either).
    pub ipfrag_low_thresh: u64,
    /// `net.ipv4.ipfrag_time`: reassembly timeout (L4.1).
    pub ipfrag_time: Duration,
    /// `net.ipv4.ipfrag_max_dist`: fragments from one source before a stale queue restarts (L4.4).
    pub ipfrag_max_dist: u32,
    /// `net.ipv4.neigh.default.base_reachable_time_ms`: how long a confirmed neighbour is
    /// trusted (each entry draws from half to one and a half times this).
    pub neigh_base_reachable_time: Duration,
    /// `net.ipv4.neigh.default.retrans_time_ms`: ARP retransmission interval.
    pub neigh_retrans_time: Duration,
    /// `net.ipv4.neigh.default.mcast_solicit`: broadcast ARP requests before giving up.
    pub neigh_mcast_solicit: u32,
    /// `net.ipv4.neigh.default.ucast_solicit`: unicast probes of a stale neighbour.
    pub neigh_ucast_solicit: u32,
    /// `net.ipv4.neigh.default.unres_qlen_bytes`: bytes (truesize) queued per unresolved
    /// neighbour; the oldest are dropped beyond it.
    pub neigh_unres_qlen_bytes: u32,
    /// `net.ipv4.neigh.default.delay_first_probe_time`: wait before probing a stale entry in use.
    pub neigh_delay_first_probe_time: Duration,
    /// `net.ipv4.neigh.default.gc_stale_time`: unused stale entries are removed after this.
    pub neigh_gc_stale_time: Duration,
    /// `net.ipv4.neigh.default.gc_thresh3`: the most neighbour entries held.
    pub neigh_gc_thresh3: u32,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            ip_local_port_range: (32768, 60999),
            ip_default_ttl: 64,
            ip_no_pmtu_disc: 0,
            min_pmtu: 552,
            mtu_expires: Duration::from_secs(600),
            icmp_ratelimit: Duration::from_millis(1000),
            icmp_ratemask: 6168,
            icmp_msgs_per_sec: 1000,
            icmp_msgs_burst: 50,
            icmp_echo_ignore_all: false,
            icmp_echo_ignore_broadcasts: true,
            icmp_ignore_bogus_error_responses: true,
            accept_redirects: true,
            shared_media: true,
            secure_redirects: true,
            route_gc_timeout: Duration::from_secs(300),
            rmem_default: 212_992,
            rmem_max: 4_194_304,
            wmem_default: 212_992,
            wmem_max: 4_194_304,
            // 4 GiB = 1048576 pages; limit = pages / 8 = 131072; [limit*3/4, limit, limit*3/2].
            udp_mem: [98_304, 131_072, 196_608],
            mem_pcpu_rsv: 256,
            udp_rmem_min: 4096,
            udp_wmem_min: 4096,
            ipfrag_high_thresh: 4_194_304,
            ipfrag_low_thresh: 3_145_728,
            ipfrag_time: Duration::from_secs(30),
            ipfrag_max_dist: 64,
            neigh_base_reachable_time: Duration::from_millis(30_000),
            neigh_retrans_time: Duration::from_millis(1000),
            neigh_mcast_solicit: 3,
            neigh_ucast_solicit: 3,
            neigh_unres_qlen_bytes: 212_992,
            neigh_delay_first_probe_time: Duration::from_secs(5),
            neigh_gc_stale_time: Duration::from_secs(60),
            neigh_gc_thresh3: 1024,
        }
    }
}

/// Everything a [`Stack`](crate::Stack) is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The interface.
    pub iface: InterfaceConfig,
    /// The tunables.
    pub sysctls: Sysctls,
}

impl Config {
    /// Sets our MAC address.
    pub fn mac(mut self, mac: MacAddr) -> Self {
        self.iface.mac = mac;
        self
    }

    /// Sets our address and subnet.
    pub fn addr(mut self, addr: Ipv4Cidr) -> Self {
        self.iface.addr = addr;
        self
    }

    /// Sets the default gateway.
    pub fn gateway(mut self, gateway: Ipv4Addr) -> Self {
        self.iface.gateway = Some(gateway);
        self
    }

    /// Sets the device MTU.
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.iface.mtu = mtu;
        self
    }

    /// Sets a tunable by its sysctl name, from text, as `sysctl -w name=value` would.
    ///
    /// Names may use dots or slashes (`net.ipv4.udp_mem`, `net/ipv4/udp_mem`); values use the
    /// units /proc uses (milliseconds for `icmp_ratelimit` and `*_ms`, seconds for
    /// `ipfrag_time`, `mtu_expires` and the neighbour times without `_ms`, pages for `udp_mem`).
    ///
    /// # Errors
    /// [`SysctlError`] for an unknown name or a value that does not parse or is out of range;
    /// the configuration is unchanged then.
    pub fn set_sysctl(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        sysctl::set(&mut self.sysctls, name, value)
    }

    /// A tunable's value, formatted as /proc shows it.
    ///
    /// # Errors
    /// [`SysctlError::UnknownName`].
    pub fn get_sysctl(&self, name: &str) -> Result<String, SysctlError> {
        sysctl::get(&self.sysctls, name)
    }

    /// Every tunable as `name = value` lines, like `sysctl -a`.
    pub fn sysctl_lines(&self) -> String {
        SYSCTL_NAMES
            .iter()
            .filter_map(|name| Some(format!("{name} = {}\n", self.get_sysctl(name).ok()?)))
            .collect()
    }

    /// Checks the interface settings.
    ///
    /// # Errors
    /// A message naming the problem: an MTU below 68 (RFC 791's minimum), a gateway off the
    /// subnet, a multicast or broadcast MAC, an empty transmit queue.
    pub fn validate(&self) -> Result<(), String> {
        let i = &self.iface;
        if i.mtu < 68 {
            return Err(format!("MTU {} is below the IPv4 minimum of 68", i.mtu));
        }
        if let Some(gw) = i.gateway {
            if !i.addr.contains(gw) {
                return Err(format!("gateway {gw} is not on {}", i.addr));
            }
        }
        if i.mac.is_multicast() {
            return Err(format!("MAC {} is a group address", i.mac));
        }
        if i.txqueuelen == 0 {
            return Err("txqueuelen must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parts() {
        let c: Ipv4Cidr = "10.0.0.2/24".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.network(), Ipv4Addr::new(10, 0, 0, 0));
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(10, 0, 0, 255)));
        assert!(c.contains(Ipv4Addr::new(10, 0, 0, 77)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 1, 1)));
        let host: Ipv4Cidr = "10.0.0.2/32".parse().unwrap();
        assert_eq!(host.broadcast(), None);
        let all: Ipv4Cidr = "10.0.0.2/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(192, 168, 1, 1)));
        for bad in ["10.0.0.2", "10.0.0.2/33", "10.0.0/24", "x/1"] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_interface() {
        assert!(Config::default().validate().is_ok());
        assert!(Config::default().mtu(67).validate().is_err());
        assert!(Config::default()
            .gateway(Ipv4Addr::new(10, 9, 9, 9))
            .validate()
            .is_err());
    }
}
