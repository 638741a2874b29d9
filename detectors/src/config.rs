//! The thresholds file (`detectors/thresholds.yaml` by default): every model's knobs in one
//! place, strictly parsed.

use std::path::Path;

use serde::Deserialize;

/// The defaults shipped with the crate.
pub const DEFAULT_THRESHOLDS: &str = include_str!("../thresholds.yaml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Thresholds {
    pub http_post_bare_ip: PostBareIp,
    pub rare_external_endpoint: RareEndpoint,
    // -- timing models --
    pub beacon_rare_endpoint: crate::models::beacon::Config,
    pub rita_style_beacon: crate::models::rita_style_beacon::Config,
    pub failed_connection_burst: crate::models::failed_burst::Config,
    // -- application-layer models --
    pub new_user_agent: crate::models::new_user_agent::Config,
    pub new_user_agent_bare_ip: crate::models::new_user_agent::Config,
    pub http_posts_rare_hostname: crate::models::post_rare_host::Config,
    pub self_signed_tls_rare_endpoint: crate::models::tls_self_signed::Config,
    pub unsanctioned_ai: crate::models::shadow_ai::Config,
    pub lookalike_hostname: crate::models::lookalike::Config,
    // -- network models --
    pub unusual_data_to_new_endpoint: crate::models::unusual_volume::Config,
    pub inbound_surge_rare_sources: crate::models::inbound_surge::Config,
    pub metadata_service_after_inbound: crate::models::metadata_ssrf::Config,
    pub ioc_baseline: crate::models::ioc_baseline::Config,
    pub incidents: crate::incidents::Config,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostBareIp {
    pub min_score: f64,
    pub cooldown_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RareEndpoint {
    pub max_devices: usize,
    pub min_score: f64,
    pub cooldown_secs: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::parse("thresholds.yaml", DEFAULT_THRESHOLDS).expect("the shipped thresholds file is valid")
    }
}

impl Thresholds {
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| {
            let loc = e
                .location()
                .map(|l| format!("{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            let first = e.to_string().lines().next().unwrap_or("invalid").to_string();
            format!("{name}:{loc}: {first}")
        })
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_parses_and_typos_fail() {
        let t = Thresholds::default();
        assert_eq!(t.rare_external_endpoint.max_devices, 1);
        let bad = DEFAULT_THRESHOLDS.replace("max_devices", "max_device");
        let err = Thresholds::parse("t.yaml", &bad).unwrap_err();
        assert!(err.contains("t.yaml:") && err.contains("max_device"), "{err}");
    }
}
