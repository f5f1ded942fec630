//! A small pool of byte buffers, so that a stack in steady state moves frames and datagrams
//! without asking the allocator for memory each time.
//!
//! Frames leave through `poll_transmit` and datagrams through `recv`: their buffers come back
//! here and serve the next ones. The pool is bounded: it keeps at most [`MAX_FREE`] buffers of
//! at most [`MAX_KEPT_CAPACITY`] bytes each (a full-size Ethernet frame fits); anything beyond
//! is returned to the allocator. What a socket may hold is bounded elsewhere (its receive
//! buffer), so the pool only ever holds memory the stack recently used.

/// The most buffers kept for reuse.
pub(crate) const MAX_FREE: usize = 256;
/// Larger buffers are not kept.
pub(crate) const MAX_KEPT_CAPACITY: usize = 2048;

/// Reusable byte buffers.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    /// A buffer of `len` zero bytes.
    pub fn zeroed(&mut self, len: usize) -> Vec<u8> {
        let mut v = self.free.pop().unwrap_or_default();
        v.clear();
        v.resize(len, 0);
        v
    }

    /// A buffer holding a copy of `data`.
    pub fn copy_of(&mut self, data: &[u8]) -> Vec<u8> {
        let mut v = self.free.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(data);
        v
    }

    /// Takes a buffer back for reuse (or frees it, beyond the bounds).
    pub fn give(&mut self, v: Vec<u8>) {
        if self.free.len() < MAX_FREE && v.capacity() <= MAX_KEPT_CAPACITY {
            self.free.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_the_pool_stays_bounded() {
        let mut p = BufferPool::default();
        let a = p.copy_of(b"hello");
        let ptr = a.as_ptr();
        p.give(a);
        let b = p.zeroed(3);
        assert_eq!(b, [0, 0, 0]);
        assert_eq!(b.as_ptr(), ptr, "the buffer was reused");
        p.give(vec![0; MAX_KEPT_CAPACITY + 1]);
        assert!(p.free.is_empty(), "large buffers are not kept");
        for _ in 0..MAX_FREE + 10 {
            p.give(Vec::with_capacity(16));
        }
        assert_eq!(p.free.len(), MAX_FREE);
    }
}
