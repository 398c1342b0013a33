//! A bench run's results, as JSON (for tools and for comparing runs) and
//! as a Markdown table (for docs/BENCHMARKS.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plan::{Plan, Scale, decimal};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
}

impl Machine {
    pub fn here() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            os: format!("Linux {os}"),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseReport {
    pub name: &'static str,
    /// Companies, projects or districts handled.
    pub items: usize,
    pub requests: u64,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub items_per_sec: f64,
    /// For the open-loop phase: the rate it was asked to send at.
    pub target_rate: Option<f64>,
    /// The server's peak resident memory by the end of the phase.
    pub server_peak_rss_mib: f64,
}

impl PhaseReport {
    pub fn new(name: &'static str, items: usize, requests: u64, seconds: f64, rss: f64) -> PhaseReport {
        PhaseReport {
            name,
            items,
            requests,
            seconds,
            requests_per_sec: requests as f64 / seconds.max(1e-9),
            items_per_sec: items as f64 / seconds.max(1e-9),
            target_rate: None,
            server_peak_rss_mib: rss,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{:>36}: {:>8} items {:>9} requests in {:>8.2} s = {:>8.0} req/s, server peak {:.0} MiB",
            self.name, self.items, self.requests, self.seconds, self.requests_per_sec, self.server_peak_rss_mib
        )
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub endpoint: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(endpoint: &str, h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        Latency {
            endpoint: endpoint.to_string(),
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsCheck {
    pub expected_companies: i64,
    pub companies: i64,
    pub expected_projects: i64,
    pub projects: i64,
    pub expected_area_hundredths: i64,
    pub claimed_area_hundredths: i64,
    pub approved_area_hundredths: i64,
    pub expected_amount_fen: i64,
    pub claimed_amount_fen: i64,
    pub approved_amount_fen: i64,
    pub paid: i64,
}

impl TotalsCheck {
    pub fn ok(&self) -> bool {
        self.companies == self.expected_companies
            && self.projects == self.expected_projects
            && self.claimed_area_hundredths == self.expected_area_hundredths
            && self.approved_area_hundredths == self.expected_area_hundredths
            && self.claimed_amount_fen == self.expected_amount_fen
            && self.approved_amount_fen == self.expected_amount_fen
            && self.paid == self.expected_projects
    }

    pub fn line(&self) -> String {
        format!(
            "totals {}: {} companies, {} projects, {} m², ¥{} approved, {} paid",
            if self.ok() { "agree" } else { "DISAGREE" },
            self.companies,
            self.projects,
            decimal(self.claimed_area_hundredths),
            decimal(self.approved_amount_fen),
            self.paid
        )
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    pub requests: usize,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub latency: Latency,
    pub peak_rss_mib: f64,
}

impl Baseline {
    pub fn new(requests: usize, seconds: f64, h: &Histogram<u64>, peak_rss_mib: f64) -> Baseline {
        Baseline {
            requests,
            seconds,
            requests_per_sec: requests as f64 / seconds.max(1e-9),
            latency: Latency::of("POST /insert", h),
            peak_rss_mib,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{:>36}: {:>8} requests in {:.2} s = {:.0} req/s, p99 {:.2} ms",
            "baseline (one insert per request)",
            self.requests,
            self.seconds,
            self.requests_per_sec,
            self.latency.p99_ms
        )
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Submit {
    pub full_load_per_sec: f64,
    pub baseline_per_sec: Option<f64>,
    /// Submit throughput ÷ baseline throughput (target ≥ 0.5).
    pub ratio_to_baseline: Option<f64>,
    pub half_load_per_sec: Option<f64>,
    /// p99 of submits sent at half the full-load rate (target < 10 ms).
    pub half_load_p99_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub name: String,
    pub scale: Scale,
    pub companies: usize,
    pub projects: usize,
    pub area: String,
    pub concurrency: usize,
    pub fast_commit: bool,
    pub machine: Machine,
    /// From the first registration to the last batch reconciled.
    pub lifecycle_seconds: f64,
    /// After that, until the live totals counted every payment.
    pub settle_seconds: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub phases: Vec<PhaseReport>,
    pub latencies: Vec<Latency>,
    pub submit: Submit,
    pub server_idle_rss_mib: f64,
    pub server_peak_rss_mib: f64,
    pub server_end_rss_mib: f64,
    pub data_dir_bytes: u64,
    /// The SQLite database alone (no documents, no exports).
    pub database_bytes: u64,
    /// `database_bytes` per project (one application each).
    pub database_bytes_per_application: f64,
    pub totals: TotalsCheck,
    pub baseline: Option<Baseline>,
    pub finished_at: String,
    /// How the run treats the policy's public notice (公示).
    pub public_notice: &'static str,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        scale: Scale,
        plan: &Plan,
        concurrency: usize,
        fast_commit: bool,
        machine: Machine,
        phases: Vec<PhaseReport>,
        histograms: BTreeMap<&'static str, Histogram<u64>>,
        lifecycle_seconds: f64,
        settle_seconds: f64,
        server_idle_rss_mib: f64,
        server_peak_rss_mib: f64,
        server_end_rss_mib: f64,
        data_dir_bytes: u64,
        database_bytes: u64,
        totals: TotalsCheck,
        baseline: Option<Baseline>,
    ) -> Report {
        let latencies: Vec<Latency> = histograms.iter().map(|(k, h)| Latency::of(k, h)).collect();
        let requests: u64 = phases.iter().map(|p| p.requests).sum();
        let rate = |name: &str| phases.iter().find(|p| p.name == name).map(|p| p.items_per_sec);
        let full = rate("submit (full load)").unwrap_or(0.0);
        let baseline_per_sec = baseline.as_ref().map(|b| b.requests_per_sec);
        let submit = Submit {
            full_load_per_sec: full,
            baseline_per_sec,
            ratio_to_baseline: baseline_per_sec.map(|b| full / b),
            half_load_per_sec: rate("submit (half load)"),
            half_load_p99_ms: latencies
                .iter()
                .find(|l| l.endpoint == "POST /applications/{id}/submit @ half load")
                .map(|l| l.p99_ms),
        };
        Report {
            name,
            scale,
            companies: plan.companies.len(),
            projects: plan.projects.len(),
            area: decimal(plan.area_hundredths()),
            concurrency,
            fast_commit,
            machine,
            lifecycle_seconds,
            settle_seconds,
            requests,
            requests_per_sec: requests as f64 / lifecycle_seconds.max(1e-9),
            phases,
            latencies,
            submit,
            server_idle_rss_mib,
            server_peak_rss_mib,
            server_end_rss_mib,
            data_dir_bytes,
            database_bytes,
            database_bytes_per_application: database_bytes as f64 / plan.projects.len().max(1) as f64,
            totals,
            baseline,
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            public_notice: crate::PUBLIC_NOTICE,
        }
    }

    /// Writes bench-<name>.json and bench-<name>.md into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = dir.join(format!("bench-{}.json", self.name));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?)?;
        let md = dir.join(format!("bench-{}.md", self.name));
        std::fs::write(&md, self.markdown())?;
        eprintln!("wrote {} and {}", json.display(), md.display());
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "### `subsidy bench` — {}: {} companies, {} projects, {} m²\n",
            self.name, self.companies, self.projects, self.area
        );
        let _ = writeln!(
            s,
            "Machine: {} ({} cores, {} GiB, {}). {} requests in flight; server commits with synchronous={}. Finished {}.\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.memory_gib,
            self.machine.os,
            self.concurrency,
            if self.fast_commit { "NORMAL" } else { "FULL" },
            self.finished_at
        );
        let _ = writeln!(s, "Policy: the Shenzhen 2020 terms; {}.\n", self.public_notice);
        let _ = writeln!(
            s,
            "**Whole lifecycle: {:.1} s** ({} requests, {:.0} req/s), then {:.1} s until the live totals counted every payment. \
             Totals {}: {} companies, {} projects, {} m² claimed and approved, ¥{} paid.\n",
            self.lifecycle_seconds,
            self.requests,
            self.requests_per_sec,
            self.settle_seconds,
            if self.totals.ok() { "agree with what was generated" } else { "**DISAGREE**" },
            self.totals.companies,
            self.totals.projects,
            decimal(self.totals.claimed_area_hundredths),
            decimal(self.totals.approved_amount_fen),
        );
        let _ = writeln!(s, "| phase | items | requests | seconds | req/s | server peak RSS |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for p in &self.phases {
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {:.2} | {:.0} | {:.0} MiB |",
                p.name,
                p.target_rate.map(|r| format!(" (sent at {r:.0}/s)")).unwrap_or_default(),
                p.items,
                p.requests,
                p.seconds,
                p.requests_per_sec,
                p.server_peak_rss_mib
            );
        }
        let _ = writeln!(s, "\n| endpoint | count | p50 ms | p90 ms | p99 ms | max ms |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for l in &self.latencies {
            let _ = writeln!(
                s,
                "| `{}` | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                l.endpoint, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Submit at full load: {:.0}/s{}.{}",
            self.submit.full_load_per_sec,
            match (self.submit.baseline_per_sec, self.submit.ratio_to_baseline) {
                (Some(b), Some(r)) => format!("; the one-insert baseline: {b:.0}/s; **ratio {r:.2}**"),
                _ => String::new(),
            },
            match (self.submit.half_load_per_sec, self.submit.half_load_p99_ms) {
                (Some(rate), Some(p99)) => format!(" At half load ({rate:.0}/s): **p99 {p99:.2} ms**."),
                _ => String::new(),
            }
        );
        let _ = writeln!(
            s,
            "\nServer memory: {:.0} MiB idle, **{:.0} MiB peak**, {:.0} MiB at the end. Data directory: {:.1} MB; \
             the database alone {:.1} MB, **{:.0} bytes per application** (documents excluded).",
            self.server_idle_rss_mib,
            self.server_peak_rss_mib,
            self.server_end_rss_mib,
            self.data_dir_bytes as f64 / 1e6,
            self.database_bytes as f64 / 1e6,
            self.database_bytes_per_application
        );
        s
    }
}
