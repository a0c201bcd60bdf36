//! The tool's log on stderr: its own warnings and what scripts log (`log`, `print`, `debug`,
//! target `script`). `RUST_LOG` decides when set (tracing's filter syntax); otherwise `-v`
//! shows the tool's info lines, `-vv` debug lines and scripts' `debug()`, and `-q` only errors.
//! On a terminal a line first clears the live progress line, which is redrawn a second later.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter when `RUST_LOG` is not set.
fn default_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,script=info",
        (false, 1) => "info",
        (false, _) => "debug",
    }
}

/// stderr, with the live line cleared before each log line on a terminal.
#[derive(Clone, Copy)]
struct Stderr {
    terminal: bool,
}

struct Line {
    terminal: bool,
    buf: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        // One write per line, so lines from several threads do not interleave.
        let mut out = Vec::with_capacity(self.buf.len() + 8);
        if self.terminal {
            out.extend_from_slice(b"\r\x1b[2K");
        }
        out.extend_from_slice(&self.buf);
        let _ = std::io::stderr().lock().write_all(&out);
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            terminal: self.terminal,
            buf: Vec::with_capacity(128),
        }
    }
}

/// Installs the log for this process (once; a second call, from a test, changes nothing).
pub(crate) fn init(verbose: u8, quiet: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbose, quiet)));
    let terminal = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr { terminal })
        .with_ansi(terminal)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::default_filter;

    #[test]
    fn scripts_speak_by_default_and_verbosity_widens_the_rest() {
        assert_eq!(default_filter(0, false), "warn,script=info");
        assert_eq!(default_filter(1, false), "info");
        assert_eq!(default_filter(2, false), "debug");
        assert_eq!(default_filter(3, true), "error");
    }
}
