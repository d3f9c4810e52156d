pub mod backoff;
pub mod executor;
pub mod ownership;
pub mod plan;
