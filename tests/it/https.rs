//! HTTPS targets (issue #17): the demo bot served over TLS with a certificate from a private CA
//! made at test time, and `stress run --target https://...` trusting it with `--ca-cert`,
//! accepting any certificate with `--insecure`, or, with neither, failing every request as a
//! connect error that names the certificate (exit code 3). Misused TLS flags name themselves.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use clap::Parser;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::watch;

use crate::common::{root, temp_dir};
use stress::cli::{Cli, RunArgs, Subcommand};
use stress::demo_bot::{BotLatency, DemoBot, DemoBotConfig};
use stress::report::Summary;
use stress::server::{ServerTls, read_certificates, read_key};

/// PEM files: a private CA, and a certificate it issued for 127.0.0.1 with its key.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn new_pki(dir: &Path, ca_name: &str) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let write = |file: &str, pem: String| {
        let path = dir.join(file);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write(&format!("{ca_name}.pem"), ca.pem()),
        cert: write("cert.pem", cert.pem()),
        key: write("key.pem", key.serialize_pem()),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The demo bot over HTTPS on a loopback port, answering in the webhook body: its webhook URL,
/// the bot, and the sender that stops it when dropped.
async fn https_bot(pki: &Pki) -> (String, Arc<DemoBot>, watch::Sender<bool>) {
    let chain = read_certificates(&pki.cert).unwrap();
    let tls = ServerTls::new(chain, read_key(&pki.key).unwrap()).unwrap();
    let bot = DemoBot::new(DemoBotConfig {
        latency: BotLatency::zero(),
        reply_in_webhook: true,
        ..DemoBotConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(stress::demo_bot::serve_tls(
        listener,
        bot.clone(),
        tls,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    (format!("https://{addr}/webhook"), bot, stop)
}

/// Three guests, five tasks each, no think time.
fn args(target: &str) -> RunArgs {
    RunArgs {
        scripts: vec![root().join("scripts/guest.rhai")],
        stdlib: root().join("stdlib"),
        profile: "smoke".into(),
        profiles_dir: root().join("profiles"),
        users: Some(3),
        spawn_rate: Some(3.0),
        iterations: Some(5),
        // A bound, not a timing: the iterations end the run.
        run_time: Some("60s".into()),
        wait: Some("0".into()),
        seed: Some(1),
        target: Some(target.into()),
        timeout: "10s".into(),
        quiet: true,
        ..RunArgs::default()
    }
}

async fn run(args: RunArgs) -> Summary {
    let config = stress::config::run(&args).expect("valid configuration");
    stress::cmd::run::run(config, std::future::pending())
        .await
        .expect("the run completes")
        .summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_is_loaded_with_its_ca_or_insecure() {
    let pki = new_pki(&temp_dir("https-trusted"), "ca");
    let (url, bot, _stop) = https_bot(&pki).await;

    let mut with_ca = args(&url);
    with_ca.ca_cert = Some(pki.ca.clone());
    let s = run(with_ca).await;
    assert!(s.totals.requests > 0);
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(bot.stats().total, s.totals.requests, "each update arrived");
    assert!(s.totals.replies > 0, "replies in the webhook body");

    let mut insecure = args(&url);
    insecure.insecure = true;
    let s = run(insecure).await;
    assert!(s.totals.requests > 0);
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
}

/// `stress target --tls-cert --tls-key` as a user starts it: its first line says where it
/// serves HTTPS.
async fn stress_target(pki: &Pki) -> (tokio::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(["target", "--listen", "127.0.0.1:0", "--no-latency"])
        .arg("--tls-cert")
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(at) = line.find("demo bot on https://") {
            let url = line[at + "demo bot on ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            return (child, url);
        }
    }
    panic!("stress target ended without serving");
}

/// `stress run` against `url`, the system's roots being `roots` only (`SSL_CERT_FILE`, read as
/// OpenSSL reads it, so the test does not depend on this machine's store).
async fn run_binary(url: &str, roots: &Path, flags: &[&str], json: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stress"))
        .current_dir(root())
        .env("SSL_CERT_FILE", roots)
        .env_remove("SSL_CERT_DIR")
        .args(["run", "--script", "scripts/guest.rhai", "--iterations", "2"])
        .args(["--users", "2", "--run-time", "60s", "--wait", "0", "-q"])
        .args(["--target", url])
        .args(flags)
        .arg("--json")
        .arg(json)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_every_request_and_the_run_exits_3() {
    let dir = temp_dir("https-untrusted");
    let pki = new_pki(&dir, "ca");
    let other = new_pki(&temp_dir("https-other-ca"), "other-ca");
    let (_target, url) = stress_target(&pki).await;
    let json = dir.join("run.json");

    let out = run_binary(&url, &other.ca, &[], &json).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stdout.contains("certificate"), "{stdout}");
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let (requests, failed) = (&result["totals"]["requests"], &result["totals"]["failures"]);
    assert!(requests.as_u64().unwrap() > 0);
    assert_eq!(failed, requests, "every request failed");
    let failure = &result["failures"][0];
    assert_eq!(failure["kind"], "connect");
    let address = url
        .trim_start_matches("https://")
        .trim_end_matches("/webhook");
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "TLS handshake with {address}: invalid peer certificate"
        )) && message.contains("UnknownIssuer"),
        "{message}"
    );

    // The same bot, its CA given: the run passes.
    let out = run_binary(&url, &other.ca, &["--ca-cert", path(&pki.ca)], &json).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(result["totals"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(result["totals"]["failures"], 0);
}

#[test]
fn tls_flags_that_cannot_apply_name_themselves() {
    let dir = temp_dir("https-flags");
    let pki = new_pki(&dir, "ca");
    let config_error = |args: RunArgs| {
        let e = stress::config::run(&args).unwrap_err();
        assert_eq!(stress::exit_code(&e), 2, "{e:#}");
        format!("{e:#}")
    };

    let mut a = args("http://127.0.0.1:1/webhook");
    a.ca_cert = Some(pki.ca.clone());
    let e = config_error(a);
    assert!(
        e.contains("--ca-cert: only with an https:// --target"),
        "{e}"
    );
    let mut a = args("http://127.0.0.1:1/webhook");
    a.target = None;
    a.insecure = true;
    let e = config_error(a);
    assert!(
        e.contains("--insecure: only with an https:// --target"),
        "{e}"
    );
    let mut a = args("https://127.0.0.1:1/webhook");
    a.ca_cert = Some(dir.join("missing.pem"));
    let e = config_error(a);
    assert!(
        e.contains("--ca-cert: cannot read ") && e.contains("missing.pem"),
        "{e}"
    );
    let mut a = args("https://127.0.0.1:1/webhook");
    a.ca_cert = Some(pki.key.clone());
    let e = config_error(a);
    assert!(
        e.contains("--ca-cert: ") && e.contains("key.pem holds no certificate"),
        "{e}"
    );

    let parse =
        |line: &[&str]| Cli::try_parse_from(std::iter::once("stress").chain(line.iter().copied()));
    let e = parse(&["run", "--insecure", "--ca-cert", path(&pki.ca)]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--insecure"), "{e}");
    let e = parse(&["target", "--tls-cert", path(&pki.cert)]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--tls-key"), "{e}");

    // The certificate given as its own key, and a key that is not the certificate's.
    let target = |cert: &Path, key: &Path| {
        let cli = parse(&["target", "--tls-cert", path(cert), "--tls-key", path(key)]).unwrap();
        let Some(Subcommand::Target(args)) = cli.command else {
            panic!("stress target");
        };
        let e = anyhow::Error::from(stress::config::target_tls(&args).unwrap_err());
        assert_eq!(stress::exit_code(&e), 2);
        format!("{e:#}")
    };
    let e = target(&pki.cert, &pki.cert);
    assert!(
        e.contains("--tls-key: ") && e.contains("holds no private key"),
        "{e}"
    );
    let other = new_pki(&temp_dir("https-flags-other"), "other");
    let e = target(&pki.cert, &other.key);
    assert_eq!(e, "--tls-key: the key does not belong to the certificate");
}
