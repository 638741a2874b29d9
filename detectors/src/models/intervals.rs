//! Robust statistics of small samples (inter-arrival times, byte counts) for the timing models.
//!
//! Pure functions on slices; none panics, whatever the input (empty slices, NaN-free or not):
//! an empty sample has median 0, a constant one has MAD 0 and skew 0.

/// Sorts a copy of `xs` (total order, so NaN cannot panic the sort).
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Median of an already sorted sample (0 when empty); the mean of the middle pair when even.
pub fn median_sorted(s: &[f64]) -> f64 {
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Median absolute deviation about `center`.
pub fn mad(xs: &[f64], center: f64) -> f64 {
    let devs: Vec<f64> = xs.iter().map(|x| (x - center).abs()).collect();
    median_sorted(&sorted(&devs))
}

/// The value at rank `round(q·(n−1))` of a sorted sample, as RITA picks its quartiles
/// (no interpolation; 0 when empty).
pub fn rank_quantile(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let i = (q.clamp(0.0, 1.0) * (s.len() - 1) as f64).round() as usize;
    s[i.min(s.len() - 1)]
}

/// Bowley (quartile) skew `(Q1 + Q3 − 2·Q2) / (Q3 − Q1)` of a sorted sample, in −1..1.
/// 0 where it is unreliable: Q3 = Q1, or the median equals a quartile (RITA's rule).
pub fn bowley_skew(s: &[f64]) -> f64 {
    let (q1, q2, q3) = (rank_quantile(s, 0.25), rank_quantile(s, 0.5), rank_quantile(s, 0.75));
    let den = q3 - q1;
    if den <= 0.0 || q2 == q1 || q2 == q3 {
        return 0.0;
    }
    ((q1 + q3 - 2.0 * q2) / den).clamp(-1.0, 1.0)
}

/// `P(K ≥ k)` for `K ~ Binomial(n, p)`: the chance that at least `k` of `n` independent trials
/// succeed. Summed directly in log space (n is small here), clamped to 0..1.
pub fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut ln_choose = 0.0f64; // ln C(n, i), built up from C(n, 0)
    let mut total = 0.0f64;
    for i in 0..=n {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        if i >= k {
            total += (ln_choose + i as f64 * lp + (n - i) as f64 * lq).exp();
        }
    }
    total.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_deviations() {
        assert_eq!(median_sorted(&[]), 0.0);
        assert_eq!(median_sorted(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median_sorted(&[1.0, 2.0, 4.0, 10.0]), 3.0);
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0], 3.0), 1.0);
        assert_eq!(mad(&[], 0.0), 0.0);
    }

    #[test]
    fn bowley_skew_signs() {
        assert_eq!(bowley_skew(&[5.0; 8]), 0.0);
        // Long right tail: Q2 sits near Q1.
        let right = sorted(&[1.0, 1.1, 1.2, 1.3, 2.0, 4.0, 8.0, 9.0, 10.0]);
        assert!(bowley_skew(&right) > 0.3, "{}", bowley_skew(&right));
        let left: Vec<f64> = right.iter().rev().map(|x| -x).collect();
        assert!(bowley_skew(&left) < -0.3);
        assert_eq!(bowley_skew(&[]), 0.0);
    }

    #[test]
    fn binomial_tails() {
        assert!((binomial_tail(6, 6, 0.3) - 0.3f64.powi(6)).abs() < 1e-12);
        assert!((binomial_tail(2, 1, 0.5) - 0.75).abs() < 1e-12);
        assert_eq!(binomial_tail(5, 0, 0.3), 1.0);
        assert_eq!(binomial_tail(5, 6, 0.3), 0.0);
        let t = binomial_tail(64, 50, 0.3);
        assert!(t > 0.0 && t < 1e-12, "{t}");
    }
}
