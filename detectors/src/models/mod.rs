//! Detection models: one file each, behind one trait. Adding a model means adding its file and
//! one line in [`all`].
//!
//! Models judge behaviour only — what is rare, new or unusual for this organisation and device —
//! never indicators (specific IPs, names) of a known attack.

mod post_bare_ip;
mod rare_endpoint;
// -- timing models --
pub mod beacon;
pub mod failed_burst;
mod intervals;
pub mod rita_style_beacon;
// -- application-layer models --
pub mod cooldown;
pub mod hostname;
pub mod lookalike;
pub mod new_user_agent;
pub mod post_rare_host;
pub mod shadow_ai;
pub mod tls_self_signed;
// -- network models --
pub mod inbound_surge;
pub mod ioc_baseline;
pub mod metadata_ssrf;
#[cfg(test)]
pub(crate) mod testkit;
pub mod unusual_volume;

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
        Box::new(beacon::Beacon::new(&t.beacon_rare_endpoint)),
        Box::new(rita_style_beacon::RitaStyleBeacon::new(&t.rita_style_beacon)),
        Box::new(failed_burst::FailedBurst::new(&t.failed_connection_burst)),
        // -- application-layer models --
        Box::new(new_user_agent::NewUserAgent::named(&t.new_user_agent)),
        Box::new(new_user_agent::NewUserAgent::bare_ip(&t.new_user_agent_bare_ip)),
        Box::new(post_rare_host::PostsToRareHost::new(&t.http_posts_rare_hostname)),
        Box::new(tls_self_signed::SelfSignedTls::new(&t.self_signed_tls_rare_endpoint)),
        Box::new(shadow_ai::ShadowAi::new(&t.unsanctioned_ai)),
        Box::new(lookalike::Lookalike::new(&t.lookalike_hostname)),
        // -- network models --
        Box::new(unusual_volume::UnusualVolume::new(&t.unusual_data_to_new_endpoint)),
        Box::new(inbound_surge::InboundSurge::new(&t.inbound_surge_rare_sources)),
        Box::new(metadata_ssrf::MetadataSsrf::new(&t.metadata_service_after_inbound)),
        Box::new(ioc_baseline::IocBaseline::new(&t.ioc_baseline)),
    ]
}

/// Names of all models, in [`all`]'s order.
pub fn names() -> Vec<&'static str> {
    all(&Thresholds::default()).iter().map(|m| m.name()).collect()
}
