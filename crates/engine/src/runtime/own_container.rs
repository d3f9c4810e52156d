//! The container this process runs in, when it runs in one: ash's `get_local_info`. Its
//! networks are where services go by default (the first, as ash takes it), its address on
//! that network is where they reach the services' API, and its `/storage*` mounts are
//! handed on to every service.
//!
//! Which container it is: the engine names it in the source of `/etc/hostname`, which
//! Docker and Podman bind-mount from the container's own directory
//! (`.../containers/<id>/hostname`, `.../overlay-containers/<id>/userdata/hostname`).
//! That holds with a `hostname:` of its own (`worker01`), where asking the engine for the
//! container named like the host name finds nothing. The host name is the fallback
//! (the engine knows a container by its short id, the default host name).
//! [`container_id_from_mountinfo`] and [`OwnContainer::from_inspect`] decide and are pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bollard::models::ContainerInspectResponse;

/// What services inherit from the container ashtray runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnContainer {
    pub id: String,
    /// Each network the container is on, with its IPv4 address there when it has one.
    pub networks: BTreeMap<String, Option<IpAddr>>,
    /// Its bind mounts and volumes as `source:target[:ro]`, as `docker run -v` takes them.
    pub mounts: Vec<String>,
}

impl OwnContainer {
    /// Read from the engine's inspect of the container.
    pub fn from_inspect(inspect: &ContainerInspectResponse) -> OwnContainer {
        let networks = inspect
            .network_settings
            .as_ref()
            .and_then(|settings| settings.networks.as_ref())
            .map(|networks| {
                networks
                    .iter()
                    .map(|(name, endpoint)| {
                        let address = endpoint
                            .ip_address
                            .as_deref()
                            .and_then(|ip| ip.parse().ok());
                        (name.clone(), address)
                    })
                    .collect()
            })
            .unwrap_or_default();
        // `Mounts` rather than ash's `HostConfig.Binds`: it holds the long `--mount` syntax
        // (compose's `type: bind`) as well as `-v`.
        let mounts = inspect
            .mounts
            .iter()
            .flatten()
            .filter_map(|mount| {
                let source = match mount.typ.as_deref() {
                    Some("bind") => mount.source.as_deref()?,
                    Some("volume") => mount.name.as_deref()?,
                    _ => return None,
                };
                let target = mount.destination.as_deref()?;
                let read_only = mount.rw == Some(false);
                Some(format!(
                    "{source}:{target}{}",
                    if read_only { ":ro" } else { "" }
                ))
            })
            .collect();
        OwnContainer {
            id: inspect.id.clone().unwrap_or_default(),
            networks,
            mounts,
        }
    }

    /// The network services join when none is configured: the first, as ash takes it
    /// (the engine lists them by name).
    pub fn first_network(&self) -> Option<&str> {
        self.networks.keys().next().map(String::as_str)
    }

    /// This container's address on `network`, where services on it reach its API.
    pub fn address_on(&self, network: &str) -> Option<IpAddr> {
        self.networks.get(network).copied().flatten()
    }
}

/// The id of the container whose `/etc/hostname` this mount table shows, if any: on a
/// bare host `/etc/hostname` is no mount (the engine's own mounts of other containers,
/// their `shm`, never sit on `/etc/hostname`).
pub fn container_id_from_mountinfo(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        // id parent major:minor root mount-point ...
        let mut fields = line.split_whitespace();
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        if mount_point != "/etc/hostname" {
            return None;
        }
        root.split('/')
            .find(|part| part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EndpointSettings, MountPoint, NetworkSettings};
    use std::collections::HashMap;

    const ID: &str = "3f4e1b0c9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    #[test]
    fn docker_and_podman_name_the_container_in_the_source_of_etc_hostname() {
        let docker = format!(
            "612 598 0:32 / / rw,relatime - overlay overlay rw\n\
             630 612 254:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda1 rw\n\
             631 612 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&docker).as_deref(), Some(ID));
        let podman = format!(
            "700 600 0:50 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&podman).as_deref(), Some(ID));
    }

    #[test]
    fn a_bare_host_is_in_no_container_even_with_containers_shm_mounted() {
        let host = format!(
            "25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
             90 25 0:48 / /var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&host), None);
        // A hostname file mounted without an id (a chroot, a sandbox) names none either.
        assert_eq!(
            container_id_from_mountinfo("5 1 0:1 /srv/hostname /etc/hostname rw - ext4 x rw"),
            None
        );
    }

    fn inspect(mounts: Vec<MountPoint>) -> ContainerInspectResponse {
        let endpoint = |ip: &str| EndpointSettings {
            ip_address: Some(ip.to_string()),
            ..Default::default()
        };
        ContainerInspectResponse {
            id: Some(ID.into()),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([
                    ("stack_default".to_string(), endpoint("10.9.0.5")),
                    ("backend".to_string(), endpoint("")),
                ])),
                ..Default::default()
            }),
            mounts: Some(mounts),
            ..Default::default()
        }
    }

    fn mount(typ: &str, name: Option<&str>, source: &str, target: &str, rw: bool) -> MountPoint {
        MountPoint {
            typ: Some(typ.into()),
            name: name.map(String::from),
            source: Some(source.into()),
            destination: Some(target.into()),
            rw: Some(rw),
            ..Default::default()
        }
    }

    #[test]
    fn mounts_read_back_as_docker_run_takes_them() {
        let own = OwnContainer::from_inspect(&inspect(vec![
            mount("bind", None, "/mnt/projects", "/storage", true),
            mount("bind", None, "/mnt/refs", "/storage-refs", false),
            mount(
                "volume",
                Some("cache"),
                "/var/lib/docker/volumes/cache/_data",
                "/storage/cache",
                true,
            ),
            mount("tmpfs", None, "", "/run/scratch", true),
        ]));
        assert_eq!(
            own.mounts,
            [
                "/mnt/projects:/storage",
                "/mnt/refs:/storage-refs:ro",
                "cache:/storage/cache"
            ]
        );
    }

    #[test]
    fn services_go_to_the_first_network_by_name_and_reach_it_at_its_address() {
        let own = OwnContainer::from_inspect(&inspect(Vec::new()));
        assert_eq!(own.first_network(), Some("backend"));
        assert_eq!(own.address_on("backend"), None);
        assert_eq!(
            own.address_on("stack_default"),
            Some("10.9.0.5".parse().unwrap())
        );
        assert_eq!(own.address_on("elsewhere"), None);
    }
}
