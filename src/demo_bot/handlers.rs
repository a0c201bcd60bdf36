//! What the demo bot answers: one function per kind of update, each returning the Bot API
//! calls the bot makes in reply. Tier rules are applied here: a command above the sender's
//! tier gets a polite refusal, counted per command and per tier.

use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value, json};

use super::command::BotCommand;
use super::state::{BotState, CIRCUITS, MODES, Reminder, SETTINGS, SKILLS};
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

    fn message(chat_id: i64, text: impl Into<String>) -> Self {
        Self::new(
            "sendMessage",
            json!({ "chat_id": chat_id, "text": text.into() }),
        )
    }

    fn keyboard(mut self, markup: InlineKeyboardMarkup) -> Self {
        self.params.insert(
            "reply_markup".into(),
            serde_json::to_value(markup).expect("markup"),
        );
        self
    }

    fn typing(chat_id: i64, action: &str) -> Self {
        Self::new(
            "sendChatAction",
            json!({ "chat_id": chat_id, "action": action }),
        )
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
        let (calls, circuit) = command(
            state,
            counters,
            cmd,
            m.command_args(),
            chat,
            user,
            tier,
            rng,
        );
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

fn keyboard(rows: Vec<Vec<(String, String)>>) -> InlineKeyboardMarkup {
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

fn mode_keyboard(current: usize) -> InlineKeyboardMarkup {
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

fn settings_keyboard(settings: &[bool]) -> InlineKeyboardMarkup {
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

#[allow(clippy::too_many_arguments)]
fn command(
    state: &BotState,
    counters: &Counters,
    cmd: BotCommand,
    args: &str,
    chat: i64,
    user: i64,
    tier: Tier,
    rng: &mut SmallRng,
) -> (Vec<Call>, Option<usize>) {
    let say = |text: String| vec![Call::message(chat, text)];
    let with_typing = |text: String| vec![Call::typing(chat, "typing"), Call::message(chat, text)];
    let trace = state.record_trace(user, cmd.name(), spans(rng, 1));
    match cmd {
        BotCommand::Start => {
            let text = if args.is_empty() {
                "Welcome! I am the stress demo bot. Try /help.".to_string()
            } else {
                format!("Welcome! You came from “{args}”. Try /help.")
            };
            (say(text), None)
        }
        BotCommand::Help => {
            let lines: Vec<String> = BotCommand::ALL
                .iter()
                .filter(|c| c.tier() <= tier)
                .map(|c| format!("{} — {}", c.name(), c.help()))
                .collect();
            (
                say(format!("Commands for a {tier} user:\n{}", lines.join("\n"))),
                None,
            )
        }
        BotCommand::Status => {
            let (history, mode) = state.with_user(user, |u| (u.history, MODES[u.mode]));
            let text = format!(
                "✅ All systems normal. Updates handled: {}. You: {tier}, mode {mode}, {history} messages this session.",
                counters.total() + 1
            );
            (say(text), None)
        }
        BotCommand::Skills => (
            say(format!("Skills: {}. Use /skill NAME.", SKILLS.join(", "))),
            None,
        ),
        BotCommand::Mode => {
            let current = state.with_user(user, |u| u.mode);
            (
                vec![
                    Call::message(
                        chat,
                        format!("Current mode: {}. Choose one:", MODES[current]),
                    )
                    .keyboard(mode_keyboard(current)),
                ],
                None,
            )
        }
        BotCommand::Cancel => {
            let pending = state.with_user(user, |u| u.pending.take());
            (
                say(pending.map_or("Nothing to cancel.".into(), |p| format!("Cancelled: {p}."))),
                None,
            )
        }
        BotCommand::Clear => {
            state.with_user(user, |u| u.history = 0);
            (say("🧹 Conversation cleared.".into()), None)
        }
        BotCommand::Settings => {
            let settings = state.with_user(user, |u| u.settings);
            (
                vec![
                    Call::message(chat, "⚙️ Settings (tap to toggle):")
                        .keyboard(settings_keyboard(&settings)),
                ],
                None,
            )
        }
        BotCommand::Skill => match SKILLS.iter().find(|s| s.eq_ignore_ascii_case(args.trim())) {
            Some(skill) => {
                state.with_user(user, |u| u.skill = Some(skill));
                (
                    say(format!("Skill {skill} is on. Send me a message.")),
                    Some(0),
                )
            }
            None => (
                say(format!("Which skill? One of: {}.", SKILLS.join(", "))),
                None,
            ),
        },
        BotCommand::Translate => {
            let (lang, text) = first_word(args);
            if lang.is_empty() || text.is_empty() {
                return (
                    say(
                        "Usage: /translate LANG TEXT, for example /translate de good morning"
                            .into(),
                    ),
                    None,
                );
            }
            state.with_user(user, |u| u.pending = Some(format!("translation to {lang}")));
            (
                with_typing(format!(
                    "[{lang}] {} (trace {trace})",
                    text.chars().rev().collect::<String>()
                )),
                Some(1),
            )
        }
        BotCommand::Summarize => {
            if args.is_empty() {
                return (say("Usage: /summarize TEXT".into()), None);
            }
            let words = args.split_whitespace().count();
            let head: String = args
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            (
                with_typing(format!("Summary ({words} words → 1 line): {head}…")),
                Some(0),
            )
        }
        BotCommand::Rewrite => {
            if args.is_empty() {
                return (say("Usage: /rewrite TEXT".into()), None);
            }
            (
                with_typing(format!("Rewritten: {}", capitalise(args))),
                Some(0),
            )
        }
        BotCommand::Remind => {
            let (when, text) = first_word(args);
            if when.is_empty() || text.is_empty() {
                return (
                    say("Usage: /remind WHEN TEXT, for example /remind 10m stretch".into()),
                    None,
                );
            }
            let n = state.with_user(user, |u| {
                u.add_reminder(Reminder {
                    when: when.into(),
                    text: text.into(),
                });
                u.reminders.len()
            });
            (
                say(format!(
                    "⏰ I'll remind you in {when}: {text}. You have {n} reminder(s)."
                )),
                Some(3),
            )
        }
        BotCommand::Reminders => {
            let list = state.with_user(user, |u| {
                u.reminders
                    .iter()
                    .enumerate()
                    .map(|(i, r)| format!("{}. in {}: {}", i + 1, r.when, r.text))
                    .collect::<Vec<_>>()
            });
            let text = if list.is_empty() {
                "No reminders.".to_string()
            } else {
                format!("Your reminders:\n{}", list.join("\n"))
            };
            (say(text), Some(3))
        }
        BotCommand::Task => (say(task(state, user, args)), Some(3)),
        BotCommand::Traces => {
            let lines: Vec<String> = state
                .latest_traces(5)
                .iter()
                .map(|t| {
                    let total: Duration = t.spans.iter().map(|s| s.1).sum();
                    format!("{} {} {:.1} ms", t.id, t.kind, total.as_secs_f64() * 1e3)
                })
                .collect();
            (say(format!("Latest traces:\n{}", lines.join("\n"))), None)
        }
        BotCommand::Trace => {
            let id = args.split_whitespace().next().unwrap_or("");
            let text = match state.trace(id) {
                _ if id.is_empty() => "Usage: /trace ID (see /traces)".to_string(),
                Some(t) => {
                    let spans: Vec<String> = t
                        .spans
                        .iter()
                        .map(|(n, d)| format!("  {n}: {:.2} ms", d.as_secs_f64() * 1e3))
                        .collect();
                    format!(
                        "Trace {} ({}, user {}):\n{}",
                        t.id,
                        t.kind,
                        t.user_id,
                        spans.join("\n")
                    )
                }
                None => format!(
                    "Trace {id} not found (I keep the latest {}).",
                    super::state::MAX_TRACES
                ),
            };
            (say(text), None)
        }
        BotCommand::Circuits => {
            let lines: Vec<String> = state
                .circuit_states()
                .iter()
                .map(|(n, s, f)| format!("{n}: {} ({f} recent failures)", s.as_str()))
                .collect();
            let mut call = Call::message(chat, format!("Circuit breakers:\n{}", lines.join("\n")));
            if tier >= Tier::Admin {
                call = call.keyboard(keyboard(vec![vec![(
                    "Reset all".into(),
                    "circuits:reset".into(),
                )]]));
            }
            (vec![call], None)
        }
        BotCommand::Tier => {
            let target = args
                .split_whitespace()
                .next()
                .and_then(|a| a.parse::<i64>().ok())
                .unwrap_or(user);
            let pool = state
                .pools()
                .tier_of(target)
                .map_or("no pool".to_string(), |t| format!("{t} pool"));
            (
                say(format!(
                    "User {target}: tier {} ({pool}).",
                    state.tier_of(target)
                )),
                None,
            )
        }
        BotCommand::Grant | BotCommand::Revoke => {
            (say(grant_or_revoke(state, counters, cmd, args)), None)
        }
        BotCommand::Admin => {
            let text = format!(
                "🛠 Admin panel\nUpdates: {}\nUsers with state: {}\nGrants: {}",
                counters.total() + 1,
                state.user_count(),
                state.grant_count()
            );
            let kb = keyboard(vec![vec![
                ("Stats".into(), "admin:stats".into()),
                ("Circuits".into(), "admin:circuits".into()),
            ]]);
            (vec![Call::message(chat, text).keyboard(kb)], None)
        }
    }
}

/// The first word of `args` and the trimmed rest (`/translate de good morning`).
fn first_word(args: &str) -> (&str, &str) {
    match args.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (args, ""),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn task(state: &BotState, user: i64, args: &str) -> String {
    state.with_user(user, |u| {
        if let Some(id) = args.strip_prefix("done").map(str::trim) {
            let id: u32 = id.trim_start_matches('#').parse().unwrap_or(0);
            return match u.tasks.iter_mut().find(|t| t.id == id) {
                Some(t) => {
                    t.done = true;
                    format!("✔️ Task #{id} done.")
                }
                None => format!("No task #{id}."),
            };
        }
        if args.is_empty() {
            if u.tasks.is_empty() {
                return "No tasks. Add one with /task TEXT.".into();
            }
            let lines: Vec<String> = u
                .tasks
                .iter()
                .map(|t| format!("#{} [{}] {}", t.id, if t.done { "x" } else { " " }, t.text))
                .collect();
            return format!("Your tasks:\n{}", lines.join("\n"));
        }
        let id = u.add_task(args.to_string());
        format!("📝 Task #{id} created: {args}")
    })
}

fn grant_or_revoke(state: &BotState, counters: &Counters, cmd: BotCommand, args: &str) -> String {
    let mut words = args.split_whitespace();
    let Some(Ok(target)) = words.next().map(str::parse::<i64>) else {
        return format!("Usage: {}", cmd.help());
    };
    let result = if cmd == BotCommand::Grant {
        let Some(Ok(tier)) = words.next().map(str::parse::<Tier>) else {
            return format!(
                "Usage: {} (tiers: guest, user, developer, admin)",
                cmd.help()
            );
        };
        state
            .grant(target, tier)
            .map(|()| format!("✅ {target} is now a {tier} user."))
    } else {
        state
            .revoke(target)
            .map(|t| format!("✅ {target} is back to {t}."))
    };
    result.unwrap_or_else(|e| {
        counters.grant_refused();
        format!("⛔ Refused: {e}.")
    })
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
