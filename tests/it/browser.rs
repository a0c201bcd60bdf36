//! The dashboard: `stress web`'s API without a browser (start, reset, downloads, gzip, the
//! icon, refusals in words, the finished state), then the page and the HTML report in a real
//! browser (headless Chromium driven by playwright-core, `tests/browser/dashboard.mjs`) at
//! 1440 and 360 px, and a chaos run's report (a shaded fault window, the Resilience tab).
//! Screenshots go to `target/browser-screenshots/`. Without Chromium, Node or playwright-core
//! (`.ci/install-browser-deps`) the browser test says it is skipped, and fails under CI (`CI`
//! set).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use stress::cli::{RunArgs, WebArgs};
use stress::profile::chaos::FloodMode;
use stress::report::{FloodReport, GateSpan, Resilience, View, WindowOutcome};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{check_schema, root};

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

/// `stress web` in-process on port 0, with the demo bot failing `error_rate` of the updates:
/// its base URL, the sender that stops it, and its task.
async fn web(error_rate: f64) -> (String, oneshot::Sender<()>, JoinHandle<()>) {
    let mut run = args();
    run.bot_error_rate = error_rate;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (bound_tx, bound_rx) = oneshot::channel::<SocketAddr>();
    let server = tokio::spawn(async move {
        let stop = stress::cmd::run::Stop::graceful(async move {
            let _ = stop_rx.await;
        });
        stress::cmd::web::serve(
            WebArgs {
                listen: "127.0.0.1:0".parse().unwrap(),
                run,
            },
            stop,
            move |addr| {
                let _ = bound_tx.send(addr);
            },
        )
        .await
        .expect("stress web serves");
    });
    let addr = bound_rx.await.expect("stress web is up");
    (format!("http://{addr}"), stop_tx, server)
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `/api/stats` until `done` holds for it.
async fn wait_for(base: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let view = get(base, "/api/stats").await;
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_web_starts_resets_downloads_and_keeps_the_results() {
    let (base, stop, server) = web(0.2).await;
    let client = reqwest::Client::new();
    let status = get(&base, "/api/status").await;
    assert_eq!(status["state"], "idle");
    assert_eq!(status["start"]["profile"], "smoke");
    assert_eq!(status["start"]["users"], 6);

    // Refusals in plain words, before and during a run.
    let (code, answer) = post(&base, "/api/start", json!({ "users": -5 })).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (422, Some("users must be 1 or more"))
    );
    let (code, answer) = post(&base, "/api/start", json!({ "run_time": "soon" })).await;
    assert_eq!(code, 422);
    assert!(
        answer["error"].as_str().unwrap().starts_with("run_time"),
        "{answer}"
    );
    let (code, answer) = post(&base, "/api/start", json!({ "profile": "nope" })).await;
    assert_eq!(code, 422);
    assert!(
        answer["error"].as_str().unwrap().starts_with("profile: "),
        "{answer}"
    );
    let (code, _) = post(&base, "/api/stop", json!({})).await;
    assert_eq!(code, 409, "no run to stop");

    let (code, answer) = post(
        &base,
        "/api/start",
        json!({ "users": 4, "spawn_rate": 20, "run_time": "60s" }),
    )
    .await;
    assert_eq!(code, 202, "{answer}");
    let (code, _) = post(&base, "/api/start", json!({})).await;
    assert_eq!(code, 409, "one run at a time");
    let live = wait_for(&base, "requests", |v| {
        v["state"] == "running" && v["all"]["count"].as_u64() > Some(20)
    })
    .await;
    assert_eq!(live["goal_users"], 4);
    let (code, answer) = post(&base, "/api/users", json!({ "users": -5 })).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (422, Some("users must be 0 or more"))
    );
    let (code, answer) = post(&base, "/api/users", json!({ "spawn_rate": 10 })).await;
    assert_eq!(code, 202);
    assert_eq!(answer["users"], 4, "users kept when only the rate is given");

    // gzip for a client that asks; the icon; the CSV.
    let r = client
        .get(format!("{base}/api/stats"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let plain = client
        .get(format!("{base}/api/stats"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let icon = client
        .get(format!("{base}/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    let csv = client
        .get(format!("{base}/api/download/csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("Type,Name,Request Count,Failure Count,Median Response Time"));
    let failures = client
        .get(format!("{base}/api/download/csv?file=failures"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        failures.starts_with("Method,Name,Error,Occurrences"),
        "{failures}"
    );

    // Reset: the counts start over and the history marks it, in the JSON too. (A worker's
    // second under way when the reset comes counts after it: enough requests come before.)
    let before = wait_for(&base, "150 requests", |v| {
        v["all"]["count"].as_u64() > Some(150)
    })
    .await["all"]["count"]
        .as_u64()
        .unwrap();
    let (code, _) = post(&base, "/api/reset", json!({})).await;
    assert_eq!(code, 202);
    wait_for(&base, "the counts to start over", |v| {
        v["all"]["count"].as_u64().unwrap() < before
    })
    .await;
    wait_for(&base, "the reset in the history", |v| {
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["reset"] == true)
    })
    .await;
    let result: Value = client
        .get(format!("{base}/api/download/json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["partial"], true, "a live result is partial");
    check_schema(&result).unwrap();
    assert!(
        result["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["reset"] == true)
    );

    // Stop: the results stay, final and marked stopped; the next run starts clean.
    let (code, _) = post(&base, "/api/stop", json!({})).await;
    assert_eq!(code, 202);
    let done = wait_for(&base, "the stopped state", |v| v["state"] == "stopped").await;
    assert!(
        done["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "http_5xx" && f["status"] == 500)
    );
    let report = client
        .get(format!("{base}/api/report.html"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("<script id=\"data\""));
    let result: Value = client
        .get(format!("{base}/api/download/json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["partial"], false);
    assert_eq!(result["totals"]["requests"], done["all"]["count"]);
    let (code, _) = post(&base, "/api/reset", json!({})).await;
    assert_eq!(code, 409, "nothing to reset between runs");

    let (code, _) = post(&base, "/api/start", json!({ "run_time": "2s" })).await;
    assert_eq!(code, 202);
    let second = wait_for(&base, "the second run to finish", |v| {
        v["state"] == "finished"
    })
    .await;
    assert!(second["elapsed_s"].as_f64().unwrap() < 4.0);
    assert!(
        second["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["reset"] == false)
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("stress web ends after its signal")
        .unwrap();
}

#[test]
fn stress_web_keeps_the_control_token_rules() {
    let mut a = WebArgs {
        listen: "0.0.0.0:0".parse().unwrap(),
        run: args(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let serve = |a: WebArgs| {
        runtime.block_on(stress::cmd::web::serve(
            a,
            stress::cmd::run::Stop::graceful(async {}),
            |_| {},
        ))
    };
    let e = serve(WebArgs {
        listen: a.listen,
        run: a.run.clone(),
    })
    .unwrap_err();
    assert_eq!(stress::exit_code(&e), 2);
    assert!(e.to_string().contains("--listen"), "{e}");
    a.run.control = Some("127.0.0.1:0".parse().unwrap());
    a.run.control_token = Some("t".into());
    let e = serve(a).unwrap_err();
    assert!(e.to_string().contains("--control"), "{e}");
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
async fn dashboard_and_report_in_a_browser_at_1440_and_360_px() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}: CI must run .ci/install-browser-deps"
        );
        eprintln!(
            "SKIPPED dashboard_and_report_in_a_browser_at_1440_and_360_px: {why} (run \
             .ci/install-browser-deps)"
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
    // The same run as a chaos run's report: a fault window (the charts shade it, the
    // Resilience tab lists it) and the stand-in's flood counts.
    let chaos_report = shots.join("report-chaos.html");
    let mut chaos = summary.clone();
    chaos.resilience = Some(Resilience {
        windows: vec![WindowOutcome {
            name: "webhook cut".into(),
            start_s: 1.0,
            end_s: 2.0,
            faults: vec!["webhook cut".into()],
            replies_lost: 3,
            redeliveries: 7,
            recovery_s: None,
            ..WindowOutcome::default()
        }],
        redeliveries: 7,
        violations: 2,
        flood_refused: 15,
        ..Resilience::default()
    });
    chaos.botapi.get_or_insert_with(Default::default).flood = Some(FloodReport {
        mode: FloodMode::Enforce,
        peak_messages_per_s: 45,
        total: GateSpan {
            refused_global: 15,
            violations: 2,
            ..GateSpan::default()
        },
        ..FloodReport::default()
    });
    let page = stress::output::html::render(&View::of(&chaos, None), "stress report").unwrap();
    std::fs::write(&chaos_report, page).unwrap();

    // `stress web`, started and driven from the page.
    let (base, stop, server) = web(0.1).await;
    let browser = tokio::process::Command::new("node")
        .arg(root().join("tests/browser/dashboard.mjs"))
        .arg(format!("{base}/"))
        .arg(&report)
        .arg(&shots)
        .arg(&chaos_report)
        .output()
        .await
        .unwrap();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
    assert!(
        browser.status.success(),
        "{}{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&browser.stdout));
    for shot in [
        "dashboard-1440.png",
        "dashboard-360.png",
        "report-360.png",
        "report-chaos-360.png",
    ] {
        assert!(shots.join(shot).is_file(), "{shot}");
    }
}
