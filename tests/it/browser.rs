//! The live dashboard and the HTML report in a real browser (headless Chromium driven by
//! playwright-core, `tests/browser/dashboard.mjs`): live data appears, the distribution table
//! and the charts are drawn with real numbers, a control changes the run, the report needs no
//! network. Screenshots go to `target/browser-screenshots/`. Without Chromium, Node or
//! playwright-core (`.ci/install-browser-deps`) the test says it is skipped, and fails under CI.

use std::path::PathBuf;
use std::process::Command;

use stress::cli::RunArgs;

use crate::common::{root, start_live};

fn args() -> RunArgs {
    RunArgs {
        scripts: vec![
            root().join("scripts/guest.rhai"),
            root().join("scripts/power_user.rhai"),
        ],
        stdlib: root().join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root().join("profiles"),
        users: Some(6),
        spawn_rate: Some(50.0),
        wait: Some("0.05..0.2".into()),
        seed: Some(2),
        max_connections: 40,
        timeout: "10s".into(),
        reply_timeout: "2s".into(),
        stop_timeout: "5s".into(),
        bot_no_latency: true,
        quiet: true,
        ..RunArgs::default()
    }
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !PathBuf::from(&chromium).exists() {
        return Some(format!("no Chromium at {chromium}"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node".into());
    }
    if !root()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        return Some("no playwright-core in tests/browser/node_modules".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_report_render_in_a_browser() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}: CI must run .ci/install-browser-deps"
        );
        eprintln!(
            "SKIPPED dashboard_and_report_render_in_a_browser: {why} (run .ci/install-browser-deps)"
        );
        return;
    }
    let shots = root().join("target/browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // A finished run for the report.
    let report = shots.join("report.html");
    let mut a = args();
    a.run_time = Some("3s".into());
    a.html = Some(report.clone());
    a.thresholds = vec!["errors<1%".into()];
    let config = stress::config::run(&a).unwrap();
    let outputs = config.outputs.clone();
    let mut outcome = stress::cmd::run::run(config, std::future::pending())
        .await
        .unwrap();
    let summary = &mut outcome.summary;
    summary.thresholds = vec![
        stress::threshold::Threshold::parse("errors<1%")
            .unwrap()
            .evaluate(summary),
    ];
    for (format, path) in &outputs {
        format.write(summary, path).unwrap();
    }

    // A live run for the dashboard.
    let mut a = args();
    a.run_time = Some("60s".into());
    a.control = Some("127.0.0.1:0".parse().unwrap());
    let (run, base) = start_live(&a).await;
    let browser = tokio::process::Command::new("node")
        .arg(root().join("tests/browser/dashboard.mjs"))
        .arg(format!("{base}/"))
        .arg(&report)
        .arg(&shots)
        .output()
        .await
        .unwrap();
    let stop = reqwest::Client::new()
        .post(format!("{base}/api/stop"))
        .json(&serde_json::json!({}))
        .send()
        .await;
    let live = run.await.unwrap();
    assert!(
        browser.status.success(),
        "{}{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(stop.is_ok());
    eprintln!("{}", String::from_utf8_lossy(&browser.stdout));
    // The dashboard's "users up" reached the scheduler.
    assert!(
        live.history.iter().any(|p| p.users > 6),
        "{:?}",
        live.history
    );
    assert!(shots.join("dashboard.png").is_file() && shots.join("report.png").is_file());
}
