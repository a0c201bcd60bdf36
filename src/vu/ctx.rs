//! A virtual user as its host functions see it: identity, seeded randomness, its chat's update
//! builder, the last keyboard the bot showed it, and the recording of what it sends.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use corosensei::Yielder;
use rand::Rng;
use rand::rngs::SmallRng;
use rhai::{Dynamic, EvalAltResult, Position};

use super::task::Entry;
use super::{Io, Resume, RoundTrip};
use crate::report::ErrorKind;
use crate::report::LogLine;
use crate::script::ClassScript;
use crate::script::Reply;
use crate::script::host::{Host, LogLevel, Outgoing, Site};
use crate::stats::Recorder;
use crate::stats::names::NameKind;
use crate::stats::recorder::ReplyOutcome;
use crate::telegram::{Draft, Message, Tier, TierPools, Update, UpdateFactory};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

pub(crate) struct VuCtx {
    pub vu: u64,
    pub class: Rc<str>,
    pub tier: Tier,
    pub rng: SmallRng,
    pub factory: UpdateFactory,
    pub pools: Rc<TierPools>,
    pub recorder: Rc<RefCell<Recorder>>,
    /// The latest bot message with inline buttons in this chat (boxed: most users have none).
    pub keyboard: Option<Box<Message>>,
    /// Set by the running coroutine before any host call.
    pub yielder: *const Yielder<Resume, Io>,
    /// `wait()` inside tasks returns at once (dry runs, `--wait 0`, stopping).
    pub skip_waits: bool,
    pub requests: u64,
    /// Running hash of the names of the requests sent, in order.
    pub digest: u64,
    /// The script function running now (for the lines it logs).
    pub running: Option<(Arc<ClassScript>, Entry)>,
}

/// An update a host call built: a message (a draft, its sender's names written from the
/// factory's JSON) or a button press.
enum Built {
    Message(Draft),
    Callback(Update),
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn error(message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), pos).into()
}

/// The request name of a command: `/name`, without arguments or `@bot`.
fn command_name(command: &str) -> String {
    let word = command.split_whitespace().next().unwrap_or("");
    let word = word.trim_start_matches('/');
    let word = word.split('@').next().unwrap_or(word);
    ["/", word].concat()
}

impl VuCtx {
    fn suspend(&mut self, io: Io) -> Resume {
        // SAFETY: the pointer is set by the coroutine this host call runs in, before the task
        // starts, and the yielder lives as long as that coroutine.
        let yielder = unsafe { &*self.yielder };
        yielder.suspend(io)
    }

    /// /grant and /revoke may only name test users: the host refuses any other id, however
    /// the script spelled the command (in `send_command`'s name or args, in `send_text`, in a
    /// caption, in any case, with `@bot`). Checked on the update as built, as the bot sees it.
    fn refusal(&self, built: &Built) -> Option<String> {
        let Built::Message(draft) = built else {
            return None;
        };
        let m = draft.message();
        let text = m.text.as_deref().or(m.caption.as_deref())?;
        let entities = m.entities.as_ref().or(m.caption_entities.as_ref())?;
        if !entities
            .iter()
            .any(|e| e.kind == "bot_command" && e.offset == 0)
        {
            return None;
        }
        let mut words = text.split_whitespace();
        let command = words.next()?.trim_start_matches('/');
        let command = command.split('@').next().unwrap_or(command).to_lowercase();
        if command != "grant" && command != "revoke" {
            return None;
        }
        match words.next().map(|w| (w, w.parse::<i64>())) {
            Some((_, Ok(id))) if self.pools.contains(id) => None,
            Some((w, _)) => Some(format!(
                "/{command} {w}: refused by the host, `{w}` is not a test-user id \
                 (use test_user_id(tier))"
            )),
            // No id at all: the bot answers with its usage; nothing to protect.
            None => None,
        }
    }

    fn build(
        &mut self,
        out: Outgoing<'_>,
        pos: Position,
    ) -> Result<(String, Built), Box<EvalAltResult>> {
        let exhausted = |e: crate::telegram::IdRangeExhausted| error(e.to_string(), pos);
        Ok(match out {
            Outgoing::Text(text) => (
                "text".into(),
                Built::Message(self.factory.draft_text(text).map_err(exhausted)?),
            ),
            Outgoing::Command { command, args } => {
                let name = command_name(command);
                let draft = self.factory.draft_command(command, args);
                (name, Built::Message(draft.map_err(exhausted)?))
            }
            Outgoing::Media { kind, caption } => {
                let draft = self.factory.draft_media(kind, caption, &mut self.rng);
                (
                    kind.as_str().into(),
                    Built::Message(draft.map_err(exhausted)?),
                )
            }
            Outgoing::Callback(data) => {
                let Some(on) = &self.keyboard else {
                    return Err(error(
                        format!(
                            "send_callback(\"{data}\"): the bot has shown this user no inline \
                             buttons yet (send a command that answers with a keyboard first)"
                        ),
                        pos,
                    ));
                };
                let buttons: Vec<&str> = on
                    .reply_markup
                    .as_ref()
                    .map(|k| k.callback_data().collect())
                    .unwrap_or_default();
                if !buttons.contains(&data) {
                    return Err(error(
                        format!(
                            "send_callback(\"{data}\"): the bot's last keyboard has no such \
                             button; its buttons are: {}",
                            buttons.join(", ")
                        ),
                        pos,
                    ));
                }
                let on = on.clone();
                let update = self.factory.callback(&on, data).map_err(exhausted)?;
                ("callback".into(), Built::Callback(update))
            }
        })
    }
}

impl Host for VuCtx {
    fn send(&mut self, out: Outgoing<'_>, site: Site<'_>) -> Result<Dynamic, Box<EvalAltResult>> {
        let (name, built) = self.build(out, site.pos)?;
        let name = {
            let mut recorder = self.recorder.borrow_mut();
            let admitted = recorder.admit(NameKind::Request, &name, || site.to_string());
            if admitted == name.as_str() {
                name
            } else {
                admitted.to_string()
            }
        };
        if let Some(why) = self.refusal(&built) {
            {
                let mut recorder = self.recorder.borrow_mut();
                recorder.refused(&name);
                recorder.failure(&name, ErrorKind::Refused, 0, why.clone());
            }
            tracing::warn!(target: "script", vu = self.vu, "{why}");
            return Ok(Dynamic::from(Reply {
                status: 0,
                error: Some(ErrorKind::Refused.as_str()),
                latency: Duration::ZERO,
                events: Vec::new(),
                reply_after: None,
            }));
        }
        // Sized for a typical update (300-900 bytes), so serializing rarely reallocates.
        let mut body = Vec::with_capacity(1024);
        match &built {
            Built::Message(draft) => self.factory.write_draft(draft, &mut body),
            Built::Callback(update) => self.factory.write(update, &mut body),
        }
        let body = Bytes::from(body);
        self.requests += 1;
        self.digest = (self.digest ^ fnv(name.as_bytes())).wrapping_mul(0x0100_0000_01b3);
        // The driver records the request (and its reply) as soon as it knows how it went.
        let callback = matches!(built, Built::Callback(_));
        let Resume::Posted(exchange) = self.suspend(Io::Post {
            name,
            body,
            callback,
        }) else {
            unreachable!("a post is resumed with its exchange")
        };
        let RoundTrip {
            posted,
            events,
            reply,
        } = exchange;
        if let Some(m) = events
            .iter()
            .rev()
            .filter_map(|e| e.message.as_ref())
            .find(|m| m.reply_markup.is_some())
        {
            self.keyboard = Some(m.clone());
        }
        let reply_after = match reply {
            ReplyOutcome::After(d) => Some(d),
            _ => None,
        };
        Ok(Dynamic::from(Reply {
            status: posted.status(),
            error: posted.error().map(ErrorKind::as_str),
            latency: posted.total(),
            events,
            reply_after,
        }))
    }

    fn wait(&mut self, duration: Duration) {
        if !self.skip_waits && !duration.is_zero() {
            self.suspend(Io::Sleep(duration));
        }
    }

    fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    fn check(&mut self, name: &str, passed: bool, site: Site<'_>) {
        self.recorder
            .borrow_mut()
            .check(name, passed, || site.to_string());
    }

    fn log(&mut self, level: LogLevel, text: &str, site: Site<'_>) {
        let mut recorder = self.recorder.borrow_mut();
        let key = {
            let mut h = ahash::AHasher::default();
            (site.source, site.pos.line(), site.pos.position()).hash(&mut h);
            h.finish()
        };
        if !recorder.admit_log(key) {
            return;
        }
        let task = self
            .running
            .as_ref()
            .map_or("", |(script, entry)| entry.name(script));
        match level {
            LogLevel::Info => {
                tracing::info!(target: "script", "[{} vu {} {task}] {text}", self.class, self.vu)
            }
            LogLevel::Debug => {
                tracing::debug!(target: "script", "[{} vu {} {task}] {text}", self.class, self.vu)
            }
        }
        let line = LogLine {
            t_s: recorder.elapsed_s(),
            level: level.as_str().into(),
            class: self.class.to_string(),
            vu: self.vu,
            task: task.into(),
            at: site.to_string(),
            text: text.into(),
        };
        recorder.log(line);
    }

    fn user_id(&self) -> i64 {
        self.factory.sender().user.id
    }

    fn tier(&self) -> Tier {
        self.tier
    }

    fn vu(&self) -> u64 {
        self.vu
    }

    fn test_user_id(&mut self, tier: Tier) -> Result<i64, String> {
        let ids = self.pools.test_ids(tier);
        if ids.is_empty() {
            return Err(format!("test_user_id: the {tier} pool is empty"));
        }
        Ok(self.rng.random_range(ids))
    }
}
