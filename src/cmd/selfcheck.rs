//! `stress selfcheck`: starts the demo bot and the stand-in in-process and sends every command
//! from an allowed tier and from the tier below, every update kind, and an inline-button press;
//! then checks the bot's `/stats` against what was sent. A smoke test of the whole foundation.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};

use crate::cli::SelfcheckArgs;
use crate::demo_bot::{BotCommand, DemoBotConfig, DemoBotStats};
use crate::harness::LocalStack;
use crate::harness::{ChatUser, Exchange};
use crate::telegram::build::MediaKind;
use crate::telegram::{Tier, UpdateIds};

/// Arguments that make each command do real work.
pub fn sample_args(cmd: BotCommand, guest_id: i64, trace_id: &str) -> String {
    match cmd {
        BotCommand::Start => "ref_42".into(),
        BotCommand::Skill => "translator".into(),
        BotCommand::Translate => "de Guten Morgen, wie geht's? 😀".into(),
        BotCommand::Summarize => {
            "Большой текст о том, как бот обрабатывает сообщения под нагрузкой.".into()
        }
        BotCommand::Rewrite => "make this sentence sound better".into(),
        BotCommand::Remind => "10m stretch your legs".into(),
        BotCommand::Task => "write the load test report".into(),
        BotCommand::Trace => trace_id.into(),
        BotCommand::Grant => format!("{guest_id} user"),
        BotCommand::Revoke => guest_id.to_string(),
        _ => String::new(),
    }
}

pub fn is_refusal(exchange: &Exchange) -> bool {
    exchange.texts().iter().any(|t| t.starts_with("Sorry, "))
}

/// The outcome of a self-check.
#[derive(Debug)]
pub struct SelfCheckReport {
    pub lines: Vec<String>,
    pub sent: BTreeMap<String, u64>,
    pub stats: DemoBotStats,
}

pub async fn run(seed: u64) -> anyhow::Result<SelfCheckReport> {
    let config = DemoBotConfig {
        seed,
        reply_in_webhook: false,
        ..DemoBotConfig::default()
    };
    let stack = LocalStack::start(config).await?;
    let pools = stack.bot.config().pools.clone();
    let ids = Arc::new(UpdateIds::unsharded());
    let client = reqwest::Client::new();
    let mut users = BTreeMap::new();
    for tier in Tier::ALL {
        let u = ChatUser::new(
            stack.api.clone(),
            ids.clone(),
            &pools,
            tier,
            0,
            stack.webhook_url(),
            None,
            client.clone(),
        )?;
        users.insert(tier, u);
    }
    let guest_id = pools.id(Tier::Guest, 1)?;
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines = vec![format!(
        "{:<12} {:<10} {:>9} {:>9}  answer",
        "command", "tier", "reply ms", "refused"
    )];
    let mut trace_id = String::from("tr_000001");
    for &cmd in BotCommand::ALL {
        let args = sample_args(cmd, guest_id, &trace_id);
        let user = users.get_mut(&cmd.tier()).expect("every tier");
        let update = user.command(cmd.name(), &args)?;
        let ex = user
            .send(&update)
            .await
            .with_context(|| format!("sending {}", cmd.name()))?;
        *sent.entry(cmd.name().into()).or_default() += 1;
        ensure!(
            ex.status == 200 && !is_refusal(&ex),
            "{} from a {} user failed: {:?}",
            cmd.name(),
            cmd.tier(),
            ex.texts()
        );
        if cmd == BotCommand::Traces {
            trace_id = ex
                .texts()
                .first()
                .and_then(|t| t.split_whitespace().find(|w| w.starts_with("tr_")))
                .unwrap_or("")
                .to_string();
        }
        let mut refused = "-";
        if let Some(lower) = Tier::ALL.into_iter().rev().find(|t| *t < cmd.tier()) {
            let user = users.get_mut(&lower).expect("every tier");
            let update = user.command(cmd.name(), &args)?;
            let ex = user.send(&update).await?;
            *sent.entry(cmd.name().into()).or_default() += 1;
            ensure!(
                is_refusal(&ex),
                "{} from a {lower} user was not refused",
                cmd.name()
            );
            refused = lower.as_str();
        }
        let first = ex.texts().last().map(|t| {
            t.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(48)
                .collect::<String>()
        });
        let reply_ms = ex
            .reply_after
            .map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3));
        lines.push(format!(
            "{:<12} {:<10} {:>9} {:>9}  {}",
            cmd.name(),
            cmd.tier(),
            reply_ms,
            refused,
            first.unwrap_or_default()
        ));
    }
    let user = users.get_mut(&Tier::User).expect("user tier");
    let mut kinds = vec![
        ("text", user.text("hi there")?),
        (
            "text",
            user.text("Please explain how webhooks deliver updates, step by step")?,
        ),
    ];
    for kind in MediaKind::ALL {
        kinds.push(("media", user.media(kind, Some("see attached"))?));
    }
    for (what, update) in kinds {
        let ex = user.send(&update).await?;
        ensure!(ex.reply_after.is_some(), "no reply to a {what} update");
    }
    let update = user.command("/mode", "")?;
    let ex = user.send(&update).await?;
    *sent.entry("/mode".into()).or_default() += 1;
    let message = ex
        .keyboard_message()
        .context("/mode offered no buttons")?
        .clone();
    let data = message
        .reply_markup
        .as_ref()
        .and_then(|k| k.callback_data().nth(1).map(str::to_string))
        .context("no button data")?;
    let update = user.callback(&message, &data)?;
    let ex = user.send(&update).await?;
    ensure!(
        ex.texts().iter().any(|t| t.starts_with("Mode set to")),
        "the button press was not answered: {:?}",
        ex.texts()
    );

    let url = format!("http://{}/stats", stack.bot_addr);
    let stats: DemoBotStats = client.get(url).send().await?.json().await?;
    if stats.commands != sent {
        bail!(
            "the demo bot counted {:?} but {:?} was sent",
            stats.commands,
            sent
        );
    }
    lines.push(format!(
        "selfcheck passed: {} updates, {} commands in {} tiers, {} refusals, {} replies through the stand-in",
        stats.total,
        BotCommand::ALL.len(),
        Tier::ALL.len(),
        stats.refused.values().sum::<u64>(),
        stats.replies.sent
    ));
    Ok(SelfCheckReport { lines, sent, stats })
}

/// Runs the self-check and prints its lines.
pub async fn command(args: SelfcheckArgs) -> anyhow::Result<ExitCode> {
    let report = run(args.seed).await?;
    for line in &report.lines {
        println!("{line}");
    }
    if let Some(path) = args.stats_json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report.stats)?)
            .with_context(|| format!("--stats-json: writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
