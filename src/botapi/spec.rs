//! The Bot API as data: every method's parameters and result, every type's fields and subtypes,
//! from the description in `data/botapi/api.json`. That file is trimmed from
//! PaulSonOfLars/telegram-bot-api-spec (MIT; notice in `data/botapi/LICENSE`) by
//! `tools/trim-botapi-spec.py`, which also records the version, source and commit; a new API
//! version is one run of it. Parsed once, on first use, and kept for the program's life, so
//! names borrowed from it are `&'static str`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const DESCRIPTION: &str = include_str!("../../data/botapi/api.json");

/// The whole description.
#[derive(Debug, Deserialize)]
pub struct Spec {
    /// "Bot API 10.1".
    pub version: String,
    pub release_date: String,
    pub source: String,
    pub commit: String,
    pub methods: Vec<Method>,
    pub types: Vec<TypeDef>,
    /// Lower-cased method name → index in `methods`.
    #[serde(skip)]
    method_index: HashMap<String, usize>,
    #[serde(skip)]
    type_index: HashMap<String, usize>,
}

/// One method: its parameters and what it returns (one of `returns`, e.g. Message or True).
#[derive(Debug, Deserialize)]
pub struct Method {
    pub name: String,
    pub fields: Vec<Field>,
    pub returns: Vec<Ty>,
}

/// A method's parameter or an object's field.
#[derive(Debug, Deserialize)]
pub struct Field {
    pub name: String,
    /// Any of these; `["Integer", "String"]` for a chat id.
    pub types: Vec<Ty>,
    pub required: bool,
    /// The one value the field takes (a subtype's `type`: "photo", "member").
    #[serde(rename = "const", default)]
    pub fixed: Option<String>,
    /// The values the documentation lists for a string field.
    #[serde(default)]
    pub one_of: Vec<String>,
}

/// An object type: its fields, or the subtypes it is one of (ChatMember, InputMedia).
#[derive(Debug, Deserialize)]
pub struct TypeDef {
    pub name: String,
    pub fields: Vec<Field>,
    #[serde(default)]
    pub subtypes: Vec<Ty>,
}

/// A type expression of the description.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum Ty {
    Integer,
    Float,
    String,
    /// `Boolean`, and `True` where the documentation says a method returns True.
    Boolean,
    /// A file uploaded in a multipart body.
    InputFile,
    Array(Box<Ty>),
    /// An object type, by name.
    Named(String),
}

impl From<String> for Ty {
    fn from(s: String) -> Ty {
        match s.as_str() {
            "Integer" | "Int" => Ty::Integer,
            "Float" | "Float number" => Ty::Float,
            "String" => Ty::String,
            "Boolean" | "True" | "False" => Ty::Boolean,
            "InputFile" => Ty::InputFile,
            _ => match s.strip_prefix("Array of ") {
                Some(item) => Ty::Array(Box::new(Ty::from(item.to_string()))),
                None => Ty::Named(s),
            },
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Integer => f.write_str("Integer"),
            Ty::Float => f.write_str("Float"),
            Ty::String => f.write_str("String"),
            Ty::Boolean => f.write_str("Boolean"),
            Ty::InputFile => f.write_str("InputFile"),
            Ty::Array(item) => write!(f, "Array of {item}"),
            Ty::Named(name) => f.write_str(name),
        }
    }
}

/// The description, parsed on first use.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec: Spec =
            serde_json::from_str(DESCRIPTION).expect("data/botapi/api.json is valid");
        spec.method_index = (spec.methods.iter().enumerate())
            .map(|(i, m)| (m.name.to_ascii_lowercase(), i))
            .collect();
        spec.type_index = (spec.types.iter().enumerate())
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        spec
    })
}

impl Spec {
    /// The method called `name`, in any case (Telegram matches method names so).
    pub fn method(&self, name: &str) -> Option<&Method> {
        self.method_index(name).map(|i| &self.methods[i])
    }

    /// The index of the method called `name` (in any case) in `methods`.
    pub fn method_index(&self, name: &str) -> Option<usize> {
        self.method_index.get(&name.to_ascii_lowercase()).copied()
    }

    /// The object type called `name` (exact case).
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.type_index.get(name).map(|&i| &self.types[i])
    }
}

impl Method {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl TypeDef {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_whole() {
        let s = spec();
        assert!(s.version.starts_with("Bot API "), "{}", s.version);
        assert_eq!(s.commit.len(), 40);
        assert!(s.methods.len() > 150 && s.types.len() > 250);
        let send = s.method("SENDMESSAGE").unwrap();
        assert_eq!(send.name, "sendMessage");
        assert_eq!(send.returns, [Ty::Named("Message".into())]);
        let chat_id = send.field("chat_id").unwrap();
        assert!(chat_id.required);
        assert_eq!(chat_id.types, [Ty::Integer, Ty::String]);
        assert_eq!(s.method("noSuchMethod").map(|m| &m.name), None);
        // Every named type a method or a field mentions is described.
        let mut named = Vec::new();
        fn names<'a>(ty: &'a Ty, out: &mut Vec<&'a str>) {
            match ty {
                Ty::Array(item) => names(item, out),
                Ty::Named(n) => out.push(n),
                _ => {}
            }
        }
        for m in &s.methods {
            m.returns.iter().for_each(|t| names(t, &mut named));
            m.fields
                .iter()
                .flat_map(|f| &f.types)
                .for_each(|t| names(t, &mut named));
        }
        for t in &s.types {
            t.fields
                .iter()
                .flat_map(|f| &f.types)
                .for_each(|t| names(t, &mut named));
            t.subtypes.iter().for_each(|t| names(t, &mut named));
        }
        for n in named {
            assert!(s.type_def(n).is_some(), "{n} is not described");
        }
    }

    #[test]
    fn subtypes_carry_their_fixed_type() {
        let s = spec();
        let photo = s.type_def("InputMediaPhoto").unwrap();
        assert_eq!(photo.field("type").unwrap().fixed.as_deref(), Some("photo"));
        let member = s.type_def("ChatMemberMember").unwrap();
        assert_eq!(
            member.field("status").unwrap().fixed.as_deref(),
            Some("member")
        );
        let chat = s.type_def("Chat").unwrap();
        assert_eq!(chat.field("type").unwrap().one_of[0], "private");
        assert!(!s.type_def("ChatMember").unwrap().subtypes.is_empty());
        assert_eq!(
            Ty::from("Array of Array of PhotoSize".to_string()).to_string(),
            "Array of Array of PhotoSize"
        );
    }
}
