//! The JSON of the updates a user sends, made faster than serializing an [`Update`] by the
//! one thing they all share: the same sender and the same private chat. Their JSON is made
//! once per user ([`SenderJson`]) and written as is, rather than their strings being escaped
//! field by field in every update (docs/design-notes.md has what that costs). The output is
//! byte for byte what `serde_json::to_writer(&update)` writes; a test holds the two together.

use serde::Serialize;
use serde_json::value::RawValue;

use super::types::{
    Chat, Document, InlineKeyboardMarkup, Message, MessageEntity, PhotoSize, Update, User, Voice,
};

/// A user's sender and private chat, serialized.
#[derive(Debug, Clone)]
pub struct SenderJson {
    id: i64,
    from: Box<RawValue>,
    chat: Box<RawValue>,
}

impl SenderJson {
    pub fn new(user: &User, chat: &Chat) -> Self {
        Self {
            id: user.id,
            from: raw(user),
            chat: raw(chat),
        }
    }

    /// Appends `update`'s JSON to `out`. An update whose message is from this sender in its
    /// private chat (everything a user sends but a button press) takes the fast path.
    pub fn write(&self, update: &Update, out: &mut Vec<u8>) {
        match update {
            Update {
                update_id,
                message: Some(m),
                edited_message: None,
                callback_query: None,
            } if m.from.as_ref().map(|u| u.id) == Some(self.id) && m.chat.id == self.id => {
                debug_assert_eq!(
                    m.from.as_ref().map(|u| raw(u).get().to_owned()),
                    Some(self.from.get().to_owned())
                );
                debug_assert_eq!(raw(&m.chat).get(), self.chat.get());
                self.write_message(*update_id, m, out);
            }
            _ => serde_json::to_writer(&mut *out, update).expect("updates serialize"),
        }
    }

    /// Appends the JSON of a draft (a message update whose `from` and chat names are left out):
    /// this sender's message in its private chat.
    pub fn write_draft(&self, update: &Update, out: &mut Vec<u8>) {
        let m = update
            .message
            .as_ref()
            .expect("a draft is a message update");
        debug_assert!(m.from.is_none() && m.chat.id == self.id);
        self.write_message(update.update_id, m, out);
    }

    /// The update `update_id` with message `m`, its sender and chat written from their JSON.
    fn write_message(&self, update_id: i64, m: &Message, out: &mut Vec<u8>) {
        let wire = WireUpdate {
            update_id,
            message: self.message(m),
        };
        serde_json::to_writer(&mut *out, &wire).expect("updates serialize");
    }

    fn message<'a>(&'a self, m: &'a Message) -> WireMessage<'a> {
        // Every field, named: a field added to Message does not compile here until the wire
        // form has it too.
        let Message {
            message_id,
            from: _,
            date,
            chat: _,
            edit_date,
            text,
            entities,
            voice,
            photo,
            document,
            caption,
            caption_entities,
            reply_markup,
        } = m;
        WireMessage {
            message_id: *message_id,
            from: &self.from,
            date: *date,
            chat: &self.chat,
            edit_date: *edit_date,
            text: text.as_deref(),
            entities: entities.as_deref(),
            voice: voice.as_ref(),
            photo: photo.as_deref(),
            document: document.as_ref(),
            caption: caption.as_deref(),
            caption_entities: caption_entities.as_deref(),
            reply_markup: reply_markup.as_ref(),
        }
    }
}

fn raw<T: Serialize>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("Bot API types serialize")
}

/// [`Update`] with a message, as it serializes.
#[derive(Serialize)]
struct WireUpdate<'a> {
    update_id: i64,
    message: WireMessage<'a>,
}

/// [`Message`] as it serializes (same names, order and omissions), `from` and `chat` given as
/// JSON.
#[derive(Serialize)]
struct WireMessage<'a> {
    message_id: i64,
    from: &'a RawValue,
    date: i64,
    chat: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    edit_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entities: Option<&'a [MessageEntity]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voice: Option<&'a Voice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photo: Option<&'a [PhotoSize]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a Document>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption_entities: Option<&'a [MessageEntity]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_markup: Option<&'a InlineKeyboardMarkup>,
}
