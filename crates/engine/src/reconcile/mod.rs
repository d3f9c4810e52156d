pub mod answer_fingerprint;
pub mod backoff;
pub mod desired;
pub mod executor;
pub mod ownership;
pub mod plan;
