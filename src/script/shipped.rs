//! The scripts, modules and profiles `stress` ships, built into the binary, so it runs from any
//! folder after `cargo install`: with no `scripts/` (or `stdlib/`) where it runs, the shipped
//! ones are used (written once to a folder of their own under the system's temporary folder,
//! from where they load like any others), and `stress init` writes them out to edit.
//!
//! To ship another file: a line in the list it belongs to.

use std::path::{Path, PathBuf};

/// A shipped file: its path relative to the project's root, and its contents.
pub type ShippedFile = (&'static str, &'static str);

macro_rules! shipped {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../", $path)))),*]
    };
}

/// The four user classes.
pub const SCRIPTS: &[ShippedFile] = shipped!(
    "scripts/guest.rhai",
    "scripts/power_user.rhai",
    "scripts/developer.rhai",
    "scripts/admin.rhai",
);

/// The modules the classes import.
pub const STDLIB: &[ShippedFile] = shipped!("stdlib/messages.rhai", "stdlib/ui.rhai");

/// The presets as files to edit, and examples of stages and of an open profile.
pub const PROFILES: &[ShippedFile] = shipped!(
    "profiles/smoke.toml",
    "profiles/ramp_up.toml",
    "profiles/sustained.toml",
    "profiles/spike.toml",
    "profiles/soak.toml",
    "profiles/chaos.toml",
    "profiles/steps.example.toml",
    "profiles/open.example.toml",
);

/// The starter project's README.
pub const STARTER_README: &str = include_str!("starter_readme.md");

/// Writes `files` under `root`, each replaced whole; with `overwrite` false, an existing file is
/// an error naming it.
pub fn write(root: &Path, files: &[ShippedFile], overwrite: bool) -> std::io::Result<()> {
    for (path, text) in files {
        let target = root.join(path);
        if !overwrite && target.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists (--force replaces it)", target.display()),
            ));
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = target.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &target)?;
    }
    Ok(())
}

/// The folder the shipped scripts and modules load from when the current folder has none:
/// written on first use, and again when a different version of the tool wrote it.
pub fn unpacked() -> std::io::Result<PathBuf> {
    let root = std::env::temp_dir().join(format!("stress-{}-shipped", env!("CARGO_PKG_VERSION")));
    let stale = SCRIPTS
        .iter()
        .chain(STDLIB)
        .any(|(path, text)| std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(text));
    if stale {
        write(&root, SCRIPTS, true)?;
        write(&root, STDLIB, true)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (dir, list) in [
            ("scripts", SCRIPTS),
            ("stdlib", STDLIB),
            ("profiles", PROFILES),
        ] {
            let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
                .collect();
            on_disk.sort();
            let mut listed: Vec<String> = list.iter().map(|(p, _)| p.to_string()).collect();
            listed.sort();
            assert_eq!(
                listed, on_disk,
                "src/script/shipped.rs lists every file of {dir}/"
            );
        }
    }
}
