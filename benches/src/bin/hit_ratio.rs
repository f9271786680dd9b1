//! Hit-ratio report: every trace in a folder, at 1 %, 5 % and 10 % of its distinct keys,
//! through Strata's raw policy, its product paths (`MemoryCache` and `Tiered` through the
//! `StorageBackend` trait) and its peers, against Belady's optimum.
//!
//! ```text
//! cargo run --release -p strata-bench --bin hit_ratio -- [TRACES_DIR] [--csv FILE] [--plots DIR]
//! ```
//! TRACES_DIR defaults to `../shared/traces`; plots (SVG, one per trace) go to `docs/plots`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plotters::prelude::*;
use strata_bench::opt::opt_hit_ratio;
use strata_bench::peers::{self, hit_ratio};
use strata_bench::traces::{Trace, is_trace, read_trace};

const SIZES_PCT: [u32; 3] = [1, 5, 10];

struct Args {
    dir: PathBuf,
    csv: Option<PathBuf>,
    plots: PathBuf,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: PathBuf::from("../shared/traces"),
        csv: None,
        plots: PathBuf::from("docs/plots"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--csv" => args.csv = Some(PathBuf::from(it.next().expect("--csv FILE"))),
            "--plots" => args.plots = PathBuf::from(it.next().expect("--plots DIR")),
            "-h" | "--help" => {
                println!("usage: hit_ratio [TRACES_DIR] [--csv FILE] [--plots DIR]");
                std::process::exit(0);
            }
            dir => args.dir = PathBuf::from(dir),
        }
    }
    args
}

/// (trace, size %) -> policy -> hit ratio
type Results = BTreeMap<(String, u32), BTreeMap<String, f64>>;

fn main() {
    let args = parse_args();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .unwrap_or_else(|e| panic!("{}: {e}", args.dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| is_trace(p))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no trace in {}", args.dir.display());
    let traces: Vec<(Trace, usize)> = paths
        .iter()
        .map(|p| {
            let t = read_trace(p).unwrap_or_else(|e| panic!("{e}"));
            let distinct = t.distinct();
            eprintln!(
                "{}: {} requests, {} distinct keys",
                t.name,
                t.keys.len(),
                distinct
            );
            (t, distinct)
        })
        .collect();

    // Jobs: (trace, size, policy index or None for OPT), run on every core.
    let policy_names: Vec<&'static str> = peers::all(1).iter().map(|p| p.name()).collect();
    let mut jobs = Vec::new();
    for (ti, _) in traces.iter().enumerate() {
        for &pct in &SIZES_PCT {
            jobs.push((ti, pct, None));
            for pi in 0..policy_names.len() {
                jobs.push((ti, pct, Some(pi)));
            }
        }
    }
    let jobs = Mutex::new(jobs);
    let results: Mutex<Results> = Mutex::new(BTreeMap::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let Some((ti, pct, policy)) = jobs.lock().unwrap().pop() else {
                        break;
                    };
                    let (trace, distinct) = &traces[ti];
                    let capacity = ((*distinct as u64 * u64::from(pct)) as f64 / 100.0)
                        .round()
                        .max(1.0) as usize;
                    let (name, ratio) = match policy {
                        None => ("opt".to_string(), opt_hit_ratio(&trace.keys, capacity)),
                        Some(pi) => {
                            let mut cache = peers::all(capacity).swap_remove(pi);
                            (
                                cache.name().to_string(),
                                hit_ratio(cache.as_mut(), &trace.keys),
                            )
                        }
                    };
                    eprintln!(
                        "  {:<10} {:>3}% ({capacity:>6} entries) {:<13} {:6.2} %",
                        trace.name,
                        pct,
                        name,
                        ratio * 100.0
                    );
                    results
                        .lock()
                        .unwrap()
                        .entry((trace.name.clone(), pct))
                        .or_default()
                        .insert(name, ratio);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    print_table(&results, &policy_names);
    if let Some(csv) = &args.csv {
        write_csv(csv, &results);
    }
    std::fs::create_dir_all(&args.plots).expect("plots dir");
    for (trace, _) in &traces {
        plot(&args.plots, &trace.name, &results, &policy_names);
    }
}

/// Strata's columns: the raw policy and the product paths; every other column is a peer.
const STRATA: [(&str, &str); 3] = [
    ("strata", "policy"),
    ("strata_cache", "cache"),
    ("strata_tiered", "tiered"),
];

fn is_strata(policy: &str) -> bool {
    STRATA.iter().any(|(name, _)| *name == policy)
}

fn print_table(results: &Results, policies: &[&str]) {
    print!("| trace | size | OPT |");
    for p in policies {
        print!(" {p} |");
    }
    print!(" best peer |");
    for (_, short) in STRATA {
        print!(" {short} − best |");
    }
    println!();
    print!("|---|---:|---:|");
    for _ in policies {
        print!("---:|");
    }
    print!("---|");
    for _ in STRATA {
        print!("---:|");
    }
    println!();
    let mut gaps: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut worst: BTreeMap<&str, (f64, String)> = BTreeMap::new();
    for ((trace, pct), row) in results {
        let opt = row["opt"];
        print!("| {trace} | {pct} % | {:.2} |", opt * 100.0);
        for p in policies {
            print!(" {:.2} |", row[*p] * 100.0);
            gaps.entry(p).or_default().push(opt - row[*p]);
        }
        let (best_name, best) = policies
            .iter()
            .filter(|p| !is_strata(p))
            .map(|p| (*p, row[*p]))
            .fold(
                ("", f64::NEG_INFINITY),
                |a, b| if b.1 > a.1 { b } else { a },
            );
        print!(" {best_name} {:.2} |", best * 100.0);
        for (name, _) in STRATA {
            let diff = (row[name] - best) * 100.0;
            print!(" {diff:+.2} |");
            let entry = worst
                .entry(name)
                .or_insert((f64::NEG_INFINITY, String::new()));
            if -diff > entry.0 {
                *entry = (-diff, format!("{trace} {pct} %, behind {best_name}"));
            }
        }
        println!();
    }
    println!("\nMean gap to OPT (percentage points, lower is better):\n");
    println!("| policy | mean gap |");
    println!("|---|---:|");
    let mut by_gap: Vec<(&str, f64)> = gaps
        .iter()
        .map(|(p, g)| (*p, g.iter().sum::<f64>() / g.len() as f64 * 100.0))
        .collect();
    by_gap.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (p, g) in &by_gap {
        println!("| {p} | {g:.2} |");
    }
    let best_peer_gap = by_gap
        .iter()
        .filter(|(p, _)| !is_strata(p))
        .map(|(_, g)| *g)
        .fold(f64::INFINITY, f64::min);
    println!(
        "\nAgainst the bar (within 1 point of the best peer on every cell; smallest mean gap):\n"
    );
    for (name, _) in STRATA {
        let (shortfall, cell) = &worst[name];
        let gap = by_gap
            .iter()
            .find(|(p, _)| *p == name)
            .map_or(f64::NAN, |g| g.1);
        let met = *shortfall <= 1.0 && gap < best_peer_gap;
        println!(
            "- {name}: largest shortfall {:.2} points ({cell}); mean gap {gap:.2} vs best peer {best_peer_gap:.2}: {}",
            shortfall.max(0.0),
            if met { "met" } else { "NOT met" }
        );
    }
}

fn write_csv(path: &Path, results: &Results) {
    let mut out = String::from("trace,size_pct,policy,hit_ratio\n");
    for ((trace, pct), row) in results {
        for (policy, ratio) in row {
            out.push_str(&format!("{trace},{pct},{policy},{ratio:.6}\n"));
        }
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn plot(dir: &Path, trace: &str, results: &Results, policies: &[&str]) {
    let path = dir.join(format!("hit_ratio_{trace}.svg"));
    let root = SVGBackend::new(&path, (720, 480)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let ymax = SIZES_PCT
        .iter()
        .filter_map(|p| results.get(&(trace.to_string(), *p)))
        .flat_map(|row| row.values().copied())
        .fold(0.0f64, f64::max)
        * 100.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{trace}: hit ratio vs cache size"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0f64..11.0, 0.0f64..(ymax * 1.1).max(1.0))
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("cache size, % of distinct keys")
        .y_desc("hit ratio, %")
        .draw()
        .unwrap();
    let mut names: Vec<&str> = vec!["opt"];
    names.extend_from_slice(policies);
    for (i, name) in names.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = if is_strata(name) {
            color.stroke_width(3)
        } else {
            color.stroke_width(1)
        };
        let points: Vec<(f64, f64)> = SIZES_PCT
            .iter()
            .filter_map(|p| {
                results
                    .get(&(trace.to_string(), *p))
                    .map(|row| (f64::from(*p), row[*name] * 100.0))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, style))
            .unwrap()
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .unwrap();
    root.present().unwrap();
}
