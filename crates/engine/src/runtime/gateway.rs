//! Where containers on a network reach this machine: the address the services' own API
//! listens on. Decided here, and only here, from the engine's network inspect and this
//! machine's interface addresses.
//!
//! The inspect's IPAM `Gateway` cannot be trusted alone: a dockerd started for the first
//! time (no network store yet) shows its bridge's subnet but no gateway until it is
//! restarted. What containers route through is the address of the bridge interface
//! itself, which dockerd names in the network's options; Podman's Docker-compatible
//! answer names no interface but always gives the gateway. Docker gives a bridge the
//! subnet's first host when it picks the address itself: the last resort.
//!
//! [`host_address`] decides and is pure; [`interface_addresses`] reads the machine.

use std::net::{IpAddr, Ipv4Addr};

use bollard::models::NetworkInspect;

/// The network option in which dockerd names a bridge network's Linux interface.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// One IPv4 address of one network interface of this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub interface: String,
    pub address: Ipv4Addr,
}

/// The address containers on `network` reach this machine on: the address of the bridge
/// interface the network names, else its IPAM gateway, else the first host of its IPv4
/// subnet. `None` when the inspect gives none of these.
pub fn host_address(network: &NetworkInspect, interfaces: &[InterfaceAddress]) -> Option<IpAddr> {
    let configs = network
        .ipam
        .as_ref()
        .and_then(|ipam| ipam.config.as_deref())
        .unwrap_or_default();
    let subnets: Vec<Subnet> = configs
        .iter()
        .filter_map(|config| Subnet::parse(config.subnet.as_deref()?))
        .collect();
    let bridge = network
        .options
        .as_ref()
        .and_then(|options| options.get(BRIDGE_NAME_OPTION));
    if let Some(bridge) = bridge {
        let on_bridge: Vec<Ipv4Addr> = interfaces
            .iter()
            .filter(|a| &a.interface == bridge)
            .map(|a| a.address)
            .collect();
        // A bridge may carry more than one address; the one in the network's subnet is
        // the one its containers route through.
        let in_subnet = on_bridge
            .iter()
            .find(|address| subnets.iter().any(|s| s.contains(**address)));
        if let Some(address) = in_subnet.or(on_bridge.first()) {
            return Some(IpAddr::V4(*address));
        }
    }
    let gateway = configs
        .iter()
        .filter_map(|config| config.gateway.as_deref()?.parse().ok())
        .next();
    gateway.or_else(|| subnets.iter().find_map(Subnet::first_host).map(IpAddr::V4))
}

/// An IPv4 subnet as IPAM writes it, `172.17.0.0/16`.
#[derive(Debug, Clone, Copy)]
struct Subnet {
    network: u32,
    prefix: u32,
}

impl Subnet {
    fn parse(text: &str) -> Option<Subnet> {
        let (address, prefix) = text.split_once('/')?;
        let address: Ipv4Addr = address.trim().parse().ok()?;
        let prefix: u32 = prefix.trim().parse().ok().filter(|p| *p <= 32)?;
        let subnet = Subnet { network: 0, prefix };
        Some(Subnet {
            network: u32::from(address) & subnet.mask(),
            prefix,
        })
    }

    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0)
    }

    fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == self.network
    }

    /// The address after the network's own: what Docker gives a bridge it addresses
    /// itself. A /31 or /32 has no such host.
    fn first_host(&self) -> Option<Ipv4Addr> {
        (self.prefix <= 30).then(|| Ipv4Addr::from(self.network + 1))
    }
}

/// Where a rootless Podman's containers reach this machine. Their network lives in the
/// user's own namespace (slirp4netns), not on a bridge of this machine, and Podman writes
/// `host.containers.internal` as this machine's first global IPv4 address (loopback and
/// link-local skipped, in the interfaces' order: 4.3 wrote eth0's 192.0.2.2 here, before
/// docker0's and cni-podman0's): the services' API listens there. `None` on a machine
/// with no such address.
pub fn rootless_host_address(interfaces: &[InterfaceAddress]) -> Option<IpAddr> {
    interfaces
        .iter()
        .map(|i| i.address)
        .find(|a| !a.is_loopback() && !a.is_link_local() && !a.is_unspecified())
        .map(IpAddr::V4)
}

/// Whether this process runs as a user other than root: with Podman, that is rootless
/// Podman (Podman's Docker-compatible `/info` does not say so itself). Root driving a
/// user's rootless socket is not told apart: it is taken for rootful.
pub fn running_as_user() -> bool {
    #[cfg(unix)]
    {
        !nix::unistd::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Every IPv4 address of this machine's interfaces (getifaddrs). Empty where it cannot be
/// read: [`host_address`] then goes by the inspect alone.
pub fn interface_addresses() -> Vec<InterfaceAddress> {
    #[cfg(unix)]
    {
        match nix::ifaddrs::getifaddrs() {
            Ok(addresses) => addresses
                .filter_map(|entry| {
                    let address = entry.address?.as_sockaddr_in()?.ip();
                    Some(InterfaceAddress {
                        interface: entry.interface_name,
                        address,
                    })
                })
                .collect(),
            Err(error) => {
                tracing::debug!("cannot list this machine's interface addresses: {error}");
                Vec::new()
            }
        }
    }
    #[cfg(not(unix))]
    {
        // Docker Desktop's bridge lives in its VM, not on this machine's interfaces.
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{Ipam, IpamConfig};

    use super::*;

    fn network(
        bridge: Option<&str>,
        subnet: Option<&str>,
        gateway: Option<&str>,
    ) -> NetworkInspect {
        NetworkInspect {
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: subnet.map(str::to_string),
                    gateway: gateway.map(str::to_string),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            options: bridge
                .map(|name| HashMap::from([(BRIDGE_NAME_OPTION.to_string(), name.to_string())])),
            ..Default::default()
        }
    }

    fn on(interface: &str, address: &str) -> InterfaceAddress {
        InterfaceAddress {
            interface: interface.into(),
            address: address.parse().unwrap(),
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_first_started_dockerd_without_gateway_is_found_by_its_bridge_interface() {
        // As `docker network inspect bridge` shows it on a dockerd's first start.
        let inspect = network(Some("docker0"), Some("172.17.0.0/16"), None);
        let interfaces = [
            on("lo", "127.0.0.1"),
            on("docker0", "172.17.0.1"),
            on("eth0", "192.0.2.2"),
        ];
        assert_eq!(host_address(&inspect, &interfaces), ip("172.17.0.1"));
    }

    #[test]
    fn the_bridge_interface_wins_over_a_gateway_field_that_disagrees() {
        // `--bridge` with an address the operator chose that is not the subnet's first.
        let inspect = network(Some("br-work"), Some("10.20.0.0/24"), Some("10.20.0.1"));
        let interfaces = [on("br-work", "10.20.0.77")];
        assert_eq!(host_address(&inspect, &interfaces), ip("10.20.0.77"));
    }

    #[test]
    fn of_several_bridge_addresses_the_one_in_the_subnet_is_taken() {
        let inspect = network(Some("docker0"), Some("172.17.0.0/16"), None);
        let interfaces = [on("docker0", "192.168.99.1"), on("docker0", "172.17.0.1")];
        assert_eq!(host_address(&inspect, &interfaces), ip("172.17.0.1"));
        // None in the subnet: still the bridge's own address rather than a guess.
        let elsewhere = [on("docker0", "192.168.99.1")];
        assert_eq!(host_address(&inspect, &elsewhere), ip("192.168.99.1"));
    }

    #[test]
    fn podman_names_no_interface_and_gives_its_gateway() {
        // Podman 4.3's Docker-compatible inspect of `podman`: no options at all.
        let inspect = network(None, Some("10.88.0.0/16"), Some("10.88.0.1"));
        assert_eq!(host_address(&inspect, &[]), ip("10.88.0.1"));
    }

    #[test]
    fn a_bridge_interface_not_there_falls_back_to_the_gateway_then_the_subnet() {
        let with_gateway = network(Some("docker0"), Some("172.17.0.0/16"), Some("172.17.0.1"));
        assert_eq!(host_address(&with_gateway, &[]), ip("172.17.0.1"));
        let subnet_only = network(Some("docker0"), Some("10.213.47.0/24"), None);
        let unrelated = [on("eth0", "192.0.2.2")];
        assert_eq!(host_address(&subnet_only, &unrelated), ip("10.213.47.1"));
        // A subnet written with host bits set still gives the network's first host.
        let sloppy = network(None, Some("10.1.2.3/16"), None);
        assert_eq!(host_address(&sloppy, &[]), ip("10.1.0.1"));
    }

    #[test]
    fn an_inspect_without_any_address_gives_none() {
        assert_eq!(host_address(&NetworkInspect::default(), &[]), None);
        let ipv6_only = network(None, Some("fd00::/64"), None);
        assert_eq!(host_address(&ipv6_only, &[]), None);
        let point_to_point = network(None, Some("10.0.0.0/31"), None);
        assert_eq!(host_address(&point_to_point, &[]), None);
        let garbage = network(None, Some("not a subnet"), Some("nor a gateway"));
        assert_eq!(host_address(&garbage, &[]), None);
    }

    #[test]
    fn this_machine_lists_its_loopback_address() {
        let addresses = interface_addresses();
        assert!(
            addresses.iter().any(|a| a.address == Ipv4Addr::LOCALHOST),
            "{addresses:?}"
        );
    }

    #[test]
    fn rootless_podman_is_reached_at_the_first_global_address_as_podman_writes_it() {
        let interfaces = [
            iface("lo", [127, 0, 0, 1]),
            iface("eth0", [169, 254, 3, 4]),
            iface("eth1", [192, 0, 2, 2]),
            iface("docker0", [172, 17, 0, 1]),
        ];
        assert_eq!(
            rootless_host_address(&interfaces),
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
        );
        assert_eq!(rootless_host_address(&interfaces[..2]), None);
    }

    fn iface(name: &str, octets: [u8; 4]) -> InterfaceAddress {
        InterfaceAddress {
            interface: name.to_string(),
            address: Ipv4Addr::from(octets),
        }
    }
}
