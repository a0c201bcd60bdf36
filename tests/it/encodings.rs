//! The Bot API stand-in with real clients: JSON, urlencoded, multipart and query-string bodies,
//! the shapes frameworks parse, setWebhook capture, and method calls in a webhook response body.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stress::botapi::{ApiConfig, BotApi, ReplyHub};
use stress::demo_bot::{BotLatency, DemoBotConfig};
use stress::telegram::Via;
use stress::telegram::{Tier, UpdateIds};

use crate::common::{Users, stack_with};

const TOKEN: &str = "42:test-token";

async fn stand_in() -> (Arc<BotApi>, String) {
    let api = Arc::new(BotApi::new(
        ApiConfig {
            token: Some(TOKEN.into()),
            ..ApiConfig::default()
        },
        ReplyHub::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/bot{TOKEN}", listener.local_addr().unwrap());
    tokio::spawn(stress::botapi::serve(
        listener,
        api.clone(),
        std::future::pending(),
    ));
    (api, base)
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn send_message_in_each_encoding() {
    let (api, base) = stand_in().await;
    let inbox = api.hub().subscribe(1001);
    let client = reqwest::Client::new();
    let markup = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]});

    let by_json = client
        .post(format!("{base}/sendMessage"))
        .json(&json!({"chat_id": 1001, "text": "json 😀", "reply_markup": markup}))
        .send();
    let by_form = client
        .post(format!("{base}/SENDMESSAGE"))
        .form(&[
            ("chat_id", "1001"),
            ("text", "form Привет"),
            ("reply_markup", &markup.to_string()),
        ])
        .send();
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "1001")
        .text("text", "multipart 日本")
        .text("reply_markup", markup.to_string());
    let by_multipart = client
        .post(format!("{base}/sendmessage"))
        .multipart(form)
        .send();
    let by_query = client
        .get(format!("{base}/sendMessage"))
        .query(&[("chat_id", "1001"), ("text", "query ok")])
        .send();

    let mut texts = Vec::new();
    for (request, text) in [
        (by_json.await, "json 😀"),
        (by_form.await, "form Привет"),
        (by_multipart.await, "multipart 日本"),
        (by_query.await, "query ok"),
    ] {
        let (status, body) = json_of(request.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ok"], true);
        let m = &body["result"];
        assert_eq!(m["text"], text);
        assert_eq!(m["chat"]["id"], 1001);
        assert_eq!(m["from"]["is_bot"], true);
        assert!(
            m["message_id"].as_i64().unwrap() > 0 && m["date"].as_i64().unwrap() > 1_600_000_000
        );
        if text != "query ok" {
            assert_eq!(m["reply_markup"], markup);
        }
        let event = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
            .await
            .unwrap();
        assert_eq!((event.method, event.via), ("sendMessage", Via::Api));
        texts.push(event.message.unwrap().text.unwrap());
    }
    assert_eq!(
        texts,
        ["json 😀", "form Привет", "multipart 日本", "query ok"]
    );
    assert_eq!(api.stats().calls["sendMessage"], 4);
}

#[tokio::test]
async fn uploads_and_media_methods() {
    let (api, base) = stand_in().await;
    let inbox = api.hub().subscribe(77);
    let client = reqwest::Client::new();
    let part = reqwest::multipart::Part::bytes(vec![0u8; 2048])
        .file_name("scan.pdf")
        .mime_str("application/pdf")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "77")
        .text("caption", "the scan")
        .part("document", part);
    let (status, body) = json_of(
        client
            .post(format!("{base}/sendDocument"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["document"]["file_name"], "scan.pdf");
    assert_eq!(body["result"]["caption"], "the scan");
    for (method, field) in [("sendPhoto", "photo"), ("sendVoice", "voice")] {
        let (status, body) = json_of(
            client
                .post(format!("{base}/{method}"))
                .json(&json!({"chat_id": 77, field: "AgACAgIAAxk"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(!body["result"][field].is_null());
    }
    let (_, body) = json_of(
        client
            .post(format!("{base}/sendChatAction"))
            .json(&json!({"chat_id": 77, "action": "typing"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["result"], true);
    let methods: Vec<&str> = std::iter::from_fn(|| inbox.try_recv())
        .map(|e| e.method)
        .collect();
    assert_eq!(
        methods,
        ["sendDocument", "sendPhoto", "sendVoice", "sendChatAction"]
    );
}

#[tokio::test]
async fn webhook_registration_identity_and_errors() {
    let (api, base) = stand_in().await;
    let client = reqwest::Client::new();
    let (_, me) = json_of(client.get(format!("{base}/getMe")).send().await.unwrap()).await;
    assert_eq!(me["result"]["is_bot"], true);
    assert!(me["result"]["username"].is_string());

    // python-telegram-bot style: urlencoded, nested values as JSON strings.
    let form = [
        ("url", "http://127.0.0.1:9/webhook"),
        ("secret_token", "Abc_123-x"),
        ("max_connections", "77"),
        ("allowed_updates", r#"["message","callback_query"]"#),
    ];
    let (_, r) = json_of(
        client
            .post(format!("{base}/setWebhook"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r, json!({"ok": true, "result": true}));
    let reg = api.webhook().borrow().clone().unwrap();
    assert_eq!(reg.secret_token.as_deref(), Some("Abc_123-x"));
    assert_eq!(reg.max_connections, 77);
    assert_eq!(reg.allowed_updates.unwrap(), ["message", "callback_query"]);
    let (_, info) = json_of(
        client
            .get(format!("{base}/getWebhookInfo"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(info["result"]["url"], "http://127.0.0.1:9/webhook");
    assert_eq!(info["result"]["max_connections"], 77);

    let (status, r) = json_of(
        client
            .post(format!("{base}/setWebhook"))
            .json(&json!({"url": "http://x/", "secret_token": "no spaces"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, r["ok"].clone(), r["error_code"].clone()),
        (400, json!(false), json!(400))
    );
    assert!(
        r["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: secret token")
    );
    let (status, r) = json_of(
        client
            .post(format!("{base}/sendMessage"))
            .json(&json!({"chat_id": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, r["description"].as_str().unwrap()),
        (400, "Bad Request: message text is empty")
    );
    let (status, _) = json_of(
        client
            .post(format!("{base}/sendMessage"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, r) = json_of(
        client
            .get(format!("{base}/noSuchMethod"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, r["error_code"].clone()), (404, json!(404)));
    let wrong = base.replace(TOKEN, "1:wrong");
    let (status, _) = json_of(client.get(format!("{wrong}/getMe")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (_, r) = json_of(
        client
            .post(format!("{base}/deleteWebhook"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["result"], true);
    assert!(api.webhook().borrow().is_none());
    let st = api.stats();
    assert_eq!((st.unauthorized, st.unknown_methods), (1, 1));
}

#[tokio::test]
async fn demo_bot_replying_in_the_webhook_body() {
    let config = DemoBotConfig {
        latency: BotLatency::zero(),
        reply_in_webhook: true,
        ..DemoBotConfig::default()
    };
    let stack = stack_with(config).await;
    let users = Users::default();
    let mut user = users.user(&stack, Tier::User, 3);
    let u = user.command("/translate", "fr bonjour").unwrap();
    let ex = user.send(&u).await.unwrap();
    // sendChatAction went to the stand-in over HTTP; the answer came back in the body.
    let vias: Vec<(&str, Via)> = ex.events.iter().map(|e| (e.method, e.via)).collect();
    assert_eq!(
        vias,
        [
            ("sendChatAction", Via::Api),
            ("sendMessage", Via::WebhookBody)
        ]
    );
    assert!(ex.texts()[0].starts_with("[fr]"));
}

/// A bot that answers every webhook with a method call in the given encoding.
async fn body_replying_bot(encoding: &'static str) -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            let update: Value = serde_json::from_slice(&body).unwrap();
            let chat = update["message"]["chat"]["id"].as_i64().unwrap().to_string();
            let text = format!("{encoding} reply");
            match encoding {
                "json" => axum::Json(json!({"method": "sendMessage", "chat_id": chat.parse::<i64>().unwrap(), "text": text})).into_response(),
                "form" => {
                    let body = serde_urlencoded::to_string([("method", "sendMessage"), ("chat_id", &chat), ("text", &text)]).unwrap();
                    ([("content-type", "application/x-www-form-urlencoded")], body).into_response()
                }
                _ => {
                    let body = format!(
                        "--B\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\nsendMessage\r\n\
                         --B\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n{chat}\r\n\
                         --B\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n--B--\r\n"
                    );
                    ([("content-type", "multipart/form-data; boundary=B")], body).into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn method_calls_in_webhook_bodies_in_every_encoding() {
    let (api, _) = stand_in().await;
    let pools = stress::telegram::TierPools::default();
    let ids = Arc::new(UpdateIds::unsharded());
    for (i, encoding) in ["json", "form", "multipart"].into_iter().enumerate() {
        let url = body_replying_bot(encoding).await;
        let mut user = stress::harness::ChatUser::new(
            api.clone(),
            ids.clone(),
            &pools,
            Tier::Guest,
            i as u64,
            url,
            None,
            reqwest::Client::new(),
        )
        .unwrap();
        let u = user.text("hello").unwrap();
        let ex = user.send(&u).await.unwrap();
        assert_eq!(ex.texts(), [format!("{encoding} reply").as_str()]);
        assert_eq!(ex.events[0].via, Via::WebhookBody);
    }
}
