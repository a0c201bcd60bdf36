//! The webhook transport under failure: refused connections, injected 500s and resets, slow
//! answers past `--timeout`, and an external target with and without its secret. A failed
//! request is counted by kind; the run goes on and ends on time.

use crate::common::root;
use stress::cli::RunArgs;
use stress::demo_bot::{BotLatency, DemoBotConfig, Faults};
use stress::harness::LocalStack;
use stress::report::Summary;

/// Four guests for two seconds, nearly no think time.
fn args(target: Option<String>) -> RunArgs {
    RunArgs {
        scripts: vec![root().join("scripts/guest.rhai")],
        stdlib: root().join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root().join("profiles"),
        users: Some(4),
        spawn_rate: Some(4.0),
        run_time: Some("2s".into()),
        wait: Some("0.02".into()),
        seed: Some(1),
        target,
        max_connections: 40,
        timeout: "5s".into(),
        reply_timeout: "2s".into(),
        stop_timeout: "5s".into(),
        quiet: true,
        ..RunArgs::default()
    }
}

async fn run(args: RunArgs) -> Summary {
    let config = stress::config::run(&args).expect("valid configuration");
    stress::cmd::run::run(config, std::future::pending())
        .await
        .expect("the run completes")
        .summary
}

fn failures(s: &Summary, kind: &str) -> u64 {
    s.requests
        .iter()
        .map(|r| r.failures_by_kind.get(kind).copied().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_as_connect_errors() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = run(args(Some(format!("http://127.0.0.1:{port}/webhook")))).await;
    assert!(s.totals.requests > 0);
    assert_eq!(failures(&s, "connect"), s.totals.requests);
    assert_eq!(s.totals.failures, s.totals.requests);
    assert_eq!(s.totals.script_errors, 0, "{:?}", s.script_errors);
    assert!(s.duration_s < 2.0 + 5.0);
    // The failure says what the OS said, with the address.
    let f = &s.failures[0];
    assert_eq!((f.kind.as_str(), f.status), ("connect", None));
    assert!(
        f.message.contains(&format!("connect to 127.0.0.1:{port}"))
            && f.message.contains("refused"),
        "{}",
        f.message
    );
}

/// Regression (#21): a wrong secret and a wrong path were both `http_4xx`, with nothing to
/// tell them apart. The binary exits 3 and its failures table shows the status and what the
/// bot said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_answers_401_fails_the_run_and_says_why() {
    let stack = LocalStack::start(DemoBotConfig {
        secret_token: Some("right".into()),
        latency: BotLatency::zero(),
        ..DemoBotConfig::default()
    })
    .await
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args(["run", "--script", "scripts/guest.rhai", "--iterations", "2"])
        .args(["--users", "2", "--run-time", "30s", "--wait", "0", "-q"])
        .arg("--target")
        .arg(stack.webhook_url())
        .args(["--secret-token", "wrong"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("requests failed"), "{stderr}");
    assert!(
        stdout.contains("http_4xx: HTTP 401: ") && stdout.contains("wrong secret token"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_and_resets_are_classified() {
    let mut a = args(None);
    a.bot_error_rate = 0.3;
    a.bot_reset_rate = 0.2;
    a.bot_no_latency = true;
    let s = run(a).await;
    let (errors, resets) = (failures(&s, "http_5xx"), failures(&s, "reset"));
    assert!(errors > 0 && resets > 0, "5xx {errors}, resets {resets}");
    assert_eq!(s.totals.failures, errors + resets);
    let bot = s.bot.as_ref().unwrap();
    assert_eq!(bot["faults"]["errors"].as_u64(), Some(errors));
    assert_eq!(bot["faults"]["resets"].as_u64(), Some(resets));
    // Failed sends get no reply awaited, and nothing else is lost.
    assert_eq!(s.totals.no_reply, 0);
    assert_eq!(bot["total"].as_u64(), Some(s.totals.requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_past_the_timeout_are_timeouts() {
    let mut a = args(None);
    a.bot_latency = vec![
        "text=400ms".into(),
        "command=400ms".into(),
        "callback=400ms".into(),
    ];
    a.timeout = "100ms".into();
    let s = run(a).await;
    assert!(s.totals.requests > 0);
    assert_eq!(failures(&s, "timeout"), s.totals.requests);
    assert!(s.totals.latency_ms.max < 400.0, "{:?}", s.totals.latency_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_target_gets_its_secret() {
    let stack = LocalStack::start(DemoBotConfig {
        secret_token: Some("s3cret".into()),
        reply_in_webhook: true,
        latency: BotLatency::zero(),
        faults: Faults::default(),
        ..DemoBotConfig::default()
    })
    .await
    .unwrap();
    let mut with = args(Some(stack.webhook_url()));
    with.secret_token = Some("s3cret".into());
    let s = run(with).await;
    assert!(s.totals.requests > 0);
    assert_eq!(s.totals.failures, 0, "{:?}", s.requests);
    // No stand-in of ours: replies in the webhook body still count, none are awaited.
    assert!(s.totals.replies > 0);
    assert_eq!(s.totals.no_reply, 0);
    assert!(s.bot.is_none());
    assert_eq!(stack.bot.stats().total, s.totals.requests);

    let without = run(args(Some(stack.webhook_url()))).await;
    assert_eq!(failures(&without, "http_4xx"), without.totals.requests);
    assert_eq!(
        stack.bot.stats().rejected.unauthorized,
        without.totals.requests
    );
}
