//! Interop with a real bot framework: an aiogram 3 webhook bot (`tests/interop/aiogram_bot.py`)
//! pointed at the Bot API stand-in with aiogram's own base-URL setting. It registers its webhook
//! with the stand-in, gets our updates from several chats at once, and its replies (sendMessage
//! over HTTP, and once per chat a method call in the webhook response body) must reach the
//! stand-in, each in the chat it answers. The load path's own HTTP client (`transport::h1`) posts
//! to aiohttp's server too.
//!
//! Needs a Python with aiogram: `STRESS_PYTHON`, else `.venv/bin/python` (made by
//! `.ci/install-python-deps`), else `python3`. Without Python at all the test says it is skipped;
//! with Python but no aiogram it is skipped too, except under CI (`CI` set), where it fails.

use std::fs::File;
use std::io::{BufRead as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use stress::botapi::{ApiConfig, BotApi, ReplyHub, WebhookRegistration, webhook_reply};
use stress::harness::{ChatUser, Exchange};
use stress::telegram::Via;
use stress::telegram::{Tier, TierPools, Update, UpdateIds};
use stress::transport::{HttpTarget, HttpTransport, Secret};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::timeout;

const TOKEN: &str = "424242:aiogram-interop";
const SECRET: &str = "stress_interop-Secret42";
/// Generous bounds for a slow machine: importing aiogram alone takes seconds.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Each chat's conversation, sent this many times over.
const ROUNDS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiogram_webhook_bot_answers_each_chat_through_the_stand_in() {
    let python = python();
    let Some(version) = aiogram_version(&python).await else {
        return;
    };

    let (api, api_addr, stop_api, server) = start_stand_in().await;
    let mut bot = BotProcess::spawn(&python, &format!("http://{api_addr}")).await;
    let ctx = |what: &str| format!("{what} (aiogram {version})\n{}", bot.log());

    let registration = wait_for_webhook(&api).await;
    assert_eq!(registration.url, bot.url, "{}", ctx("setWebhook url"));
    assert_eq!(
        registration.secret_token.as_deref(),
        Some(SECRET),
        "{}",
        ctx("setWebhook secret_token")
    );

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");
    let ids = Arc::new(UpdateIds::unsharded());
    let pools = TierPools::default();
    let user = |tier, index, secret: &str| {
        ChatUser::new(
            api.clone(),
            ids.clone(),
            &pools,
            tier,
            index,
            bot.url.clone(),
            Some(secret.to_string()),
            client.clone(),
        )
        .expect("pool has room")
    };

    // Four chats talking at once, each checking that it gets its own answers only.
    let mut chats = JoinSet::new();
    for (n, (tier, index)) in [
        (Tier::Guest, 0),
        (Tier::User, 7),
        (Tier::Developer, 1),
        (Tier::Admin, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let chat = user(tier, index, SECRET);
        chats.spawn(async move {
            converse(chat, n)
                .await
                .with_context(|| format!("{tier} #{index}"))
        });
    }
    let mut sent = 0;
    while let Some(joined) = chats.join_next().await {
        match joined.expect("chat task") {
            Ok(n) => sent += n,
            Err(e) => panic!("{}", ctx(&format!("{e:#}"))),
        }
    }

    // A webhook POST with the wrong secret is refused by aiogram itself and answered nowhere.
    let mut stranger = user(Tier::Guest, 1, "not-the-secret");
    let update = stranger.text("let me in").unwrap();
    let ex = stranger
        .send(&update)
        .await
        .unwrap_or_else(|e| panic!("{}", ctx(&format!("{e:#}"))));
    assert_eq!(ex.status, 401, "{}", ctx("wrong secret token"));
    assert!(
        ex.events.is_empty(),
        "{}",
        ctx(&format!("wrong secret answered: {:?}", ex.texts()))
    );

    let stats = api.stats();
    let calls = |m: &str| stats.calls.get(m).copied().unwrap_or(0);
    assert_eq!(
        calls("sendMessage"),
        sent as u64,
        "{}",
        ctx(&format!("{stats:?}"))
    );
    assert_eq!(calls("setWebhook"), 1, "{}", ctx(&format!("{stats:?}")));
    assert_eq!(
        (stats.errors, stats.unauthorized, stats.unknown_methods),
        (0, 0, 0),
        "{}",
        ctx(&format!("{stats:?}"))
    );
    assert_eq!(
        stats.hub.delivered,
        sent as u64,
        "{}",
        ctx(&format!("{stats:?}"))
    );
    assert_eq!(
        (stats.hub.unclaimed, stats.hub.overflowed),
        (0, 0),
        "{}",
        ctx(&format!("{stats:?}"))
    );

    // The load path: the webhook client of `stress run` (transport/h1.rs, kept-alive HTTP/1.1
    // of its own) against aiohttp's server, each answer's body read as a run reads it.
    let before = api.stats().calls.get("sendMessage").copied().unwrap_or(0);
    let target = HttpTarget::resolve(&bot.url).await.expect("the bot's URL");
    let transport = HttpTransport::new(
        Arc::new(target),
        Arc::new(Semaphore::new(1)),
        Duration::from_secs(30),
        Secret::Fixed(SECRET.into()),
    );
    let mut loader = user(Tier::User, 3, SECRET);
    let mut posted = 0u64;
    for i in 0..10 {
        let updates = [
            loader.text(&format!("load {i}: 王小明 🦀")).unwrap(),
            loader.command("echo", &format!("load echo {i}")).unwrap(),
            loader.command("inbody", &format!("load body {i}")).unwrap(),
        ];
        for update in updates {
            let body = serde_json::to_vec(&update).unwrap();
            let answer = transport.post(body.into()).await;
            let response = answer
                .result
                .unwrap_or_else(|e| panic!("{}", ctx(&format!("load post {i}: {e:?}"))));
            assert_eq!(response.status, 200, "{}", ctx("load post status"));
            if let Some(reply) =
                webhook_reply(&api, response.content_type.as_deref(), response.body).await
            {
                reply.unwrap_or_else(|e| panic!("{}", ctx(&format!("in-body reply: {e:?}"))));
            }
            posted += 1;
        }
    }
    let stats = api.stats();
    assert_eq!(
        stats.calls.get("sendMessage").copied().unwrap_or(0) - before,
        posted,
        "{}",
        ctx(&format!("a reply to each load post: {stats:?}"))
    );
    assert_eq!(stats.errors, 0, "{}", ctx(&format!("{stats:?}")));

    let status = bot.stop().await;
    let _ = stop_api.send(());
    let _ = timeout(EXIT_TIMEOUT, server).await;
    eprintln!(
        "aiogram {version}: {sent} replies in 4 concurrent chats, bot exited with {status:?}"
    );
}

/// One chat's conversation with the bot; returns how many messages the bot sent in it.
async fn converse(mut chat: ChatUser, n: usize) -> anyhow::Result<usize> {
    let id = chat.user_id();
    let mut sent = 0;
    for round in 0..ROUNDS {
        let start = chat.command("start", "")?;
        let name = first_name(&start);
        let ex = exchange(&mut chat, &start).await?;
        expect_reply(
            &ex,
            id,
            Via::Api,
            &format!("aiogram: hello {name} (id {id})"),
        )?;

        let args = format!("🦀 привет, мир {n}.{round} — ünïcödé 👋🏽");
        let echo = chat.command("echo", &args)?;
        expect_reply(&exchange(&mut chat, &echo).await?, id, Via::Api, &args)?;

        let text = format!("plain text {n}.{round}: 王小明 says hi");
        let plain = chat.text(&text)?;
        let expected = format!("aiogram echo: {text}");
        expect_reply(&exchange(&mut chat, &plain).await?, id, Via::Api, &expected)?;

        let body = chat.command("inbody", &format!("Ёж {n}.{round} 🦔"))?;
        let expected = format!("aiogram in body: Ёж {n}.{round} 🦔");
        expect_reply(
            &exchange(&mut chat, &body).await?,
            id,
            Via::WebhookBody,
            &expected,
        )?;
        sent += 4;
    }
    Ok(sent)
}

async fn exchange(chat: &mut ChatUser, update: &Update) -> anyhow::Result<Exchange> {
    let text = update.message.as_ref().and_then(|m| m.text.clone());
    let ex = chat
        .send(update)
        .await
        .with_context(|| format!("sending {text:?}"))?;
    ensure!(
        ex.status == 200,
        "{text:?}: the webhook answered {}",
        ex.status
    );
    Ok(ex)
}

/// Exactly one reply, in this chat, with this text, come the expected way.
fn expect_reply(ex: &Exchange, chat_id: i64, via: Via, text: &str) -> anyhow::Result<()> {
    ensure!(
        ex.texts() == [text],
        "expected only {text:?}, got {:?}",
        ex.texts()
    );
    for e in &ex.events {
        let in_chat = e.message.as_ref().map(|m| m.chat.id);
        ensure!(
            e.chat_id == chat_id && in_chat == Some(chat_id),
            "reply {text:?} meant for chat {chat_id} went to {} ({in_chat:?})",
            e.chat_id
        );
        ensure!(
            e.via == via,
            "reply {text:?} came {:?}, expected {via:?}",
            e.via
        );
    }
    Ok(())
}

fn first_name(update: &Update) -> String {
    let from = update.message.as_ref().and_then(|m| m.from.as_ref());
    from.expect("a message has a sender").first_name.clone()
}

/// `STRESS_PYTHON`, else the repository's `.venv`, else `python3` from `PATH`.
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STRESS_PYTHON").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// aiogram's version, or `None` after saying why the test is skipped. Panics where a skip
/// would hide a broken setup: under CI with Python but no aiogram, or a named interpreter
/// that is not there.
async fn aiogram_version(python: &Path) -> Option<String> {
    let probe = Command::new(python)
        .args(["-c", "import aiogram; print(aiogram.__version__)"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match timeout(PROBE_TIMEOUT, probe).await {
        Err(_) => panic!(
            "{} took over {PROBE_TIMEOUT:?} to import aiogram",
            python.display()
        ),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("STRESS_PYTHON").is_none(),
                "STRESS_PYTHON={} does not exist",
                python.display()
            );
            skip(&format!(
                "Python is missing ({} not found)",
                python.display()
            ));
            return None;
        }
        Ok(Err(e)) => panic!("cannot run {}: {e}", python.display()),
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        return Some(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no error output");
    let reason = format!("{} cannot import aiogram ({why})", python.display());
    if std::env::var_os("CI").is_some() {
        panic!("{reason}: .ci/run should have installed aiogram with .ci/install-python-deps");
    }
    skip(&reason);
    None
}

/// Straight to stderr, past the test harness's capture, so a skip is never a silent pass.
fn skip(reason: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: aiogram interop test: {reason}; run .ci/run or create .venv with pip install aiogram"
    );
}

async fn start_stand_in() -> (
    Arc<BotApi>,
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("loopback port");
    let addr = listener.local_addr().unwrap();
    let api = Arc::new(BotApi::new(
        ApiConfig {
            token: Some(TOKEN.into()),
            ..ApiConfig::default()
        },
        ReplyHub::default(),
    ));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(stress::botapi::serve(listener, api.clone(), async move {
        let _ = stopped.await;
    }));
    (api, addr, stop, server)
}

async fn wait_for_webhook(api: &BotApi) -> WebhookRegistration {
    let mut registrations = api.webhook();
    let registered = timeout(START_TIMEOUT, registrations.wait_for(Option::is_some))
        .await
        .expect("the bot registers its webhook")
        .expect("the stand-in is alive");
    registered.clone().expect("registered")
}

/// The aiogram bot as a child process, killed when dropped.
struct BotProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
    log: Arc<Mutex<String>>,
}

impl BotProcess {
    /// Starts the bot and waits for its `LISTENING <url>` line.
    async fn spawn(python: &Path, api_base: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiogram_bot.py");
        let mut child = Command::new(python)
            .arg("-u")
            .arg(&script)
            .args([
                "--api", api_base, "--token", TOKEN, "--secret", SECRET, "--port", "0",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped").into_owned_fd();
        let stderr_done = collect(stderr.expect("stderr fd"), log.clone());
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped").into_owned_fd();
        let mut stdout = pipe_lines(stdout.expect("stdout fd"));
        let listening = timeout(START_TIMEOUT, async {
            while let Some(line) = stdout.recv().await {
                if let Some(url) = line.strip_prefix("LISTENING ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await;
        let url = match listening {
            Ok(Some(url)) => url,
            failed => {
                let exited = timeout(EXIT_TIMEOUT, child.wait()).await;
                let _ = timeout(EXIT_TIMEOUT, stderr_done).await;
                let failed = if failed.is_err() {
                    "timed out"
                } else {
                    "stdout closed"
                };
                panic!(
                    "the aiogram bot did not report its webhook ({failed}; exit: {exited:?})\n{}",
                    log_text(&log)
                );
            }
        };
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "webhook not on loopback: {url}"
        );
        Self {
            child,
            stdin,
            url,
            log,
        }
    }

    fn log(&self) -> String {
        log_text(&self.log)
    }

    /// Closes the bot's stdin (its signal to stop) and waits for it, killing it if it lingers.
    async fn stop(&mut self) -> Option<ExitStatus> {
        drop(self.stdin.take());
        match timeout(EXIT_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}

/// The pipe's lines as they come, read on a thread of its own (the crate's tokio has no
/// `io-util`). The pipe is read to its end whether or not anyone still listens, so the bot never
/// blocks on a full pipe.
fn pipe_lines(fd: OwnedFd) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(File::from(fd)).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// Appends the pipe's lines to `log`; the receiver fires once the pipe is closed.
fn collect(fd: OwnedFd, log: Arc<Mutex<String>>) -> oneshot::Receiver<()> {
    let (done, closed) = oneshot::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(File::from(fd)).lines() {
            let Ok(line) = line else { break };
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
        let _ = done.send(());
    });
    closed
}

fn log_text(log: &Mutex<String>) -> String {
    let log = log.lock().unwrap();
    if log.is_empty() {
        "(the aiogram bot wrote nothing on stderr)".into()
    } else {
        format!("--- aiogram bot stderr ---\n{log}--- end ---")
    }
}
