//! Application protocol parsers. Contract (as smoltcp's `wire`): parsers never panic on any
//! input; they return `None`/errors for what they cannot read.

pub mod dns;
pub mod http;

use std::collections::VecDeque;

/// Application-layer state kept with each flow.
#[derive(Clone, Debug, Default)]
pub struct AppState {
    pub http_orig: http::HttpStream,
    pub http_resp: http::HttpStream,
    /// Requests still waiting for their response.
    pub pending: VecDeque<http::Request>,
    /// The flow's first payload was not HTTP: stop trying.
    pub not_http: bool,
}
