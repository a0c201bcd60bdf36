//! The `stress` binary: parse, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

// mimalloc: the hot path allocates a little per request (update JSON, reply objects, script
// values) and glibc's malloc cost ~12% of client CPU there; see the README's benchmark notes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for them on its heap, and
/// a 2 MiB page counts whole in RSS however little of it is used: an idle user then cost
/// ~4.7 KiB instead of ~3.4, the baseline was 22 MiB instead of 14, and a soak's RSS climbed
/// in 2 MiB steps that were never given back. On systems with THP set to `always` it also
/// keeps each running task's coroutine stack to the pages it touches.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes no pointer; it sets a flag on this process (inherited
    // by any child it starts; `stress` starts none).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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
