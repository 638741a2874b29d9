//! Attack injectors. Each scenario entry is one variant, written as a single-key map:
//!
//! ```yaml
//! attacks:
//!   - dprk-macos-clickfix:
//!       id: dprk-1
//!       victim: mac-3
//!       start: 3h..5h
//! ```
//!
//! Every injector is an iterator of labelled sessions in time order with its own seeded stream.

pub mod cloud_ssrf;
pub mod dprk_macos;
pub mod dprk_windows;
pub mod exposed_scan;
pub mod kit;
pub mod shadow_ai;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::scenario::Role;
use crate::session::Session;
use crate::units::{ByteSize, Duration, Int, Nanos, Range};
use crate::world::World;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum AttackSpec {
    DprkMacosClickfix(dprk_macos::Params),
    DprkWindowsPowershell(dprk_windows::Params),
    ShadowAi(shadow_ai::Params),
    ExposedServiceScan(exposed_scan::Params),
    CloudSsrfExfil(cloud_ssrf::Params),
}

/// Fields every attack has.
pub struct Common<'a> {
    pub id: &'a Spanned<String>,
    /// The device attacked (`GROUP-N`).
    pub victim: &'a Spanned<String>,
    /// Offset from the scenario start; drawn from the range per seed.
    pub start: &'a Spanned<Range<Duration>>,
}

impl AttackSpec {
    pub fn common(&self) -> Common<'_> {
        match self {
            AttackSpec::DprkMacosClickfix(p) => Common {
                id: &p.id,
                victim: &p.victim,
                start: &p.start,
            },
            AttackSpec::DprkWindowsPowershell(p) => Common {
                id: &p.id,
                victim: &p.victim,
                start: &p.start,
            },
            AttackSpec::ShadowAi(p) => Common {
                id: &p.id,
                victim: &p.victim,
                start: &p.start,
            },
            AttackSpec::ExposedServiceScan(p) => Common {
                id: &p.id,
                victim: &p.victim,
                start: &p.start,
            },
            AttackSpec::CloudSsrfExfil(p) => Common {
                id: &p.id,
                victim: &p.victim,
                start: &p.start,
            },
        }
    }

    /// The name used in truth records and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            AttackSpec::DprkMacosClickfix(_) => dprk_macos::NAME,
            AttackSpec::DprkWindowsPowershell(_) => dprk_windows::NAME,
            AttackSpec::ShadowAi(_) => shadow_ai::NAME,
            AttackSpec::ExposedServiceScan(_) => exposed_scan::NAME,
            AttackSpec::CloudSsrfExfil(_) => cloud_ssrf::NAME,
        }
    }

    /// Roles the victim may have, if restricted.
    pub fn victim_roles(&self) -> Option<&'static [Role]> {
        match self {
            AttackSpec::DprkMacosClickfix(_) => Some(&[Role::MacosLaptop]),
            AttackSpec::DprkWindowsPowershell(_) => Some(&[Role::WindowsDesktop]),
            AttackSpec::ShadowAi(_) => Some(&[Role::MacosLaptop, Role::WindowsDesktop]),
            AttackSpec::ExposedServiceScan(_) => Some(&[Role::CloudWebVm, Role::LinuxServer]),
            AttackSpec::CloudSsrfExfil(_) => Some(&[Role::CloudWafVm]),
        }
    }

    /// Parameter checks: (line, column, message).
    pub fn validate(&self) -> Vec<(u64, u64, String)> {
        match self {
            AttackSpec::DprkMacosClickfix(p) => p.validate(),
            AttackSpec::DprkWindowsPowershell(p) => p.validate(),
            AttackSpec::ShadowAi(p) => p.validate(),
            AttackSpec::ExposedServiceScan(p) => p.validate(),
            AttackSpec::CloudSsrfExfil(p) => p.validate(),
        }
    }

    /// The attack's sessions, in time order.
    pub fn sessions<'w>(
        &self,
        world: &'w World,
        seed: u64,
        index: usize,
        start: Nanos,
        end: Nanos,
    ) -> Box<dyn Iterator<Item = Session> + 'w> {
        match self {
            AttackSpec::DprkMacosClickfix(p) => {
                Box::new(dprk_macos::Beacon::new(p.clone(), world, seed, index, start, end))
            }
            AttackSpec::DprkWindowsPowershell(p) => Box::new(dprk_windows::plan(p, world, seed, index, start, end)),
            AttackSpec::ShadowAi(p) => Box::new(shadow_ai::plan(p, world, seed, index, start, end)),
            AttackSpec::ExposedServiceScan(p) => Box::new(exposed_scan::plan(p, world, seed, index, start, end)),
            AttackSpec::CloudSsrfExfil(p) => Box::new(cloud_ssrf::plan(p, world, seed, index, start, end)),
        }
    }
}

/// Draws a value uniformly from a duration range.
pub fn draw_duration(rng: &mut impl rand::Rng, r: Range<Duration>) -> Nanos {
    use rand::RngExt;
    if r.min == r.max {
        r.min.0
    } else {
        rng.random_range(r.min.0..=r.max.0)
    }
}

/// An attack planned up front (a few thousand sessions at most): its sessions in start order,
/// cut at the scenario's end.
pub struct Planned(std::vec::IntoIter<Session>);

impl Planned {
    pub fn new(mut sessions: Vec<Session>, end: Nanos) -> Self {
        sessions.retain(|s| s.start < end);
        sessions.sort_by_key(|s| s.start);
        Planned(sessions.into_iter())
    }
}

impl Iterator for Planned {
    type Item = Session;
    fn next(&mut self) -> Option<Session> {
        self.0.next()
    }
}

/// A whole number drawn from a scenario's range, or from `default` when it gave none.
pub fn draw_int(rng: &mut impl rand::Rng, r: Option<Range<Int>>, default: (u64, u64)) -> u64 {
    use rand::RngExt;
    let r = r.unwrap_or(Range::new(Int(default.0), Int(default.1)));
    rng.random_range(r.min.0..=r.max.0)
}

/// A byte count drawn from a scenario's range, or from `default` when it gave none.
pub fn draw_size(rng: &mut impl rand::Rng, r: Option<Range<ByteSize>>, default: (u64, u64)) -> u64 {
    use rand::RngExt;
    let r = r.unwrap_or(Range::new(ByteSize(default.0), ByteSize(default.1)));
    rng.random_range(r.min.0..=r.max.0)
}

/// Weekdays 08:00–19:00 UTC: when working-hours gated activity may happen.
pub fn working_hours(t: Nanos) -> bool {
    let h = crate::units::second_of_day(t) / 3600;
    crate::units::weekday(t) < 5 && (8..19).contains(&h)
}
