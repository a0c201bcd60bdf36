//! The bodies the control API accepts (`POST /api/users`, `POST /api/start`), read field by
//! field so a refusal is in plain words that name the field ("users must be 0 or more"), never
//! a deserializer's message about types. The page shows these messages as they are.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

/// A refused request: its status and what to tell the user.
pub type Refusal = (StatusCode, String);

fn unprocessable(message: impl Into<String>) -> Refusal {
    (StatusCode::UNPROCESSABLE_ENTITY, message.into())
}

/// The spawn rates the API accepts, users per second.
pub const SPAWN_RATES: std::ops::RangeInclusive<f64> = 0.01..=100_000.0;

/// A JSON object with only the `allowed` fields.
fn object(body: &[u8], allowed: &[&str], example: &str) -> Result<Map<String, Value>, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON; expected JSON: an object like {example}"),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(unprocessable(format!(
            "the body is not an object; send one like {example}"
        )));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(unprocessable(format!(
            "unknown field `{unknown}`: the fields are {}",
            allowed.join(", ")
        )));
    }
    Ok(map)
}

/// A whole number of users, `min` or more; `None` when absent or null.
fn users(map: &Map<String, Value>, min: u64) -> Result<Option<u32>, Refusal> {
    let Some(v) = map.get("users").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(n) = v.as_f64() else {
        return Err(unprocessable("users must be a number"));
    };
    if n < min as f64 {
        return Err(unprocessable(format!("users must be {min} or more")));
    }
    if n.fract() != 0.0 {
        return Err(unprocessable("users must be a whole number"));
    }
    if n > f64::from(u32::MAX) {
        return Err(unprocessable(format!(
            "users must be {} or fewer",
            u32::MAX
        )));
    }
    Ok(Some(n as u32))
}

/// Users per second within [`SPAWN_RATES`]; `None` when absent or null.
fn spawn_rate(map: &Map<String, Value>) -> Result<Option<f64>, Refusal> {
    let Some(v) = map.get("spawn_rate").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(rate) if SPAWN_RATES.contains(&rate) => Ok(Some(rate)),
        Some(_) => Err(unprocessable(format!(
            "spawn_rate must be between {} and {} users per second",
            SPAWN_RATES.start(),
            SPAWN_RATES.end()
        ))),
        None => Err(unprocessable("spawn_rate must be a number")),
    }
}

/// The body of `POST /api/users`: either field or both (the other keeps its value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetUsers {
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
}

pub fn set_users(body: &[u8]) -> Result<SetUsers, Refusal> {
    let map = object(
        body,
        &["users", "spawn_rate"],
        "{\"users\": 100, \"spawn_rate\": 10}",
    )?;
    let set = SetUsers {
        users: users(&map, 0)?,
        spawn_rate: spawn_rate(&map)?,
    };
    if set.users.is_none() && set.spawn_rate.is_none() {
        return Err(unprocessable("give users, spawn_rate or both"));
    }
    Ok(set)
}

/// The body of `POST /api/start`: what the run changes from `stress web`'s own flags (each
/// absent field keeps them, as the profile has it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StartRequest {
    /// A preset or a profile file, as `--profile` takes it.
    pub profile: Option<String>,
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
    /// A duration as `--run-time` takes it (`30s`, `5m`, `1h`).
    pub run_time: Option<String>,
}

pub fn start(body: &[u8]) -> Result<StartRequest, Refusal> {
    let map = object(
        body,
        &["profile", "users", "spawn_rate", "run_time"],
        "{\"profile\": \"smoke\", \"users\": 10, \"spawn_rate\": 5, \"run_time\": \"1m\"}",
    )?;
    let text = |field: &str| -> Result<Option<String>, Refusal> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(unprocessable(format!("{field} must be text"))),
        }
    };
    let run_time = text("run_time")?;
    if let Some(t) = &run_time
        && !humantime::parse_duration(t).is_ok_and(|d| !d.is_zero())
    {
        return Err(unprocessable(format!(
            "run_time `{t}` is not a duration such as 30s, 5m or 1h"
        )));
    }
    Ok(StartRequest {
        profile: text("profile")?,
        users: users(&map, 1)?,
        spawn_rate: spawn_rate(&map)?,
        run_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(r: Result<impl std::fmt::Debug, Refusal>) -> String {
        r.expect_err("refused").1
    }

    #[test]
    fn users_and_rates_are_refused_in_plain_words() {
        assert_eq!(
            refusal(set_users(br#"{"users": -5}"#)),
            "users must be 0 or more"
        );
        assert_eq!(
            refusal(set_users(br#"{"users": 2.5}"#)),
            "users must be a whole number"
        );
        assert_eq!(
            refusal(set_users(br#"{"users": "ten"}"#)),
            "users must be a number"
        );
        assert_eq!(
            refusal(set_users(br#"{"spawn_rate": 0}"#)),
            "spawn_rate must be between 0.01 and 100000 users per second"
        );
        assert_eq!(refusal(set_users(b"{}")), "give users, spawn_rate or both");
        assert!(
            refusal(set_users(br#"{"users": 1, "rate": 2}"#)).starts_with("unknown field `rate`")
        );
        let (status, _) = set_users(b"users=5").unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn only_what_was_given_is_set() {
        assert_eq!(
            set_users(br#"{"spawn_rate": 20}"#).unwrap(),
            SetUsers {
                users: None,
                spawn_rate: Some(20.0)
            }
        );
        assert_eq!(
            set_users(br#"{"users": 0}"#).unwrap(),
            SetUsers {
                users: Some(0),
                spawn_rate: None
            }
        );
    }

    #[test]
    fn a_start_needs_a_user_and_a_real_duration() {
        assert_eq!(
            refusal(start(br#"{"users": 0}"#)),
            "users must be 1 or more"
        );
        assert_eq!(
            refusal(start(br#"{"run_time": "soon"}"#)),
            "run_time `soon` is not a duration such as 30s, 5m or 1h"
        );
        let r =
            start(br#"{"profile": "smoke", "users": 3, "run_time": " 20s ", "spawn_rate": null}"#)
                .unwrap();
        assert_eq!(r.users, Some(3));
        assert_eq!(r.run_time.as_deref(), Some("20s"));
        assert_eq!(r.spawn_rate, None);
        assert_eq!(
            start(br#"{"profile": ""}"#).unwrap(),
            StartRequest::default()
        );
    }
}
