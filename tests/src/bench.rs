//! What the benchmark examples share: their numeric arguments and the line that says
//! on what machine and when they ran.

/// The program's arguments that are numbers, in order (others are skipped).
pub fn number_args() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// `2 cores, load 1.2 0.9 0.8, 2026-12-02 03:25 UTC`: for the figures' record.
pub fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%F %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{} cores, load {}, {date}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}
