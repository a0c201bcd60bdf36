//! Outputs other tools read: Locust's CSV files (checked against Locust's own column names and
//! order), Prometheus's `/metrics` (read back by a Prometheus text parser), and thresholds with
//! their exit codes.

use std::process::Command;
use std::time::Duration;

use stress::cli::RunArgs;

use crate::common::{root, start_live, temp_dir as temp};

fn stress_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stress"));
    c.current_dir(root());
    c
}

/// A short run of guests from the command line.
fn short_run() -> Command {
    let mut c = stress_bin();
    c.args(["run", "--script", "scripts/guest.rhai"])
        .args(["--users", "5", "--spawn-rate", "5", "--run-time", "3s"])
        .args([
            "--wait",
            "0.05..0.2",
            "--seed",
            "9",
            "-q",
            "--bot-no-latency",
        ]);
    c
}

/// Locust's columns, as Locust 2's `stats.py` writes them (and tools such as Locust's own
/// report readers expect them).
const LOCUST_STATS: &str = "Type,Name,Request Count,Failure Count,Median Response Time,\
    Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,\
    Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
const LOCUST_HISTORY: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,\
    80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,\
    Total Median Response Time,Total Average Response Time,Total Min Response Time,\
    Total Max Response Time,Total Average Content Size";
const LOCUST_FAILURES: &str = "Method,Name,Error,Occurrences";

#[test]
fn csv_files_have_locusts_columns_and_numbers() {
    let dir = temp("csv");
    let prefix = dir.join("run");
    let out = short_run()
        .arg("--bot-error-rate")
        .arg("0.2")
        .arg("--csv")
        .arg(&prefix)
        .output()
        .unwrap();
    // With no threshold, failed requests fail the run (and the files are still written).
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("requests failed"), "{stderr}");
    let read = |suffix: &str| {
        let path = format!("{}{suffix}", prefix.display());
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let (stats, history, failures) = (
        read("_stats.csv"),
        read("_stats_history.csv"),
        read("_failures.csv"),
    );
    let header = |text: &str| text.lines().next().unwrap().to_string();
    assert!(
        header(&stats).starts_with(&format!("{LOCUST_STATS},")),
        "Locust's columns first, ours after: {}",
        header(&stats)
    );
    assert_eq!(header(&history), LOCUST_HISTORY);
    assert_eq!(header(&failures), LOCUST_FAILURES);

    let rows: Vec<Vec<String>> = stats
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let last = rows.last().unwrap();
    assert_eq!((last[0].as_str(), last[1].as_str()), ("", "Aggregated"));
    let total: u64 = rows[..rows.len() - 1]
        .iter()
        .map(|r| r[2].parse::<u64>().unwrap())
        .sum();
    assert_eq!(last[2].parse::<u64>().unwrap(), total);
    for row in &rows {
        // Locust's 22, then queue, service and reply percentiles (empty where there are none).
        assert_eq!(row.len(), 29);
        for v in row[2..].iter().filter(|v| !v.is_empty()) {
            v.parse::<f64>()
                .unwrap_or_else(|_| panic!("{v} is not a number in {row:?}"));
        }
        for queue_and_service in &row[22..26] {
            queue_and_service.parse::<f64>().unwrap();
        }
    }
    let tasks = read("_tasks.csv");
    assert_eq!(
        header(&tasks),
        "Class,Task,Weight,Expected Share,Calls,Observed Share,Script Errors,\
         Average Duration,50%,95%,99%,100%"
    );
    let task_calls: u64 = tasks
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(task_calls > 0, "{tasks}");
    let failed: u64 = failures
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(failed > 0, "{failures}");
    assert_eq!(failed, last[3].parse::<u64>().unwrap());
    assert!(history.lines().count() >= 3, "{history}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn thresholds_pass_or_fail_the_run_with_the_documented_codes() {
    let out = short_run()
        .args(["--threshold", "errors<1%", "--threshold", "p95<10s"])
        .args(["--threshold", "coverage{commands=/help,/start}"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("pass errors<1%"), "{stdout}");

    let out = short_run()
        .args(["--threshold", "p95<0.001ms", "--threshold", "errors<1%"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(stress::EXIT_THRESHOLD as i32),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL p95<0.001ms"), "{stdout}");
    assert!(stdout.contains("pass errors<1%"), "{stdout}");

    // The demo bot's 22 commands are not all sent by guests.
    let out = short_run()
        .args(["--threshold", "coverage"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("not sent: ") && stdout.contains("/grant"),
        "{stdout}"
    );

    let out = short_run()
        .args(["--threshold", "p95 fast"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--threshold: `p95 fast`"), "{stderr}");

    // Thresholds from a profile file.
    let dir = temp("threshold-profile");
    let profile = dir.join("gate.toml");
    std::fs::write(
        &profile,
        "users = 3\nspawn_rate = 3\nrun_time = \"2s\"\nthresholds = [\"rps>100000\"]\n",
    )
    .unwrap();
    let out = stress_bin()
        .args(["run", "--script", "scripts/guest.rhai", "-q", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("FAIL rps>100000"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text() {
    let args = RunArgs {
        scripts: vec![root().join("scripts/guest.rhai")],
        stdlib: root().join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root().join("profiles"),
        users: Some(5),
        spawn_rate: Some(50.0),
        run_time: Some("60s".into()),
        wait: Some("0.02..0.1".into()),
        seed: Some(4),
        max_connections: 40,
        timeout: "10s".into(),
        reply_timeout: "2s".into(),
        stop_timeout: "5s".into(),
        control: Some("127.0.0.1:0".parse().unwrap()),
        bot_no_latency: true,
        quiet: true,
        ..RunArgs::default()
    };
    let (run, base) = start_live(&args).await;
    let mut scrape = String::new();
    for _ in 0..500 {
        let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        scrape = r.text().await.unwrap();
        if scrape.contains("stress_requests_total{name=\"text\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = scrape.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, label: &str| {
        parsed
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("name") == Some(label))
            .map(|s| s.value.clone())
    };
    match value("stress_requests_total", "text") {
        Some(prometheus_parse::Value::Counter(n)) => assert!(n > 0.0),
        other => panic!("no request counter: {other:?}\n{scrape}"),
    }
    assert!(matches!(
        value("stress_request_duration_seconds", "text"),
        Some(prometheus_parse::Value::Summary(_))
    ));
    let users = parsed
        .samples
        .iter()
        .find(|s| s.metric == "stress_users")
        .expect("a users gauge");
    assert!(matches!(users.value, prometheus_parse::Value::Gauge(n) if n == 5.0));
    assert!(parsed.docs.contains_key("stress_checks_total"));
    // The stand-in's own counts, live: the demo bot's replies went through it.
    let calls = parsed
        .samples
        .iter()
        .find(|s| {
            s.metric == "stress_botapi_calls_total" && s.labels.get("method") == Some("sendMessage")
        })
        .unwrap_or_else(|| panic!("no stand-in call counter\n{scrape}"));
    assert!(matches!(calls.value, prometheus_parse::Value::Counter(n) if n > 0.0));
    assert!(parsed.docs.contains_key("stress_botapi_late_calls_total"));
    // Flood limits are counted by default (report).
    for counter in ["flood_refused", "flood_violations", "blocked_calls"] {
        let name = format!("stress_botapi_{counter}_total");
        assert!(parsed.docs.contains_key(&name), "no {name}\n{scrape}");
    }
    reqwest::Client::new()
        .post(format!("{base}/api/stop"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let s = run.await.unwrap();
    assert!(s.totals.requests > 0);
}

/// Exit codes a CI can trust (#21): with no threshold any failure is exit 3, which
/// `--allow-failures` turns off; a threshold, when given, decides alone.
#[test]
fn failures_fail_the_run_unless_allowed_or_a_threshold_decides() {
    let failing = |extra: &[&str]| {
        short_run()
            .args(["--bot-error-rate", "0.5"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = failing(&[]);
    assert_eq!(out.status.code(), Some(3));
    let out = failing(&["--allow-failures"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = failing(&["--threshold", "errors<90%"]);
    assert_eq!(out.status.code(), Some(0), "the threshold decides alone");
}
