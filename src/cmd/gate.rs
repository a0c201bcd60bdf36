//! Pass or fail, the same for a run, a merge and a comparison: the exit code a result earns.

use super::EXIT_THRESHOLD;
use crate::report::Summary;
use crate::report::compare::{Change, Comparison};

/// Why a result fails the gate, if it does: a failed threshold; with no threshold, a failed
/// request or a script error (unless `allow_failures`); a failed relative rule of the
/// comparison, or, with none, a row that got slower.
pub(crate) fn failed(s: &Summary, thresholds_given: bool, allow_failures: bool) -> Option<String> {
    let mut broken = Vec::new();
    let failed_rules: Vec<&str> = s
        .thresholds
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.threshold.as_str())
        .collect();
    if !failed_rules.is_empty() {
        broken.push(format!("thresholds failed: {}", failed_rules.join(", ")));
    }
    if !thresholds_given && !allow_failures {
        let t = &s.totals;
        let mut any = Vec::new();
        if t.failures > 0 {
            any.push(format!("{} of {} requests failed", t.failures, t.requests));
        }
        if t.script_errors > 0 {
            any.push(format!("{} script errors", t.script_errors));
        }
        if !any.is_empty() {
            broken.push(format!(
                "{} (with no --threshold, any failure fails; --allow-failures or a threshold \
                 such as errors<1% decides otherwise)",
                any.join(" and ")
            ));
        }
    }
    if let Some(c) = &s.comparison {
        broken.extend(comparison_failed(c));
    }
    (!broken.is_empty()).then(|| broken.join("; "))
}

/// Why a comparison fails: its failed relative rules, or with none, its slower rows.
pub(crate) fn comparison_failed(c: &Comparison) -> Option<String> {
    if !c.rules.is_empty() {
        let failed: Vec<&str> = c
            .rules
            .iter()
            .filter(|v| !v.passed)
            .map(|v| v.threshold.as_str())
            .collect();
        return (!failed.is_empty())
            .then(|| format!("relative thresholds failed: {}", failed.join(", ")));
    }
    let slower: Vec<&str> = c
        .rows
        .iter()
        .filter(|r| r.change == Change::Slower)
        .map(|r| r.name.as_str())
        .collect();
    (!slower.is_empty()).then(|| {
        format!(
            "slower than {}: {} (with no relative --threshold, any slower row fails)",
            c.base,
            slower.join(", ")
        )
    })
}

/// The exit code for a gate's outcome: 0, or 3 with the reason printed.
pub(crate) fn exit(reason: Option<String>) -> u8 {
    match reason {
        Some(why) => {
            eprintln!("failed: {why}");
            EXIT_THRESHOLD
        }
        None => 0,
    }
}
