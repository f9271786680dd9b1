//! The side-by-side results: a markdown table on stdout, a CSV, and an SVG of each store's
//! time relative to the fastest store of each phase.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

/// What a phase measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Wall time, in milliseconds (lower is better).
    Millis,
    /// Bytes on disk (lower is better).
    Bytes,
}

/// One phase's readings, one per store, in the stores' order.
#[derive(Clone, Debug)]
pub struct Row {
    /// The phase, as the table names it.
    pub phase: String,
    /// What the readings are.
    pub unit: Unit,
    /// One reading per store.
    pub values: Vec<f64>,
}

/// All phases for all stores.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The stores' names, in column order.
    pub stores: Vec<&'static str>,
    /// The phases, in the order run.
    pub rows: Vec<Row>,
}

impl Results {
    fn column(&self, name: &str) -> Option<usize> {
        self.stores.iter().position(|s| *s == name)
    }

    /// `store`'s reading over the best of the stores that are not Strata's, for `row`.
    fn over_best_peer(&self, row: &Row, store: usize) -> Option<f64> {
        let best = self
            .stores
            .iter()
            .zip(&row.values)
            .filter(|(s, _)| !s.starts_with("strata"))
            .map(|(_, v)| *v)
            .fold(f64::INFINITY, f64::min);
        best.is_finite().then(|| row.values[store] / best)
    }

    /// A markdown table: one column per store, then Strata's ratios.
    pub fn markdown(&self) -> String {
        let redb = self.column("redb");
        let strata_redb = self.column("strata redb");
        let tiered = self.column("strata tiered");
        let mut out = String::from("| phase |");
        for s in &self.stores {
            write!(out, " {s} |").unwrap();
        }
        out.push_str(" strata redb ÷ redb | strata tiered ÷ best peer |\n|---|");
        for _ in 0..self.stores.len() + 2 {
            out.push_str("---:|");
        }
        out.push('\n');
        for row in &self.rows {
            write!(out, "| {} |", row.phase).unwrap();
            for v in &row.values {
                match row.unit {
                    Unit::Millis => write!(out, " {v:.0} ms |").unwrap(),
                    Unit::Bytes => write!(out, " {:.1} MiB |", v / (1 << 20) as f64).unwrap(),
                }
            }
            match (strata_redb, redb) {
                (Some(s), Some(r)) => write!(out, " {:.2}× |", row.values[s] / row.values[r]),
                _ => write!(out, " – |"),
            }
            .unwrap();
            match tiered.and_then(|t| self.over_best_peer(row, t)) {
                Some(x) => writeln!(out, " {x:.2}× |"),
                None => writeln!(out, " – |"),
            }
            .unwrap();
        }
        out
    }

    /// `phase,store,value,unit` lines.
    pub fn csv(&self) -> String {
        let mut out = String::from("phase,store,value,unit\n");
        for row in &self.rows {
            for (s, v) in self.stores.iter().zip(&row.values) {
                let unit = match row.unit {
                    Unit::Millis => "ms",
                    Unit::Bytes => "bytes",
                };
                writeln!(out, "\"{}\",{s},{v:.3},{unit}", row.phase).unwrap();
            }
        }
        out
    }

    /// Grouped bars: per phase, each store's reading over the phase's best (1 = fastest),
    /// on a log scale.
    pub fn svg(&self, path: &Path) {
        let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let phases = self.rows.len();
        let stores = self.stores.len().max(1);
        let ratio = |row: &Row, i: usize| {
            let best = row.values.iter().copied().fold(f64::INFINITY, f64::min);
            (row.values[i] / best).max(1.0)
        };
        let top = self
            .rows
            .iter()
            .flat_map(|r| (0..stores).map(move |i| (r, i)))
            .map(|(r, i)| ratio(r, i))
            .fold(2.0f64, f64::max)
            * 1.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "time (or size) relative to the best store of each phase; lower is better",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(90)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..phases as f64, (0.9f64..top).log_scale())
            .unwrap();
        let labels: Vec<String> = self.rows.iter().map(|r| short(&r.phase)).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(phases * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                    labels[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc("× best")
            .draw()
            .unwrap();
        let width = 0.8 / stores as f64;
        for (i, name) in self.stores.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let bars = self.rows.iter().enumerate().map(|(p, row)| {
                let x0 = p as f64 + 0.1 + width * i as f64;
                Rectangle::new([(x0, 0.9), (x0 + width, ratio(row, i))], color.filled())
            });
            chart
                .draw_series(bars)
                .unwrap()
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .unwrap();
        root.present().unwrap();
    }
}

/// A phase's name without its parenthesised detail, for the plot's axis.
fn short(phase: &str) -> String {
    phase.split(" (").next().unwrap_or(phase).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ratios_compare_with_raw_redb_and_the_best_peer() {
        let results = Results {
            stores: vec!["redb", "lmdb", "strata redb", "strata tiered"],
            rows: vec![Row {
                phase: "random reads (x)".into(),
                unit: Unit::Millis,
                values: vec![100.0, 50.0, 120.0, 75.0],
            }],
        };
        let md = results.markdown();
        assert!(md.contains("| 1.20× | 1.50× |"), "{md}");
        assert!(
            results
                .csv()
                .contains("\"random reads (x)\",lmdb,50.000,ms")
        );
    }
}
