//! The transmit queue: frames built by the stack, waiting for `poll_transmit`.
//!
//! It stands in for the device's qdisc: bounded by `txqueuelen` frames (1000 for a TAP), and a
//! frame that finds it full is dropped, as `pfifo_fast` drops (`NET_XMIT_DROP`, which UDP turns
//! into ENOBUFS or a `SndbufErrors` count, L3.6).

use std::collections::VecDeque;

use super::neighbor::QueuedFrame;
use crate::udp::memory::truesize;
use crate::udp::SocketHandle;

/// A frame on its way out: Ethernet header included.
#[derive(Debug, Clone)]
pub(crate) struct TxFrame {
    /// The frame's bytes.
    pub data: Vec<u8>,
    /// The socket that sent it, if any.
    pub owner: Option<SocketHandle>,
}

impl QueuedFrame for TxFrame {
    fn truesize(&self) -> usize {
        truesize(self.data.len())
    }
}

/// The bounded queue of frames to send.
#[derive(Debug)]
pub(crate) struct TxQueue {
    frames: VecDeque<TxFrame>,
    limit: usize,
}

impl TxQueue {
    pub fn new(limit: usize) -> Self {
        TxQueue {
            frames: VecDeque::new(),
            limit,
        }
    }

    /// Appends a frame, or gives it back if the queue is full.
    pub fn push(&mut self, frame: TxFrame) -> Result<(), TxFrame> {
        if self.frames.len() >= self.limit {
            return Err(frame);
        }
        self.frames.push_back(frame);
        Ok(())
    }

    pub fn pop(&mut self) -> Option<TxFrame> {
        self.frames.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}
