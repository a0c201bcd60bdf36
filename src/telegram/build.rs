//! Builds the updates a virtual user sends: private text, bot commands (with `bot_command`
//! entities measured in UTF-16), voice, photo (several sizes, smallest first), document and
//! callback queries on a message the bot sent. Field values are plausible and varied, drawn
//! from the caller's seeded RNG so a run is reproducible; media are the built-in files
//! (`media`), so what an update says about a file is what a download of it gives.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand::seq::IndexedRandom;

use super::ids::{ChatMessageIds, IdRangeExhausted, UpdateIds, callback_query_id};
use super::media::{document, photo_sizes, voice};
use super::pools::Tier;
use super::types::*;
use super::utf16;
use super::wire::SenderJson;

/// The kinds of media a user can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Voice,
    Photo,
    Document,
}

impl MediaKind {
    pub const ALL: [MediaKind; 3] = [MediaKind::Voice, MediaKind::Photo, MediaKind::Document];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Voice => "voice",
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
        }
    }
}

impl FromStr for MediaKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "voice" => Ok(MediaKind::Voice),
            "photo" => Ok(MediaKind::Photo),
            "document" => Ok(MediaKind::Document),
            other => Err(format!(
                "unknown media kind `{other}` (expected voice, photo or document)"
            )),
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Ben",
    "Carlos",
    "Dmitri",
    "Emma",
    "Fatima",
    "Giulia",
    "Hiro",
    "Ines",
    "Jonas",
    "Алексей",
    "Мария",
    "李伟",
    "佐藤",
    "José",
    "Zoë",
    "Mehmet",
    "Priya",
    "Olumide",
    "Søren",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Иванова",
    "García",
    "Müller",
    "王",
    "Kowalski",
    "Nakamura",
];
const LANGUAGES: &[&str] = &["en", "ru", "es", "de", "zh-hans", "ja", "pt-br", "tr", "uk"];

/// A test user as Telegram shows it to the bot, with the tier its pool gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sender {
    pub user: User,
    pub tier: Tier,
}

impl Sender {
    /// A plausible user with the given id: varied names (some non-ASCII), a username for most,
    /// a language code.
    pub fn generate(id: i64, tier: Tier, rng: &mut impl Rng) -> Self {
        let first = *FIRST_NAMES.choose(rng).expect("names");
        let last = rng
            .random_bool(0.5)
            .then(|| LAST_NAMES.choose(rng).expect("names").to_string());
        let username = rng
            .random_bool(0.7)
            .then(|| format!("{}_{}", tier.as_str(), id % 1_000_000));
        let language_code = Some(LANGUAGES.choose(rng).expect("languages").to_string());
        let user = User {
            id,
            is_bot: false,
            first_name: first.to_string(),
            last_name: last,
            username,
            language_code,
            can_join_groups: None,
            can_read_all_group_messages: None,
            supports_inline_queries: None,
        };
        Self { user, tier }
    }

    /// The private chat between this user and the bot (its id is the user's id).
    pub fn private_chat(&self) -> Chat {
        Chat {
            id: self.user.id,
            kind: ChatType::Private,
            title: None,
            username: self.user.username.clone(),
            first_name: Some(self.user.first_name.clone()),
            last_name: self.user.last_name.clone(),
        }
    }
}

/// Current Unix time in seconds, as Telegram stamps `date`.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The `bot_command` entities in a text: every `/word` at the start or after whitespace, as
/// Telegram marks them, with UTF-16 offsets and lengths.
pub fn command_entities(text: &str) -> Vec<MessageEntity> {
    let mut entities = Vec::new();
    let mut prev_is_space = true;
    for (i, c) in text.char_indices() {
        if c == '/' && prev_is_space {
            let rest = &text[i + 1..];
            let name_len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '@'))
                .unwrap_or(rest.len());
            if name_len > 0 && rest.as_bytes()[0] != b'@' {
                entities.push(MessageEntity {
                    kind: "bot_command".into(),
                    offset: utf16::offset_of(text, i),
                    length: utf16::len(&text[i..i + 1 + name_len]),
                });
            }
        }
        prev_is_space = c.is_whitespace();
    }
    entities
}

/// A message update this factory built, without what every update of its user shares: the
/// sender and the chat's names (`from` is `None`, the chat only its id and type). The factory
/// writes it with those from the JSON it keeps ([`UpdateFactory::write_draft`]), so the hot path
/// copies no names; [`UpdateFactory::text`] and its siblings give the whole update.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft(Update);

impl Draft {
    /// The message, without its sender and chat names.
    pub fn message(&self) -> &Message {
        self.0
            .message
            .as_ref()
            .expect("a draft is a message update")
    }
}

/// Builds one virtual user's updates in its private chat. Every idle user carries a factory, so
/// it keeps little: the sender, and the sender's and chat's JSON (kept so they are not escaped
/// again for every update, a trade in docs/design-notes.md); the chat itself and
/// `chat_instance` are derived per update.
#[derive(Debug)]
pub struct UpdateFactory {
    update_ids: Arc<UpdateIds>,
    message_ids: Arc<ChatMessageIds>,
    sender: Sender,
    json: SenderJson,
    callback_seq: u64,
}

impl UpdateFactory {
    /// `message_ids` is the chat's counter, shared with the Bot API stand-in so the user's and
    /// the bot's messages form one sequence.
    pub fn new(
        update_ids: Arc<UpdateIds>,
        message_ids: Arc<ChatMessageIds>,
        sender: Sender,
    ) -> Self {
        let json = SenderJson::new(&sender.user, &sender.private_chat());
        Self {
            update_ids,
            message_ids,
            sender,
            json,
            callback_seq: 0,
        }
    }

    /// Appends an update this factory built to `out`, as JSON.
    pub fn write(&self, update: &Update, out: &mut Vec<u8>) {
        self.json.write(update, out);
    }

    /// Appends a draft's update to `out`, as JSON: byte for byte what [`write`](Self::write)
    /// writes for the whole update.
    pub fn write_draft(&self, draft: &Draft, out: &mut Vec<u8>) {
        self.json.write_draft(&draft.0, out);
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The private chat's id, which is the user's.
    pub fn chat_id(&self) -> i64 {
        self.sender.user.id
    }

    /// Telegram's chat_instance: a stable, opaque signed 64-bit number per chat.
    fn chat_instance(&self) -> String {
        (self
            .sender
            .user
            .id
            .wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64))
        .to_string()
    }

    /// A message in the private chat, without the sender and the chat's names (a [`Draft`]'s).
    fn message(&self, message_id: i64) -> Message {
        let chat = Chat {
            id: self.sender.user.id,
            kind: ChatType::Private,
            title: None,
            username: None,
            first_name: None,
            last_name: None,
        };
        Message::new(message_id, None, unix_now(), chat)
    }

    fn wrap(&self, message: Message) -> Result<Draft, IdRangeExhausted> {
        Ok(Draft(Update {
            update_id: self.update_ids.next()?,
            message: Some(message),
            edited_message: None,
            callback_query: None,
        }))
    }

    /// The whole update a draft stands for, as the bot receives it.
    fn complete(&self, draft: Draft) -> Update {
        let mut update = draft.0;
        if let Some(m) = &mut update.message {
            m.from = Some(self.sender.user.clone());
            m.chat = self.sender.private_chat();
        }
        update
    }

    /// A plain text message; any `/command` in it is marked as Telegram would.
    pub fn text(&mut self, text: &str) -> Result<Update, IdRangeExhausted> {
        self.draft_text(text).map(|d| self.complete(d))
    }

    /// [`text`](Self::text) as a [`Draft`].
    pub fn draft_text(&mut self, text: &str) -> Result<Draft, IdRangeExhausted> {
        let mut m = self.message(self.message_ids.next());
        let entities = command_entities(text);
        m.entities = (!entities.is_empty()).then_some(entities);
        m.text = Some(text.to_string());
        self.wrap(m)
    }

    /// A bot command: `command` with or without its leading slash, then `args` if any.
    pub fn command(&mut self, command: &str, args: &str) -> Result<Update, IdRangeExhausted> {
        self.draft_command(command, args).map(|d| self.complete(d))
    }

    /// [`command`](Self::command) as a [`Draft`].
    pub fn draft_command(&mut self, command: &str, args: &str) -> Result<Draft, IdRangeExhausted> {
        let name = command.trim().trim_start_matches('/');
        let args = args.trim();
        // concat, not format!: no formatting machinery on every command sent.
        let text = if args.is_empty() {
            ["/", name].concat()
        } else {
            ["/", name, " ", args].concat()
        };
        let mut m = self.message(self.message_ids.next());
        m.entities = Some(vec![MessageEntity {
            kind: "bot_command".into(),
            offset: 0,
            length: 1 + utf16::len(name),
        }]);
        m.text = Some(text);
        self.wrap(m)
    }

    /// A voice note, photo or document with an optional caption.
    pub fn media(
        &mut self,
        kind: MediaKind,
        caption: Option<&str>,
        rng: &mut impl Rng,
    ) -> Result<Update, IdRangeExhausted> {
        self.draft_media(kind, caption, rng)
            .map(|d| self.complete(d))
    }

    /// [`media`](Self::media) as a [`Draft`].
    pub fn draft_media(
        &mut self,
        kind: MediaKind,
        caption: Option<&str>,
        rng: &mut impl Rng,
    ) -> Result<Draft, IdRangeExhausted> {
        let mut m = self.message(self.message_ids.next());
        match kind {
            MediaKind::Voice => m.voice = Some(voice(rng)),
            MediaKind::Photo => m.photo = Some(photo_sizes(rng)),
            MediaKind::Document => m.document = Some(document(rng)),
        }
        if let Some(caption) = caption.filter(|c| !c.is_empty()) {
            let entities = command_entities(caption);
            m.caption_entities = (!entities.is_empty()).then_some(entities);
            m.caption = Some(caption.to_string());
        }
        self.wrap(m)
    }

    /// The user pressing the inline button with `data` under the bot's message `on`.
    pub fn callback(&mut self, on: &Message, data: &str) -> Result<Update, IdRangeExhausted> {
        self.callback_seq += 1;
        let query = CallbackQuery {
            id: callback_query_id(self.sender.user.id, self.callback_seq),
            from: self.sender.user.clone(),
            message: Some(on.clone()),
            chat_instance: self.chat_instance(),
            data: Some(data.to_string()),
        };
        Ok(Update {
            update_id: self.update_ids.next()?,
            message: None,
            edited_message: None,
            callback_query: Some(query),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn factory() -> (UpdateFactory, SmallRng) {
        let mut rng = SmallRng::seed_from_u64(1);
        let sender = Sender::generate(6_900_100_001, Tier::Guest, &mut rng);
        let f = UpdateFactory::new(
            Arc::new(UpdateIds::new(1..1000)),
            Arc::new(ChatMessageIds::default()),
            sender,
        );
        (f, rng)
    }

    /// The fast JSON of a user's updates is byte for byte serde's JSON of the update, for
    /// every kind, for many generated senders (non-ASCII names, with and without a last name or
    /// a username), with texts that need escaping.
    #[test]
    fn written_updates_are_exactly_the_serialized_ones() {
        let mut rng = SmallRng::seed_from_u64(7);
        for id in 0..200 {
            let sender = Sender::generate(6_900_100_000 + id, Tier::Guest, &mut rng);
            let mut f = UpdateFactory::new(
                Arc::new(UpdateIds::new(1..1000)),
                Arc::new(ChatMessageIds::default()),
                sender,
            );
            let mut bot_message = f.text("x").unwrap().message.unwrap();
            bot_message.reply_markup = Some(InlineKeyboardMarkup {
                inline_keyboard: vec![vec![InlineKeyboardButton {
                    text: "A \"quoted\" ✓".into(),
                    callback_data: Some("a".into()),
                    url: None,
                }]],
            });
            let mut updates = vec![
                f.text("hello \"world\" \\ /help@bot 😀\n").unwrap(),
                f.command("/translate", "ru Привет").unwrap(),
                f.command("start", "").unwrap(),
                f.callback(&bot_message, "a").unwrap(),
            ];
            for kind in [MediaKind::Voice, MediaKind::Photo, MediaKind::Document] {
                updates.push(f.media(kind, None, &mut rng).unwrap());
                updates.push(f.media(kind, Some("look /here"), &mut rng).unwrap());
            }
            for u in &updates {
                let mut written = Vec::new();
                f.write(u, &mut written);
                let serialized = serde_json::to_vec(u).unwrap();
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(serialized).unwrap()
                );
            }
            // Drafts (what a run sends) too, against the whole update each stands for.
            let mut drafts = vec![
                f.draft_text("hello \"world\" \\ /help@bot 😀\n").unwrap(),
                f.draft_command("/translate", "ru Привет").unwrap(),
            ];
            for kind in [MediaKind::Voice, MediaKind::Photo, MediaKind::Document] {
                drafts.push(f.draft_media(kind, Some("look /here"), &mut rng).unwrap());
            }
            for d in drafts {
                let mut written = Vec::new();
                f.write_draft(&d, &mut written);
                let whole = f.complete(d);
                assert!(whole.message.as_ref().unwrap().from.is_some());
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    serde_json::to_string(&whole).unwrap()
                );
            }
        }
    }

    #[test]
    fn command_entity_is_measured_in_utf16() {
        let (mut f, _) = factory();
        let u = f.command("/translate", "ru Привет 😀").unwrap();
        let m = u.message.unwrap();
        assert_eq!(m.text.as_deref(), Some("/translate ru Привет 😀"));
        assert_eq!(m.entities.unwrap()[0].length, 10);
        assert_eq!(u.update_id, 1);
        assert_eq!(m.message_id, 1);
        assert_eq!(m.chat.id, 6_900_100_001);
    }

    #[test]
    fn text_marks_commands_anywhere() {
        let e = command_entities("😀 try /help or /start@my_bot now, not a/b or /");
        assert_eq!(
            e.iter().map(|e| (e.offset, e.length)).collect::<Vec<_>>(),
            vec![(7, 5), (16, 13)]
        );
    }

    #[test]
    fn photo_sizes_are_smallest_first() {
        let (mut f, mut rng) = factory();
        for _ in 0..50 {
            let u = f.media(MediaKind::Photo, Some("look"), &mut rng).unwrap();
            let sizes = u.message.unwrap().photo.unwrap();
            assert!(sizes.len() >= 3);
            assert!(
                sizes
                    .windows(2)
                    .all(|w| w[0].width * w[0].height < w[1].width * w[1].height)
            );
        }
    }

    #[test]
    fn ids_increase_per_update_and_per_message() {
        let (mut f, mut rng) = factory();
        let a = f.text("hi").unwrap();
        let b = f.media(MediaKind::Voice, None, &mut rng).unwrap();
        let c = f
            .callback(a.message.as_ref().unwrap(), "mode:code")
            .unwrap();
        assert_eq!((a.update_id, b.update_id, c.update_id), (1, 2, 3));
        assert_eq!(b.message.unwrap().message_id, 2);
        let q = c.callback_query.unwrap();
        assert_eq!(
            super::super::ids::callback_query_sender(&q.id),
            Some(6_900_100_001)
        );
    }
}
