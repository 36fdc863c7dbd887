//! Meta Auxiliary Learning (Liu, Davison, Johns, NeurIPS 2019) on `maxl-engine`: networks,
//! label generator, Mask SoftMax, focal loss, the two-stage trainer, baselines, data and metrics.

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod models;
pub mod nn;

pub use error::{Error, Result};
pub mod hierarchy;
pub mod losses;
pub mod metrics;
pub mod train;
