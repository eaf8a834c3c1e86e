//! Runs a whole network from a Plan (JSON; its schema is defined once, in
//! python/leanconv/runtime/plan.py): [`plan`] parses and checks it, [`arena`] places the
//! activations, [`executor`] packs the weights once and runs the steps over one arena.
pub mod arena;
pub mod executor;
mod ops;
pub mod plan;

pub use executor::{Clock, Executor};
pub use ops::conv_transpose_sizes;
pub use plan::Plan;
