//! The engine around the one Ethernet interface: [`Stack`](stack::Stack) and its receive and
//! transmit paths, routing, ARP and the neighbour cache.

pub(crate) mod arp;
pub mod neighbor;
pub(crate) mod pool;
pub(crate) mod route;
pub mod stack;
pub(crate) mod tx;
