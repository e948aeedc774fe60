//! Figures and the table: each scenario yields rows (our figure, and the peer's from the same run); three runs
//! give min/median/max of each, and the ratio of the medians.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// One figure of one run.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub measure: String,
    pub unit: &'static str,
    pub better: Better,
    pub ours: f64,
    /// The peer's name and figure, measured in the same run.
    pub peer: Option<(String, f64)>,
}

pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let median = if values.len() % 2 == 1 {
        values[values.len() / 2]
    } else {
        (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
    };
    (values[0], median, values[values.len() - 1])
}

fn figure(value: f64) -> String {
    if !value.is_finite() {
        "—".to_owned()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn min_median_max((min, median, max): (f64, f64, f64)) -> String {
    format!("{} / **{}** / {}", figure(min), figure(median), figure(max))
}

/// The Markdown table of all runs' rows: one line per figure, in the order first seen.
pub fn table(rows: &[Row]) -> String {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut grouped: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let key = (row.scenario.clone(), row.measure.clone());
        if !grouped.contains_key(&key) {
            order.push(key.clone());
        }
        grouped.entry(key).or_default().push(row);
    }
    let mut out = String::from(
        "| scenario | measure | clusterconfig (min / **median** / max) | peer | peer (min / **median** / max) | ratio (ours / peer, medians) |\n|---|---|---|---|---|---|\n",
    );
    for key in order {
        let runs = &grouped[&key];
        let unit = runs[0].unit;
        let better = runs[0].better;
        let mut ours: Vec<f64> = runs.iter().map(|r| r.ours).collect();
        let ours = spread(&mut ours);
        let peer_name = runs[0].peer.as_ref().map(|(name, _)| name.clone());
        let mut peers: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.peer.as_ref().map(|(_, v)| *v))
            .collect();
        let (peer_cell, ratio_cell) = match (&peer_name, peers.is_empty()) {
            (Some(name), false) => {
                let peer = spread(&mut peers);
                let ratio = ours.1 / peer.1;
                let judgement = match (better, ratio) {
                    (Better::Higher, r) if r >= 1.0 => "at or above the peer",
                    (Better::Lower, r) if r <= 1.0 => "at or below the peer",
                    _ => "behind the peer",
                };
                (
                    format!("{name} | {} {unit}", min_median_max(peer)),
                    format!("{ratio:.2} ({judgement})"),
                )
            }
            _ => ("— | —".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {} ({unit}, {}) | {} {unit} | {peer_cell} | {ratio_cell} |",
            key.0,
            key.1,
            match better {
                Better::Lower => "lower is better",
                Better::Higher => "higher is better",
            },
            min_median_max(ours),
        );
    }
    out
}
