//! `stress run`: the pipeline of DESIGN.md's architecture, start to end. Scripts and a profile
//! (already compiled and resolved by `config`) drive the scheduler; workers run the users and
//! post to the target; the aggregator turns their samples into the summary.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::config::{ConfigError, RunConfig, TargetChoice};
use crate::control::{ControlState, keys};
use crate::local::LocalStack;
use crate::output::progress;
use crate::reload::Reloader;
use crate::scheduler::{Scheduler, SchedulerIo, SchedulerStatus, StopReason};
use crate::script::ClassTable;
use crate::stats::summary::{ClassInfo, ProfileInfo, RunInfo, StageInfo};
use crate::stats::{Aggregator, Snapshot, Summary};
use crate::telegram::UpdateIds;
use crate::transport::{HttpTarget, Secret};
use crate::vu::{TransportSpec, Worker, WorkerShared};

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    pub reason: StopReason,
    /// Users that could not start because their tier's pool was used up.
    pub pool_exhausted: u64,
}

/// The bot under test and where its replies are caught.
struct Target {
    /// The demo bot and its stand-in, when they run in-process.
    stack: Option<LocalStack>,
    api: Arc<BotApi>,
    http: HttpTarget,
    secret: Secret,
    describe: String,
    /// Stops a stand-in started for an external bot.
    _stop: watch::Sender<bool>,
}

async fn start_target(choice: &TargetChoice) -> anyhow::Result<Target> {
    let (stop, stop_rx) = watch::channel(false);
    match choice {
        TargetChoice::Demo(config) => {
            let stack = LocalStack::start((**config).clone()).await?;
            let url = stack.webhook_url();
            let http = HttpTarget::resolve(&url)
                .await
                .map_err(|e| anyhow::anyhow!("the demo bot's address: {e}"))?;
            let secret = config
                .secret_token
                .clone()
                .map_or(Secret::None, Secret::Fixed);
            Ok(Target {
                api: stack.api.clone(),
                describe: format!(
                    "the demo bot at {url} (stand-in at {})",
                    stack.api_base_url()
                ),
                stack: Some(stack),
                http,
                secret,
                _stop: stop,
            })
        }
        TargetChoice::External {
            url,
            secret,
            botapi_listen,
        } => {
            let http = HttpTarget::resolve(url).await.map_err(|e| ConfigError {
                flag: "--target",
                message: e,
            })?;
            let api = Arc::new(BotApi::new(ApiConfig::default(), ReplyHub::default()));
            let mut describe = url.clone();
            if let Some(addr) = botapi_listen {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--botapi-listen: binding {addr}"))?;
                let addr = listener.local_addr()?;
                describe.push_str(&format!(" (Bot API stand-in at http://{addr})"));
                let mut rx = stop_rx;
                tokio::spawn(crate::botapi::serve(listener, api.clone(), async move {
                    let _ = rx.wait_for(|s| *s).await;
                }));
            }
            let secret = match (secret, botapi_listen) {
                (Some(s), _) => Secret::Fixed(s.clone()),
                (None, Some(_)) => Secret::Captured(api.webhook()),
                (None, None) => Secret::None,
            };
            Ok(Target {
                stack: None,
                api,
                http,
                secret,
                describe,
                _stop: stop,
            })
        }
    }
}

/// Makes sure the process may open the sockets the run needs: `--max-connections` to the bot,
/// as many again when the demo bot answers in this process, and room for the rest. Raises the
/// soft limit when the hard one allows; otherwise says which flag to lower.
fn file_descriptors(max_connections: u32, in_process_bot: bool) -> Result<(), ConfigError> {
    let per = if in_process_bot { 2 } else { 1 };
    let need = u64::from(max_connections) * per + 256;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 || limit.rlim_cur >= need {
        return Ok(());
    }
    if limit.rlim_max < need {
        return Err(ConfigError {
            flag: "--max-connections",
            message: format!(
                "{max_connections} connections need about {need} file descriptors, but this \
                 process may open {} (hard limit {}; see `ulimit -n`)",
                limit.rlim_cur, limit.rlim_max
            ),
        });
    }
    limit.rlim_cur = need;
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    Ok(())
}

/// Where the control API listens, once started.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub control: Option<std::net::SocketAddr>,
}

/// Runs a load test until its profile ends, every user finished its iterations, the control
/// API says stop, or `stop` resolves (Ctrl-C).
pub async fn run(
    config: RunConfig,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    run_with(config, stop, |_| {}).await
}

/// [`run`], telling `on_start` where the control API listens once everything is up.
pub async fn run_with(
    config: RunConfig,
    stop: impl std::future::Future<Output = ()>,
    on_start: impl FnOnce(Started),
) -> anyhow::Result<Outcome> {
    file_descriptors(
        config.max_connections,
        matches!(config.target, TargetChoice::Demo(_)),
    )?;
    let now = SystemTime::now();
    let started_at = humantime::format_rfc3339_seconds(now).to_string();
    let started_unix = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let target = start_target(&config.target).await?;
    let table = Arc::new(ClassTable::new(&config.scripts));
    if !config.quiet {
        let names: Vec<String> = config
            .scripts
            .classes
            .iter()
            .map(|c| format!("{} ({})", c.decl.name, c.decl.weight))
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

    let (stats_tx, stats_rx) = mpsc::unbounded_channel();
    let (ended_tx, ended_rx) = mpsc::unbounded_channel();
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let (users_tx, users_rx) = watch::channel(0u32);
    let (status_tx, status_rx) = watch::channel(SchedulerStatus::default());
    let (snap_tx, snap_rx) = watch::channel(Snapshot::default());
    let (done_tx, done_rx) = watch::channel(false);
    let started = Instant::now();
    let shared = Arc::new(WorkerShared {
        classes: table.clone(),
        transport: TransportSpec::Http {
            target: Arc::new(target.http.clone()),
            max_connections: config.max_connections as usize,
            timeout: config.timeout,
            secret: target.secret.clone(),
        },
        api: target.api.clone(),
        update_ids: Arc::new(UpdateIds::unsharded()),
        pools: config.pools.clone(),
        options: config.options.clone(),
        stats: stats_tx.clone(),
        ended: ended_tx,
        started,
        workers: config.workers,
    });
    let workers = (0..config.workers)
        .map(|i| Worker::start(i, shared.clone()))
        .collect::<std::io::Result<Vec<_>>>()
        .context("starting the worker threads")?;
    drop(shared);

    let reloader = config.reload.then(|| Reloader {
        table: table.clone(),
        profile_file: config.profile_file.clone(),
        overrides: config.overrides.clone(),
        pools: config.pools.clone(),
        scheduler: commands_tx.clone(),
        stats: stats_tx.clone(),
        requests: reload_rx,
        started,
        quiet: config.quiet,
    });
    drop(stats_tx);
    let reloading = reloader.map(|r| {
        let done = done_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = r.run(done).await {
                tracing::warn!("scripts will not be reloaded: {e:#}");
                eprintln!("warning: scripts will not be reloaded: {e:#}");
            }
        })
    });

    let mut control_addr = None;
    if let Some(addr) = config.control {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("--control: binding {addr}"))?;
        let addr = listener.local_addr()?;
        control_addr = Some(addr);
        if !config.quiet {
            eprintln!("dashboard on http://{addr}/ (control API: /api/status, metrics: /metrics)");
        }
        let state = Arc::new(ControlState {
            scheduler: commands_tx.clone(),
            reload: reload_tx.clone(),
            status: status_rx.clone(),
            snapshot: snap_rx.clone(),
            table: table.clone(),
            pools: config.pools.clone(),
            token: config.control_token.clone(),
            about: format!(
                "{} · profile {} · seed {}",
                target.describe, config.profile.name, config.options.seed
            ),
        });
        let mut done = done_rx.clone();
        tokio::spawn(crate::control::serve(listener, state, async move {
            let _ = done.wait_for(|d| *d).await;
        }));
    }
    let _keys = (!config.quiet)
        .then(|| keys::listen(commands_tx.clone(), reload_tx.clone(), status_rx.clone()))
        .flatten();
    drop((commands_tx, reload_tx));

    let aggregator = tokio::spawn(Aggregator::new(users_rx, started).run(stats_rx, snap_tx));
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
    on_start(Started {
        control: control_addr,
    });
    let end = scheduler.run(started, config.stop_timeout, stop).await;
    if let Some(panic) = end.worker_panics.first() {
        anyhow::bail!("a worker thread panicked ({panic}); its users' statistics are lost");
    }
    let duration = started.elapsed();
    done_tx.send_replace(true);
    if let Some(r) = reloading {
        let _ = r.await;
    }
    let stats = aggregator.await.context("the statistics task")?;
    if let Some(display) = display {
        let _ = display.await;
    }

    let slots = table.slots();
    let info = RunInfo {
        started_at,
        started_unix,
        duration_s: duration.as_secs_f64(),
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
        classes: slots
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
                    users_started: end.started.get(i).copied().unwrap_or(0),
                }
            })
            .collect(),
        abandoned_users: end.abandoned,
        spawn: end.spawn,
        bot: target
            .stack
            .as_ref()
            .map(|s| serde_json::to_value(s.bot.stats()))
            .transpose()?,
    };
    Ok(Outcome {
        summary: Summary::build(&stats, info),
        reason: end.reason,
        pool_exhausted: end.pool_exhausted,
    })
}
