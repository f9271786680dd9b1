//! Diagnostic: Strata's policy on one trace with the adaptive window on and off, and the
//! window share it settles at. `cargo run --release -p strata-bench --bin policy_probe -- FILE PCT`

use strata::cache::{PolicyConfig, WTinyLfu};
use strata_bench::traces::read_trace;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("trace file");
    let pct: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let trace = read_trace(std::path::Path::new(&path)).unwrap();
    let capacity = ((trace.distinct() as f64 * pct) / 100.0).round().max(1.0) as u64;
    for (adaptive, window) in [
        (true, 0.01),
        (false, 0.01),
        (false, 0.0),
        (false, 0.2),
        (false, 0.5),
        (false, 0.99),
    ] {
        let mut config = PolicyConfig::entries(capacity);
        config.adaptive = adaptive;
        config.initial_window = window;
        let mut policy = WTinyLfu::new(config);
        let mut evicted = Vec::new();
        let mut hits = 0u64;
        for &k in &trace.keys {
            if policy.record_hit(&k) {
                hits += 1;
            } else {
                policy.record_miss(&k);
                evicted.clear();
                policy.insert(k, 1, &mut evicted);
            }
        }
        println!(
            "{} cap {capacity} adaptive {adaptive} window {window}: hit {:.2} % (final window {:.3})",
            trace.name,
            hits as f64 * 100.0 / trace.keys.len() as f64,
            policy.window_share()
        );
    }
}
