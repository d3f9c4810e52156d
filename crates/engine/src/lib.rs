//! ashtray's engine: runs the services an AYON server assigns to this host as Docker or
//! Podman containers. No GUI and no HTTP server here: the binary and the API crate wrap it.

pub mod answer_cache;
pub mod ayon;
pub mod build_info;
pub mod container;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod foreground;
pub mod health;
pub mod history;
pub mod host_loop;
pub mod host_state;
pub mod limits;
pub mod local_services;
pub mod local_stops;
pub mod lock;
pub mod logs;
pub mod reconcile;
pub mod runtime;
pub mod secret;
pub mod slug;
pub(crate) mod sorted_walk;
pub mod spec;
pub mod stats;
pub mod tokens;

#[cfg(test)]
mod testing;

pub use host_loop::{
    spawn, spawn_with, CommandError, Connections, EngineConfig, Handle, Metrics, ServiceDetails,
};
pub use secret::Secret;
