//! `udpstack`: run the userspace UDP/IPv4 stack on a Linux TAP device.
//!
//! `udpstack demo` is the tour; `udpstack serve` runs echo and discard services on a TAP of
//! yours; `udpstack send` sends datagrams and reports what happened, errno by errno.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udpstack: {e}");
            ExitCode::FAILURE
        }
    }
}
