//! `stress web`: the dashboard with no run yet, as Locust's web UI is. The page's start form
//! (`POST /api/start`) sets the profile, users, spawn rate and run time over the flags given
//! here, and each run goes through the same pipeline as `stress run`; its results stay on the
//! page (and in the result files, when `--json`/`--csv`/`--html` are given) until the next
//! run starts. The first signal stops the run going on and then the server; the second
//! abandons that run's users at once.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::run::{Stop, run_with};
use super::signals::Signals;
use crate::cli::{RunArgs, WebArgs};
use crate::config::{self, ConfigError};
use crate::control::{Board, Finished, StartRequest, Starter};
use crate::output::files;
use crate::scheduler::StopReason;

/// Serves the dashboard until a signal; see the module's header.
pub async fn command(args: WebArgs) -> anyhow::Result<ExitCode> {
    let signals = Signals::listen();
    let stop = Stop {
        graceful: signals.first(),
        now: signals.second(),
    };
    serve(args, stop, |addr| {
        eprintln!(
            "dashboard on http://{addr}/ : start a run from the page (control API: \
             POST /api/start, /api/status)"
        );
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Serves the dashboard until `stop.graceful` resolves, then stops the run going on (at once
/// after `stop.now`) and returns; tells `on_bound` where it listens.
pub async fn serve(
    args: WebArgs,
    stop: Stop<impl Future<Output = ()>, impl Future<Output = ()>>,
    on_bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let token = check(&args)?;
    // The flags are checked (and the scripts compiled) before anything listens.
    let base = config::run(&args.run)?;
    let defaults = json!({
        "profile": args.run.profile,
        "users": base.profile.peak_users(),
        "spawn_rate": base.profile.stages.first().map_or(1.0, |s| s.spawn_rate),
        "run_time": humantime::format_duration(base.profile.run_time()).to_string(),
        "profiles": crate::profile::PRESETS,
    });
    drop(base);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen: binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let (closing_tx, closing) = watch::channel(false);
    let (now_tx, now) = watch::channel(false);
    let starter = Arc::new(WebStarter {
        base: args.run,
        defaults,
        closing,
        now,
        current: Mutex::new(None),
    });
    let board = Board::idle(token, addr, starter.clone());
    let (server_done_tx, mut server_done) = watch::channel(false);
    let server = tokio::spawn(crate::control::serve_board(listener, board, async move {
        let _ = server_done.wait_for(|d| *d).await;
    }));
    on_bound(addr);

    stop.graceful.await;
    closing_tx.send_replace(true);
    let running = starter
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(run) = running {
        tokio::select! {
            _ = run => {}
            _ = stop.now => {
                now_tx.send_replace(true);
            }
        }
    }
    server_done_tx.send_replace(true);
    server.await.context("the dashboard server")??;
    Ok(())
}

/// The token the server requires, by `stress run --control`'s rules: needed off loopback,
/// never empty.
fn check(args: &WebArgs) -> Result<Option<String>, ConfigError> {
    let bad = |flag: &'static str, message: String| ConfigError { flag, message };
    if let Some(addr) = args.run.control {
        return Err(bad(
            "--control",
            format!("`stress web` serves on --listen ({addr} given to --control)"),
        ));
    }
    let token = args.run.control_token.clone();
    if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(bad("--control-token", "must not be empty".into()));
    }
    if !args.listen.ip().is_loopback() && token.is_none() {
        return Err(bad(
            "--listen",
            format!(
                "{} is not a loopback address: give --control-token too",
                args.listen
            ),
        ));
    }
    Ok(token)
}

/// Starts the page's runs from `stress web`'s flags.
struct WebStarter {
    base: RunArgs,
    defaults: serde_json::Value,
    /// The server is closing: stop the run gracefully, or (`now`) at once.
    closing: watch::Receiver<bool>,
    now: watch::Receiver<bool>,
    current: Mutex<Option<JoinHandle<()>>>,
}

/// The start form's name for a flag, so a refusal names the field the user filled in.
fn field(flag: &str) -> String {
    match flag {
        "--users" | "--spawn-rate" | "--run-time" | "--profile" => {
            flag.trim_start_matches("--").replace('-', "_")
        }
        other => other.to_string(),
    }
}

impl WebStarter {
    /// The arguments of a run: the server's flags with the form's fields over them.
    fn args(&self, request: StartRequest) -> RunArgs {
        let mut args = self.base.clone();
        if let Some(profile) = request.profile {
            args.profile = profile;
        }
        args.users = request.users.or(args.users);
        args.spawn_rate = request.spawn_rate.or(args.spawn_rate);
        args.run_time = request.run_time.or(args.run_time);
        // The page is the display and the control: no live line, no keys on the terminal.
        args.quiet = true;
        args.control = None;
        args
    }
}

impl Starter for WebStarter {
    fn defaults(&self) -> serde_json::Value {
        self.defaults.clone()
    }

    fn start(&self, board: Arc<Board>, request: StartRequest) -> Result<(), String> {
        if *self.closing.borrow() {
            return Err("the server is closing".into());
        }
        let args = self.args(request);
        let config = config::run(&args).map_err(|e| match e.downcast_ref::<ConfigError>() {
            Some(c) => format!("{}: {}", field(c.flag), c.message),
            None => format!("{e:#}"),
        })?;
        let outputs = config.outputs.clone();
        let thresholds = config.thresholds.clone();
        let mut closing = self.closing.clone();
        let mut now = self.now.clone();
        let stop = Stop {
            graceful: async move {
                let _ = closing.wait_for(|c| *c).await;
            },
            now: async move {
                let _ = now.wait_for(|c| *c).await;
            },
        };
        eprintln!(
            "stress web: a run starts: profile {}, {} users at most, {}",
            config.profile.name,
            config.profile.peak_users(),
            humantime::format_duration(config.profile.run_time())
        );
        let run = tokio::spawn(async move {
            let live = board.clone();
            let outcome = run_with(config, stop, move |started| live.live(started.state)).await;
            match outcome {
                Ok(mut outcome) => {
                    let summary = &mut outcome.summary;
                    summary.thresholds = thresholds.iter().map(|t| t.evaluate(summary)).collect();
                    for e in files::write_all(summary, &outputs) {
                        eprintln!("error: {e:#}");
                    }
                    let stopped = outcome.reason == StopReason::Interrupted;
                    eprintln!(
                        "stress web: the run {} after {:.1} s: {} requests, {} failed",
                        if stopped { "was stopped" } else { "finished" },
                        summary.duration_s,
                        summary.totals.requests,
                        summary.totals.failures
                    );
                    board.finished(Finished {
                        summary: outcome.summary,
                        stopped,
                    });
                }
                Err(e) => {
                    eprintln!("error: the run failed: {e:#}");
                    board.failed(format!("{e:#}"));
                }
            }
        });
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
        Ok(())
    }
}
