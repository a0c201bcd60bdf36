//! What the demo bot answers: one function per kind of update, each returning the Bot API
//! calls the bot makes in reply. Tier rules are applied here: a command above the sender's
//! tier gets a polite refusal, counted per command and per tier.

use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value, json};

use super::answers::{self, Asked};
use super::command::BotCommand;
use super::state::{BotState, CIRCUITS, MODES, SETTINGS};
use super::stats::{Counters, Kind};
use crate::telegram::{
    CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Tier, Update,
};

/// One Bot API call the bot makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub params: Map<String, Value>,
}

impl Call {
    fn new(method: &'static str, params: Value) -> Self {
        match params {
            Value::Object(params) => Self { method, params },
            _ => unreachable!("call parameters are objects"),
        }
    }

    pub(super) fn message(chat_id: i64, text: impl Into<String>) -> Self {
        Self::new(
            "sendMessage",
            json!({ "chat_id": chat_id, "text": text.into() }),
        )
    }

    pub(super) fn keyboard(mut self, markup: InlineKeyboardMarkup) -> Self {
        self.params.insert(
            "reply_markup".into(),
            serde_json::to_value(markup).expect("markup"),
        );
        self
    }

    pub(super) fn typing(chat_id: i64, action: &str) -> Self {
        Self::new(
            "sendChatAction",
            json!({ "chat_id": chat_id, "action": action }),
        )
    }

    /// The chat the call writes in, if it names one (answerCallbackQuery does not).
    pub fn chat_id(&self) -> Option<i64> {
        self.params.get("chat_id").and_then(Value::as_i64)
    }

    /// The call as a webhook response body: its parameters plus `method`.
    pub fn to_webhook_body(&self) -> Value {
        let mut body = self.params.clone();
        body.insert("method".into(), Value::String(self.method.into()));
        Value::Object(body)
    }
}

/// The outcome of handling one update.
#[derive(Debug, Clone)]
pub struct Handled {
    pub kind: Kind,
    pub command: Option<BotCommand>,
    /// Replies in order; the last is the one a user reads as the answer.
    pub calls: Vec<Call>,
    /// The circuit breaker the work went through, if any.
    pub circuit: Option<usize>,
}

/// Texts longer than this, or asking for real work, count as complex.
const COMPLEX_LEN: usize = 120;
const TASK_WORDS: &[&str] = &[
    "explain",
    "write",
    "analy",
    "summar",
    "translat",
    "compare",
    "plan",
    "code",
    "design",
    "review",
    "напиши",
    "объясни",
    "сравни",
    "解释",
    "写",
    "erkläre",
    "explica",
];

pub fn is_complex(text: &str) -> bool {
    let lower = text.to_lowercase();
    text.chars().count() > COMPLEX_LEN || TASK_WORDS.iter().any(|w| lower.contains(w))
}

/// Handles one valid update and counts it.
pub fn handle(
    state: &BotState,
    counters: &Counters,
    update: &Update,
    rng: &mut SmallRng,
) -> Handled {
    let handled = if let Some(q) = &update.callback_query {
        callback(state, q)
    } else if let Some(m) = update.message.as_ref().or(update.edited_message.as_ref()) {
        message(state, counters, m, rng)
    } else {
        Handled {
            kind: Kind::Other,
            command: None,
            calls: vec![],
            circuit: None,
        }
    };
    counters.received(handled.kind, handled.command);
    handled
}

fn message(state: &BotState, counters: &Counters, m: &Message, rng: &mut SmallRng) -> Handled {
    let chat = m.chat.id;
    let user = m.from.as_ref().map_or(chat, |u| u.id);
    state.with_user(user, |u| u.history = u.history.saturating_add(1));
    if let Some(word) = m.command() {
        let Ok(cmd) = word.parse::<BotCommand>() else {
            let text = format!("I don't know {word}. Try /help.");
            return Handled {
                kind: Kind::UnknownCommand,
                command: None,
                calls: vec![Call::message(chat, text)],
                circuit: None,
            };
        };
        let tier = state.tier_of(user);
        if tier < cmd.tier() {
            counters.refused(cmd, tier);
            let text = format!(
                "Sorry, {} is for {} users and above; you are a {tier} user. Try /help to see what you can do.",
                cmd.name(),
                cmd.tier()
            );
            return Handled {
                kind: Kind::Command,
                command: Some(cmd),
                calls: vec![Call::message(chat, text)],
                circuit: None,
            };
        }
        let asked = Asked {
            state,
            counters,
            args: m.command_args(),
            chat,
            user,
            tier,
            trace: state.record_trace(user, cmd.name(), spans(rng, 1)),
        };
        let (calls, circuit) = answers::answer(cmd, &asked);
        return Handled {
            kind: Kind::Command,
            command: Some(cmd),
            calls,
            circuit,
        };
    }
    let kind;
    let mut calls = Vec::with_capacity(2);
    let circuit;
    if let Some(v) = &m.voice {
        kind = Kind::Voice;
        circuit = Some(2);
        calls.push(Call::typing(chat, "typing"));
        calls.push(Call::message(
            chat,
            format!(
                "🎙 I heard {} s of audio: “{}”",
                v.duration,
                pick_sentence(rng)
            ),
        ));
    } else if let Some(sizes) = &m.photo {
        kind = Kind::Photo;
        circuit = Some(0);
        let best = sizes.last().map_or((0, 0), |p| (p.width, p.height));
        calls.push(Call::typing(chat, "typing"));
        calls.push(Call::message(
            chat,
            format!(
                "📷 A {}×{} photo. I see {}.",
                best.0,
                best.1,
                pick(rng, PHOTO_GUESSES)
            ),
        ));
    } else if let Some(d) = &m.document {
        kind = Kind::Document;
        circuit = Some(3);
        let name = d.file_name.as_deref().unwrap_or("file");
        let kb = d.file_size.unwrap_or(0) / 1024;
        calls.push(Call::message(chat, format!("📄 Saved {name} ({kb} KiB).")));
    } else if let Some(text) = &m.text {
        if is_complex(text) {
            kind = Kind::TextComplex;
            circuit = Some(0);
            calls.push(Call::typing(chat, "typing"));
            calls.push(Call::message(chat, complex_answer(text, rng)));
        } else {
            kind = Kind::TextSimple;
            circuit = None;
            calls.push(Call::message(
                chat,
                format!(
                    "{} You said {} characters.",
                    pick(rng, GREETINGS),
                    text.chars().count()
                ),
            ));
        }
    } else {
        return Handled {
            kind: Kind::Other,
            command: None,
            calls: vec![],
            circuit: None,
        };
    }
    state.record_trace(user, kind.as_str(), spans(rng, 2));
    Handled {
        kind,
        command: None,
        calls,
        circuit,
    }
}

fn spans(rng: &mut SmallRng, n: usize) -> Vec<(&'static str, Duration)> {
    ["parse", "route", "model", "render"]
        .into_iter()
        .take(n + 1)
        .map(|s| (s, Duration::from_micros(rng.random_range(50..20_000))))
        .collect()
}

const GREETINGS: &[&str] = &["Got it.", "Noted!", "👍", "Понял.", "了解。", "Okay!"];
const PHOTO_GUESSES: &[&str] = &[
    "a cat",
    "a receipt",
    "a whiteboard",
    "a sunset",
    "a screenshot of code",
];
const SENTENCES: &[&str] = &[
    "remind me to call the bank tomorrow",
    "what's the weather like in Lisbon",
    "переведи это на английский",
    "summarize the meeting notes",
];

fn pick<'a>(rng: &mut SmallRng, from: &[&'a str]) -> &'a str {
    from.choose(rng).copied().unwrap_or("")
}

fn pick_sentence(rng: &mut SmallRng) -> &'static str {
    pick(rng, SENTENCES)
}

fn complex_answer(text: &str, rng: &mut SmallRng) -> String {
    let topic: String = text.chars().take(40).collect();
    let steps = rng.random_range(2..5);
    let mut answer = format!("Here is my take on “{topic}…”:\n");
    for i in 1..=steps {
        answer.push_str(&format!(
            "{i}. {}\n",
            pick(
                rng,
                &[
                    "Break it into parts.",
                    "Check the assumptions.",
                    "Draft, then review.",
                    "Measure before and after."
                ]
            )
        ));
    }
    answer
}

pub(super) fn keyboard(rows: Vec<Vec<(String, String)>>) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup {
        inline_keyboard: rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(t, d)| InlineKeyboardButton::callback(t, d))
                    .collect()
            })
            .collect(),
    }
}

pub(super) fn mode_keyboard(current: usize) -> InlineKeyboardMarkup {
    let row = MODES
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                if i == current {
                    format!("• {m}")
                } else {
                    m.to_string()
                },
                format!("mode:{m}"),
            )
        })
        .collect();
    keyboard(vec![row])
}

pub(super) fn settings_keyboard(settings: &[bool]) -> InlineKeyboardMarkup {
    let rows = SETTINGS
        .iter()
        .zip(settings)
        .map(|(s, on)| {
            vec![(
                format!("{s}: {}", if *on { "on" } else { "off" }),
                format!("settings:{s}"),
            )]
        })
        .collect();
    keyboard(rows)
}

fn callback(state: &BotState, q: &CallbackQuery) -> Handled {
    let user = q.from.id;
    let data = q.data.as_deref().unwrap_or("");
    let answer = |text: &str| {
        Call::new(
            "answerCallbackQuery",
            json!({ "callback_query_id": q.id, "text": text }),
        )
    };
    let edit = |text: String, markup: Option<InlineKeyboardMarkup>| {
        let Some(m) = &q.message else { return None };
        let mut c = Call::new(
            "editMessageText",
            json!({ "chat_id": m.chat.id, "message_id": m.message_id, "text": text }),
        );
        if let Some(markup) = markup {
            c = c.keyboard(markup);
        }
        Some(c)
    };
    let (prefix, value) = data.split_once(':').unwrap_or((data, ""));
    let mut calls = Vec::with_capacity(2);
    match prefix {
        "mode" if MODES.contains(&value) => {
            let i = MODES.iter().position(|m| *m == value).unwrap_or(0);
            state.with_user(user, |u| u.mode = i);
            calls.push(answer(&format!("Mode: {value}")));
            calls.extend(edit(
                format!("Mode set to {value}."),
                Some(mode_keyboard(i)),
            ));
        }
        "settings" if SETTINGS.contains(&value) => {
            let i = SETTINGS.iter().position(|s| *s == value).unwrap_or(0);
            let settings = state.with_user(user, |u| {
                u.settings[i] = !u.settings[i];
                u.settings
            });
            calls.push(answer(&format!(
                "{value}: {}",
                if settings[i] { "on" } else { "off" }
            )));
            calls.extend(edit(
                "⚙️ Settings (tap to toggle):".into(),
                Some(settings_keyboard(&settings)),
            ));
        }
        "admin" | "circuits" if state.tier_of(user) < Tier::Admin => {
            calls.push(answer("Only admins can use this button."))
        }
        "circuits" if value == "reset" => {
            state.reset_circuits();
            calls.push(answer("Circuits reset."));
            calls.extend(edit(
                format!("All {} circuits closed.", CIRCUITS.len()),
                None,
            ));
        }
        "admin" => {
            calls.push(answer("Refreshed."));
            calls.extend(edit(
                format!(
                    "🛠 Admin panel ({value}): {} users, {} grants.",
                    state.user_count(),
                    state.grant_count()
                ),
                None,
            ));
        }
        _ => calls.push(answer("This button has expired.")),
    }
    Handled {
        kind: Kind::Callback,
        command: None,
        calls,
        circuit: None,
    }
}
