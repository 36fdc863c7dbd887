//! The statistics of a report: mean and sample standard deviation over seeds, and the paired
//! comparison of two methods on the seeds they share (mean difference, its standard error and
//! the paired t statistic with n - 1 degrees of freedom).

use serde::Serialize;

/// Mean and sample standard deviation (n - 1; None below two values).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: usize,
}

pub fn summary(xs: &[f64]) -> Option<Summary> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let ss: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    Some(Summary { mean, std, n })
}

/// A paired comparison: `a_i - b_i` over matched seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Paired {
    pub n: usize,
    pub mean_diff: f64,
    /// Standard error of the mean difference (None below two pairs).
    pub se: Option<f64>,
    /// mean_diff / se (None below two pairs or when every difference is the same).
    pub t: Option<f64>,
    pub df: usize,
}

pub fn paired(pairs: &[(f64, f64)]) -> Option<Paired> {
    let d: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    let s = summary(&d)?;
    let se = s.std.map(|sd| sd / (s.n as f64).sqrt());
    let t = se.filter(|se| *se > 0.0).map(|se| s.mean / se);
    Some(Paired {
        n: s.n,
        mean_diff: s.mean,
        se,
        t,
        df: s.n.saturating_sub(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        // 2, 4, 9: mean 5; squared deviations 9 + 1 + 16 = 26; 26 / 2 = 13.
        let s = summary(&[2.0, 4.0, 9.0]).unwrap();
        assert!(close(s.mean, 5.0) && close(s.std.unwrap(), 13f64.sqrt()) && s.n == 3);
        let one = summary(&[7.0]).unwrap();
        assert_eq!((one.mean, one.std), (7.0, None));
        assert!(summary(&[]).is_none());
    }

    #[test]
    fn paired_t_by_hand() {
        // Differences 0.5, -0.5, 1, 1: mean 0.5; squared deviations 0 + 1 + 0.25 + 0.25 = 1.5,
        // variance 1.5 / 3 = 0.5, sd = 1/sqrt(2); se = sd / sqrt(4) = 1/(2 sqrt(2));
        // t = 0.5 / se = sqrt(2), 3 degrees of freedom.
        let p = paired(&[(1.0, 0.5), (2.0, 2.5), (3.0, 2.0), (4.0, 3.0)]).unwrap();
        assert_eq!((p.n, p.df), (4, 3));
        assert!(close(p.mean_diff, 0.5));
        assert!(close(p.se.unwrap(), 1.0 / (2.0 * 2f64.sqrt())));
        assert!(close(p.t.unwrap(), 2f64.sqrt()));

        // Every difference 1: no spread, so no t.
        let same = paired(&[(2.0, 1.0), (3.0, 2.0), (4.0, 3.0)]).unwrap();
        assert_eq!((same.mean_diff, same.se, same.t), (1.0, Some(0.0), None));
        let single = paired(&[(2.0, 1.5)]).unwrap();
        assert_eq!(
            (single.mean_diff, single.se, single.t, single.df),
            (0.5, None, None, 0)
        );
    }
}
