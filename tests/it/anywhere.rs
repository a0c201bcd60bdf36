//! The binary away from the repository, as after `cargo install` (#21): in an empty folder it
//! runs the shipped classes, and `stress init` writes a project that runs as it is.

use std::process::{Command, Stdio};

use crate::common::temp_dir;

fn stress_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn an_empty_folder_runs_the_shipped_classes() {
    let dir = temp_dir("anywhere-empty");
    let out = stress_in(
        &dir,
        &[
            "run",
            "--run-time",
            "2s",
            "--users",
            "5",
            "-q",
            "--seed",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for class in ["GuestUser", "PowerUser", "DeveloperUser", "AdminUser"] {
        assert!(stdout.contains(class), "{class}: {stdout}");
    }
    assert!(!stdout.contains("script errors\n"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn init_writes_a_project_that_runs() {
    let dir = temp_dir("anywhere-init");
    let out = stress_in(&dir, &["init", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.join("demo");
    for file in [
        "scripts/guest.rhai",
        "stdlib/messages.rhai",
        "profiles/soak.toml",
        "README.md",
    ] {
        assert!(project.join(file).is_file(), "{file}");
    }
    // A script of the project's own, importing a shipped module from the project's stdlib/.
    std::fs::write(
        project.join("scripts/mine.rhai"),
        "import \"messages\" as msg;\n\
         user_class(\"Mine\", #{ tier: \"guest\", weight: 5, wait: 0.1 });\n\
         /// @task(1)\nfn talk() { send_text(msg::simple()); }\n",
    )
    .unwrap();
    let out = stress_in(
        &project,
        &[
            "run",
            "--run-time",
            "2s",
            "--users",
            "10",
            "-q",
            "--seed",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Mine"), "{stdout}");
    // Twice: nothing is overwritten without --force.
    let again = stress_in(&dir, &["init", "demo"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let _ = std::fs::remove_dir_all(&dir);
}
