//! The hot paths, one at a time (`cargo bench --bench hot_paths`): building and serializing
//! each update kind, recording a sample, merging histograms and intervals, and a whole task call
//! with one send (Rhai call, coroutine switch, update built, posted to the demo bot in memory,
//! reply matched, sample recorded).

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use stress::report::ErrorKind;
use stress::stats::Recorder;
use stress::stats::hist;
use stress::stats::recorder::{ReplyDetails, ReplyOutcome};
use stress::telegram::build::MediaKind;
use stress::telegram::ids::ChatMessageIds;
use stress::telegram::{Sender, Tier, UpdateFactory, UpdateIds};

// The binary's allocator, so allocation costs here are the ones a run pays.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn factory() -> (UpdateFactory, SmallRng) {
    let mut rng = SmallRng::seed_from_u64(1);
    let sender = Sender::generate(6_900_100_001, Tier::Guest, &mut rng);
    let f = UpdateFactory::new(
        Arc::new(UpdateIds::unsharded()),
        Arc::new(ChatMessageIds::default()),
        sender,
    );
    (f, rng)
}

/// Written as a run writes it (`UpdateFactory::write`: the sender's JSON made once).
fn json(f: &UpdateFactory, u: &stress::telegram::Update) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    f.write(u, &mut out);
    out
}

/// A message update written as a run writes it: a draft, without the sender's names.
fn draft_json(f: &UpdateFactory, d: &stress::telegram::Draft) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    f.write_draft(d, &mut out);
    out
}

#[divan::bench]
fn build_text(b: divan::Bencher) {
    let (mut f, _) = factory();
    b.bench_local(|| {
        let d = f.draft_text("hello there, how are you?").unwrap();
        draft_json(&f, &d)
    });
}

#[divan::bench]
fn build_command(b: divan::Bencher) {
    let (mut f, _) = factory();
    b.bench_local(|| {
        let d = f.draft_command("/translate", "de good morning").unwrap();
        draft_json(&f, &d)
    });
}

#[divan::bench(args = ["voice", "photo", "document"])]
fn build_media(b: divan::Bencher, kind: &str) {
    let kind: MediaKind = kind.parse().unwrap();
    let (mut f, mut rng) = factory();
    b.bench_local(|| {
        let d = f.draft_media(kind, Some("look"), &mut rng).unwrap();
        draft_json(&f, &d)
    });
}

#[divan::bench]
fn build_callback(b: divan::Bencher) {
    let (mut f, _) = factory();
    let on = f.text("menu").unwrap().message.unwrap();
    b.bench_local(|| {
        let u = f.callback(&on, "mode:chat").unwrap();
        json(&f, &u)
    });
}

#[divan::bench]
fn record_a_sample(b: divan::Bencher) {
    let mut r = Recorder::default();
    for name in ["/help", "/start", "text", "voice", "callback"] {
        r.request(name, Duration::from_millis(1), None, 0);
    }
    let mut i = 0u64;
    b.bench_local(|| {
        i += 1;
        // As a send records it: no wait for a connection, one reply.
        r.served(
            "/help",
            Duration::ZERO,
            Duration::from_micros(500 + i % 1000),
            None,
            120,
        );
        let details = ReplyDetails {
            last: Some(Duration::from_micros(800)),
            replies: 1,
            ack: None,
        };
        r.reply(
            "/help",
            ReplyOutcome::After(Duration::from_micros(800)),
            details,
        );
    });
}

#[divan::bench]
fn record_a_failure(b: divan::Bencher) {
    let mut r = Recorder::default();
    b.bench_local(|| {
        r.request(
            "text",
            Duration::from_millis(3),
            Some(ErrorKind::Timeout),
            0,
        )
    });
}

#[divan::bench]
fn merge_histograms(b: divan::Bencher) {
    let mut a = hist::new();
    let mut from = hist::new();
    for i in 0..10_000u64 {
        from.saturating_record(100 + i * 37 % 50_000);
    }
    b.bench_local(|| hist::merge(&mut a, &from));
}

#[divan::bench]
fn merge_an_interval_of_20_names(b: divan::Bencher) {
    let mut r = Recorder::default();
    for i in 0..20 {
        for j in 0..100u64 {
            r.request(
                &format!("/cmd{i}"),
                Duration::from_micros(300 + j * 17),
                None,
                100,
            );
        }
    }
    let interval = r.take(1);
    let mut total = stress::stats::Interval::default();
    b.bench_local(|| total.merge(&interval));
}

/// The bot's answer in a webhook body (here the demo bot's /help, a 400-byte sendMessage) read
/// as the stand-in does: parsed, dispatched, delivered to the user's inbox and collected.
#[divan::bench]
fn a_webhook_body_reply(b: divan::Bencher) {
    let api = stress::botapi::BotApi::new(Default::default(), Default::default());
    let inbox = api.hub().subscribe(6_900_100_001);
    let body = bytes::Bytes::from(serde_json::to_vec(&serde_json::json!({
        "chat_id": 6_900_100_001_i64,
        "method": "sendMessage",
        "text": "Commands for a guest user:\n/start — start over and see what I can do\n/help — list \
                 the commands you can use\n/status — bot status and your session\n/skills — list \
                 the skills\n/mode — choose how I answer\n/cancel — cancel the current \
                 operation\n/clear — forget our conversation\n/settings — change your settings",
    })).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let since = std::time::Instant::now();
    b.bench_local(|| {
        runtime.block_on(async {
            stress::botapi::webhook_reply(&api, Some("application/json"), body.clone()).await;
            inbox.collect(since, None).await
        })
    });
}

/// A whole task call with one send, 2,000 per iteration, against the demo bot in memory (its
/// handling is included: this is an upper bound of the client's own cost).
#[divan::bench(sample_count = 10)]
fn task_calls_with_one_send(b: divan::Bencher) {
    let dir = std::env::temp_dir().join(format!("stress-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("one.rhai");
    std::fs::write(
        &script,
        "user_class(\"One\", #{ tier: \"guest\" });\n/// @task(1)\nfn help() { let r = send_command(\"/help\"); r.ok }\n",
    )
    .unwrap();
    let set = stress::config::scripts(&[script], std::path::Path::new("stdlib")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    const CALLS: u64 = 2_000;
    b.counter(divan::counter::ItemsCount::new(CALLS))
        .bench_local(|| {
            runtime
                .block_on(stress::cmd::check::dry_run(&set, CALLS, 1))
                .unwrap()
        });
    let _ = std::fs::remove_dir_all(&dir);
}
