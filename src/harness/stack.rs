//! The demo bot and the Bot API stand-in started together in-process on loopback ports chosen
//! by the OS, wired to each other: what `stress` tests when the user names no target.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::botapi::gate::Rules;
use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::demo_bot::{ApiEndpoint, DemoBot, DemoBotConfig};

/// The token the in-process demo bot uses with the in-process stand-in.
pub const LOCAL_TOKEN: &str = "123456:stress-local";

/// A running demo bot and stand-in. Dropping it stops both servers.
#[derive(Debug)]
pub struct LocalStack {
    pub api: Arc<BotApi>,
    pub bot: Arc<DemoBot>,
    pub api_addr: SocketAddr,
    pub bot_addr: SocketAddr,
    stop: watch::Sender<bool>,
}

async fn bind_loopback() -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

impl LocalStack {
    /// Starts both servers. `config.api` is pointed at the stand-in unless the bot replies only
    /// in the webhook body.
    pub async fn start(config: DemoBotConfig) -> anyhow::Result<Self> {
        Self::with_rules(config, Rules::default()).await
    }

    /// [`start`](Self::start), the stand-in applying `rules` (flood limits, faults).
    pub async fn with_rules(mut config: DemoBotConfig, rules: Rules) -> anyhow::Result<Self> {
        let (stop, _) = watch::channel(false);
        let (api_listener, api_addr) = bind_loopback().await?;
        let api = Arc::new(BotApi::new(
            ApiConfig {
                token: Some(LOCAL_TOKEN.into()),
                pools: config.pools.clone(),
                rules,
                ..ApiConfig::default()
            },
            ReplyHub::default(),
        ));
        if config.api.is_none() {
            config.api = Some(ApiEndpoint {
                base_url: format!("http://{api_addr}"),
                token: LOCAL_TOKEN.into(),
            });
        }
        let (bot_listener, bot_addr) = bind_loopback().await?;
        let bot = DemoBot::new(config);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(crate::botapi::serve(
            api_listener,
            api.clone(),
            until_stopped(stop.subscribe()),
        ));
        tokio::spawn(crate::demo_bot::serve(
            bot_listener,
            bot.clone(),
            until_stopped(stop.subscribe()),
        ));
        Ok(Self {
            api,
            bot,
            api_addr,
            bot_addr,
            stop,
        })
    }

    pub fn webhook_url(&self) -> String {
        format!("http://{}{}", self.bot_addr, self.bot.config().path)
    }

    pub fn api_base_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
