//! The demo bot's 22 commands and the tier each needs. The runtime uses this list too (coverage
//! of "all 22 commands"), so it lives apart from the handlers.

use std::str::FromStr;

use crate::telegram::Tier;

macro_rules! commands {
    ($($variant:ident => $name:literal, $tier:ident, $help:literal;)*) => {
        /// A command of the demo bot. To add one: a line here, an arm in `handlers::command`,
        /// and its arguments in `cmd::selfcheck::sample_args` if it takes any
        /// (`tests/it/demo_bot.rs` sends every command from every tier).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum BotCommand { $($variant),* }

        impl BotCommand {
            pub const ALL: &'static [BotCommand] = &[$(BotCommand::$variant),*];

            /// With its slash: `/help`.
            pub fn name(self) -> &'static str {
                match self { $(BotCommand::$variant => $name),* }
            }

            /// The lowest tier allowed to run it.
            pub fn tier(self) -> Tier {
                match self { $(BotCommand::$variant => Tier::$tier),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(BotCommand::$variant => $help),* }
            }
        }
    };
}

commands! {
    Start => "/start", Guest, "start over and see what I can do";
    Help => "/help", Guest, "list the commands you can use";
    Status => "/status", Guest, "bot status and your session";
    Skills => "/skills", Guest, "list the skills";
    Mode => "/mode", Guest, "choose how I answer";
    Cancel => "/cancel", Guest, "cancel the current operation";
    Clear => "/clear", Guest, "forget our conversation";
    Settings => "/settings", Guest, "change your settings";
    Skill => "/skill", User, "/skill NAME: use a skill";
    Translate => "/translate", User, "/translate LANG TEXT";
    Summarize => "/summarize", User, "/summarize TEXT";
    Rewrite => "/rewrite", User, "/rewrite TEXT";
    Remind => "/remind", User, "/remind WHEN TEXT";
    Reminders => "/reminders", User, "list your reminders";
    Task => "/task", User, "/task TEXT, /task done ID, or /task to list";
    Traces => "/traces", Developer, "the latest request traces";
    Trace => "/trace", Developer, "/trace ID: one trace in detail";
    Circuits => "/circuits", Developer, "circuit breaker states";
    Tier => "/tier", Developer, "/tier [USER_ID]: show a tier";
    Grant => "/grant", Admin, "/grant USER_ID TIER";
    Revoke => "/revoke", Admin, "/revoke USER_ID";
    Admin => "/admin", Admin, "the admin panel";
}

impl BotCommand {
    pub fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for BotCommand {
    type Err = ();

    /// `/help`, `help` and `/help@some_bot` all name `/help`; names are case-insensitive.
    fn from_str(s: &str) -> Result<Self, ()> {
        let name = s.trim().trim_start_matches('/');
        let name = name.split('@').next().unwrap_or(name);
        BotCommand::ALL
            .iter()
            .copied()
            .find(|c| c.name()[1..].eq_ignore_ascii_case(name))
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_two_commands_in_four_tiers() {
        assert_eq!(BotCommand::ALL.len(), 22);
        let count = |t| BotCommand::ALL.iter().filter(|c| c.tier() == t).count();
        assert_eq!(
            [
                count(Tier::Guest),
                count(Tier::User),
                count(Tier::Developer),
                count(Tier::Admin)
            ],
            [8, 7, 4, 3]
        );
        assert_eq!("/Help@stress_demo_bot".parse(), Ok(BotCommand::Help));
        assert_eq!("trace".parse(), Ok(BotCommand::Trace));
        assert_eq!("/nope".parse::<BotCommand>(), Err(()));
    }
}
