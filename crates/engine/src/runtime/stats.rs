//! One container's resource use from the engine's stats stream: CPU as a share of one
//! core (Docker's own formula, as `docker stats` shows it) and memory in use (without the
//! page cache the kernel gives back when asked, as `docker stats` counts it).

use bollard::models::ContainerStatsResponse;

/// One reading of a container's resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsSample {
    /// Percent of one core (200 is two cores busy), as `docker stats` shows it.
    pub cpu_percent: f64,
    pub mem_bytes: u64,
    /// The container's memory limit; the machine's memory when it has none.
    pub mem_limit_bytes: Option<u64>,
}

/// The reading in one stats message; `None` for a message without the two CPU readings
/// a share needs (the first of a stream has no `precpu_stats` of worth).
pub fn sample_of(stats: &ContainerStatsResponse) -> Option<StatsSample> {
    let cpu = stats.cpu_stats.as_ref()?;
    let pre = stats.precpu_stats.as_ref()?;
    let total = |c: &bollard::models::ContainerCpuStats| c.cpu_usage.as_ref()?.total_usage;
    let cpu_delta = total(cpu)?.checked_sub(total(pre)?)? as f64;
    let system_delta = cpu.system_cpu_usage?.checked_sub(pre.system_cpu_usage?)? as f64;
    if system_delta <= 0.0 {
        return None;
    }
    let cores = cpu.online_cpus.filter(|n| *n > 0).map_or_else(
        || {
            cpu.cpu_usage
                .as_ref()
                .and_then(|u| u.percpu_usage.as_ref())
                .map_or(1, |p| p.len().max(1))
        },
        |n| n as usize,
    ) as f64;
    let memory = stats.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    // cgroup v2 calls the reclaimable page cache `inactive_file`, v1 `total_inactive_file`.
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    Some(StatsSample {
        cpu_percent: cpu_delta / system_delta * cores * 100.0,
        mem_bytes: usage.saturating_sub(cache),
        mem_limit_bytes: memory.and_then(|m| m.limit).filter(|l| *l > 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    fn cpu(total: u64, system: u64) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_is_a_share_of_one_core_and_memory_leaves_out_the_page_cache() {
        let stats = ContainerStatsResponse {
            // 50 of 1000 ns of the machine's two cores: a tenth of one core.
            cpu_stats: Some(cpu(150, 2000)),
            precpu_stats: Some(cpu(100, 1000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(10_000),
                limit: Some(1 << 20),
                stats: Some([("inactive_file".to_string(), 4_000)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sample = sample_of(&stats).unwrap();
        assert!((sample.cpu_percent - 10.0).abs() < 1e-9, "{sample:?}");
        assert_eq!(sample.mem_bytes, 6_000);
        assert_eq!(sample.mem_limit_bytes, Some(1 << 20));
    }

    #[test]
    fn a_message_without_two_readings_gives_no_sample() {
        let first = ContainerStatsResponse {
            cpu_stats: Some(cpu(150, 2000)),
            precpu_stats: Some(ContainerCpuStats::default()),
            ..Default::default()
        };
        assert_eq!(sample_of(&first), None);
    }
}
