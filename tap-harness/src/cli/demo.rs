//! `udpstack demo`: a narrated tour of the stack against real Linux kernels, in private network
//! namespaces that are removed again at the end (also on failure).
//!
//! ```text
//!   udpstack 10.0.0.2 ──tap0, MTU 1500── 10.0.0.1 router 10.0.1.1 ──veth, MTU 1280── 10.0.1.2 far
//!   (this process)                        (namespace udpstack-router-…)         (namespace udpstack-far-…)
//! ```
//!
//! Every step checks what it shows and says `ok` or `FAILED` with the reason; the command exits
//! non-zero if any step failed. The stack's seed is fixed, so two runs send the same bytes
//! (addresses, ports and IP identifications alike) apart from the kernels' choices.

use std::fmt::Display;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as KernelSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tap_harness::{Netns, RouterConfig, RouterLink};
use udpstack::config::{Config, Ipv4Cidr};
use udpstack::device::PcapDevice;
use udpstack::runtime::{Runtime, UdpSocket};
use udpstack::udp::{ErrorOrigin, PmtuMode};

/// The stack's seed: fixed, so that runs are comparable frame for frame.
const SEED: u64 = 0x5eed_2026;
/// How long a kernel socket waits for a datagram before the step fails.
const WAIT: Duration = Duration::from_secs(3);
/// The echo port (RFC 862) served by the stack during the tour.
const ECHO_PORT: u16 = 7;
/// A port nobody listens on, on either side.
const CLOSED_PORT: u16 = 9999;

type StepResult = Result<Vec<String>, String>;

/// Runs the tour, writing the pcap to `pcap`.
///
/// # Errors
/// The topology could not be built (missing privileges, `ip`, `/dev/net/tun`), a step failed,
/// or something was left behind.
pub fn run(pcap: &Path) -> io::Result<()> {
    if let Err(missing) = tap_harness::check_privileges() {
        return rerun_in_user_namespace(missing);
    }
    let host_tun_before = tap_harness::host_tun_devices()?;
    println!("udpstack demo: a userspace UDP/IPv4 stack against the Linux kernel over TAP\n");
    let link = RouterLink::open(RouterConfig::default())?;
    let RouterLink {
        device,
        router,
        far,
        config: topo,
    } = link;
    let stack_addr = topo.tap.stack_addr;
    let router_addr = topo.tap.kernel_addr;
    let far_addr = topo.far_addr;
    println!(
        "  udpstack {stack_addr} ──{tap}, MTU {tap_mtu}── {router_addr} router {rfar} ──veth, MTU {far_mtu}── {far_addr} far host",
        tap = topo.tap.tap_name,
        tap_mtu = topo.tap.mtu,
        rfar = topo.router_far_addr,
        far_mtu = topo.far_mtu,
    );
    println!(
        "  (this process)               namespace {}          namespace {}\n",
        router.name(),
        far.name()
    );

    let config = Config::default()
        .addr(Ipv4Cidr::new(stack_addr, topo.tap.prefix_len).ok_or_else(bad_topology)?)
        .mac(topo.tap.stack_mac)
        .mtu(u16::try_from(topo.tap.mtu).map_err(|_| bad_topology())?)
        .gateway(router_addr);
    let device = PcapDevice::create(device, pcap)?;
    let rt = Runtime::start(device, config, SEED)?;
    let echo = EchoServer::start(&rt)?;

    let mut tour = Tour::default();
    let net = Net {
        rt: &rt,
        router: &router,
        far: &far,
        stack_addr,
        router_addr,
        far_addr,
    };
    tour.step(
        "The kernel router sends to our echo port: ARP resolves both ways, the datagram comes back",
        || net.kernel_echo(),
    );
    tour.step(
        "The stack sends three datagrams through the router to a socket on the far host",
        || net.stack_to_far(),
    );
    tour.step(
        "The far host sends 4000 bytes to our echo port: fragments in, reassembly, fragments out",
        || net.fragmented_echo(),
    );
    tour.step(
        "ping from the far host: the stack answers ICMP echo",
        || net.ping(),
    );
    tour.step(
        "Closed ports: our ICMP port unreachable gives the kernel ECONNREFUSED, and the kernel's gives us ECONNREFUSED",
        || net.port_unreachable(),
    );
    tour.step(
        "Path MTU discovery: DF datagrams of 1400 bytes meet the 1280-byte link",
        || net.path_mtu(),
    );

    println!("The stack's sockets now (/proc/net/udp layout; the echo service is still up):\n");
    println!("{}", indent(&rt.udp_table()));
    let echoed = echo.stop();
    println!("The stack's counters (/proc/net/snmp layout):\n");
    println!("{}", indent(&rt.snmp()));
    println!("The echo service answered {echoed} datagrams.");
    let (device_errors, last) = rt.device_errors();
    if device_errors > 0 {
        println!(
            "The TAP device reported {device_errors} errors (last: {}).",
            last.unwrap_or_default()
        );
    }
    rt.shutdown();
    drop(router);
    drop(far);

    tour.step("Every frame in and out was recorded", || check_pcap(pcap));
    tour.step(
        "Nothing is left behind: no namespace, no TAP device in the host",
        || {
            let left = tap_harness::leftovers().map_err(err("listing leftovers"))?;
            // TUN/TAP devices someone else had before (a VPN's tun0) are not ours.
            let new_devices: Vec<&String> = left
                .host_tun_devices
                .iter()
                .filter(|d| !host_tun_before.contains(d))
                .collect();
            if left.namespaces.is_empty() && new_devices.is_empty() {
                Ok(vec![
                    "our namespaces are gone, and no TUN/TAP device appeared in the host".into(),
                ])
            } else {
                Err(format!(
                    "left behind: namespaces {:?}, host devices {new_devices:?}",
                    left.namespaces
                ))
            }
        },
    );

    if tour.failures.is_empty() {
        println!("All {} steps passed.", tour.steps);
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{} of {} steps failed: {}",
            tour.failures.len(),
            tour.steps,
            tour.failures.join("; ")
        )))
    }
}

/// Set in the environment of the demo re-executed inside a user namespace (so that it does not
/// try again).
const IN_USER_NAMESPACE: &str = "UDPSTACK_DEMO_IN_USER_NAMESPACE";

/// Without root: runs the demo again as root of a new user namespace, with its own network and
/// mount namespaces (`unshare --user --map-root-user --net --mount`, a private tmpfs on /run for
/// `ip netns`), where the system allows it; everything it creates dies with it. Otherwise
/// explains what is missing and what to run.
fn rerun_in_user_namespace(missing: io::Error) -> io::Result<()> {
    let explain = |why: &str| {
        io::Error::new(
            missing.kind(),
            format!(
                "{missing}\n{why}\nThe demo builds private network namespaces and a TAP device: \
                 run it as root (sudo -E cargo run --release -p tap-harness -- demo), or allow \
                 unprivileged user namespaces and give /dev/net/tun mode 0666 (the usual default)."
            ),
        )
    };
    if std::env::var_os(IN_USER_NAMESPACE).is_some() {
        return Err(explain("Inside a user namespace, and still not enough."));
    }
    if rustix::process::geteuid().is_root() {
        return Err(explain("Running as root, but without those capabilities."));
    }
    // Inside a user namespace the device keeps its owner and mode: it must be usable as we are.
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        return Err(explain(&format!(
            "Not root, and /dev/net/tun is not usable by this user either ({e})."
        )));
    }
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount", "true"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return Err(explain(&format!(
                "Not root, and user namespaces are not available: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
        Err(e) => {
            return Err(explain(&format!(
                "Not root, and `unshare` (util-linux) cannot be run: {e}"
            )))
        }
    }
    let exe = std::env::current_exe()?;
    eprintln!("udpstack: not root; running the demo in a user namespace of its own (unshare)");
    let status = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount", "--"])
        .args([
            "sh",
            "-c",
            r#"mount -t tmpfs udpstack-run /run && exec "$0" "$@""#,
        ])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_USER_NAMESPACE, "1")
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the demo in a user namespace failed ({status})"
        )))
    }
}

fn bad_topology() -> io::Error {
    io::Error::other("the topology's address, prefix or MTU does not fit the stack")
}

/// Numbered steps, each printed as it completes.
#[derive(Default)]
struct Tour {
    steps: usize,
    failures: Vec<String>,
}

impl Tour {
    fn step(&mut self, title: &str, f: impl FnOnce() -> StepResult) {
        self.steps += 1;
        println!("{}. {title}", self.steps);
        match f() {
            Ok(lines) => {
                for l in lines {
                    println!("     {l}");
                }
                println!("   ok\n");
            }
            Err(reason) => {
                println!("   FAILED: {reason}\n");
                self.failures.push(format!("step {}: {reason}", self.steps));
            }
        }
    }
}

/// Maps an error to a step failure with some context.
fn err<E: Display>(context: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{context}: {e}")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
}

/// The echo service (RFC 862) on the stack, on its own thread.
struct EchoServer {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl EchoServer {
    fn start(rt: &Runtime) -> io::Result<EchoServer> {
        let socket = rt.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, ECHO_PORT))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, c) = (Arc::clone(&stop), Arc::clone(&count));
        let thread = std::thread::Builder::new()
            .name("echo".into())
            .spawn(move || super::serve::serve(&socket, true, &s, &c))?;
        Ok(EchoServer {
            stop,
            count,
            thread,
        })
    }

    /// Stops the service; returns how many datagrams it echoed.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.count.load(Ordering::Relaxed)
    }
}

/// What the steps work with.
struct Net<'a> {
    rt: &'a Runtime,
    router: &'a Netns,
    far: &'a Netns,
    stack_addr: Ipv4Addr,
    router_addr: Ipv4Addr,
    far_addr: Ipv4Addr,
}

/// A kernel UDP socket made inside `ns`, bound to `addr`, with a read timeout.
fn kernel_socket(ns: &Netns, addr: SocketAddrV4) -> Result<KernelSocket, String> {
    let s = ns
        .enter(|| KernelSocket::bind(addr))
        .map_err(err("entering the namespace"))?
        .map_err(err("binding a kernel socket"))?;
    s.set_read_timeout(Some(WAIT))
        .map_err(err("setting a timeout"))?;
    Ok(s)
}

impl Net<'_> {
    fn echo_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.stack_addr, ECHO_PORT)
    }

    fn kernel_echo(&self) -> StepResult {
        let k = kernel_socket(self.router, SocketAddrV4::new(self.router_addr, 0))?;
        let msg = b"hello from the Linux kernel";
        k.send_to(msg, self.echo_addr())
            .map_err(err("kernel send"))?;
        let mut buf = [0u8; 1500];
        let (n, from) = k.recv_from(&mut buf).map_err(err("no echo"))?;
        if &buf[..n] != msg || from != SocketAddr::V4(self.echo_addr()) {
            return Err(format!("wrong echo {:?} from {from}", &buf[..n]));
        }
        let neigh = self
            .router
            .ip(["neigh", "show", &self.stack_addr.to_string()])
            .map_err(err("ip neigh"))?;
        Ok(vec![
            format!(
                "router {} -> {}: {:?} ({n} bytes), echoed back from {from}",
                k.local_addr().map_err(err("local_addr"))?,
                self.echo_addr(),
                String::from_utf8_lossy(msg)
            ),
            format!("the router's neighbour entry: {}", neigh.trim()),
        ])
    }

    fn stack_to_far(&self) -> StepResult {
        let k = kernel_socket(self.far, SocketAddrV4::new(self.far_addr, 9000))?;
        let s = self
            .rt
            .bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
            .map_err(err("bind"))?;
        let to = SocketAddrV4::new(self.far_addr, 9000);
        let mut lines = Vec::new();
        let mut buf = [0u8; 1500];
        for i in 1..=3 {
            let msg = format!("datagram {i} from udpstack");
            s.send_to(msg.as_bytes(), to).map_err(err("stack send"))?;
            let (n, from) = k
                .recv_from(&mut buf)
                .map_err(err("far host received nothing"))?;
            if &buf[..n] != msg.as_bytes() {
                return Err(format!("far host received {:?}", &buf[..n]));
            }
            lines.push(format!("far host got {msg:?} from {from}"));
        }
        Ok(lines)
    }

    fn fragmented_echo(&self) -> StepResult {
        let k = kernel_socket(self.far, SocketAddrV4::new(self.far_addr, 0))?;
        let msg: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
        let before = self.rt.stats().ip;
        k.send_to(&msg, self.echo_addr())
            .map_err(err("kernel send"))?;
        let mut buf = vec![0u8; 65536];
        let (n, _) = k.recv_from(&mut buf).map_err(err("no echo"))?;
        if buf[..n] != msg[..] {
            return Err(format!("echo of {n} bytes differs"));
        }
        let after = self.rt.stats().ip;
        Ok(vec![
            format!(
                "the far host's 1280-MTU link cut the datagram; the stack took in {} fragments, \
                 reassembled {} datagram",
                after.reasm_reqds - before.reasm_reqds,
                after.reasm_oks - before.reasm_oks
            ),
            format!(
                "the echo left in {} fragments of at most 1500 bytes (DF clear), the router cut \
                 them again; the far host got all {n} bytes back",
                after.frag_creates - before.frag_creates
            ),
        ])
    }

    fn ping(&self) -> StepResult {
        if Command::new("ping").arg("-V").output().is_err() {
            return Ok(vec!["ping is not installed (iputils-ping): skipped".into()]);
        }
        let out = self
            .far
            .exec([
                "ping",
                "-n",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "-s",
                "1400",
                &self.stack_addr.to_string(),
            ])
            .map_err(err("ping failed"))?;
        let summary: Vec<String> = out
            .lines()
            .filter(|l| l.contains("received") || l.contains("bytes from"))
            .map(str::to_owned)
            .collect();
        if !out.contains("3 received") {
            return Err(format!("ping: {}", out.trim()));
        }
        Ok(summary)
    }

    fn port_unreachable(&self) -> StepResult {
        let mut lines = Vec::new();
        // The kernel's connected socket learns ECONNREFUSED from our ICMP (L4.1 on its side).
        let k = kernel_socket(self.far, SocketAddrV4::new(self.far_addr, 0))?;
        let closed = SocketAddrV4::new(self.stack_addr, CLOSED_PORT);
        k.connect(closed).map_err(err("kernel connect"))?;
        k.send(b"anyone?").map_err(err("kernel send"))?;
        let mut buf = [0u8; 64];
        match k.recv(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => lines.push(format!(
                "far host -> {closed}: the kernel's recv() says {e}"
            )),
            other => return Err(format!("kernel recv gave {other:?}, not ECONNREFUSED")),
        }
        // Ours learns it from the far kernel's ICMP (L1.2, L1.6).
        let s = self.rt.udp_socket();
        let far_closed = SocketAddrV4::new(self.far_addr, CLOSED_PORT);
        s.connect(far_closed).map_err(err("connect"))?;
        s.set_read_timeout(Some(WAIT)).map_err(err("timeout"))?;
        s.send(b"anyone?").map_err(err("stack send"))?;
        match s.recv(&mut buf) {
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => lines.push(format!(
                "udpstack -> {far_closed}: our recv() says {}",
                super::errno_name(&e)
            )),
            other => return Err(format!("stack recv gave {other:?}, not ECONNREFUSED")),
        }
        let unreach = self.rt.stats().icmp;
        lines.push(format!(
            "ICMP destination unreachable: {} sent by us, {} received",
            unreach.out_dest_unreachs, unreach.in_dest_unreachs
        ));
        Ok(lines)
    }

    fn path_mtu(&self) -> StepResult {
        let mut lines = Vec::new();
        let k = kernel_socket(self.far, SocketAddrV4::new(self.far_addr, 9001))?;
        let s = self.rt.udp_socket();
        let to = SocketAddrV4::new(self.far_addr, 9001);
        s.connect(to).map_err(err("connect"))?;
        s.set_mtu_discover(PmtuMode::Do)
            .map_err(err("IP_MTU_DISCOVER"))?;
        s.set_recv_error(true).map_err(err("IP_RECVERR"))?;
        let payload = vec![0x55u8; 1400];
        let mtu_before = s.mtu().map_err(err("IP_MTU"))?;
        s.send(&payload).map_err(err("first send"))?;
        lines.push(format!(
            "IP_PMTUDISC_DO, IP_MTU {mtu_before}: send(1400) = ok, leaves with DF (1428 bytes)"
        ));
        // The router answers with fragmentation needed, mtu 1280 (L1.4, L2.1).
        let entry = wait_error(&s, WAIT)?;
        let e = entry.error;
        if e.origin != ErrorOrigin::Icmp || e.icmp_type != 3 || e.icmp_code != 4 || e.info != 1280 {
            return Err(format!("unexpected error-queue entry {entry:?}"));
        }
        lines.push(format!(
            "router {} says fragmentation needed: error queue {}",
            e.offender,
            super::describe_error(&entry)
        ));
        match s.send(&payload) {
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                lines.push("send(1400) again = EMSGSIZE (L2.2)".into())
            }
            other => return Err(format!("second send gave {other:?}, not EMSGSIZE")),
        }
        let local = wait_error(&s, WAIT)?;
        if local.error.origin != ErrorOrigin::Local || local.error.info != 1280 {
            return Err(format!("unexpected local error-queue entry {local:?}"));
        }
        lines.push(format!(
            "and a local entry (L1.9): {}",
            super::describe_error(&local)
        ));
        let mtu = s.mtu().map_err(err("IP_MTU"))?;
        if mtu != 1280 {
            return Err(format!("IP_MTU is {mtu}, not 1280"));
        }
        lines.push(format!("IP_MTU is now {mtu} (L2.5)"));
        s.set_mtu_discover(PmtuMode::Want)
            .map_err(err("IP_MTU_DISCOVER"))?;
        let before = self.rt.stats().ip.frag_creates;
        s.send(&payload).map_err(err("send in WANT mode"))?;
        let mut buf = [0u8; 2048];
        let n = k.recv(&mut buf).map_err(err("far host received nothing"))?;
        if n != payload.len() {
            return Err(format!("far host got {n} bytes"));
        }
        lines.push(format!(
            "IP_PMTUDISC_WANT: send(1400) = ok, cut by the stack itself into {} fragments that \
             fit 1280; the far host got {n} bytes",
            self.rt.stats().ip.frag_creates - before
        ));
        Ok(lines)
    }
}

/// Waits up to `timeout` for an error-queue entry.
fn wait_error(s: &UdpSocket, timeout: Duration) -> Result<udpstack::udp::ErrorMessage, String> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        match s.recv_error(&mut buf) {
            Ok(m) => return Ok(m),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("no error-queue entry: {e}")),
        }
    }
}

/// Counts the pcap's frames and, when tshark is installed, has it check every checksum.
fn check_pcap(pcap: &Path) -> StepResult {
    let size = std::fs::metadata(pcap).map_err(err("the pcap"))?.len();
    let mut lines = vec![format!("{} ({size} bytes)", pcap.display())];
    let statuses = match tap_harness::tshark_checksum_statuses(pcap) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            lines.push("tshark is not installed: checksums not cross-checked".into());
            return Ok(lines);
        }
        Err(e) => return Err(e.to_string()),
    };
    let frames = statuses.len();
    let all = statuses.iter().flatten().flatten().copied();
    let (good, bad) = all.fold((0, 0), |(g, b), s| {
        (
            g + usize::from(s == tap_harness::CHECKSUM_GOOD),
            b + usize::from(tap_harness::checksum_status_is_bad(s)),
        )
    });
    lines.push(format!(
        "tshark read {frames} frames and verified {good} IPv4, UDP and ICMP checksums \
         (ours and the kernels'): {bad} bad"
    ));
    if bad > 0 {
        return Err(format!("tshark found {bad} bad checksums"));
    }
    Ok(lines)
}
