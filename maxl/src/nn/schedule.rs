//! Learning-rate schedules, as PyTorch's StepLR and CosineAnnealingLR (stepped once per epoch).

/// A learning-rate schedule over epochs.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `step` epochs.
    Step {
        step: usize,
        gamma: f64,
    },
    /// Cosine from the base rate down to `min_lr` over `epochs` epochs.
    Cosine {
        epochs: usize,
        min_lr: f64,
    },
}

impl Schedule {
    /// The learning rate during `epoch` (0-based) for a base rate.
    pub fn lr(&self, base: f64, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { step, gamma } => base * gamma.powi((epoch / step.max(1)) as i32),
            Schedule::Cosine { epochs, min_lr } => {
                let t = epoch.min(epochs) as f64 / epochs.max(1) as f64;
                min_lr + (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_cosine_match_pytorch_formulas() {
        let s = Schedule::Step {
            step: 50,
            gamma: 0.5,
        };
        assert_eq!(
            [
                s.lr(0.01, 0),
                s.lr(0.01, 49),
                s.lr(0.01, 50),
                s.lr(0.01, 149)
            ],
            [0.01, 0.01, 0.005, 0.0025]
        );
        let c = Schedule::Cosine {
            epochs: 4,
            min_lr: 0.0,
        };
        let got: Vec<f64> = (0..5).map(|e| c.lr(0.1, e)).collect();
        let want = [
            0.1,
            0.1 * (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0,
            0.05,
            0.1 * (1.0 - (std::f64::consts::PI / 4.0).cos()) / 2.0,
            0.0,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
        assert_eq!(Schedule::Constant.lr(0.3, 7), 0.3);
    }
}
