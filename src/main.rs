//! The `stress` binary: parse, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

// mimalloc: the hot path allocates a little per request (update JSON, reply objects, script
// values), where glibc's malloc costs measurably more client CPU (docs/design-notes.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for them on its heap, and
/// a 2 MiB page counts whole in RSS however little of it is used, so idle users and a soak's RSS
/// would be measured in 2 MiB steps that are never given back. With THP set to `always` it also
/// keeps each running task's coroutine stack to the pages it touches.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // Best effort: a kernel without the setting runs the same, with more memory.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = stress::cli::Cli::parse();
    match stress::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(stress::exit_code(&err))
        }
    }
}
