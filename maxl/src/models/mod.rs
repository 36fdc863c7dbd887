//! The networks of MODELS.md: three backbones (ConvNet-4, VGG-16, ResNet-32), the two-layer
//! head, and the three MAXL networks built from them (multi-task, label generator, single).

pub mod backbone;
pub mod blocks;
pub mod convnet4;
pub mod input;
pub mod networks;
pub mod resnet32;
pub mod vgg16;

pub use backbone::Backbone;
pub use blocks::{build_head, head_forward};
pub use input::InputShape;
pub use networks::{Net, NetState};
