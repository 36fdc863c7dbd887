//! Meta Auxiliary Learning (Liu, Davison, Johns, NeurIPS 2019) on `maxl-engine`: networks,
//! label generator, Mask SoftMax, focal loss, the two-stage trainer, baselines, data and metrics.
//! Not implemented yet: this crate only reserves its place in the workspace.
