//! # tap-harness
//!
//! The part of udpstack that touches the operating system: a Linux TAP interface as a
//! [`udpstack::device::Device`] ([`TapDevice`]), and network-namespace topologies for the
//! interop tests and the demo ([`Netns`], [`TapLink`], [`add_veth`], [`RouterLink`]). It is the
//! only crate of the project allowed system calls and `unsafe`; the unsafe code is a few short
//! blocks in one private module, `sys` (taking ownership of the TAP descriptor from `tun-tap`,
//! the `SIOCGIFMTU`/`SIOCSIFMTU`/`SIOCGIFFLAGS` ioctls, and `UDP_CORK`/`SIOCOUTQ` on kernel
//! sockets for the comparison tests, which no safe wrapper offers), each with its safety
//! argument; everything else goes through `rustix` and `tun-tap`.
//!
//! ## Safety rules: what is created where
//!
//! The project's hard rule: **never create TAP devices, addresses or routes in the host network
//! namespace, never send to an address outside namespaces we created, and leave nothing behind,
//! even when a test panics.** This crate enforces it as follows.
//!
//! * **Namespaces** are created by [`Netns::new`] with `ip netns add <prefix>-<pid>-<counter>`;
//!   every interface, address, route and sysctl the topologies set is set *inside* one, with
//!   `ip -n <name> …`, `ip netns exec <name> …` or from a thread moved in by [`Netns::enter`].
//!   A veth pair is created inside its first namespace with its peer moved straight into the
//!   second one.
//! * **TAP devices** are created in the calling thread's namespace by [`TapDevice::open`], which
//!   refuses to *create* one while that thread is in the host namespace (PID 1's, or where the
//!   process started if PID 1 is hidden: [`in_host_netns`]); [`TapLink`] opens its device from
//!   inside its namespace.
//! * **Traffic** only flows on links inside those namespaces: a TAP's kernel side, veths
//!   between our namespaces. Nothing is routed to the outside (the namespaces have no link to
//!   the host).
//!
//! ## Teardown guarantees
//!
//! * A [`Netns`] removes its namespace in `Drop` (killing processes left running inside it
//!   first). `Drop` runs on scope exit and while a panic unwinds, so a failing test cleans up;
//!   [`Netns::remove`] does it with the error reported. Interfaces inside go with the
//!   namespace.
//! * A [`TapDevice`] deletes its (non-persistent) interface when dropped: the interface exists
//!   only while the descriptor is open. The descriptor also keeps its namespace alive, unnamed,
//!   after `ip netns del`, until the device is dropped.
//! * [`Netns::enter`] puts the calling thread back into its namespace on return and on panic
//!   (an RAII guard holding a descriptor of the original namespace); if that ever failed the
//!   process would abort rather than run on in the wrong namespace.
//! * What no destructor can cover (SIGKILL, `panic = "abort"`, `process::exit`) is caught by
//!   the names: the first [`Netns::new`] of a process removes the project's namespaces whose
//!   creating PID is dead ([`sweep_stale`]); [`leftovers`] reports anything still there, and
//!   TUN/TAP devices in the host namespace.
//!
//! ## Threads and namespaces
//!
//! A network namespace belongs to a *thread*, not a process: [`Netns::enter`] moves only the
//! calling thread, and only for the closure. A socket or TAP descriptor keeps the namespace it
//! was created in for life, so a [`TapDevice`] opened inside a namespace can be driven from any
//! thread (a runtime thread in the host namespace included). Threads and child processes
//! started inside `enter` start in the namespace. `/sys` is not per thread (it shows the
//! namespace it was mounted from), which is why the MTU is read with an ioctl on a socket made
//! in the device's namespace.
//!
//! ## Privileges
//!
//! All of this needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), `/dev/net/tun` and iproute2's
//! `ip`. [`check_privileges`] says clearly what is missing; tests call
//! [`privileged_or_skip`], which fails them with that message unless `UDPSTACK_SKIP_NETNS=1`.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod device;
mod netns;
mod privilege;
mod snmp;
mod sys;
mod topology;
mod tshark;

pub use device::{
    TapDevice, TapStats, TapStatsHandle, DEFAULT_MTU, REATTACH_INTERVAL, RUNNING_WAIT,
};
pub use netns::{
    host_tun_devices, leftovers, run, sweep_stale, Leftovers, Netns, NETNS_DIR, PROJECT_PREFIX,
};
pub use privilege::{check_privileges, privileged_or_skip, SKIP_ENV};
pub use snmp::{snmp_counter, snmp_counters};
pub use sys::{current_netns_inode, in_host_netns, set_udp_cork, socket_outq};
pub use topology::{add_veth, RouterConfig, RouterLink, TapLink, TapLinkConfig, VethEnd};
pub use tshark::{checksum_status_is_bad, tshark_checksum_statuses, CHECKSUM_GOOD};
