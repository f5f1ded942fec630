//! [`MemoryLink`]: two devices joined in memory, with seeded loss, duplication, reordering,
//! an MTU and latency. The runtime's twin of the sans-IO [`sim`](crate::sim) network.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Device, Waker};
use crate::rand::Rng;

/// The properties of a [`MemoryLink`], the same in both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// The largest IP packet carried (frames beyond MTU + 14 are dropped).
    pub mtu: u16,
    /// One-way delay.
    pub latency: Duration,
    /// Up to this much extra delay, drawn per frame (reorders frames).
    pub jitter: Duration,
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Frames each direction holds before it drops (a NIC queue).
    pub queue: usize,
}

impl Default for LinkConfig {
    /// MTU 1500, no latency, jitter, loss or duplication; 4096 frames of queue.
    fn default() -> Self {
        LinkConfig {
            mtu: 1500,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            queue: 4096,
        }
    }
}

#[derive(Debug, Default)]
struct Inbox {
    frames: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    woken: bool,
}

#[derive(Debug)]
struct Shared {
    /// Inboxes of the two ends.
    inbox: [Mutex<Inbox>; 2],
    ready: [Condvar; 2],
    rng: Mutex<Rng>,
    config: LinkConfig,
    seq: Mutex<u64>,
}

/// One end of an in-memory Ethernet link.
#[derive(Debug)]
pub struct MemoryLink {
    shared: Arc<Shared>,
    end: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryLink {
    /// Two connected ends; every random choice derives from `seed`.
    pub fn pair(config: LinkConfig, seed: u64) -> (MemoryLink, MemoryLink) {
        let shared = Arc::new(Shared {
            inbox: [Mutex::new(Inbox::default()), Mutex::new(Inbox::default())],
            ready: [Condvar::new(), Condvar::new()],
            rng: Mutex::new(Rng::new(seed)),
            config,
            seq: Mutex::new(0),
        });
        (
            MemoryLink {
                shared: Arc::clone(&shared),
                end: 0,
            },
            MemoryLink { shared, end: 1 },
        )
    }

    fn peer(&self) -> usize {
        1 - self.end
    }
}

struct LinkWaker {
    shared: Arc<Shared>,
    end: usize,
}

impl Waker for LinkWaker {
    fn wake(&self) {
        if let (Some(inbox), Some(ready)) = (
            self.shared.inbox.get(self.end),
            self.shared.ready.get(self.end),
        ) {
            lock(inbox).woken = true;
            ready.notify_all();
        }
    }
}

impl Device for MemoryLink {
    fn max_frame_len(&self) -> usize {
        usize::from(self.shared.config.mtu) + 14
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(inbox) = self.shared.inbox.get(self.end) else {
            return Ok(None);
        };
        let mut inbox = lock(inbox);
        let now = Instant::now();
        loop {
            match inbox.frames.peek() {
                Some(Reverse((at, _, _))) if *at <= now => {}
                _ => return Ok(None),
            }
            let Some(Reverse((_, _, frame))) = inbox.frames.pop() else {
                return Ok(None);
            };
            if let Some(dst) = buf.get_mut(..frame.len()) {
                dst.copy_from_slice(&frame);
                return Ok(Some(frame.len()));
            }
            // Too long for the buffer: dropped, like an oversized frame.
        }
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let c = self.shared.config;
        if frame.len() > self.max_frame_len() {
            return Ok(());
        }
        let (copies, extra) = {
            let mut rng = lock(&self.shared.rng);
            let chance =
                |rng: &mut Rng, p: f64| p > 0.0 && (rng.next_u64() as f64 / u64::MAX as f64) < p;
            if chance(&mut rng, c.loss) {
                return Ok(());
            }
            let copies = if chance(&mut rng, c.duplicate) { 2 } else { 1 };
            let jitter = c.jitter.as_micros() as u64;
            let extra: Vec<u64> = (0..copies)
                .map(|_| {
                    if jitter == 0 {
                        0
                    } else {
                        rng.next_u64() % (jitter + 1)
                    }
                })
                .collect();
            (copies, extra)
        };
        let peer = self.peer();
        let (Some(inbox), Some(ready)) = (self.shared.inbox.get(peer), self.shared.ready.get(peer))
        else {
            return Ok(());
        };
        let mut inbox = lock(inbox);
        let now = Instant::now();
        for e in extra.iter().take(copies) {
            if inbox.frames.len() >= c.queue {
                break;
            }
            let seq = {
                let mut s = lock(&self.shared.seq);
                *s += 1;
                *s
            };
            let at = now + c.latency + Duration::from_micros(*e);
            inbox.frames.push(Reverse((at, seq, frame.to_vec())));
        }
        drop(inbox);
        ready.notify_all();
        Ok(())
    }

    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let (Some(inbox), Some(ready)) = (
            self.shared.inbox.get(self.end),
            self.shared.ready.get(self.end),
        ) else {
            return Ok(());
        };
        let mut inbox = lock(inbox);
        loop {
            if inbox.woken {
                inbox.woken = false;
                return Ok(());
            }
            let now = Instant::now();
            let next_frame = inbox.frames.peek().map(|Reverse((at, _, _))| *at);
            if next_frame.is_some_and(|at| at <= now) || deadline.is_some_and(|d| d <= now) {
                return Ok(());
            }
            let until = [next_frame, deadline].into_iter().flatten().min();
            inbox = match until {
                Some(t) => ready
                    .wait_timeout(inbox, t - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0),
                None => ready.wait(inbox).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    fn waker(&self) -> Arc<dyn Waker> {
        Arc::new(LinkWaker {
            shared: Arc::clone(&self.shared),
            end: self.end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn frames_cross_in_both_directions() {
        let (mut a, mut b) = MemoryLink::pair(LinkConfig::default(), 1);
        a.send(b"hello").unwrap();
        b.send(b"world").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.try_recv(&mut buf).unwrap(), Some(5));
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(a.try_recv(&mut buf).unwrap(), Some(5));
        assert_eq!(&buf[..5], b"world");
        assert_eq!(a.try_recv(&mut buf).unwrap(), None);
    }

    #[test]
    fn latency_holds_frames_back_and_wait_returns_for_them() {
        let config = LinkConfig {
            latency: Duration::from_millis(30),
            ..LinkConfig::default()
        };
        let (mut a, mut b) = MemoryLink::pair(config, 1);
        let start = Instant::now();
        a.send(b"late").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.try_recv(&mut buf).unwrap(), None);
        b.wait(Some(start + Duration::from_secs(5))).unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), Some(4));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn the_waker_interrupts_wait_from_another_thread() {
        let (_a, mut b) = MemoryLink::pair(LinkConfig::default(), 1);
        let waker = b.waker();
        let start = Instant::now();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            waker.wake();
        });
        b.wait(None).unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }

    #[test]
    fn mtu_and_loss_drop_frames() {
        let config = LinkConfig {
            mtu: 100,
            loss: 1.0,
            ..LinkConfig::default()
        };
        let (mut a, mut b) = MemoryLink::pair(config, 1);
        a.send(&[0u8; 50]).unwrap();
        let mut buf = [0u8; 200];
        assert_eq!(b.try_recv(&mut buf).unwrap(), None, "lost");
        let config = LinkConfig {
            mtu: 100,
            ..LinkConfig::default()
        };
        let (mut a, mut b) = MemoryLink::pair(config, 1);
        a.send(&[0u8; 115]).unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), None, "beyond MTU + 14");
        a.send(&[0u8; 114]).unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), Some(114));
    }
}
