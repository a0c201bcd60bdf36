//! The load test from start to end, as named steps (ARCHITECTURE.md draws the same flow):
//! start the bot under test, the workers, the reloader, the control API and the aggregator;
//! let the scheduler walk the profile; then shut down in a fixed order and build the summary.
//!
//! Shutdown order, and why it is safe:
//! 1. the scheduler stops every user and waits for each worker's end, so no sample is in
//!    flight and every interval has been sent (a worker thread then drops its last senders as
//!    it tears down); for a bot outside the process, the Bot API stand-in then answers its
//!    late calls for `--drain` (counted), and ends the polls still open;
//! 2. `done` tells the checkpoint writer, the reloader and the control API to stop; the
//!    checkpoint writer and the reloader are awaited (the final result is written after the
//!    last checkpoint, never before it), which drops the last statistics sender;
//! 3. the aggregator, with no sender left, settles the last seconds and returns; its snapshot
//!    sender goes with it, which ends the live display;
//! 4. the final summary is built from the aggregator by the same function as every snapshot;
//! 5. the control API, when a page is watching the run, answers until that page has fetched
//!    the final statistics (a few seconds at most), so it shows the run's last seconds.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::bot::{self, Delivery, Target};
use super::limits;
use crate::config::{RunConfig, TargetChoice};
use crate::control::{ControlState, keys};
use crate::output::{Format, files, progress};
use crate::reload::Reloader;
use crate::report::{
    ClassInfo, ProfileInfo, ReloadEvent, RunInfo, ShardInfo, Snapshot, StageInfo, Summary,
};
use crate::scheduler::{Scheduler, SchedulerCmd, SchedulerIo, SchedulerStatus, StopReason};
use crate::script::ClassTable;
use crate::stats::aggregate::StatsMsg;
use crate::stats::{Aggregator, summarize};
use crate::telegram::UpdateIds;
use crate::telegram::ids::{DEFAULT_FIRST_UPDATE_ID, MAX_UPDATE_ID};
use crate::transport::PollTransport;
use crate::vu::{TransportSpec, Worker, WorkerShared};

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    pub reason: StopReason,
    /// Users that could not start because their tier's pool was used up.
    pub pool_exhausted: u64,
    /// Worker threads that panicked (a bug), with their messages: their users' statistics
    /// are missing from the summary, everything else is in it.
    pub worker_panics: Vec<String>,
}

/// Where the control API listens, once started, and what it reaches of the run (for a
/// server that outlives runs: `stress web`).
#[derive(Debug, Clone)]
pub struct Started {
    pub control: Option<SocketAddr>,
    pub state: Arc<ControlState>,
}

/// How a caller stops a run before its profile ends. After `graceful`, users finish their task
/// (up to `--stop-timeout`) and run `on_stop`; after `now`, the users still running are
/// abandoned at once. The results gathered are returned either way.
pub struct Stop<G, N> {
    pub graceful: G,
    pub now: N,
}

impl<G: Future<Output = ()>> Stop<G, std::future::Pending<()>> {
    /// A graceful stop only.
    pub fn graceful(graceful: G) -> Self {
        Stop {
            graceful,
            now: std::future::pending(),
        }
    }
}

/// Runs a load test until its profile ends, every user finished its iterations, the control
/// API says stop, or `stop` resolves (a graceful stop).
pub async fn run(config: RunConfig, stop: impl Future<Output = ()>) -> anyhow::Result<Outcome> {
    run_with(config, Stop::graceful(stop), |_| {}).await
}

/// [`run`], with both stops, telling `on_start` where the control API listens once everything
/// is up.
pub async fn run_with(
    config: RunConfig,
    stop: Stop<impl Future<Output = ()>, impl Future<Output = ()>>,
    on_start: impl FnOnce(Started),
) -> anyhow::Result<Outcome> {
    limits::file_descriptors(
        config.max_connections,
        matches!(config.target, TargetChoice::Demo(_)),
    )?;
    // A graceful stop (Ctrl-C) also ends the wait for an external bot to be ready.
    let mut graceful = std::pin::pin!(stop.graceful);
    let target = tokio::select! {
        target = bot::start(&config.target, &config.pools, &config.rules, config.quiet) => target?,
        _ = &mut graceful => anyhow::bail!("stopped while waiting for the bot to be ready"),
    };
    let table = Arc::new(ClassTable::new(&config.scripts));
    announce(&config, &target);
    let about = describe_run(&config, &target);
    let started = Instant::now();
    // Fault windows are placed on the run's clock.
    config.rules.windows.start(started);

    let (stats_tx, stats_rx) = mpsc::unbounded_channel();
    let (ended_tx, ended_rx) = mpsc::unbounded_channel();
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let (users_tx, users_rx) = watch::channel(0u32);
    let (status_tx, status_rx) = watch::channel(SchedulerStatus::default());
    let (snap_tx, snap_rx) = watch::channel(Snapshot::default());
    let (done_tx, done_rx) = watch::channel(false);

    let workers = start_workers(
        &config,
        &target,
        &table,
        stats_tx.clone(),
        ended_tx,
        started,
    )?;
    let reloading = config.reload.then(|| {
        start_reloader(
            &config,
            &table,
            commands_tx.clone(),
            stats_tx.clone(),
            reload_rx,
            started,
            done_rx.clone(),
        )
    });
    // From here on the statistics senders are the workers' and the reloader's only (the
    // control API's is weak: it resets the statistics, and does not keep them from ending).
    let control_state = Arc::new(ControlState {
        scheduler: commands_tx.clone(),
        reload: reload_tx.clone(),
        stats: stats_tx.downgrade(),
        status: status_rx.clone(),
        snapshot: snap_rx.clone(),
        table: table.clone(),
        pools: config.pools.clone(),
        botapi: target.botapi_probe(),
    });
    drop(stats_tx);
    let (control, control_server) = match config.control {
        Some(addr) => {
            let (addr, server) =
                start_control(addr, &config, control_state.clone(), done_rx.clone()).await?;
            (Some(addr), Some(server))
        }
        None => (None, None),
    };
    let _keys = (!config.quiet)
        .then(|| keys::listen(commands_tx.clone(), reload_tx.clone(), status_rx.clone()))
        .flatten();
    drop((commands_tx, reload_tx));

    let live_info = {
        let (about, table, status) = (about.clone(), table.clone(), status_rx);
        // With fault windows, the live resilience section reads the stand-in's gate.
        let probe = target.botapi_probe().filter(|_| !about.windows.is_empty());
        Box::new(move || {
            let mut info = run_info(&about, &table, &status.borrow().started);
            info.duration_s = started.elapsed().as_secs_f64();
            info.botapi = probe.as_ref().map(|p| p.report());
            info
        })
    };
    let aggregator =
        tokio::spawn(Aggregator::new(users_rx, started, live_info).run(stats_rx, snap_tx));
    let checkpoints = config
        .outputs
        .iter()
        .filter(|(format, _)| *format == Format::Json)
        .map(|(_, path)| {
            tokio::spawn(files::checkpoint(
                path.clone(),
                snap_rx.clone(),
                config.checkpoint,
                done_rx.clone(),
            ))
        })
        .collect::<Vec<_>>();
    let display =
        (!config.quiet).then(|| tokio::spawn(progress::show(snap_rx, config.profile.run_time())));
    let scheduler = Scheduler::new(
        config.profile.clone(),
        &table.weights(),
        table.slots().iter().map(|s| s.load().decl.tier).collect(),
        config.pools.clone(),
        workers,
        SchedulerIo {
            users: users_tx,
            status: status_tx,
            ended: ended_rx,
            commands: commands_rx,
        },
        config.options.iterations.is_some(),
    );
    let scheduler = match &config.shard {
        Some(plan) => scheduler.with_shard(plan.clone()),
        None => scheduler,
    };
    on_start(Started {
        control,
        state: control_state,
    });

    // Shutdown, in the order the module's header gives.
    let end = scheduler
        .run(started, config.stop_timeout, graceful, stop.now)
        .await;
    let duration = started.elapsed();
    if target.serves_external_bot {
        drain(&target, config.drain, config.quiet).await;
    }
    done_tx.send_replace(true);
    for c in checkpoints {
        let _ = c.await;
    }
    if let Some(r) = reloading {
        let _ = r.await;
    }
    let stats = aggregator.await.context("the statistics task")?;
    if let Some(display) = display {
        let _ = display.await;
    }

    let mut info = run_info(&about, &table, &end.started);
    info.duration_s = duration.as_secs_f64();
    info.abandoned_users = end.abandoned;
    info.spawn = end.spawn;
    info.bot = target
        .stack
        .as_ref()
        .map(|s| serde_json::to_value(s.bot.stats()))
        .transpose()?;
    info.botapi = target.report();
    let mut summary = summarize(&stats, info);
    summary.histograms = Some(crate::stats::histograms(&stats));
    if let Some(server) = control_server {
        let _ = server.await;
    }
    Ok(Outcome {
        summary,
        reason: end.reason,
        pool_exhausted: end.pool_exhausted,
        worker_panics: end.worker_panics,
    })
}

/// Keeps the stand-in answering the bot's late calls for `drain` after the users stopped, so
/// a bot finishing its replies (or polling) finds it up; then ends its open polls.
async fn drain(target: &Target, drain: std::time::Duration, quiet: bool) {
    let delivery = target.api.delivery();
    delivery.drain();
    if !drain.is_zero() {
        if !quiet {
            eprintln!(
                "stress: the users stopped; the Bot API stand-in answers the bot {} more (--drain)",
                humantime::format_duration(drain)
            );
        }
        tokio::time::sleep(drain).await;
    }
    delivery.close();
}

/// The start banner.
fn announce(config: &RunConfig, target: &Target) {
    if config.quiet {
        return;
    }
    let names: Vec<String> = config
        .scripts
        .classes
        .iter()
        .map(|c| format!("{} (weight {})", c.decl.name, c.decl.weight))
        .collect();
    eprintln!(
        "stress: {} against {}; profile {} ({} users at most, {}); seed {}",
        names.join(", "),
        target.describe,
        config.profile.name,
        config.profile.peak_users(),
        humantime::format_duration(config.profile.run_time()),
        config.options.seed,
    );
}

/// What a summary says about the run besides its statistics, fixed at the start.
fn describe_run(config: &RunConfig, target: &Target) -> RunInfo {
    let now = SystemTime::now();
    RunInfo {
        started_at: humantime::format_rfc3339_seconds(now).to_string(),
        started_unix: now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        seed: config.options.seed,
        target: target.describe.clone(),
        profile: ProfileInfo {
            name: config.profile.name.clone(),
            stages: config
                .profile
                .stages
                .iter()
                .map(|s| StageInfo {
                    users: s.users,
                    spawn_rate: s.spawn_rate,
                    duration_s: s.duration.as_secs_f64(),
                })
                .collect(),
        },
        shard: config.shard.as_ref().map(|p| ShardInfo {
            index: p.shard.index,
            count: p.shard.count,
            merged: Vec::new(),
        }),
        test_digest: config.test_digest.clone(),
        windows: config.rules.windows.windows().to_vec(),
        ..RunInfo::default()
    }
}

/// The run's description with its classes as they are now (a reload may have changed them) and
/// the users started per class: the same for a live snapshot and the final summary.
fn run_info(about: &RunInfo, table: &ClassTable, started: &[u64]) -> RunInfo {
    let classes = table
        .slots()
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let c = slot.load();
            ClassInfo {
                name: c.decl.name.clone(),
                file: slot.file.display().to_string(),
                tier: c.decl.tier.as_str().into(),
                weight: slot.weight(),
                tasks: c.tasks.iter().map(|t| (t.name.clone(), t.weight)).collect(),
                users_started: started.get(i).copied().unwrap_or(0),
            }
        })
        .collect();
    RunInfo {
        classes,
        ..about.clone()
    }
}

/// One worker thread per `--workers`, each with its share of the connections.
fn start_workers(
    config: &RunConfig,
    target: &Target,
    table: &Arc<ClassTable>,
    stats: mpsc::UnboundedSender<StatsMsg>,
    ended: mpsc::UnboundedSender<u64>,
    started: Instant,
) -> anyhow::Result<Vec<Worker>> {
    let (transport, connections) = match &target.delivery {
        Delivery::Webhook {
            http,
            secret,
            max_connections,
        } => {
            // The bot's own max_connections, as Telegram honours it, else --max-connections.
            let connections = max_connections.unwrap_or(config.max_connections) as usize;
            let spec = TransportSpec::Http {
                target: Arc::new((**http).clone()),
                max_connections: connections,
                timeout: config.timeout,
                secret: secret.clone(),
            };
            (spec, connections)
        }
        Delivery::Polling => (
            TransportSpec::Polling(PollTransport::new(target.api.clone(), config.timeout)),
            usize::MAX,
        ),
    };
    // Never more workers than connections: each has its share (at least one).
    let workers = config.workers.min(connections).max(1);
    let shared = Arc::new(WorkerShared {
        classes: table.clone(),
        transport,
        api: target.api.clone(),
        update_ids: Arc::new(match &config.shard {
            // Each shard its n-th of the range: no update_id is sent by two shards.
            Some(p) => UpdateIds::shard(
                DEFAULT_FIRST_UPDATE_ID..MAX_UPDATE_ID,
                p.shard.zero_based(),
                p.shard.count,
            ),
            None => UpdateIds::unsharded(),
        }),
        pools: config.pools.clone(),
        options: config.options.clone(),
        stats,
        names: Default::default(),
        ended,
        started,
        workers,
    });
    (0..workers)
        .map(|i| Worker::start(i, shared.clone()))
        .collect::<std::io::Result<Vec<_>>>()
        .context("starting the worker threads")
}

/// The hot-reload watcher, until `done`.
fn start_reloader(
    config: &RunConfig,
    table: &Arc<ClassTable>,
    scheduler: mpsc::UnboundedSender<SchedulerCmd>,
    stats: mpsc::UnboundedSender<StatsMsg>,
    requests: mpsc::UnboundedReceiver<oneshot::Sender<ReloadEvent>>,
    started: Instant,
    done: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let reloader = Reloader {
        table: table.clone(),
        profile_file: config.profile_file.clone(),
        overrides: config.overrides,
        pools: config.pools.clone(),
        scheduler,
        stats,
        requests,
        started,
        quiet: config.quiet,
    };
    tokio::spawn(async move {
        if let Err(e) = reloader.run(done).await {
            tracing::warn!("scripts will not be reloaded: {e:#}");
            eprintln!("warning: scripts will not be reloaded: {e:#}");
        }
    })
}

/// The dashboard, control API and `/metrics` on `addr`, until `done` and the final statistics
/// (see `control::serve`); returns the bound address and the server's task.
async fn start_control(
    addr: SocketAddr,
    config: &RunConfig,
    state: Arc<ControlState>,
    mut done: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--control: binding {addr}"))?;
    let addr = listener.local_addr()?;
    if !config.quiet {
        eprintln!("dashboard on http://{addr}/ (control API: /api/status, metrics: /metrics)");
    }
    let token = config.control_token.clone();
    let server = tokio::spawn(crate::control::serve(listener, state, token, async move {
        let _ = done.wait_for(|d| *d).await;
    }));
    Ok((addr, server))
}
