//! Honest latency (#18): what a user waits includes the queue for a connection, and the open
//! model keeps starting tasks when the bot is slow, counting the starts no user was free for,
//! with task times from when they were due.

use std::process::Command;

use serde_json::Value;

use crate::common::{check_schema, root, temp_dir};

fn run(name: &str, script: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let dir = temp_dir(name);
    let file = dir.join("class.rhai");
    std::fs::write(&file, script).unwrap();
    let json = dir.join("result.json");
    let out = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .arg("run")
        .arg("--script")
        .arg(&file)
        .args(["--seed", "5", "-q", "--json"])
        .arg(&json)
        .args(args)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_schema(&json).unwrap();
    (out.status.code(), json, log)
}

const ONE_SEND: &str = r#"
user_class("Sender", #{ tier: "guest", weight: 1, wait: 0 });

/// @task(1)
fn hello() {
    send_command("/start");
}
"#;

#[test]
fn the_queue_for_a_connection_is_in_the_latency_and_on_its_own() {
    // 20 users, one connection, a bot that takes 20 ms: each request mostly waits its turn.
    let (code, json, log) = run(
        "latency-queue",
        ONE_SEND,
        &[
            "--users",
            "20",
            "--spawn-rate",
            "1000",
            "--iterations",
            "5",
            "--run-time",
            "60s",
            "--max-connections",
            "1",
            "--bot-latency",
            "command=20ms",
        ],
    );
    assert_eq!(code, Some(0), "{log}");
    let t = &json["totals"];
    let (latency, queue, service) = (
        t["latency_ms"]["p50"].as_f64().unwrap(),
        t["queue_ms"]["p50"].as_f64().unwrap(),
        t["service_ms"]["p50"].as_f64().unwrap(),
    );
    assert!(service >= 20.0, "the bot's 20 ms: {service}");
    assert!(
        queue > service,
        "the queue dominates: queue {queue}, service {service}"
    );
    assert!(
        latency >= queue,
        "latency {latency} includes the queue {queue}"
    );
    assert!(log.contains("latency = queue + service"), "{log}");
}

#[test]
fn the_open_model_drops_starts_no_user_is_free_for_and_times_tasks_from_their_due_time() {
    // 50 starts a second for 3 s (the first second is the pool's warm-up), 2 users, a bot that
    // takes 200 ms: the users can take about 10 a second, the rest are dropped.
    let (code, json, log) = run(
        "latency-open",
        ONE_SEND,
        &[
            "--arrival-rate",
            "50",
            "--max-users",
            "2",
            "--run-time",
            "3s",
            "--bot-latency",
            "command=200ms",
            "--threshold",
            "dropped<1%",
        ],
    );
    assert_eq!(code, Some(3), "the dropped threshold fails the run\n{log}");
    let t = &json["totals"];
    let (tasks, dropped) = (
        t["tasks"].as_u64().unwrap(),
        t["dropped_iterations"].as_u64().unwrap(),
    );
    // Starts are paced by the clock: 50 a second over the 2 s after the warm-up.
    let due = tasks + dropped;
    assert!(
        (90..=105).contains(&due),
        "{tasks} started + {dropped} dropped\n{log}"
    );
    assert!(
        dropped > tasks,
        "most starts find no free user: {tasks} / {dropped}"
    );
    assert_eq!(json["classes"][0]["dropped_iterations"], dropped);
    let history_dropped: u64 = json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(history_dropped, dropped, "every drop is in its second");
    let task = &json["classes"][0]["tasks"][0]["duration_ms"];
    // The demo bot draws its latency around the 200 ms asked.
    assert!(task["p50"].as_f64().unwrap() >= 100.0, "{task}");
    assert!(log.contains("open model:"), "{log}");
    assert!(
        json["profile"]["name"]
            .as_str()
            .unwrap()
            .contains("open: 50")
    );
}

#[test]
fn pacing_starts_each_task_a_fixed_time_after_the_last_started() {
    let script = ONE_SEND.replace("wait: 0", "wait: throughput(10)");
    let (code, json, log) = run(
        "latency-pacing",
        &script,
        &[
            "--users",
            "3",
            "--spawn-rate",
            "1000",
            "--iterations",
            "5",
            "--run-time",
            "60s",
        ],
    );
    assert_eq!(code, Some(0), "{log}");
    // 5 tasks at 10 a second: 4 paced gaps of 100 ms, whatever each task took.
    let duration = json["duration_s"].as_f64().unwrap();
    assert!(duration >= 0.4, "{duration}");
    assert_eq!(json["totals"]["tasks"], 15);
}

#[test]
fn an_open_profile_ramps_its_rate_between_stages() {
    let dir = temp_dir("latency-open-profile");
    let profile = dir.join("ramp.toml");
    // Nothing in the warm-up second, up to 40 a second over 2 s (40 starts), then 40 for 1 s.
    std::fs::write(
        &profile,
        "max_users = 20\n\
         [[stages]]\narrival_rate = 0\nduration = \"1s\"\n\
         [[stages]]\narrival_rate = 40\nduration = \"2s\"\n\
         [[stages]]\narrival_rate = 40\nduration = \"1s\"\n",
    )
    .unwrap();
    let (code, json, log) = run(
        "latency-open-profile-run",
        ONE_SEND,
        &["--profile", profile.to_str().unwrap(), "--bot-no-latency"],
    );
    assert_eq!(code, Some(0), "{log}");
    let t = &json["totals"];
    let due = t["tasks"].as_u64().unwrap() + t["dropped_iterations"].as_u64().unwrap();
    assert!((72..=88).contains(&due), "about 80 starts: {due}\n{log}");
    assert_eq!(
        t["dropped_iterations"], 0,
        "20 users keep up with a quick bot"
    );
    assert!(
        json["profile"]["name"]
            .as_str()
            .unwrap()
            .ends_with("(open)")
    );
}

#[test]
fn open_model_starts_follow_each_workers_own_users() {
    // Two classes at 1:1 over two workers: the scheduler puts every user of one class on one
    // worker. Each worker must give its starts to the users it has, not drop half of them.
    let dir = temp_dir("latency-open-workers");
    for class in ["Alpha", "Beta"] {
        std::fs::write(
            dir.join(format!("{}.rhai", class.to_lowercase())),
            ONE_SEND.replace("Sender", class),
        )
        .unwrap();
    }
    let json = dir.join("result.json");
    let out = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args(["run", "--script"])
        .arg(&dir)
        .args([
            "--arrival-rate",
            "40",
            "--max-users",
            "10",
            "--workers",
            "2",
        ])
        .args([
            "--run-time",
            "3s",
            "--bot-no-latency",
            "--seed",
            "2",
            "-q",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let t = &json["totals"];
    assert_eq!(
        t["dropped_iterations"], 0,
        "free users took every start\n{log}"
    );
    let tasks = t["tasks"].as_u64().unwrap();
    assert!((72..=88).contains(&tasks), "40 a second for 2 s: {tasks}");
    let per_class: Vec<u64> = json["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tasks"][0]["count"].as_u64().unwrap())
        .collect();
    assert!(
        per_class.iter().all(|n| n * 3 >= tasks),
        "both classes take starts: {per_class:?}"
    );
}
