//! Devices: where the runtime gets frames from and sends them to.
//!
//! A [`Device`] is shaped like a TAP file descriptor: receive one frame into a buffer without
//! blocking, send one frame, wait until a frame may be ready or a deadline passes, and be woken
//! early from another thread. The sans-IO [`Stack`](crate::Stack) never sees a device; the
//! [`Runtime`](crate::runtime::Runtime) moves frames between the two.
//!
//! Implementations: [`MemoryLink`] (an in-memory pair with seeded loss, duplication,
//! reordering, MTU and latency: the runtime twin of [`sim`](crate::sim)), [`PcapDevice`] (wraps
//! any device and records every frame in and out to a pcap file), and `tap-harness`'s
//! `TapDevice` (a Linux TAP interface).

use std::io;
use std::sync::Arc;
use std::time::Instant;

mod memory;
mod pcap;

pub use memory::{LinkConfig, MemoryLink};
pub use pcap::PcapDevice;

/// Something that interrupts a [`Device::wait`] from another thread.
pub trait Waker: Send + Sync {
    /// Makes the device's current or next `wait` return promptly.
    fn wake(&self);
}

/// A source and sink of Ethernet frames (without FCS).
pub trait Device: Send + 'static {
    /// The largest frame the device carries, Ethernet header included (MTU + 14).
    fn max_frame_len(&self) -> usize;

    /// Receives one frame into `buf` if one is ready, without blocking. `Ok(None)` when none is.
    /// A frame longer than `buf` is dropped.
    ///
    /// # Errors
    /// The device failed (EIO, ENETDOWN, a device that went away): the runtime reports it and
    /// carries on.
    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Sends one frame. A device that is momentarily full may drop it (as a NIC queue would).
    ///
    /// # Errors
    /// The device failed.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// Blocks until a frame may be ready, `deadline` passes (never, if `None`), or the
    /// [`Waker`] is woken. May return early for no reason; callers loop.
    ///
    /// # Errors
    /// The device failed.
    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()>;

    /// The waker that interrupts [`Device::wait`].
    fn waker(&self) -> Arc<dyn Waker>;
}
