//! The processes a bench run loads: `subsidy serve` on a fresh data
//! directory, or the one-insert baseline, each a child process on a free
//! loopback port, with its memory sampled from /proc while it runs.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pub url: String,
    pub pid: u32,
    peak_rss_kib: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Starts `exe args…` and waits for the line that names its address
    /// (`API:` for serve, `Baseline:` for the baseline).
    pub async fn spawn(exe: &Path, args: &[String], marker: &str) -> anyhow::Result<Server> {
        let mut child = Command::new(exe)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let pid = child.id().context("the child has a pid")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let url = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.trim().strip_prefix(marker) {
                    return Ok(rest.trim().trim_end_matches('/').to_string());
                }
            }
            bail!("{} exited before printing {marker}", exe.display())
        })
        .await
        .context("the server did not start within 120 s")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let peak_rss_kib = Arc::new(AtomicU64::new(0));
        let peak = peak_rss_kib.clone();
        let sampler = tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Ok(Server { child, url, pid, peak_rss_kib, sampler })
    }

    /// The resident memory now, in MiB.
    pub fn rss_mib(&self) -> f64 {
        rss_kib(self.pid).unwrap_or(0) as f64 / 1024.0
    }

    /// The highest resident memory seen so far (sampled every 100 ms, and
    /// the kernel's high-water mark), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let hwm = status_field(self.pid, "VmHWM:").unwrap_or(0);
        self.peak_rss_kib.load(Ordering::Relaxed).max(hwm) as f64 / 1024.0
    }

    /// SIGKILL: the process dies at once, mid-request, mid-commit (the
    /// crash-durability suite).
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.sampler.abort();
        self.child.kill().await?;
        Ok(())
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.sampler.abort();
        // SIGTERM for a clean shutdown; the child is killed if it lingers.
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            self.child.kill().await?;
        }
        Ok(())
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}
