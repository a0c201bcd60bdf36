//! What a script cannot do to the process however long the run: grow a user's state without
//! bound (#16). Each bound is hit on purpose here and must be reported, not silently applied.

use stress::cli::RunArgs;
use stress::report::Summary;

use crate::common::{root, temp_dir};

fn args(script: &std::path::Path, users: u32, iterations: u64) -> RunArgs {
    RunArgs {
        scripts: vec![script.to_path_buf()],
        stdlib: root().join("stdlib"),
        users: Some(users),
        spawn_rate: Some(1000.0),
        run_time: Some("5m".into()),
        iterations: Some(iterations),
        wait: Some("0".into()),
        seed: Some(1),
        quiet: true,
        no_reload: true,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_past_its_limit_is_undone_and_reported() {
    let dir = temp_dir("state-limit");
    let script = dir.join("hoarder.rhai");
    std::fs::write(
        &script,
        r#"user_class("Hoarder", #{ tier: "guest", weight: 1, wait: 0 });
fn on_start() { this.kept = 1; this.big = []; }
/// @task(1)
fn hoard() {
    check("state as it was before the task", this.big.len() == 0 && this.kept == 1);
    let s = "";
    s.pad(100000, "x");
    this.big.push(s);
    send_command("/help");
}
"#,
    )
    .unwrap();
    let s = run(args(&script, 5, 20)).await;
    assert_eq!(s.totals.tasks, 100);
    assert_eq!(
        s.totals.script_errors, 100,
        "every task grew the state too far"
    );
    let error = &s.script_errors[0];
    assert!(
        error.location.ends_with("hoarder.rhai:4"),
        "{}",
        error.location
    );
    assert!(
        error.message.contains("over --state-limit 64.0 KiB"),
        "{}",
        error.message
    );
    assert!(error.message.contains("undone"), "{}", error.message);
    assert_eq!(
        s.checks[0].failed, 0,
        "each task saw the state from before the last one: {:?}",
        s.checks
    );
    assert_eq!(s.totals.requests, 100, "the task itself ran to its end");

    // A limit the state fits under changes nothing.
    let mut roomy = args(&script, 1, 2);
    roomy.state_limit = "1MiB".into();
    let s = run(roomy).await;
    assert_eq!(s.totals.script_errors, 0);
    assert_eq!(
        s.checks[0].failed, 1,
        "the second task saw the first one's string"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_state_limit_names_its_flag() {
    let mut a = args(&root().join("scripts"), 1, 1);
    a.state_limit = "lots".into();
    let e = stress::config::run(&a).unwrap_err();
    assert_eq!(stress::exit_code(&e), 2);
    assert!(e.to_string().contains("--state-limit"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_names_fold_into_other_past_the_limit() {
    let dir = temp_dir("name-limit");
    let script = dir.join("unique.rhai");
    std::fs::write(
        &script,
        r#"user_class("Unique", #{ tier: "guest", weight: 1, wait: 0 });
fn on_start() { this.n = 0; }
/// @task(1)
fn each_its_own() {
    this.n += 1;
    let name = "/item_" + vu() + "_" + this.n;
    send_command(name);
    check("answered " + name, true);
}
"#,
    )
    .unwrap();
    let s = run(args(&script, 5, 250)).await;
    assert_eq!(
        s.totals.requests, 1250,
        "nothing lost: every request is counted"
    );
    assert_eq!(s.requests.len(), 1001, "a thousand names and (other)");
    let other = s.requests.iter().find(|r| r.name == "(other)").unwrap();
    assert_eq!(other.count, 250);
    assert_eq!(s.checks.len(), 1001);
    assert_eq!(s.totals.checks_passed, 1250);
    let what: Vec<&str> = s.limits.iter().map(|l| l.what.as_str()).collect();
    assert_eq!(what, ["request names", "check names"]);
    let requests = &s.limits[0];
    assert_eq!((requests.limit, requests.count), (1000, 250));
    assert!(requests.first.starts_with("/item_"), "{}", requests.first);
    assert!(requests.at.ends_with("unique.rhai:7:5"), "{}", requests.at);
    assert!(
        s.limits[1].at.ends_with("unique.rhai:8:5"),
        "{}",
        s.limits[1].at
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression (#16): the stop deadline is hard. Every user is held in an hour-long request;
/// the run ends at its stop timeout anyway, each user and each request in flight counted as
/// abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_deadline_holds_whatever_the_users_do() {
    let dir = temp_dir("deadline");
    let script = dir.join("stuck.rhai");
    std::fs::write(
        &script,
        "user_class(\"Stuck\", #{ tier: \"guest\", weight: 1, wait: 0 });\n\
         /// @task(1)\nfn ask() { send_command(\"/help\"); }\n",
    )
    .unwrap();
    let mut a = args(&script, 20, 1_000);
    a.run_time = Some("1s".into());
    a.iterations = None;
    a.stop_timeout = "1s".into();
    a.timeout = "2h".into();
    a.bot_latency = vec!["command=1h".into()];
    let s = run(a).await;
    assert_eq!(s.totals.abandoned_users, 20);
    assert_eq!(s.requests[0].failures_by_kind["abandoned"], 20);
    assert!(
        s.duration_s < 60.0,
        "ended at its deadline, not the bot's: {}",
        s.duration_s
    );
    let _ = std::fs::remove_dir_all(&dir);
}
