//! The demo bot's 22 commands: [`answer`] picks one function per command, each computing the
//! Bot API calls the bot makes in reply and the circuit breaker it touches, if any. Tier rules
//! are applied before (`handlers`): a function here is only called for an allowed sender.

use std::time::Duration;

use super::command::BotCommand;
use super::handlers::{Call, keyboard, mode_keyboard, settings_keyboard};
use super::state::{BotState, MODES, Reminder, SKILLS};
use super::stats::Counters;
use crate::telegram::Tier;

/// What a command is answered from.
pub(super) struct Asked<'a> {
    pub state: &'a BotState,
    pub counters: &'a Counters,
    /// The text after the command.
    pub args: &'a str,
    pub chat: i64,
    pub user: i64,
    pub tier: Tier,
    /// The trace recorded for this update (`/traces`).
    pub trace: String,
}

impl Asked<'_> {
    fn say(&self, text: String) -> Vec<Call> {
        vec![Call::message(self.chat, text)]
    }

    fn with_typing(&self, text: String) -> Vec<Call> {
        vec![
            Call::typing(self.chat, "typing"),
            Call::message(self.chat, text),
        ]
    }
}

/// The calls the bot makes, and the index of the circuit breaker the command goes through.
type Answer = (Vec<Call>, Option<usize>);

/// Answers an allowed command.
pub(super) fn answer(cmd: BotCommand, a: &Asked) -> Answer {
    match cmd {
        BotCommand::Start => start(a),
        BotCommand::Help => help(a),
        BotCommand::Status => status(a),
        BotCommand::Skills => skills(a),
        BotCommand::Mode => mode(a),
        BotCommand::Cancel => cancel(a),
        BotCommand::Clear => clear(a),
        BotCommand::Settings => settings(a),
        BotCommand::Skill => skill(a),
        BotCommand::Translate => translate(a),
        BotCommand::Summarize => summarize(a),
        BotCommand::Rewrite => rewrite(a),
        BotCommand::Remind => remind(a),
        BotCommand::Reminders => reminders(a),
        BotCommand::Task => task_command(a),
        BotCommand::Traces => traces(a),
        BotCommand::Trace => trace(a),
        BotCommand::Circuits => circuits(a),
        BotCommand::Tier => tier(a),
        BotCommand::Grant | BotCommand::Revoke => grant_or_revoke_command(a, cmd),
        BotCommand::Admin => admin(a),
    }
}

fn start(a: &Asked) -> Answer {
    let &Asked { args, .. } = a;
    let text = if args.is_empty() {
        "Welcome! I am the stress demo bot. Try /help.".to_string()
    } else {
        format!("Welcome! You came from “{args}”. Try /help.")
    };
    (a.say(text), None)
}

fn help(a: &Asked) -> Answer {
    let &Asked { tier, .. } = a;
    let lines: Vec<String> = BotCommand::ALL
        .iter()
        .filter(|c| c.tier() <= tier)
        .map(|c| format!("{} — {}", c.name(), c.help()))
        .collect();
    (
        a.say(format!("Commands for a {tier} user:\n{}", lines.join("\n"))),
        None,
    )
}

fn status(a: &Asked) -> Answer {
    let &Asked {
        state,
        counters,
        user,
        tier,
        ..
    } = a;
    let (history, mode) = state.with_user(user, |u| (u.history, MODES[u.mode]));
    let text = format!(
        "✅ All systems normal. Updates handled: {}. You: {tier}, mode {mode}, {history} messages this session.",
        counters.total() + 1
    );
    (a.say(text), None)
}

fn skills(a: &Asked) -> Answer {
    (
        a.say(format!("Skills: {}. Use /skill NAME.", SKILLS.join(", "))),
        None,
    )
}

fn mode(a: &Asked) -> Answer {
    let &Asked {
        state, chat, user, ..
    } = a;
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

fn cancel(a: &Asked) -> Answer {
    let &Asked { state, user, .. } = a;
    let pending = state.with_user(user, |u| u.pending.take());
    (
        a.say(pending.map_or("Nothing to cancel.".into(), |p| format!("Cancelled: {p}."))),
        None,
    )
}

fn clear(a: &Asked) -> Answer {
    let &Asked { state, user, .. } = a;
    state.with_user(user, |u| u.history = 0);
    (a.say("🧹 Conversation cleared.".into()), None)
}

fn settings(a: &Asked) -> Answer {
    let &Asked {
        state, chat, user, ..
    } = a;
    let settings = state.with_user(user, |u| u.settings);
    (
        vec![
            Call::message(chat, "⚙️ Settings (tap to toggle):")
                .keyboard(settings_keyboard(&settings)),
        ],
        None,
    )
}

fn skill(a: &Asked) -> Answer {
    let &Asked {
        state, args, user, ..
    } = a;
    match SKILLS.iter().find(|s| s.eq_ignore_ascii_case(args.trim())) {
        Some(skill) => {
            state.with_user(user, |u| u.skill = Some(skill));
            (
                a.say(format!("Skill {skill} is on. Send me a message.")),
                Some(0),
            )
        }
        None => (
            a.say(format!("Which skill? One of: {}.", SKILLS.join(", "))),
            None,
        ),
    }
}

fn translate(a: &Asked) -> Answer {
    let &Asked {
        state,
        args,
        user,
        ref trace,
        ..
    } = a;
    let (lang, text) = first_word(args);
    if lang.is_empty() || text.is_empty() {
        return (
            a.say("Usage: /translate LANG TEXT, for example /translate de good morning".into()),
            None,
        );
    }
    state.with_user(user, |u| u.pending = Some(format!("translation to {lang}")));
    (
        a.with_typing(format!(
            "[{lang}] {} (trace {trace})",
            text.chars().rev().collect::<String>()
        )),
        Some(1),
    )
}

fn summarize(a: &Asked) -> Answer {
    let &Asked { args, .. } = a;
    if args.is_empty() {
        return (a.say("Usage: /summarize TEXT".into()), None);
    }
    let words = args.split_whitespace().count();
    let head: String = args
        .split_whitespace()
        .take(6)
        .collect::<Vec<_>>()
        .join(" ");
    (
        a.with_typing(format!("Summary ({words} words → 1 line): {head}…")),
        Some(0),
    )
}

fn rewrite(a: &Asked) -> Answer {
    let &Asked { args, .. } = a;
    if args.is_empty() {
        return (a.say("Usage: /rewrite TEXT".into()), None);
    }
    (
        a.with_typing(format!("Rewritten: {}", capitalise(args))),
        Some(0),
    )
}

fn remind(a: &Asked) -> Answer {
    let &Asked {
        state, args, user, ..
    } = a;
    let (when, text) = first_word(args);
    if when.is_empty() || text.is_empty() {
        return (
            a.say("Usage: /remind WHEN TEXT, for example /remind 10m stretch".into()),
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
        a.say(format!(
            "⏰ I'll remind you in {when}: {text}. You have {n} reminder(s)."
        )),
        Some(3),
    )
}

fn reminders(a: &Asked) -> Answer {
    let &Asked { state, user, .. } = a;
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
    (a.say(text), Some(3))
}

fn task_command(a: &Asked) -> Answer {
    let &Asked {
        state, args, user, ..
    } = a;
    (a.say(task(state, user, args)), Some(3))
}

fn traces(a: &Asked) -> Answer {
    let &Asked { state, .. } = a;
    let lines: Vec<String> = state
        .latest_traces(5)
        .iter()
        .map(|t| {
            let total: Duration = t.spans.iter().map(|s| s.1).sum();
            format!("{} {} {:.1} ms", t.id, t.kind, total.as_secs_f64() * 1e3)
        })
        .collect();
    (a.say(format!("Latest traces:\n{}", lines.join("\n"))), None)
}

fn trace(a: &Asked) -> Answer {
    let &Asked { state, args, .. } = a;
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
    (a.say(text), None)
}

fn circuits(a: &Asked) -> Answer {
    let &Asked {
        state, chat, tier, ..
    } = a;
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

fn tier(a: &Asked) -> Answer {
    let &Asked {
        state, args, user, ..
    } = a;
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
        a.say(format!(
            "User {target}: tier {} ({pool}).",
            state.tier_of(target)
        )),
        None,
    )
}

fn grant_or_revoke_command(a: &Asked, cmd: BotCommand) -> Answer {
    let &Asked {
        state,
        counters,
        args,
        ..
    } = a;
    (a.say(grant_or_revoke(state, counters, cmd, args)), None)
}

fn admin(a: &Asked) -> Answer {
    let &Asked {
        state,
        counters,
        chat,
        ..
    } = a;
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
