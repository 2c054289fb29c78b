//! Concurrency on purpose: many tasks at once through the real pools, on a
//! multi-threaded runtime.

mod bursts;
mod concurrent_requests;
