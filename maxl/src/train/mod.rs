//! Training: the MAXL steps (stage 1, the second-order stage 2 and its first-order variant),
//! the settings, the auxiliary-label strategies (one per method) and the trainer that runs
//! Algorithm 1 as the authors' code does with one of them; its state as named records.

pub mod config;
pub mod epoch;
pub mod kmeans;
pub mod lookahead;
pub mod record;
pub mod steps;
pub mod strategy;
pub mod trainer;

pub use config::{parse_psi, Lookahead, Method, ScheduleKind, TrainConfig, Validated};
pub use epoch::{EpochContext, Progress};
pub use kmeans::{Autoencoder, KMeansState};
pub use lookahead::VirtualStep;
pub use record::Record;
pub use steps::{GradParts, MaxlSetup, Stage1, Stage1Figures, Stage2, Stage2Figures};
pub use strategy::AuxStrategy;
pub use trainer::Trainer;
