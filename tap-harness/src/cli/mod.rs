//! The command line: arguments, and what the three commands share.

mod demo;
mod send;
mod serve;

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use udpstack::config::{Config, Ipv4Cidr};
use udpstack::errno::Errno;
use udpstack::wire::MacAddr;

/// Run the userspace UDP/IPv4 stack (udpstack) on a Linux TAP device.
#[derive(Debug, Parser)]
#[command(name = "udpstack", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  udpstack demo
      The tour, in private network namespaces it removes afterwards (needs root).

  A namespace of your own with a TAP whose kernel side is 10.0.0.1:
  ip netns add lab && ip -n lab tuntap add dev tap0 mode tap
  ip -n lab addr add 10.0.0.1/24 dev tap0 && ip -n lab link set tap0 up
  ip netns exec lab udpstack serve --tap tap0 --addr 10.0.0.2/24 --echo 7 --discard 9 --trace
      Echo (RFC 862) on port 7 and discard (RFC 863) on port 9 until Ctrl-C;
      try `ip netns exec lab socat - UDP:10.0.0.2:7` or `ip netns exec lab ping 10.0.0.2`.
  ip netns exec lab udpstack send --tap tap0 --addr 10.0.0.2/24 --to 10.0.0.1:5000 \\
      --connect --count 3
      Nothing listens on 10.0.0.1:5000: the kernel's port unreachable makes the second
      send fail with ECONNREFUSED (add --recv-error to see each one in the error queue).
  (One process at a time can attach to a TAP: stop `serve` before `send` on the same one.)";

#[derive(Debug, Subcommand)]
enum Command {
    /// The tour: a private topology (the stack on a TAP, a kernel router with a 1280-MTU leg to
    /// a second kernel host), echo both ways, fragmentation, ping, port unreachable,
    /// ECONNREFUSED, path MTU discovery; then the counters, the UDP table and a pcap.
    Demo {
        /// Where to write the pcap of the run.
        #[arg(long, default_value = "udpstack-demo.pcap")]
        pcap: PathBuf,
        /// Also print one line per decision the stack takes.
        #[arg(long)]
        trace: bool,
    },
    /// Serve UDP echo and discard on a TAP until SIGINT/SIGTERM, then print the counters.
    Serve(serve::ServeArgs),
    /// Send datagrams and report each result, the replies and the error queue.
    Send(send::SendArgs),
}

/// The interface options `serve` and `send` share.
#[derive(Debug, clap::Args)]
pub struct IfaceArgs {
    /// The TAP interface (created if absent, except in the host namespace: create it there with
    /// `ip tuntap add dev NAME mode tap`).
    #[arg(long)]
    tap: String,
    /// Our address and prefix, e.g. 10.0.0.2/24.
    #[arg(long)]
    addr: Ipv4Cidr,
    /// The default gateway.
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// Our MAC address.
    #[arg(long, default_value = "02:00:00:00:00:02")]
    mac: MacAddr,
    /// The MTU.
    #[arg(long, default_value_t = 1500)]
    mtu: u16,
    /// Record every frame in and out to this pcap file.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Print one line per decision the stack takes.
    #[arg(long)]
    trace: bool,
    /// Set a tunable, as `sysctl -w` would (e.g. net.ipv4.ip_default_ttl=32); repeatable.
    #[arg(long = "sysctl", value_name = "NAME=VALUE")]
    sysctls: Vec<String>,
    /// The seed of the stack's random choices (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

impl IfaceArgs {
    /// The stack's configuration.
    fn config(&self) -> io::Result<Config> {
        let mut c = Config::default()
            .addr(self.addr)
            .mac(self.mac)
            .mtu(self.mtu);
        if let Some(gw) = self.gateway {
            c = c.gateway(gw);
        }
        for s in &self.sysctls {
            let (name, value) = s
                .split_once('=')
                .ok_or_else(|| invalid(format!("--sysctl {s:?}: expected NAME=VALUE")))?;
            c.set_sysctl(name, value)
                .map_err(|e| invalid(e.to_string()))?;
        }
        c.validate().map_err(invalid)?;
        Ok(c)
    }

    fn seed(&self) -> u64 {
        self.seed.unwrap_or_else(clock_seed)
    }
}

/// A seed from the wall clock, for runs that need not be replayed.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// `EMSGSIZE`, or the error's text when it carries no errno.
pub fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => Errno(n).name().to_owned(),
        None => format!("{:?}", e.kind()),
    }
}

/// One error-queue entry on one line: `errno=EMSGSIZE origin=icmp type=3 code=4 info=1280
/// offender=10.0.0.1 to=10.0.1.2:9 quoted=1400`.
pub fn describe_error(m: &udpstack::udp::ErrorMessage) -> String {
    let e = &m.error;
    let origin = match e.origin {
        udpstack::udp::ErrorOrigin::Icmp => "icmp",
        udpstack::udp::ErrorOrigin::Local => "local",
    };
    format!(
        "errno={} origin={origin} type={} code={} info={} offender={} to={} quoted={}",
        e.errno.name(),
        e.icmp_type,
        e.icmp_code,
        e.info,
        e.offender,
        m.addr,
        m.len
    )
}

/// Sends `tracing` events of the stack to stderr, one line each.
fn init_trace(on: bool) {
    if !on {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // Every decision (debug) plus every frame received and sent (trace); RUST_LOG overrides.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "udpstack=debug,udpstack::rx=trace,udpstack::tx=trace",
            )
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(true)
        .without_time()
        .compact()
        .try_init();
}

/// Runs a command.
pub fn run(args: Args) -> io::Result<()> {
    match args.command {
        Command::Demo { pcap, trace } => {
            init_trace(trace);
            demo::run(&pcap)
        }
        Command::Serve(a) => {
            init_trace(a.iface.trace);
            serve::run(&a)
        }
        Command::Send(a) => {
            init_trace(a.iface.trace);
            send::run(&a)
        }
    }
}

/// Opens the TAP named in `args` in the current namespace, wrapped in a pcap recorder if asked,
/// and starts a runtime on it.
fn start_runtime(args: &IfaceArgs) -> io::Result<udpstack::runtime::Runtime> {
    let config = args.config()?;
    let device = tap_harness::TapDevice::open(&args.tap)?;
    let seed = args.seed();
    match &args.pcap {
        Some(path) => {
            let device = udpstack::device::PcapDevice::create(device, path)?;
            udpstack::runtime::Runtime::start(device, config, seed)
        }
        None => udpstack::runtime::Runtime::start(device, config, seed),
    }
}
