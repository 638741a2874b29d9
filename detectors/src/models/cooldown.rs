//! Bounded per-key state for the application-layer models: alert cooldowns and maps that evict
//! their stalest entries (by capture time) when full, so no capture can grow them without end.

use std::collections::HashMap;
use std::hash::Hash;

pub const NS: u64 = 1_000_000_000;

/// When full, a map drops this share of its entries at once (the stalest), so eviction costs a
/// sort every `cap / EVICT_DIVISOR` insertions rather than a scan at each.
const EVICT_DIVISOR: usize = 8;

/// Makes room for one more entry in `map` (at most `cap`): drops the entries whose `last` is
/// oldest.
pub fn make_room<K: Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, cap: usize, last: impl Fn(&V) -> u64) {
    if map.len() < cap.max(1) {
        return;
    }
    let mut ages: Vec<(u64, K)> = map.iter().map(|(k, v)| (last(v), k.clone())).collect();
    ages.sort_unstable_by_key(|(t, _)| *t);
    let drop = (cap / EVICT_DIVISOR).max(1).max(map.len() + 1 - cap.max(1));
    for (_, k) in ages.into_iter().take(drop) {
        map.remove(&k);
    }
}

/// One alert per key per cooldown.
pub struct Cooldown<K> {
    ns: u64,
    cap: usize,
    last: HashMap<K, u64>,
}

impl<K: Hash + Eq + Clone> Cooldown<K> {
    pub fn new(secs: u64, cap: usize) -> Self {
        Cooldown {
            ns: secs.saturating_mul(NS),
            cap,
            last: HashMap::new(),
        }
    }

    /// True while `key` fired less than a cooldown before `ts`.
    pub fn cooling(&self, key: &K, ts: u64) -> bool {
        self.last.get(key).is_some_and(|&t| ts.saturating_sub(t) < self.ns)
    }

    /// Records that `key` fired at `ts`.
    pub fn fired(&mut self, key: K, ts: u64) {
        if !self.last.contains_key(&key) && self.last.len() >= self.cap {
            // Expired cooldowns go first; the stalest otherwise.
            let ns = self.ns;
            self.last.retain(|_, t| ts.saturating_sub(*t) < ns);
            make_room(&mut self.last, self.cap, |t| *t);
        }
        self.last.insert(key, ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_and_bounds() {
        let mut c = Cooldown::new(10, 4);
        assert!(!c.cooling(&1, 0));
        c.fired(1, 0);
        assert!(c.cooling(&1, 5 * NS));
        assert!(!c.cooling(&1, 10 * NS));
        for k in 2..100 {
            c.fired(k, k as u64);
        }
        assert!(c.last.len() <= 4);
    }
}
