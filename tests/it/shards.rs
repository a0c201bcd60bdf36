//! Issue #20's proof on one machine: the commands of deploy/kubernetes/README.md (its
//! `shard-test` block, word for word but for the bot's address) run one test whole and as
//! three shard processes against one `stress target`, and `stress merge` of the shards equals
//! the whole run: counts per name, class and task, and each class's sequence digest (every
//! user sent the same requests in the same order). From the bot's side, through a recording
//! proxy in front of it: as many updates and distinct users, no update_id sent by two shards,
//! no user in two shards. Merged percentiles are those of the shards' histograms added up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use clap::Parser;
use stress::report::Percentiles;
use stress::report::histograms::decode;
use stress::telegram::ids::{DEFAULT_FIRST_UPDATE_ID, MAX_UPDATE_ID};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common::{check_schema, root, temp_dir};

/// The README's two command lines from its `shard-test` block: `stress run ... --shard
/// "$SHARD/3" ...` and `stress merge ...`.
fn readme_commands() -> (String, String) {
    let path = root().join("deploy/kubernetes/README.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shard test runs its commands)", path.display()));
    let block = text
        .split("<!-- shard-test:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- shard-test:end -->").next())
        .expect("README.md has a shard-test block");
    let code = block
        .split("```sh")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the shard-test block holds a ```sh block");
    // A line ending in a backslash goes on, as in a shell.
    let lines: Vec<String> = code
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let find = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in the shard-test block: {lines:?}"))
            .clone()
    };
    (find("stress run "), find("stress merge "))
}

/// A command line split as `sh` would, with `$SHARD` set; the `stress` word dropped.
fn words(line: &str, shard: Option<u32>) -> Vec<String> {
    let line = match shard {
        Some(i) => line
            .replace("${SHARD}", &i.to_string())
            .replace("$SHARD", &i.to_string()),
        None => line.to_string(),
    };
    let mut words = shell_words::split(&line).expect("the line splits as sh would");
    assert_eq!(words.remove(0), "stress");
    words
}

/// The value after `flag` in a command's words.
fn value<'a>(words: &'a [String], flag: &str) -> &'a str {
    let at = words
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("no {flag} in {words:?}"));
    &words[at + 1]
}

/// The project the commands run in, laid out as the pods' `/stress`: the repository's
/// scripts and modules, the README folder's profile, and `results/`.
fn project(run: &[String]) -> std::path::PathBuf {
    let dir = temp_dir("shards");
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
            }
        }
    };
    copy_dir(&root().join("scripts"), &dir.join(value(run, "--script")));
    copy_dir(&root().join("stdlib"), &dir.join("stdlib"));
    let profile = Path::new(value(run, "--profile"));
    std::fs::create_dir_all(dir.join(profile.parent().unwrap())).unwrap();
    std::fs::copy(
        root()
            .join("deploy/kubernetes")
            .join(profile.file_name().unwrap()),
        dir.join(profile),
    )
    .unwrap();
    let json = Path::new(value(run, "--json"));
    std::fs::create_dir_all(dir.join(json.parent().unwrap())).unwrap();
    dir
}

/// `stress target` as a user starts it, on a free port: its webhook URL and stats URL.
async fn demo_bot() -> (tokio::process::Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(["target", "--listen", "127.0.0.1:0", "--no-latency"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(at) = line.find("demo bot on http://") {
            let url = line[at + "demo bot on ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            let stats = url.replace("/webhook", "/stats");
            return (child, url, stats);
        }
    }
    panic!("stress target ended without serving");
}

/// What reached the bot: each update's id and sender.
#[derive(Default)]
struct Recorded {
    updates: Mutex<Vec<(i64, i64)>>,
}

struct Proxy {
    recorded: Recorded,
    bot: String,
    client: reqwest::Client,
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let update: serde_json::Value = serde_json::from_slice(&body).expect("an update");
    let sender = ["message", "callback_query"]
        .iter()
        .find_map(|k| update[k]["from"]["id"].as_i64())
        .expect("an update with a sender");
    let id = update["update_id"].as_i64().expect("an update_id");
    proxy.recorded.updates.lock().unwrap().push((id, sender));
    let mut request = proxy.client.post(&proxy.bot).body(body);
    for (name, value) in &headers {
        if name == "content-type" || name.as_str().starts_with("x-telegram") {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.expect("the bot answers");
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let kind = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_string();
    let bytes = answer.bytes().await.unwrap();
    (status, [("content-type", kind)], bytes)
}

/// A proxy on a free port that records every update and hands it to `bot`.
async fn recording_proxy(bot: String) -> (Arc<Proxy>, String) {
    let proxy = Arc::new(Proxy {
        recorded: Recorded::default(),
        bot,
        client: reqwest::Client::new(),
    });
    let app = axum::Router::new()
        .fallback(axum::routing::post(forward))
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (proxy, url)
}

async fn stress(dir: &Path, args: &[String]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stress {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The integer leaves of `after` minus those of `before`, by path.
fn counts_between(before: &serde_json::Value, after: &serde_json::Value) -> BTreeMap<String, i64> {
    fn walk(v: &serde_json::Value, at: String, out: &mut BTreeMap<String, i64>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    walk(v, format!("{at}.{k}"), out);
                }
            }
            serde_json::Value::Number(n) => {
                if let Some(n) = n.as_i64() {
                    out.insert(at, n);
                }
            }
            _ => {}
        }
    }
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    walk(before, String::new(), &mut a);
    walk(after, String::new(), &mut b);
    b.into_iter()
        .map(|(k, v)| {
            let was = a.get(&k).copied().unwrap_or(0);
            (k, v - was)
        })
        .collect()
}

async fn bot_stats(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Requests the host refused to send (they never reach the bot).
fn refused(result: &serde_json::Value) -> u64 {
    result["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["failures_by_kind"]["refused"].as_u64())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merged_equal_the_whole_run_and_the_bot_saw_the_same() {
    let (run_line, merge_line) = readme_commands();
    let template = words(&run_line, Some(1));
    assert!(
        template.iter().any(|w| w == "--shard") && template.iter().any(|w| w == "--seed"),
        "the README's run line shards with a seed: {run_line}"
    );
    let dir = project(&template);
    let (_bot, bot_url, stats_url) = demo_bot().await;
    let (proxy, url) = recording_proxy(bot_url).await;
    let target = ["--target".to_string(), url];

    // The whole test: the README's line without --shard, into its own file.
    let mut whole = template.clone();
    let at = whole.iter().position(|w| w == "--shard").unwrap();
    whole.drain(at..at + 2);
    let at = whole.iter().position(|w| w == "--json").unwrap();
    whole[at + 1] = "results/whole.json".into();
    whole.extend(target.iter().cloned());
    let before = bot_stats(&stats_url).await;
    stress(&dir, &whole).await;
    let after_whole = bot_stats(&stats_url).await;
    let seen_whole = std::mem::take(&mut *proxy.recorded.updates.lock().unwrap());

    // Three shard processes at once, as the Job's pods.
    let shards = (1..=3).map(|i| {
        let mut args = words(&run_line, Some(i));
        args.extend(target.iter().cloned());
        let dir = dir.clone();
        async move { stress(&dir, &args).await }
    });
    futures_util::future::join_all(shards).await;
    let after_shards = bot_stats(&stats_url).await;
    let seen_shards = std::mem::take(&mut *proxy.recorded.updates.lock().unwrap());

    let merge = words(&merge_line, None);
    stress(&dir, &merge).await;
    let merged = read(&dir.join(value(&merge, "--json")));
    let whole = read(&dir.join("results/whole.json"));
    let shard_files: Vec<serde_json::Value> = (1..=3)
        .map(|i| read(&dir.join(value(&words(&run_line, Some(i)), "--json"))))
        .collect();
    check_schema(&merged).unwrap();
    check_schema(&shard_files[0]).unwrap();

    // The merge equals the whole run.
    assert_eq!(merged["shard"]["merged"], serde_json::json!([1, 2, 3]));
    assert_eq!(merged["test_digest"], whole["test_digest"]);
    let t = |v: &serde_json::Value, k: &str| v["totals"][k].as_u64().unwrap();
    for k in [
        "requests",
        "failures",
        "tasks",
        "checks_passed",
        "checks_failed",
    ] {
        assert_eq!(t(&merged, k), t(&whole, k), "totals.{k}");
    }
    assert!(t(&whole, "requests") > 1_000, "a test of some size");
    let rows = |v: &serde_json::Value| -> BTreeMap<String, (u64, u64)> {
        v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let n = r["name"].as_str().unwrap().to_string();
                (
                    n,
                    (
                        r["count"].as_u64().unwrap(),
                        r["failures"].as_u64().unwrap(),
                    ),
                )
            })
            .collect()
    };
    assert_eq!(
        rows(&merged),
        rows(&whole),
        "count and failures per request name"
    );
    let classes = |v: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let tasks: BTreeMap<String, u64> = c["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        (
                            t["name"].as_str().unwrap().into(),
                            t["count"].as_u64().unwrap(),
                        )
                    })
                    .collect();
                let class = serde_json::json!({
                    "users": c["users_started"],
                    "iterations": c["iterations"],
                    "digest": c["sequence_digest"],
                    "tasks": tasks,
                });
                (c["name"].as_str().unwrap().to_string(), class)
            })
            .collect()
    };
    assert_eq!(
        classes(&merged),
        classes(&whole),
        "users, iterations, task counts and request sequences per class"
    );

    // The bot's side: the same updates and users, every update_id once, each shard in its own
    // range, no user in two shards.
    let delta_whole = counts_between(&before, &after_whole);
    let delta_shards = counts_between(&after_whole, &after_shards);
    assert_eq!(delta_whole, delta_shards, "the demo bot's /stats counts");
    let sent = t(&whole, "requests") - refused(&whole);
    assert_eq!(seen_whole.len() as u64, sent);
    assert_eq!(seen_shards.len(), seen_whole.len(), "updates the bot got");
    let users = |seen: &[(i64, i64)]| seen.iter().map(|(_, u)| *u).collect::<BTreeSet<_>>();
    assert_eq!(
        users(&seen_shards).len(),
        users(&seen_whole).len(),
        "distinct users"
    );
    let ids: BTreeSet<i64> = seen_shards.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), seen_shards.len(), "no update_id sent twice");
    let width = (MAX_UPDATE_ID - DEFAULT_FIRST_UPDATE_ID) / 3;
    let mut per_shard: BTreeMap<i64, (u64, BTreeSet<i64>)> = BTreeMap::new();
    for (id, user) in &seen_shards {
        assert!(*id >= DEFAULT_FIRST_UPDATE_ID && *id < DEFAULT_FIRST_UPDATE_ID + 3 * width);
        let slot = per_shard
            .entry((id - DEFAULT_FIRST_UPDATE_ID) / width)
            .or_default();
        slot.0 += 1;
        slot.1.insert(*user);
    }
    for (i, file) in shard_files.iter().enumerate() {
        let (updates, _) = &per_shard[&(i as i64)];
        assert_eq!(
            *updates,
            t(file, "requests") - refused(file),
            "shard {}'s updates are all in its own update_id range",
            i + 1
        );
    }
    let all: Vec<&BTreeSet<i64>> = per_shard.values().map(|(_, u)| u).collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert!(a.is_disjoint(b), "a user in two shards");
        }
    }

    // Merged percentiles are those of the shards' histograms added up.
    let hist_sum = |pick: &dyn Fn(&serde_json::Value) -> Option<String>| {
        let mut sum: Option<hdrhistogram::Histogram<u64>> = None;
        for f in &shard_files {
            if let Some(text) = pick(&f["histograms"]) {
                let h = decode(&text).unwrap();
                match &mut sum {
                    Some(s) => s.add(&h).unwrap(),
                    None => sum = Some(h),
                }
            }
        }
        sum.expect("some histogram")
    };
    let percentiles =
        |v: &serde_json::Value| -> Percentiles { serde_json::from_value(v.clone()).unwrap() };
    let total = hist_sum(&|h| h["totals"]["latency"].as_str().map(String::from));
    assert_eq!(total.len(), t(&merged, "requests"));
    assert_eq!(
        percentiles(&merged["totals"]["latency_ms"]),
        Percentiles::of(&total)
    );
    for row in merged["requests"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        let sum = hist_sum(&|h| h["requests"][name]["latency"].as_str().map(String::from));
        assert_eq!(
            percentiles(&row["latency_ms"]),
            Percentiles::of(&sum),
            "{name}"
        );
    }
}

#[test]
fn a_shard_runs_its_share_of_the_open_models_starts() {
    let cli = stress::cli::Cli::try_parse_from([
        "stress",
        "--arrival-rate",
        "30",
        "--run-time",
        "10s",
        "--shard",
        "2/3",
        "--seed",
        "1",
    ])
    .unwrap();
    let config = stress::config::run(&cli.run).unwrap();
    let plan = config.options.arrivals.expect("the open model");
    assert!((plan.stages[0].rate - 10.0).abs() < 1e-9, "{plan:?}");
    assert_eq!(config.shard.unwrap().shard.index, 2);
    assert!(!config.reload, "a shard does not reload");
}
