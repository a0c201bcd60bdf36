//! Profiles as TOML files (`profiles/*.toml`): the flat form (`users`, `spawn_rate`, `run_time`)
//! or a list of `[[stages]]`; or an open profile, whose stages give `arrival_rate` (task starts
//! per second, ramping from one stage's to the next) and `duration`, with `max_users` taking
//! them. Errors name the file, and the line where TOML can tell it.
//!
//! Any profile may add Telegram's rules and chaos ([`super::chaos`]): `flood_limits =
//! "enforce"` with a `[flood]` table of rates, `botapi_faults = ["5xx=1%"]` for the whole run,
//! `[[faults]]` windows (`at`, `duration`, `botapi`, `cut_webhook`), and `redeliver = true` (or
//! a table with `backoff`, `max_backoff`, `attempts`). A closed profile's stage may carry
//! `faults = [...]` and `cut_webhook`: a fault window as long as the stage.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::chaos::{Chaos, FaultSpec, FaultWindow, FloodLimits, FloodMode, Redeliver};
use super::{ArrivalPlan, PRESETS, Profile, ProfileError, RateStage, Stage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: Option<String>,
    users: Option<u32>,
    spawn_rate: Option<f64>,
    run_time: Option<String>,
    /// An open profile's pool of users.
    max_users: Option<u32>,
    #[serde(default)]
    stages: Vec<StageFile>,
    /// Pass/fail rules, as `--threshold` takes them.
    #[serde(default)]
    thresholds: Vec<String>,
    /// `enforce`, `report` or `off`.
    flood_limits: Option<String>,
    flood: Option<FloodFile>,
    /// Faults for the whole run, as `--botapi-fault` takes them.
    #[serde(default)]
    botapi_faults: Vec<String>,
    /// Fault windows.
    #[serde(default)]
    faults: Vec<WindowFile>,
    redeliver: Option<RedeliverFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FloodFile {
    per_chat: Option<f64>,
    chat_burst: Option<f64>,
    group_per_minute: Option<f64>,
    group_burst: Option<f64>,
    global: Option<f64>,
    global_burst: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    name: Option<String>,
    at: String,
    duration: String,
    #[serde(default)]
    botapi: Vec<String>,
    #[serde(default)]
    cut_webhook: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RedeliverFile {
    On(bool),
    With {
        backoff: Option<String>,
        max_backoff: Option<String>,
        attempts: Option<u32>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    users: Option<u32>,
    spawn_rate: Option<f64>,
    arrival_rate: Option<f64>,
    duration: String,
    /// Faults for the stage's time (a fault window as long as the stage).
    #[serde(default)]
    faults: Vec<String>,
    #[serde(default)]
    cut_webhook: bool,
}

/// A profile that could not be loaded: which file, and why.
#[derive(Debug, thiserror::Error)]
pub enum ProfileFileError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Toml {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{}: {source}", path.display())]
    Invalid { path: PathBuf, source: ProfileError },
    #[error("unknown profile `{0}`: expected one of {presets} or a .toml file", presets = PRESETS.join(", "))]
    Unknown(String),
}

fn duration(field: &str, s: &str) -> Result<Duration, ProfileError> {
    humantime::parse_duration(s).map_err(|e| ProfileError {
        field: field.into(),
        message: format!("`{s}` is not a duration ({e})"),
    })
}

/// Parses a profile from TOML text; `default_name` is used when the file has no `name`.
pub fn parse(
    text: &str,
    default_name: &str,
) -> Result<Result<Profile, ProfileError>, toml::de::Error> {
    let f: ProfileFile = toml::from_str(text)?;
    Ok(build(f, default_name))
}

/// An open profile: every stage an `arrival_rate`, none users or a spawn rate; its pool of
/// `max_users` starts at once and stays for the whole plan.
fn open(f: ProfileFile, name: String) -> Result<Profile, ProfileError> {
    if f.users.is_some() || f.spawn_rate.is_some() || f.run_time.is_some() {
        return Err(ProfileError {
            field: "stages".into(),
            message: "an open profile (arrival_rate stages) takes max_users, not users, \
                      spawn_rate or run_time"
                .into(),
        });
    }
    let mut stages = Vec::new();
    for (i, s) in f.stages.into_iter().enumerate() {
        let (Some(rate), None, None) = (s.arrival_rate, s.users, s.spawn_rate) else {
            return Err(ProfileError {
                field: format!("stages[{i}]"),
                message: "in an open profile every stage has arrival_rate and duration, \
                          and no users or spawn_rate"
                    .into(),
            });
        };
        stages.push(RateStage {
            rate,
            duration: duration(&format!("stages[{i}].duration"), &s.duration)?,
        });
    }
    let plan = ArrivalPlan {
        stages,
        max_users: f.max_users,
    };
    let users = f.max_users.unwrap_or(DEFAULT_OPEN_USERS);
    let profile = Profile {
        name,
        stages: vec![Stage {
            users,
            spawn_rate: f64::from(users).max(1.0),
            duration: plan.duration(),
        }],
        thresholds: f.thresholds,
        arrivals: Some(plan),
        chaos: Chaos::default(),
    };
    profile.validate()?;
    Ok(profile)
}

/// An open profile's pool when neither the file nor `--max-users` says.
const DEFAULT_OPEN_USERS: u32 = 100;

/// The chaos part of a profile file, taken out of it.
fn chaos(f: &mut ProfileFile) -> Result<Chaos, ProfileError> {
    let field = |field: &str| {
        let field = field.to_string();
        move |message: String| ProfileError {
            field: field.clone(),
            message,
        }
    };
    let mut flood = FloodLimits::default();
    if let Some(mode) = f.flood_limits.take() {
        flood.mode = FloodMode::parse(&mode).map_err(field("flood_limits"))?;
    }
    if let Some(ff) = f.flood.take() {
        let set = |target: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *target = v;
            }
        };
        set(&mut flood.per_chat, ff.per_chat);
        set(&mut flood.chat_burst, ff.chat_burst);
        set(&mut flood.group_per_minute, ff.group_per_minute);
        set(&mut flood.group_burst, ff.group_burst);
        set(&mut flood.global, ff.global);
        set(&mut flood.global_burst, ff.global_burst);
    }
    let faults = std::mem::take(&mut f.botapi_faults)
        .iter()
        .enumerate()
        .map(|(i, s)| FaultSpec::parse(s).map_err(field(&format!("botapi_faults[{i}]"))))
        .collect::<Result<_, _>>()?;
    let mut windows = Vec::new();
    for (i, w) in std::mem::take(&mut f.faults).into_iter().enumerate() {
        let botapi = w
            .botapi
            .iter()
            .enumerate()
            .map(|(j, s)| FaultSpec::parse(s).map_err(field(&format!("faults[{i}].botapi[{j}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut window = FaultWindow {
            name: w.name.unwrap_or_default(),
            at: duration(&format!("faults[{i}].at"), &w.at)?,
            duration: duration(&format!("faults[{i}].duration"), &w.duration)?,
            botapi,
            cut_webhook: w.cut_webhook,
        };
        if window.name.is_empty() {
            window.name = window.describe();
        }
        windows.push(window);
    }
    let redeliver = match f.redeliver.take() {
        None | Some(RedeliverFile::On(false)) => None,
        Some(RedeliverFile::On(true)) => Some(Redeliver::default()),
        Some(RedeliverFile::With {
            backoff,
            max_backoff,
            attempts,
        }) => {
            let mut r = Redeliver::default();
            if let Some(b) = backoff {
                r.backoff = duration("redeliver.backoff", &b)?;
            }
            if let Some(b) = max_backoff {
                r.max_backoff = duration("redeliver.max_backoff", &b)?;
            }
            if let Some(a) = attempts {
                r.attempts = a;
            }
            Some(r)
        }
    };
    Ok(Chaos {
        flood,
        faults,
        windows,
        redeliver,
    })
}

/// Stages that carry faults become fault windows as long as they are.
fn stage_windows(f: &ProfileFile) -> Result<Vec<FaultWindow>, ProfileError> {
    let mut windows = Vec::new();
    let mut at = Duration::ZERO;
    for (i, s) in f.stages.iter().enumerate() {
        let length = duration(&format!("stages[{i}].duration"), &s.duration)?;
        if !s.faults.is_empty() || s.cut_webhook {
            let botapi = s
                .faults
                .iter()
                .enumerate()
                .map(|(j, spec)| {
                    FaultSpec::parse(spec).map_err(|message| ProfileError {
                        field: format!("stages[{i}].faults[{j}]"),
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut window = FaultWindow {
                name: String::new(),
                at,
                duration: length,
                botapi,
                cut_webhook: s.cut_webhook,
            };
            window.name = format!("stage {}: {}", i + 1, window.describe());
            windows.push(window);
        }
        at = at.saturating_add(length);
    }
    Ok(windows)
}

fn build(mut f: ProfileFile, default_name: &str) -> Result<Profile, ProfileError> {
    let name = f.name.take().unwrap_or_else(|| default_name.to_string());
    let chaos = chaos(&mut f)?;
    let staged = stage_windows(&f)?;
    let mut profile = if f.stages.iter().any(|s| s.arrival_rate.is_some()) {
        open(f, name)?
    } else {
        closed(f, name)?
    };
    // The file's [[faults]] are checked as written, so an error names the right one.
    profile.chaos = chaos;
    profile.validate()?;
    if let Some(w) = profile
        .chaos
        .windows
        .iter()
        .position(|w| w.end() > profile.run_time())
    {
        return Err(ProfileError {
            field: format!("faults[{w}]"),
            message: format!(
                "the window ends after the profile's {}",
                humantime::format_duration(profile.run_time())
            ),
        });
    }
    // Then the stages' windows join them, all in order of time.
    profile.chaos.windows.extend(staged);
    profile.chaos.windows.sort_by_key(|w| w.at);
    Ok(profile)
}

fn closed(f: ProfileFile, name: String) -> Result<Profile, ProfileError> {
    if f.max_users.is_some() {
        return Err(ProfileError {
            field: "max_users".into(),
            message: "only for an open profile (stages with arrival_rate)".into(),
        });
    }
    let stages = if f.stages.is_empty() {
        let missing = |field: &str| ProfileError {
            field: field.into(),
            message: "missing (or give [[stages]])".into(),
        };
        vec![Stage {
            users: f.users.ok_or_else(|| missing("users"))?,
            spawn_rate: f.spawn_rate.ok_or_else(|| missing("spawn_rate"))?,
            duration: duration(
                "run_time",
                f.run_time.as_deref().ok_or_else(|| missing("run_time"))?,
            )?,
        }]
    } else {
        if f.users.is_some() || f.spawn_rate.is_some() || f.run_time.is_some() {
            return Err(ProfileError {
                field: "stages".into(),
                message: "give either users/spawn_rate/run_time or [[stages]], not both".into(),
            });
        }
        f.stages
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let missing = |field: &str| ProfileError {
                    field: format!("stages[{i}].{field}"),
                    message: "missing".into(),
                };
                Ok(Stage {
                    users: s.users.ok_or_else(|| missing("users"))?,
                    spawn_rate: s.spawn_rate.ok_or_else(|| missing("spawn_rate"))?,
                    duration: duration(&format!("stages[{i}].duration"), &s.duration)?,
                })
            })
            .collect::<Result<_, ProfileError>>()?
    };
    let profile = Profile {
        name,
        stages,
        thresholds: f.thresholds,
        arrivals: None,
        chaos: Chaos::default(),
    };
    profile.validate()?;
    Ok(profile)
}

/// Loads a profile file.
pub fn load(path: &Path) -> Result<Profile, ProfileFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileFileError::Read {
        path: path.into(),
        source,
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("custom");
    match parse(&text, stem) {
        Err(source) => Err(ProfileFileError::Toml {
            path: path.into(),
            source,
        }),
        Ok(Err(source)) => Err(ProfileFileError::Invalid {
            path: path.into(),
            source,
        }),
        Ok(Ok(p)) => Ok(p),
    }
}

/// `--profile NAME|FILE`: a path (anything with a `/` or ending in `.toml`), else
/// `profiles_dir/NAME.toml` when it exists (the editable presets), else the built-in preset.
pub fn resolve(arg: &str, profiles_dir: &Path) -> Result<Profile, ProfileFileError> {
    if arg.contains('/') || arg.ends_with(".toml") {
        return load(Path::new(arg));
    }
    let candidate = profiles_dir.join(format!("{arg}.toml"));
    if candidate.is_file() {
        return load(&candidate);
    }
    Profile::preset(arg).ok_or_else(|| ProfileFileError::Unknown(arg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_staged_forms() {
        let p = parse(
            "users = 1000\nspawn_rate = 10\nrun_time = \"5m\"\n",
            "ramp_up",
        )
        .unwrap()
        .unwrap();
        assert_eq!(p, Profile::preset("ramp_up").unwrap());
        let text = "name = \"steps\"\n[[stages]]\nusers = 10\nspawn_rate = 5\nduration = \"30s\"\n\
                    [[stages]]\nusers = 0\nspawn_rate = 5\nduration = \"10s\"\n";
        let p = parse(text, "x").unwrap().unwrap();
        assert_eq!(
            (p.name.as_str(), p.stages.len(), p.run_time()),
            ("steps", 2, Duration::from_secs(40))
        );
    }

    #[test]
    fn errors_say_where() {
        let e = parse("users = 10\nspawn_rate = 1\nrun_time = \"soon\"\n", "x")
            .unwrap()
            .unwrap_err();
        assert_eq!(e.field, "run_time");
        let e = parse("users = 10\nrun_time = \"1m\"\n", "x")
            .unwrap()
            .unwrap_err();
        assert_eq!(e.field, "spawn_rate");
        let e = parse(
            "users = 10\nspawn_rate = 1\nrun_time = \"1m\"\nuser = 3\n",
            "x",
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 4"), "{e}");
        let e = resolve("nonesuch", Path::new("/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("ramp_up, sustained, spike, soak"));
    }

    #[test]
    fn shipped_profile_files_match_the_presets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        for name in PRESETS {
            assert_eq!(
                load(&dir.join(format!("{name}.toml"))).unwrap(),
                Profile::preset(name).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn chaos_in_a_profile_and_errors_that_name_the_field() {
        use crate::profile::chaos::{FaultKind, FloodMode};
        let text = r#"
            users = 10
            spawn_rate = 5
            run_time = "10m"
            flood_limits = "enforce"
            botapi_faults = ["flood=1%"]
            redeliver = { backoff = "500ms", attempts = 3 }
            [flood]
            per_chat = 2
            [[faults]]
            at = "2m"
            duration = "1m"
            botapi = ["5xx=20%", "slow=1s@5%"]
            [[faults]]
            name = "cut"
            at = "4m"
            duration = "30s"
            cut_webhook = true
        "#;
        let p = parse(text, "c").unwrap().unwrap();
        let c = &p.chaos;
        assert_eq!(
            (c.flood.mode, c.flood.per_chat, c.flood.global),
            (FloodMode::Enforce, 2.0, 30.0)
        );
        assert_eq!(c.faults[0].kind, FaultKind::Flood);
        let r = c.redeliver.unwrap();
        assert_eq!((r.backoff, r.attempts), (Duration::from_millis(500), 3));
        assert_eq!(
            c.windows[0].name,
            "Bot API 5xx at 20%, Bot API slow 1s at 5%"
        );
        assert_eq!(
            (c.windows[1].name.as_str(), c.windows[1].cut_webhook),
            ("cut", true)
        );
        let staged = r#"
            [[stages]]
            users = 5
            spawn_rate = 5
            duration = "1m"
            [[stages]]
            users = 5
            spawn_rate = 5
            duration = "30s"
            faults = ["5xx=10%"]
        "#;
        let staged = parse(staged, "s").unwrap().unwrap();
        let w = &staged.chaos.windows[0];
        assert_eq!(
            (w.at, w.duration),
            (Duration::from_secs(60), Duration::from_secs(30))
        );
        assert_eq!(w.name, "stage 2: Bot API 5xx at 10%");
        let chaos = Profile::preset("chaos").unwrap();
        assert_eq!(chaos.chaos.windows.len(), 4);
        assert!(chaos.chaos.redeliver.is_some());
        let flat = "users = 1\nspawn_rate = 1\nrun_time = \"1m\"\n";
        for (bad, field) in [
            ("flood_limits = \"loud\"", "flood_limits"),
            ("botapi_faults = [\"boom=1%\"]", "botapi_faults[0]"),
            ("[flood]\nper_chat = 0", "flood.per_chat"),
            ("[[faults]]\nat = \"1s\"\nduration = \"1s\"", "faults[0]"),
            (
                "[[faults]]\nat = \"50s\"\nduration = \"20s\"\ncut_webhook = true",
                "faults[0]",
            ),
            (
                "[[faults]]\nat = \"1s\"\nduration = \"1s\"\nbotapi = [\"5xx=2\"]",
                "faults[0].botapi[0]",
            ),
            ("redeliver = { attempts = 0 }", "redeliver"),
        ] {
            let e = parse(&format!("{flat}{bad}"), "x").unwrap().unwrap_err();
            assert_eq!(e.field, field, "{bad}: {e}");
        }
    }

    #[test]
    fn an_open_profile_has_rate_stages_and_a_pool() {
        let text = r#"
            max_users = 40
            [[stages]]
            arrival_rate = 10
            duration = "30s"
            [[stages]]
            arrival_rate = 50
            duration = "1m"
        "#;
        let p = parse(text, "open").unwrap().unwrap();
        let plan = p.arrivals.as_ref().expect("open");
        assert_eq!(plan.max_users, Some(40));
        assert_eq!(plan.duration(), Duration::from_secs(90));
        assert_eq!(p.stages[0].users, 40);
        assert_eq!(p.run_time(), Duration::from_secs(90));
        let example = include_str!("../../profiles/open.example.toml");
        let example = parse(example, "x").unwrap().unwrap();
        assert_eq!(example.arrivals.unwrap().stages.len(), 3);
        for (bad, field) in [
            (
                "[[stages]]\narrival_rate = 5\nusers = 3\nduration = \"1s\"",
                "stages[0]",
            ),
            (
                "users = 3\n[[stages]]\narrival_rate = 5\nduration = \"1s\"",
                "stages",
            ),
            (
                "[[stages]]\narrival_rate = -1\nduration = \"1s\"",
                "arrival_rate",
            ),
            (
                "max_users = 3\nusers = 3\nspawn_rate = 1\nrun_time = \"1s\"",
                "max_users",
            ),
        ] {
            let e = parse(bad, "x").unwrap().unwrap_err();
            assert!(e.field.contains(field), "{bad}: {e}");
        }
    }
}
