//! The bot under test: the demo bot with its stand-in in-process, or the user's bot at
//! `--target` (with a stand-in on `--botapi-listen` to catch its replies).

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::config::{ConfigError, TargetChoice};
use crate::harness::LocalStack;
use crate::transport::{HttpTarget, Secret};

/// The bot under test and where its replies are caught.
pub(super) struct Target {
    /// The demo bot and its stand-in, when they run in-process.
    pub stack: Option<LocalStack>,
    pub api: Arc<BotApi>,
    pub http: HttpTarget,
    pub secret: Secret,
    pub describe: String,
    /// Stops a stand-in started for an external bot.
    _stop: watch::Sender<bool>,
}

pub(super) async fn start(choice: &TargetChoice) -> anyhow::Result<Target> {
    let (stop, stop_rx) = watch::channel(false);
    match choice {
        TargetChoice::Demo(config) => {
            let stack = LocalStack::start((**config).clone()).await?;
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
                http,
                secret,
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
            let api = Arc::new(BotApi::new(ApiConfig::default(), ReplyHub::default()));
            let mut describe = url.clone();
            if let Some(addr) = botapi_listen {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--botapi-listen: binding {addr}"))?;
                let addr = listener.local_addr()?;
                describe.push_str(&format!(" (Bot API stand-in at http://{addr})"));
                let mut rx = stop_rx;
                tokio::spawn(crate::botapi::serve(listener, api.clone(), async move {
                    let _ = rx.wait_for(|s| *s).await;
                }));
            }
            let secret = match (secret, botapi_listen) {
                (Some(s), _) => Secret::Fixed(s.clone()),
                (None, Some(_)) => Secret::Captured(api.webhook()),
                (None, None) => Secret::None,
            };
            Ok(Target {
                stack: None,
                api,
                http,
                secret,
                describe,
                _stop: stop,
            })
        }
    }
}
