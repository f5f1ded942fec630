//! The transmit queue: frames built by the stack, waiting for `poll_transmit`.
//!
//! It stands in for the device's qdisc: bounded by `txqueuelen` frames (1000 for a TAP), and a
//! frame that finds it full is dropped, as `pfifo_fast` drops (`NET_XMIT_DROP`, which UDP turns
//! into ENOBUFS or a `SndbufErrors` count, L3.6).

use std::collections::VecDeque;

use super::neighbor::QueuedFrame;
use crate::udp::memory::send_truesize;
use crate::udp::SocketHandle;

/// A frame on its way out: Ethernet header included.
#[derive(Debug, Clone)]
pub(crate) struct TxFrame {
    /// The frame's bytes.
    pub data: Vec<u8>,
    /// The socket that sent it, if any: its send buffer is charged `truesize` until the frame
    /// leaves (L6.5).
    pub owner: Option<SocketHandle>,
    /// What the packet's buffer costs (`skb->truesize` of a sent packet, [`send_truesize`]).
    pub truesize: usize,
}

impl TxFrame {
    /// A frame not charged to any socket (ARP, ICMP the stack sends itself).
    pub fn unowned(data: Vec<u8>) -> TxFrame {
        let truesize = send_truesize(data.len().saturating_sub(crate::wire::ethernet::HEADER_LEN));
        TxFrame {
            data,
            owner: None,
            truesize,
        }
    }
}

impl QueuedFrame for TxFrame {
    fn truesize(&self) -> usize {
        self.truesize
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

    /// The frames waiting, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &TxFrame> + '_ {
        self.frames.iter()
    }
}
