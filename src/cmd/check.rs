//! `stress check`: compile every script, show each class with its tasks, weights and expected
//! shares, and with `--dry-run N` run N tasks per class against the demo bot in memory (no
//! socket, no waits) to list the commands each class sends before any load.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::cli::CheckArgs;
use crate::config::{self, ConfigError};
use crate::demo_bot::{BotCommand, BotLatency, DemoBot, DemoBotConfig};
use crate::script::{ClassTable, ScriptSet};
use crate::stats::aggregate::StatsMsg;
use crate::stats::recorder::{ErrorKey, Interval};
use crate::telegram::{TierPools, UpdateIds};
use crate::transport::MemoryTransport;
use crate::vu::{RunOptions, TransportSpec, VuSpec, Worker, WorkerCmd, WorkerShared};

/// The classes and tasks of a script set, with expected shares.
pub fn describe(set: &ScriptSet) -> String {
    let mut out = String::new();
    let total: u64 = set.weights().iter().map(|w| u64::from(*w)).sum();
    for c in &set.classes {
        let d = &c.decl;
        let _ = writeln!(
            out,
            "{} ({}): tier {}, weight {} = {:.1}% of users, wait {}{}{}",
            d.name,
            c.file.display(),
            d.tier,
            d.weight,
            u64::from(d.weight) as f64 * 100.0 / total as f64,
            d.wait,
            if c.has_on_start { ", on_start" } else { "" },
            if c.has_on_stop { ", on_stop" } else { "" },
        );
        let task_total = c.total_task_weight();
        for t in &c.tasks {
            let _ = writeln!(
                out,
                "  @task({:>2}) {:<24} {:>5.1}%  {}",
                t.weight,
                t.name,
                u64::from(t.weight) as f64 * 100.0 / task_total as f64,
                t.doc
            );
        }
    }
    out
}

/// What one class did in a dry run.
#[derive(Debug, Clone, Default)]
pub struct ClassDryRun {
    pub class: String,
    /// Request name → count.
    pub requests: BTreeMap<String, u64>,
    /// Task name → calls.
    pub tasks: BTreeMap<String, u64>,
    pub errors: Vec<(ErrorKey, u64)>,
}

/// Runs `iterations` tasks of every class, one user per class, against the demo bot in memory.
pub async fn dry_run(
    set: &ScriptSet,
    iterations: u64,
    seed: u64,
) -> anyhow::Result<Vec<ClassDryRun>> {
    let pools = TierPools::default();
    let bot = DemoBot::new(DemoBotConfig {
        reply_in_webhook: true,
        latency: BotLatency::zero(),
        seed,
        pools: pools.clone(),
        ..DemoBotConfig::default()
    });
    let path = bot.config().path.clone();
    let memory = MemoryTransport::new(crate::demo_bot::router(bot), path, None);
    let api = Arc::new(BotApi::new(ApiConfig::default(), ReplyHub::default()));
    let update_ids = Arc::new(UpdateIds::unsharded());
    let classes = Arc::new(ClassTable::new(set));
    let mut results = Vec::new();
    for (index, class) in set.classes.iter().enumerate() {
        let (stats_tx, mut stats_rx) = mpsc::unbounded_channel();
        let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(WorkerShared {
            classes: classes.clone(),
            transport: TransportSpec::Memory(memory.clone()),
            api: api.clone(),
            update_ids: update_ids.clone(),
            pools: pools.clone(),
            options: RunOptions {
                seed,
                await_replies: false,
                reply_timeout: Duration::ZERO,
                reply_settle: Duration::ZERO,
                arrivals: None,
                wait_override: Some(crate::script::WaitSpec::Constant(0.0)),
                iterations: Some(iterations),
                skip_waits: true,
                state_limit: crate::script::state::DEFAULT_STATE_LIMIT,
                redeliver: None,
                windows: Default::default(),
            },
            stats: stats_tx,
            names: Default::default(),
            ended: ended_tx,
            started: Instant::now(),
            workers: 1,
        });
        let worker = Worker::start(0, shared)?;
        worker.send(WorkerCmd::Spawn(VuSpec {
            vu: index as u64,
            class: index,
            tier: class.decl.tier,
            index_in_class: 0,
            pool_index: 0,
        }));
        let _ = ended_rx.recv().await;
        worker.send(WorkerCmd::StopAll {
            deadline: Instant::now(),
        });
        tokio::task::spawn_blocking(move || worker.join())
            .await?
            .map_err(|e| anyhow::anyhow!("the dry run's worker panicked: {e}"))?;
        let mut total = Interval::default();
        while let Some(msg) = stats_rx.recv().await {
            if let StatsMsg::Interval(i) = msg {
                total.merge(&i);
            }
        }
        let name = class.decl.name.clone();
        results.push(ClassDryRun {
            requests: total
                .requests
                .iter()
                .map(|(k, r)| (k.to_string(), r.count()))
                .collect(),
            tasks: total
                .tasks
                .get(name.as_str())
                .map(|t| t.iter().map(|(k, v)| (k.to_string(), v.count())).collect())
                .unwrap_or_default(),
            errors: total.errors.into_iter().collect(),
            class: name,
        });
    }
    Ok(results)
}

/// The demo bot's commands a dry run sent, and those it did not.
pub fn coverage(runs: &[ClassDryRun]) -> (Vec<&'static str>, Vec<&'static str>) {
    BotCommand::ALL
        .iter()
        .map(|c| c.name())
        .partition(|name| runs.iter().any(|r| r.requests.contains_key(*name)))
}

/// The dry run as text.
pub fn describe_dry_run(runs: &[ClassDryRun], iterations: u64) -> String {
    let mut out = String::new();
    for r in runs {
        let sent: Vec<String> = r.requests.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let tasks: Vec<String> = r.tasks.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "{} ({iterations} tasks): {}",
            r.class,
            tasks.join(", ")
        );
        let _ = writeln!(out, "  sent: {}", sent.join(", "));
        for (e, n) in &r.errors {
            let _ = writeln!(out, "  script error {n}x at {}: {}", e.location, e.message);
        }
    }
    let (covered, missing) = coverage(runs);
    let _ = writeln!(
        out,
        "demo bot commands covered: {}/{}",
        covered.len(),
        covered.len() + missing.len()
    );
    if !missing.is_empty() {
        let _ = writeln!(out, "  not sent: {}", missing.join(" "));
    }
    out
}

/// Compiles, describes and (with `--dry-run`) tries the scripts.
pub async fn command(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let set = config::scripts(&args.paths, &args.stdlib)?;
    for warning in set.warnings() {
        eprintln!("warning: {warning}");
    }
    print!("{}", describe(&set));
    if let Some(n) = args.dry_run {
        if n == 0 {
            return Err(ConfigError {
                flag: "--dry-run",
                message: "must be at least 1".into(),
            }
            .into());
        }
        let runs = dry_run(&set, n, args.seed).await?;
        print!("\n{}", describe_dry_run(&runs, n));
    }
    Ok(ExitCode::SUCCESS)
}
