//! The demo bot (`stress target`): the webhook server that stands in for the bot being tested.
//!
//! It checks the secret header, parses the update, dispatches the 22 commands with tier rules
//! ([`handlers`]), waits a configurable, seeded latency per kind, injects seeded faults, and
//! sends its replies to the Bot API stand-in or in the webhook response body. `GET /stats`
//! reports what it received ([`stats`]).
//!
//! It shows how a bot should live with Telegram's rules, and with [`DemoBotConfig::naive`] how
//! a careless one does not, so a run can be shown to tell the two apart:
//! - Bot API refusals and failures (429 `retry_after`, 403 blocked, 400 chat not found, 5xx):
//!   see `api.rs` for what each bot does; every wait is bounded.
//! - Webhook redelivery: an injected error (500) or reset strikes *after* the bot made its Bot
//!   API calls, as a crash mid-request would, so the call meant for the response body is lost
//!   and Telegram delivers the update again with the same `update_id`. Faults are drawn from
//!   (seed, update_id, delivery attempt), so a redelivery can succeed; answers and latency from
//!   (seed, update_id) alone, so handling an update twice gives the same replies twice. The
//!   well-behaved bot never handles an update twice: it remembers per chat the newest update
//!   and the calls it could not deliver (`chats.rs`), answers a redelivery with those calls
//!   alone, or with nothing; a redelivery of an update still being answered waits (bounded) for
//!   that to end. A request dropped half way (Telegram's timeout: the server cancels it) records
//!   the calls it still owed. The naive bot handles every delivery as new.
//! - That memory is kept only while a fault rate is set, once the Bot API has refused or failed
//!   a call, or once a request was dropped: a bot that never fails answers a normal update with
//!   no lock or allocation more than before. The gap: the first timeout of a fault-free bot,
//!   redelivered before the server noticed the client had gone, is handled again.

mod answers;
mod api;
mod chats;
pub mod command;
pub mod handlers;
pub mod state;
pub mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
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

use api::ApiClient;
use chats::{Chats, Delivery, Progress};
use handlers::Call;
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

impl Faults {
    /// Whether any fault can happen: only then must the bot remember what it did per update.
    pub fn any(&self) -> bool {
        self.error_rate > 0.0 || self.slow_rate > 0.0 || self.reset_rate > 0.0
    }
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
    /// Misbehave, for tests to tell a careless bot from a careful one: ignore `retry_after`,
    /// keep writing to chats that blocked the bot, never retry a 5xx, and handle a redelivered
    /// update again.
    pub naive: bool,
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
            naive: false,
        }
    }
}

/// The demo bot: configuration, state and counters.
#[derive(Debug)]
pub struct DemoBot {
    config: DemoBotConfig,
    state: BotState,
    counters: Counters,
    api: ApiClient,
    chats: Chats,
}

impl DemoBot {
    pub fn new(config: DemoBotConfig) -> Arc<Self> {
        let state = BotState::new(config.pools.clone());
        let api = ApiClient::new(config.api.clone(), config.naive);
        Arc::new(Self {
            config,
            state,
            counters: Counters::default(),
            api,
            chats: Chats::default(),
        })
    }

    pub fn config(&self) -> &DemoBotConfig {
        &self.config
    }

    pub fn stats(&self) -> DemoBotStats {
        self.counters.snapshot()
    }

    /// The same update always draws the same answers and latency, whatever the concurrency and
    /// however often it is delivered; its first draw decides the faults of its first delivery.
    fn rng_for(&self, update_id: i64) -> SmallRng {
        SmallRng::seed_from_u64(
            self.config.seed ^ (update_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    }

    /// The fault a delivery of `update_id` gets: a function of the seed, the update and which
    /// delivery of it this is (0 for the first), so a redelivered update does not fail forever.
    pub fn fault_for(&self, update_id: i64, attempt: u32) -> Option<Fault> {
        let first = self.rng_for(update_id).random();
        self.fault_of(first, update_id, attempt)
    }

    fn fault_of(&self, first_draw: f64, update_id: i64, attempt: u32) -> Option<Fault> {
        let f = &self.config.faults;
        if !f.any() {
            return None;
        }
        let draw: f64 = if attempt == 0 {
            first_draw
        } else {
            SmallRng::seed_from_u64(
                self.config.seed
                    ^ (update_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ u64::from(attempt).wrapping_mul(0xD1B5_4A32_D192_ED03),
            )
            .random()
        };
        if draw < f.error_rate {
            Some(Fault::Error)
        } else if draw < f.error_rate + f.reset_rate {
            Some(Fault::Reset)
        } else if draw < f.error_rate + f.reset_rate + f.slow_rate {
            Some(Fault::Slow)
        } else {
            None
        }
    }

    /// Must the bot remember, per chat, what it did with each update? Only when a delivery can
    /// fail (a fault rate is set) or the Bot API has refused or failed a call; otherwise a
    /// normal update costs no lock and no allocation more.
    fn tracking(&self) -> bool {
        self.config.faults.any() || self.chats.troubled()
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

    let update_id = update.update_id;
    // Checked above: every update left has a queue.
    let queue = update.queue_id().unwrap_or_default();
    let delivery = if bot.tracking() {
        bot.chats.deliver(queue, update_id)
    } else {
        Delivery::New { attempt: 0 }
    };
    let mut rng = bot.rng_for(update_id);
    let fault = bot.fault_of(rng.random(), update_id, delivery.attempt());
    let f = &bot.config.faults;
    if let Some(fault) = fault {
        bot.counters.fault(fault);
    }
    if delivery.is_redelivery() {
        bot.counters.rules.redelivery_seen();
        if !bot.config.naive {
            // Handled before: the handler is not run again, only what never reached Telegram
            // is sent.
            bot.counters.rules.deduplicated();
            let progress = match delivery {
                // Telegram gave up on the delivery in flight: what it leaves owed is sent here.
                Delivery::Again {
                    progress: Progress::InFlight,
                    ..
                } => {
                    bot.chats
                        .settled(queue, update_id, api::RETRY_AFTER_CAP)
                        .await
                }
                Delivery::Again { progress, .. } => progress,
                Delivery::New { .. } => Progress::Done,
            };
            let rest = match progress {
                Progress::Undelivered(calls) => calls,
                Progress::Done | Progress::InFlight => Vec::new(),
            };
            let owed = Owed::new(&bot, queue, update_id, rest);
            if fault == Some(Fault::Slow) {
                tokio::time::sleep(f.slow_delay).await;
            }
            return answer(owed, fault).await;
        }
    }
    let handled = handlers::handle(&bot.state, &bot.counters, &update, &mut rng);
    let owed = Owed::new(&bot, queue, update_id, handled.calls);
    let mut delay = bot.config.latency.of(handled.kind, &mut rng);
    if fault == Some(Fault::Slow) {
        delay += f.slow_delay;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(circuit) = handled.circuit {
        bot.state
            .circuit_result(circuit, fault != Some(Fault::Error));
    }
    answer(owed, fault).await
}

/// The calls an update still owes Telegram, from the moment the handler returned them. When
/// the webhook's client gives up (Telegram's timeout), the server drops the request half way:
/// the drop records what was not sent, for the redelivery, and makes the bot remember updates
/// from then on.
struct Owed<'a> {
    bot: &'a DemoBot,
    queue: i64,
    update_id: i64,
    calls: Vec<Call>,
    /// `calls[..made]` were made (delivered or given up).
    made: usize,
    settled: bool,
    /// The bot was not remembering updates when this one arrived.
    unannounced: bool,
}

impl<'a> Owed<'a> {
    fn new(bot: &'a DemoBot, queue: i64, update_id: i64, calls: Vec<Call>) -> Self {
        Self {
            bot,
            queue,
            update_id,
            calls,
            made: 0,
            settled: false,
            unannounced: !bot.tracking(),
        }
    }

    /// Records what is still owed, when the bot is remembering updates.
    fn settle(&mut self) {
        self.settled = true;
        if self.bot.tracking() {
            let rest: Vec<Call> = self.calls.drain(self.made..).collect();
            self.bot
                .chats
                .finish(self.queue, self.update_id, Progress::owing(rest));
        }
    }
}

impl Drop for Owed<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.bot.chats.trouble();
            self.settle();
        }
    }
}

/// Makes the calls and answers the webhook: the last call in the response body when the bot
/// replies there. An injected error or reset strikes after the calls, as a bot that did its work
/// and then crashed: the body call is lost and Telegram will deliver the update again.
async fn answer(mut owed: Owed<'_>, fault: Option<Fault>) -> Response {
    let bot = owed.bot;
    let over_api =
        owed.calls.len() - usize::from(bot.config.reply_in_webhook && !owed.calls.is_empty());
    while owed.made < over_api {
        let unannounced = owed.unannounced.then_some((owed.queue, owed.update_id));
        bot.api
            .send(
                &owed.calls[owed.made],
                &bot.chats,
                &bot.counters,
                unannounced,
            )
            .await;
        owed.made += 1;
    }
    if let Some(fault @ (Fault::Error | Fault::Reset)) = fault {
        owed.settle();
        return match fault {
            Fault::Error => (StatusCode::INTERNAL_SERVER_ERROR, "injected error").into_response(),
            _ => crate::server::reset_response(),
        };
    }
    let in_body = match owed.calls.get(owed.made) {
        Some(call) if bot.api.may_write(call, &bot.chats, &bot.counters).await => {
            Some(axum::Json(call.to_webhook_body()))
        }
        _ => None,
    };
    owed.made = owed.calls.len();
    owed.settle();
    match in_body {
        Some(body) => body.into_response(),
        None => StatusCode::OK.into_response(),
    }
}
