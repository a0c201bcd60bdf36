//! Hot reload and live control during a run: an edited script reaches the bot within a second
//! with no user restarted and nothing lost; a broken edit leaves the old version running and is
//! reported with its line; users set through the control API and through a profile edit; the
//! control API's token and its answers to bad requests.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stress::cli::RunArgs;
use stress::demo_bot::{BotLatency, DemoBotConfig};
use stress::harness::LocalStack;

use crate::common::{root, start_live, temp_dir as folder};

fn editor_script(command: &str) -> String {
    format!(
        "user_class(\"Editor\", #{{ tier: \"guest\", weight: 1, wait: 0.02 }});\n\
         /// @task(1)\n\
         fn act() {{\n    send_command(\"{command}\");\n}}\n"
    )
}

/// Writes a file as editors do: to a temporary name, then renamed over the original.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn args(scripts: Vec<PathBuf>, users: u32, run_time: &str) -> RunArgs {
    RunArgs {
        scripts,
        stdlib: root().join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root().join("profiles"),
        users: Some(users),
        spawn_rate: Some(100.0),
        run_time: Some(run_time.into()),
        seed: Some(3),
        max_connections: 40,
        timeout: "10s".into(),
        reply_timeout: "2s".into(),
        stop_timeout: "5s".into(),
        control: Some("127.0.0.1:0".parse().unwrap()),
        quiet: true,
        ..RunArgs::default()
    }
}

/// Polls `f` every 5 ms until it holds, for at most `limit`.
async fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f()
}

async fn status(base: &str) -> Value {
    reqwest::get(format!("{base}/api/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How long a test waits for the run to reach a state it must reach.
const LIMIT: Duration = Duration::from_secs(30);

/// Polls the status every 10 ms until `done` holds (for at most [`LIMIT`]); returns the last.
async fn wait_status(base: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
    // A time limit, not a count of polls: a loaded CI machine answers each poll more slowly.
    let deadline = Instant::now() + LIMIT;
    loop {
        let s = status(base).await;
        if done(&s) || Instant::now() >= deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The users per class, once they are `expected` (or the last seen after a while).
async fn wait_split(base: &str, expected: Value) -> Value {
    let s = wait_status(base, |s| s["scheduler"]["per_class"] == expected).await;
    s["scheduler"]["per_class"].clone()
}

async fn stop(base: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/stop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

async fn demo_bot() -> LocalStack {
    LocalStack::start(DemoBotConfig {
        latency: BotLatency::zero(),
        reply_in_webhook: true,
        ..DemoBotConfig::default()
    })
    .await
    .unwrap()
}

fn count(stack: &LocalStack, command: &str) -> u64 {
    stack
        .bot
        .stats()
        .commands
        .get(command)
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_script_reaches_the_bot_within_a_second_and_nothing_is_lost() {
    let stack = demo_bot().await;
    let dir = folder("edit");
    let script = dir.join("editor.rhai");
    std::fs::write(&script, editor_script("/help")).unwrap();
    let mut a = args(vec![dir.clone()], 4, "60s");
    a.target = Some(stack.webhook_url());
    let (run, base) = start_live(&a).await;
    assert!(until(Duration::from_secs(10), || count(&stack, "/help") > 0).await);

    // A new command, written through a rename as editors do.
    write_atomically(&script, &editor_script("/status"));
    let written = Instant::now();
    assert!(until(Duration::from_secs(10), || count(&stack, "/status") > 0).await);
    let latency = written.elapsed();
    assert!(latency < Duration::from_secs(1), "took {latency:?}");
    // Tasks that started on the old version have finished; the old command has stopped.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let help = count(&stack, "/help");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&stack, "/help"), help, "the old command stopped");

    // A broken edit: the old version goes on, the error is reported with its line.
    std::fs::write(
        &script,
        "user_class(\"Editor\", #{ tier: \"guest\" });\n/// @task(1)\nfn act() { let = 1; }\n",
    )
    .unwrap();
    let broken = &script.display().to_string();
    let s = wait_status(&base, |s| s["last_reload_error"].is_string()).await;
    let last_error = s["last_reload_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        last_error.starts_with(&format!("{broken}:3:")),
        "error: {last_error}"
    );
    let status_count = count(&stack, "/status");
    assert!(
        until(Duration::from_secs(5), || count(&stack, "/status")
            > status_count + 10)
        .await,
        "the previous version keeps running"
    );

    // The fix reloads normally.
    write_atomically(&script, &editor_script("/skills"));
    assert!(until(Duration::from_secs(5), || count(&stack, "/skills") > 0).await);

    stop(&base).await;
    let s = run.await.unwrap();
    let editor = &s.classes[0];
    assert_eq!(editor.users_started, 4, "no user was restarted");
    let reloads: Vec<(bool, u64)> = s.reloads.iter().map(|r| (r.ok, r.version)).collect();
    assert_eq!(reloads.iter().filter(|r| !r.0).count(), 1, "{reloads:?}");
    assert!(reloads.iter().any(|r| r.0 && r.1 >= 2), "{reloads:?}");
    assert!(
        s.history.iter().any(|p| p.reload.is_some()),
        "history marks reloads"
    );
    let bot = stack.bot.stats();
    for r in &s.requests {
        assert_eq!(
            bot.commands.get(&r.name).copied(),
            Some(r.count),
            "{}",
            r.name
        );
    }
    assert_eq!(bot.total, s.totals.requests, "every request counted once");
    assert_eq!(s.totals.failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_script_joins_and_a_deleted_one_leaves() {
    let stack = demo_bot().await;
    let dir = folder("join");
    std::fs::write(dir.join("a.rhai"), editor_script("/help")).unwrap();
    let mut a = args(vec![dir.clone()], 6, "60s");
    a.target = Some(stack.webhook_url());
    let (run, base) = start_live(&a).await;
    assert!(until(Duration::from_secs(10), || count(&stack, "/help") > 0).await);

    let joiner = editor_script("/status").replace("\"Editor\"", "\"Joiner\"");
    std::fs::write(dir.join("b.rhai"), joiner).unwrap();
    assert!(until(Duration::from_secs(5), || count(&stack, "/status") > 0).await);
    let mut split = wait_split(&base, json!([3, 3])).await;
    assert_eq!(split, json!([3, 3]), "the users split over both classes");

    std::fs::remove_file(dir.join("a.rhai")).unwrap();
    split = wait_split(&base, json!([0, 6])).await;
    assert_eq!(split, json!([0, 6]), "the deleted class's users moved over");
    // Its users really stopped: /help no longer arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let help = count(&stack, "/help");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&stack, "/help"),
        help,
        "the deleted class sends nothing"
    );
    stop(&base).await;
    let s = run.await.unwrap();
    assert_eq!(s.classes.len(), 2);
    assert_eq!(s.totals.failures, 0);
    assert_eq!(stack.bot.stats().total, s.totals.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_follow_the_control_api_and_the_profile_file_at_their_spawn_rate() {
    let dir = folder("profile");
    let profile = dir.join("live.toml");
    std::fs::write(
        &profile,
        "users = 10\nspawn_rate = 100\nrun_time = \"60s\"\n",
    )
    .unwrap();
    let mut a = args(vec![root().join("scripts")], 10, "60s");
    a.users = None;
    a.spawn_rate = None;
    a.run_time = None;
    a.profile = profile.display().to_string();
    a.bot_no_latency = true;
    let (run, base) = start_live(&a).await;
    let users = |s: &Value| s["scheduler"]["users"].as_u64().unwrap_or(0);
    let s = wait_status(&base, |s| users(s) == 10).await;
    assert_eq!(users(&s), 10);

    // Up to 40 at 20 per second: 29 more after the first take 1.45 s; a burst would take
    // a few milliseconds.
    let asked = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/users"))
        .json(&json!({ "users": 40, "spawn_rate": 20 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let s = wait_status(&base, |s| users(s) == 40).await;
    assert_eq!(users(&s), 40);
    assert!(
        asked.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        s["scheduler"]["per_class"],
        json!([0, 2, 32, 6]),
        "exact split at 40"
    );

    // Down to 5 through the control API.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/users"))
        .json(&json!({ "users": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        wait_split(&base, json!([0, 0, 4, 1])).await,
        json!([0, 0, 4, 1])
    );

    // The profile file edited: 20 users, then a run time that is already over.
    std::fs::write(
        &profile,
        "users = 20\nspawn_rate = 100\nrun_time = \"60s\"\n",
    )
    .unwrap();
    let s = wait_status(&base, |s| {
        s["scheduler"]["goal_users"] == 20 && users(s) == 20
    })
    .await;
    assert_eq!(users(&s), 20, "{s}");
    assert_eq!(s["scheduler"]["manual"], false);
    std::fs::write(
        &profile,
        "users = 20\nspawn_rate = 100\nrun_time = \"1s\"\n",
    )
    .unwrap();
    let s = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the shortened run ends")
        .unwrap();
    assert!(
        s.reloads.iter().filter(|r| r.ok).count() >= 2,
        "{:?}",
        s.reloads
    );
    assert_eq!(s.totals.failures, 0);

    // The spawn log has each of those ramps, in order, never faster than asked.
    let phases: Vec<(&str, u64, u64)> = s
        .spawn
        .iter()
        .map(|p| (p.source.as_str(), p.started, p.stopped))
        .collect();
    assert_eq!(
        phases,
        [
            ("stage 1", 10, 0),
            ("control", 30, 0),
            ("control", 0, 35),
            ("profile edit (stage 1)", 15, 0),
        ],
        "{:#?}",
        s.spawn
    );
    let up = &s.spawn[1];
    assert_eq!(up.asked_rate, 20.0);
    let achieved = up.achieved_rate.expect("30 starts have a rate");
    assert!((achieved - 29.0 / (up.last_s - up.first_s)).abs() < 1e-9);
    // A ramp, not a burst (which would be thousands per second). How close to 20 it comes is
    // the bench's measure (`benches/load.sh timing`), not a test's: on a loaded machine the
    // first start's wake-up can be late by tens of milliseconds while later starts keep to the
    // plan's clock, which shortens the measured span (20.24/s was seen in CI).
    assert!(achieved <= 20.0 * 1.1, "faster than asked: {achieved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_refuses_bad_requests_clearly() {
    let stack = demo_bot().await;
    let dir = folder("control");
    std::fs::write(dir.join("a.rhai"), editor_script("/help")).unwrap();
    let mut a = args(vec![dir.clone()], 2, "60s");
    a.target = Some(stack.webhook_url());
    a.control_token = Some("t0ken".into());
    let (run, base) = start_live(&a).await;
    let client = reqwest::Client::new();

    let r = client
        .get(format!("{base}/api/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Bearer"));
    let authed = |r: reqwest::RequestBuilder| r.bearer_auth("t0ken");

    let r = authed(client.get(format!("{base}/api/status")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad: [(&str, &str, u16, &str); 8] = [
        ("/api/users", "{bad json", 400, "expected JSON"),
        ("/api/users", r#"{"users": "many"}"#, 422, "users"),
        (
            "/api/users",
            r#"{"users": 10, "spawn_rate": -1}"#,
            422,
            "spawn_rate",
        ),
        // A rate that would freeze the ramp.
        (
            "/api/users",
            r#"{"users": 10, "spawn_rate": 1e-300}"#,
            422,
            "spawn_rate",
        ),
        ("/api/users", r#"{"users": 100000000}"#, 422, "pool"),
        // The fields by position, not by name.
        ("/api/users", "[1, 2]", 422, "not an object"),
        (
            "/api/users",
            r#"{"users": 5, "rate": 3}"#,
            422,
            "unknown field",
        ),
        ("/api/users", "{}", 422, "users"),
    ];
    for (path, body, status, says) in bad {
        let r = authed(client.post(format!("{base}{path}")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let answer: Value = r.json().await.unwrap();
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let r = authed(client.get(format!("{base}/nope")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = authed(client.get(format!("{base}/api/users")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.text().await.unwrap().contains("wrong method"));
    // A wrong token, and a POST without a JSON body (what a cross-site form would send).
    let r = client
        .post(format!("{base}/api/stop"))
        .bearer_auth("guess")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = authed(client.post(format!("{base}/api/stop")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // The token in a query string is for the dashboard page alone, never for the API.
    let r = client
        .post(format!("{base}/api/stop?token=t0ken"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(format!("{base}/?token=t0ken"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the page takes it from the query once");
    // DNS rebinding: a page on another site whose name now resolves to 127.0.0.1.
    let r = authed(client.post(format!("{base}/api/stop")))
        .header("host", base.replace("http://127.0.0.1", "attacker.example"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    let r = authed(client.get(format!("{base}/api/status")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the refused stop left the run going");

    // Reload now, through the API.
    let r = authed(client.post(format!("{base}/api/reload")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let event: Value = r.json().await.unwrap();
    assert_eq!(event["ok"], true);
    assert_eq!(event["version"], 1);

    let r = authed(client.post(format!("{base}/api/stop")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let s = run.await.unwrap();
    assert_eq!(s.reloads.len(), 1);

    // A control API on a non-loopback address needs a token before anything starts.
    let mut a = args(vec![dir], 2, "1s");
    a.control = Some("0.0.0.0:0".parse().unwrap());
    let e = stress::config::run(&a).unwrap_err();
    assert_eq!(stress::exit_code(&e), 2);
    assert!(e.to_string().contains("--control"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_modules_and_weights_reload_too() {
    let stack = demo_bot().await;
    let dir = folder("module");
    std::fs::write(dir.join("words.rhai"), "fn command() { \"/help\" }\n").unwrap();
    let script = |weight: u32, name: &str| {
        format!(
            "import \"words\" as words;\n\
             user_class(\"{name}\", #{{ tier: \"guest\", weight: {weight}, wait: 0.02 }});\n\
             /// @task(1)\nfn act() {{ send_command(words::command()); }}\n"
        )
    };
    std::fs::write(dir.join("a.rhai"), script(1, "A")).unwrap();
    std::fs::write(dir.join("b.rhai"), script(1, "B")).unwrap();
    let mut a = args(vec![dir.clone()], 8, "60s");
    a.target = Some(stack.webhook_url());
    let (run, base) = start_live(&a).await;
    assert!(until(Duration::from_secs(10), || count(&stack, "/help") > 0).await);

    // The module both scripts import changes: both pick it up (no stale module cache).
    write_atomically(&dir.join("words.rhai"), "fn command() { \"/status\" }\n");
    assert!(until(Duration::from_secs(5), || count(&stack, "/status") > 0).await);

    // A class weight changes from 1:1 to 3:1: users move over at the spawn rate.
    let mut split = wait_split(&base, json!([4, 4])).await;
    assert_eq!(split, json!([4, 4]));
    write_atomically(&dir.join("a.rhai"), &script(3, "A"));
    split = wait_split(&base, json!([6, 2])).await;
    assert_eq!(split, json!([6, 2]), "the split follows the new weights");
    stop(&base).await;
    let s = run.await.unwrap();
    assert_eq!(s.totals.failures, 0);
    assert_eq!(stack.bot.stats().total, s.totals.requests);
    let weights: Vec<u32> = s.classes.iter().map(|c| c.weight).collect();
    assert_eq!(weights, [3, 1]);
}

/// A reload that changes a class's tier moves its users to the new tier's pool, one at a time at
/// the spawn rate: the bot then sees developers, and stops refusing their developer command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tier_moves_the_users_to_its_pool() {
    let stack = demo_bot().await;
    let dir = folder("tier");
    let script = |tier: &str| {
        format!(
            "user_class(\"Dev\", #{{ tier: \"{tier}\", weight: 1, wait: 0.02 }});\n\
             /// @task(1)\nfn act() {{ send_command(\"/traces\"); }}\n"
        )
    };
    std::fs::write(dir.join("dev.rhai"), script("guest")).unwrap();
    let mut a = args(vec![dir.clone()], 6, "60s");
    a.target = Some(stack.webhook_url());
    let (run, base) = start_live(&a).await;
    let tiers = |s: &Value| s["scheduler"]["per_tier"].clone();
    let guests = json!({"guest": 6, "user": 0, "developer": 0, "admin": 0});
    let s = wait_status(&base, |s| tiers(s) == guests).await;
    assert_eq!(tiers(&s), guests);
    let refused = || {
        stack
            .bot
            .stats()
            .refused_by_tier
            .get("guest")
            .copied()
            .unwrap_or(0)
    };
    assert!(
        until(Duration::from_secs(10), || refused() > 0).await,
        "guests are refused"
    );

    write_atomically(&dir.join("dev.rhai"), &script("developer"));
    // A moved user counts in its new tier when it starts, and leaves the old one when its
    // predecessor has ended: both must have happened.
    let developers = json!({"guest": 0, "user": 0, "developer": 6, "admin": 0});
    let s = wait_status(&base, |s| tiers(s) == developers).await;
    assert_eq!(tiers(&s), developers);
    assert_eq!(
        s["scheduler"]["per_class"],
        json!([6]),
        "the class keeps its users"
    );
    let refused_before = refused();
    let answered = || count(&stack, "/traces") - refused();
    let answered_before = answered();
    assert!(
        until(Duration::from_secs(10), || answered()
            > answered_before + 12)
        .await
    );
    assert_eq!(refused(), refused_before, "no guest is left to be refused");
    stop(&base).await;
    let s = run.await.unwrap();
    assert_eq!(s.totals.failures, 0);
    let moves: u64 = s
        .spawn
        .iter()
        .filter(|p| p.source == "reload")
        .map(|p| p.moved)
        .sum();
    assert_eq!(moves, 6, "{:#?}", s.spawn);
}

/// Regression (#16): a script saved with an import cycle used to overflow the stack and abort
/// the process with the run's results. Now the reload fails, the old version keeps running,
/// and the run ends with its results and the failed reload recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_cycle_saved_during_a_run_is_a_failed_reload() {
    let dir = folder("cycle-live");
    let script = dir.join("editor.rhai");
    std::fs::write(&script, editor_script("/help")).unwrap();
    let mut a = args(vec![dir.clone()], 2, "60s");
    a.no_reload = false;
    let (run, base) = start_live(&a).await;
    let mut requests = 0;
    while requests == 0 {
        requests = status(&base).await["stats"]["requests"]
            .as_u64()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    write_atomically(
        &script,
        &format!("import \"editor\" as me;\n{}", editor_script("/status")),
    );
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/reload"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let event: Value = r.json().await.unwrap();
    let errors = event["errors"].to_string();
    assert!(errors.contains("import cycle"), "{errors}");
    assert!(errors.contains("editor.rhai:1"), "{errors}");
    let r = client
        .post(format!("{base}/api/stop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let s = run.await.unwrap();
    assert!(s.totals.requests > 0);
    assert!(
        s.reloads
            .iter()
            .any(|r| !r.ok && r.errors.iter().any(|e| e.contains("import cycle"))),
        "{:?}",
        s.reloads
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_an_import_cycle_with_exit_2() {
    let dir = folder("cycle-check");
    std::fs::write(dir.join("a.rhai"), "import \"b\" as b;\nfn x() { 1 }\n").unwrap();
    std::fs::write(dir.join("b.rhai"), "import \"a\" as a;\nfn y() { 2 }\n").unwrap();
    std::fs::write(
        dir.join("main.rhai"),
        format!("import \"a\" as a;\n{}", editor_script("/help")),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stress"))
        .arg("check")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("import cycle"), "{stderr}");
    assert!(stderr.contains("b.rhai"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_now_says_when_hot_reload_is_off() {
    let dir = folder("no-reload");
    std::fs::write(dir.join("editor.rhai"), editor_script("/help")).unwrap();
    let mut a = args(vec![dir.clone()], 1, "60s");
    a.no_reload = true;
    let (run, base) = start_live(&a).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/reload"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("--no-reload"),
        "{body}"
    );
    let r = client
        .post(format!("{base}/api/stop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    run.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
