//! `stress run` end to end against the in-process demo bot: the class split, task shares, exact
//! counts against the bot's own, replay by seed, coverage of the 22 commands, runaway scripts,
//! and the JSON result against its committed schema.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::root;
use stress::cli::RunArgs;
use stress::demo_bot::BotCommand;
use stress::report::ClassRow;
use stress::report::Summary;

/// Arguments as a user would type them, with every default spelled out.
fn args(users: u32, seed: u64) -> RunArgs {
    RunArgs {
        scripts: vec![root().join("scripts")],
        stdlib: root().join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root().join("profiles"),
        users: Some(users),
        // Everyone starts within the first second.
        spawn_rate: Some(f64::from(users)),
        seed: Some(seed),
        max_connections: 40,
        timeout: "30s".into(),
        reply_timeout: "10s".into(),
        stop_timeout: "10s".into(),
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

fn class<'a>(s: &'a Summary, name: &str) -> &'a ClassRow {
    s.classes
        .iter()
        .find(|c| c.name == name)
        .expect("class ran")
}

/// The tool's request counts equal what the demo bot received, name by name.
fn assert_counts_match_the_bot(s: &Summary) {
    let bot = s.bot.as_ref().expect("the demo bot ran in-process");
    let commands: BTreeMap<String, u64> = serde_json::from_value(bot["commands"].clone()).unwrap();
    let kinds: BTreeMap<String, u64> = serde_json::from_value(bot["kinds"].clone()).unwrap();
    let sent = |r: &stress::report::RequestRow| {
        r.count - r.failures_by_kind.get("refused").copied().unwrap_or(0)
    };
    let mut total = 0;
    for r in &s.requests {
        let received = match r.name.as_str() {
            "text" => kinds["text_simple"] + kinds["text_complex"],
            "voice" | "photo" | "document" | "callback" => kinds[&r.name],
            command => commands.get(command).copied().unwrap_or(0),
        };
        assert_eq!(
            sent(r),
            received,
            "{}: sent vs received by the demo bot",
            r.name
        );
        total += sent(r);
    }
    assert_eq!(
        bot["total"].as_u64(),
        Some(total),
        "every update arrived once"
    );
    for (command, n) in &commands {
        assert!(
            s.requests.iter().any(|r| &r.name == command) || *n == 0,
            "the bot got {command} that the tool never counted"
        );
    }
}

/// Pearson's chi-square test of a class's task counts against its declared weights, at a
/// significance of 0.001 (critical values for 1..=10 degrees of freedom). Classes with an
/// expected count below 5 in some task are too small for the test and are skipped.
fn assert_task_shares_fit_weights(c: &ClassRow) -> bool {
    const CRITICAL_0_001: [f64; 10] = [
        10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588,
    ];
    let n: u64 = c.tasks.iter().map(|t| t.count).sum();
    let expected: Vec<f64> = c
        .tasks
        .iter()
        .map(|t| t.expected_share * n as f64)
        .collect();
    if expected.iter().any(|e| *e < 5.0) {
        return false;
    }
    let chi2: f64 = c
        .tasks
        .iter()
        .zip(&expected)
        .map(|(t, e)| (t.count as f64 - e).powi(2) / e)
        .sum();
    let df = c.tasks.len() - 1;
    assert!(
        chi2 < CRITICAL_0_001[df - 1],
        "{}: task counts {:?} do not fit weights {:?} (chi2 {chi2:.2}, df {df})",
        c.name,
        c.tasks.iter().map(|t| t.count).collect::<Vec<_>>(),
        c.tasks.iter().map(|t| t.weight).collect::<Vec<_>>(),
    );
    true
}

/// The acceptance run of issue 3: all four scripts, 200 users, 20 seconds, a fixed seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_for_twenty_seconds() {
    let mut a = args(200, 7);
    a.run_time = Some("20s".into());
    let s = run(a).await;
    let started: Vec<(&str, u64)> = s
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.users_started))
        .collect();
    assert_eq!(
        started,
        [
            ("AdminUser", 2),
            ("DeveloperUser", 8),
            ("GuestUser", 160),
            ("PowerUser", 30)
        ]
    );
    assert_counts_match_the_bot(&s);
    assert!(s.totals.requests > 500, "{} requests", s.totals.requests);
    assert_eq!(s.totals.failures, 0);
    assert_eq!(s.totals.script_errors, 0, "{:?}", s.script_errors);
    // In 20 s with the shipped waits, guests and power users run enough tasks to test.
    assert!(assert_task_shares_fit_weights(class(&s, "GuestUser")));
    assert!(assert_task_shares_fit_weights(class(&s, "PowerUser")));
    for c in &s.classes {
        assert_task_shares_fit_weights(c);
    }
    assert!(s.history.len() >= 18, "{} history points", s.history.len());
    assert!(s.totals.replies > 0 && s.totals.no_reply == 0);
}

/// With `--iterations` every user's sequence ends at the same point, so two runs with one seed
/// send the same requests in the same order, user by user. 100 users at 80/15/4/1 with 40 tasks
/// each and no waits: the rarest command per task call is /cancel or /clear for a guest
/// (1/34), /reminders for a power user (~1/40), /tier for a developer (1/6) and /grant for the
/// admin (1/3); over 3200, 600, 160 and 40 calls each is near certain to appear, and the seed
/// makes the outcome fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_replays_users_and_covers_all_commands() {
    let make = |seed| {
        let mut a = args(100, seed);
        a.wait = Some("0".into());
        a.iterations = Some(40);
        a.run_time = Some("5m".into());
        a
    };
    let first = run(make(11)).await;
    let again = run(make(11)).await;
    let other = run(make(12)).await;
    for (a, b) in first.classes.iter().zip(&again.classes) {
        assert_eq!(a.iterations, b.iterations);
        assert_eq!(a.sequence_digest, b.sequence_digest, "{}", a.name);
        let counts = |c: &ClassRow| c.tasks.iter().map(|t| t.count).collect::<Vec<_>>();
        assert_eq!(counts(a), counts(b), "{}", a.name);
    }
    assert!(
        first
            .classes
            .iter()
            .zip(&other.classes)
            .all(|(a, b)| a.sequence_digest != b.sequence_digest),
        "another seed gives other sequences"
    );
    for s in [&first, &again, &other] {
        assert_eq!(s.totals.tasks, 100 * 40);
        assert_counts_match_the_bot(s);
        assert_eq!(s.totals.script_errors, 0, "{:?}", s.script_errors);
        for c in &s.classes {
            assert_task_shares_fit_weights(c);
        }
    }
    assert!(assert_task_shares_fit_weights(class(
        &first,
        "DeveloperUser"
    )));
    assert!(assert_task_shares_fit_weights(class(&first, "AdminUser")));
    let bot = first.bot.as_ref().unwrap();
    for command in BotCommand::ALL {
        let n = bot["commands"][command.name()].as_u64().unwrap_or(0);
        assert!(n > 0, "{} never reached the demo bot", command.name());
    }
    // The developer opened traces by the ids the bot listed, and every one was found.
    let traced = first
        .checks
        .iter()
        .find(|c| c.name == "/trace answers about the id from /traces")
        .expect("the developer checked its traces");
    assert!(traced.passed > 0);
    assert_eq!(traced.failed, 0);
}

/// 300 tasks per class: the rarest command, a guest's /cancel, is 1 in 34 task calls, so all
/// 22 appear (with this seed, and with near certainty with any).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_covers_all_commands() {
    let set = stress::config::scripts(&[root().join("scripts")], &root().join("stdlib")).unwrap();
    let runs = stress::cmd::check::dry_run(&set, 300, 1).await.unwrap();
    let (covered, missing) = stress::cmd::check::coverage(&runs);
    assert!(missing.is_empty(), "not covered: {missing:?}");
    assert_eq!(covered.len(), 22);
    for r in &runs {
        assert_eq!(r.tasks.values().sum::<u64>(), 300, "{}", r.class);
        assert!(r.errors.is_empty(), "{}: {:?}", r.class, r.errors);
    }
}

/// Users whose tasks never suspend (no request, no wait) still give their worker's thread up
/// between tasks: the run stops on time instead of spinning for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_that_never_suspend_still_stop_on_time() {
    let mut a = args(3, 4);
    a.scripts = vec![root().join("tests/fixtures/busy.rhai")];
    a.run_time = Some("1s".into());
    let s = tokio::time::timeout(std::time::Duration::from_secs(120), run(a))
        .await
        .expect("the run stopped");
    let spun = &class(&s, "Busy").tasks[0];
    assert!(spun.count > 0 && spun.errors == 0, "{spun:?}");
    assert_eq!(s.checks.len(), 1);
    assert_eq!(s.checks[0].passed, spun.count);
}

/// Tasks that loop forever, recurse without end, call a host function with a wrong type, throw
/// or grow a string without bound are counted errors at their line; the users go on and the
/// run ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_tasks_are_counted_script_errors() {
    let mut a = args(4, 3);
    a.scripts = vec![root().join("tests/fixtures/runaway.rhai")];
    a.run_time = Some("2s".into());
    let s = run(a).await;
    let at = |line: &str| {
        s.script_errors
            .iter()
            .find(|e| e.location.ends_with(line))
            .unwrap_or_else(|| panic!("no error at {line}: {:#?}", s.script_errors))
    };
    assert!(at("runaway.rhai:6").message.contains("Too many operations"));
    assert!(at("runaway.rhai:11").message.contains("Stack overflow"));
    assert!(at("runaway.rhai:17:5").message.contains("send_text (i64)"));
    assert!(at("runaway.rhai:27:5").message.contains("boom"));
    assert!(at("runaway.rhai:31").message.contains("too large"));
    // Every call level inside a deeply nested expression: the stack holds, the limit speaks.
    assert!(at("runaway.rhai:39").message.contains("Stack overflow"));
    let tasks = &class(&s, "Runaway").tasks;
    let fine = tasks.iter().find(|t| t.name == "fine").unwrap();
    assert!(
        fine.count > 0 && fine.errors == 0,
        "users go on after errors"
    );
    assert!(
        tasks
            .iter()
            .filter(|t| t.name != "fine")
            .all(|t| t.errors == t.count)
    );
    assert!(
        s.duration_s < 2.0 + 10.0,
        "ended on time: {} s",
        s.duration_s
    );
    assert_eq!(s.totals.abandoned_users, 0);
}

/// A script has the call levels the README promises, however its tasks are entered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_has_its_twenty_four_call_levels() {
    let mut a = args(1, 4);
    a.scripts = vec![root().join("tests/fixtures/depth.rhai")];
    a.iterations = Some(20);
    let s = run(a).await;
    let tasks = &class(&s, "Depth").tasks;
    let task = |name: &str| tasks.iter().find(|t| t.name == name).unwrap();
    let (fits, too_deep) = (task("fits"), task("too_deep"));
    assert!(fits.count > 0 && fits.errors == 0, "{fits:?}");
    assert!(
        too_deep.count > 0 && too_deep.errors == too_deep.count,
        "{too_deep:?}"
    );
    assert!(
        s.script_errors
            .iter()
            .all(|e| e.message.contains("Stack overflow")),
        "{:#?}",
        s.script_errors
    );
}

/// A script's top-level constants are visible in its tasks, helpers and on_start as
/// `global::NAME`, an imported module still sees its own, and `exit()` ends a task quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_see_top_level_constants_through_global() {
    let mut a = args(2, 5);
    a.scripts = vec![root().join("tests/fixtures/constants/constants.rhai")];
    a.iterations = Some(10);
    let s = run(a).await;
    assert!(s.script_errors.is_empty(), "{:#?}", s.script_errors);
    let tasks = &class(&s, "Constants").tasks;
    let ran = |name: &str| tasks.iter().find(|t| t.name == name).map_or(0, |t| t.count);
    assert!(ran("constants") > 0 && ran("exits") > 0, "{tasks:?}");
    assert_eq!(s.checks.len(), 5, "{:#?}", s.checks);
    for c in &s.checks {
        assert!(c.passed == ran("constants") && c.failed == 0, "{c:?}");
    }
    // Every wait between tasks is timed once: 2 users x 9 (none after a user's last task).
    let waits = s
        .totals
        .wait_lateness_ms
        .as_ref()
        .expect("waits were timed");
    assert_eq!(waits.count, 18);
}

/// A name a module defines that means something else elsewhere in its class (the class, or
/// the host, has it too; the class calls it by name), a lookup by a run-time name, an import
/// inside a task: each side calls its own function on every task, even after Rhai's caches saw
/// both (such classes run on fresh caches). A class without any of these runs on warm ones and
/// calls the same functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clashing_names_call_their_own_functions() {
    // caller.rhai calls a function only its module has, privately: it does not load (see
    // script::shadow's tests), so it is not among them.
    let classes = [
        ("clash", "Clash"),
        ("private", "Private"),
        ("natives", "Natives"),
        ("probe", "Probe"),
        ("inner", "Inner"),
        ("calm", "Calm"),
    ];
    let mut a = args(classes.len() as u32, 9);
    a.scripts = classes
        .iter()
        .map(|(file, _)| root().join(format!("tests/fixtures/shadow/{file}.rhai")))
        .collect();
    a.iterations = Some(20);
    let s = run(a).await;
    assert!(s.script_errors.is_empty(), "{:#?}", s.script_errors);
    for (_, name) in classes {
        assert_eq!(class(&s, name).tasks[0].count, 20, "{name} ran");
    }
    assert!(!s.checks.is_empty());
    for c in &s.checks {
        assert!(c.passed >= 20 && c.failed == 0, "{c:?}");
    }
}

fn stress_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stress"));
    c.current_dir(root());
    c
}

/// Every bad script is refused before any load, with its file:line:col, exit code 2.
#[test]
fn bad_scripts_and_flags_exit_2_naming_the_place() {
    let cases = [
        ("syntax.rhai", ":3:18: Unexpected ';'"),
        ("module.rhai", ":1:8: Module not found: nope"),
        ("weight.rhai", ":1:1: user_class: weight 0"),
        ("notask.rhai", ":1:1: class A has no task"),
        ("tier.rhai", ":3:1: user_class: unknown tier `superuser`"),
        ("taskzero.rhai", ":2:1: task weight 0"),
        ("on_stop_params.rhai", ":4:1: on_stop() takes no parameters"),
        (
            "private_task.rhai",
            ":5:1: hidden() is private, but the runner calls it",
        ),
    ];
    for (file, expected) in cases {
        let path = Path::new("tests/fixtures/bad").join(file);
        for sub in ["check", "run"] {
            let mut cmd = stress_bin();
            if sub == "check" {
                cmd.args(["check", path.to_str().unwrap()]);
            } else {
                cmd.args(["run", "--script", path.to_str().unwrap()]);
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sub} {file}: {stderr}");
            assert!(
                stderr.contains(&format!("{}{expected}", path.display())),
                "{sub} {file}: {stderr}"
            );
        }
    }
    let flags: [(&[&str], &str); 7] = [
        (&["--profile", "nope"], "--profile: unknown profile `nope`"),
        (&["--users", "0"], "--users"),
        (&["--run-time", "5x"], "--run-time"),
        (&["--wait", "5..1"], "--wait"),
        (&["--max-connections", "0"], "--max-connections"),
        (&["--target", "ftp://x"], "--target"),
        (
            &["--workers", "3", "--max-connections", "2"],
            "--workers: 3 workers would share 2 connections",
        ),
    ];
    for (flags, expected) in flags {
        let out = stress_bin().arg("run").args(flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}

/// A clash is reported where the module defines the name, and does not stop the class.
#[test]
fn a_clashing_name_is_a_warning_naming_the_place() {
    let out = stress_bin()
        .args(["check", "tests/fixtures/shadow/clash.rhai"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "warning: tests/fixtures/shadow/words.rhai:5:1: helper() with 0 parameter(s) is \
             also defined in the class script tests/fixtures/shadow/clash.rhai"
        ),
        "{stderr}"
    );
}

/// A run that needs more sockets than the process may open says so before it starts.
#[test]
fn too_few_file_descriptors_is_a_usage_error_naming_the_flag() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 300 && exec {} run --max-connections 5000 --run-time 1s -q",
            env!("CARGO_BIN_EXE_stress")
        ))
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-connections: 5000 connections need about 10256 file descriptors"),
        "{stderr}"
    );
}

/// The main job from the command line, and its JSON against the committed schema.
#[test]
fn cli_run_writes_json_that_matches_the_schema() {
    let dir = std::env::temp_dir().join(format!("stress-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("out.json");
    let out = stress_bin()
        .args([
            "--script",
            "scripts/guest.rhai",
            "--script",
            "scripts/developer.rhai",
        ])
        .args([
            "--users",
            "10",
            "--spawn-rate",
            "10",
            "--run-time",
            "3s",
            "--seed",
            "5",
            "-q",
        ])
        .arg("--json")
        .arg(&out_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Aggregated"), "{stdout}");
    assert!(stdout.contains("GuestUser"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();

    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let schema_path = root().join("schema/result.v1.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    compiler.add_resource("result.v1.json", schema).unwrap();
    let index = compiler.compile("result.v1.json", &mut schemas).unwrap();
    if let Err(e) = schemas.validate(&json, index) {
        panic!("the result does not match schema/result.v1.json: {e:#}");
    }
    let summary: Summary = serde_json::from_value(json).unwrap();
    assert_eq!(summary.schema, stress::report::SCHEMA);
    assert_eq!(summary.seed, 5);
    assert_eq!(summary.classes.len(), 2);
    // A result that breaks the schema is caught, so the check above means something.
    let mut broken = serde_json::to_value(&summary).unwrap();
    broken["totals"]["requests"] = serde_json::json!(-1);
    assert!(schemas.validate(&broken, index).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression (#21): `stress check` passed a script that called `send_txt`, and the run then
/// failed every task and exited 0.
#[test]
fn check_refuses_a_misspelled_function_with_a_suggestion() {
    let dir = crate::common::temp_dir("typo");
    let script = dir.join("typo.rhai");
    std::fs::write(
        &script,
        "user_class(\"Typo\", #{ tier: \"guest\", weight: 1, wait: 1 });\n\
         /// @task(1)\nfn t() {\n    send_txt(\"hello\");\n}\n",
    )
    .unwrap();
    let out = stress_bin().arg("check").arg(&script).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("typo.rhai:4:5"), "{stderr}");
    assert!(stderr.contains("did you mean `send_text`?"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
