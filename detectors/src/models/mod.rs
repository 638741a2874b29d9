//! Detection models: one file each, behind one trait. Adding a model means adding its file and
//! one line in [`all`].
//!
//! Models judge behaviour only — what is rare, new or unusual for this organisation and device —
//! never indicators (specific IPs, names) of a known attack.

mod post_bare_ip;
mod rare_endpoint;
// -- timing models --
// -- application-layer models --
// -- network models --
#[cfg(test)]
pub(crate) mod testkit;

use crate::alert::Alert;
use crate::config::Thresholds;
use crate::event::Event;
use crate::life::Life;

pub trait Model: Send {
    /// Stable name used in alerts, reports and `expect:` blocks.
    fn name(&self) -> &'static str;
    /// Sees one event with the pattern of life as it was before the event.
    fn on_event(&mut self, ev: &Event<'_>, life: &Life, out: &mut Vec<Alert>);
}

/// Every model, configured.
pub fn all(t: &Thresholds) -> Vec<Box<dyn Model>> {
    vec![
        Box::new(post_bare_ip::PostToBareIp::new(&t.http_post_bare_ip)),
        Box::new(rare_endpoint::RareEndpoint::new(&t.rare_external_endpoint)),
        // -- timing models --
        // -- application-layer models --
        // -- network models --
    ]
}

/// Names of all models, in [`all`]'s order.
pub fn names() -> Vec<&'static str> {
    all(&Thresholds::default()).iter().map(|m| m.name()).collect()
}
