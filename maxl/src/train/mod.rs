//! Training: the MAXL steps (stage 1, the second-order stage 2 and its first-order variant),
//! the settings, and the trainer that runs Algorithm 1 as the authors' code does.

pub mod config;
pub mod kmeans;
pub mod steps;
pub mod trainer;

pub use config::{Method, ScheduleKind, TrainConfig};
pub use kmeans::{Autoencoder, KMeansState};
pub use steps::{MaxlSetup, Stage1, Stage2};
pub use trainer::{Progress, Trainer};
