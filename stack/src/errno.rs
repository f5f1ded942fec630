//! Linux errno values, and `std::io::Error`s built from them.
//!
//! Socket calls fail with `io::Error::from_raw_os_error(errno)` using the Linux numbers, so that
//! `e.raw_os_error()` and `e.kind()` read exactly as they would for a kernel socket on Linux, and
//! a test can compare the two side by side. The numbers are Linux's generic ones (x86-64, arm64,
//! riscv: everything but alpha, mips, parisc and sparc).

use std::io;

/// A Linux errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $value:expr, $text:expr;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($value);
            )*

            /// The symbolic name (`"ECONNREFUSED"`), or `"E?"` for a number not listed here.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => stringify!($name),)*
                    _ => "E?",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted.";
    EBADF = 9, "Bad file descriptor (here: a closed or unknown socket handle).";
    EAGAIN = 11, "Resource temporarily unavailable (EWOULDBLOCK).";
    ENOMEM = 12, "Cannot allocate memory.";
    EACCES = 13, "Permission denied.";
    EINVAL = 22, "Invalid argument.";
    ENONET = 64, "Machine is not on the network.";
    EPROTO = 71, "Protocol error.";
    EDESTADDRREQ = 89, "Destination address required.";
    EMSGSIZE = 90, "Message too long.";
    ENOPROTOOPT = 92, "Protocol not available.";
    EOPNOTSUPP = 95, "Operation not supported.";
    EAFNOSUPPORT = 97, "Address family not supported by protocol.";
    EADDRINUSE = 98, "Address already in use.";
    EADDRNOTAVAIL = 99, "Cannot assign requested address.";
    ENETDOWN = 100, "Network is down (here: the runtime has stopped).";
    ENETUNREACH = 101, "Network is unreachable.";
    ENOBUFS = 105, "No buffer space available.";
    EISCONN = 106, "Transport endpoint is already connected.";
    ENOTCONN = 107, "Transport endpoint is not connected.";
    ECONNREFUSED = 111, "Connection refused.";
    EHOSTDOWN = 112, "Host is down.";
    EHOSTUNREACH = 113, "No route to host.";
}

impl Errno {
    /// The `std::io::Error` a kernel socket would return.
    pub fn to_io(self) -> io::Error {
        io::Error::from_raw_os_error(self.0)
    }
}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> Self {
        e.to_io()
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_like_the_kernel_s() {
        let e = Errno::ECONNREFUSED.to_io();
        assert_eq!(e.raw_os_error(), Some(111));
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(Errno::EAGAIN.to_io().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(Errno::EMSGSIZE.name(), "EMSGSIZE");
        assert_eq!(Errno(4242).name(), "E?");
    }
}
