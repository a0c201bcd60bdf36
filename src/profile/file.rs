//! Profiles as TOML files (`profiles/*.toml`): the flat form (`users`, `spawn_rate`, `run_time`)
//! or a list of `[[stages]]`. Errors name the file, and the line where TOML can tell it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{PRESETS, Profile, ProfileError, Stage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: Option<String>,
    users: Option<u32>,
    spawn_rate: Option<f64>,
    run_time: Option<String>,
    #[serde(default)]
    stages: Vec<StageFile>,
    /// Pass/fail rules, as `--threshold` takes them.
    #[serde(default)]
    thresholds: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    users: u32,
    spawn_rate: f64,
    duration: String,
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

fn build(f: ProfileFile, default_name: &str) -> Result<Profile, ProfileError> {
    let name = f.name.unwrap_or_else(|| default_name.to_string());
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
                Ok(Stage {
                    users: s.users,
                    spawn_rate: s.spawn_rate,
                    duration: duration(&format!("stages[{i}].duration"), &s.duration)?,
                })
            })
            .collect::<Result<_, ProfileError>>()?
    };
    let profile = Profile {
        name,
        stages,
        thresholds: f.thresholds,
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
}
