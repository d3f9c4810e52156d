//! Prints what one steady tick of the host loop costs at 100, 1 000 and 10 000 services,
//! against the in-memory container engine (no Docker, no network: the loop alone).
//!
//! cargo run --release -p ashtray-engine --features memory-runtime --example tick_cost
//! Arguments: service counts (default 100 1000 10000).

use std::time::Duration;

use ashtray_engine::host_loop::tick_cost;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a service count"))
        .collect();
    let counts = if counts.is_empty() {
        vec![100, 1_000, 10_000]
    } else {
        counts
    };
    // More passes for a profiler: `TICK_PASSES=200 perf record ...`.
    let passes: usize = std::env::var("TICK_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
    println!("medians of {passes} steady ticks; pass = observe + answer + plan + publish (parse is the heartbeat task's, off the loop)");
    println!(
        "services  observe_ms  parse_ms  answer_ms  plan_ms  publish_ms  pass_ms  fastest_pass_ms"
    );
    for services in counts {
        let cost = tick_cost::measure(services, passes).await;
        println!(
            "{:>8}  {:>10}  {:>8}  {:>9}  {:>7}  {:>10}  {:>7}  {:>15}",
            cost.services,
            ms(cost.observe),
            ms(cost.parse),
            ms(cost.answer),
            ms(cost.plan),
            ms(cost.publish),
            ms(cost.total),
            ms(cost.fastest)
        );
    }
}
