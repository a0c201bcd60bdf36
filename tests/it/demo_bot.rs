//! The demo bot against real HTTP: tiers, grants, buttons, exact counts, secrets, bad input and
//! seeded faults.

use std::collections::BTreeMap;

use stress::cmd::selfcheck::{is_refusal, sample_args};
use stress::demo_bot::{BotCommand, BotLatency, DemoBotConfig, Faults};
use stress::telegram::Tier;

use crate::common::{Users, stack, stack_with, stats};

#[tokio::test]
async fn every_command_works_from_its_tier_and_is_refused_below() {
    let stack = stack().await;
    let users = Users::default();
    let guest_id = stack.bot.config().pools.id(Tier::Guest, 5).unwrap();
    let mut refused = BTreeMap::new();
    for &cmd in BotCommand::ALL {
        let args = sample_args(cmd, guest_id, "tr_000001");
        for tier in Tier::ALL {
            let mut user = users.user(&stack, tier, 0);
            let update = user.command(cmd.name(), &args).unwrap();
            let ex = user.send(&update).await.unwrap();
            assert_eq!(ex.status, 200);
            assert!(
                ex.reply_after.is_some(),
                "{} from {tier}: no reply",
                cmd.name()
            );
            if tier >= cmd.tier() {
                assert!(
                    !is_refusal(&ex),
                    "{} refused for {tier}: {:?}",
                    cmd.name(),
                    ex.texts()
                );
            } else {
                assert!(
                    is_refusal(&ex),
                    "{} allowed for {tier}: {:?}",
                    cmd.name(),
                    ex.texts()
                );
                *refused.entry(cmd.name().to_string()).or_insert(0u64) += 1;
            }
        }
    }
    let s = stats(&stack).await;
    assert_eq!(s.refused, refused);
    assert_eq!(s.commands.len(), 22);
    assert!(s.commands.values().all(|n| *n == 4));
}

#[tokio::test]
async fn grant_and_revoke_change_tiers_but_only_for_pool_ids() {
    let stack = stack().await;
    let users = Users::default();
    let mut admin = users.user(&stack, Tier::Admin, 0);
    let mut guest = users.user(&stack, Tier::Guest, 7);
    let gid = guest.user_id().to_string();

    let u = guest.command("/traces", "").unwrap();
    assert!(is_refusal(&guest.send(&u).await.unwrap()));
    let u = admin
        .command("/grant", &format!("{gid} developer"))
        .unwrap();
    let ex = admin.send(&u).await.unwrap();
    assert!(
        ex.texts()[0].contains("is now a developer"),
        "{:?}",
        ex.texts()
    );
    let u = guest.command("/traces", "").unwrap();
    assert!(!is_refusal(&guest.send(&u).await.unwrap()));
    let u = guest.command("/tier", "").unwrap();
    assert!(guest.send(&u).await.unwrap().texts()[0].contains("tier developer (guest pool)"));

    let u = admin.command("/revoke", &gid).unwrap();
    assert!(admin.send(&u).await.unwrap().texts()[0].contains("back to guest"));
    let u = guest.command("/traces", "").unwrap();
    assert!(is_refusal(&guest.send(&u).await.unwrap()));

    // An id outside every pool is refused, whatever the admin says, and counted.
    for args in ["12345 admin", "12345"] {
        let cmd = if args.contains(' ') {
            "/grant"
        } else {
            "/revoke"
        };
        let u = admin.command(cmd, args).unwrap();
        let ex = admin.send(&u).await.unwrap();
        assert!(
            ex.texts()[0].contains("Refused: 12345 is not a test user"),
            "{:?}",
            ex.texts()
        );
    }
    assert_eq!(stats(&stack).await.grants_refused, 2);
}

#[tokio::test]
async fn inline_buttons_round_trip_as_callback_queries() {
    let stack = stack().await;
    let users = Users::default();
    let mut user = users.user(&stack, Tier::Guest, 1);
    let u = user.command("/mode", "").unwrap();
    let ex = user.send(&u).await.unwrap();
    let msg = ex.keyboard_message().expect("a keyboard").clone();
    let data: Vec<String> = msg
        .reply_markup
        .as_ref()
        .unwrap()
        .callback_data()
        .map(String::from)
        .collect();
    assert_eq!(
        data,
        ["mode:chat", "mode:code", "mode:translate", "mode:concise"]
    );

    let u = user.callback(&msg, "mode:code").unwrap();
    let ex = user.send(&u).await.unwrap();
    let methods: Vec<&str> = ex.events.iter().map(|e| e.method).collect();
    assert_eq!(methods, ["answerCallbackQuery", "editMessageText"]);
    assert_eq!(ex.events[0].note.as_deref(), Some("Mode: code"));
    assert_eq!(
        ex.events[1].message.as_ref().unwrap().message_id,
        msg.message_id
    );
    let u = user.command("/status", "").unwrap();
    assert!(user.send(&u).await.unwrap().texts()[0].contains("mode code"));

    let u = user.command("/settings", "").unwrap();
    let ex = user.send(&u).await.unwrap();
    let msg = ex.keyboard_message().unwrap().clone();
    let u = user.callback(&msg, "settings:compact").unwrap();
    let ex = user.send(&u).await.unwrap();
    assert_eq!(ex.events[0].note.as_deref(), Some("compact: on"));

    // The admin panel's buttons do nothing for a guest who replays them.
    let u = user.callback(&msg, "admin:stats").unwrap();
    let ex = user.send(&u).await.unwrap();
    assert_eq!(
        ex.events[0].note.as_deref(),
        Some("Only admins can use this button.")
    );
    assert_eq!(stats(&stack).await.kinds["callback"], 3);
}

#[tokio::test]
async fn stats_count_exactly_what_concurrent_users_sent() {
    let stack = stack().await;
    let users = Users::default();
    let mut tasks = Vec::new();
    for i in 0..12u64 {
        let tier = Tier::ALL[(i % 4) as usize];
        let mut user = users.user(&stack, tier, i);
        tasks.push(tokio::spawn(async move {
            let mut sent: BTreeMap<String, u64> = BTreeMap::new();
            for n in 0..25u64 {
                let cmd = BotCommand::ALL[((i * 7 + n * 3) % 22) as usize];
                let update = match n % 5 {
                    0 => user.text("hello there").unwrap(),
                    1 => user
                        .media(stress::telegram::build::MediaKind::Photo, None)
                        .unwrap(),
                    _ => user.command(cmd.name(), "").unwrap(),
                };
                let key = if n % 5 >= 2 {
                    cmd.name().to_string()
                } else {
                    format!("kind{}", n % 5)
                };
                assert_eq!(user.send(&update).await.unwrap().status, 200);
                *sent.entry(key).or_default() += 1;
            }
            sent
        }));
    }
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *sent.entry(k).or_default() += v;
        }
    }
    let s = stats(&stack).await;
    assert_eq!(s.total, 300);
    assert_eq!(s.kinds["text_simple"], sent["kind0"]);
    assert_eq!(s.kinds["photo"], sent["kind1"]);
    let commands: BTreeMap<String, u64> = sent
        .into_iter()
        .filter(|(k, _)| k.starts_with('/'))
        .collect();
    assert_eq!(s.commands, commands);
    assert_eq!(s.kinds["command"], commands.values().sum::<u64>());
}

async fn post(url: &str, content_type: &str, secret: Option<&str>, body: Vec<u8>) -> u16 {
    let mut r = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(s) = secret {
        r = r.header("x-telegram-bot-api-secret-token", s);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn secret_and_bad_input_are_refused_and_counted() {
    let config = DemoBotConfig {
        secret_token: Some("s3cret_-A".into()),
        latency: BotLatency::zero(),
        reply_in_webhook: false,
        ..DemoBotConfig::default()
    };
    let stack = stack_with(config).await;
    let url = stack.webhook_url();
    let valid = br#"{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"hi"}}"#.to_vec();
    assert_eq!(
        post(&url, "application/json", None, valid.clone()).await,
        401
    );
    assert_eq!(
        post(&url, "application/json", Some("wrong"), valid.clone()).await,
        401
    );
    let s = Some("s3cret_-A");
    assert_eq!(
        post(&url, "application/json", s, b"{not json".to_vec()).await,
        400
    );
    assert_eq!(
        post(&url, "application/json", s, br#"{"update_id":2}"#.to_vec()).await,
        400
    );
    assert_eq!(
        post(
            &url,
            "application/json",
            s,
            br#"{"update_id":3,"message":{"message_id":1}}"#.to_vec()
        )
        .await,
        400
    );
    assert_eq!(post(&url, "text/plain", s, valid.clone()).await, 415);
    assert_eq!(
        post(&url, "application/json", s, vec![b' '; 2 << 20]).await,
        413
    );
    assert_eq!(post(&url, "application/json", s, valid).await, 200);
    let st = stats(&stack).await;
    assert_eq!(st.rejected.unauthorized, 2);
    assert_eq!(st.rejected.malformed, 3);
    assert_eq!(st.rejected.unsupported_media_type, 1);
    assert_eq!(st.rejected.too_large, 1);
    assert_eq!(st.total, 1);

    // With the secret, a ChatUser gets through.
    let users = Users::default();
    let mut user = users.user(&stack, Tier::Guest, 0);
    let u = user.command("/help", "").unwrap();
    assert_eq!(user.send(&u).await.unwrap().status, 200);
}

/// Which of 60 updates got an injected 500 or a dropped connection.
async fn fault_pattern(seed: u64) -> (Vec<&'static str>, stress::demo_bot::DemoBotStats) {
    let faults = Faults {
        error_rate: 0.2,
        reset_rate: 0.1,
        slow_rate: 0.0,
        ..Faults::default()
    };
    let config = DemoBotConfig {
        seed,
        faults,
        latency: BotLatency::zero(),
        reply_in_webhook: false,
        ..DemoBotConfig::default()
    };
    let stack = stack_with(config).await;
    let users = Users::default();
    let mut user = users.user(&stack, Tier::Guest, 0);
    let mut pattern = Vec::new();
    for _ in 0..60 {
        let u = user.command("/help", "").unwrap();
        pattern.push(match user.send(&u).await {
            Ok(ex) if ex.status == 500 => "error",
            Ok(ex) if ex.status == 200 => "ok",
            Ok(_) => "other",
            Err(_) => "reset",
        });
    }
    (pattern, stats(&stack).await)
}

#[tokio::test]
async fn faults_are_seeded_and_counted() {
    let (a, stats_a) = fault_pattern(42).await;
    let (b, _) = fault_pattern(42).await;
    let (c, _) = fault_pattern(43).await;
    assert_eq!(a, b, "the same seed gives the same faults");
    assert_ne!(a, c);
    let count = |p: &[&str], k| p.iter().filter(|x| **x == k).count() as u64;
    assert_eq!(stats_a.faults.errors, count(&a, "error"));
    assert_eq!(stats_a.faults.resets, count(&a, "reset"));
    assert!(stats_a.faults.errors > 0 && stats_a.faults.resets > 0);
    assert_eq!(count(&a, "other"), 0);
    assert_eq!(stats_a.total, 60, "faulted updates were still received");
}
