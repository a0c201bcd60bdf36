//! Method parameters as bots send them: a JSON body, an `application/x-www-form-urlencoded` body
//! (nested values as JSON strings), a multipart body (files as parts), or the query string. All
//! four become one set of named JSON values, so a method handler reads `chat_id` the same way
//! whatever the framework sent. A method call has a handful of parameters: they are kept in a
//! vector and found by a linear search, which costs less than a map to build, search and drop
//! (the stand-in reads one from every webhook answer of a run).

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::Bytes;
use serde_json::Value;

use super::ApiError;

/// Largest body the stand-in reads (Telegram accepts uploads up to 50 MB).
pub const MAX_BODY_BYTES: usize = 50 * 1024 * 1024;

/// A method's parameters, normalised to named JSON values; each name once, the last given wins.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, Value)>);

/// Equal when they hold the same names and values, in whatever order.
impl PartialEq for Params {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .all(|(k, v)| other.0.iter().any(|(ok, ov)| ok == k && ov == v))
    }
}

impl FromIterator<(String, Value)> for Params {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut params = Params::default();
        params.extend(iter);
        params
    }
}

/// Names given again replace the values given before.
impl Extend<(String, Value)> for Params {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        self.0.extend(iter);
        self.keep_last();
    }
}

/// A JSON object read straight into [`Params`], without a map in between.
impl<'de> serde::Deserialize<'de> for Params {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> serde::de::Visitor<'de> for Object {
            type Value = Params;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Params, A::Error> {
                let mut params = Params(Vec::with_capacity(map.size_hint().unwrap_or(8)));
                while let Some(entry) = map.next_entry()? {
                    params.0.push(entry);
                }
                params.keep_last();
                Ok(params)
            }
        }
        deserializer.deserialize_map(Object)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("the JSON body is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the JSON body is not an object")]
    NotAnObject,
    #[error("the urlencoded body is not valid: {0}")]
    Form(#[from] serde_urlencoded::de::Error),
    #[error("the multipart body is not valid: {0}")]
    Multipart(#[from] multer::Error),
    #[error("unsupported Content-Type `{0}`")]
    ContentType(String),
}

impl Params {
    /// Parses a request's query string and body; body values win over query values.
    pub async fn parse(
        content_type: Option<&str>,
        query: Option<&str>,
        body: Bytes,
    ) -> Result<Params, ParamsError> {
        let mut params = match query {
            Some(q) if !q.is_empty() => Self::form(q.as_bytes())?,
            _ => Params::default(),
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        let mime = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        let is = |name: &str| mime.eq_ignore_ascii_case(name);
        let parsed = if mime.is_empty() || is("application/json") {
            Self::json(&body)?
        } else if is("application/x-www-form-urlencoded") {
            Self::form(&body)?
        } else if is("multipart/form-data") {
            Self::multipart(content_type.unwrap_or(""), body).await?
        } else {
            return Err(ParamsError::ContentType(mime.to_ascii_lowercase()));
        };
        params.extend(parsed.0);
        Ok(params)
    }

    fn json(body: &[u8]) -> Result<Params, ParamsError> {
        // One UTF-8 check of the whole body, rather than serde_json's check of each string it
        // reads from bytes: the stand-in parses a body from every webhook reply. A body that is
        // not UTF-8 goes through from_slice, for serde_json's own error.
        let parsed = match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        };
        parsed.map_err(|e| match e.classify() {
            // Valid JSON of another type than an object.
            serde_json::error::Category::Data => ParamsError::NotAnObject,
            _ => ParamsError::Json(e),
        })
    }

    fn form(body: &[u8]) -> Result<Params, ParamsError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)?;
        Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect())
    }

    async fn multipart(content_type: &str, body: Bytes) -> Result<Params, ParamsError> {
        let boundary = multer::parse_boundary(content_type)?;
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut fields = Vec::new();
        while let Some(field) = multipart.next_field().await? {
            let Some(name) = field.name().map(str::to_string) else {
                continue;
            };
            let value = match field.file_name().map(str::to_string) {
                Some(file_name) => {
                    let mime = field.content_type().map(|m| m.to_string());
                    let size = field.bytes().await?.len();
                    serde_json::json!({ "upload": true, "file_name": file_name, "mime_type": mime, "file_size": size })
                }
                None => Value::String(field.text().await?),
            };
            fields.push((name, value));
        }
        Ok(fields.into_iter().collect())
    }

    /// Keeps the last value of each name. Linear: a body of up to 50 MB may repeat or hold
    /// millions of names.
    fn keep_last(&mut self) {
        if self.0.len() <= 16 {
            let mut i = self.0.len();
            while i > 0 {
                i -= 1;
                if self.0[i + 1..].iter().any(|(k, _)| *k == self.0[i].0) {
                    self.0.remove(i);
                }
            }
            return;
        }
        let mut seen = HashSet::with_capacity(self.0.len());
        let mut keep: Vec<bool> = self
            .0
            .iter()
            .rev()
            .map(|(k, _)| seen.insert(k.as_str()))
            .collect();
        drop(seen);
        self.0.retain(|_| keep.pop().expect("one flag per entry"));
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// A string parameter (numbers are accepted and printed).
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key).cloned().and_then(scalar_text)
    }

    /// A string parameter, moved out of the parameters (see [`Params::str`]).
    pub fn take_str(&mut self, key: &str) -> Option<String> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        scalar_text(self.0.swap_remove(at).1)
    }

    /// An integer parameter, given as a JSON number or a decimal string.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{key} is not an integer"))),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{key} is not an integer"))),
            Some(_) => Err(ApiError::bad_request(format!("{key} is not an integer"))),
        }
    }

    /// A boolean parameter (`true`, `"true"`, `"1"`).
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        }
    }

    /// A structured parameter as JSON: borrowed, or parsed when it came as a string holding
    /// JSON (urlencoded and multipart bodies carry nested values that way).
    pub fn json_value(&self, key: &str) -> Result<Option<Cow<'_, Value>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(|v| Some(Cow::Owned(v)))
                .map_err(|e| unparsable(key, e)),
            Some(v) => Ok(Some(Cow::Borrowed(v))),
        }
    }

    /// A structured parameter, deserialized (see [`Params::json_value`]).
    pub fn object<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApiError> {
        let Some(value) = self.json_value(key)? else {
            return Ok(None);
        };
        T::deserialize(&*value)
            .map(Some)
            .map_err(|e| unparsable(key, e))
    }

    /// The `chat_id` parameter; Telegram also takes `@username` for channels, which the
    /// stand-in knows no chat for.
    pub fn chat_id(&self) -> Result<i64, ApiError> {
        match self.get("chat_id") {
            None => Err(ApiError::bad_request("chat_id is empty")),
            Some(Value::String(s)) if s.starts_with('@') => {
                Err(ApiError::bad_request("chat not found"))
            }
            Some(_) => self
                .int("chat_id")?
                .ok_or_else(|| ApiError::bad_request("chat_id is empty")),
        }
    }
}

/// The error for a structured parameter that is not what its method takes.
fn unparsable(key: &str, e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("can't parse {key}: {e}"))
}

/// A scalar as text (numbers and booleans printed); nothing for arrays, objects and null.
fn scalar_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_encoding_gives_the_same_params() {
        let json = Params::parse(
            Some("application/json"),
            None,
            Bytes::from_static(
                br#"{"chat_id":5,"text":"hi","reply_markup":{"inline_keyboard":[]}}"#,
            ),
        )
        .await
        .unwrap();
        let form = Params::parse(
            Some("application/x-www-form-urlencoded"),
            None,
            Bytes::from_static(
                b"chat_id=5&text=hi&reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D",
            ),
        )
        .await
        .unwrap();
        let query = Params::parse(None, Some("chat_id=5&text=hi"), Bytes::new())
            .await
            .unwrap();
        for p in [&json, &form, &query] {
            assert_eq!(p.chat_id().unwrap(), 5);
            assert_eq!(p.str("text").as_deref(), Some("hi"));
        }
        let markup: Option<crate::telegram::InlineKeyboardMarkup> =
            form.object("reply_markup").unwrap();
        assert_eq!(markup, Some(Default::default()));
    }

    #[tokio::test]
    async fn a_name_given_twice_keeps_its_last_value_and_the_body_wins_over_the_query() {
        let p = Params::parse(
            None,
            Some("chat_id=1&text=query"),
            Bytes::from_static(br#"{"text":"first","text":"body","chat_id":null}"#),
        )
        .await
        .unwrap();
        assert_eq!(p.str("text").as_deref(), Some("body"));
        assert_eq!(p.get("chat_id"), None, "null is absent, and it came last");
        let mut p = p;
        assert_eq!(p.take_str("text").as_deref(), Some("body"));
        assert_eq!(p.get("text"), None, "taken");
        let same: Params = [
            ("b".to_string(), Value::from(2)),
            ("a".into(), Value::from(1)),
        ]
        .into_iter()
        .collect();
        let other: Params = [
            ("a".to_string(), Value::from(1)),
            ("b".into(), Value::from(2)),
        ]
        .into_iter()
        .collect();
        assert_eq!(same, other, "order does not matter");
        // Many names, some twice: linear, and the last value still wins.
        let many: Params = (0..100_000)
            .chain(0..10)
            .map(|i| (format!("k{i}"), Value::from(i)))
            .chain([("k5".to_string(), Value::from("last"))])
            .collect();
        assert_eq!(many.0.len(), 100_000);
        assert_eq!(many.str("k5").as_deref(), Some("last"));
        assert_eq!(many.get("k99999"), Some(&Value::from(99_999)));
    }

    #[tokio::test]
    async fn multipart_fields_and_files() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n7\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\nabcd\r\n--XX--\r\n";
        let p = Params::parse(
            Some("multipart/form-data; boundary=XX"),
            None,
            Bytes::from(body),
        )
        .await
        .unwrap();
        assert_eq!(p.chat_id().unwrap(), 7);
        assert_eq!(p.get("photo").unwrap()["file_size"], 4);
    }

    #[tokio::test]
    async fn bad_bodies_are_errors() {
        let bad = Params::parse(Some("application/json"), None, Bytes::from_static(b"{")).await;
        assert!(matches!(bad, Err(ParamsError::Json(_))));
        let arr = Params::parse(Some("application/json"), None, Bytes::from_static(b"[1]")).await;
        assert!(matches!(arr, Err(ParamsError::NotAnObject)));
        let xml = Params::parse(Some("text/xml"), None, Bytes::from_static(b"<a/>")).await;
        assert!(matches!(xml, Err(ParamsError::ContentType(_))));
        let p = Params::parse(None, None, Bytes::from_static(br#"{"chat_id":"@chan"}"#))
            .await
            .unwrap();
        assert!(p.chat_id().is_err());
        // Not UTF-8 inside a string: serde_json's own error, naming the place.
        let latin1 = Params::parse(None, None, Bytes::from_static(b"{\"text\":\"caf\xe9\"}")).await;
        match latin1 {
            Err(ParamsError::Json(e)) => assert_eq!((e.line(), e.column()), (1, 13), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_media_type_is_matched_without_case_or_parameters() {
        let body = Bytes::from_static("{\"text\":\"Привет — ✓\"}".as_bytes());
        for ct in [
            "APPLICATION/JSON",
            "application/json; charset=utf-8",
            " application/Json ",
        ] {
            let p = Params::parse(Some(ct), None, body.clone()).await.unwrap();
            assert_eq!(p.str("text").as_deref(), Some("Привет — ✓"), "{ct}");
        }
        let xml = Params::parse(Some("Text/XML; q=1"), None, body).await;
        assert!(matches!(xml, Err(ParamsError::ContentType(t)) if t == "text/xml"));
    }
}
