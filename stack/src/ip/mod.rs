//! IPv4: input checks and delivery, output with fragmentation, and packet identification (L3.5).

pub mod ident;
pub(crate) mod input;
pub(crate) mod options;
pub(crate) mod output;
pub mod pmtu;
pub mod reassembly;
pub(crate) mod redirect;
