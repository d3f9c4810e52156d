//! Talking to the AYON server.

mod client;
mod server_api;
pub mod wire;

pub use client::{AyonClient, AyonError};
pub use server_api::ServerApi;
