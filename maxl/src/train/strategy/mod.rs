//! Auxiliary-label strategies, one per method: MAXL's generator (second or first order), fixed
//! labels (Random, Human), K-Means, and none (Single). [`compose`] is the one place that turns a
//! [`Method`] into its parts: the hierarchy psi, the network theta1 trains and the strategy.

mod base;
mod clustered;
mod columns;
mod fixed;
mod label_stats;
mod meta;
mod single;

pub use base::AuxStrategy;
pub use clustered::Clustered;
pub use fixed::FixedLabels;
pub use label_stats::LabelStats;
pub use meta::{MetaLearned, MetaOrder, MetaSettings, PARTS_EVERY};
pub use single::NoAuxiliary;

use super::config::{too_many_aux_classes, Method, TrainConfig, MAX_AUX_CLASSES};
use super::steps::MaxlSetup;
use crate::data::Dataset;
use crate::hierarchy::Hierarchy;
use crate::models::{Backbone, InputShape, Net, NetState};
use crate::{Error, Result};
use maxl_engine::Rng;

/// What a method is made of.
pub struct Composition {
    pub setup: MaxlSetup,
    /// The network theta1 trains: multi-task, or single-task without an auxiliary task.
    pub net: Net,
    /// Its initial state.
    pub mt: NetState,
    pub strategy: Box<dyn AuxStrategy>,
}

/// psi from the settings (one entry means `[k] * P`), or for Human from the data set's label
/// hierarchy.
fn hierarchy_for(cfg: &TrainConfig, train: &Dataset) -> Result<Hierarchy> {
    let p = train.classes();
    if cfg.method == Method::Human {
        let aux = human_level(cfg)?;
        let lh = train.hierarchy().ok_or_else(|| {
            Error::Invalid(
                "method human needs a data set with a label hierarchy (CIFAR-100)".into(),
            )
        })?;
        return Hierarchy::new(lh.psi(p, aux)?);
    }
    if let [k] = cfg.psi.as_slice() {
        // k per class: the bound of `validate` once the classes are known.
        let total = k.saturating_mul(p);
        if total > MAX_AUX_CLASSES {
            return Err(Error::Invalid(format!(
                "{} ({k} x {p} primary classes)",
                too_many_aux_classes(total, &cfg.model)
            )));
        }
    }
    let h = match cfg.psi.as_slice() {
        [k] => Hierarchy::balanced(*k, p)?,
        list => Hierarchy::new(list.to_vec())?,
    };
    h.check_primary(p)?;
    Ok(h)
}

fn human_level(cfg: &TrainConfig) -> Result<usize> {
    cfg.aux_level.ok_or_else(|| {
        Error::Invalid(
            "method human needs --aux-level (a finer level of the data set's hierarchy)".into(),
        )
    })
}

/// The parts of `cfg.method` for a training set. Every network starts as `cfg.init` says
/// (`--init`; the K-Means autoencoder, not one of the method's networks, keeps PyTorch's
/// default). Every weight is drawn from the run seed in a fixed order: theta1 first, then the
/// generator (MAXL) or the random labels (Random); the K-Means autoencoder has its own stream.
pub fn compose(cfg: &TrainConfig, train: &Dataset) -> Result<Composition> {
    let backbone = Backbone::parse(&cfg.model)?;
    let [channels, height, width] = train.image_shape();
    let input = InputShape {
        channels,
        height,
        width,
    };
    let hierarchy = hierarchy_for(cfg, train)?;
    let p = train.classes();
    let setup = MaxlSetup {
        multi_task: Net::multi_task(backbone, input, p, hierarchy.total()).with_init(cfg.init),
        generator: Net::label_generator(backbone, input, hierarchy.total()).with_init(cfg.init),
        hierarchy,
        gamma: cfg.focal_gamma,
        entropy_weight: cfg.entropy_weight,
        exact_mask: cfg.exact_mask,
        fd_scale: 0.01,
    };
    let net = match cfg.method {
        Method::Single => Net::single_task(backbone, input, p).with_init(cfg.init),
        _ => setup.multi_task.clone(),
    };
    let mut rng = Rng::new(cfg.seed);
    let mt = net.init(&mut rng)?;
    let h = &setup.hierarchy;
    let strategy: Box<dyn AuxStrategy> = match cfg.method {
        Method::Maxl | Method::MaxlFo => {
            let order = match cfg.method {
                Method::Maxl => MetaOrder::Second,
                _ => MetaOrder::First,
            };
            let generator = setup.generator.init(&mut rng)?;
            let settings = MetaSettings {
                order,
                lr: cfg.gen_lr,
                weight_decay: cfg.gen_weight_decay,
                lookahead: cfg.lookahead,
                samples: train.len(),
            };
            Box::new(MetaLearned::new(settings, generator, h.total())?)
        }
        Method::Single => Box::new(NoAuxiliary),
        Method::Random => Box::new(FixedLabels::random(train, h, &mut rng)),
        Method::Human => Box::new(FixedLabels::human(train, human_level(cfg)?, h)?),
        Method::KMeans => Box::new(Clustered::new(train.image_len(), cfg.seed, h.total())),
    };
    Ok(Composition {
        setup,
        net,
        mt,
        strategy,
    })
}
