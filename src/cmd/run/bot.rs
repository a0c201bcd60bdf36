//! The bot under test: the demo bot with its stand-in in-process; the user's bot at `--target`
//! (with a stand-in on `--botapi-listen` to catch its replies); or the user's bot choosing, as
//! with Telegram, between a webhook and long polling once it calls the stand-in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::botapi::delivery::{self, BotMode};
use crate::botapi::gate::Rules;
use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::config::{ConfigError, TargetChoice};
use crate::control::BotApiProbe;
use crate::harness::LocalStack;
use crate::report::BotApiReport;
use crate::telegram::TierPools;
use crate::transport::{HttpTarget, Secret};

/// How updates reach the bot.
pub(super) enum Delivery {
    /// POSTed to its webhook, at most `max_connections` at once when the bot said so.
    Webhook {
        http: Box<HttpTarget>,
        secret: Secret,
        max_connections: Option<u32>,
    },
    /// Fetched by the bot with getUpdates.
    Polling,
}

/// The bot under test and where its replies are caught.
pub(super) struct Target {
    /// The demo bot and its stand-in, when they run in-process.
    pub stack: Option<LocalStack>,
    pub api: Arc<BotApi>,
    pub delivery: Delivery,
    pub describe: String,
    /// `demo`, `target`, `webhook` or `polling`, as the result's `botapi.mode` says.
    mode: &'static str,
    /// A stand-in serves a bot outside this process: it drains at the end.
    pub serves_external_bot: bool,
    /// From the stand-in's start to the bot's choice.
    ready_after: Option<Duration>,
    /// Stops a stand-in started for an external bot.
    _stop: watch::Sender<bool>,
}

impl Target {
    /// The `botapi` section of the result.
    pub fn report(&self) -> Option<BotApiReport> {
        self.reports_botapi()
            .then(|| delivery::report(&self.api, self.mode, self.ready_after))
    }

    /// How the control API's `/metrics` reads the stand-in's counts live, when there are any.
    pub fn botapi_probe(&self) -> Option<BotApiProbe> {
        self.reports_botapi().then(|| BotApiProbe {
            api: self.api.clone(),
            mode: self.mode,
            ready_after: self.ready_after,
        })
    }

    /// Without a stand-in of its own, a `--target` has nothing to report.
    fn reports_botapi(&self) -> bool {
        self.mode != "target" || self.serves_external_bot
    }
}

/// A stand-in for a bot of the user's, which knows the run's test users (getChatMember calls
/// them members).
fn stand_in(pools: &TierPools, rules: &Rules) -> Arc<BotApi> {
    let config = ApiConfig {
        pools: pools.clone(),
        rules: rules.clone(),
        ..ApiConfig::default()
    };
    Arc::new(BotApi::new(config, ReplyHub::default()))
}

pub(super) async fn start(
    choice: &TargetChoice,
    pools: &TierPools,
    rules: &Rules,
    quiet: bool,
) -> anyhow::Result<Target> {
    let (stop, stop_rx) = watch::channel(false);
    match choice {
        TargetChoice::Demo(config) => {
            let stack = LocalStack::with_rules((**config).clone(), rules.clone()).await?;
            let url = stack.webhook_url();
            let http = HttpTarget::resolve(&url)
                .await
                .map_err(|e| anyhow::anyhow!("the demo bot's address: {e}"))?;
            let secret = config
                .secret_token
                .clone()
                .map_or(Secret::None, Secret::Fixed);
            Ok(Target {
                api: stack.api.clone(),
                describe: format!(
                    "the demo bot at {url} (stand-in at {})",
                    stack.api_base_url()
                ),
                stack: Some(stack),
                delivery: Delivery::Webhook {
                    http: Box::new(http),
                    secret,
                    max_connections: None,
                },
                mode: "demo",
                serves_external_bot: false,
                ready_after: None,
                _stop: stop,
            })
        }
        TargetChoice::External {
            url,
            secret,
            botapi_listen,
            trust,
        } => {
            let http = HttpTarget::resolve_with(url, trust)
                .await
                .map_err(|e| ConfigError {
                    flag: "--target",
                    message: e,
                })?;
            let api = stand_in(pools, rules);
            let mut describe = url.clone();
            if let Some(addr) = botapi_listen {
                let addr = serve_stand_in(*addr, &api, stop_rx).await?;
                describe.push_str(&format!(" (Bot API stand-in at http://{addr})"));
            }
            let secret = match (secret, botapi_listen) {
                (Some(s), _) => Secret::Fixed(s.clone()),
                (None, Some(_)) => Secret::Captured(api.webhook()),
                (None, None) => Secret::None,
            };
            Ok(Target {
                stack: None,
                api,
                delivery: Delivery::Webhook {
                    http: Box::new(http),
                    secret,
                    max_connections: None,
                },
                describe,
                mode: "target",
                serves_external_bot: botapi_listen.is_some(),
                ready_after: None,
                _stop: stop,
            })
        }
        TargetChoice::BotChooses {
            botapi_listen,
            ready_timeout,
            secret,
            trust,
        } => {
            let api = stand_in(pools, rules);
            let began = Instant::now();
            let addr = serve_stand_in(*botapi_listen, &api, stop_rx).await?;
            if !quiet {
                eprintln!("{}", instructions(addr, *ready_timeout));
            }
            let mode = wait_for_bot(&api, addr, *ready_timeout).await?;
            let ready_after = api
                .delivery()
                .ready_at()
                .map(|at| at.saturating_duration_since(began));
            let (delivery, mode, describe) = match mode {
                BotMode::Polling => (
                    Delivery::Polling,
                    "polling",
                    format!("a polling bot (getUpdates on the stand-in at http://{addr})"),
                ),
                BotMode::Webhook(registration) => {
                    let http = HttpTarget::resolve_with(&registration.url, trust)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!("the webhook the bot registered with setWebhook: {e}")
                        })?;
                    let secret = match secret {
                        Some(s) => Secret::Fixed(s.clone()),
                        None => Secret::Captured(api.webhook()),
                    };
                    (
                        Delivery::Webhook {
                            http: Box::new(http),
                            secret,
                            max_connections: Some(registration.max_connections),
                        },
                        "webhook",
                        format!(
                            "the webhook {} (registered with the stand-in at http://{addr})",
                            registration.url
                        ),
                    )
                }
            };
            Ok(Target {
                stack: None,
                api,
                delivery,
                describe,
                mode,
                serves_external_bot: true,
                ready_after,
                _stop: stop,
            })
        }
    }
}

/// Serves the stand-in for an external bot until `stop`; returns the bound address.
async fn serve_stand_in(
    addr: SocketAddr,
    api: &Arc<BotApi>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--botapi-listen: binding {addr}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(crate::botapi::serve(listener, api.clone(), async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    Ok(addr)
}

/// Where to point the bot, in each framework's words.
fn instructions(addr: SocketAddr, timeout: Duration) -> String {
    format!(
        "stress: the Bot API stand-in is at http://{addr}; start your bot with its API base URL \
         pointed there\n  aiogram:  Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(\"http://{addr}\")))\n  \
         python-telegram-bot:  Application.builder().token(token).base_url(\"http://{addr}/bot\")\n  \
         grammY:  new Bot(token, {{ client: {{ apiRoot: \"http://{addr}\" }} }})\n\
         stress: waiting up to {} for the bot to call setWebhook or getUpdates (--bot-ready-timeout)",
        humantime::format_duration(timeout)
    )
}

/// Waits until the bot calls setWebhook or getUpdates.
async fn wait_for_bot(
    api: &BotApi,
    addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<BotMode> {
    let mut mode = api.delivery().mode();
    let chosen = tokio::time::timeout(timeout, mode.wait_for(Option::is_some)).await;
    match chosen {
        Ok(Ok(m)) => Ok(m.clone().expect("waited for a choice")),
        Ok(Err(_)) => anyhow::bail!("the Bot API stand-in stopped before the bot was ready"),
        Err(_) => anyhow::bail!(
            "--bot-ready-timeout: no bot called setWebhook or getUpdates on the stand-in at \
             http://{addr} within {}; point the bot's API base URL there (or raise the flag)",
            humantime::format_duration(timeout)
        ),
    }
}
