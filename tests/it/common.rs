//! Shared helpers: an in-process demo bot and stand-in on port 0, and test users.

use std::sync::Arc;

use stress::cli::RunArgs;
use stress::demo_bot::{BotLatency, DemoBotConfig, DemoBotStats};
use stress::harness::ChatUser;
use stress::harness::LocalStack;
use stress::report::Summary;
use stress::telegram::{Tier, UpdateIds};
use tokio::task::JoinHandle;

/// A demo bot with no latency, replying through the stand-in.
pub async fn stack() -> LocalStack {
    stack_with(DemoBotConfig {
        latency: BotLatency::zero(),
        reply_in_webhook: false,
        ..DemoBotConfig::default()
    })
    .await
}

pub async fn stack_with(config: DemoBotConfig) -> LocalStack {
    LocalStack::start(config).await.expect("local stack starts")
}

pub struct Users {
    pub ids: Arc<UpdateIds>,
    pub client: reqwest::Client,
}

impl Default for Users {
    fn default() -> Self {
        Self {
            ids: Arc::new(UpdateIds::unsharded()),
            client: reqwest::Client::new(),
        }
    }
}

impl Users {
    /// User `index` of `tier`'s pool, talking to the stack's demo bot.
    pub fn user(&self, stack: &LocalStack, tier: Tier, index: u64) -> ChatUser {
        let pools = stack.bot.config().pools.clone();
        let secret = stack.bot.config().secret_token.clone();
        ChatUser::new(
            stack.api.clone(),
            self.ids.clone(),
            &pools,
            tier,
            index,
            stack.webhook_url(),
            secret,
            self.client.clone(),
        )
        .expect("pool has room")
    }
}

/// A Bot API stand-in alone on port 0, answering only `token`: its state and its root URL
/// (`http://127.0.0.1:PORT`, under which are `/bot<token>/<method>` and `/file/bot<token>/`).
pub async fn stand_in(token: &str) -> (Arc<stress::botapi::BotApi>, String) {
    let api = Arc::new(stress::botapi::BotApi::new(
        stress::botapi::ApiConfig {
            token: Some(token.into()),
            ..stress::botapi::ApiConfig::default()
        },
        stress::botapi::ReplyHub::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(stress::botapi::serve(
        listener,
        api.clone(),
        std::future::pending(),
    ));
    (api, root)
}

/// The demo bot's `/stats`, fetched over HTTP as a user would.
pub async fn stats(stack: &LocalStack) -> DemoBotStats {
    reqwest::get(format!("http://{}/stats", stack.bot_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Starts a run with `--control` in the background: its summary when it ends, and the control
/// server's base URL once it is up.
pub async fn start_live(args: &RunArgs) -> (JoinHandle<Summary>, String) {
    let config = stress::config::run(args).expect("valid configuration");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let run = tokio::spawn(async move {
        stress::cmd::run::run_with(
            config,
            stress::cmd::run::Stop::graceful(std::future::pending()),
            move |s| {
                let _ = tx.send(s.control.expect("a control address"));
            },
        )
        .await
        .expect("the run completes")
        .summary
    });
    let addr = rx.await.expect("the run started");
    (run, format!("http://{addr}"))
}

/// The repository's root (where `scripts/` and `schema/` are).
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty folder for one test's files.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stress-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks a result file's JSON against `schema/result.v1.json`.
pub fn check_schema(json: &serde_json::Value) -> Result<(), String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("schema/result.v1.json")).unwrap())
            .unwrap();
    compiler.add_resource("result.v1.json", schema).unwrap();
    let index = compiler.compile("result.v1.json", &mut schemas).unwrap();
    schemas.validate(json, index).map_err(|e| format!("{e:#}"))
}
