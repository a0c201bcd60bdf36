//! The bot chooses, as with Telegram: `stress run --botapi-listen` without `--target` waits for
//! the bot to call setWebhook or getUpdates, then delivers the users' updates that way. The bots
//! here are small and written in Rust against the stand-in's HTTP API, so each Telegram rule is
//! exercised exactly: a polling bot (offset, timeout), a webhook bot that acknowledges before it
//! answers and answers each update with two messages (settle and attribution), with its own
//! secret and max_connections; and no bot at all (the readiness timeout).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{check_schema, root, temp_dir};

const TOKEN: &str = "123:bots-test";
const SCRIPT: &str = r#"
user_class("Chatter", #{ tier: "guest", weight: 1, wait: 0 });

/// @task(1)
fn talk() {
    let r = send_text("ping");
    check("both replies", r.replies.len() == 2);
    check("first reply first", r.text == "pong 1: ping");
}
"#;

/// `stress run` against a bot that will choose, with its stderr read line by line.
pub(crate) struct Run {
    child: Child,
    json: std::path::PathBuf,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Run {
    fn start(name: &str, extra: &[&str]) -> Run {
        let mut args = vec!["--users", "4", "--iterations", "5"];
        args.extend_from_slice(extra);
        Run::with_script(name, SCRIPT, &args)
    }

    /// `script` run by users with `args`, the stand-in on a port the OS chooses.
    pub(crate) fn with_script(name: &str, script: &str, args: &[&str]) -> Run {
        Run::listening(name, script, "127.0.0.1:0", args)
    }

    /// [`Run::with_script`] with the stand-in on `listen`.
    pub(crate) fn listening(name: &str, script: &str, listen: &str, args: &[&str]) -> Run {
        let dir = temp_dir(name);
        let file = dir.join("class.rhai");
        std::fs::write(&file, script).unwrap();
        let json = dir.join("result.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stress"))
            .current_dir(root())
            .arg("run")
            .arg("--script")
            .arg(&file)
            .args(["--botapi-listen", listen])
            .args(["--spawn-rate", "100", "--run-time", "120s", "--seed", "3"])
            .arg("--json")
            .arg(&json)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let pipe = BufReader::new(child.stderr.take().unwrap());
        let all = stderr.clone();
        std::thread::spawn(move || {
            for line in pipe.lines().map_while(Result::ok) {
                all.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        Run {
            child,
            json,
            lines,
            stderr,
        }
    }

    /// The stand-in's address, from the line that says where to point the bot.
    pub(crate) fn stand_in(&self) -> SocketAddr {
        let line = self.wait_for_line("stand-in is at http://");
        let rest = line.split("stand-in is at http://").nth(1).unwrap();
        rest.split(';').next().unwrap().parse().unwrap()
    }

    /// The first line from now on that contains `text` (within a generous bound).
    pub(crate) fn wait_for_line(&self, text: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(180))
                .unwrap_or_else(|_| panic!("no line with {text:?}:\n{}", self.log()));
            if line.contains(text) {
                return line;
            }
        }
    }

    pub(crate) fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the end (bounded by the run's own limits) and reads the result.
    pub(crate) fn finish(mut self) -> (Option<i32>, Value, String) {
        let status = self.child.wait().unwrap();
        let log = self.log();
        let json = std::fs::read_to_string(&self.json)
            .map(|s| serde_json::from_str(&s).unwrap())
            .unwrap_or(Value::Null);
        (status.code(), json, log)
    }
}

/// A call of the stand-in's Bot API, answered as JSON.
pub(crate) async fn call(
    client: &reqwest::Client,
    api: SocketAddr,
    method: &str,
    body: Value,
) -> Value {
    client
        .post(format!("http://{api}/bot{TOKEN}/{method}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Answers one message with two, the second a little later, as a bot streaming its answer.
async fn answer_twice(client: &reqwest::Client, api: SocketAddr, update: &Value) {
    let message = &update["message"];
    let chat = message["chat"]["id"].clone();
    let text = message["text"].as_str().unwrap_or_default();
    for n in 1..=2 {
        let sent = call(
            client,
            api,
            "sendMessage",
            json!({ "chat_id": chat, "text": format!("pong {n}: {text}") }),
        )
        .await;
        assert_eq!(sent["ok"], true, "{sent}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_clean(json: &Value, log: &str) {
    check_schema(json).unwrap();
    let totals = &json["totals"];
    let requests = totals["requests"].as_u64().unwrap();
    assert_eq!(requests, 20, "4 users x 5 iterations\n{log}");
    assert_eq!(totals["failures"], 0, "{log}");
    assert_eq!(totals["replies"], requests, "{log}");
    assert_eq!(totals["reply_messages"], 2 * requests, "{log}");
    assert_eq!(totals["late_replies"], 0, "{log}");
    assert_eq!(totals["checks_failed"], 0, "{log}");
    assert!(
        totals["last_reply_ms"]["p50"].as_f64().unwrap()
            >= totals["reply_ms"]["p50"].as_f64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_bot_gets_every_update_once_with_telegrams_offsets() {
    let run = Run::start("bots-polling", &["--drain", "1s"]);
    let api = run.stand_in();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    let bot = {
        let (stop, seen) = (stop.clone(), seen.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let me = call(&client, api, "getMe", json!({})).await;
            assert_eq!(me["result"]["is_bot"], true);
            let mut offset = 0;
            let mut ids = std::collections::HashSet::new();
            while !stop.load(Ordering::Relaxed) {
                let Ok(got) = client
                    .post(format!("http://{api}/bot{TOKEN}/getUpdates"))
                    .json(
                        &json!({ "offset": offset, "timeout": 1, "allowed_updates": ["message"] }),
                    )
                    .send()
                    .await
                else {
                    break;
                };
                let got: Value = got.json().await.unwrap();
                assert_eq!(got["ok"], true, "{got}");
                for update in got["result"].as_array().unwrap() {
                    let id = update["update_id"].as_i64().unwrap();
                    assert!(ids.insert(id), "update {id} delivered twice");
                    offset = id + 1;
                    seen.fetch_add(1, Ordering::Relaxed);
                    answer_twice(&client, api, update).await;
                }
            }
        })
    };
    let run = tokio::task::spawn_blocking(move || run.finish());
    let (code, json, log) = run.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    bot.await.unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert_clean(&json, &log);
    assert_eq!(seen.load(Ordering::Relaxed), 20);
    let botapi = &json["botapi"];
    assert_eq!(botapi["mode"], "polling", "{botapi}");
    assert_eq!(botapi["polling"]["fetched"], 20, "{botapi}");
    assert_eq!(botapi["polling"]["refetched"], 0, "{botapi}");
    assert_eq!(botapi["calls"]["sendMessage"], 40, "{botapi}");
    assert!(
        botapi["late_calls"].as_u64().unwrap() > 0,
        "the bot kept polling during --drain: {botapi}"
    );
    assert!(log.contains("(--drain)"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_bot_that_acknowledges_first_has_both_replies_credited_to_their_update() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    let run = Run::start("bots-webhook", &["--drain", "0s"]);
    let api = run.stand_in();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let hook = {
        let (in_flight, most) = (in_flight.clone(), most.clone());
        post(move |headers: HeaderMap, update: axum::Json<Value>| {
            let (in_flight, most) = (in_flight.clone(), most.clone());
            async move {
                if headers
                    .get("x-telegram-bot-api-secret-token")
                    .is_none_or(|s| s != "hook-secret")
                {
                    return StatusCode::UNAUTHORIZED;
                }
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                // Acknowledged first; answered in the background.
                tokio::spawn(async move {
                    answer_twice(&reqwest::Client::new(), api, &update.0).await;
                });
                StatusCode::OK
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/hook", hook))
            .await
            .unwrap()
    });
    let client = reqwest::Client::new();
    let set = call(
        &client,
        api,
        "setWebhook",
        json!({ "url": url, "secret_token": "hook-secret", "max_connections": 2 }),
    )
    .await;
    assert_eq!(set["ok"], true, "{set}");
    let polled = call(&client, api, "getUpdates", json!({})).await;
    assert_eq!(polled["error_code"], 409, "{polled}");

    let (code, json, log) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert_clean(&json, &log);
    let botapi = &json["botapi"];
    assert_eq!(botapi["mode"], "webhook", "{botapi}");
    assert_eq!(botapi["webhook_url"], url.as_str(), "{botapi}");
    assert_eq!(botapi["max_connections"], 2, "{botapi}");
    assert!(most.load(Ordering::SeqCst) <= 2, "max_connections honoured");
}

#[test]
fn without_a_bot_the_run_says_which_flag_waited() {
    let run = Run::start("bots-none", &["--bot-ready-timeout", "1s"]);
    let (code, json, log) = run.finish();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("--bot-ready-timeout"), "{log}");
    assert!(log.contains("setWebhook or getUpdates"), "{log}");
    assert_eq!(json, Value::Null, "no run, no result");
}
