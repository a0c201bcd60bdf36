//! The reply object a send returns to a script.
//!
//! `#{status, ok, latency_ms, error, replies: [#{method, text, buttons}], reply_ms, text}`:
//! `error` is "" or the failure's kind, `reply_ms` is () when no reply came, and `text` is the
//! first reply's text ("" when none), for the common case.

use std::time::Duration;

use rhai::{Array, Dynamic, Map};

use crate::botapi::BotEvent;

fn ms(d: Duration) -> Dynamic {
    Dynamic::from_float(d.as_secs_f64() * 1e3)
}

/// Builds the reply object from what the transport and the Bot API stand-in saw.
pub fn reply_map(
    status: u16,
    error: Option<&str>,
    latency: Duration,
    events: &[BotEvent],
    reply_after: Option<Duration>,
) -> Dynamic {
    let mut replies = Array::with_capacity(events.len());
    let mut first_text: Option<&str> = None;
    for e in events.iter().filter(|e| e.is_reply()) {
        let mut r = Map::new();
        r.insert("method".into(), e.method.name().into());
        let text = e
            .message
            .as_ref()
            .and_then(|m| m.text.as_deref().or(m.caption.as_deref()))
            .or(e.note.as_deref())
            .unwrap_or("");
        if first_text.is_none() && !text.is_empty() {
            first_text = Some(text);
        }
        r.insert("text".into(), text.into());
        let buttons: Array = e
            .message
            .as_ref()
            .and_then(|m| m.reply_markup.as_ref())
            .map(|k| {
                k.callback_data()
                    .map(|s| Dynamic::from(s.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        r.insert("buttons".into(), buttons.into());
        replies.push(r.into());
    }
    let mut m = Map::new();
    m.insert("status".into(), Dynamic::from_int(i64::from(status)));
    let ok = error.is_none() && (200..300).contains(&status);
    m.insert("ok".into(), ok.into());
    m.insert("latency_ms".into(), ms(latency));
    m.insert("error".into(), error.unwrap_or("").into());
    m.insert("text".into(), first_text.unwrap_or("").into());
    m.insert("replies".into(), replies.into());
    m.insert(
        "reply_ms".into(),
        reply_after.map(ms).unwrap_or(Dynamic::UNIT),
    );
    m.into()
}
