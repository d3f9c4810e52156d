pub mod backoff;
pub mod executor;
pub mod plan;
