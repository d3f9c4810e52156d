//! ashtray's engine: runs the services an AYON server assigns to this host as Docker or
//! Podman containers. No GUI and no HTTP server here: the binary and the API crate wrap it.

pub mod ayon;
pub mod container;
pub mod engine;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod health;
pub mod host_state;
pub mod lock;
pub mod logs;
pub mod overrides;
pub mod reconcile;
pub mod runtime;
pub mod secret;
pub mod slug;
pub mod spec;
pub mod tokens;

pub use engine::{spawn, CommandError, EngineConfig, Handle, Metrics};
pub use secret::Secret;
