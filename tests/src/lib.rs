//! Test support for ashtray's end-to-end tests: the fake AYON server, locally built
//! images and helpers to run the real `ashtray` binary against real dockerd.

pub mod api_client;
pub mod ash;
pub mod bench;
pub mod debian_root;
pub mod desktop;
pub mod docker_proxy;
pub mod fake_ayon;
pub mod fleet;
pub mod fresh_dockerd;
pub mod harness;
pub mod images;
pub mod podman_cases;
pub mod podman_service;
pub mod proc_stats;
pub mod registry;
pub mod rootless;
pub mod world;
