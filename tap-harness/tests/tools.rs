//! Real tools as peers: `udpstack serve` on a TAP behind a kernel router, and the Debian
//! tools people point at a UDP/IP host — ping, traceroute, tracepath, nmap, socat, iperf —
//! run against it from kernel namespaces. Every test also checks the pcap the stack wrote
//! (`serve --pcap`) with tshark's checksum validation.
//!
//! ```text
//!  udpstack serve 10.0.0.2 ══ tap0 10.0.0.1/24 [router, ip_forward=1]
//!   (echo 7, discard 9)       veth0 10.0.1.1/24 ══ far MTU ══ eth0 10.0.1.2/24 [far]
//! ```
//!
//! The TAP is a persistent one made inside the router's namespace (`ip tuntap add`, as the
//! README's example does) so that the `udpstack` binary can attach to it by name; it goes
//! with the namespace. By default the TAP link has MTU 1500 and the far link 1280, as in
//! `RouterLink`; the tracepath test swaps them so that the narrow leg lies between tracepath's
//! host and the stack. Each test builds its own namespaces and removes them, failing or not;
//! the `serve` process and every tool are killed by guards if a test fails half-way.
//!
//! A missing tool fails the test when `CI` or `UDPSTACK_REQUIRE_TOOLS=1` is set (`.ci/run`
//! sets the latter and installs them all); elsewhere the test says SKIPPED on stderr.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tap_harness::{add_veth, privileged_or_skip, Netns, VethEnd};

const BIN: &str = env!("CARGO_BIN_EXE_udpstack");

const STACK: &str = "10.0.0.2";
const ROUTER: &str = "10.0.0.1";
const ROUTER_FAR: &str = "10.0.1.1";
const FAR: &str = "10.0.1.2";

/// How long anything that should happen may take (generous: CI machines are loaded).
const TIMEOUT: Duration = Duration::from_secs(20);

/// Set to `1` to make a missing tool fail the test (as `CI` does).
const REQUIRE_ENV: &str = "UDPSTACK_REQUIRE_TOOLS";

// ---------------------------------------------------------------------------------------------
// Tools and processes

/// Whether `program` is an executable file in a `PATH` directory.
fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether missing tools must fail the tests: `CI` set (and not `false`/`0`), or
/// `UDPSTACK_REQUIRE_TOOLS=1`.
fn tools_required() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    ci || std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// `Ok(true)` when every `(program, Debian package)` is installed; otherwise an error in CI,
/// else `Ok(false)` after a SKIPPED notice on stderr.
fn tools_or_skip(test: &str, tools: &[(&str, &str)]) -> io::Result<bool> {
    let missing: Vec<&(&str, &str)> = tools.iter().filter(|(p, _)| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(true);
    }
    let programs: Vec<String> = missing.iter().map(|(p, _)| format!("`{p}`")).collect();
    let packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
    let msg = format!(
        "{test}: not installed: {} (`apt-get install {}`; .ci/run installs them)",
        programs.join(", "),
        packages.join(" ")
    );
    if tools_required() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{msg}. Missing tools fail the tests in CI (CI or {REQUIRE_ENV}=1)."),
        ));
    }
    // Straight to stderr, past the test harness's capture, so that it is seen.
    let _ = writeln!(
        io::stderr(),
        "SKIPPED {msg} (set {REQUIRE_ENV}=1 to fail instead)"
    );
    Ok(false)
}

/// A child process whose output is collected by two threads as it comes; killed (SIGKILL)
/// and reaped when dropped, so that a failing test leaves no process behind.
struct Proc {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished process printed.
struct Finished {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    /// The whole story, for assertion messages.
    fn report(&self) -> String {
        format!(
            "`{}`: {}\n--- stdout\n{}--- stderr\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

fn lock(m: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A thread appending what `pipe` gives to `sink` until end of file.
fn collect(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            lock(&sink).extend_from_slice(&buf[..n]);
        }
    })
}

impl Proc {
    /// Spawns `args` (program first) in `ns`, stdin piped if `stdin`, else empty.
    fn spawn(ns: &Netns, args: &[&str], stdin: bool) -> io::Result<Proc> {
        let what = format!("ip netns exec {} {}", ns.name(), args.join(" "));
        let mut cmd: Command = ns.command(args[0]);
        cmd.args(&args[1..])
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{what}`: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, Arc::clone(&stdout)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, Arc::clone(&stderr)));
        }
        Ok(Proc {
            what,
            child,
            stdin,
            stdout,
            stderr,
            readers,
        })
    }

    /// Waits up to `timeout` for the standard output so far to satisfy `f`; whether it did.
    fn wait_stdout(&self, timeout: Duration, f: impl Fn(&[u8]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f(&lock(&self.stdout)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stdout_len(&self) -> usize {
        lock(&self.stdout).len()
    }

    fn stdout_bytes(&self) -> Vec<u8> {
        lock(&self.stdout).clone()
    }

    /// Sends SIGTERM.
    fn terminate(&self) -> io::Result<()> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a child pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(io::Error::from)
    }

    /// Closes stdin, waits up to `timeout` for the process to exit (then kills it: an error
    /// quoting what it printed) and returns what it printed.
    fn finish(mut self, timeout: Duration) -> io::Result<Finished> {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let timed_out = status.is_none();
        let status = match status {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                self.child.wait()?
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let text = |b: &Mutex<Vec<u8>>| String::from_utf8_lossy(&lock(b)).into_owned();
        let finished = Finished {
            what: self.what.clone(),
            status,
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        };
        if timed_out {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("killed after {timeout:?}: {}", finished.report()),
            ));
        }
        Ok(finished)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `s` split at white space.
fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// Runs `args` in `ns` to the end (at most [`TIMEOUT`]); an error if it failed to start, timed
/// out, or exited non-zero.
fn run_tool(ns: &Netns, args: &[&str]) -> io::Result<Finished> {
    let out = Proc::spawn(ns, args, false)?.finish(TIMEOUT)?;
    if !out.status.success() {
        return Err(io::Error::other(out.report()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The lab

/// The MTUs of the two links.
#[derive(Debug, Clone, Copy)]
struct Mtus {
    tap: u32,
    far: u32,
}

/// `RouterLink`'s: the far link is the narrow one.
const ROUTER_LINK_MTUS: Mtus = Mtus {
    tap: 1500,
    far: 1280,
};

/// The router topology with `udpstack serve` on its TAP. Fields drop in order: the service
/// first, then the pcap directory, then the namespaces (which kill anything left inside).
struct Lab {
    serve: Option<Proc>,
    dir: TempDir,
    far: Netns,
    router: Netns,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `serve` printed when stopped, and the pcap it wrote.
struct Served {
    out: Finished,
    counters: HashMap<String, u64>,
    pcap: PathBuf,
}

impl Served {
    /// A counter as `serve` printed it: `Udp:InDatagrams`, `Icmp:OutEchoReps`,
    /// `Ip:ReasmOKs`…
    fn get(&self, key: &str) -> u64 {
        *self
            .counters
            .get(key)
            .unwrap_or_else(|| panic!("no counter {key}\n{}", self.out.report()))
    }

    /// `N` from `echo on port 7: N datagrams` (or `discard on …`).
    fn served(&self, service: &str, port: u16) -> u64 {
        let prefix = format!("{service} on port {port}: ");
        self.out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.strip_suffix(" datagrams"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", self.out.report()))
    }
}

impl Lab {
    /// `None` when the test is to be skipped (no privileges with UDPSTACK_SKIP_NETNS=1, or a
    /// tool missing outside CI).
    fn open(test: &str, tools: &[(&str, &str)], mtus: Mtus) -> io::Result<Option<Lab>> {
        // Every lab pings the stack before use and checks its pcap with tshark.
        let tools: Vec<(&str, &str)> = [("ping", "iputils-ping"), ("tshark", "tshark")]
            .into_iter()
            .chain(tools.iter().copied())
            .collect();
        if !privileged_or_skip(test)? || !tools_or_skip(test, &tools)? {
            return Ok(None);
        }
        let router = Netns::new("udpstack-tools-router")?;
        let far = Netns::new("udpstack-tools-far")?;
        let dir = std::env::temp_dir().join(format!("{}-{test}", router.name()));
        std::fs::create_dir_all(&dir)?;
        let dir = TempDir(dir);
        router.ip(["tuntap", "add", "dev", "tap0", "mode", "tap"])?;
        router.sysctl("net.ipv6.conf.tap0.disable_ipv6", "1")?;
        let mtu = mtus.tap.to_string();
        let link = format!("link set dev tap0 address 02:00:00:00:00:01 mtu {mtu}");
        router.ip(link.split_whitespace())?;
        router.ip(["addr", "add", "10.0.0.1/24", "dev", "tap0"])?;
        router.ip(["link", "set", "dev", "tap0", "up"])?;
        add_veth(
            VethEnd {
                netns: &router,
                name: "veth0",
                addr: ROUTER_FAR.parse().expect("an address"),
                prefix_len: 24,
            },
            VethEnd {
                netns: &far,
                name: "eth0",
                addr: FAR.parse().expect("an address"),
                prefix_len: 24,
            },
            mtus.far,
        )?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        far.ip(["route", "add", "default", "via", ROUTER_FAR])?;

        let pcap = dir.0.join("serve.pcap");
        let pcap = pcap.to_str().expect("a UTF-8 temp path");
        let options = format!(
            "serve --tap tap0 --addr 10.0.0.2/24 --gateway {ROUTER} --mtu {mtu} --echo 7 \
             --discard 9 --seed 7 --pcap"
        );
        let mut args = vec![BIN];
        args.extend(options.split_whitespace());
        args.push(pcap);
        let serve = Proc::spawn(&router, &args, false)?;
        let mut lab = Lab {
            serve: Some(serve),
            dir,
            far,
            router,
        };
        let serve = lab.serve.as_ref().expect("just started");
        // Bound and attached once it says so; then the kernel side must see it answer.
        if !serve.wait_stdout(TIMEOUT, |o| {
            String::from_utf8_lossy(o).contains("Ctrl-C to stop")
        }) {
            let out = lab.serve.take().expect("started").finish(TIMEOUT);
            let report = out.map_or_else(|e| e.to_string(), |o| o.report());
            return Err(io::Error::other(format!("serve did not start: {report}")));
        }
        let deadline = Instant::now() + TIMEOUT;
        while run_tool(
            &lab.router,
            &["ping", "-n", "-q", "-c", "1", "-W", "1", STACK],
        )
        .is_err()
        {
            if Instant::now() >= deadline {
                return Err(io::Error::other("the stack never answered ping"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Some(lab))
    }

    /// Stops `serve` with SIGTERM and returns what it printed; checks that it exited cleanly.
    fn stop(&mut self) -> io::Result<Served> {
        let serve = self.serve.take().expect("serve runs");
        serve.terminate()?;
        let out = serve.finish(TIMEOUT)?;
        assert!(out.status.success(), "{}", out.report());
        let counters = tap_harness::snmp_counters(&out.stdout);
        assert!(counters.contains_key("Udp:InDatagrams"), "{}", out.report());
        Ok(Served {
            out,
            counters,
            pcap: self.dir.0.join("serve.pcap"),
        })
    }

    /// Removes the namespaces, reporting failure.
    fn remove(mut self) -> io::Result<()> {
        drop(self.serve.take());
        let Lab {
            far, router, dir, ..
        } = self;
        drop(dir);
        far.remove()?;
        router.remove()
    }
}

/// tshark's checksum validation of every IPv4 header, UDP datagram and ICMP message in `pcap`
/// (the quoted headers inside ICMP errors included): nothing Bad (0) or Illegal (4), and Good
/// (1) at least once for each protocol in `good_in` (`ip`, `udp`, `icmp`). Unverified (2) is
/// what tshark says of a quoted datagram cut short, whose checksum cannot be computed.
/// Returns how many frames were checked.
fn assert_pcap_checksums_good(pcap: &Path, good_in: &[&str]) -> io::Result<usize> {
    const PROTOCOLS: [&str; 3] = ["ip", "udp", "icmp"];
    let statuses = tap_harness::tshark_checksum_statuses(pcap)?;
    let mut good = [0usize; 3];
    for (n, frame) in statuses.iter().enumerate() {
        for (i, field) in frame.iter().enumerate() {
            for &status in field {
                assert!(
                    !tap_harness::checksum_status_is_bad(status),
                    "frame {}: checksum status {status} (0 = Bad, 4 = Illegal) in {:?}\n\
                     (tshark -r {} -V to see it)",
                    n + 1,
                    PROTOCOLS[i],
                    pcap.display()
                );
                good[i] += usize::from(status == tap_harness::CHECKSUM_GOOD);
            }
        }
    }
    assert!(!statuses.is_empty(), "empty pcap {}", pcap.display());
    for (protocol, good) in PROTOCOLS.iter().zip(good) {
        assert!(
            good > 0 || !good_in.contains(protocol),
            "no {protocol} checksum verified Good in {}: {statuses:?}",
            pcap.display()
        );
    }
    Ok(statuses.len())
}

/// A counter of a kernel namespace's `/proc/net/snmp` (`Udp`, `OutDatagrams`), read from a
/// thread inside it.
fn kernel_counter(ns: &Netns, section: &str, field: &str) -> io::Result<u64> {
    let text = ns.enter(|| std::fs::read_to_string("/proc/thread-self/net/snmp"))??;
    tap_harness::snmp_counters(&text)
        .get(&format!("{section}:{field}"))
        .copied()
        .ok_or_else(|| io::Error::other(format!("no {section}:{field} in\n{text}")))
}

/// An interface statistic (`tx_dropped`, …) of `dev` in `ns`, from its `/sys` (which
/// `ip netns exec` mounts for the namespace).
fn link_stat(ns: &Netns, dev: &str, stat: &str) -> io::Result<u64> {
    let path = format!("/sys/class/net/{dev}/statistics/{stat}");
    let text = ns.exec(["cat", &path])?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::other(format!("{path}: {text:?}: {e}")))
}

/// Every probe that found no socket was either answered with a port unreachable or held back
/// by a rate limit, and nothing else made the stack send a destination unreachable (L5.4,
/// L5.7).
fn assert_no_ports_all_accounted(s: &Served) {
    assert_eq!(
        s.get("Udp:NoPorts"),
        s.get("Icmp:OutDestUnreachs")
            + s.get("Icmp:OutRateLimitHost")
            + s.get("Icmp:OutRateLimitGlobal"),
        "{}",
        s.out.report()
    );
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn ping_gets_every_reply_from_the_stack_through_the_router() -> io::Result<()> {
    let test = "ping_gets_every_reply_from_the_stack_through_the_router";
    let Some(mut lab) = Lab::open(test, &[], ROUTER_LINK_MTUS)? else {
        return Ok(());
    };
    // RFC 1122 3.2.2.6: every echo request gets a reply, from the address it was sent to,
    // with TTL 64 (L3.6's default), so 63 after the router.
    let out = run_tool(
        &lab.far,
        &["ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", STACK],
    )?;
    assert!(
        out.stdout
            .contains("5 packets transmitted, 5 received, 0% packet loss"),
        "{}",
        out.report()
    );
    for seq in 1..=5 {
        let line = format!("64 bytes from {STACK}: icmp_seq={seq} ttl=63 ");
        assert!(out.stdout.contains(&line), "no {line:?}\n{}", out.report());
    }
    // L4 and L3.4: 3000 bytes of echo data cross the 1280 leg in fragments; the stack
    // reassembles the request and fragments the reply (without DF, so the router can cut it
    // again), and ping checks the data it gets back.
    let big = run_tool(
        &lab.far,
        &[
            "ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "-s", "3000", STACK,
        ],
    )?;
    assert!(
        big.stdout.contains("2 packets transmitted, 2 received"),
        "{}",
        big.report()
    );
    assert_eq!(
        big.stdout
            .matches(&format!("3008 bytes from {STACK}: icmp_seq="))
            .count(),
        2,
        "{}",
        big.report()
    );
    assert!(!big.stdout.contains("wrong data"), "{}", big.report());
    let served = lab.stop()?;
    // The readiness ping from the router (at least one) and these seven.
    let echos = served.get("Icmp:InEchos");
    assert!(echos >= 8, "{}", served.out.report());
    assert_eq!(served.get("Icmp:OutEchoReps"), echos);
    assert_eq!(served.get("Ip:ReasmOKs"), 2, "{}", served.out.report());
    assert!(served.get("Ip:FragCreates") >= 4, "{}", served.out.report());
    assert_pcap_checksums_good(&served.pcap, &["ip", "icmp"])?;
    lab.remove()
}

/// traceroute's output lines after the header, as `(hop, rest)`.
fn hops(out: &str) -> Vec<(u32, String)> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (hop, rest) = l.split_once(char::is_whitespace)?;
            Some((hop.parse().ok()?, rest.trim().to_owned()))
        })
        .collect()
}

/// Runs `traceroute` with `method` from the far host and checks it ends at the stack (L5.4:
/// each probe reaching a closed port draws a port unreachable, which traceroute takes for
/// "arrived"; L5.7: the stack answers the first six probes of a host it has sent no error to
/// yet, then one a second).
fn traceroute_reaches_the_stack(test: &str, method: &[&str]) -> io::Result<()> {
    let Some(mut lab) = Lab::open(test, &[("traceroute", "traceroute")], ROUTER_LINK_MTUS)? else {
        return Ok(());
    };
    let mut args = vec!["traceroute", "-n", "-w", "3", "-m", "8"];
    args.extend_from_slice(method);
    args.push(STACK);
    let out = run_tool(&lab.far, &args)?;
    let hops = hops(&out.stdout);
    // Two hops: the router (its time exceeded), then the stack, answering all three probes
    // with an unannotated port unreachable (a !H, !N, !P… would mean another code).
    assert_eq!(hops.len(), 2, "{}", out.report());
    assert_eq!(hops[0].0, 1);
    assert!(hops[0].1.starts_with(ROUTER_FAR), "{}", out.report());
    let (hop, last) = &hops[1];
    assert_eq!(*hop, 2, "{}", out.report());
    assert!(last.starts_with(STACK), "{}", out.report());
    assert_eq!(last.matches(" ms").count(), 3, "{}", out.report());
    assert!(
        !last.contains('*') && !last.contains('!'),
        "{}",
        out.report()
    );
    let served = lab.stop()?;
    // L5.7: the probes still in flight after the first answers hit the stack within a few
    // milliseconds; a new destination's bucket answers six of them, then one a second.
    let no_ports = served.get("Udp:NoPorts");
    assert!(no_ports >= 3, "{}", served.out.report());
    assert_eq!(
        served.get("Icmp:OutDestUnreachs"),
        no_ports.min(6),
        "{}",
        served.out.report()
    );
    assert_no_ports_all_accounted(&served);
    assert_eq!(served.get("Icmp:OutErrors"), 0);
    assert_pcap_checksums_good(&served.pcap, &["ip", "udp", "icmp"])?;
    lab.remove()
}

#[test]
fn traceroute_udp_to_high_ports_ends_at_the_stack() -> io::Result<()> {
    // The classic method: UDP probes to 33434, 33435, … (one port per probe), 16 in flight.
    traceroute_reaches_the_stack(
        "traceroute_udp_to_high_ports_ends_at_the_stack",
        &["-M", "default"],
    )
}

#[test]
fn traceroute_dash_u_ends_at_the_stack() -> io::Result<()> {
    // -U: every probe to one port (here a high one; 53 by default).
    traceroute_reaches_the_stack(
        "traceroute_dash_u_ends_at_the_stack",
        &["-U", "-p", "33434"],
    )
}

#[test]
fn tracepath_finds_the_1280_leg_and_reaches_the_stack() -> io::Result<()> {
    // Here the TAP link is the narrow one (the kernel's tap0 and the stack both at 1280) and
    // the far host sits on a 1500 link: tracepath in `far` starts at 1500, the router's
    // fragmentation-needed at hop 2 lowers it to 1280, and the 1280-byte probe then reaches
    // the stack, whose port unreachable (L5.4, L5.6: TTL 64, so "back 2") ends the walk.
    let test = "tracepath_finds_the_1280_leg_and_reaches_the_stack";
    let mtus = Mtus {
        tap: 1280,
        far: 1500,
    };
    let Some(mut lab) = Lab::open(test, &[("tracepath", "iputils-tracepath")], mtus)? else {
        return Ok(());
    };
    let out = run_tool(&lab.far, &["tracepath", "-n", STACK])?;
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    let has = |f: &dyn Fn(&str) -> bool| lines.iter().any(|l| f(l));
    assert!(
        has(&|l| l.starts_with("1?: [LOCALHOST]") && l.ends_with("pmtu 1500")),
        "{}",
        out.report()
    );
    assert!(
        has(&|l| l.starts_with(&format!("2:  {ROUTER_FAR} ")) && l.ends_with("pmtu 1280")),
        "{}",
        out.report()
    );
    assert!(
        has(&|l| l.starts_with(&format!("2:  {STACK} ")) && l.ends_with("reached")),
        "{}",
        out.report()
    );
    assert_eq!(
        lines.last().copied(),
        Some("Resume: pmtu 1280 hops 2 back 2"),
        "{}",
        out.report()
    );
    let served = lab.stop()?;
    assert!(
        served.get("Icmp:OutDestUnreachs") >= 1,
        "{}",
        served.out.report()
    );
    assert_no_ports_all_accounted(&served);
    assert_pcap_checksums_good(&served.pcap, &["ip", "udp", "icmp"])?;
    lab.remove()
}

#[test]
fn nmap_udp_scan_sees_echo_open_discard_open_filtered_and_closed_ports_closed() -> io::Result<()> {
    let test = "nmap_udp_scan_sees_echo_open_discard_open_filtered_and_closed_ports_closed";
    let Some(mut lab) = Lab::open(test, &[("nmap", "nmap")], ROUTER_LINK_MTUS)? else {
        return Ok(());
    };
    // From the router's namespace, on the TAP link itself: nmap builds its own frames.
    let out = run_tool(
        &lab.router,
        &words(&format!(
            "nmap -n -Pn -sU -p 7,9,13,5000 --max-retries 1 --host-timeout 30s -oG - {STACK}"
        )),
    )?;
    let ports = out
        .stdout
        .lines()
        .find_map(|l| l.split_once("Ports: ").map(|(_, p)| p))
        .unwrap_or_else(|| panic!("no Ports: line\n{}", out.report()));
    let state = |port: &str| {
        ports
            .split(", ")
            .find_map(|p| {
                let mut f = p.split('/');
                (f.next() == Some(port)).then(|| f.next().unwrap_or_default().to_owned())
            })
            .unwrap_or_else(|| panic!("port {port} not in {ports:?}\n{}", out.report()))
    };
    // L7.6 / RFC 862: nmap's probe to port 7 comes back: open.
    assert_eq!(state("7"), "open", "{}", out.report());
    // RFC 863: discard says nothing, and no ICMP either: open|filtered.
    assert_eq!(state("9"), "open|filtered", "{}", out.report());
    // L5.4: a closed port answers port unreachable: closed.
    assert_eq!(state("13"), "closed", "{}", out.report());
    assert_eq!(state("5000"), "closed", "{}", out.report());
    let served = lab.stop()?;
    assert!(served.served("echo", 7) >= 1, "{}", served.out.report());
    assert!(
        served.get("Icmp:OutDestUnreachs") >= 2,
        "{}",
        served.out.report()
    );
    assert_no_ports_all_accounted(&served);
    assert_pcap_checksums_good(&served.pcap, &["ip", "udp", "icmp"])?;
    lab.remove()
}

#[test]
fn socat_round_trips_datagrams_through_the_echo_port_byte_for_byte() -> io::Result<()> {
    let test = "socat_round_trips_datagrams_through_the_echo_port_byte_for_byte";
    let Some(mut lab) = Lab::open(test, &[("socat", "socat")], ROUTER_LINK_MTUS)? else {
        return Ok(());
    };
    // One socat from the far host, fed one datagram at a time: each write of at most 4096
    // bytes to a pipe is atomic, so socat reads it whole and sends it as one datagram; the
    // next is written once the echo of the previous one is back on socat's stdout.
    let mut socat = Proc::spawn(
        &lab.far,
        &["socat", "-b", "65536", "-t", "0.5", "-", "UDP4:10.0.0.2:7"],
        true,
    )?;
    let mut stdin = socat.stdin.take().expect("a piped stdin");
    let mut expected = Vec::new();
    let mut exchange = |data: &[u8], comes_back: bool| -> io::Result<()> {
        let before = socat.stdout_len();
        stdin.write_all(data)?;
        stdin.flush()?;
        let want = before + data.len();
        let wait = if comes_back {
            TIMEOUT
        } else {
            Duration::from_secs(1)
        };
        let arrived = socat.wait_stdout(wait, |o| o.len() >= want);
        assert_eq!(
            arrived,
            comes_back,
            "{} bytes: echo {}",
            data.len(),
            if comes_back {
                "missing"
            } else {
                "not expected"
            }
        );
        if comes_back {
            expected.extend_from_slice(data);
            assert_eq!(socat.stdout_bytes(), expected, "{} bytes", data.len());
        }
        Ok(())
    };
    let data = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    };
    // L7.6 / RFC 862: each echo is the datagram, byte for byte. 1 and 100 bytes; 1252, the
    // most that crosses the 1280 leg whole (+ 28 of headers); 4000, fragmented by the far
    // host (L4: reassembled by the stack) and echoed in 1500-byte fragments without DF
    // (L2.3, L3.4: WANT fragments what exceeds the MTU), which the router cuts again.
    exchange(&data(1, 1), true)?;
    exchange(&data(100, 2), true)?;
    exchange(&data(1252, 3), true)?;
    exchange(&data(4000, 4), true)?;
    // L2.3, L2.4, L1.8, L2.1: the echo of 1400 bytes fits the stack's 1500 route MTU, so WANT
    // (the default) sends it whole with DF; the router cannot forward it onto the 1280 leg and
    // answers fragmentation-needed, which lowers the stack's path MTU to the far host. The
    // echo is lost, as from a kernel echo server. Sent again, it is fragmented at 1280 and
    // arrives.
    exchange(&data(1400, 5), false)?;
    exchange(&data(1400, 6), true)?;
    exchange(&data(1253, 7), true)?;
    drop(stdin);
    let out = socat.finish(TIMEOUT)?;
    assert!(out.status.success(), "{}", out.report());
    let served = lab.stop()?;
    assert_eq!(served.served("echo", 7), 7, "{}", served.out.report());
    assert_eq!(served.get("Udp:InDatagrams"), 7, "{}", served.out.report());
    // The router's fragmentation-needed (type 3 code 4) reached the stack.
    assert!(
        served.get("Icmp:InDestUnreachs") >= 1,
        "{}",
        served.out.report()
    );
    assert!(served.get("Ip:ReasmOKs") >= 3, "{}", served.out.report());
    assert_pcap_checksums_good(&served.pcap, &["ip", "udp", "icmp"])?;
    lab.remove()
}

#[test]
fn iperf_datagrams_to_discard_are_all_received_or_counted_as_dropped() -> io::Result<()> {
    let test = "iperf_datagrams_to_discard_are_all_received_or_counted_as_dropped";
    let Some(mut lab) = Lab::open(test, &[("iperf", "iperf")], ROUTER_LINK_MTUS)? else {
        return Ok(());
    };
    // From the router's namespace, on the TAP link: the kernel there counts every datagram
    // it sends (Udp OutDatagrams, or SndbufErrors when its own queue refuses one), and the
    // TAP's TX dropped counts frames it had to drop because the stack did not read them in
    // time. 5000 datagrams at up to 200 Mbit/s (iperf 2.1.8 sends a `-n` run in bursts that
    // overflow the TAP's queue: the stack, debug build or not, takes fewer than come);
    // `--no-udp-fin`: no wait for a server report (discard sends none).
    const LEN: usize = 1200;
    const DATAGRAMS: u64 = 5000;
    let out0 = kernel_counter(&lab.router, "Udp", "OutDatagrams")?;
    let refused0 = kernel_counter(&lab.router, "Udp", "SndbufErrors")?;
    let tap_dropped0 = link_stat(&lab.router, "tap0", "tx_dropped")?;
    let bytes = (LEN * DATAGRAMS as usize).to_string();
    let out = run_tool(
        &lab.router,
        &words(&format!(
            "iperf -u -c {STACK} -p 9 -l {LEN} -n {bytes} -b 200M --no-udp-fin"
        )),
    )?;
    let iperf_sent: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.split_once("] Sent ")?.1.strip_suffix(" datagrams"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Sent N datagrams`\n{}", out.report()));
    let by_iperf = kernel_counter(&lab.router, "Udp", "OutDatagrams")? - out0
        + kernel_counter(&lab.router, "Udp", "SndbufErrors")?
        - refused0;
    // iperf wrote its 5000 datagrams and one end-of-test marker; iperf 2.1.8 reports one more
    // than it wrote.
    assert_eq!(by_iperf, DATAGRAMS + 1, "{}", out.report());
    assert!(iperf_sent.abs_diff(by_iperf) <= 1, "{}", out.report());

    // A datagram to the echo port behind them: once its echo is back, the stack has taken
    // every frame before it off the TAP (which keeps their order). Then `serve` stops, serving
    // what its sockets still hold.
    let kernel = lab
        .router
        .enter(|| std::net::UdpSocket::bind("10.0.0.1:0"))??;
    kernel.set_read_timeout(Some(Duration::from_secs(1)))?;
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0u8; 16];
    loop {
        kernel.send_to(b"marker", "10.0.0.2:7")?;
        if kernel
            .recv_from(&mut buf)
            .is_ok_and(|(n, _)| &buf[..n] == b"marker")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no echo after the iperf run");
    }
    let sent = kernel_counter(&lab.router, "Udp", "OutDatagrams")? - out0;
    let tap_dropped = link_stat(&lab.router, "tap0", "tx_dropped")? - tap_dropped0;
    let served = lab.stop()?;
    let report = format!(
        "kernel sent {sent} ({by_iperf} by iperf), the TAP dropped {tap_dropped}\n{}",
        served.out.report()
    );
    // L5.5, L6.3: every datagram that reached the stack was either read by a service
    // (InDatagrams, counted at recv) or dropped and counted in InErrors (the receive buffer
    // overflowing: RcvbufErrors, a subset). Nothing vanished, nothing else arrived (no
    // port unreachable; the readiness check was a ping).
    let received = served.get("Udp:InDatagrams");
    let dropped = served.get("Udp:InErrors");
    let (discarded, echoed) = (served.served("discard", 9), served.served("echo", 7));
    assert_eq!(discarded + echoed, received, "{report}");
    assert_eq!(received + dropped + tap_dropped, sent, "{report}");
    assert!(served.get("Udp:RcvbufErrors") <= dropped, "{report}");
    assert_eq!(served.get("Udp:NoPorts"), 0, "{report}");
    eprintln!(
        "{test}: of {sent} datagrams the stack read {received}, dropped {dropped} (receive \
         buffer full); the TAP dropped {tap_dropped}"
    );
    assert_pcap_checksums_good(&served.pcap, &["ip", "udp", "icmp"])?;
    lab.remove()
}
