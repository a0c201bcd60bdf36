//! The demo bot (`stress target`): the webhook server that stands in for the bot being tested.
//!
//! It checks the secret header, parses the update, dispatches the 22 commands with tier rules
//! ([`handlers`]), waits a configurable, seeded latency per kind, injects seeded faults, and
//! sends its replies to the Bot API stand-in or in the webhook response body. `GET /stats`
//! reports what it received ([`stats`]).

mod answers;
pub mod command;
pub mod handlers;
pub mod state;
pub mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;

pub use command::BotCommand;
pub use stats::DemoBotStats;

use handlers::{Call, Handled};
use state::BotState;
use stats::{Counters, Fault, Kind, Rejection};

use crate::telegram::{SECRET_HEADER, TierPools, Update};

/// How long the bot takes per kind of update, before jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct BotLatency {
    pub command: Duration,
    pub text_simple: Duration,
    pub text_complex: Duration,
    pub media: Duration,
    pub callback: Duration,
    /// Each delay varies uniformly by ± this share of itself.
    pub jitter: f64,
}

impl Default for BotLatency {
    /// A few ms for simple things, tens of ms for complex text and media.
    fn default() -> Self {
        Self {
            command: Duration::from_millis(3),
            text_simple: Duration::from_millis(2),
            text_complex: Duration::from_millis(40),
            media: Duration::from_millis(60),
            callback: Duration::from_millis(2),
            jitter: 0.25,
        }
    }
}

impl BotLatency {
    /// No delay at all (for tests and capacity benchmarks).
    pub fn zero() -> Self {
        Self {
            command: Duration::ZERO,
            text_simple: Duration::ZERO,
            text_complex: Duration::ZERO,
            media: Duration::ZERO,
            callback: Duration::ZERO,
            jitter: 0.0,
        }
    }

    /// Sets one kind from `KIND=DURATION` (kinds: command, text, complex, media, callback).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (kind, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=DURATION, got `{spec}`"))?;
        let d = humantime::parse_duration(value.trim())
            .map_err(|e| format!("bad duration in `{spec}`: {e}"))?;
        match kind.trim() {
            "command" => self.command = d,
            "text" | "text_simple" => self.text_simple = d,
            "complex" | "text_complex" => self.text_complex = d,
            "media" => self.media = d,
            "callback" => self.callback = d,
            other => {
                return Err(format!(
                    "unknown latency kind `{other}` (command, text, complex, media, callback)"
                ));
            }
        }
        Ok(())
    }

    fn of(&self, kind: Kind, rng: &mut SmallRng) -> Duration {
        let base = match kind {
            Kind::Command | Kind::UnknownCommand => self.command,
            Kind::TextSimple | Kind::Other => self.text_simple,
            Kind::TextComplex => self.text_complex,
            Kind::Voice | Kind::Photo | Kind::Document => self.media,
            Kind::Callback => self.callback,
        };
        if base.is_zero() || self.jitter <= 0.0 {
            return base;
        }
        let jitter = self.jitter.min(1.0);
        base.mul_f64(1.0 + rng.random_range(-jitter..=jitter))
    }
}

/// Seeded fault injection: shares of updates answered 500, answered slowly, or dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub error_rate: f64,
    pub slow_rate: f64,
    pub slow_delay: Duration,
    pub reset_rate: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            slow_rate: 0.0,
            slow_delay: Duration::from_secs(2),
            reset_rate: 0.0,
        }
    }
}

/// Where the bot sends its replies.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEndpoint {
    /// For example `http://127.0.0.1:8081` (the stand-in); calls go to `{base}/bot{token}/{method}`.
    pub base_url: String,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct DemoBotConfig {
    /// The webhook path, `/webhook` by default.
    pub path: String,
    pub secret_token: Option<String>,
    /// Replies go here over HTTP.
    pub api: Option<ApiEndpoint>,
    /// The answer goes in the webhook response body (other calls still go to `api` if set).
    pub reply_in_webhook: bool,
    pub latency: BotLatency,
    pub faults: Faults,
    pub seed: u64,
    pub pools: TierPools,
    pub max_body_bytes: usize,
}

impl Default for DemoBotConfig {
    fn default() -> Self {
        Self {
            path: "/webhook".into(),
            secret_token: None,
            api: None,
            reply_in_webhook: true,
            latency: BotLatency::default(),
            faults: Faults::default(),
            seed: 0,
            pools: TierPools::default(),
            max_body_bytes: 1 << 20,
        }
    }
}

/// The demo bot: configuration, state and counters.
#[derive(Debug)]
pub struct DemoBot {
    config: DemoBotConfig,
    state: BotState,
    counters: Counters,
    client: reqwest::Client,
}

impl DemoBot {
    pub fn new(config: DemoBotConfig) -> Arc<Self> {
        let state = BotState::new(config.pools.clone());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()
            .expect("an HTTP client without TLS always builds");
        Arc::new(Self {
            config,
            state,
            counters: Counters::default(),
            client,
        })
    }

    pub fn config(&self) -> &DemoBotConfig {
        &self.config
    }

    pub fn stats(&self) -> DemoBotStats {
        self.counters.snapshot()
    }

    /// The same update always draws the same latency and faults, whatever the concurrency.
    fn rng_for(&self, update_id: i64) -> SmallRng {
        SmallRng::seed_from_u64(
            self.config.seed ^ (update_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    }

    async fn send(&self, call: &Call) -> bool {
        let Some(api) = &self.config.api else {
            return false;
        };
        let url = format!(
            "{}/bot{}/{}",
            api.base_url.trim_end_matches('/'),
            api.token,
            call.method
        );
        let sent = self.client.post(url).json(&call.params).send().await;
        let ok = matches!(&sent, Ok(r) if r.status().is_success());
        self.counters.reply(ok);
        ok
    }
}

/// The bot's routes: `POST <path>` and `GET /stats`.
pub fn router(bot: Arc<DemoBot>) -> Router {
    let limit = bot.config.max_body_bytes;
    Router::new()
        .route(&bot.config.path, post(webhook))
        .route("/stats", get(stats))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(bot)
}

/// Serves the demo bot on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    bot: Arc<DemoBot>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve(
        listener,
        router(bot),
        crate::server::Timeouts::default(),
        shutdown,
    )
    .await
}

/// [`serve`] over HTTPS, as Telegram delivers webhooks.
pub async fn serve_tls(
    listener: TcpListener,
    bot: Arc<DemoBot>,
    tls: crate::server::ServerTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve_tls(
        listener,
        router(bot),
        tls,
        crate::server::Timeouts::default(),
        shutdown,
    )
    .await
}

async fn stats(State(bot): State<Arc<DemoBot>>) -> Response {
    axum::Json(bot.stats()).into_response()
}

fn reject(bot: &DemoBot, r: Rejection, status: StatusCode, why: String) -> Response {
    bot.counters.rejected(r);
    (status, why).into_response()
}

async fn webhook(
    State(bot): State<Arc<DemoBot>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(secret) = &bot.config.secret_token {
        let given = headers.get(SECRET_HEADER).map(|v| v.as_bytes());
        if given != Some(secret.as_bytes()) {
            let why = if given.is_none() {
                "missing secret token"
            } else {
                "wrong secret token"
            };
            return reject(
                &bot,
                Rejection::Unauthorized,
                StatusCode::UNAUTHORIZED,
                why.into(),
            );
        }
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reject(&bot, Rejection::TooLarge, e.status(), e.body_text());
        }
        Err(e) => {
            return reject(
                &bot,
                Rejection::Malformed,
                StatusCode::BAD_REQUEST,
                e.body_text(),
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        let why = format!("expected Content-Type application/json, got `{content_type}`");
        return reject(
            &bot,
            Rejection::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            why,
        );
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            return reject(
                &bot,
                Rejection::Malformed,
                StatusCode::BAD_REQUEST,
                format!("bad update: {e}"),
            );
        }
    };
    if update.message.is_none()
        && update.edited_message.is_none()
        && update.callback_query.is_none()
    {
        let why = "bad update: no message, edited_message or callback_query".to_string();
        return reject(&bot, Rejection::Malformed, StatusCode::BAD_REQUEST, why);
    }

    let mut rng = bot.rng_for(update.update_id);
    let f = &bot.config.faults;
    let draw: f64 = rng.random();
    let fault = if draw < f.error_rate {
        Some(Fault::Error)
    } else if draw < f.error_rate + f.reset_rate {
        Some(Fault::Reset)
    } else if draw < f.error_rate + f.reset_rate + f.slow_rate {
        Some(Fault::Slow)
    } else {
        None
    };
    let handled = handlers::handle(&bot.state, &bot.counters, &update, &mut rng);
    let mut delay = bot.config.latency.of(handled.kind, &mut rng);
    if let Some(fault) = fault {
        bot.counters.fault(fault);
        if fault == Fault::Slow {
            delay += f.slow_delay;
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(circuit) = handled.circuit {
        bot.state
            .circuit_result(circuit, fault != Some(Fault::Error));
    }
    match fault {
        Some(Fault::Error) => (StatusCode::INTERNAL_SERVER_ERROR, "injected error").into_response(),
        Some(Fault::Reset) => reset(),
        _ => reply(&bot, handled).await,
    }
}

async fn reply(bot: &DemoBot, handled: Handled) -> Response {
    let mut calls = handled.calls;
    let in_body = if bot.config.reply_in_webhook {
        calls.pop()
    } else {
        None
    };
    for call in &calls {
        bot.send(call).await;
    }
    match in_body {
        Some(call) => axum::Json(call.to_webhook_body()).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

/// A response whose body fails at once: the server drops the connection without a complete
/// answer, as a crashing bot would.
fn reset() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, "64")
        .body(Body::from_stream(failing))
        .expect("static response parts")
}
