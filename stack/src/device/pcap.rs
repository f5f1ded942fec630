//! [`PcapDevice`]: wraps any device and records every frame in and out to a pcap file
//! (link type Ethernet), readable by tshark and Wireshark.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapPacket, PcapWriter};

use super::{Device, Waker};

/// A device that records its traffic.
pub struct PcapDevice<D: Device> {
    inner: D,
    /// Unbuffered, so that the file on disk is always complete up to the last frame.
    writer: PcapWriter<File>,
    frames: u64,
}

impl<D: Device> core::fmt::Debug for PcapDevice<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapDevice")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl<D: Device> PcapDevice<D> {
    /// Records `inner`'s frames to a new pcap file at `path`.
    ///
    /// # Errors
    /// The file could not be created or its header written.
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Self> {
        let file = File::create(path)?;
        let writer = PcapWriter::new(file).map_err(io::Error::other)?;
        Ok(PcapDevice {
            inner,
            writer,
            frames: 0,
        })
    }

    /// Frames recorded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn record(&mut self, frame: &[u8]) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let packet = PcapPacket::new(ts, frame.len() as u32, frame);
        if self.writer.write_packet(&packet).is_ok() {
            self.frames += 1;
        }
    }
}

impl<D: Device> Device for PcapDevice<D> {
    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let got = self.inner.try_recv(buf)?;
        if let Some(n) = got {
            let frame = buf.get(..n).unwrap_or(&[]).to_vec();
            self.record(&frame);
        }
        Ok(got)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.record(frame);
        self.inner.send(frame)
    }

    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        self.inner.wait(deadline)
    }

    fn waker(&self) -> Arc<dyn Waker> {
        self.inner.waker()
    }
}
