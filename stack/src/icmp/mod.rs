//! ICMPv4: input (echo, errors to sockets), output (errors, echo replies) and its rate limits
//! (L5.7).

pub(crate) mod input;
pub(crate) mod output;
pub mod ratelimit;
