//! What a run shows and writes: the live progress line, the final table, and result files.
//! One file per format behind [`Format`]; a new format is a new variant there.

mod chaos;
pub mod comparison;
pub mod csv;
pub mod files;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod progress;
pub mod table;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::report::{Summary, View};

/// The file formats a run can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `--json`: the full result, schema `schema/result.v1.json`.
    Json,
    /// `--csv PREFIX`: Locust's three CSV files.
    Csv,
    /// `--html FILE`: a self-contained report.
    Html,
    /// `--markdown FILE`: a summary for a CI job.
    Markdown,
    /// `--junit FILE`: JUnit XML, a test case per threshold.
    Junit,
}

impl Format {
    /// Writes the result to `path` (for CSV, a prefix of three files), each file replaced
    /// whole.
    pub fn write(self, summary: &Summary, path: &Path) -> anyhow::Result<()> {
        let contents: Vec<(PathBuf, Vec<u8>)> = match self {
            Format::Json => vec![(path.to_path_buf(), files::json(summary)?)],
            Format::Csv => csv::files(summary, path)?,
            Format::Html => vec![(
                path.to_path_buf(),
                html::render(&View::of(summary, None), "stress report")?.into_bytes(),
            )],
            Format::Markdown => vec![(path.to_path_buf(), markdown::render(summary).into_bytes())],
            Format::Junit => vec![(path.to_path_buf(), junit::summary(summary).into_bytes())],
        };
        for (file, bytes) in contents {
            files::write_atomically(&file, &bytes)
                .with_context(|| format!("{}: writing {}", self.flag(), file.display()))?;
        }
        Ok(())
    }
}

/// A fixed result for the snapshot tests: two request names, a failure, a check, a script
/// error and three seconds of history, through the real recorder, aggregator and summary.
#[cfg(test)]
pub(crate) async fn sample_summary() -> Summary {
    use std::time::{Duration, Instant};

    use crate::report::ErrorKind;
    use crate::report::{ClassInfo, ProfileInfo, RunInfo, StageInfo};
    use crate::script::ScriptError;
    use crate::stats::Aggregator;
    use crate::stats::aggregate::StatsMsg;
    use crate::stats::recorder::{Recorder, ReplyOutcome};

    let (_users_tx, users) = tokio::sync::watch::channel(4);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (snap, _) = tokio::sync::watch::channel(crate::report::Snapshot::default());
    for second in 1..=3u64 {
        let mut r = Recorder::default();
        for i in 0..10 {
            let ms = Duration::from_millis(2 + i);
            // Every third /help waited for a connection.
            let queued = Duration::from_millis(3 * u64::from(i % 3 == 0));
            r.served("/help", queued, ms, None, 120);
            let second_reply = (i % 2 == 0).then(|| ms + Duration::from_millis(5));
            let last = second_reply.unwrap_or(ms + Duration::from_millis(1));
            let details = crate::stats::recorder::ReplyDetails {
                last: Some(last),
                replies: 1 + u32::from(i % 2 == 0),
                ack: None,
            };
            r.reply(
                "/help",
                ReplyOutcome::After(ms + Duration::from_millis(1)),
                details,
            );
            r.request("text", ms * 3, (i == 9).then_some(ErrorKind::Http5xx), 80);
            if i == 9 {
                r.failure(
                    "text",
                    ErrorKind::Http5xx,
                    503,
                    "HTTP 503: {\"ok\":false,\"error\":\"overloaded\"}".into(),
                );
            }
            r.reply("text", ReplyOutcome::NotAwaited, Default::default());
            r.task("GuestUser", "browse", ms * 4, false);
        }
        r.check("answered", second != 2, String::new);
        if second == 3 {
            r.script_error(
                "GuestUser",
                &ScriptError {
                    file: "scripts/guest.rhai".into(),
                    line: 12,
                    col: 5,
                    message: "boom".into(),
                },
            );
        }
        tx.send(StatsMsg::Interval(Box::new(r.take(second))))
            .unwrap();
    }
    drop(tx);
    let agg = Aggregator::new(users, Instant::now(), Box::new(RunInfo::default))
        .run(rx, snap)
        .await;
    crate::stats::summarize(
        &agg,
        RunInfo {
            started_at: "2026-11-28T12:00:00Z".into(),
            started_unix: 1_795_000_000,
            duration_s: 3.0,
            seed: 7,
            target: "the demo bot".into(),
            profile: ProfileInfo {
                name: "smoke".into(),
                stages: vec![StageInfo {
                    users: 4,
                    spawn_rate: 4.0,
                    duration_s: 3.0,
                }],
            },
            classes: vec![ClassInfo {
                name: "GuestUser".into(),
                file: "scripts/guest.rhai".into(),
                tier: "guest".into(),
                weight: 80,
                tasks: vec![("browse".into(), 3), ("idle".into(), 1)],
                users_started: 4,
            }],
            abandoned_users: 0,
            bot: None,
            botapi: None,
            shard: None,
            test_digest: String::new(),
            windows: Vec::new(),
            spawn: vec![crate::report::SpawnPhase {
                source: "stage 1".into(),
                asked_rate: 4.0,
                started: 4,
                stopped: 0,
                moved: 0,
                after: 0,
                first_s: 0.25,
                last_s: 1.0,
                achieved_rate: Some(4.0),
            }],
        },
    )
}
