//! Real bots, unchanged, as people run them: aiogram 3 polling and on a webhook with its default
//! background handling, python-telegram-bot 22 polling, and grammY 1 on a webhook, each pointed
//! at `stress run --botapi-listen` by its own base-URL setting and left to choose how it gets
//! its updates. Each conversation covers a command, a text, a button whose answer is an edit,
//! and a voice note the bot downloads. A run must end with no failed request, every check
//! passed, no late reply, and a bot log with no exception and no update seen twice, the bot
//! being stopped while the stand-in still drains.
//!
//! The bots are in `tests/interop/`; `.ci/run` installs their frameworks (`.ci/install-python-deps`,
//! `.ci/install-node-deps`). Without them a test says it is skipped, except under CI (`CI` set),
//! where it fails.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bots::Run;
use crate::common::root;

const TOKEN: &str = "777:frameworks";
const USERS: u64 = 4;
const ITERATIONS: u64 = 3;
/// Sends per conversation.
const SENDS: u64 = 5;

const SCRIPT: &str = r#"
user_class("FrameworkUser", #{ tier: "guest", weight: 1, wait: 0 });

/// @task(1)
fn conversation() {
    let r = send_command("/start");
    check("start answered", r.text.starts_with("hello "));
    let r = send_text("ping");
    check("text echoed", r.text == "echo: ping");
    let r = send_command("/menu");
    check("menu shown", r.text == "Choose:");
    let p = send_callback("pick:b");
    check("the button's answer is the edit", p.text == "you chose b");
    let v = send_media("voice");
    check("voice note downloaded", v.text.starts_with("voice: ") && v.text.ends_with(" bytes"));
}
"#;

/// What starts a framework's bot, or why it cannot start here.
fn bot_command(framework: &str, api: &str) -> Result<Command, String> {
    let interop = root().join("tests/interop");
    let python = |module: &str, script: &str| {
        let python = crate::interop::python();
        let probe = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output();
        match probe {
            Ok(out) if out.status.success() => {
                let mut c = Command::new(python);
                c.arg(interop.join(script));
                Ok(c)
            }
            _ => Err(format!("{} cannot import {module}", python.display())),
        }
    };
    let mut command = match framework {
        "aiogram-polling" | "aiogram-webhook" => {
            let mut c = python("aiogram", "aiogram_modes.py")?;
            c.args(["--mode", framework.trim_start_matches("aiogram-")]);
            c
        }
        "ptb-polling" => python("telegram", "ptb_bot.py")?,
        "grammy-webhook" => {
            let dir = interop.join("grammy");
            if !dir.join("node_modules/grammy").exists() {
                return Err("grammy is not installed in tests/interop/grammy".into());
            }
            let mut c = Command::new("node");
            c.arg(dir.join("bot.mjs")).current_dir(dir);
            c
        }
        other => panic!("no bot for {other}"),
    };
    command.args(["--api", api, "--token", TOKEN]);
    Ok(command)
}

/// A bot process whose stderr is kept.
struct Bot {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Bot {
    fn spawn(mut command: Command) -> Bot {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the bot starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let kept = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Bot { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit (bounded); `None` if it had to be killed.
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn skip_or_fail(framework: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{framework}: {why}; .ci/run should have installed it"
    );
    eprintln!("SKIPPED: {framework} framework test: {why}; run .ci/run to install it");
}

/// One framework at a time: each starts an interpreter and a run, on a machine of two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn converse_with(framework: &str) {
    converse(framework, false);
}

/// With `bot_first`, the bot starts before `stress run` (on a port chosen beforehand) and must
/// keep trying until the stand-in is up.
fn converse(framework: &str, bot_first: bool) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let args = [
        "--users",
        &USERS.to_string(),
        "--iterations",
        &ITERATIONS.to_string(),
        "--drain",
        "8s",
        "--reply-timeout",
        "20s",
    ]
    .map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Checked before the run: a skipped test starts nothing.
    if let Err(why) = bot_command(framework, "http://127.0.0.1:9") {
        return skip_or_fail(framework, &why);
    }
    let name = format!(
        "fw-{framework}-{}",
        if bot_first { "first" } else { "after" }
    );
    let (run, mut bot) = if bot_first {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let api = format!("http://127.0.0.1:{port}");
        let bot = Bot::spawn(bot_command(framework, &api).unwrap());
        let listen = format!("127.0.0.1:{port}");
        (Run::listening(&name, SCRIPT, &listen, &args), bot)
    } else {
        let run = Run::with_script(&name, SCRIPT, &args);
        let api = format!("http://{}", run.stand_in());
        (run, Bot::spawn(bot_command(framework, &api).unwrap()))
    };
    run.wait_for_line("(--drain)");
    let status = bot.stop();
    let bot_log = bot.log();
    let (code, json, log) = run.finish();
    let context = format!("{framework}\n--- stress:\n{log}\n--- bot:\n{bot_log}");
    assert!(
        status.is_some_and(|s| s.success() || s.code().is_none()),
        "the bot exits cleanly on SIGTERM: {status:?}\n{context}"
    );
    for bad in [
        "Traceback",
        "Exception",
        "Error",
        "error",
        "DUPLICATE",
        "BAD VOICE",
    ] {
        assert!(
            !bot_log.contains(bad),
            "{bad:?} in the bot's log\n{context}"
        );
    }
    assert_eq!(code, Some(0), "{context}");
    let totals = &json["totals"];
    assert_eq!(
        totals["requests"].as_u64(),
        Some(USERS * ITERATIONS * SENDS),
        "{context}"
    );
    assert_eq!(totals["failures"], 0, "{context}");
    assert_eq!(totals["checks_failed"], 0, "{}\n{context}", json["checks"]);
    assert_eq!(totals["no_reply"], 0, "{context}");
    assert_eq!(totals["late_replies"], 0, "{context}");
    let mode = if framework.ends_with("polling") {
        "polling"
    } else {
        "webhook"
    };
    assert_eq!(json["botapi"]["mode"], mode, "{}", json["botapi"]);
    assert_eq!(json["botapi"]["unknown_methods"], 0, "{}", json["botapi"]);
}

#[test]
fn aiogram_polling() {
    converse_with("aiogram-polling");
}

#[test]
fn aiogram_webhook_acknowledging_first() {
    converse_with("aiogram-webhook");
}

#[test]
fn python_telegram_bot_polling() {
    converse_with("ptb-polling");
}

#[test]
fn python_telegram_bot_started_before_the_run() {
    converse("ptb-polling", true);
}

#[test]
fn grammy_webhook() {
    converse_with("grammy-webhook");
}
