//! Streaming behavioural network threat detection over ordinary pcap/pcapng captures.
//!
//! capture (read) → decode → flows (Zeek semantics) → protocol metadata (DNS, HTTP) → typed
//! events → pattern of life + models → alerts. Capture time only, never the wall clock. This
//! crate never depends on the simulator: it must work on anyone's captures.
#![forbid(unsafe_code)]

pub mod alert;
pub mod capture;
pub mod config;
pub mod decode;
pub mod defrag;
pub mod engine;
pub mod event;
pub mod flow;
pub mod incidents;
pub mod life;
pub mod models;
pub mod net;
pub mod proto;
pub mod zeek_log;

pub use engine::{Options, RunError, Summary, run};
pub use zeek_log::LogFormat;
