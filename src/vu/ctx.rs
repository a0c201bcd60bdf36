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

use super::{Exchange, Io, Resume};
use crate::script::host::{Host, Outgoing};
use crate::script::reply_map;
use crate::stats::Recorder;
use crate::stats::recorder::ReplyOutcome;
use crate::telegram::{Message, Tier, TierPools, Update, UpdateFactory};
use crate::transport::ErrorKind;

/// The share of each pool's end that `test_user_id` draws from, away from the users a run
/// starts at the pool's beginning.
const TEST_ID_SHARE: i64 = 10;

pub(crate) struct VuCtx {
    pub vu: u64,
    pub class: Rc<str>,
    pub tier: Tier,
    pub rng: SmallRng,
    pub factory: UpdateFactory,
    pub pools: Rc<TierPools>,
    pub recorder: Rc<RefCell<Recorder>>,
    /// The latest bot message with inline buttons in this chat.
    pub keyboard: Option<Message>,
    /// Set by the running coroutine before any host call.
    pub yielder: *const Yielder<Resume, Io>,
    /// `wait()` inside tasks returns at once (dry runs, `--wait 0`, stopping).
    pub skip_waits: bool,
    pub requests: u64,
    /// Running hash of the names of the requests sent, in order.
    pub digest: u64,
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
    format!("/{word}")
}

impl VuCtx {
    fn suspend(&mut self, io: Io) -> Resume {
        // SAFETY: the pointer is set by the coroutine this host call runs in, before the task
        // starts, and the yielder lives as long as that coroutine.
        let yielder = unsafe { &*self.yielder };
        yielder.suspend(io)
    }

    /// /grant and /revoke may only name test users: the host refuses any other id.
    fn refusal(&self, name: &str, args: &str) -> Option<String> {
        if name != "/grant" && name != "/revoke" {
            return None;
        }
        let target = args.split_whitespace().next()?;
        match target.parse::<i64>() {
            Ok(id) if self.pools.contains(id) => None,
            _ => Some(format!(
                "{name} {target}: refused by the host, `{target}` is not a test-user id \
                 (use test_user_id(tier))"
            )),
        }
    }

    fn build(
        &mut self,
        out: Outgoing<'_>,
        pos: Position,
    ) -> Result<(String, Update), Box<EvalAltResult>> {
        let exhausted = |e: crate::telegram::IdRangeExhausted| error(e.to_string(), pos);
        Ok(match out {
            Outgoing::Text(text) => ("text".into(), self.factory.text(text).map_err(exhausted)?),
            Outgoing::Command { command, args } => {
                let name = command_name(command);
                (
                    name,
                    self.factory.command(command, args).map_err(exhausted)?,
                )
            }
            Outgoing::Media { kind, caption } => (
                kind.as_str().into(),
                self.factory
                    .media(kind, caption, &mut self.rng)
                    .map_err(exhausted)?,
            ),
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
                (
                    "callback".into(),
                    self.factory.callback(&on, data).map_err(exhausted)?,
                )
            }
        })
    }
}

impl Host for VuCtx {
    fn send(&mut self, out: Outgoing<'_>, pos: Position) -> Result<Dynamic, Box<EvalAltResult>> {
        if let Outgoing::Command { command, args } = out {
            let name = command_name(command);
            if let Some(why) = self.refusal(&name, args) {
                self.recorder.borrow_mut().request(
                    &name,
                    Duration::ZERO,
                    Some(ErrorKind::Refused),
                    ReplyOutcome::NotAwaited,
                );
                tracing::warn!(target: "script", vu = self.vu, "{why}");
                return Ok(reply_map(
                    0,
                    Some(ErrorKind::Refused.as_str()),
                    Duration::ZERO,
                    &[],
                    None,
                ));
            }
        }
        let (name, update) = self.build(out, pos)?;
        let body = Bytes::from(serde_json::to_vec(&update).expect("updates serialize"));
        let Resume::Posted(exchange) = self.suspend(Io::Post { body }) else {
            unreachable!("a post is resumed with its exchange")
        };
        let Exchange {
            posted,
            events,
            reply,
        } = exchange;
        let error = posted.error();
        self.recorder
            .borrow_mut()
            .request(&name, posted.latency, error, reply);
        self.requests += 1;
        self.digest = (self.digest ^ fnv(name.as_bytes())).wrapping_mul(0x0100_0000_01b3);
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
        Ok(reply_map(
            posted.status(),
            error.map(ErrorKind::as_str),
            posted.latency,
            &events,
            reply_after,
        ))
    }

    fn wait(&mut self, duration: Duration) {
        if !self.skip_waits && !duration.is_zero() {
            self.suspend(Io::Sleep(duration));
        }
    }

    fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    fn check(&mut self, name: &str, passed: bool) {
        self.recorder.borrow_mut().check(name, passed);
    }

    fn log(&mut self, text: &str) {
        tracing::info!(target: "script", "[{} vu {}] {text}", self.class, self.vu);
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
        let range = self.pools.range(tier);
        let size = range.end - range.start;
        if size <= 0 {
            return Err(format!("test_user_id: the {tier} pool is empty"));
        }
        let span = (size / TEST_ID_SHARE).max(1);
        Ok(self.rng.random_range(range.end - span..range.end))
    }
}
