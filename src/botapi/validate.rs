//! A call's parameters checked against the description, for the methods answered from it: each
//! required one present, each of its documented type (numbers and booleans may come as text, as
//! urlencoded and multipart bodies carry them; arrays and objects as JSON text), objects with
//! their required fields and a subtype's fixed `type`, `attach://` names among the uploaded parts.
//! The values come back normalized (numbers as numbers, JSON as values) whatever the encoding,
//! for the answers to echo. Unknown parameters and fields are let through, as Telegram does.

use serde_json::{Map, Value};

use super::ApiError;
use super::params::Params;
use super::spec::{Field, Method, Ty, spec};

/// Nesting past this is refused (no Bot API object is nested half as deep).
const MAX_DEPTH: usize = 32;

/// A call's parameters the method knows, normalized.
#[derive(Debug)]
pub struct Checked(pub Vec<(&'static str, Value)>);

impl Checked {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
}

/// Checks `p` against `method`'s parameters.
pub fn check(method: &'static Method, p: &Params) -> Result<Checked, ApiError> {
    let mut checked = Vec::with_capacity(method.fields.len());
    for field in &method.fields {
        let value = p
            .get(&field.name)
            .filter(|v| !matches!(v, Value::String(s) if s.is_empty()));
        match value {
            None if field.required => return Err(missing(field)),
            None => {}
            Some(v) => {
                let v = top_level(v, field, p).map_err(ApiError::bad_request)?;
                checked.push((field.name.as_str(), v));
            }
        }
    }
    Ok(Checked(checked))
}

/// Telegram's words for a missing parameter, where it has its own; each names the parameter
/// (the message ids in Telegram's way).
fn missing(field: &Field) -> ApiError {
    let name = field.name.as_str();
    ApiError::bad_request(match name {
        "chat_id" => "chat_id is empty".to_string(),
        "text" => "message text is empty".to_string(),
        "message_id" => "message identifier is not specified".to_string(),
        "message_ids" => "message identifiers are not specified".to_string(),
        _ if field.types.contains(&Ty::InputFile) => format!("there is no {name} in the request"),
        _ => format!("{name} is empty"),
    })
}

/// A parameter's value as its type, normalized; the error names the parameter.
fn top_level(v: &Value, field: &Field, p: &Params) -> Result<Value, String> {
    let name = field.name.as_str();
    let scalar = |t: &Ty| matches!(t, Ty::Integer | Ty::Float | Ty::String | Ty::Boolean);
    let scalars_only = field.types.iter().all(scalar);
    let textual = (field.types.iter()).any(|t| matches!(t, Ty::String | Ty::InputFile));
    // Arrays and objects come as JSON text in urlencoded and multipart bodies.
    let parsed;
    let v = match v {
        Value::String(s) if !textual && !scalars_only => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|_| format!("can't parse {name} JSON object"))?;
            &parsed
        }
        v => v,
    };
    any_of(v, &field.types, name, p, 0).map_err(|e| {
        if scalars_only {
            format!("{name} is not a valid {}", types_text(&field.types))
        } else {
            e
        }
    })
}

fn types_text(types: &[Ty]) -> String {
    let names: Vec<String> = types.iter().map(Ty::to_string).collect();
    names.join(" or ")
}

/// A part of a multipart body that was a file (see `Params::multipart`).
fn is_upload(v: &Value) -> bool {
    v.get("upload") == Some(&Value::Bool(true))
}

/// The value as the first of `types` it fits, normalized; else the error of the closest one.
fn any_of(v: &Value, types: &[Ty], path: &str, p: &Params, depth: usize) -> Result<Value, String> {
    if types.len() == 1 {
        return one(v, &types[0], path, p, depth);
    }
    // "Array of InputMediaPhoto or Array of InputMediaVideo": Telegram takes an album that
    // mixes them, so each item may be any of the item types.
    let items: Option<Vec<Ty>> = (types.iter())
        .map(|t| match t {
            Ty::Array(item) => Some((**item).clone()),
            _ => None,
        })
        .collect();
    if let (Some(items), Value::Array(values)) = (items, v) {
        return (values.iter().enumerate())
            .map(|(i, x)| any_of(x, &items, &format!("{path}[{i}]"), p, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    let mut order: Vec<&Ty> = types.iter().collect();
    // For an object, the candidate whose fields it uses most (and whose fixed `type` it has)
    // is tried first, and its error is the one reported.
    order.sort_by_key(|t| std::cmp::Reverse(closeness(v, t)));
    let mut first_error = None;
    for t in order {
        match one(v, t, path, p, depth) {
            Ok(v) => return Ok(v),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| format!("{path} is empty")))
}

fn closeness(v: &Value, ty: &Ty) -> usize {
    let (Value::Object(o), Ty::Named(name)) = (v, ty) else {
        return 0;
    };
    let Some(def) = spec().type_def(name) else {
        return 0;
    };
    let uses = o.keys().filter(|k| def.field(k).is_some()).count();
    let fixed_match = def.fields.iter().all(|f| match &f.fixed {
        Some(fixed) => o.get(&f.name).and_then(Value::as_str) == Some(fixed),
        None => true,
    });
    uses + if fixed_match { 100 } else { 0 }
}

fn one(v: &Value, ty: &Ty, path: &str, p: &Params, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path} is nested too deeply"));
    }
    match ty {
        Ty::Integer => integer(v).ok_or_else(|| format!("{path} must be an Integer")),
        Ty::Float => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => (s.trim().parse::<f64>().ok())
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .ok_or_else(|| format!("{path} must be a Float")),
            _ => Err(format!("{path} must be a Float")),
        },
        Ty::Boolean => boolean(v).ok_or_else(|| format!("{path} must be a Boolean")),
        Ty::String => match v {
            // Inside a JSON value a file is named as `attach://<part>` in a String field.
            Value::String(s) if depth > 0 => attached(s, path, p).map(|()| v.clone()),
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(format!("{path} must be a String")),
        },
        Ty::InputFile => match v {
            _ if is_upload(v) => Ok(v.clone()),
            // Inside a JSON value a file can only be named: `attach://<part>`.
            Value::String(s) if depth > 0 || s.starts_with("attach://") => {
                attached(s, path, p).map(|()| v.clone())
            }
            _ => Err(format!("{path} must be uploaded as an InputFile")),
        },
        Ty::Array(item) => match v {
            Value::Array(items) => (items.iter().enumerate())
                .map(|(i, x)| one(x, item, &format!("{path}[{i}]"), p, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(format!("{path} must be an Array")),
        },
        Ty::Named(name) => object(v, name, path, p, depth),
    }
}

fn object(v: &Value, name: &str, path: &str, p: &Params, depth: usize) -> Result<Value, String> {
    // Telegram takes a keyboard button given as its text.
    if name == "KeyboardButton" && v.is_string() {
        return Ok(v.clone());
    }
    let Some(def) = spec().type_def(name) else {
        return Ok(v.clone());
    };
    if !def.subtypes.is_empty() {
        return any_of(v, &def.subtypes, path, p, depth + 1);
    }
    if def.fields.is_empty() {
        return Ok(v.clone());
    }
    let Value::Object(o) = v else {
        return Err(format!("{path} must be an Object ({name})"));
    };
    let mut out = Map::with_capacity(o.len());
    for (key, value) in o {
        let checked = match def.field(key) {
            Some(_) if value.is_null() => continue,
            Some(f) => field(value, f, &format!("{path}.{key}"), p, depth)?,
            None => value.clone(),
        };
        out.insert(key.clone(), checked);
    }
    for f in &def.fields {
        if f.required && !out.contains_key(&f.name) {
            return Err(format!("{path}.{} is required", f.name));
        }
    }
    Ok(Value::Object(out))
}

fn field(v: &Value, f: &Field, path: &str, p: &Params, depth: usize) -> Result<Value, String> {
    if let Some(fixed) = &f.fixed {
        if v.as_str() != Some(fixed) {
            return Err(format!("{path} must be \"{fixed}\""));
        }
    }
    any_of(v, &f.types, path, p, depth + 1)
}

/// An `attach://<part>` must name a file part of the body.
fn attached(s: &str, path: &str, p: &Params) -> Result<(), String> {
    match s.strip_prefix("attach://") {
        Some(part) if !p.get(part).is_some_and(is_upload) => {
            Err(format!("{path}: there is no file {part} in the request"))
        }
        _ => Ok(()),
    }
}

fn integer(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) if n.is_i64() => Some(v.clone()),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| Value::from(f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok().map(Value::from),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<Value> {
    let b = match v {
        Value::Bool(b) => *b,
        Value::Number(n) => match n.as_i64()? {
            0 => false,
            1 => true,
            _ => return None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return None,
        },
        _ => return None,
    };
    Some(Value::Bool(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, Value)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn call(method: &str, pairs: &[(&str, Value)]) -> Result<Checked, String> {
        let m = spec().method(method).unwrap();
        check(m, &params(pairs)).map_err(|e| e.description)
    }

    #[test]
    fn required_parameters_and_their_types() {
        let ok = call(
            "banChatMember",
            &[
                ("chat_id", json!("-100")),
                ("user_id", json!("42")),
                ("revoke_messages", json!("true")),
            ],
        )
        .unwrap();
        assert_eq!(ok.get("chat_id"), Some(&json!(-100)), "normalized");
        assert_eq!(ok.get("user_id"), Some(&json!(42)));
        assert_eq!(ok.get("revoke_messages"), Some(&json!(true)));
        assert_eq!(
            call("banChatMember", &[("chat_id", json!(1))]).unwrap_err(),
            "Bad Request: user_id is empty"
        );
        assert_eq!(
            call(
                "banChatMember",
                &[("chat_id", json!(1)), ("user_id", json!("x"))]
            )
            .unwrap_err(),
            "Bad Request: user_id is not a valid Integer"
        );
        assert_eq!(
            call(
                "setChatTitle",
                &[("chat_id", json!(1)), ("title", json!({"a": 1}))]
            )
            .unwrap_err(),
            "Bad Request: title is not a valid String"
        );
        assert_eq!(
            call("getChat", &[("chat_id", json!([1]))]).unwrap_err(),
            "Bad Request: chat_id is not a valid Integer or String"
        );
        assert_eq!(
            call(
                "copyMessage",
                &[("chat_id", json!(1)), ("from_chat_id", json!(1))]
            )
            .unwrap_err(),
            "Bad Request: message identifier is not specified"
        );
    }

    #[test]
    fn structured_parameters_as_json_text_or_values() {
        let commands = r#"[{"command":"start","description":"Start"}]"#;
        let ok = call("setMyCommands", &[("commands", json!(commands))]).unwrap();
        assert_eq!(ok.get("commands").unwrap()[0]["command"], "start");
        let e = call("setMyCommands", &[("commands", json!("[{"))]).unwrap_err();
        assert_eq!(e, "Bad Request: can't parse commands JSON object");
        let e = call(
            "setMyCommands",
            &[("commands", json!([{"command": "start"}]))],
        )
        .unwrap_err();
        assert_eq!(e, "Bad Request: commands[0].description is required");
        let e = call("setMyCommands", &[("commands", json!({"command": "a"}))]).unwrap_err();
        assert_eq!(e, "Bad Request: commands must be an Array");
        // A union: the subtype is the one whose fixed type the value has.
        let scope = json!({"type": "chat", "chat_id": "5"});
        let ok = call("deleteMyCommands", &[("scope", scope)]).unwrap();
        assert_eq!(ok.get("scope").unwrap()["chat_id"], 5);
        let e = call("deleteMyCommands", &[("scope", json!({"type": "chat"}))]).unwrap_err();
        assert_eq!(e, "Bad Request: scope.chat_id is required");
        // Keyboards: any of four types; a reply keyboard's buttons may be bare text.
        let keyboard = json!({"keyboard": [["Yes", {"text": "No"}]]});
        call(
            "sendDice",
            &[("chat_id", json!(1)), ("reply_markup", keyboard)],
        )
        .unwrap();
        let e = call(
            "sendDice",
            &[
                ("chat_id", json!(1)),
                ("reply_markup", json!({"inline_keyboard": [[{"x": 1}]]})),
            ],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "Bad Request: reply_markup.inline_keyboard[0][0].text is required"
        );
    }

    #[test]
    fn files_are_named_uploaded_or_attached() {
        let upload =
            json!({"upload": true, "file_name": "a.mp4", "mime_type": null, "file_size": 3});
        call(
            "sendVideo",
            &[("chat_id", json!(1)), ("video", json!("BAACAgIAAxk"))],
        )
        .unwrap();
        call(
            "sendVideo",
            &[("chat_id", json!(1)), ("video", upload.clone())],
        )
        .unwrap();
        assert_eq!(
            call("sendVideo", &[("chat_id", json!(1))]).unwrap_err(),
            "Bad Request: there is no video in the request"
        );
        assert_eq!(
            call(
                "setChatPhoto",
                &[("chat_id", json!(1)), ("photo", json!("AgAC"))]
            )
            .unwrap_err(),
            "Bad Request: photo must be uploaded as an InputFile"
        );
        call(
            "setChatPhoto",
            &[("chat_id", json!(1)), ("photo", upload.clone())],
        )
        .unwrap();
        let media =
            json!([{"type": "photo", "media": "attach://p1"}, {"type": "photo", "media": "AgAC"}]);
        call(
            "sendMediaGroup",
            &[
                ("chat_id", json!(1)),
                ("media", media.clone()),
                ("p1", upload),
            ],
        )
        .unwrap();
        let e = call("sendMediaGroup", &[("chat_id", json!(1)), ("media", media)]).unwrap_err();
        assert_eq!(
            e,
            "Bad Request: media[0].media: there is no file p1 in the request"
        );
        let e = call(
            "sendMediaGroup",
            &[
                ("chat_id", json!(1)),
                ("media", json!([{"type": "sticker", "media": "x"}])),
            ],
        )
        .unwrap_err();
        assert!(e.starts_with("Bad Request: media[0]"), "{e}");
    }
}
