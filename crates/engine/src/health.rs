//! Host health for the heartbeat: CPU and memory use in percent, from `sysinfo`.

use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::ayon::wire::Health;

/// Keeps one `System` between samples: CPU use is measured between two refreshes.
pub struct HealthProbe {
    system: System,
}

impl Default for HealthProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthProbe {
    pub fn new() -> HealthProbe {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        HealthProbe { system }
    }

    /// CPU and memory in percent, clamped to 0..=100 as the server requires.
    pub fn sample(&mut self) -> Health {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let total = self.system.total_memory();
        let mem = if total == 0 {
            0.0
        } else {
            self.system.used_memory() as f64 * 100.0 / total as f64
        };
        Health {
            cpu: round2(self.system.global_cpu_usage() as f64),
            mem: round2(mem),
        }
    }
}

fn round2(percent: f64) -> f64 {
    let clamped = if percent.is_finite() {
        percent.clamp(0.0, 100.0)
    } else {
        0.0
    };
    (clamped * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_percentages_the_server_accepts() {
        let mut probe = HealthProbe::new();
        for _ in 0..2 {
            let health = probe.sample();
            assert!((0.0..=100.0).contains(&health.cpu), "{health:?}");
            assert!(health.mem > 0.0 && health.mem <= 100.0, "{health:?}");
        }
        assert_eq!(round2(f64::NAN), 0.0);
        assert_eq!(round2(150.0), 100.0);
    }
}
