//! fluxConfigurations: the Flux v2 configurations of a cluster.

pub mod spec;
pub mod wire;

pub use spec::{FluxConfigSpec, FluxWrite, Source, SourceSecret};

#[cfg(test)]
mod tests;
