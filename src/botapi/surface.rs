//! Every Bot API method the hand-written handlers (`methods.rs`) do not answer, answered from the
//! description (`spec`): the parameters are checked against it (`validate`), and the result is a
//! value of the documented return type (`generate`). What must echo the call is written here: a
//! message the bot sends or edits (in the chat named, with the hub's next message id, the bot as
//! its sender, the text and the kind of media sent), message ids of copies, a chat member, a chat,
//! files (`files`), and what a `set*` method set, read back by its `get*` (the bot's commands,
//! name, menu button). Calls that send or change a message reach the user's inbox as events.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Value, json};

use super::ApiError;
use super::files;
use super::generate::Gen;
use super::hub::ReplyHub;
use super::methods::{MAX_CAPTION_LEN, chat_for, event, inline_keyboard, optional_text, to_value};
use super::params::Params;
use super::spec::{Method, Ty, spec};
use super::validate::{self, Checked};
use crate::telegram::build::unix_now;
use crate::telegram::media;
use crate::telegram::{EventKind, Message, MessageEntity, TierPools, User, Via};

/// Methods never answered from the description: long polling and the webhook have their own
/// handlers, and `BotApi::call` answers a call of one that reaches it with Telegram's 404.
pub const NOT_GENERATED: [&str; 4] = [
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
];

/// `set*` values kept for their `get*`; past this, one is forgotten for each new one.
const MAX_SETTINGS: usize = 1024;

/// What the answers need of the stand-in.
pub(super) struct Ctx<'a> {
    pub hub: &'a ReplyHub,
    pub bot: &'a User,
    pub pools: &'a TierPools,
}

/// The state of the generic answers.
#[derive(Debug, Default)]
pub(super) struct Surface {
    /// What `set*` calls set, by what their `get*` is asked with.
    settings: Mutex<HashMap<String, Vec<(&'static str, Value)>>>,
    /// Seeds the generator: the same run gives the same values.
    seq: AtomicU64,
}

impl Surface {
    /// Answers a call of `method`, which no hand-written handler answers.
    pub fn answer(
        &self,
        ctx: &Ctx,
        method: &'static Method,
        p: &mut Params,
        via: Via,
    ) -> Result<Value, ApiError> {
        let name = method.name.as_str();
        let c = validate::check(method, p)?;
        let a = Answer {
            ctx,
            name,
            via,
            seed: self.seq.fetch_add(1, Ordering::Relaxed),
        };
        match name {
            "getFile" => files::get_file(&c),
            "getChat" => a.chat(p),
            "getChatMember" => a.chat_member(p, &c),
            "getChatAdministrators" => {
                p.chat_id()?;
                Ok(json!([a.member(ctx.bot.id)]))
            }
            "copyMessage" => a.copies(p, &c).map(|mut ids| ids.swap_remove(0)),
            "copyMessages" | "forwardMessages" => a.copies(p, &c).map(Value::Array),
            "sendMediaGroup" => a.media_group(p, &c),
            _ if matches!(method.returns.first(), Some(Ty::Named(t)) if t == "Message") => {
                a.message(method, p, &c)
            }
            _ => {
                let result = match self.settings(method, &c) {
                    Some(remembered) => remembered,
                    None => a.generic(method, &c),
                };
                a.notify(&c);
                Ok(result)
            }
        }
    }

    /// What a `set*`/`get*`/`delete*` call does to the settings: a `set*` remembers its values
    /// under what its `get*` will be asked with (scope, language, chat), a `delete*` forgets
    /// them, a `get*` reads them back (`None` when nothing was set, or for any other method).
    fn settings(&self, method: &'static Method, c: &Checked) -> Option<Value> {
        let name = method.name.as_str();
        let (verb, noun) = ["set", "get", "delete"]
            .into_iter()
            .find_map(|v| name.strip_prefix(v).map(|n| (v, n)))?;
        let spec = spec();
        let get = spec.method(&["get", noun].concat())?;
        let set = spec.method(&["set", noun].concat())?;
        let key = settings_key(noun, get, c);
        let mut settings = self.settings.lock().expect("settings");
        match verb {
            "set" => {
                if settings.len() >= MAX_SETTINGS && !settings.contains_key(&key) {
                    let any = settings.keys().next().cloned();
                    any.map(|k| settings.remove(&k));
                }
                settings.insert(key, c.0.clone());
                None
            }
            "delete" => {
                settings.remove(&key);
                None
            }
            _ => {
                let returns = get.returns.first()?;
                let Some(values) = settings.get(&key) else {
                    // Nothing set: no commands, rather than made-up ones.
                    return matches!(returns, Ty::Array(_)).then(|| json!([]));
                };
                // The value set, when the setter took one of the type the getter returns.
                let whole = values.iter().find(|(n, _)| {
                    set.field(n)
                        .is_some_and(|f| f.types.first() == Some(returns))
                });
                Some(match whole {
                    Some((_, v)) => v.clone(),
                    None => Gen::new(0, values, None).of(&get.returns),
                })
            }
        }
    }
}

/// The settings key: the noun and the values of the getter's parameters, with the default
/// scope the same as none.
fn settings_key(noun: &str, get: &Method, c: &Checked) -> String {
    let mut key = noun.to_string();
    for f in &get.fields {
        key.push('\u{1f}');
        match c.get(&f.name) {
            Some(v) if *v == json!({"type": "default"}) => {}
            Some(v) => key.push_str(&v.to_string()),
            None => {}
        }
    }
    key
}

/// One call being answered.
struct Answer<'a> {
    ctx: &'a Ctx<'a>,
    name: &'static str,
    via: Via,
    seed: u64,
}

impl Answer<'_> {
    fn values<'e>(&self, echo: &'e [(&'e str, Value)], chat: Option<i64>) -> Gen<'e> {
        let chat_bits = chat.unwrap_or(0) as u64;
        Gen::new(self.seed ^ chat_bits.rotate_left(32), echo, chat)
    }

    /// A value of the method's return type, echoing the call.
    fn generic(&self, method: &Method, c: &Checked) -> Value {
        let chat = c.int("chat_id");
        let mut g = self.values(&c.0, chat);
        // The methods that return a bare String return a link or a bot token.
        if method.returns.first() == Some(&Ty::String) {
            return Value::String(match self.name {
                n if n.contains("Token") => {
                    format!("{}:{}", 7_000_000_000 + self.seed, g.token(35))
                }
                n if n.contains("Invoice") => format!("https://t.me/${}", g.token(24)),
                _ => format!("https://t.me/+{}", g.token(16)),
            });
        }
        let mut v = g.of(&method.returns);
        if self.name == "stopPoll" {
            v["is_closed"] = Value::Bool(true);
        }
        v
    }

    /// Tells the chat about a call that is something to it (a reaction, a draft, a deletion).
    fn notify(&self, c: &Checked) {
        let (Some(_), Some(chat_id)) = (EventKind::of(self.name), c.int("chat_id")) else {
            return;
        };
        let note = c.str("text").map(str::to_string).or_else(|| {
            let reaction = c.get("reaction")?.get(0)?;
            reaction
                .get("emoji")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        self.ctx
            .hub
            .deliver(event(chat_id, self.name, None, note, self.via));
    }

    /// The result to answer with: nothing is read from an answer in a webhook body.
    fn result(&self, v: impl FnOnce() -> Value) -> Value {
        match self.via {
            Via::Api => v(),
            Via::WebhookBody => Value::Bool(true),
        }
    }

    fn deliver(&self, message: &Message) {
        if EventKind::of(self.name).is_some() {
            let e = event(
                message.chat.id,
                self.name,
                Some(message.clone()),
                None,
                self.via,
            );
            self.ctx.hub.deliver(e);
        }
    }

    /// A message from the bot in `chat_id`: `message_id` for an edit, else the chat's next.
    fn bot_message(&self, chat_id: i64, message_id: Option<i64>) -> Message {
        let id = message_id.unwrap_or_else(|| self.ctx.hub.next_message_id(chat_id));
        let mut m = Message::new(
            id,
            Some(self.ctx.bot.clone()),
            unix_now(),
            chat_for(chat_id),
        );
        if message_id.is_some() {
            m.edit_date = Some(unix_now());
        }
        m
    }

    /// A method that sends or edits one message (or, given `inline_message_id`, edits an
    /// inline message and returns True).
    fn message(&self, method: &Method, p: &mut Params, c: &Checked) -> Result<Value, ApiError> {
        if c.get("inline_message_id").is_some() && method.returns.contains(&Ty::Boolean) {
            return Ok(Value::Bool(true));
        }
        let chat_id = p.chat_id()?;
        let edits = self.name.starts_with("edit")
            || matches!(self.name, "stopMessageLiveLocation" | "setGameScore");
        let message_id = match edits {
            true => Some(
                c.int("message_id")
                    .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?,
            ),
            false => None,
        };
        let mut m = self.bot_message(chat_id, message_id);
        m.reply_markup = inline_keyboard(p)?;
        m.caption = optional_text(p, "caption", MAX_CAPTION_LEN)?;
        m.caption_entities = entities(c.get("caption_entities"));
        let extra = match self.content_field(c) {
            Some(field) => {
                let given = match self.name {
                    "editMessageMedia" => c.get("media"),
                    _ => c.get(field),
                };
                self.content(&mut m, field, c, given, uploaded(given, p))
            }
            None => None,
        };
        self.deliver(&m);
        Ok(self.result(|| {
            let mut v = to_value(&m);
            if let Some((field, value)) = extra {
                v[field] = value;
            }
            v
        }))
    }

    /// The field of Message that holds what the method sends: `video` for sendVideo.
    fn content_field(&self, c: &Checked) -> Option<&'static str> {
        let field = match self.name {
            "editMessageMedia" => c.get("media")?.get("type")?.as_str()?.to_string(),
            "editMessageLiveLocation" | "stopMessageLiveLocation" => "location".into(),
            "editMessageChecklist" => "checklist".into(),
            "setGameScore" => "game".into(),
            "forwardMessage" => "forward_origin".into(),
            n => snake_case(n.strip_prefix("send")?),
        };
        let message = spec().type_def("Message")?;
        message.field(&field).map(|f| f.name.as_str())
    }

    /// Puts the content `field` in the message: built-in files for a voice note, photo or
    /// document (on the typed message, so the user's inbox sees them); else a generated value of
    /// the field's type echoing the call (`given`, the value passed for the content, and the
    /// uploaded file's name, type and size), returned to be added to the answer.
    fn content(
        &self,
        m: &mut Message,
        field: &'static str,
        c: &Checked,
        given: Option<&Value>,
        upload: Option<&Value>,
    ) -> Option<(&'static str, Value)> {
        let mut rng = SmallRng::seed_from_u64(self.seed ^ (m.message_id as u64) << 32);
        match field {
            "voice" => m.voice = Some(media::voice(&mut rng)),
            "photo" => m.photo = Some(media::photo_sizes(&mut rng)),
            "document" => {
                let mut d = media::document(&mut rng);
                if let Some(name) = upload.and_then(|u| u["file_name"].as_str()) {
                    d.file_name = Some(name.to_string());
                }
                m.document = Some(d);
            }
            _ => {
                let ty = spec().type_def("Message")?.field(field)?.types.first()?;
                // The call's values, the uploaded file's name, type and size, and the fields
                // of an object given for this content (a checklist's title, a media item's).
                let mut echo = c.0.clone();
                for source in [upload, given.filter(|v| v.is_object())]
                    .into_iter()
                    .flatten()
                {
                    let fields = source.as_object().into_iter().flatten();
                    echo.extend(fields.filter_map(|(k, v)| {
                        let name = spec_field_name(k)?;
                        (!v.is_null()).then(|| (name, v.clone()))
                    }));
                }
                let mut v = self
                    .values(&echo, Some(m.chat.id))
                    .of(std::slice::from_ref(ty));
                if field == "poll" {
                    poll_options(&mut v, c, &mut self.values(&[], None));
                }
                return Some((field, v));
            }
        }
        None
    }

    /// copyMessage, copyMessages, forwardMessages: a new message per id, each delivered; the
    /// answer is their MessageIds.
    fn copies(&self, p: &mut Params, c: &Checked) -> Result<Vec<Value>, ApiError> {
        let chat_id = p.chat_id()?;
        let count = match c.get("message_ids") {
            Some(Value::Array(ids)) => ids.len(),
            _ => 1,
        };
        let markup = inline_keyboard(p)?;
        let caption = optional_text(p, "caption", MAX_CAPTION_LEN)?;
        Ok((0..count)
            .map(|_| {
                let mut m = self.bot_message(chat_id, None);
                m.reply_markup = markup.clone();
                m.caption = caption.clone();
                self.deliver(&m);
                json!({"message_id": m.message_id})
            })
            .collect())
    }

    /// sendMediaGroup: a message per item, with the item's kind and caption, one album.
    fn media_group(&self, p: &mut Params, c: &Checked) -> Result<Value, ApiError> {
        let chat_id = p.chat_id()?;
        let items = match c.get("media") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let group = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_string();
        let mut answer = Vec::with_capacity(items.len());
        for item in &items {
            let mut m = self.bot_message(chat_id, None);
            m.caption = item
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_string);
            m.caption_entities = entities(item.get("caption_entities"));
            let kind = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("document");
            let item_checked = Checked(
                (item.as_object().into_iter().flatten())
                    .filter_map(|(k, v)| Some((spec_field_name(k)?, v.clone())))
                    .collect(),
            );
            let upload = uploaded(Some(item), p);
            let extra = self.content(
                &mut m,
                message_field(kind),
                &item_checked,
                Some(item),
                upload,
            );
            self.deliver(&m);
            if self.via == Via::Api {
                let mut v = to_value(&m);
                v["media_group_id"] = json!(group);
                if let Some((field, value)) = extra {
                    v[field] = value;
                }
                answer.push(v);
            }
        }
        Ok(self.result(|| Value::Array(answer)))
    }

    /// getChat: the chat named, with the fields ChatFullInfo requires.
    fn chat(&self, p: &Params) -> Result<Value, ApiError> {
        let chat_id = p.chat_id()?;
        let mut g = self.values(&[], Some(chat_id));
        let mut info = g.object("ChatFullInfo");
        if let (Value::Object(info), Value::Object(chat)) = (&mut info, g.chat(chat_id)) {
            info.extend(chat);
        }
        Ok(info)
    }

    /// getChatMember: the bot is an administrator, a user of the run's pools a member, anyone
    /// else has left.
    fn chat_member(&self, p: &Params, c: &Checked) -> Result<Value, ApiError> {
        p.chat_id()?;
        Ok(self.member(c.int("user_id").unwrap_or_default()))
    }

    fn member(&self, user_id: i64) -> Value {
        let mut g = self.values(&[], None);
        let (kind, user) = if user_id == self.ctx.bot.id {
            ("ChatMemberAdministrator", to_value(self.ctx.bot))
        } else if self.ctx.pools.contains(user_id) {
            ("ChatMemberMember", g.user(user_id))
        } else {
            ("ChatMemberLeft", g.user(user_id))
        };
        let mut member = g.object(kind);
        if let Value::Object(fields) = &mut member {
            for (name, v) in fields.iter_mut() {
                // An administrator the bot is, with the rights it would ask for.
                if name.starts_with("can_") && name != "can_be_edited" {
                    *v = Value::Bool(true);
                }
            }
            fields.insert("user".into(), user);
        }
        member
    }
}

/// The file uploaded for a content parameter: the parameter itself, or the part its
/// `attach://<part>` (or its `media` field's) names.
fn uploaded<'p>(given: Option<&'p Value>, p: &'p Params) -> Option<&'p Value> {
    let is_upload = |v: &&Value| v.get("upload") == Some(&Value::Bool(true));
    let given = given?;
    if is_upload(&given) {
        return Some(given);
    }
    let name = given.get("media").unwrap_or(given).as_str()?;
    p.get(name.strip_prefix("attach://")?).filter(is_upload)
}

/// The `Message` field for a media item's `type` (`live_photo` is one word there too).
fn message_field(kind: &str) -> &'static str {
    let message = spec().type_def("Message").expect("Message is described");
    (message.fields.iter())
        .find(|f| f.name == kind)
        .map_or("document", |f| f.name.as_str())
}

/// A name from the description spelled like `key`, so echoed values borrow the description.
fn spec_field_name(key: &str) -> Option<&'static str> {
    static NAMES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let s = spec();
        let fields = s.types.iter().flat_map(|t| &t.fields);
        let params = s.methods.iter().flat_map(|m| &m.fields);
        fields.chain(params).map(|f| f.name.as_str()).collect()
    });
    names.get(key).copied()
}

/// A poll's options, from the InputPollOptions the call gave.
fn poll_options(poll: &mut Value, c: &Checked, g: &mut Gen) {
    let Some(Value::Array(given)) = c.get("options") else {
        return;
    };
    let options = given.iter().map(|o| {
        let mut option = g.object("PollOption");
        let text = o
            .get("text")
            .or(Some(o))
            .and_then(Value::as_str)
            .unwrap_or("");
        option["text"] = json!(text);
        option["voter_count"] = json!(0);
        option
    });
    poll["options"] = Value::Array(options.collect());
}

fn entities(v: Option<&Value>) -> Option<Vec<MessageEntity>> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// `VideoNote` → `video_note`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_give_message_fields() {
        assert_eq!(snake_case("VideoNote"), "video_note");
        assert_eq!(snake_case("Video"), "video");
        assert_eq!(message_field("live_photo"), "live_photo");
        assert_eq!(message_field("nonsense"), "document");
        assert_eq!(spec_field_name("file_name"), Some("file_name"));
        assert_eq!(spec_field_name("no_such_field_anywhere"), None);
    }
}
