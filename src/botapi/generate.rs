//! Values of any type the description names, for the results no handler writes by hand: an
//! object has its required fields, each a plausible value for its type and name (ids, dates of
//! now, names, a subtype's fixed `type`); a union is its most ordinary subtype; an array has one
//! item. A value the call gave for a field of the same name is echoed (a poll's question, a
//! location's latitude, an invite link's name). Files are the built-in ones where the type is one
//! the stand-in has bytes for (`telegram::media`), so a bot can download them.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::spec::{Field, Spec, Ty, spec};
use crate::telegram::build::unix_now;
use crate::telegram::media;

/// Past this depth an object is left empty. No type of the description needs it (a test
/// generates every type); it stops a future cycle of required fields from recursing forever.
const MAX_DEPTH: usize = 12;
/// Echoed values go this deep: a venue's location takes the call's latitude, but nothing far
/// below the result is mistaken for the call's parameter of the same name.
const ECHO_DEPTH: usize = 2;

/// The subtype a union is generated as, where the first one listed is not the most ordinary.
const PREFERRED: [(&str, &str); 2] = [
    ("ChatMember", "ChatMemberMember"),
    ("PaidMedia", "PaidMediaPhoto"),
];

/// File-id prefixes of the kinds the stand-in has no bytes for, as Telegram's look.
const FILE_PREFIXES: [(&str, &str); 6] = [
    ("Video", "BAACAgIAAxkBAAI"),
    ("LivePhoto", "BAACAgIAAxkBAAI"),
    ("Audio", "CQACAgIAAxkBAAI"),
    ("Animation", "CgACAgIAAxkBAAI"),
    ("Sticker", "CAACAgIAAxkBAAI"),
    ("VideoNote", "DQACAgIAAxkBAAI"),
];

/// Generates values; one per answer.
pub struct Gen<'a> {
    spec: &'static Spec,
    rng: SmallRng,
    now: i64,
    /// The call's parameters, normalized, for echoing.
    echo: &'a [(&'a str, Value)],
    /// The chat the answer is about, if any: `Chat` objects are this one.
    chat: Option<i64>,
    /// Whether an object was left empty at [`MAX_DEPTH`].
    truncated: bool,
}

impl<'a> Gen<'a> {
    pub fn new(seed: u64, echo: &'a [(&'a str, Value)], chat: Option<i64>) -> Self {
        Self {
            spec: spec(),
            rng: SmallRng::seed_from_u64(seed),
            now: unix_now(),
            echo,
            chat,
            truncated: false,
        }
    }

    /// A value of the first of `types` (a method's `returns` lists Message before True); a
    /// method that returns a Boolean returns True, on success.
    pub fn of(&mut self, types: &[Ty]) -> Value {
        match types.first() {
            None | Some(Ty::Boolean) => Value::Bool(true),
            Some(t) => self.ty(t, "", None, 0),
        }
    }

    /// An object of the named type.
    pub fn object(&mut self, name: &str) -> Value {
        self.named(name, 0)
    }

    /// A chat as Telegram shows it: private for positive ids, a supergroup for negative ones.
    pub fn chat(&self, id: i64) -> Value {
        if id > 0 {
            json!({"id": id, "type": "private", "first_name": "Anna"})
        } else {
            json!({"id": id, "type": "supergroup", "title": "Stress test group"})
        }
    }

    /// A user who is not a bot.
    pub fn user(&self, id: i64) -> Value {
        json!({"id": id, "is_bot": false, "first_name": "Anna", "username": format!("user_{}", id % 1_000_000)})
    }

    fn ty(&mut self, ty: &Ty, owner: &str, field: Option<&Field>, depth: usize) -> Value {
        let name = field.map_or("", |f| f.name.as_str());
        match ty {
            Ty::Integer => json!(self.integer(name)),
            Ty::Float => json!(self.float(name)),
            Ty::Boolean => Value::Bool(false),
            Ty::String | Ty::InputFile => Value::String(self.string(owner, field)),
            Ty::Array(item) => Value::Array(vec![self.ty(item, owner, field, depth + 1)]),
            Ty::Named(n) => self.named(n, depth),
        }
    }

    fn named(&mut self, name: &str, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            self.truncated = true;
            return Value::Object(Map::new());
        }
        match name {
            "User" => {
                let id = 6_900_100_000 + self.rng.random_range(0..1_000_000);
                return self.user(id);
            }
            "Chat" => {
                let id = self.chat.unwrap_or(6_900_100_001);
                return self.chat(id);
            }
            "PhotoSize" => return to_value(&media::largest_photo_size(&mut self.rng)),
            "Voice" => return to_value(&media::voice(&mut self.rng)),
            "Document" => return to_value(&media::document(&mut self.rng)),
            _ => {}
        }
        let spec = self.spec;
        let Some(def) = spec.type_def(name) else {
            return Value::Object(Map::new());
        };
        if !def.subtypes.is_empty() {
            let preferred = PREFERRED.iter().find(|(union, _)| *union == name);
            let sub = match preferred {
                Some((_, sub)) => Ty::Named((*sub).to_string()),
                None => def.subtypes[0].clone(),
            };
            return self.ty(&sub, name, None, depth + 1);
        }
        let mut object = Map::new();
        for f in &def.fields {
            if let Some(v) = self.echoed(f, depth) {
                object.insert(f.name.clone(), v);
            } else if f.required {
                let ty = &f.types[0];
                let v = self.ty(ty, name, Some(f), depth + 1);
                object.insert(f.name.clone(), v);
            }
        }
        // Derived from the file id, as getFile derives it (see media::unique_id).
        if let (Some(Value::String(id)), true) =
            (object.get("file_id"), object.contains_key("file_unique_id"))
        {
            let unique = media::unique_id(id);
            object.insert("file_unique_id".into(), Value::String(unique));
        }
        Value::Object(object)
    }

    /// The call's value for `f`, if it gave one of the field's type.
    fn echoed(&self, f: &Field, depth: usize) -> Option<Value> {
        if depth > ECHO_DEPTH || f.fixed.is_some() {
            return None;
        }
        let (_, v) = self.echo.iter().find(|(n, _)| *n == f.name)?;
        f.types.iter().any(|t| fits(v, t)).then(|| v.clone())
    }

    fn integer(&mut self, name: &str) -> i64 {
        match name {
            "date" => self.now,
            n if n.ends_with("_date") => self.now + 3600,
            "chat_id" | "user_chat_id" => self.chat.unwrap_or(6_900_100_001),
            "user_id" => 6_900_100_000 + self.rng.random_range(0..1_000_000),
            // Telegram's accent colors are numbered 0-20.
            n if n.ends_with("color_id") => self.rng.random_range(0..7),
            n if n == "id" || n.ends_with("_id") => self.rng.random_range(1..1_000_000),
            "duration" => 5,
            "width" => 640,
            "height" => 360,
            "file_size" => self.rng.random_range(1_000..100_000),
            "value" => self.rng.random_range(1..=6),
            "offset" | "position" => 0,
            n if n.ends_with("count") || n == "amount" || n.ends_with("_amount") => 1,
            _ => 1,
        }
    }

    fn float(&mut self, name: &str) -> f64 {
        match name {
            "latitude" => 51.5074,
            "longitude" => -0.1278,
            _ => 1.0,
        }
    }

    fn string(&mut self, owner: &str, field: Option<&Field>) -> String {
        let Some(f) = field else {
            return "stress".into();
        };
        if let Some(fixed) = &f.fixed {
            return fixed.clone();
        }
        if let Some(first) = f.one_of.first() {
            return first.clone();
        }
        let name = f.name.as_str();
        match name {
            "file_id" => {
                let prefix = FILE_PREFIXES
                    .iter()
                    .find(|(t, _)| *t == owner)
                    .map_or("BQACAgIAAxkBAAI", |(_, p)| p);
                media::unstored_id(&mut self.rng, prefix)
            }
            n if n.ends_with("file_id") => media::unstored_id(&mut self.rng, "AgACAgIAAxkBAAI"),
            "first_name" => "Anna".into(),
            "last_name" => "Smith".into(),
            "username" => "stress_user".into(),
            "title" => "Stress test".into(),
            "name" => "stress".into(),
            "emoji" => "🎲".into(),
            "currency" => "XTR".into(),
            "language_code" => "en".into(),
            "mime_type" => "application/octet-stream".into(),
            "invite_link" => format!("https://t.me/+{}", self.token(16)),
            n if n == "url" || n.ends_with("_url") => "https://t.me/stress_demo_bot".into(),
            n if n == "id" || n.ends_with("_id") => self.token(16),
            _ => "stress".into(),
        }
    }

    /// Random letters and digits, as in links and tokens.
    pub fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect()
    }
}

/// Whether a normalized value is of a scalar type (or an array of them); only those are echoed.
fn fits(v: &Value, ty: &Ty) -> bool {
    match (ty, v) {
        (Ty::Integer, Value::Number(n)) => n.is_i64(),
        (Ty::Float, Value::Number(_)) => true,
        (Ty::String, Value::String(_)) | (Ty::Boolean, Value::Bool(_)) => true,
        (Ty::Array(item), Value::Array(items)) => {
            !matches!(**item, Ty::Named(_) | Ty::Array(_)) && items.iter().all(|i| fits(i, item))
        }
        _ => false,
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("Bot API types serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `v` has every required field of `ty`, recursively, with the JSON kind of its type.
    fn conforms(v: &Value, ty: &Ty) -> Result<(), String> {
        let spec = spec();
        match (ty, v) {
            (Ty::Integer, Value::Number(n)) if n.is_i64() => Ok(()),
            (Ty::Float, Value::Number(_)) => Ok(()),
            (Ty::String | Ty::InputFile, Value::String(_)) => Ok(()),
            (Ty::Boolean, Value::Bool(_)) => Ok(()),
            (Ty::Array(item), Value::Array(items)) => {
                items.iter().try_for_each(|i| conforms(i, item))
            }
            (Ty::Named(name), _) => {
                let def = spec.type_def(name).ok_or(format!("no type {name}"))?;
                if !def.subtypes.is_empty() {
                    return match def.subtypes.iter().find(|s| conforms(v, s).is_ok()) {
                        Some(_) => Ok(()),
                        None => Err(format!("{v} is no subtype of {name}")),
                    };
                }
                let Value::Object(o) = v else {
                    return Err(format!("{name}: {v} is not an object"));
                };
                for f in &def.fields {
                    match o.get(&f.name) {
                        None if f.required => return Err(format!("{name}.{} is missing", f.name)),
                        None => {}
                        Some(x) => {
                            if let Some(fixed) = &f.fixed {
                                if x != fixed {
                                    return Err(format!("{name}.{}: {x} is not {fixed}", f.name));
                                }
                            }
                            if !f.types.iter().any(|t| conforms(x, t).is_ok()) {
                                let why = conforms(x, &f.types[0]).unwrap_err();
                                return Err(format!("{name}.{}: {why}", f.name));
                            }
                        }
                    }
                }
                Ok(())
            }
            _ => Err(format!("{v} is not {ty}")),
        }
    }

    #[test]
    fn every_type_generates_with_its_required_fields() {
        for def in &spec().types {
            let mut g = Gen::new(7, &[], Some(42));
            let v = g.object(&def.name);
            assert!(!g.truncated, "{} is nested past {MAX_DEPTH}", def.name);
            if def.name != "InputFile" {
                conforms(&v, &Ty::Named(def.name.clone())).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn unions_and_files_are_the_ordinary_ones() {
        let mut g = Gen::new(1, &[], Some(-100));
        let member = g.object("ChatMember");
        assert_eq!(member["status"], "member");
        assert_eq!(member["user"]["is_bot"], false);
        let origin = g.object("MessageOrigin");
        assert_eq!(origin["type"], "user");
        assert_eq!(g.object("BackgroundType")["type"], "fill");
        let story = g.object("Story");
        assert_eq!(story["chat"]["id"], -100);
        assert_eq!(story["chat"]["type"], "supergroup");
        // A photo is a built-in file; a video is a made-up one, its unique id derived from its id.
        let photos = g.object("UserProfilePhotos");
        let size = &photos["photos"][0][0];
        let id = size["file_id"].as_str().unwrap();
        assert!(matches!(media::lookup(id), Some(media::FileRef::Sample(_))));
        let video = g.object("Video");
        let id = video["file_id"].as_str().unwrap();
        assert!(id.starts_with("BAAC"), "{id}");
        assert_eq!(media::lookup(id), Some(media::FileRef::Unstored));
        assert_eq!(video["file_unique_id"], media::unique_id(id));
        assert_eq!(
            g.object("ChatFullInfo")["accepted_gift_types"]["unique_gifts"],
            false
        );
    }

    #[test]
    fn the_calls_values_are_echoed_where_the_names_and_types_match() {
        let echo = [
            ("question", json!("Tea or coffee?")),
            ("latitude", json!(48.85)),
            ("title", json!(12)),
            ("name", json!("the link")),
        ];
        let mut g = Gen::new(1, &echo, None);
        assert_eq!(g.object("Poll")["question"], "Tea or coffee?");
        let venue = g.object("Venue");
        assert_eq!(venue["location"]["latitude"], 48.85, "{venue}");
        assert_eq!(venue["title"], "Stress test", "a number is no title");
        assert_eq!(
            g.object("ChatInviteLink")["name"],
            "the link",
            "optional, but given"
        );
        assert_eq!(
            g.object("ChatMemberMember")["status"],
            "member",
            "fixed values stay"
        );
    }
}
