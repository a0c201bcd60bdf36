//! Telegram's rules and the chaos phase (#19): flood limits told apart for a bot that honours
//! `retry_after` and one that does not, redelivery with the demo bot behaving or naive, and a
//! compressed chaos profile whose result carries the resilience section.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::bots::{Run, call};
use crate::common::{check_schema, root, temp_dir};

/// One user sending ten updates a second.
const TEN_A_SECOND: &str = r#"
user_class("Flooder", #{ tier: "guest", weight: 1, wait: 0.1 });

/// @task(1)
fn talk() {
    send_text("go");
}
"#;

/// A profile whose per-chat limit a bot answering each update with three messages exceeds.
const LIMITS: &str = r#"
users = 1
spawn_rate = 10
run_time = "120s"

[flood]
per_chat = 10
chat_burst = 3
"#;

/// How the test bot treats a 429.
#[derive(Clone, Copy, PartialEq)]
enum Manners {
    /// Waits `retry_after` before its next call for the chat, then retries.
    Polite,
    /// Carries on sending at once.
    Ignoring,
}

/// A chat's turn to send, and when it may next (after a 429).
type Turn = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// A webhook bot that acknowledges each update and answers it in the background with three
/// messages into the same chat.
async fn three_message_bot(api: SocketAddr, manners: Manners) -> String {
    use axum::routing::post;
    // The polite bot sends for one chat at a time and waits as told before its next call
    // there, as a framework's rate limiter does.
    let chats: Arc<Mutex<HashMap<i64, Turn>>> = Arc::default();
    let hook = post(move |update: axum::Json<Value>| {
        let chats = chats.clone();
        async move {
            let chat = update.0["message"]["chat"]["id"].as_i64().unwrap();
            let turn = chats.lock().unwrap().entry(chat).or_default().clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut not_before = match manners {
                    Manners::Polite => Some(turn.lock().await),
                    Manners::Ignoring => None,
                };
                for n in 1..=3 {
                    loop {
                        if let Some(Some(at)) = not_before.as_deref() {
                            tokio::time::sleep_until(*at).await;
                        }
                        let text = format!("part {n}");
                        let sent = call(
                            &client,
                            api,
                            "sendMessage",
                            json!({ "chat_id": chat, "text": text }),
                        )
                        .await;
                        if sent["ok"] == true {
                            break;
                        }
                        assert_eq!(sent["error_code"], 429, "{sent}");
                        let secs = sent["parameters"]["retry_after"].as_u64().unwrap();
                        assert!(
                            sent["description"]
                                .as_str()
                                .unwrap()
                                .starts_with("Too Many Requests: retry after"),
                            "{sent}"
                        );
                        if manners == Manners::Ignoring {
                            break;
                        }
                        if let Some(at) = not_before.as_deref_mut() {
                            *at = Some(Instant::now() + Duration::from_secs(secs));
                        }
                    }
                }
            });
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/hook", hook))
            .await
            .unwrap()
    });
    let set = call(
        &reqwest::Client::new(),
        api,
        "setWebhook",
        json!({ "url": url }),
    )
    .await;
    assert_eq!(set["ok"], true, "{set}");
    url
}

/// Runs `updates` updates (ten a second, not waiting for replies) through the three-message
/// bot and returns the stand-in's flood report; the stand-in answers the bot for `drain` after.
async fn flood_run(
    name: &str,
    mode: &str,
    manners: Manners,
    updates: u64,
    drain: &str,
) -> (Value, String) {
    let profile = temp_dir(&format!("{name}-profile")).join("limits.toml");
    std::fs::write(&profile, LIMITS).unwrap();
    let profile = profile.to_str().unwrap().to_string();
    let run = Run::with_script(
        name,
        TEN_A_SECOND,
        &[
            "--profile",
            &profile,
            "--iterations",
            &updates.to_string(),
            "--no-await-reply",
            "--flood-limits",
            mode,
            "--drain",
            drain,
        ],
    );
    let api = run.stand_in();
    three_message_bot(api, manners).await;
    let (code, json, log) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{log}");
    check_schema(&json).unwrap();
    assert_eq!(json["totals"]["requests"], updates, "{log}");
    (json["botapi"]["flood"].clone(), log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_messages_over_the_chat_limit_and_refuses_none() {
    let (flood, _) = flood_run("chaos-flood-report", "report", Manners::Ignoring, 20, "2s").await;
    assert_eq!(flood["mode"], "report", "{flood}");
    let total = &flood["total"];
    assert!(total["refused_chat"].as_u64().unwrap() > 0, "{flood}");
    assert_eq!(total["violations"], 0, "nothing was refused: {flood}");
    assert_eq!(total["messages"], 60, "every message went through: {flood}");
    assert_eq!(flood["max_retry_after_s"], 0, "{flood}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_counts_violations_only_for_a_bot_that_ignores_retry_after() {
    // Refused, the polite bot sends about three messages a second: six updates' worth take
    // about six seconds, within the drain.
    let (polite, _) = flood_run("chaos-flood-polite", "enforce", Manners::Polite, 6, "12s").await;
    let total = &polite["total"];
    assert!(total["refused_chat"].as_u64().unwrap() > 0, "{polite}");
    assert_eq!(total["violations"], 0, "it waited as told: {polite}");
    assert_eq!(total["messages"], 18, "and delivered everything: {polite}");

    let (rude, _) = flood_run("chaos-flood-rude", "enforce", Manners::Ignoring, 20, "2s").await;
    let total = &rude["total"];
    assert!(total["violations"].as_u64().unwrap() > 0, "{rude}");
    assert!(
        total["messages"].as_u64().unwrap() < 60,
        "refused ones are lost: {rude}"
    );
    assert!(
        rude["max_retry_after_s"].as_u64().unwrap() >= 2,
        "retry_after grows for a bot that keeps pushing: {rude}"
    );
}

#[test]
fn a_compressed_chaos_run_reports_each_window() {
    let dir = temp_dir("chaos-preset");
    let json_path = dir.join("result.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args([
            "run",
            "--profile",
            "chaos",
            "--run-time",
            "20s",
            "--users",
            "10",
        ])
        .args([
            "--seed",
            "5",
            "--wait",
            "0.2",
            "--quiet",
            "--allow-failures",
            "--json",
        ])
        .arg(&json_path)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{table}\n{log}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    check_schema(&json).unwrap();
    let windows = json["resilience"]["windows"].as_array().unwrap();
    let names: Vec<&str> = windows
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Bot API 5xx at 20%",
            "webhook cut",
            "Bot API flood and slow answers",
            "users block the bot, connections reset"
        ]
    );
    // The 10-minute plan compressed to 20 s: the 5xx window is minute 2 to 3.
    let span = (windows[0]["start_s"].as_f64(), windows[0]["end_s"].as_f64());
    assert_eq!(span, (Some(4.0), Some(6.0)));
    let cut = &windows[1];
    assert!(
        cut["redeliveries"].as_u64().unwrap() > 0,
        "a cut webhook's updates are redelivered: {cut}"
    );
    let flood = &json["botapi"]["flood"];
    assert_eq!(flood["spans"].as_array().unwrap().len(), 5, "{flood}");
    assert!(
        flood["total"]["injected"]["5xx"].as_u64().unwrap() > 0,
        "{flood}"
    );
    assert!(table.contains("resilience, per fault window"), "{table}");
    assert!(table.contains("webhook cut"), "{table}");
    assert!(
        table.contains("flood limits (report): your bot sent"),
        "{table}"
    );
    assert!(table.contains("would have been refused"), "{table}");
}

/// The demo bot under `--redeliver` with a fifth of its webhook answers failing after it did
/// its work: the result of the run, and the bot's own counts.
fn redelivery_run(name: &str, naive: bool) -> (Value, String) {
    let dir = temp_dir(name);
    let json_path = dir.join("result.json");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stress"));
    cmd.current_dir(root())
        .args([
            "run",
            "--users",
            "10",
            "--spawn-rate",
            "100",
            "--iterations",
            "10",
        ])
        .args(["--wait", "0", "--run-time", "120s", "--seed", "11"])
        .args([
            "--bot-error-rate",
            "0.2",
            "--redeliver",
            "--quiet",
            "--allow-failures",
        ])
        .arg("--json")
        .arg(&json_path);
    if naive {
        cmd.arg("--bot-naive");
    }
    let out = cmd.output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    check_schema(&json).unwrap();
    (json, table)
}

#[test]
fn redelivery_tells_an_idempotent_bot_from_a_naive_one() {
    let (good, _) = redelivery_run("chaos-redeliver-good", false);
    let t = &good["totals"];
    assert!(t["redeliveries"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(
        t["duplicate_replies"], 0,
        "the bot remembers what it answered: {t}"
    );
    assert_eq!(
        t["lost_updates"], 0,
        "every update got through in the end: {t}"
    );
    assert!(
        good["bot"]["redeliveries_deduplicated"].as_u64().unwrap() > 0,
        "{}",
        good["bot"]
    );

    let (naive, table) = redelivery_run("chaos-redeliver-naive", true);
    let t = &naive["totals"];
    assert!(t["redeliveries"].as_u64().unwrap() > 0, "{t}");
    assert!(
        t["duplicate_replies"].as_u64().unwrap() > 0,
        "answers repeated: {t}"
    );
    let per_name: u64 = naive["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["duplicate_replies"].as_u64().unwrap())
        .sum();
    assert_eq!(per_name, t["duplicate_replies"].as_u64().unwrap());
    assert!(table.contains("duplicate replies"), "{table}");
}
