//! The whole Bot API surface of the stand-in, driven by the description it answers from: every
//! method, called with a well-formed call built from the description, answers `ok` with a result
//! of its documented type; every required parameter left out is a 400 naming it; ill-typed
//! parameters are refused; urlencoded and multipart bodies work as JSON does; and the files a
//! virtual user sends can be fetched with getFile and downloaded, byte for byte what the update
//! promised.

use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value, json};
use stress::botapi::spec::{Method, Ty, spec};
use stress::telegram::build::MediaKind;
use stress::telegram::ids::{ChatMessageIds, callback_query_id};
use stress::telegram::{Sender, Tier, UpdateFactory, UpdateIds};

use crate::common::stand_in;

const TOKEN: &str = "42:bot-api-surface";
/// A user of the default pools, whose private chat the calls write in.
const CHAT: i64 = 6_900_100_001;

/// Long polling has its own handler and tests (`tests/it/bots.rs`).
const OWNED_ELSEWHERE: [&str; 1] = ["getUpdates"];

/// How Telegram words a missing parameter where it does not name it plainly.
const WORDINGS: [(&str, &str); 3] = [
    ("message_id", "message identifier"),
    ("message_ids", "message identifiers"),
    ("callback_query_id", "query ID"),
];

/// A well-formed call: every required parameter, plus `chat_id`, `message_id` and `text` where
/// the method takes them (an edit names its message so, and editMessageText needs a text or a
/// rich message, which the description cannot say), with valid values of their types.
/// InputFile parameters are the names of the file parts to upload.
fn well_formed(m: &Method) -> (Map<String, Value>, Vec<String>) {
    let mut params = Map::new();
    let mut files = Vec::new();
    for f in &m.fields {
        if !(f.required || ["chat_id", "message_id", "text"].contains(&f.name.as_str())) {
            continue;
        }
        if f.types == [Ty::InputFile] {
            files.push(f.name.clone());
            continue;
        }
        let v = match f.name.as_str() {
            "chat_id" => json!(CHAT),
            "callback_query_id" => json!(callback_query_id(CHAT, 1)),
            "file_id" => json!(voice_update_file_id()),
            "url" | "web_app_url" => json!("https://example.com/hook"),
            _ => sample(&f.types[0], &f.name, f.fixed.as_deref(), &f.one_of, 0),
        };
        params.insert(f.name.clone(), v);
    }
    (params, files)
}

/// A valid value of `ty` for a field called `name`.
fn sample(ty: &Ty, name: &str, fixed: Option<&str>, one_of: &[String], depth: usize) -> Value {
    assert!(depth < 20, "{name} nests too deeply");
    match ty {
        Ty::Integer => json!(if name.ends_with("user_id") { CHAT } else { 1 }),
        Ty::Float => json!(1.5),
        Ty::Boolean => json!(false),
        Ty::String | Ty::InputFile => match (fixed, one_of.first()) {
            (Some(v), _) => json!(v),
            (None, Some(v)) => json!(v),
            _ => json!("AgACAgIAAxkBAAIstress"),
        },
        Ty::Array(item) => json!([sample(item, name, fixed, one_of, depth + 1)]),
        Ty::Named(type_name) => {
            let def = spec().type_def(type_name).unwrap();
            if let Some(first) = def.subtypes.first() {
                return sample(first, name, None, &[], depth + 1);
            }
            let fields = def.fields.iter().filter(|f| f.required).map(|f| {
                let v = sample(
                    &f.types[0],
                    &f.name,
                    f.fixed.as_deref(),
                    &f.one_of,
                    depth + 1,
                );
                (f.name.clone(), v)
            });
            Value::Object(fields.collect())
        }
    }
}

/// A file id from a voice note update, as a bot would pass it to getFile.
fn voice_update_file_id() -> String {
    let mut rng = SmallRng::seed_from_u64(1);
    stress::telegram::media::voice(&mut rng).file_id
}

/// Whether `v` is a value of `ty`: objects carry their required fields (recursively), with the
/// JSON kind of each field's type; a union's value is one of its subtypes.
fn conforms(v: &Value, ty: &Ty) -> Result<(), String> {
    match (ty, v) {
        (Ty::Integer, Value::Number(n)) if n.is_i64() => Ok(()),
        (Ty::Float, Value::Number(_)) => Ok(()),
        (Ty::String | Ty::InputFile, Value::String(_)) => Ok(()),
        (Ty::Boolean, Value::Bool(_)) => Ok(()),
        (Ty::Array(item), Value::Array(items)) => items.iter().try_for_each(|i| conforms(i, item)),
        (Ty::Named(name), _) => {
            let def = spec().type_def(name).ok_or(format!("no type {name}"))?;
            if !def.subtypes.is_empty() {
                return match def.subtypes.iter().any(|s| conforms(v, s).is_ok()) {
                    true => Ok(()),
                    false => Err(format!("{v} is no {name}")),
                };
            }
            let Value::Object(o) = v else {
                return Err(format!("{v} is not a {name}"));
            };
            for f in &def.fields {
                match o.get(&f.name) {
                    None if f.required => return Err(format!("{name}.{} is missing", f.name)),
                    None => {}
                    Some(x) if !f.types.iter().any(|t| conforms(x, t).is_ok()) => {
                        let why = conforms(x, &f.types[0]).unwrap_err();
                        return Err(format!("{name}.{}: {why}", f.name));
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        }
        _ => Err(format!("{v} is not {ty}")),
    }
}

/// Calls `method` with `params`: JSON, or multipart (values as text) when files are uploaded.
async fn call(
    client: &reqwest::Client,
    root: &str,
    method: &str,
    params: &Map<String, Value>,
    files: &[String],
) -> (u16, Value) {
    let url = format!("{root}/bot{TOKEN}/{method}");
    let request = if files.is_empty() {
        client.post(url).json(params)
    } else {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in params {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            form = form.text(k.clone(), text);
        }
        for name in files {
            let part = reqwest::multipart::Part::bytes(vec![0x89, b'P', b'N', b'G'])
                .file_name(format!("{name}.png"))
                .mime_str("image/png")
                .unwrap();
            form = form.part(name.clone(), part);
        }
        client.post(url).multipart(form)
    };
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn every_method_of_the_description_answers_a_well_formed_call() {
    let (api, root) = stand_in(TOKEN).await;
    let _inbox = api.hub().subscribe(CHAT);
    let client = reqwest::Client::new();
    let mut answered = 0;
    for m in &spec().methods {
        if OWNED_ELSEWHERE.contains(&m.name.as_str()) {
            continue;
        }
        let (params, files) = well_formed(m);
        let (status, body) = call(&client, &root, &m.name, &params, &files).await;
        let context = format!(
            "{} {} -> {status} {body}",
            m.name,
            Value::Object(params.clone())
        );
        assert_eq!((status, &body["ok"]), (200, &json!(true)), "{context}");
        let result = &body["result"];
        let returns = &m.returns[0];
        conforms(result, returns).unwrap_or_else(|e| panic!("{context}: {e}"));
        if *returns == Ty::Boolean {
            assert_eq!(*result, json!(true), "{context}");
        }
        if *returns == Ty::Named("Message".into()) {
            assert!(result["message_id"].as_i64().unwrap() > 0, "{context}");
            assert!(
                result["date"].as_i64().unwrap() > 1_600_000_000,
                "{context}"
            );
            assert_eq!(result["chat"]["id"], CHAT, "{context}");
        }
        answered += 1;
    }
    assert!(answered > 150, "{answered}");
    let stats = api.stats();
    assert_eq!(stats.unknown_methods, 0);
    assert_eq!(stats.calls.len(), answered, "one counter per method called");
    assert_eq!(stats.calls["sendVideo"], 1);
}

#[tokio::test]
async fn a_missing_required_parameter_is_named() {
    let (_api, root) = stand_in(TOKEN).await;
    let client = reqwest::Client::new();
    let mut checked = 0;
    for m in &spec().methods {
        // An empty url deletes the webhook, as on Telegram.
        if OWNED_ELSEWHERE.contains(&m.name.as_str()) || m.name == "setWebhook" {
            continue;
        }
        let (params, files) = well_formed(m);
        for f in m.fields.iter().filter(|f| f.required) {
            let (mut params, mut files) = (params.clone(), files.clone());
            params.remove(&f.name);
            files.retain(|n| *n != f.name);
            let (status, body) = call(&client, &root, &m.name, &params, &files).await;
            let description = body["description"].as_str().unwrap_or_default();
            let named = WORDINGS
                .iter()
                .find(|(p, _)| *p == f.name)
                .map_or(f.name.as_str(), |(_, w)| w);
            assert_eq!(status, 400, "{} without {}: {body}", m.name, f.name);
            assert!(
                description.starts_with("Bad Request: ") && description.contains(named),
                "{} without {}: {description}",
                m.name,
                f.name
            );
            checked += 1;
        }
    }
    assert!(checked > 250, "{checked}");
}

#[tokio::test]
async fn ill_typed_parameters_are_refused_naming_them() {
    let (_api, root) = stand_in(TOKEN).await;
    let client = reqwest::Client::new();
    let cases = [
        (
            "banChatMember",
            json!({"chat_id": CHAT, "user_id": "abc"}),
            "user_id is not a valid Integer",
        ),
        (
            "setChatTitle",
            json!({"chat_id": CHAT, "title": {"a": 1}}),
            "title is not a valid String",
        ),
        (
            "getChat",
            json!({"chat_id": [1]}),
            "chat_id is not a valid Integer or String",
        ),
        (
            "setMyCommands",
            json!({"commands": "[{"}),
            "can't parse commands JSON object",
        ),
        (
            "setMyCommands",
            json!({"commands": [{"command": "a"}]}),
            "commands[0].description is required",
        ),
        (
            "sendLocation",
            json!({"chat_id": CHAT, "latitude": "north", "longitude": 1}),
            "latitude is not a valid Float",
        ),
        (
            "sendVideo",
            json!({"chat_id": CHAT, "video": "x", "reply_markup": {"inline_keyboard": 1}}),
            "reply_markup",
        ),
        (
            "sendMediaGroup",
            json!({"chat_id": CHAT, "media": [{"type": "photo", "media": "attach://p"}]}),
            "there is no file p",
        ),
    ];
    for (method, params, wording) in cases {
        let (status, body) = call(&client, &root, method, params.as_object().unwrap(), &[]).await;
        let description = body["description"].as_str().unwrap();
        assert_eq!(status, 400, "{method}: {body}");
        assert!(description.contains(wording), "{method}: {description}");
    }
    let (status, body) = call(&client, &root, "noSuchMethod", &Map::new(), &[]).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (404, Some("Not Found: method not found"))
    );
}

#[tokio::test]
async fn urlencoded_and_multipart_bodies_like_json() {
    let (api, root) = stand_in(TOKEN).await;
    let inbox = api.hub().subscribe(CHAT);
    let client = reqwest::Client::new();
    let base = format!("{root}/bot{TOKEN}");
    let markup = json!({"inline_keyboard": [[{"text": "Again", "callback_data": "again"}]]});
    // python-telegram-bot style: urlencoded, numbers as text, nested values as JSON text.
    let r: Value = client
        .post(format!("{base}/sendvideo"))
        .form(&[
            ("chat_id", CHAT.to_string()),
            ("video", "BAACAgIAAxkBAAIvideo".into()),
            ("caption", "the clip".into()),
            ("duration", "42".into()),
            ("reply_markup", markup.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let m = &r["result"];
    assert_eq!(
        (m["caption"].clone(), m["video"]["duration"].clone()),
        (json!("the clip"), json!(42)),
        "{r}"
    );
    assert_eq!(m["reply_markup"], markup);
    assert_eq!(m["from"]["is_bot"], true);
    assert!(m["video"]["file_id"].as_str().unwrap().starts_with("BAAC"));
    let event = inbox.try_recv().unwrap();
    assert_eq!((event.method, event.is_reply()), ("sendVideo", true));
    assert_eq!(event.message.unwrap().caption.as_deref(), Some("the clip"));

    // An album uploaded in one multipart body, its items naming their parts.
    let part = |name: &str| {
        reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF, 0xD9])
            .file_name(format!("{name}.jpg"))
            .mime_str("image/jpeg")
            .unwrap()
    };
    let media = json!([
        {"type": "photo", "media": "attach://a", "caption": "first"},
        {"type": "video", "media": "attach://b"},
        {"type": "photo", "media": "AgACAgIAAxkBAAIalreadythere"},
    ]);
    let form = reqwest::multipart::Form::new()
        .text("chat_id", CHAT.to_string())
        .text("media", media.to_string())
        .part("a", part("a"))
        .part("b", part("b"));
    let r: Value = client
        .post(format!("{base}/sendMediaGroup"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let album = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(album.len(), 3);
    assert_eq!(album[0]["caption"], "first");
    assert!(album[0]["photo"].as_array().unwrap().len() >= 3);
    assert!(album[1]["video"]["file_id"].is_string());
    assert_eq!(
        album[1]["video"]["file_size"], 4,
        "the uploaded part's size"
    );
    let group = &album[0]["media_group_id"];
    assert!(album.iter().all(|m| m["media_group_id"] == *group));
    let ids: Vec<i64> = album
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert_eq!(std::iter::from_fn(|| inbox.try_recv()).count(), 3);

    // Commands set in one encoding and read back in another, per scope and language.
    let commands = json!([{"command": "start", "description": "Start"}]);
    let scope = json!({"type": "chat", "chat_id": CHAT});
    let set = client
        .post(format!("{base}/setMyCommands"))
        .form(&[
            ("commands", commands.to_string()),
            ("scope", scope.to_string()),
            ("language_code", "de".into()),
        ])
        .send();
    let set: Value = set.await.unwrap().json().await.unwrap();
    assert_eq!(set["result"], true, "{set}");
    let get = |params: Value| {
        let request = client.post(format!("{base}/getMyCommands")).json(&params);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["result"].clone() }
    };
    assert_eq!(
        get(json!({"scope": scope, "language_code": "de"})).await,
        commands
    );
    assert_eq!(
        get(json!({"language_code": "de"})).await,
        json!([]),
        "another scope"
    );
    assert_eq!(get(json!({})).await, json!([]));
    let deleted = client
        .post(format!("{base}/deleteMyCommands"))
        .json(&json!({"scope": scope, "language_code": "de"}))
        .send();
    assert_eq!(
        deleted.await.unwrap().json::<Value>().await.unwrap()["result"],
        true
    );
    assert_eq!(
        get(json!({"scope": scope, "language_code": "de"})).await,
        json!([])
    );
}

#[tokio::test]
async fn chat_members_copies_and_edits_echo_the_call() {
    let (api, root) = stand_in(TOKEN).await;
    let inbox = api.hub().subscribe(CHAT);
    let client = reqwest::Client::new();
    let ask = |method: &str, params: Value| {
        let request = client
            .post(format!("{root}/bot{TOKEN}/{method}"))
            .json(&params);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let member = ask("getChatMember", json!({"chat_id": -1001, "user_id": CHAT})).await;
    assert_eq!(member["result"]["status"], "member");
    assert_eq!(member["result"]["user"]["id"], CHAT);
    let stranger = ask("getChatMember", json!({"chat_id": -1001, "user_id": 5})).await;
    assert_eq!(stranger["result"]["status"], "left");
    let bot_id = api.bot().id;
    let bot = ask(
        "getChatMember",
        json!({"chat_id": -1001, "user_id": bot_id}),
    )
    .await;
    assert_eq!(bot["result"]["status"], "administrator");
    assert_eq!(bot["result"]["can_delete_messages"], true);

    let copies = ask(
        "copyMessages",
        json!({"chat_id": CHAT, "from_chat_id": 7, "message_ids": [3, 4]}),
    )
    .await;
    let ids = copies["result"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    let edited = ask(
        "editMessageReplyMarkup",
        json!({"chat_id": CHAT, "message_id": 3, "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": "y"}]]}}),
    )
    .await;
    assert_eq!(edited["result"]["message_id"], 3);
    assert!(edited["result"]["edit_date"].is_i64());
    assert_eq!(
        edited["result"]["reply_markup"]["inline_keyboard"][0][0]["text"],
        "x"
    );
    let inline = ask(
        "editMessageCaption",
        json!({"inline_message_id": "abc", "caption": "c"}),
    )
    .await;
    assert_eq!(
        inline["result"], true,
        "an inline message's edit returns True"
    );
    let poll = ask(
        "sendPoll",
        json!({"chat_id": CHAT, "question": "Tea or coffee?", "options": [{"text": "Tea"}, {"text": "Coffee"}]}),
    )
    .await;
    assert_eq!(poll["result"]["poll"]["question"], "Tea or coffee?");
    assert_eq!(poll["result"]["poll"]["options"][1]["text"], "Coffee");
    let events: Vec<(&str, bool)> = std::iter::from_fn(|| inbox.try_recv())
        .map(|e| (e.method, e.is_reply()))
        .collect();
    assert_eq!(
        events,
        [
            ("copyMessages", true),
            ("copyMessages", true),
            ("editMessageReplyMarkup", true),
            ("sendPoll", true)
        ]
    );
}

/// A virtual user's media update, its files fetched as a bot fetches them: getFile, then
/// `/file/bot<token>/<file_path>`. The bytes are what the update promised: the length, and the
/// format's own structure (Ogg pages with valid CRCs and the Opus headers; JPEG dimensions; PDF).
#[tokio::test]
async fn files_a_user_sent_download_as_promised() {
    let (_api, root) = stand_in(TOKEN).await;
    let client = reqwest::Client::new();
    let mut rng = SmallRng::seed_from_u64(11);
    let sender = Sender::generate(CHAT, Tier::Guest, &mut rng);
    let mut user = UpdateFactory::new(
        Arc::new(UpdateIds::unsharded()),
        Arc::new(ChatMessageIds::default()),
        sender,
    );
    let fetch = |file_id: String| {
        let client = client.clone();
        let root = root.clone();
        async move {
            let file: Value = client
                .post(format!("{root}/bot{TOKEN}/getFile"))
                .json(&json!({"file_id": file_id}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let file = &file["result"];
            assert_eq!(file["file_id"], file_id.as_str());
            let path = file["file_path"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}"));
            let bytes = client
                .get(format!("{root}/file/bot{TOKEN}/{path}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(bytes.len() as u64, file["file_size"].as_u64().unwrap());
            (file.clone(), bytes)
        }
    };
    for _ in 0..4 {
        let update = user.media(MediaKind::Voice, None, &mut rng).unwrap();
        let voice = update.message.unwrap().voice.unwrap();
        let (file, bytes) = fetch(voice.file_id.clone()).await;
        assert_eq!(file["file_unique_id"], voice.file_unique_id);
        assert_eq!(Some(bytes.len() as u64), voice.file_size);
        assert!(file["file_path"].as_str().unwrap().starts_with("voice/"));
        assert_eq!(ogg_opus_seconds(&bytes), f64::from(voice.duration));

        let update = user.media(MediaKind::Photo, None, &mut rng).unwrap();
        for size in update.message.unwrap().photo.unwrap() {
            let (_, bytes) = fetch(size.file_id.clone()).await;
            assert_eq!(Some(bytes.len() as u64), size.file_size);
            assert_eq!(jpeg_size(&bytes), (size.width, size.height));
        }

        let update = user.media(MediaKind::Document, None, &mut rng).unwrap();
        let document = update.message.unwrap().document.unwrap();
        let (file, bytes) = fetch(document.file_id.clone()).await;
        assert_eq!(Some(bytes.len() as u64), document.file_size);
        assert!(
            file["file_path"]
                .as_str()
                .unwrap()
                .starts_with("documents/")
        );
        if document.mime_type.as_deref() == Some("application/pdf") {
            assert!(bytes.starts_with(b"%PDF-"));
            assert!(bytes.trim_ascii_end().ends_with(b"%%EOF"));
        }
    }

    let (status, body) = call(
        &client,
        &root,
        "getFile",
        json!({"file_id": "no such file"}).as_object().unwrap(),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["description"].as_str()),
        (400, Some("Bad Request: invalid file_id"))
    );
    let missing = client
        .get(format!("{root}/file/bot{TOKEN}/voice/nothing.oga"))
        .send();
    assert_eq!(missing.await.unwrap().status(), 404);
    let wrong_token = client
        .get(format!("{root}/file/bot1:wrong/voice/file_0.oga"))
        .send();
    assert_eq!(wrong_token.await.unwrap().status(), 401);
}

/// The playback length of an Ogg Opus file, checking every page's capture pattern and CRC and
/// the OpusHead and OpusTags packets on the way.
fn ogg_opus_seconds(bytes: &[u8]) -> f64 {
    let mut at = 0;
    let mut pages = Vec::new();
    while at < bytes.len() {
        let page = &bytes[at..];
        assert_eq!(&page[..4], b"OggS", "capture pattern at {at}");
        let segments = usize::from(page[26]);
        let body: usize = page[27..27 + segments]
            .iter()
            .map(|&b| usize::from(b))
            .sum();
        let len = 27 + segments + body;
        let mut copy = page[..len].to_vec();
        let crc = u32::from_le_bytes(copy[22..26].try_into().unwrap());
        copy[22..26].fill(0);
        assert_eq!(ogg_crc(&copy), crc, "page CRC at {at}");
        let granule = i64::from_le_bytes(page[6..14].try_into().unwrap());
        pages.push((granule, page[27 + segments..len].to_vec(), page[5]));
        at += len;
    }
    assert!(
        pages[0].1.starts_with(b"OpusHead") && pages[0].2 & 2 == 2,
        "OpusHead, first page"
    );
    assert!(pages[1].1.starts_with(b"OpusTags"));
    assert_eq!(
        pages.last().unwrap().2 & 4,
        4,
        "the last page ends the stream"
    );
    let pre_skip = u16::from_le_bytes(pages[0].1[10..12].try_into().unwrap());
    (pages.last().unwrap().0 - i64::from(pre_skip)) as f64 / 48_000.0
}

fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A baseline JPEG's width and height, from its SOF0 segment, checking SOI and EOI.
fn jpeg_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..2], [0xFF, 0xD8], "SOI");
    assert_eq!(&bytes[bytes.len() - 2..], [0xFF, 0xD9], "EOI");
    let mut at = 2;
    loop {
        assert_eq!(bytes[at], 0xFF, "a marker at {at}");
        let marker = bytes[at + 1];
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if marker == 0xC0 {
            let h = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]);
            let w = u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]);
            return (u32::from(w), u32::from(h));
        }
        assert_ne!(marker, 0xDA, "no SOF0 before the scan");
        at += 2 + len;
    }
}
