//! `stress compare` and `stress run --baseline`: a run against itself is no change; against a
//! run whose bot answers commands 20 ms later, the command rows are slower and a relative
//! threshold fails with exit code 3. The Markdown and JUnit outputs say the same.

use std::path::Path;
use std::process::Output;

use tokio::process::Command;

use crate::common::{root, temp_dir};

async fn stress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .args(args)
        .output()
        .await
        .unwrap()
}

/// A short deterministic run of the guest class against the in-process demo bot.
async fn run(json: &Path, extra: &[&str]) -> Output {
    let json = json.to_str().unwrap();
    let mut args = vec![
        "run",
        "--script",
        "scripts/guest.rhai",
        "--users",
        "20",
        "--spawn-rate",
        "100",
        "--iterations",
        "60",
        "--wait",
        "0",
        "--seed",
        "5",
        "-q",
        "--json",
        json,
    ];
    args.extend_from_slice(extra);
    let out = stress(&args).await;
    assert!(
        json_exists(json),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_exists(path: &str) -> bool {
    Path::new(path).is_file()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_itself_is_no_change_and_slower_commands_fail_a_relative_threshold() {
    let dir = temp_dir("compare");
    let base = dir.join("base.json");
    let slow = dir.join("slow.json");
    assert_eq!(run(&base, &[]).await.status.code(), Some(0));
    assert_eq!(
        run(&slow, &["--bot-latency", "command=20ms"])
            .await
            .status
            .code(),
        Some(0)
    );
    let (b, s) = (base.to_str().unwrap(), slow.to_str().unwrap());

    // Against itself: every row no change, every relative threshold passes, exit 0.
    let same = dir.join("same.json");
    let out = stress(&[
        "compare",
        b,
        b,
        "--threshold",
        "p95<+10%",
        "--json",
        same.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&same).unwrap()).unwrap();
    let rows = c["rows"].as_array().unwrap();
    assert!(rows.len() > 5, "{rows:?}");
    for row in rows {
        assert_eq!(row["change"], "no_change", "{row}");
    }
    assert_eq!(c["rules"][0]["passed"], true);

    // Commands 20 ms slower: their rows and all requests together are slower. (Plain text,
    // answered as before, is not asserted: two runs on a loaded machine may differ by more
    // than the 5% floor there, and the verdict judges noise within a run, not between runs.)
    let (md, junit, json) = (dir.join("c.md"), dir.join("c.xml"), dir.join("c.json"));
    let out = stress(&[
        "compare",
        b,
        s,
        "--threshold",
        "p95<+10%",
        "--threshold",
        "errors<+1%",
        "--markdown",
        md.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains("relative thresholds failed: p95<+10%"),
        "{shown}"
    );
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let change = |name: &str| {
        c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name}"))["change"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(change("Aggregated"), "slower");
    for command in ["/help", "/status", "/skills", "/mode", "/settings"] {
        assert_eq!(change(command), "slower", "{command}");
    }
    assert_eq!(c["rules"][0]["passed"], false, "{}", c["rules"]);
    assert_eq!(
        c["rules"][1]["passed"], true,
        "no more errors: {}",
        c["rules"]
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| `/help` |") && md.contains("slower"), "{md}");
    assert!(md.contains("`p95<+10%` | ❌ FAIL"), "{md}");
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains("name=\"p95&lt;+10%\"><failure"),
        "the failed rule is a failed test case: {junit}"
    );
    // With relative rules the rules decide, as the exit code does: a slower row is reported,
    // not failed.
    assert!(
        junit.contains("name=\"/help\"><system-out>slower"),
        "{junit}"
    );

    // The same gate at the end of a run.
    let gated = dir.join("gated.json");
    let out = run(
        &gated,
        &[
            "--bot-latency",
            "command=20ms",
            "--baseline",
            b,
            "--threshold",
            "p95<+10%",
            "--threshold",
            "errors<1%",
        ],
    )
    .await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains("Compared with") && shown.contains("slower"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_usage_errors_that_name_the_file_or_flag() {
    let dir = temp_dir("compare-bad");
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "hello").unwrap();
    let p = not_json.to_str().unwrap();
    let out = stress(&["compare", p, p]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("BASE.json") && text(&out).contains("not.json"));

    let out = stress(&["compare", p, p, "--threshold", "p95<10%"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--threshold") && text(&out).contains("signed"));

    let out = stress(&["run", "--threshold", "p95<+10%", "--run-time", "1s"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--baseline"), "{}", text(&out));

    let out = stress(&["run", "--shard", "4/3", "--seed", "1"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--shard"), "{}", text(&out));
    let out = stress(&["run", "--shard", "1/3"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--seed"), "{}", text(&out));
    let out = stress(&["run", "--shard", "1/3", "--seed", "1", "--users", "2"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--shard: the test has 2 users"),
        "{}",
        text(&out)
    );

    let out = stress(&["merge", p]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not.json"), "{}", text(&out));
}
