//! The demo bot under Telegram's rules (issue #19): against a tiny fake Bot API that refuses
//! chosen chats (429, 403, 400, 500), and with the same update posted to its webhook twice,
//! the well-behaved bot honours `retry_after`, stops writing to blocked chats and answers a
//! redelivered update once; the naive one (`--naive`) does none of it. Waits are measured on
//! tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stress::cli::RunArgs;
use stress::demo_bot::stats::Fault;
use stress::demo_bot::{ApiEndpoint, BotLatency, DemoBot, DemoBotConfig, DemoBotStats, Faults};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;

/// Answers 429 `retry_after: 1` to its first call.
const FLOOD_CHAT: i64 = 1001;
/// Answers 403 "bot was blocked by the user" to every call.
const BLOCKED_CHAT: i64 = 1002;
/// Answers 500 to its first call.
const FLAKY_CHAT: i64 = 1003;
/// Answers 400 "chat not found".
const GONE_CHAT: i64 = 1004;
/// Always answers.
const GOOD_CHAT: i64 = 1005;
/// Answers 429 `retry_after: 100` to every call, past the bot's cap.
const FLOODED_CHAT: i64 = 1006;

/// One call the fake Bot API received.
#[derive(Debug, Clone)]
struct Seen {
    chat: i64,
    method: String,
    at: Instant,
    status: u16,
}

#[derive(Default)]
struct FakeApi {
    seen: Mutex<Vec<Seen>>,
    called: Notify,
}

impl FakeApi {
    fn calls_to(&self, chat: i64) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.chat == chat).cloned().collect()
    }
}

async fn fake_call(State(api): State<Arc<FakeApi>>, uri: Uri, body: axum::body::Bytes) -> Response {
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let chat = params["chat_id"].as_i64().unwrap_or(0);
    let method = uri.path().rsplit('/').next().unwrap_or("").to_string();
    let earlier = api.calls_to(chat).len();
    let (status, answer) = match chat {
        FLOOD_CHAT if earlier == 0 => (
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
                   "parameters": {"retry_after": 1}}),
        ),
        FLOODED_CHAT => (
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 100",
                   "parameters": {"retry_after": 100}}),
        ),
        BLOCKED_CHAT => (
            403,
            json!({"ok": false, "error_code": 403,
                   "description": "Forbidden: bot was blocked by the user"}),
        ),
        FLAKY_CHAT if earlier == 0 => (
            500,
            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        ),
        GONE_CHAT => (
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ),
        _ => (200, json!({"ok": true, "result": true})),
    };
    api.seen.lock().unwrap().push(Seen {
        chat,
        method,
        at: Instant::now(),
        status,
    });
    api.called.notify_one();
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

/// The fake Bot API on port 0, and a demo bot calling it.
async fn bot_and_api(naive: bool, config: DemoBotConfig) -> (Arc<DemoBot>, Arc<FakeApi>) {
    let api = Arc::new(FakeApi::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(fake_call).with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let bot = DemoBot::new(DemoBotConfig {
        api: Some(ApiEndpoint {
            base_url: format!("http://{addr}"),
            token: "1:fake".into(),
        }),
        latency: BotLatency::zero(),
        naive,
        ..config
    });
    (bot, api)
}

fn all_calls_to_the_api() -> DemoBotConfig {
    DemoBotConfig {
        reply_in_webhook: false,
        ..DemoBotConfig::default()
    }
}

fn update(update_id: i64, chat: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id, "date": 1,
           "chat": {"id": chat, "type": "private"}, "text": text}})
}

/// Posts `update` to the bot's webhook in memory: the status and the body.
async fn deliver(bot: &Arc<DemoBot>, update: &Value) -> (StatusCode, Value) {
    let request = Request::post(bot.config().path.as_str())
        .header("content-type", "application/json")
        .body(Body::from(update.to_string()))
        .unwrap();
    let response = stress::demo_bot::router(bot.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Update 1 to the flooded chat; once its first call was refused, update 2 to the same chat.
async fn flood(naive: bool) -> (Vec<Seen>, DemoBotStats) {
    let (bot, api) = bot_and_api(naive, all_calls_to_the_api()).await;
    let called = api.called.notified();
    let first = tokio::spawn({
        let bot = bot.clone();
        async move { deliver(&bot, &update(1, FLOOD_CHAT, "hi")).await }
    });
    called.await;
    assert_eq!(api.calls_to(FLOOD_CHAT)[0].status, 429);
    // Update 2 once the bot has read the 429 (it counts the retry as it starts waiting).
    while bot.stats().api_retries_after_429 + bot.stats().api_429_ignored == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        deliver(&bot, &update(2, FLOOD_CHAT, "hi again")).await.0,
        200
    );
    assert_eq!(first.await.unwrap().0, 200);
    (api.calls_to(FLOOD_CHAT), bot.stats())
}

#[tokio::test(start_paused = true)]
async fn the_good_bot_waits_retry_after_and_holds_the_chat() {
    let (calls, stats) = flood(false).await;
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [429, 200, 200],
        "the refused call retried once, then update 2"
    );
    let refused = calls[0].at;
    for later in &calls[1..] {
        assert!(
            later.at - refused >= Duration::from_secs(1),
            "a call {:?} after the 429, before retry_after",
            later.at - refused
        );
    }
    assert_eq!(stats.api_retries_after_429, 1);
    assert_eq!(stats.api_429_ignored, 0);
    assert!(stats.retry_after_waited_ms >= 1000, "{stats:?}");
    assert_eq!((stats.replies.sent, stats.replies.failed), (2, 0));
    assert_eq!(stats.calls_given_up, 0);
}

#[tokio::test(start_paused = true)]
async fn the_naive_bot_retries_a_429_at_once() {
    let (calls, stats) = flood(true).await;
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 200, 200]);
    let refused = calls[0].at;
    assert!(
        calls
            .iter()
            .all(|c| c.at - refused < Duration::from_secs(1)),
        "the naive bot waited"
    );
    assert_eq!(stats.api_429_ignored, 1);
    assert_eq!(stats.api_retries_after_429, 0);
    assert_eq!(stats.retry_after_waited_ms, 0);
}

#[tokio::test(start_paused = true)]
async fn every_bot_gives_up_a_call_still_refused_after_its_retries() {
    for naive in [false, true] {
        let (bot, api) = bot_and_api(naive, all_calls_to_the_api()).await;
        assert_eq!(deliver(&bot, &update(1, FLOODED_CHAT, "hi")).await.0, 200);
        let calls = api.calls_to(FLOODED_CHAT);
        assert_eq!(calls.len(), 4, "naive {naive}: the call and 3 retries");
        let stats = bot.stats();
        assert_eq!(stats.calls_given_up, 1);
        assert_eq!(stats.replies.failed, 1);
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].at - w[0].at).collect();
        if naive {
            assert_eq!(stats.api_429_ignored, 3);
            assert!(gaps.iter().all(|g| *g < Duration::from_secs(1)), "{gaps:?}");
        } else {
            // retry_after 100 is waited as 60 s, the cap.
            assert_eq!(stats.api_retries_after_429, 3);
            let capped = Duration::from_secs(60)..Duration::from_secs(61);
            assert!(gaps.iter().all(|g| capped.contains(g)), "{gaps:?}");
        }
    }
}

/// Update 1 to the flooded chat, delivered again while the good bot waits out retry_after:
/// with `drop_first`, Telegram gave up on the first delivery (the request is dropped, as the
/// server does when the client goes away); without, the first is still being answered.
/// Returns what the fake saw, the stats, and how long the redelivery took to answer.
async fn redelivered_while_waiting(drop_first: bool) -> (Vec<Seen>, DemoBotStats, Duration) {
    let (bot, api) = bot_and_api(false, all_calls_to_the_api()).await;
    let u = update(1, FLOOD_CHAT, "hi");
    let called = api.called.notified();
    let first = tokio::spawn({
        let (bot, u) = (bot.clone(), u.clone());
        async move { deliver(&bot, &u).await }
    });
    called.await;
    while bot.stats().api_retries_after_429 == 0 {
        tokio::task::yield_now().await;
    }
    let first = if drop_first {
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        None
    } else {
        Some(first)
    };
    let again = Instant::now();
    assert_eq!(deliver(&bot, &u).await, (StatusCode::OK, Value::Null));
    let took = again.elapsed();
    if let Some(first) = first {
        assert_eq!(first.await.unwrap().0, StatusCode::OK);
    }
    (api.calls_to(FLOOD_CHAT), bot.stats(), took)
}

#[tokio::test(start_paused = true)]
async fn a_delivery_dropped_half_way_is_finished_by_its_redelivery() {
    for drop_first in [true, false] {
        let (calls, stats, took) = redelivered_while_waiting(drop_first).await;
        // Dropped: it sends the reply, held; not: it waits for the first delivery to settle.
        assert!(took >= Duration::from_secs(1), "{took:?}");
        let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [429, 200],
            "dropped {drop_first}: the reply sent once"
        );
        assert!(calls[1].at - calls[0].at >= Duration::from_secs(1));
        assert_eq!(stats.total, 1, "dropped {drop_first}: handled once");
        assert_eq!(stats.redeliveries_seen, 1);
        assert_eq!(stats.redeliveries_deduplicated, 1);
        assert_eq!((stats.replies.sent, stats.replies.failed), (1, 0));
    }
}

/// Two updates each to the blocked and the vanished chat, one to the flaky one.
async fn refusals(naive: bool) -> (Arc<FakeApi>, DemoBotStats) {
    let (bot, api) = bot_and_api(naive, all_calls_to_the_api()).await;
    let mut id = 0;
    for chat in [BLOCKED_CHAT, BLOCKED_CHAT, GONE_CHAT, GONE_CHAT, FLAKY_CHAT] {
        id += 1;
        assert_eq!(deliver(&bot, &update(id, chat, "hi")).await.0, 200);
    }
    (api, bot.stats())
}

#[tokio::test(start_paused = true)]
async fn the_good_bot_stops_writing_to_a_blocked_chat_and_retries_a_5xx() {
    let (api, stats) = refusals(false).await;
    assert_eq!(
        api.calls_to(BLOCKED_CHAT).len(),
        1,
        "written to after the 403"
    );
    assert_eq!(stats.blocked_chats, 1);
    assert_eq!(stats.calls_skipped_blocked, 1);
    assert_eq!(
        api.calls_to(GONE_CHAT).len(),
        2,
        "one call per update, no retry"
    );
    assert_eq!(stats.calls_chat_not_found, 2);
    let flaky = api.calls_to(FLAKY_CHAT);
    assert_eq!(
        flaky.iter().map(|c| c.status).collect::<Vec<_>>(),
        [500, 200]
    );
    assert!(flaky[1].at - flaky[0].at >= Duration::from_millis(100));
    assert_eq!(stats.api_5xx_retries, 1);
    assert_eq!(stats.calls_given_up, 0);
    // Sent: the flaky chat's; failed: the 403 and the two 400s.
    assert_eq!((stats.replies.sent, stats.replies.failed), (1, 3));
}

#[tokio::test(start_paused = true)]
async fn the_naive_bot_keeps_writing_to_a_blocked_chat_and_drops_a_5xx() {
    let (api, stats) = refusals(true).await;
    assert_eq!(api.calls_to(BLOCKED_CHAT).len(), 2);
    assert_eq!(stats.blocked_chats, 1);
    assert_eq!(stats.calls_skipped_blocked, 0);
    assert_eq!(stats.calls_chat_not_found, 2);
    assert_eq!(api.calls_to(FLAKY_CHAT).len(), 1);
    assert_eq!(stats.api_5xx_retries, 0);
    assert_eq!(stats.calls_given_up, 1);
    assert_eq!((stats.replies.sent, stats.replies.failed), (0, 5));
}

/// A bot that fails half of the deliveries with a 500 after its work, and an update (two calls:
/// typing, then the answer) whose first delivery draws that fault and next two do not.
async fn redelivery(naive: bool, reply_in_webhook: bool) -> (Arc<DemoBot>, Arc<FakeApi>, Value) {
    let config = DemoBotConfig {
        reply_in_webhook,
        seed: 19,
        faults: Faults {
            error_rate: 0.5,
            ..Faults::default()
        },
        ..DemoBotConfig::default()
    };
    let (bot, api) = bot_and_api(naive, config).await;
    let update_id = (1..10_000)
        .find(|&id| {
            bot.fault_for(id, 0) == Some(Fault::Error)
                && bot.fault_for(id, 1).is_none()
                && bot.fault_for(id, 2).is_none()
        })
        .expect("an update failing only its first delivery");
    let update = update(update_id, GOOD_CHAT, "please explain how webhooks work");
    (bot, api, update)
}

#[tokio::test]
async fn the_good_bot_answers_a_redelivered_update_once() {
    // The answer in the webhook body: lost with the 500, sent alone on the redelivery.
    let (bot, api, update) = redelivery(false, true).await;
    assert_eq!(deliver(&bot, &update).await.0, 500);
    let methods = |api: &FakeApi| -> Vec<String> {
        api.calls_to(GOOD_CHAT)
            .into_iter()
            .map(|c| c.method)
            .collect()
    };
    assert_eq!(methods(&api), ["sendChatAction"]);
    let (status, body) = deliver(&bot, &update).await;
    assert_eq!(status, 200);
    assert_eq!(body["method"], "sendMessage", "{body}");
    assert_eq!(deliver(&bot, &update).await, (StatusCode::OK, Value::Null));
    assert_eq!(methods(&api), ["sendChatAction"], "typing sent once");
    let stats = bot.stats();
    assert_eq!(stats.total, 1, "handled once");
    assert_eq!(stats.faults.errors, 1);
    assert_eq!(stats.redeliveries_seen, 2);
    assert_eq!(stats.redeliveries_deduplicated, 2);

    // Every call over the API: all made before the 500, none after.
    let (bot, api, update) = redelivery(false, false).await;
    assert_eq!(deliver(&bot, &update).await.0, 500);
    assert_eq!(deliver(&bot, &update).await, (StatusCode::OK, Value::Null));
    assert_eq!(methods(&api), ["sendChatAction", "sendMessage"]);
    assert_eq!(bot.stats().redeliveries_deduplicated, 1);
}

#[tokio::test]
async fn the_naive_bot_answers_a_redelivered_update_again() {
    let (bot, api, update) = redelivery(true, true).await;
    assert_eq!(deliver(&bot, &update).await.0, 500);
    let (status, second) = deliver(&bot, &update).await;
    assert_eq!(status, 200);
    let (_, third) = deliver(&bot, &update).await;
    assert_eq!(second["method"], "sendMessage");
    assert_eq!(second, third, "the same update gets the same answer");
    assert_eq!(api.calls_to(GOOD_CHAT).len(), 3, "typing on every delivery");
    let stats = bot.stats();
    assert_eq!(stats.total, 3, "handled on every delivery");
    assert_eq!(stats.redeliveries_seen, 2);
    assert_eq!(stats.redeliveries_deduplicated, 0);

    let (bot, api, update) = redelivery(true, false).await;
    assert_eq!(deliver(&bot, &update).await.0, 500);
    assert_eq!(deliver(&bot, &update).await.0, 200);
    assert_eq!(api.calls_to(GOOD_CHAT).len(), 4, "both calls twice");
}

#[test]
fn bot_naive_is_refused_without_the_demo_bot() {
    let mut args = RunArgs {
        bot_naive: true,
        target: Some("http://127.0.0.1:9/webhook".into()),
        ..RunArgs::default()
    };
    let refused = |args: &RunArgs| {
        let e = stress::config::run(args).unwrap_err();
        assert_eq!(stress::exit_code(&e), 2, "{e:#}");
        assert!(format!("{e:#}").starts_with("--bot-naive: "), "{e:#}");
    };
    refused(&args);
    args.target = None;
    args.botapi_listen = Some("127.0.0.1:0".parse().unwrap());
    refused(&args);
    args.botapi_listen = None;
    let config = stress::config::run(&args).expect("the demo bot may be naive");
    match config.target {
        stress::config::TargetChoice::Demo(bot) => assert!(bot.naive),
        other => panic!("{other:?}"),
    }
}
