//! What a process costs, read from `/proc`: for the benchmarks and the tests that bound
//! ashtray's memory. Linux only, as the tests are.

/// Resident memory of a process, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    proc_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The most resident memory the process has had, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_field(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// Proportional memory of a process, in KiB (`Pss` of `smaps_rollup`): what it costs
/// when processes share libraries, as many copies of one binary do.
pub fn pss_kib(pid: u32) -> u64 {
    proc_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

fn proc_field(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time a process has used, user and system, in clock ticks (`/proc/PID/stat`).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum()
}
