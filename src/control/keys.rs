//! Keys in an interactive terminal, as in Locust's headless mode: `w`/`W` add 1/10 users,
//! `s`/`S` remove 1/10, `r` reloads the scripts, `q` stops the run. The terminal is put in
//! non-canonical mode (keys arrive without Enter, not echoed) and restored when the run ends.

use std::io::{IsTerminal, Read};
use std::sync::Mutex;

use rustix::termios::{
    LocalModes, OptionalActions, SpecialCodeIndex, Termios, tcgetattr, tcsetattr,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::report::ReloadEvent;
use crate::scheduler::{SchedulerCmd, SchedulerStatus};

static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Restores the terminal when dropped.
pub struct KeysGuard(());

impl Drop for KeysGuard {
    fn drop(&mut self) {
        if let Some(saved) = SAVED.lock().map(|mut s| s.take()).ok().flatten() {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &saved);
        }
    }
}

/// What a key asks for.
fn action(key: u8, target: u32) -> Option<SchedulerCmd> {
    let users = match key {
        b'w' => target.saturating_add(1),
        b'W' => target.saturating_add(10),
        b's' => target.saturating_sub(1),
        b'S' => target.saturating_sub(10),
        b'q' => return Some(SchedulerCmd::Stop),
        _ => return None,
    };
    Some(SchedulerCmd::SetUsers {
        users,
        spawn_rate: None,
    })
}

/// Listens to keys when stdin is a terminal; `None` otherwise.
pub fn listen(
    scheduler: mpsc::UnboundedSender<SchedulerCmd>,
    reload: mpsc::UnboundedSender<oneshot::Sender<ReloadEvent>>,
    status: watch::Receiver<SchedulerStatus>,
) -> Option<KeysGuard> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let stdin = std::io::stdin();
    let mut attrs = tcgetattr(&stdin).ok()?;
    *SAVED.lock().ok()? = Some(attrs.clone());
    attrs.local_modes &= !(LocalModes::ICANON | LocalModes::ECHO);
    attrs.special_codes[SpecialCodeIndex::VMIN] = 1;
    attrs.special_codes[SpecialCodeIndex::VTIME] = 0;
    tcsetattr(&stdin, OptionalActions::Now, &attrs).ok()?;
    eprintln!("keys: w/W +1/+10 users, s/S -1/-10, r reload, q stop");
    std::thread::Builder::new()
        .name("stress-keys".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut key = [0u8; 1];
            while stdin.read_exact(&mut key).is_ok() {
                if key[0] == b'r' {
                    let (tx, _rx) = oneshot::channel();
                    let _ = reload.send(tx);
                    continue;
                }
                let target = status.borrow().goal_users;
                if let Some(cmd) = action(key[0], target) {
                    let stop = cmd == SchedulerCmd::Stop;
                    if scheduler.send(cmd).is_err() || stop {
                        break;
                    }
                }
            }
        })
        .ok()?;
    Some(KeysGuard(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_users_like_locust() {
        let users = |k| match action(k, 5) {
            Some(SchedulerCmd::SetUsers { users, .. }) => Some(users),
            _ => None,
        };
        assert_eq!(users(b'w'), Some(6));
        assert_eq!(users(b'W'), Some(15));
        assert_eq!(users(b's'), Some(4));
        assert_eq!(users(b'S'), Some(0));
        assert_eq!(action(b'q', 5), Some(SchedulerCmd::Stop));
        assert_eq!(action(b'x', 5), None);
    }
}
