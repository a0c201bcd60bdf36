//! Reload latency under load (issue 4's benchmark, run by hand with
//! `cargo bench --bench reload_latency`): 200 users run a script against the in-process demo
//! bot; the script is rewritten 20 times, each time to send a command the last version did not,
//! and the time from the write to the demo bot receiving the first request of the new version
//! is measured (polled every 0.5 ms). Prints each time, the median and the maximum.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stress::cli::RunArgs;
use stress::demo_bot::{BotLatency, DemoBotConfig};
use stress::harness::LocalStack;

const COMMANDS: [&str; 8] = [
    "/help",
    "/status",
    "/skills",
    "/mode",
    "/cancel",
    "/clear",
    "/settings",
    "/start",
];

fn script(command: &str) -> String {
    format!(
        "user_class(\"Editor\", #{{ tier: \"guest\", weight: 1, wait: between(0.05, 0.2) }});\n\
         /// @task(1)\nfn act() {{ send_command(\"{command}\"); }}\n"
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = LocalStack::start(DemoBotConfig {
        latency: BotLatency::zero(),
        reply_in_webhook: true,
        ..DemoBotConfig::default()
    })
    .await
    .expect("demo bot");
    let dir = std::env::temp_dir().join(format!("stress-reload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("editor.rhai");
    std::fs::write(&file, script(COMMANDS[0])).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args = RunArgs {
        scripts: vec![dir.clone()],
        stdlib: root.join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root.join("profiles"),
        users: Some(200),
        spawn_rate: Some(1000.0),
        run_time: Some("10m".into()),
        seed: Some(1),
        target: Some(stack.webhook_url()),
        max_connections: 40,
        timeout: "10s".into(),
        reply_timeout: "2s".into(),
        stop_timeout: "2s".into(),
        quiet: true,
        ..RunArgs::default()
    };
    let config = stress::config::run(&args).expect("configuration");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(stress::cmd::run::run(config, async move {
        let _ = stop_rx.await;
    }));
    let count = |c: &str| stack.bot.stats().commands.get(c).copied().unwrap_or(0);
    while count(COMMANDS[0]) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut times = Vec::new();
    for i in 1..=20 {
        let command = COMMANDS[i % COMMANDS.len()];
        let before = count(command);
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, script(command)).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        let written = Instant::now();
        while count(command) == before {
            if written.elapsed() > Duration::from_secs(10) {
                panic!("reload {i} never reached the bot");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let took = written.elapsed();
        println!(
            "reload {i:>2}: {command:<10} {:>7.1} ms",
            took.as_secs_f64() * 1e3
        );
        times.push(took);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let _ = stop_tx.send(());
    let outcome = run.await.unwrap().unwrap();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "write -> first request of the new version, 20 reloads, 200 users ({:.0} req/s): median {:.1} ms, max {:.1} ms",
        outcome.summary.totals.rps,
        ms((times[9] + times[10]) / 2),
        ms(times[19])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
