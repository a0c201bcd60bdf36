//! What scripts log reaches the user: `log`, `print` and `debug` on stderr with the user and
//! task that said it, and in the result's `logs`; a log in a hot task is rate-limited per line
//! and the rest counted, never silently dropped (#21).

use std::process::{Command, Stdio};

use crate::common::{root, temp_dir};

#[test]
fn script_lines_show_on_stderr_and_in_the_result() {
    let dir = temp_dir("logs");
    let script = dir.join("talker.rhai");
    std::fs::write(
        &script,
        r#"user_class("Talker", #{ tier: "guest", weight: 1, wait: 0 });
fn on_start() { log("hello from " + vu()); }
/// @task(1)
fn chatter() {
    let r = send_command("/help");
    print("status " + r.status);
    debug("quiet detail");
    log("every task says this");
}
"#,
    )
    .unwrap();
    let json = dir.join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .arg("run")
        .arg("--script")
        .arg(&script)
        .args(["--users", "2", "--iterations", "50", "--run-time", "60s"])
        .args(["--wait", "0", "--no-reload", "--seed", "1"])
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[Talker vu 0 on_start] hello from 0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[Talker vu 1 chatter] status 200"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("quiet detail"),
        "debug() is for -vv: {stderr}"
    );
    let shown = stderr.matches("every task says this").count();
    assert!(
        (1..=12).contains(&shown),
        "a line repeated in a hot task is shown a few times a second, not 100 times: {shown}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let logs = v["logs"].as_array().unwrap();
    let first = &logs[0];
    assert_eq!(first["class"], "Talker");
    assert_eq!(first["task"], "on_start");
    assert!(
        first["at"].as_str().unwrap().ends_with("talker.rhai:2:17"),
        "{first}"
    );
    let kept = logs.len() as u64;
    let folded = v["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["what"] == "log lines")
        .map_or(0, |l| l["count"].as_u64().unwrap());
    // 2 on_start lines and 3 a task for 100 tasks: every one kept or counted.
    assert_eq!(kept + folded, 2 + 3 * 100, "{}", v["limits"]);
    let _ = std::fs::remove_dir_all(&dir);
}
