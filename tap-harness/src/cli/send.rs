//! `udpstack send`: send datagrams and report, one line per event, what each send returned,
//! what came back, and what the error queue holds.
//!
//! ```text
//! send 1 1400 bytes: ok
//! errqueue errno=EMSGSIZE origin=icmp type=3 code=4 info=1280 offender=10.0.0.1 to=10.0.1.2:9
//! send 2 1400 bytes: EMSGSIZE
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use udpstack::runtime::UdpSocket;
use udpstack::udp::PmtuMode;

use super::{errno_name, IfaceArgs};

/// Arguments of `udpstack send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub(super) iface: IfaceArgs,
    /// The destination, ADDR:PORT.
    #[arg(long)]
    to: SocketAddrV4,
    /// The local port (default: an ephemeral one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// How many datagrams.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Milliseconds between datagrams.
    #[arg(long, default_value_t = 200)]
    interval: u64,
    /// connect(2) first, so that ICMP errors come back as errno (L1.2).
    #[arg(long)]
    connect: bool,
    /// IP_MTU_DISCOVER.
    #[arg(long, value_enum, default_value_t = Pmtu::Want)]
    pmtu: Pmtu,
    /// IP_RECVERR: read and print the error queue after every send.
    #[arg(long)]
    recv_error: bool,
    /// SO_BROADCAST.
    #[arg(long)]
    broadcast: bool,
    /// IP_TTL.
    #[arg(long)]
    ttl: Option<u32>,
    /// Wait this many milliseconds for a reply after each datagram and print it.
    #[arg(long, value_name = "MS")]
    wait_reply: Option<u64>,
}

/// The IP_MTU_DISCOVER modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pmtu {
    /// IP_PMTUDISC_DONT: never DF.
    Dont,
    /// IP_PMTUDISC_WANT: DF when it fits (the default).
    Want,
    /// IP_PMTUDISC_DO: always DF, EMSGSIZE above the path MTU.
    Do,
    /// IP_PMTUDISC_PROBE: always DF, sized by the device MTU.
    Probe,
    /// IP_PMTUDISC_INTERFACE: no DF, device MTU, ICMP ignored.
    Interface,
    /// IP_PMTUDISC_OMIT: no DF, fragments to the device MTU, ICMP ignored.
    Omit,
}

impl From<Pmtu> for PmtuMode {
    fn from(p: Pmtu) -> PmtuMode {
        match p {
            Pmtu::Dont => PmtuMode::Dont,
            Pmtu::Want => PmtuMode::Want,
            Pmtu::Do => PmtuMode::Do,
            Pmtu::Probe => PmtuMode::Probe,
            Pmtu::Interface => PmtuMode::Interface,
            Pmtu::Omit => PmtuMode::Omit,
        }
    }
}

/// Sends as asked and reports.
///
/// # Errors
/// The TAP cannot be opened, the configuration is invalid, or a socket option is refused.
/// Send errors are reported, not returned.
pub fn run(args: &SendArgs) -> io::Result<()> {
    let rt = super::start_runtime(&args.iface)?;
    let s = rt.udp_socket();
    s.set_mtu_discover(args.pmtu.into())?;
    s.set_recv_error(args.recv_error)?;
    s.set_broadcast(args.broadcast)?;
    if let Some(ttl) = args.ttl {
        s.set_ttl(ttl)?;
    }
    s.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, args.port))?;
    if args.connect {
        s.connect(args.to)?;
    }
    println!(
        "from {} to {}{}",
        s.local_addr()?,
        args.to,
        if args.connect { " (connected)" } else { "" }
    );
    let payload: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    let mut buf = vec![0u8; 65536];
    for i in 1..=args.count {
        let result = if args.connect {
            s.send(&payload)
        } else {
            s.send_to(&payload, args.to)
        };
        match result {
            Ok(n) => println!("send {i} {n} bytes: ok"),
            Err(e) => println!("send {i} {} bytes: {}", payload.len(), errno_name(&e)),
        }
        let pause = Duration::from_millis(args.interval);
        match args.wait_reply {
            Some(ms) => await_reply(&s, &mut buf, Duration::from_millis(ms))?,
            None if i < args.count => std::thread::sleep(pause),
            None => std::thread::sleep(pause.min(Duration::from_millis(200))),
        }
        if args.recv_error {
            drain_error_queue(&s, &mut buf);
        }
    }
    if let Ok(mtu) = s.mtu() {
        println!("IP_MTU {mtu}");
    }
    rt.shutdown();
    Ok(())
}

/// Prints the replies (or errors) that arrive within `wait`.
fn await_reply(s: &UdpSocket, buf: &mut [u8], wait: Duration) -> io::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            println!("no reply within {} ms", wait.as_millis());
            return Ok(());
        }
        s.set_read_timeout(Some(left))?;
        match s.recv_from(buf) {
            Ok((n, from)) => {
                println!("reply {n} bytes from {from}");
                return Ok(());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                println!("recv: {}", errno_name(&e));
                return Ok(());
            }
        }
    }
}

fn drain_error_queue(s: &UdpSocket, buf: &mut [u8]) {
    while let Ok(m) = s.recv_error(buf) {
        println!("errqueue {}", super::describe_error(&m));
    }
}
