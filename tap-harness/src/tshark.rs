//! tshark as an independent checksum oracle for the pcaps the demo and the tests write.

use std::io;
use std::path::Path;
use std::process::Command;

/// Wireshark's checksum status "Good" (`proto_checksum_enum_e`: 0 bad, 1 good,
/// 2 unverified, 3 not present, 4 illegal).
pub const CHECKSUM_GOOD: u8 = 1;

/// Whether a tshark checksum status is a failure: Bad (0) or Illegal (4).
pub fn checksum_status_is_bad(status: u8) -> bool {
    matches!(status, 0 | 4)
}

/// Has tshark validate every IPv4, UDP and ICMP checksum of `pcap` (the headers quoted inside
/// ICMP errors included) and returns, per frame, the statuses it reported for `ip`, `udp` and
/// `icmp` in that order (a field may hold several: an ICMP error carries an inner IP header
/// and datagram). tshark runs with a private, empty configuration, so that the user's own
/// preferences cannot change the verdict.
///
/// # Errors
/// tshark cannot be run (`NotFound` when it is not installed) or fails.
pub fn tshark_checksum_statuses(pcap: &Path) -> io::Result<Vec<[Vec<u8>; 3]>> {
    let config_dir = std::env::temp_dir().join(format!(
        "udpstack-tshark-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&config_dir)?;
    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &config_dir)
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ])
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"])
        .args(["-e", "ip.checksum.status", "-e", "udp.checksum.status"])
        .args(["-e", "icmp.checksum.status"])
        .output();
    let _ = std::fs::remove_dir_all(&config_dir);
    let out = out?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(io::Error::other(format!(
            "tshark failed ({}): {}",
            out.status,
            stderr.lines().last().unwrap_or_default()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let parse = |field: &str| -> io::Result<Vec<u8>> {
        field
            .split(',')
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    io::Error::other(format!("tshark printed {v:?} as a checksum status"))
                })
            })
            .collect()
    };
    text.lines()
        .map(|line| {
            let mut f = line.split('\t');
            let mut next = || parse(f.next().unwrap_or(""));
            Ok([next()?, next()?, next()?])
        })
        .collect()
}
