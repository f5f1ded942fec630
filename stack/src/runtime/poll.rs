//! [`poll`]: wait until any of several sockets is ready, as `poll(2)` does.
//!
//! Readable means a datagram is queued (POLLIN); writable means the bytes in flight are below
//! half the send buffer (POLLOUT, `sock_writeable`, L6.6); an error is reported whether asked
//! for or not (POLLERR: a pending error or a non-empty error queue, L1.6).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{stopped, UdpSocket};
use crate::udp::Readiness;

/// What a caller of [`poll`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    /// POLLIN.
    pub readable: bool,
    /// POLLOUT.
    pub writable: bool,
}

impl Interest {
    /// POLLIN.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    /// POLLOUT.
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    /// POLLIN | POLLOUT.
    pub const BOTH: Interest = Interest {
        readable: true,
        writable: true,
    };
}

/// One socket of a [`poll`] call: what to wait for, and (after the call) what it is.
#[derive(Debug)]
pub struct PollEntry<'a> {
    /// The socket.
    pub socket: &'a UdpSocket,
    /// What to wait for.
    pub interest: Interest,
    /// Filled in by `poll` (`revents`): what is ready, among the interest and errors.
    pub ready: Readiness,
}

impl<'a> PollEntry<'a> {
    /// An entry waiting for `interest` on `socket`.
    pub fn new(socket: &'a UdpSocket, interest: Interest) -> Self {
        PollEntry {
            socket,
            interest,
            ready: Readiness::default(),
        }
    }
}

/// Waits until at least one entry is ready or `timeout` passes (`None`: forever), and returns
/// how many entries are ready, like `poll(2)`.
///
/// # Errors
/// `InvalidInput` if the sockets belong to different runtimes; ENETDOWN if the runtime stopped.
pub fn poll(entries: &mut [PollEntry<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let Some(first) = entries.first() else {
        if let Some(t) = timeout {
            std::thread::sleep(t);
        }
        return Ok(0);
    };
    let inner = Arc::clone(first.socket.inner());
    if entries
        .iter()
        .any(|e| !Arc::ptr_eq(e.socket.inner(), &inner))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "sockets of different runtimes",
        ));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut st = inner.lock();
    loop {
        if !st.running {
            return Err(stopped());
        }
        let mut n = 0;
        for e in entries.iter_mut() {
            let r = st.stack.readiness(e.socket.handle())?;
            e.ready = Readiness {
                readable: r.readable && e.interest.readable,
                writable: r.writable && e.interest.writable,
                error: r.error,
            };
            if e.ready.readable || e.ready.writable || e.ready.error {
                n += 1;
            }
        }
        if n > 0 {
            return Ok(n);
        }
        st = match inner.wait(st, deadline) {
            Ok(st) => st,
            Err(_) => return Ok(0),
        };
    }
}
