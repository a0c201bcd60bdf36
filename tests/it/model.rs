//! Every update kind we generate parses with a maintained Telegram types crate (frankenstein),
//! and entity offsets are right in UTF-16 for emoji, Cyrillic and CJK.

use std::sync::Arc;

use frankenstein::types::{MaybeInaccessibleMessage, MessageEntityType};
use frankenstein::updates::{Update as FUpdate, UpdateContent};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use stress::telegram::build::MediaKind;
use stress::telegram::ids::ChatMessageIds;
use stress::telegram::{Sender, Tier, TierPools, Update, UpdateFactory, UpdateIds};

fn factory(seed: u64) -> (UpdateFactory, SmallRng) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let id = TierPools::default().id(Tier::User, seed % 1000).unwrap();
    let sender = Sender::generate(id, Tier::User, &mut rng);
    let ids = Arc::new(UpdateIds::unsharded());
    (
        UpdateFactory::new(ids, Arc::new(ChatMessageIds::default()), sender),
        rng,
    )
}

fn parse(update: &Update) -> FUpdate {
    let json = serde_json::to_string(update).unwrap();
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("frankenstein rejects {json}: {e}"))
}

fn message(u: &FUpdate) -> &frankenstein::types::Message {
    match &u.content {
        UpdateContent::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The text an entity covers, cut in UTF-16 as Telegram clients do.
fn covered(text: &str, offset: u16, length: u16) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    String::from_utf16(&units[offset as usize..(offset + length) as usize]).unwrap()
}

#[test]
fn every_kind_parses_with_frankenstein() {
    for seed in 0..50 {
        let (mut f, mut rng) = factory(seed);
        let text = f.text("hello 👋 мир").unwrap();
        let m = parse(&text);
        assert_eq!(message(&m).text.as_deref(), Some("hello 👋 мир"));

        let cmd = f.command("/translate", "ja 日本語のテキスト 😀").unwrap();
        let fm = parse(&cmd);
        let e = &message(&fm).entities.as_ref().unwrap()[0];
        assert_eq!(e.type_field, MessageEntityType::BotCommand);
        assert_eq!((e.offset, e.length), (0, 10));

        let voice = parse(&f.media(MediaKind::Voice, None, &mut rng).unwrap());
        let v = message(&voice).voice.as_ref().unwrap();
        assert!(v.duration > 0 && v.file_id.len() > 40);

        let photo = parse(
            &f.media(MediaKind::Photo, Some("фото 📷"), &mut rng)
                .unwrap(),
        );
        let sizes = message(&photo).photo.as_ref().unwrap();
        assert!(sizes.len() >= 3);
        assert!(
            sizes
                .windows(2)
                .all(|w| w[0].width <= w[1].width && w[0].height <= w[1].height)
        );
        assert_eq!(message(&photo).caption.as_deref(), Some("фото 📷"));

        let doc = parse(&f.media(MediaKind::Document, None, &mut rng).unwrap());
        let d = message(&doc).document.as_ref().unwrap();
        assert!(d.file_name.is_some() && d.mime_type.is_some() && d.file_size.is_some());

        let on = cmd.message.as_ref().unwrap();
        let cb = parse(&f.callback(on, "mode:code").unwrap());
        let UpdateContent::CallbackQuery(q) = &cb.content else {
            panic!("not a callback")
        };
        assert_eq!(q.data.as_deref(), Some("mode:code"));
        assert!(!q.chat_instance.is_empty());
        assert!(matches!(
            q.message,
            Some(MaybeInaccessibleMessage::Message(_))
        ));
        // update_ids increase by one per update.
        assert_eq!(cb.update_id, text.update_id as u32 + 5);
    }
}

fn unicode_word() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec!["😀", "👍🏽", "🇺🇦", "👨‍👩‍👧", "🤖"]),
            prop::sample::select(vec!["привет", "Ёж", "мир", "Щука"]),
            prop::sample::select(vec!["日本語", "中文", "한국어", "テスト"]),
            prop::sample::select(vec!["abc", "x", "Zoë", "naïve"]),
        ],
        1..4,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn command_entity_covers_the_command(name in "[a-z][a-z0-9_]{0,20}", args in prop::collection::vec(unicode_word(), 0..5)) {
        let (mut f, _) = factory(7);
        let update = f.command(&name, &args.join(" ")).unwrap();
        let parsed = parse(&update);
        let m = message(&parsed);
        let text = m.text.as_deref().unwrap();
        let e = &m.entities.as_ref().unwrap()[0];
        prop_assert_eq!(e.offset, 0);
        prop_assert_eq!(covered(text, e.offset, e.length), format!("/{name}"));
    }

    #[test]
    fn commands_inside_text_are_measured_in_utf16(
        words in prop::collection::vec(prop_oneof![unicode_word(), "/[a-z]{1,8}".prop_map(String::from)], 1..10)
    ) {
        let (mut f, _) = factory(9);
        let text = words.join(" ");
        let parsed = parse(&f.text(&text).unwrap());
        let m = message(&parsed);
        let commands: Vec<&String> = words.iter().filter(|w| w.starts_with('/')).collect();
        let entities = m.entities.clone().unwrap_or_default();
        prop_assert_eq!(entities.len(), commands.len());
        for (e, word) in entities.iter().zip(commands) {
            prop_assert_eq!(e.type_field, MessageEntityType::BotCommand);
            prop_assert_eq!(&covered(&text, e.offset, e.length), word);
        }
    }
}
