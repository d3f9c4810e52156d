//! Talking to the AYON server.

mod client;
pub mod wire;

pub use client::{AyonClient, AyonError};
