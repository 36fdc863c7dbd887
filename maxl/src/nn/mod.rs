//! Neural-network building blocks in a functional style: a network is an architecture plus a
//! [`Params`] map, and one forward function serves both the real weights and the meta step's
//! fast weights. Initialisers, SGD with momentum and weight decay, and learning-rate schedules.

pub mod builder;
pub mod forward;
pub mod init;
pub mod optim;
pub mod params;
pub mod schedule;

pub use builder::Builder;
pub use forward::Forward;
pub use optim::Sgd;
pub use params::Params;
pub use schedule::Schedule;
