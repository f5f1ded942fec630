//! `udpstack serve`: echo (RFC 862) and discard (RFC 863) services on a TAP until SIGINT or
//! SIGTERM, then the counters and the socket table.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use udpstack::runtime::UdpSocket;

use super::IfaceArgs;

/// Arguments of `udpstack serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub(super) iface: IfaceArgs,
    /// Serve echo on this port (repeatable).
    #[arg(long = "echo", value_name = "PORT")]
    echo: Vec<u16>,
    /// Serve discard on this port (repeatable).
    #[arg(long = "discard", value_name = "PORT")]
    discard: Vec<u16>,
}

/// Runs the services until SIGINT or SIGTERM.
///
/// # Errors
/// The TAP cannot be opened, the configuration is invalid, or a port cannot be bound.
pub fn run(args: &ServeArgs) -> io::Result<()> {
    let (echo, discard) = if args.echo.is_empty() && args.discard.is_empty() {
        (vec![7], vec![9])
    } else {
        (args.echo.clone(), args.discard.clone())
    };
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;

    let rt = super::start_runtime(&args.iface)?;
    let mut services = Vec::new();
    for (ports, is_echo) in [(&echo, true), (&discard, false)] {
        for &port in ports {
            let socket = rt.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
            socket.set_read_timeout(Some(Duration::from_millis(100)))?;
            let count = Arc::new(AtomicU64::new(0));
            let (s, c) = (Arc::clone(&stop), Arc::clone(&count));
            let thread = std::thread::Builder::new()
                .name(format!("port-{port}"))
                .spawn(move || serve(&socket, is_echo, &s, &c))?;
            services.push((port, is_echo, count, thread));
        }
    }
    println!(
        "udpstack on {} as {} (MAC {}): echo on {echo:?}, discard on {discard:?}; Ctrl-C to stop",
        args.iface.tap, args.iface.addr, args.iface.mac
    );
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for (port, is_echo, count, thread) in services {
        let _ = thread.join();
        println!(
            "{} on port {port}: {} datagrams",
            if is_echo { "echo" } else { "discard" },
            count.load(Ordering::Relaxed)
        );
    }
    println!("\n{}", rt.snmp());
    println!("{}", rt.udp_table());
    let (errors, last) = rt.device_errors();
    if errors > 0 {
        println!(
            "device errors survived: {errors} (last: {})",
            last.unwrap_or_default()
        );
    }
    rt.shutdown();
    Ok(())
}

/// Serves `socket` until `stop` is set: echoes every datagram (RFC 862) if `echo`, else
/// drops it (RFC 863); counts them in `count`. Once `stop` is set it still serves what is
/// already queued, so that the counters printed at the end account for every datagram that
/// reached the socket: served, or dropped and counted by the stack.
pub(super) fn serve(socket: &UdpSocket, echo: bool, stop: &AtomicBool, count: &AtomicU64) {
    let mut buf = vec![0u8; 65536];
    let handle = |buf: &[u8], from| {
        if !echo || socket.send_to(buf, from).is_ok() {
            count.fetch_add(1, Ordering::Relaxed);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => handle(&buf[..n], from),
            // The read timeout: look at `stop` again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ENETDOWN: the runtime stopped.
            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => return,
            // A pending ICMP error (L1.6) is reported once; the service goes on.
            Err(_) => {}
        }
    }
    // Stopping: what is queued, without waiting for more.
    let mut errors = 0;
    loop {
        match socket.recv_with(&mut buf, udpstack::RecvFlags::DONTWAIT) {
            Ok(r) => handle(&buf[..r.len], r.from.into()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // A pending error is reported once: go on with what is queued behind it (a few
            // times at most: ENETDOWN or anything unexpected ends it).
            Err(e) if e.raw_os_error() != Some(libc::ENETDOWN) && errors < 8 => errors += 1,
            Err(_) => return,
        }
    }
}
