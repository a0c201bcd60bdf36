//! The reply object a send returns to a script: `status`, `ok`, `latency_ms`, `error` ("" or
//! the failure's kind), `replies` (an array of `#{method, text, buttons}`), `reply_ms` (() when
//! no reply came) and `text` (the first reply's text, "" when none).
//!
//! It is a Rhai custom type whose properties are computed when read, not a map built for every
//! send: most tasks read one property or none, and building the map (strings, arrays, a map
//! per reply) would be a measurable share of a request's cost. `r.to_map()` gives the map, and
//! `r["text"]` works as on one.

use std::time::Duration;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};

use crate::telegram::BotEvent;

/// What one send came to, as the script sees it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub error: Option<&'static str>,
    pub latency: Duration,
    /// What the bot did in the chat in answer (replies, chat actions).
    pub events: Vec<BotEvent>,
    pub reply_after: Option<Duration>,
}

fn ms(d: Duration) -> Dynamic {
    Dynamic::from_float(d.as_secs_f64() * 1e3)
}

fn event_text(e: &BotEvent) -> &str {
    e.message
        .as_ref()
        .and_then(|m| m.text.as_deref().or(m.caption.as_deref()))
        .or(e.note.as_deref())
        .unwrap_or("")
}

impl Reply {
    fn ok(&self) -> bool {
        self.error.is_none() && (200..300).contains(&self.status)
    }

    fn text(&self) -> &str {
        self.events
            .iter()
            .filter(|e| e.is_reply())
            .map(event_text)
            .find(|t| !t.is_empty())
            .unwrap_or("")
    }

    fn replies(&self) -> Array {
        self.events
            .iter()
            .filter(|e| e.is_reply())
            .map(|e| {
                let mut r = Map::new();
                r.insert("method".into(), e.method.into());
                r.insert("text".into(), event_text(e).into());
                let buttons: Array = e
                    .message
                    .as_ref()
                    .and_then(|m| m.reply_markup.as_ref())
                    .map(|k| {
                        k.callback_data()
                            .map(|s| Dynamic::from(s.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                r.insert("buttons".into(), buttons.into());
                r.into()
            })
            .collect()
    }

    fn get(&self, property: &str) -> Option<Dynamic> {
        Some(match property {
            "status" => Dynamic::from_int(i64::from(self.status)),
            "ok" => self.ok().into(),
            "latency_ms" => ms(self.latency),
            "error" => self.error.unwrap_or("").into(),
            "text" => self.text().into(),
            "replies" => self.replies().into(),
            "reply_ms" => self.reply_after.map(ms).unwrap_or(Dynamic::UNIT),
            _ => return None,
        })
    }

    /// The reply as a plain map.
    pub fn to_map(&self) -> Map {
        PROPERTIES
            .iter()
            .map(|p| ((*p).into(), self.get(p).expect("listed")))
            .collect()
    }
}

const PROPERTIES: [&str; 7] = [
    "status",
    "ok",
    "latency_ms",
    "error",
    "text",
    "replies",
    "reply_ms",
];

/// Registers the type, its properties, indexing by name, `to_map` and printing.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Reply>("Reply");
    engine.register_get("status", |r: &mut Reply| i64::from(r.status));
    engine.register_get("ok", |r: &mut Reply| r.ok());
    engine.register_get("latency_ms", |r: &mut Reply| r.latency.as_secs_f64() * 1e3);
    engine.register_get("error", |r: &mut Reply| {
        ImmutableString::from(r.error.unwrap_or(""))
    });
    engine.register_get("text", |r: &mut Reply| ImmutableString::from(r.text()));
    engine.register_get("replies", |r: &mut Reply| r.replies());
    engine.register_get("reply_ms", |r: &mut Reply| {
        r.reply_after.map(ms).unwrap_or(Dynamic::UNIT)
    });
    engine.register_indexer_get(
        |r: &mut Reply, key: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            r.get(key).ok_or_else(|| {
                EvalAltResult::ErrorRuntime(
                    format!("a reply has no `{key}` (it has {})", PROPERTIES.join(", ")).into(),
                    Position::NONE,
                )
                .into()
            })
        },
    );
    engine.register_fn("to_map", |r: &mut Reply| r.to_map());
    engine.register_fn("to_string", |r: &mut Reply| {
        Dynamic::from_map(r.to_map()).to_string()
    });
    engine.register_fn("to_debug", |r: &mut Reply| {
        Dynamic::from_map(r.to_map()).to_string()
    });
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::telegram::{Chat, ChatType, InlineKeyboardButton, InlineKeyboardMarkup, Message};
    use crate::telegram::{EventKind, Via};

    fn message(text: &str, buttons: &[&str]) -> Box<Message> {
        let chat = Chat {
            id: 7,
            kind: ChatType::Private,
            title: None,
            username: None,
            first_name: None,
            last_name: None,
        };
        Box::new(Message {
            text: Some(text.into()),
            reply_markup: (!buttons.is_empty()).then(|| InlineKeyboardMarkup {
                inline_keyboard: vec![
                    buttons
                        .iter()
                        .map(|b| InlineKeyboardButton::callback(*b, *b))
                        .collect(),
                ],
            }),
            ..Message::new(1, None, 0, chat)
        })
    }

    #[test]
    fn scripts_read_replies_as_properties_indexes_or_a_map() {
        let event = |method: &'static str, m| BotEvent {
            chat_id: 7,
            method,
            kind: EventKind::of(method).expect("a chat's method"),
            message: m,
            note: None,
            at: Instant::now(),
            via: Via::Api,
        };
        let reply = Reply {
            status: 200,
            error: None,
            latency: Duration::from_millis(3),
            events: vec![
                event("sendChatAction", None),
                event(
                    "sendMessage",
                    Some(message("Choose:", &["mode:chat", "mode:code"])),
                ),
            ],
            reply_after: Some(Duration::from_millis(5)),
        };
        let mut engine = Engine::new();
        register(&mut engine);
        let mut scope = rhai::Scope::new();
        scope.push("r", reply);
        let eval = |engine: &Engine, scope: &mut rhai::Scope, s: &str| {
            engine
                .eval_with_scope::<Dynamic>(scope, s)
                .unwrap()
                .to_string()
        };
        assert_eq!(eval(&engine, &mut scope, "r.ok && r.status == 200"), "true");
        assert_eq!(eval(&engine, &mut scope, "r.text"), "Choose:");
        assert_eq!(eval(&engine, &mut scope, "r[\"text\"]"), "Choose:");
        assert_eq!(eval(&engine, &mut scope, "r.replies.len()"), "1");
        assert_eq!(
            eval(&engine, &mut scope, "r.replies[0].buttons[1]"),
            "mode:code"
        );
        assert_eq!(eval(&engine, &mut scope, "r.reply_ms > 4.0"), "true");
        assert_eq!(eval(&engine, &mut scope, "r.error"), "");
        assert_eq!(eval(&engine, &mut scope, "r.to_map().len()"), "7");
        let e = engine
            .eval_with_scope::<Dynamic>(&mut scope, "r[\"nope\"]")
            .unwrap_err();
        assert!(e.to_string().contains("has no `nope`"), "{e}");
    }
}
