//! The `udpstack` binary: the demo passes end to end against the kernel, `send` reports errno
//! by errno, and `serve` stops cleanly on SIGTERM, all in namespaces removed afterwards.

use std::io;
use std::net::UdpSocket as KernelSocket;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tap_harness::{leftovers, privileged_or_skip, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_udpstack");

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A namespace with a persistent TAP `tap0` whose kernel side is 10.0.0.1/24, as the README's
/// example builds by hand.
fn lab() -> io::Result<Netns> {
    let ns = Netns::new("udpstack-cli")?;
    ns.ip(["tuntap", "add", "dev", "tap0", "mode", "tap"])?;
    ns.ip(["addr", "add", "10.0.0.1/24", "dev", "tap0"])?;
    ns.ip(["link", "set", "tap0", "up"])?;
    ns.ip(["link", "set", "lo", "up"])?;
    Ok(ns)
}

#[test]
fn the_demo_passes_every_step_and_leaves_nothing_behind() -> io::Result<()> {
    if !privileged_or_skip("the_demo_passes_every_step_and_leaves_nothing_behind")? {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("udpstack-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pcap = dir.join("demo.pcap");
    let out = Command::new(BIN)
        .arg("demo")
        .arg("--pcap")
        .arg(&pcap)
        .output()?;
    let report = text(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(!stdout.contains("FAILED"), "{report}");
    assert!(stdout.contains("All 8 steps passed."), "{report}");
    // L1.2 both ways, L1.7 / L1.9 error-queue entries, L2.5 IP_MTU after the router's ICMP.
    for needle in [
        "our recv() says ECONNREFUSED",
        "errno=EMSGSIZE origin=icmp type=3 code=4 info=1280 offender=10.0.0.1",
        "errno=EMSGSIZE origin=local",
        "IP_MTU is now 1280",
        "3 received",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}\n{report}");
    }
    // The checksum cross-check ran (the demo only notes tshark's absence): required in CI.
    let tshark = Command::new("tshark").arg("--version").output().is_ok();
    let required =
        std::env::var_os("CI").is_some() || std::env::var_os("UDPSTACK_REQUIRE_TOOLS").is_some();
    if tshark || required {
        assert!(
            stdout.contains("verified")
                && stdout.contains("checksums (ours and the kernels'): 0 bad"),
            "tshark did not check the pcap's checksums\n{report}"
        );
    } else {
        eprintln!("SKIPPED part: tshark is not installed (apt-get install tshark)");
    }
    // The pcap is a real capture: global header plus records.
    let bytes = std::fs::read(&pcap)?;
    assert!(bytes.len() > 24 + 30 * 16, "pcap of {} bytes", bytes.len());
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes());
    std::fs::remove_dir_all(&dir)?;
    let left = leftovers()?;
    assert!(left.namespaces.is_empty(), "{left}");
    Ok(())
}

#[test]
fn send_reports_the_kernels_port_unreachable_as_errno_and_error_queue() -> io::Result<()> {
    if !privileged_or_skip("send_reports_the_kernels_port_unreachable_as_errno_and_error_queue")? {
        return Ok(());
    }
    let ns = lab()?;
    let send = |extra: &[&str]| -> io::Result<Output> {
        ns.command(BIN)
            .args(["send", "--tap", "tap0", "--addr", "10.0.0.2/24"])
            .args(["--to", "10.0.0.1:5000", "--connect", "--count", "3"])
            .args(["--interval", "100", "--seed", "7"])
            .args(extra)
            .output()
    };
    // L1.2, L1.6: the second send reports the ICMP of the first and sends nothing; the
    // third sends again.
    let out = send(&[])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    let sends: Vec<&str> = stdout.lines().filter(|l| l.starts_with("send ")).collect();
    assert_eq!(
        sends,
        [
            "send 1 32 bytes: ok",
            "send 2 32 bytes: ECONNREFUSED",
            "send 3 32 bytes: ok"
        ],
        "{}",
        text(&out)
    );
    // L1.7: with IP_RECVERR each ICMP is an error-queue entry; reading it clears the error,
    // so every send goes out.
    let out = send(&["--recv-error"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let entries = stdout
        .lines()
        .filter(|l| {
            l.starts_with(
                "errqueue errno=ECONNREFUSED origin=icmp type=3 code=3 info=0 offender=10.0.0.1 \
                 to=10.0.0.1:5000",
            )
        })
        .count();
    assert_eq!(entries, 3, "{}", text(&out));
    assert_eq!(stdout.matches(" bytes: ok").count(), 3, "{}", text(&out));
    ns.remove()
}

#[test]
fn serve_echoes_until_sigterm_then_prints_its_counters() -> io::Result<()> {
    if !privileged_or_skip("serve_echoes_until_sigterm_then_prints_its_counters")? {
        return Ok(());
    }
    let ns = lab()?;
    let child = ns
        .command(BIN)
        .args([
            "serve",
            "--tap",
            "tap0",
            "--addr",
            "10.0.0.2/24",
            "--echo",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let kernel = ns.enter(|| KernelSocket::bind("10.0.0.1:0"))??;
    kernel.set_read_timeout(Some(Duration::from_millis(200)))?;
    // The service needs a moment to attach; retry until it answers (L7.6 echo over TAP).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    let echoed = loop {
        kernel.send_to(b"ping", "10.0.0.2:7")?;
        match kernel.recv_from(&mut buf) {
            Ok((n, from)) => break Some((buf[..n].to_vec(), from)),
            Err(_) if Instant::now() < deadline => continue,
            Err(_) => break None,
        }
    };
    // SIGTERM: the service stops and reports.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a child pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    let out = child.wait_with_output()?;
    let report = text(&out);
    let (data, from) = echoed.unwrap_or_else(|| panic!("no echo\n{report}"));
    assert_eq!(data, b"ping");
    assert_eq!(from.to_string(), "10.0.0.2:7");
    assert!(out.status.success(), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("echo on port 7: "), "{report}");
    assert!(stdout.contains("Udp: InDatagrams"), "{report}");
    ns.remove()
}

/// Without root the demo either re-runs itself in a user namespace of its own (when this user
/// may open /dev/net/tun and create user namespaces) and passes, or exits non-zero saying
/// what to run. Run as `nobody` through `setpriv`.
#[test]
fn without_root_the_demo_reruns_in_a_user_namespace_or_explains() -> io::Result<()> {
    if !privileged_or_skip("without_root_the_demo_reruns_in_a_user_namespace_or_explains")? {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("udpstack-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    // A copy nobody can execute wherever the build directory is.
    let exe = dir.join("udpstack");
    std::fs::copy(BIN, &exe)?;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
    let as_nobody = |program: &str| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program)
            .current_dir(&dir)
            .env("HOME", &dir);
        cmd
    };
    let tun_usable = std::fs::metadata("/dev/net/tun")
        .map(|m| m.permissions().mode() & 0o006 == 0o006)
        .unwrap_or(false);
    let userns_usable = as_nobody("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let out = as_nobody(exe.to_str().expect("a UTF-8 temp path"))
        .args(["demo", "--pcap"])
        .arg(dir.join("demo.pcap"))
        .output()?;
    let report = text(&out);
    if tun_usable && userns_usable {
        assert!(out.status.success(), "{report}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("All 8 steps passed."),
            "{report}"
        );
        assert!(
            report.contains("running the demo in a user namespace"),
            "{report}"
        );
    } else {
        assert!(!out.status.success(), "{report}");
        assert!(report.contains("run it as root (sudo"), "{report}");
        assert!(!report.contains("1. "), "no step may run: {report}");
    }
    std::fs::remove_dir_all(&dir)?;
    assert!(leftovers()?.namespaces.is_empty());
    Ok(())
}
