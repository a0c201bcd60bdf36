//! The table's lines on Telegram's rules and the chaos phase: what the flood limits counted,
//! the faults injected, redeliveries, and the resilience section, one line per fault window.

use std::fmt::Write;

use crate::profile::chaos::FloodMode;
use crate::report::{FloodReport, Summary};

/// `123` as `2m3s`.
fn at(s: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
}

fn flood_line(out: &mut String, f: &FloodReport) {
    let t = &f.total;
    if f.mode != FloodMode::Off {
        let _ = write!(
            out,
            "flood limits ({}): your bot sent {} messages/s at its peak (Telegram allows about {}/s) \
             and {} in one chat (about {}/s)",
            if f.mode == FloodMode::Enforce {
                "enforce"
            } else {
                "report"
            },
            f.peak_messages_per_s,
            f.limits.global,
            f.peak_chat_messages_per_s,
            f.limits.per_chat,
        );
        let verb = if f.mode == FloodMode::Enforce {
            "were refused with 429"
        } else {
            "would have been refused"
        };
        let _ = write!(
            out,
            "; {} messages {verb}: {} over a chat's limit ({} chats), {} over a group's, {} over the overall rate",
            t.refused(),
            t.refused_chat,
            f.chats_refused,
            t.refused_group,
            t.refused_global
        );
        if f.mode == FloodMode::Enforce || t.violations > 0 {
            let _ = write!(
                out,
                "; {} violations (calls before retry_after elapsed; longest retry_after {} s)",
                t.violations, f.max_retry_after_s
            );
        }
        let _ = writeln!(out);
    }
    if !t.injected.is_empty() {
        let faults: Vec<String> = t
            .injected
            .iter()
            .map(|(k, n)| match k.as_str() {
                "blocked" => format!(
                    "blocked {n} chats ({} calls after the first 403)",
                    t.blocked_calls.saturating_sub(*n)
                ),
                _ => format!("{k} {n}"),
            })
            .collect();
        let _ = writeln!(
            out,
            "faults injected into the bot's calls: {}",
            faults.join(", ")
        );
    }
}

/// The chaos lines, when the run had any of it.
pub fn lines(out: &mut String, s: &Summary) {
    if let Some(f) = s.botapi.as_ref().and_then(|b| b.flood.as_ref()) {
        flood_line(out, f);
    }
    let t = &s.totals;
    if t.redeliveries + t.lost_updates + t.duplicate_replies > 0 {
        let _ = writeln!(
            out,
            "redelivery: {} deliveries repeated, {} updates lost after every attempt failed, \
             {} duplicate replies (answers repeated for an update already answered)",
            t.redeliveries, t.lost_updates, t.duplicate_replies
        );
    }
    let Some(r) = &s.resilience else {
        return;
    };
    let _ = writeln!(
        out,
        "resilience, per fault window (counted until the next):"
    );
    for w in &r.windows {
        let p95 = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
        let recovery = match (w.recovery_s, w.before_p95_ms) {
            (Some(s), _) => format!("recovered {s:.0} s after"),
            (None, None) => "no second before the chaos to compare with".into(),
            (None, Some(_)) => "not recovered".into(),
        };
        let _ = writeln!(
            out,
            "  {}-{} {}: {} replies lost, {} duplicates, {} violations, {} updates lost, {} \
             redeliveries; reply p95 {} before, {} worst; {recovery}",
            at(w.start_s),
            at(w.end_s),
            w.name,
            w.replies_lost,
            w.duplicate_replies,
            w.violations,
            w.lost_updates,
            w.redeliveries,
            p95(w.before_p95_ms),
            p95(w.worst_p95_ms),
        );
    }
}
