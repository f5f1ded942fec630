//! Setting and reading [`Sysctls`] by their Linux names, from and to the text /proc uses.

use core::fmt;
use core::str::FromStr;

use super::Sysctls;
use crate::time::Duration;

/// Why a sysctl could not be set or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysctlError {
    /// No tunable has this name.
    UnknownName {
        /// The name given.
        name: String,
    },
    /// The value does not parse or is out of range.
    BadValue {
        /// The sysctl's name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
}

impl fmt::Display for SysctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlError::UnknownName { name } => write!(f, "unknown sysctl {name:?}"),
            SysctlError::BadValue {
                name,
                value,
                expected,
            } => {
                write!(f, "invalid value {value:?} for {name}: expected {expected}")
            }
        }
    }
}

impl std::error::Error for SysctlError {}

/// `net/ipv4/udp_mem` and `net.ipv4.udp_mem` name the same thing.
fn normalize(name: &str) -> String {
    name.trim().replace('/', ".")
}

fn bad(name: &'static str, value: &str, expected: String) -> SysctlError {
    SysctlError::BadValue {
        name,
        value: value.to_owned(),
        expected,
    }
}

/// An integer in `min..=max`.
fn int<T>(name: &'static str, value: &str, min: T, max: T) -> Result<T, SysctlError>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
{
    let expected = || format!("an integer from {min} to {max}");
    let v: T = value
        .trim()
        .parse()
        .map_err(|_| bad(name, value, expected()))?;
    if v < min || v > max {
        return Err(bad(name, value, expected()));
    }
    Ok(v)
}

fn boolean(name: &'static str, value: &str) -> Result<bool, SysctlError> {
    Ok(int::<u8>(name, value, 0, 1)? == 1)
}

fn millis(name: &'static str, value: &str) -> Result<Duration, SysctlError> {
    Ok(Duration::from_millis(int::<u64>(
        name,
        value,
        0,
        i32::MAX as u64,
    )?))
}

fn secs(name: &'static str, value: &str) -> Result<Duration, SysctlError> {
    Ok(Duration::from_secs(int::<u64>(
        name,
        value,
        0,
        i32::MAX as u64 / 1000,
    )?))
}

/// Whitespace-separated integers, exactly `N` of them.
fn ints<const N: usize>(name: &'static str, value: &str) -> Result<[u64; N], SysctlError> {
    let expected = || format!("{N} integers separated by spaces");
    let parts: Vec<u64> = value
        .split_whitespace()
        .map(|p| p.parse().map_err(|_| bad(name, value, expected())))
        .collect::<Result<_, _>>()?;
    parts.try_into().map_err(|_| bad(name, value, expected()))
}

fn port_range(name: &'static str, value: &str) -> Result<(u16, u16), SysctlError> {
    let expected = || "two ports, low then high, 1 to 65535, low not above high".to_owned();
    let [low, high] = ints::<2>(name, value)?;
    // Linux (ipv4_local_port_range) refuses a range with high < low or ports out of 1..=65535.
    let ok = (1..=65535).contains(&low) && (1..=65535).contains(&high) && low <= high;
    if !ok {
        return Err(bad(name, value, expected()));
    }
    Ok((low as u16, high as u16))
}

fn udp_mem(name: &'static str, value: &str) -> Result<[u64; 3], SysctlError> {
    // Linux takes any three longs; negative values are impossible here.
    ints::<3>(name, value)
}

macro_rules! sysctls {
    ($($name:literal => $field:ident, $parse:expr, $show:expr;)*) => {
        /// Every sysctl name udpstack knows, in the order `sysctl -a` would list them.
        pub const SYSCTL_NAMES: &[&str] = &[$($name),*];

        pub(super) fn set(s: &mut Sysctls, name: &str, value: &str) -> Result<(), SysctlError> {
            let key = normalize(name);
            $(
                if key == $name {
                    s.$field = $parse($name, value)?;
                    return Ok(());
                }
            )*
            Err(SysctlError::UnknownName { name: name.to_owned() })
        }

        pub(super) fn get(s: &Sysctls, name: &str) -> Result<String, SysctlError> {
            let key = normalize(name);
            $(
                if key == $name {
                    return Ok($show(&s.$field));
                }
            )*
            Err(SysctlError::UnknownName { name: name.to_owned() })
        }
    };
}

fn show<T: fmt::Display>(v: &T) -> String {
    v.to_string()
}
fn show_bool(v: &bool) -> String {
    u8::from(*v).to_string()
}
fn show_ms(v: &Duration) -> String {
    v.total_millis().to_string()
}
fn show_secs(v: &Duration) -> String {
    v.total_secs().to_string()
}
fn show_pair(v: &(u16, u16)) -> String {
    format!("{}\t{}", v.0, v.1)
}
fn show_triple(v: &[u64; 3]) -> String {
    format!("{}\t{}\t{}", v[0], v[1], v[2])
}

sysctls! {
    "net.core.mem_pcpu_rsv" => mem_pcpu_rsv, |n, v| int::<u32>(n, v, 0, i32::MAX as u32), show;
    "net.core.rmem_default" => rmem_default, |n, v| int::<u32>(n, v, 2304, i32::MAX as u32), show;
    "net.core.rmem_max" => rmem_max, |n, v| int::<u32>(n, v, 2304, i32::MAX as u32), show;
    "net.core.wmem_default" => wmem_default, |n, v| int::<u32>(n, v, 4608, i32::MAX as u32), show;
    "net.core.wmem_max" => wmem_max, |n, v| int::<u32>(n, v, 4608, i32::MAX as u32), show;
    "net.ipv4.conf.all.accept_redirects" => accept_redirects, boolean, show_bool;
    "net.ipv4.conf.all.secure_redirects" => secure_redirects, boolean, show_bool;
    "net.ipv4.conf.all.shared_media" => shared_media, boolean, show_bool;
    "net.ipv4.icmp_echo_ignore_all" => icmp_echo_ignore_all, boolean, show_bool;
    "net.ipv4.icmp_echo_ignore_broadcasts" => icmp_echo_ignore_broadcasts, boolean, show_bool;
    "net.ipv4.icmp_ignore_bogus_error_responses" => icmp_ignore_bogus_error_responses, boolean, show_bool;
    "net.ipv4.icmp_msgs_burst" => icmp_msgs_burst, |n, v| int::<u32>(n, v, 0, i32::MAX as u32), show;
    "net.ipv4.icmp_msgs_per_sec" => icmp_msgs_per_sec, |n, v| int::<u32>(n, v, 0, i32::MAX as u32), show;
    "net.ipv4.icmp_ratelimit" => icmp_ratelimit, millis, show_ms;
    "net.ipv4.icmp_ratemask" => icmp_ratemask, |n, v| int::<u32>(n, v, 0, u32::MAX), show;
    "net.ipv4.ip_default_ttl" => ip_default_ttl, |n, v| int::<u8>(n, v, 1, 255), show;
    "net.ipv4.ip_local_port_range" => ip_local_port_range, port_range, show_pair;
    "net.ipv4.ip_no_pmtu_disc" => ip_no_pmtu_disc, |n, v| int::<u8>(n, v, 0, 3), show;
    "net.ipv4.ipfrag_high_thresh" => ipfrag_high_thresh, |n, v| int::<u64>(n, v, 0, i64::MAX as u64), show;
    "net.ipv4.ipfrag_low_thresh" => ipfrag_low_thresh, |n, v| int::<u64>(n, v, 0, i64::MAX as u64), show;
    "net.ipv4.ipfrag_max_dist" => ipfrag_max_dist, |n, v| int::<u32>(n, v, 0, i32::MAX as u32), show;
    "net.ipv4.ipfrag_time" => ipfrag_time, secs, show_secs;
    "net.ipv4.neigh.default.base_reachable_time_ms" => neigh_base_reachable_time, millis, show_ms;
    "net.ipv4.neigh.default.delay_first_probe_time" => neigh_delay_first_probe_time, secs, show_secs;
    "net.ipv4.neigh.default.gc_stale_time" => neigh_gc_stale_time, secs, show_secs;
    "net.ipv4.neigh.default.gc_thresh3" => neigh_gc_thresh3, |n, v| int::<u32>(n, v, 1, i32::MAX as u32), show;
    "net.ipv4.neigh.default.mcast_solicit" => neigh_mcast_solicit, |n, v| int::<u32>(n, v, 0, 255), show;
    "net.ipv4.neigh.default.retrans_time_ms" => neigh_retrans_time, millis, show_ms;
    "net.ipv4.neigh.default.ucast_solicit" => neigh_ucast_solicit, |n, v| int::<u32>(n, v, 0, 255), show;
    "net.ipv4.neigh.default.unres_qlen_bytes" => neigh_unres_qlen_bytes, |n, v| int::<u32>(n, v, 0, i32::MAX as u32), show;
    "net.ipv4.route.min_pmtu" => min_pmtu, |n, v| int::<u16>(n, v, 68, 65535), show;
    "net.ipv4.route.gc_timeout" => route_gc_timeout, secs, show_secs;
    "net.ipv4.route.mtu_expires" => mtu_expires, secs, show_secs;
    "net.ipv4.udp_mem" => udp_mem, udp_mem, show_triple;
    "net.ipv4.udp_rmem_min" => udp_rmem_min, |n, v| int::<u32>(n, v, 1, i32::MAX as u32), show;
    "net.ipv4.udp_wmem_min" => udp_wmem_min, |n, v| int::<u32>(n, v, 1, i32::MAX as u32), show;
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    #[test]
    fn every_name_reads_and_writes_back_its_own_value() {
        let mut c = Config::default();
        for name in SYSCTL_NAMES {
            let v = c.get_sysctl(name).unwrap();
            c.set_sysctl(name, &v)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c, Config::default(), "{name}");
        }
    }

    #[test]
    fn defaults_read_as_linux_6_18_prints_them() {
        let c = Config::default();
        assert_eq!(
            c.get_sysctl("net.ipv4.ip_local_port_range").unwrap(),
            "32768\t60999"
        );
        assert_eq!(c.get_sysctl("net/ipv4/icmp_ratelimit").unwrap(), "1000");
        assert_eq!(c.get_sysctl("net.ipv4.icmp_ratemask").unwrap(), "6168");
        assert_eq!(c.get_sysctl("net.core.rmem_max").unwrap(), "4194304");
        assert_eq!(c.get_sysctl("net.ipv4.ipfrag_time").unwrap(), "30");
        assert!(c
            .sysctl_lines()
            .contains("net.ipv4.udp_mem = 98304\t131072\t196608\n"));
    }

    #[test]
    fn values_in_proc_units() {
        let mut c = Config::default();
        c.set_sysctl("net.ipv4.udp_mem", " 1 2  3 ").unwrap();
        assert_eq!(c.sysctls.udp_mem, [1, 2, 3]);
        c.set_sysctl("net.ipv4.ip_local_port_range", "1024\t2048")
            .unwrap();
        assert_eq!(c.sysctls.ip_local_port_range, (1024, 2048));
        c.set_sysctl("net.ipv4.icmp_ratelimit", "250").unwrap();
        assert_eq!(c.sysctls.icmp_ratelimit, Duration::from_millis(250));
        c.set_sysctl("net.ipv4.ipfrag_time", "2").unwrap();
        assert_eq!(c.sysctls.ipfrag_time, Duration::from_secs(2));
        c.set_sysctl("net.ipv4.neigh.default.retrans_time_ms", "100")
            .unwrap();
        assert_eq!(c.sysctls.neigh_retrans_time, Duration::from_millis(100));
        c.set_sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0")
            .unwrap();
        assert!(!c.sysctls.icmp_echo_ignore_broadcasts);
    }

    #[test]
    fn bad_names_and_values_are_refused_and_change_nothing() {
        let mut c = Config::default();
        assert_eq!(
            c.set_sysctl("net.ipv4.tcp_mem", "1 2 3"),
            Err(SysctlError::UnknownName {
                name: "net.ipv4.tcp_mem".into()
            })
        );
        for (name, value) in [
            ("net.ipv4.udp_mem", "1 2"),
            ("net.ipv4.udp_mem", "1 2 3 4"),
            ("net.ipv4.udp_mem", "1 two 3"),
            ("net.ipv4.ip_local_port_range", "60999 32768"),
            ("net.ipv4.ip_local_port_range", "0 100"),
            ("net.ipv4.ip_local_port_range", "1 65536"),
            ("net.ipv4.ip_default_ttl", "0"),
            ("net.ipv4.ip_default_ttl", "256"),
            ("net.ipv4.ip_no_pmtu_disc", "4"),
            ("net.ipv4.route.min_pmtu", "67"),
            ("net.ipv4.icmp_echo_ignore_all", "2"),
            ("net.core.rmem_max", "-1"),
            ("net.core.rmem_max", ""),
        ] {
            let e = c.set_sysctl(name, value).unwrap_err();
            assert!(
                matches!(e, SysctlError::BadValue { .. }),
                "{name}={value}: {e:?}"
            );
            assert!(e.to_string().contains("expected"), "{e}");
        }
        assert_eq!(c, Config::default());
    }
}
