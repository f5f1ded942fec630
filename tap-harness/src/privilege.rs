//! Can this thread build namespaces and TAP devices? A clear answer instead of a failure deep
//! inside a test.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::process::Command;

use rustix::thread::{capabilities, CapabilitySet};

/// Set to `1` to skip (with a printed notice) the tests that need network namespaces when the
/// privileges are missing, instead of failing them.
pub const SKIP_ENV: &str = "UDPSTACK_SKIP_NETNS";

/// Checks what the harness needs, for the calling thread: effective CAP_NET_ADMIN (TAP devices,
/// addresses, routes) and CAP_SYS_ADMIN (`ip netns add`, `setns`), a usable `/dev/net/tun`,
/// the `ip` program and `/proc/thread-self`.
///
/// # Errors
/// `PermissionDenied` listing everything missing, with what to do about it.
pub fn check_privileges() -> io::Result<()> {
    let mut missing = Vec::new();
    match capabilities(None) {
        Ok(caps) => {
            for (cap, name) in [
                (CapabilitySet::NET_ADMIN, "CAP_NET_ADMIN"),
                (CapabilitySet::SYS_ADMIN, "CAP_SYS_ADMIN"),
            ] {
                if !caps.effective.contains(cap) {
                    missing.push(format!("{name} (effective)"));
                }
            }
        }
        Err(e) => missing.push(format!("capabilities unreadable ({e})")),
    }
    if let Err(e) = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        missing.push(format!("/dev/net/tun ({e})"));
    }
    if let Err(e) = Command::new("ip").arg("-V").output() {
        missing.push(format!("the `ip` program from iproute2 ({e})"));
    }
    if let Err(e) = std::fs::metadata(crate::sys::THREAD_NETNS) {
        missing.push(format!("{} ({e})", crate::sys::THREAD_NETNS));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "tap-harness needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), /dev/net/tun and \
             iproute2 to build network namespaces and TAP devices; missing: {}",
            missing.join(", ")
        ),
    ))
}

/// For tests: `Ok(true)` to go ahead when [`check_privileges`] passes; otherwise `Ok(false)`
/// after printing a notice if `UDPSTACK_SKIP_NETNS=1` ([`SKIP_ENV`]) is set, else the error
/// (so the test fails saying what is missing and how to skip).
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// if !tap_harness::privileged_or_skip("arp_over_tap")? {
///     return Ok(());
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// Privileges are missing and skipping was not asked for.
pub fn privileged_or_skip(test: &str) -> io::Result<bool> {
    match check_privileges() {
        Ok(()) => Ok(true),
        Err(e) if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") => {
            // Straight to stderr, past the test harness's output capture, so it is seen.
            let _ = writeln!(io::stderr(), "SKIPPED {test}: {e} ({SKIP_ENV}=1)");
            Ok(false)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("{test}: {e}. Run as root, or set {SKIP_ENV}=1 to skip these tests."),
        )),
    }
}
