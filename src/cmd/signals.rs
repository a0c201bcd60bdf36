//! The signals that stop a command: Ctrl-C (SIGINT), SIGTERM (`timeout`, systemd, `docker
//! stop`, Kubernetes) and SIGHUP (a closed terminal). The first asks for a graceful stop; the
//! second for an immediate one. Either way the command still writes what it gathered.

use tokio::sync::watch;

/// Counts the stop signals the process received.
#[derive(Debug, Clone)]
pub(crate) struct Signals {
    count: watch::Receiver<u32>,
}

impl Signals {
    /// Starts listening. A signal that cannot be listened to (outside Unix, say) is left to its
    /// default action, and the others still work.
    pub fn listen() -> Self {
        let (tx, count) = watch::channel(0u32);
        let tx = std::sync::Arc::new(tx);
        let bump = move || {
            tx.send_modify(|n| *n += 1);
            if *tx.borrow() >= 3 {
                eprintln!("stress: a third signal: exiting now, without the results");
                std::process::exit(130);
            }
        };
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            for kind in [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::hangup(),
            ] {
                let Ok(mut stream) = signal(kind) else {
                    continue;
                };
                let bump = bump.clone();
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        bump();
                    }
                });
            }
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                bump();
            }
        });
        Self { count }
    }

    /// Resolves once `n` signals have arrived.
    async fn at_least(&self, n: u32) {
        let mut count = self.count.clone();
        // An error means the listeners are gone: no signal will come.
        if count.wait_for(|c| *c >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The first signal: stop gracefully.
    pub async fn first(&self) {
        self.at_least(1).await;
    }

    /// The second signal: stop now.
    pub async fn second(&self) {
        self.at_least(2).await;
    }
}
