//! The real binary, stopped as operators and orchestrators stop it: SIGTERM (`timeout`,
//! systemd, `docker stop`, Kubernetes), SIGHUP, a second signal, and `kill -9`. Nothing that
//! was gathered is lost: the table and every file are written, or, after `kill -9`, the last
//! checkpoint is a valid result marked partial.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{check_schema, root, temp_dir};

/// Starts `stress run` against the demo bot with the shipped scripts.
fn start(json: &Path, extra: &[&std::ffi::OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args(["run", "--users", "10", "--spawn-rate", "100", "--seed", "3"])
        .args(["--wait", "0.05..0.2", "-q", "--no-reload"])
        .arg("--json")
        .arg(json)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// The result file's JSON, once `ready` holds for it; the child must not end first.
fn wait_for_result(
    json: &Path,
    child: &mut Child,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    // A guard against a hang, not a timing: a checkpoint comes every second here.
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended early: {status}");
        }
        if let Ok(bytes) = std::fs::read(json)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && ready(&v)
        {
            return v;
        }
        assert!(
            Instant::now() < give_up,
            "no such result in {}",
            json.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A checkpoint with at least `seconds` of the run and a request in it.
fn wait_for_checkpoint(json: &Path, seconds: f64, child: &mut Child) -> serde_json::Value {
    wait_for_result(json, child, |v| {
        v["partial"] == true
            && v["duration_s"].as_f64().unwrap_or(0.0) >= seconds
            && v["totals"]["requests"].as_u64().unwrap_or(0) > 0
    })
}

/// A checkpoint that shows the run under way: its five users started (no request has
/// finished yet where this is used).
fn wait_for_running(json: &Path, child: &mut Child) {
    wait_for_result(json, child, |v| v["classes"][0]["users_started"] == 5);
}

fn signal(child: &Child, name: &str) {
    use rustix::process::{Pid, Signal, kill_process};
    let signal = match name {
        "TERM" => Signal::TERM,
        "HUP" => Signal::HUP,
        "KILL" => Signal::KILL,
        other => panic!("no signal {other} here"),
    };
    let pid = Pid::from_raw(child.id() as i32).expect("a live child's pid");
    kill_process(pid, signal).unwrap_or_else(|e| panic!("kill -{name}: {e}"));
}

/// Waits for the process to end (it must, on its own) and returns its exit code and output.
fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigterm_and_sighup_stop_a_run_and_keep_its_results() {
    for sig in ["TERM", "HUP"] {
        let dir = temp_dir(&format!("sig-{sig}"));
        let json = dir.join("t.json");
        let csv = dir.join("t");
        let extra: Vec<&std::ffi::OsStr> = ["--run-time", "60s", "--checkpoint", "1s", "--csv"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([csv.as_os_str()])
            .collect();
        let mut child = start(&json, &extra);
        wait_for_checkpoint(&json, 1.0, &mut child);
        signal(&child, sig);
        let (code, stdout, stderr) = finish(child);
        assert_eq!(
            code,
            Some(0),
            "SIG{sig}: a stopped run with no thresholds: {stderr}"
        );
        assert!(
            stdout.contains("Aggregated"),
            "SIG{sig}: the table: {stdout}"
        );
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        check_schema(&v).unwrap();
        assert_eq!(v["partial"], false, "SIG{sig}: the final result");
        assert!(v["duration_s"].as_f64().unwrap() < 60.0);
        assert!(v["totals"]["requests"].as_u64().unwrap() > 0);
        for suffix in ["_stats.csv", "_stats_history.csv", "_failures.csv"] {
            assert!(
                dir.join(format!("t{suffix}")).is_file(),
                "SIG{sig}: t{suffix}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_second_signal_abandons_the_users_at_once() {
    let dir = temp_dir("sig-twice");
    let json = dir.join("t.json");
    // Every user's first request takes an hour: the graceful stop would wait the whole
    // --stop-timeout for them.
    let script = dir.join("stuck.rhai");
    std::fs::write(
        &script,
        "user_class(\"Stuck\", #{ tier: \"guest\", weight: 1, wait: 0.01 });\n\
         /// @task(1)\nfn ask() { send_command(\"/help\"); }\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .arg("run")
        .arg("--script")
        .arg(&script)
        .args(["--users", "5", "--spawn-rate", "100", "--run-time", "60s"])
        .args([
            "--stop-timeout",
            "1h",
            "--checkpoint",
            "1s",
            "-q",
            "--no-reload",
        ])
        .args(["--bot-latency", "command=1h", "--timeout", "2h"])
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_running(&json, &mut child);
    signal(&child, "TERM");
    // The first signal is being honoured (users told to stop, waiting out their task); the
    // second cuts the hour-long stop timeout short.
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "TERM");
    let (code, _, stderr) = finish(child);
    assert_eq!(code, Some(3), "abandoned requests are failures: {stderr}");
    assert!(stderr.contains("5 of 5 requests failed"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["partial"], false);
    assert_eq!(v["totals"]["abandoned_users"], 5, "{}", v["totals"]);
    assert_eq!(
        v["requests"][0]["failures_by_kind"]["abandoned"], 5,
        "the requests in flight count as abandoned: {}",
        v["requests"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_leaves_the_last_checkpoint() {
    let dir = temp_dir("sig-kill");
    let json = dir.join("t.json");
    let extra: Vec<&std::ffi::OsStr> = ["--run-time", "60s", "--checkpoint", "1s"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    let mut child = start(&json, &extra);
    // History settles two seconds behind the clock: at 4 s it has its first seconds.
    let seen = wait_for_checkpoint(&json, 4.0, &mut child);
    signal(&child, "KILL");
    let (code, _, _) = finish(child);
    assert_eq!(code, None, "killed by a signal");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    check_schema(&v).unwrap();
    assert_eq!(v["partial"], true);
    assert!(v["duration_s"].as_f64().unwrap() >= seen["duration_s"].as_f64().unwrap());
    assert!(
        !v["history"].as_array().unwrap().is_empty(),
        "{}",
        v["history"]
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.len() <= 1, "{leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_output_stops_the_run_before_it_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args([
            "run",
            "--run-time",
            "30s",
            "-q",
            "--json",
            "/nonexistent-folder/x.json",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--json"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

/// A terminal that hung up, or a pipe closed early (`stress run | head`): the table cannot be
/// printed, and the result files are written all the same.
#[test]
fn a_closed_stdout_costs_no_result_file() {
    let dir = temp_dir("closed-stdout");
    let json = dir.join("t.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args([
            "run",
            "--users",
            "3",
            "--run-time",
            "1s",
            "-q",
            "--no-reload",
        ])
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_ne!(status.code(), Some(101), "no panic");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["partial"], false);
    let _ = std::fs::remove_dir_all(&dir);
}
