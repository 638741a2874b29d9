//! `--seeds`: the seeds every scenario runs with, as `1-5`, `1,3,7` or a mix (`1-3,10`).

use std::fmt;

/// At most this many seeds per run: a typo like `1-100000` should not start a day of work.
pub const MAX_SEEDS: usize = 1000;

/// Distinct seeds, ascending (so that reports do not depend on how the list was written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

impl std::str::FromStr for Seeds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let num = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{v}` is not a seed (a whole number ≥ 0)"))
        };
        let mut seeds = Vec::new();
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        return Err(format!("range `{part}` runs backwards"));
                    }
                    if b - a >= MAX_SEEDS as u64 {
                        return Err(format!("range `{part}` has more than {MAX_SEEDS} seeds"));
                    }
                    seeds.extend(a..=b);
                }
                None => seeds.push(num(part)?),
            }
        }
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() > MAX_SEEDS {
            return Err(format!("{} seeds; at most {MAX_SEEDS}", seeds.len()));
        }
        Ok(Seeds(seeds))
    }
}

impl fmt::Display for Seeds {
    /// Runs of consecutive seeds as ranges: `1-5`, `1,3,7`, `1-3,10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        while i < self.0.len() {
            let mut j = i;
            while j + 1 < self.0.len() && self.0[j + 1] == self.0[j] + 1 {
                j += 1;
            }
            if i > 0 {
                f.write_str(",")?;
            }
            if j > i {
                write!(f, "{}-{}", self.0[i], self.0[j])?;
            } else {
                write!(f, "{}", self.0[i])?;
            }
            i = j + 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_lists_and_mistakes() {
        let p = |s: &str| s.parse::<Seeds>();
        assert_eq!(p("1-5"), Ok(Seeds(vec![1, 2, 3, 4, 5])));
        assert_eq!(p("7,1,3,3"), Ok(Seeds(vec![1, 3, 7])));
        assert_eq!(p("10,1-3").unwrap().to_string(), "1-3,10");
        assert_eq!(p("4").unwrap().to_string(), "4");
        assert_eq!(p("5-1"), Err("range `5-1` runs backwards".into()));
        assert_eq!(p("1,x"), Err("`x` is not a seed (a whole number ≥ 0)".into()));
        assert_eq!(p(""), Err("`` is not a seed (a whole number ≥ 0)".into()));
        assert!(p("0-100000").is_err());
    }
}
