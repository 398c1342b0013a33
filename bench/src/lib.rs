//! `subsidy bench` (this crate, kept out of the standalone crate, whose
//! library is wiring only): a load generator that drives the real HTTP API of a
//! standalone server, started fresh as a child process, through the whole
//! lifecycle for N companies and M projects spread over the real Shenzhen
//! jurisdictions: register, apply (with two uploaded documents), submit,
//! the project manager's confirmation, three approvals, then per district a
//! payment batch released by a second finance user, its treasury file
//! downloaded and the bank's results imported. It times every request per
//! endpoint (hdrhistogram), samples the server's memory, checks the live
//! totals against what it generated, and loads a one-insert baseline the
//! same way for a ratio that holds on a noisy machine.

pub mod baseline;
mod client;
pub mod init;
mod plan;
mod report;
pub mod server;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use subsidy_core::jurisdiction::JurisdictionTree;
use subsidy_infra::jwt::Hs256;

use client::{Body, Client, id, version};
pub use plan::Scale;
use plan::{Plan, decimal};
use report::{Machine, PhaseReport, Report, TotalsCheck};
use server::Server;
use subsidy_infra::data::{SHENZHEN_JURISDICTIONS as SHENZHEN_JSON, SHENZHEN_POLICY as SHENZHEN_POLICY_JSON};
use subsidy_infra::jwt::{STANDALONE_AUDIENCE as AUDIENCE, STANDALONE_ISSUER as ISSUER};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// seed: Shenzhen 2020 (1,271 companies, 2,454 projects, 223,000,000 m²);
    /// city: 100,000 projects; nation: 1,000,000 projects.
    #[arg(long, value_enum, default_value = "seed")]
    pub scale: Scale,
    /// Another number of projects (companies follow Shenzhen's ratio).
    #[arg(long)]
    pub projects: Option<usize>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Where the results go (bench-<name>.json and .md).
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Run the server (and the baseline) with synchronous=NORMAL.
    #[arg(long)]
    pub fast_commit: bool,
    /// Skip the one-insert baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Keep the server's data directory instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// The generator's random seed: the same seed plans the same work.
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
    /// Stop after 审核 and keep the data directory, for `--resume`: a long
    /// run's paying can then be run again, or by a newer server, without
    /// repeating the hours before it.
    #[arg(long, conflicts_with = "resume")]
    pub stop_before_pay: bool,
    /// Go on from a data directory that `--stop-before-pay` kept (same
    /// scale and seed): pay, settle, check the totals, time the reads.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// The city's totals before the run, kept in the data directory so a
/// resumed run checks against the same starting point.
const BEFORE_FILE: &str = "bench-before.json";

const TOKEN_TTL_SECS: i64 = 24 * 3600;
/// Submits at full load take this share of the applications; the rest are
/// sent at half the measured peak rate, for the latency at half load.
const PEAK_SHARE: f64 = 0.6;

struct Ctx {
    client: Client,
    keys: Hs256,
    concurrency: usize,
}

impl Ctx {
    fn token(&self, claims: Value) -> String {
        self.keys.sign(&claims, chrono::Utc::now().timestamp(), TOKEN_TTL_SECS)
    }
    fn company(&self, index: usize) -> String {
        self.token(
            json!({"sub": format!("bench-company-{index}"), "role": "company", "name": format!("压测企业{index}")}),
        )
    }
    fn manager(&self, phone: &str) -> String {
        self.token(json!({"sub": format!("bench-pm-{phone}"), "role": "project_manager", "phone_number": phone,
            "phone_number_verified": true, "name": "项目经理"}))
    }
    /// A staff member's token. It only identifies: [`enroll_staff`] put the
    /// member into the staff directory, which gives the role.
    fn staff(&self, role: &str, code: &str, n: u8) -> String {
        self.token(json!({"sub": staff_sub(role, code, n), "name": format!("{role} {code}")}))
    }
}

fn staff_sub(role: &str, code: &str, n: u8) -> String {
    format!("bench-{role}-{code}-{n}")
}

/// Puts every staff member the run acts as into the staff directory, as the
/// demo's city administrator does through `PUT /admin/staff/{sub}`: a
/// reviewer per unit and tier, two finance users per district, the city.
async fn enroll_staff(ctx: &Arc<Ctx>, plan: &Plan) -> anyhow::Result<usize> {
    let mut wanted = std::collections::BTreeSet::new();
    wanted.insert(("city", "440300".to_string(), 1));
    for p in &plan.projects {
        wanted.insert(("community", p.path.community.clone(), 1));
        wanted.insert(("subdistrict", p.path.subdistrict.clone(), 1));
        wanted.insert(("district", p.path.district.clone(), 1));
        wanted.insert(("finance", p.path.district.clone(), 1));
        wanted.insert(("finance", p.path.district.clone(), 2));
    }
    let admin = ctx.token(json!({"sub": "demo-admin-city", "name": "深圳市系统管理员"}));
    let count = wanted.len();
    futures::stream::iter(wanted)
        .map(|(role, code, n)| {
            let (ctx, admin) = (ctx.clone(), admin.clone());
            async move {
                let body = json!({"name": format!("{role} {code}"), "assignments": [{"role": role, "unit": code}]});
                let path = format!("/api/v1/admin/staff/{}", staff_sub(role, &code, n));
                ctx.client.put("PUT /admin/staff/{sub}", &admin, &path, &body).await.map(|_| ())
            }
        })
        .buffer_unordered(ctx.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(count)
}

/// Runs the bench; `exe` is the `subsidy` binary to start as the server.
/// Runs the bench; `None` when it stopped before paying, as asked.
pub async fn run(args: BenchArgs, exe: &Path) -> anyhow::Result<Option<Report>> {
    let projects = args.projects.unwrap_or(args.scale.projects());
    ensure!(projects > 0, "--projects must be at least 1");
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let name = match args.projects {
        Some(n) => format!("{n}"),
        None => format!("{:?}", args.scale).to_lowercase(),
    };
    let tree = JurisdictionTree::from_json(SHENZHEN_JSON)?;
    let plan = Plan::new(&tree, projects, args.seed);
    eprintln!(
        "bench {name}: {} companies, {} projects, {} m² over {} districts, {} in flight",
        plan.companies.len(),
        plan.projects.len(),
        decimal(plan.area_hundredths()),
        plan.districts().len(),
        args.concurrency
    );

    let dir = match &args.resume {
        Some(d) => DataDir::Kept(d.clone()),
        None => DataDir::Temp(tempfile::Builder::new().prefix("subsidy-bench-").tempdir()?),
    };
    let secret = match &args.resume {
        Some(d) => hex::decode(std::fs::read_to_string(d.join("secret.key"))?.trim())
            .with_context(|| format!("{} is not a kept bench directory", d.display()))?,
        None => prepare_data_dir(dir.path())?,
    };
    let mut serve_args: Vec<String> = vec!["--data-dir".into(), dir.path().display().to_string(), "serve".into()];
    serve_args.extend(["--demo", "--addr", "127.0.0.1:0", "--nightly-every-hours", "0"].map(String::from));
    serve_args.extend(["--policy".into(), dir.path().join("bench-policy.json").display().to_string()]);
    serve_args.extend(["--web-dir".into(), dir.path().join("no-web").display().to_string()]);
    if args.fast_commit {
        serve_args.push("--fast-commit".into());
    }
    let server = Server::spawn(exe, &serve_args, "API:").await?;
    let base = server.url.trim_end_matches("/api/v1").to_string();
    let idle_rss = server.rss_mib();
    let ctx = Arc::new(Ctx {
        client: Client::new(&base, args.concurrency),
        keys: Hs256::new(&secret, ISSUER, AUDIENCE),
        concurrency: args.concurrency,
    });
    let plan = Arc::new(plan);

    if args.resume.is_none() {
        let enrolled = enroll_staff(&ctx, &plan).await?;
        eprintln!("enrolled {enrolled} staff members in the directory");
    }
    let city = ctx.staff("city", "440300", 1);
    let before_file = dir.path().join(BEFORE_FILE);
    let before = if args.resume.is_some() {
        serde_json::from_slice(&std::fs::read(&before_file)?)?
    } else {
        let before = stats_totals(&ctx, &city).await?;
        std::fs::write(&before_file, serde_json::to_vec(&before)?)?;
        before
    };
    let mut phases = Vec::new();
    let started = Instant::now();
    let stages = match (args.resume.is_some(), args.stop_before_pay) {
        (true, _) => Stages::PayOnly,
        (false, true) => Stages::UntilPay,
        (false, false) => Stages::All,
    };
    let result = lifecycle(&ctx, &plan, &server, &mut phases, stages).await;
    let lifecycle_secs = started.elapsed().as_secs_f64();
    if let Err(e) = result {
        if args.keep {
            eprintln!("data kept in {}", dir.keep().display());
        }
        server.stop().await.ok();
        return Err(e);
    }
    if stages == Stages::UntilPay {
        server.stop().await?;
        let kept = dir.keep();
        eprintln!("stopped before paying; go on with: subsidy bench --resume {}", kept.display());
        let summary = json!({"phases": phases, "lifecycleSeconds": lifecycle_secs, "latencies": ctx.client.latencies.snapshot().iter().map(|(k, h)| report::Latency::of(k, h)).collect::<Vec<_>>()});
        std::fs::create_dir_all(&args.out)?;
        std::fs::write(args.out.join(format!("bench-{name}-until-pay.json")), serde_json::to_vec_pretty(&summary)?)?;
        return Ok(None);
    }

    // The totals settle once the outbox has been counted.
    let totals = settle_and_check(&ctx, &city, &plan, &before).await?;
    let settle_secs = started.elapsed().as_secs_f64() - lifecycle_secs;
    stats_reads(&ctx, &city, &plan).await?;
    let peak_rss = server.peak_rss_mib();
    let end_rss = server.rss_mib();
    server.stop().await?;
    let db_bytes = dir_size(dir.path());
    // The database alone (its WAL is checkpointed and gone once the server
    // stops): what the issue's bytes-per-application target counts.
    let database_bytes = walk(dir.path())
        .iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("subsidy.db")))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if args.keep {
        eprintln!("data kept in {}", dir.keep().display());
    }

    let baseline = if args.no_baseline {
        None
    } else {
        let submits = phases.iter().find(|p: &&PhaseReport| p.name == "submit (full load)").map_or(0, |p| p.items);
        Some(run_baseline(exe, args.concurrency, submits.max(5_000), args.fast_commit).await?)
    };

    let report = Report::new(
        name,
        args.scale,
        &plan,
        args.concurrency,
        args.fast_commit,
        Machine::here(),
        phases,
        ctx.client.latencies.snapshot(),
        lifecycle_secs,
        settle_secs,
        idle_rss,
        peak_rss,
        end_rss,
        db_bytes,
        database_bytes,
        totals,
        baseline,
    );
    report.write(&args.out)?;
    Ok(Some(report))
}

/// How the bench treats the public notice (公示), as its report says.
pub const PUBLIC_NOTICE: &str =
    "publicNoticeDays set to 0: the district's approvals are payable at once, with no 公示 window";

/// The token key and a policy whose district budgets cover any scale, and
/// no public notice window.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    std::fs::write(dir.join("secret.key"), hex::encode(key))?;
    let mut policy: Value = serde_json::from_str(SHENZHEN_POLICY_JSON)?;
    let budgets = policy["districtBudgets"].as_object_mut().context("districtBudgets")?;
    for v in budgets.values_mut() {
        *v = json!("100000000000.00");
    }
    // 公示: the bench sets the window to 0 (as Shenzhen 2020 had it), so
    // approvals are payable at once and pay in the same run; the report
    // says so ([`PUBLIC_NOTICE`]). A window would hold every approval for
    // days that the bench would have to move the clock across.
    policy["publicNoticeDays"] = json!(0);
    std::fs::write(dir.join("bench-policy.json"), serde_json::to_vec_pretty(&policy)?)?;
    Ok(key.to_vec())
}

/// Where a run's data lives: a directory removed at the end, or one kept
/// from an earlier run.
enum DataDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Kept(p) => p,
        }
    }

    fn keep(self) -> PathBuf {
        match self {
            DataDir::Temp(t) => t.keep(),
            DataDir::Kept(p) => p,
        }
    }
}

/// Which part of the lifecycle a run drives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stages {
    All,
    UntilPay,
    PayOnly,
}

async fn lifecycle(
    ctx: &Arc<Ctx>,
    plan: &Arc<Plan>,
    server: &Server,
    phases: &mut Vec<PhaseReport>,
    stages: Stages,
) -> anyhow::Result<()> {
    if stages != Stages::PayOnly {
        before_pay(ctx, plan, server, phases).await?;
    }
    if stages == Stages::UntilPay {
        return Ok(());
    }
    run_phase("pay (batch, release, file, results)", plan.districts(), ctx, server, phases, {
        let (ctx, plan) = (ctx.clone(), plan.clone());
        move |d| pay(ctx.clone(), plan.clone(), d)
    })
    .await?;
    Ok(())
}

async fn before_pay(
    ctx: &Arc<Ctx>,
    plan: &Arc<Plan>,
    server: &Server,
    phases: &mut Vec<PhaseReport>,
) -> anyhow::Result<()> {
    // Companies register.
    let companies: Vec<usize> = (0..plan.companies.len()).collect();
    run_phase("register", companies, ctx, server, phases, {
        let (ctx, plan) = (ctx.clone(), plan.clone());
        move |c| register(ctx.clone(), plan.clone(), c)
    })
    .await?;

    // Projects and drafts with their two documents.
    let drafts = run_phase("apply", (0..plan.projects.len()).collect(), ctx, server, phases, {
        let (ctx, plan) = (ctx.clone(), plan.clone());
        move |p| apply(ctx.clone(), plan.clone(), p)
    })
    .await?;

    // Submit: most at full load, the rest at half the rate full load reached.
    let split = ((drafts.len() as f64 * PEAK_SHARE).ceil() as usize).clamp(1, drafts.len());
    let (peak, half) = drafts.split_at(split);
    let mut submitted = run_phase("submit (full load)", peak.to_vec(), ctx, server, phases, {
        let (ctx, plan) = (ctx.clone(), plan.clone());
        move |d| submit(ctx.clone(), plan.clone(), d, "POST /applications/{id}/submit")
    })
    .await?;
    if !half.is_empty() {
        let peak_rate = phases.last().map_or(1.0, |p| p.items as f64 / p.seconds);
        // Half load means half load: first let the dispatcher finish what
        // the full-load phases left it, so the latency is not theirs.
        quiesce(ctx, server, phases).await?;
        submitted.extend(submit_at_rate(ctx, plan, half.to_vec(), peak_rate / 2.0, server, phases).await?);
    }

    let confirmed = run_phase("confirm area", submitted, ctx, server, phases, {
        let (ctx, plan) = (ctx.clone(), plan.clone());
        move |d| confirm(ctx.clone(), plan.clone(), d)
    })
    .await?;
    let mut apps = confirmed;
    for (tier, label) in [
        ("community", "初审 community approve"),
        ("subdistrict", "复核 subdistrict approve"),
        ("district", "审核 district approve"),
    ] {
        apps = run_phase(label, apps, ctx, server, phases, {
            let (ctx, plan) = (ctx.clone(), plan.clone());
            move |d| approve(ctx.clone(), plan.clone(), d, tier)
        })
        .await?;
    }
    Ok(())
}

/// Runs `f` over `items` with the context's concurrency, with a progress
/// bar, and records the phase.
async fn run_phase<T, R, F, Fut>(
    name: &'static str,
    items: Vec<T>,
    ctx: &Ctx,
    server: &Server,
    phases: &mut Vec<PhaseReport>,
    f: F,
) -> anyhow::Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    let bar = progress(name, items.len());
    let requests_before = request_count(ctx);
    let started = Instant::now();
    let n = items.len();
    let out: Vec<R> = futures::stream::iter(items)
        .map(|item| {
            let bar = bar.clone();
            let fut = f(item);
            async move {
                let r = fut.await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(ctx.concurrency)
        .try_collect()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let phase = PhaseReport::new(name, n, request_count(ctx) - requests_before, seconds, server.peak_rss_mib());
    eprintln!("{}", phase.line());
    phases.push(phase);
    Ok(out)
}

/// Waits until the outbox has no undelivered change (the health endpoint
/// reports the count), and records the wait as a phase.
async fn quiesce(ctx: &Ctx, server: &Server, phases: &mut Vec<PhaseReport>) -> anyhow::Result<()> {
    let started = Instant::now();
    let before = request_count(ctx);
    loop {
        let h = ctx.client.call("GET /health", None, reqwest::Method::GET, "/api/v1/health", Body::None).await?;
        if h["outbox"]["pending"].as_u64() == Some(0) {
            break;
        }
        ensure!(started.elapsed() < Duration::from_secs(600), "the outbox did not drain within 10 minutes: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let phase = PhaseReport::new(
        "wait for the outbox to drain",
        0,
        request_count(ctx) - before,
        started.elapsed().as_secs_f64(),
        server.peak_rss_mib(),
    );
    eprintln!("{}", phase.line());
    phases.push(phase);
    Ok(())
}

/// Sends the submits open-loop at `rate` per second, whatever the answers'
/// speed, so the latency is that of a server at that load.
async fn submit_at_rate(
    ctx: &Arc<Ctx>,
    plan: &Arc<Plan>,
    drafts: Vec<Draft>,
    rate: f64,
    server: &Server,
    phases: &mut Vec<PhaseReport>,
) -> anyhow::Result<Vec<Draft>> {
    let name = "submit (half load)";
    let bar = progress(name, drafts.len());
    let requests_before = request_count(ctx);
    let n = drafts.len();
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1.0)));
    let mut tasks = tokio::task::JoinSet::new();
    for d in drafts {
        ticker.tick().await;
        let (ctx, plan, bar) = (ctx.clone(), plan.clone(), bar.clone());
        tasks.spawn(async move {
            let r = submit(ctx, plan, d, "POST /applications/{id}/submit @ half load").await;
            bar.inc(1);
            r
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        out.push(r??);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut phase = PhaseReport::new(name, n, request_count(ctx) - requests_before, seconds, server.peak_rss_mib());
    phase.target_rate = Some(rate);
    eprintln!("{}", phase.line());
    phases.push(phase);
    Ok(out)
}

fn progress(name: &str, len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>36} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

fn request_count(ctx: &Ctx) -> u64 {
    ctx.client.latencies.snapshot().values().map(|h| h.len()).sum()
}

async fn register(ctx: Arc<Ctx>, plan: Arc<Plan>, c: usize) -> anyhow::Result<()> {
    let company = &plan.companies[c];
    let name = format!("压测物业服务有限公司{c}");
    let body = json!({
        "creditCode": company.credit_code,
        "name": name,
        "legalRepresentative": "法定代表人",
        "contactName": "经办人",
        "contactPhone": company.manager_phone,
        "bankAccount": {"bankName": "中国工商银行深圳分行", "accountName": name, "accountNumber": company.account_number},
    });
    ctx.client.put("PUT /company", &ctx.company(c), "/api/v1/company", &body).await?;
    Ok(())
}

#[derive(Clone)]
struct Draft {
    project: usize,
    id: String,
    version: u64,
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";

async fn apply(ctx: Arc<Ctx>, plan: Arc<Plan>, p: usize) -> anyhow::Result<Draft> {
    let project = &plan.projects[p];
    let company = &plan.companies[project.company];
    let token = ctx.company(project.company);
    let area = decimal(project.area_hundredths);
    let created = ctx
        .client
        .post(
            "POST /projects",
            &token,
            "/api/v1/projects",
            &json!({"name": format!("压测小区{p}"), "address": format!("深圳市压测路{p}号"), "community": project.path.community,
                    "managedArea": area, "managerName": "项目经理", "managerPhone": company.manager_phone}),
        )
        .await?;
    let app = ctx
        .client
        .post(
            "POST /applications",
            &token,
            "/api/v1/applications",
            &json!({"projectId": id(&created)?, "claimedArea": area}),
        )
        .await?;
    let app_id = id(&app)?;
    for (kind, content_type, bytes) in [("service_contract", "application/pdf", PDF), ("area_proof", "image/png", PNG)]
    {
        let ticket = ctx
            .client
            .post(
                "POST /applications/{id}/documents",
                &token,
                &format!("/api/v1/applications/{app_id}/documents"),
                &json!({"kind": kind, "fileName": format!("{kind}.bin"), "contentType": content_type, "size": bytes.len()}),
            )
            .await?;
        let url = ticket["upload"]["url"].as_str().context("an upload URL")?;
        ctx.client
            .call("PUT /blobs/{token}", None, reqwest::Method::PUT, url, Body::Bytes(content_type, bytes.to_vec()))
            .await?;
    }
    Ok(Draft { project: p, version: version(&app)?, id: app_id })
}

async fn submit(ctx: Arc<Ctx>, plan: Arc<Plan>, d: Draft, endpoint: &'static str) -> anyhow::Result<Draft> {
    let token = ctx.company(plan.projects[d.project].company);
    let r = ctx
        .client
        .post(endpoint, &token, &format!("/api/v1/applications/{}/submit", d.id), &json!({"version": d.version}))
        .await?;
    Ok(Draft { version: version(&r)?, ..d })
}

async fn confirm(ctx: Arc<Ctx>, plan: Arc<Plan>, d: Draft) -> anyhow::Result<Draft> {
    let phone = &plan.companies[plan.projects[d.project].company].manager_phone;
    let r = ctx
        .client
        .post(
            "POST /applications/{id}/confirm-area",
            &ctx.manager(phone),
            &format!("/api/v1/applications/{}/confirm-area", d.id),
            &json!({"version": d.version}),
        )
        .await?;
    Ok(Draft { version: version(&r)?, ..d })
}

async fn approve(ctx: Arc<Ctx>, plan: Arc<Plan>, d: Draft, tier: &'static str) -> anyhow::Result<Draft> {
    let path = &plan.projects[d.project].path;
    let (code, endpoint) = match tier {
        "community" => (&path.community, "POST /review/community/applications/{id}/approve"),
        "subdistrict" => (&path.subdistrict, "POST /review/subdistrict/applications/{id}/approve"),
        _ => (&path.district, "POST /review/district/applications/{id}/approve"),
    };
    let r = ctx
        .client
        .post(
            endpoint,
            &ctx.staff(tier, code, 1),
            &format!("/api/v1/review/{tier}/applications/{}/approve", d.id),
            &json!({"version": d.version}),
        )
        .await?;
    Ok(Draft { version: version(&r)?, ..d })
}

/// One district's payment: a batch by one finance user, released by a
/// second, its treasury file downloaded, every line reported paid.
async fn pay(ctx: Arc<Ctx>, plan: Arc<Plan>, district: String) -> anyhow::Result<()> {
    let expected = plan.projects.iter().filter(|p| p.path.district == district).count();
    let maker = ctx.staff("finance", &district, 1);
    let checker = ctx.staff("finance", &district, 2);
    let created = ctx.client.post("POST /batches", &maker, "/api/v1/batches", &json!({"note": "压测批次"})).await?;
    let batch_id = id(&created)?;
    let path = format!("/api/v1/batches/{batch_id}");
    // A large batch is built by the batch queue: watch it until ready.
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut batch = created;
    while batch["state"] == "building" {
        ensure!(Instant::now() < deadline, "batch {batch_id} was still building after an hour");
        tokio::time::sleep(Duration::from_millis(500)).await;
        batch = ctx.client.get("GET /batches/{id} (building)", &maker, &path).await?;
    }
    ensure!(batch["state"] == "ready", "batch {batch_id} is {} after building", batch["state"]);
    ensure!(
        batch["lineCount"].as_u64() == Some(expected as u64),
        "district {district}: {} lines in the batch, {expected} approved",
        batch["lineCount"]
    );
    ctx.client
        .post("POST /batches/{id}/release", &checker, &format!("{path}/release"), &json!({"version": version(&batch)?}))
        .await?;
    // The treasury file is written by the export consumer.
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let b = ctx.client.get("GET /batches/{id}", &checker, &path).await?;
        if b["filesReady"] == true {
            break;
        }
        ensure!(Instant::now() < deadline, "the treasury file of {batch_id} was not ready within an hour");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let link = ctx.client.get("GET /batches/{id}/file", &checker, &format!("{path}/file?format=csv")).await?;
    let url = link["download"]["url"].as_str().context("a download link")?;
    let bytes = ctx.client.download("GET treasury file (download)", url).await?;
    let text = String::from_utf8(bytes)?;
    let mut results = String::new();
    let mut header = Vec::new();
    let mut lines = 0;
    for row in csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes())
        .records()
    {
        let row = row?;
        match row.get(0) {
            Some("批次号") | Some("笔数") | Some("总金额(元)") => {
                header.push(format!("{},{}", &row[0], &row[1]))
            }
            Some("行号") | Some("付款用途") | None => {}
            Some(line) if row.len() > 7 => {
                results.push_str(&format!("{line},成功,\n"));
                lines += 1;
            }
            Some(_) => {}
        }
    }
    ensure!(lines == expected, "district {district}: the file has {lines} lines, {expected} expected");
    let file = format!("{}\n行号,状态,原因\n{results}", header.join("\n"));
    let done = ctx
        .client
        .call(
            "POST /batches/{id}/results",
            Some(&maker),
            reqwest::Method::POST,
            &format!("{path}/results"),
            Body::Bytes("text/csv", file.into_bytes()),
        )
        .await?;
    // A long file is settled by the batch queue: watch it until reconciled.
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut b = done;
    while b["state"] != "reconciled" {
        ensure!(Instant::now() < deadline, "batch {batch_id} is {} an hour after the results", b["state"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        b = ctx.client.get("GET /batches/{id} (settling)", &maker, &path).await?;
    }
    ensure!(
        b["paidCount"].as_u64() == Some(expected as u64),
        "batch {batch_id}: {} paid, {expected} expected",
        b["paidCount"]
    );
    Ok(())
}

async fn stats_totals(ctx: &Ctx, token: &str) -> anyhow::Result<Value> {
    let v = ctx.client.get("GET /stats/{code}", token, "/api/v1/stats/440300").await?;
    Ok(v["totals"].clone())
}

fn counter(v: &Value, path: &[&str]) -> i64 {
    path.iter().fold(v, |v, k| &v[*k]).as_i64().unwrap_or(0)
}

/// Waits until every application is counted as paid, then compares the
/// city's totals with what the run generated.
async fn settle_and_check(ctx: &Ctx, city: &str, plan: &Plan, before: &Value) -> anyhow::Result<TotalsCheck> {
    let n = plan.projects.len() as i64;
    // A safety stop, not a target: ten minutes, or ten milliseconds per
    // application if that is longer (a nation run's payments).
    let deadline = Instant::now() + Duration::from_secs(600.max(n as u64 / 100));
    let bar = progress("totals settle", n as usize);
    let after = loop {
        let now = stats_totals(ctx, city).await?;
        let paid = counter(&now, &["counts", "paid"]) - counter(before, &["counts", "paid"]);
        bar.set_position(paid.max(0) as u64);
        if paid >= n {
            break now;
        }
        if Instant::now() > deadline {
            bar.abandon();
            bail!("the totals did not settle in time: {paid} of {n} counted as paid");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    let area = plan.area_hundredths();
    let delta = |path: &[&str]| counter(&after, path) - counter(before, path);
    let check = TotalsCheck {
        expected_companies: plan.companies.len() as i64,
        companies: delta(&["companies"]),
        expected_projects: n,
        projects: delta(&["projects"]),
        expected_area_hundredths: area,
        claimed_area_hundredths: delta(&["claimedAreaHundredths"]),
        approved_area_hundredths: delta(&["approvedAreaHundredths"]),
        // 0.5 yuan × 2 months = 1 yuan per m², so the fen equal the hundredths.
        expected_amount_fen: area,
        claimed_amount_fen: delta(&["claimedAmountFen"]),
        approved_amount_fen: delta(&["approvedAmountFen"]),
        paid: delta(&["counts", "paid"]),
    };
    eprintln!("{}", check.line());
    ensure!(check.ok(), "the live totals disagree with what the bench generated: {check:?}");
    Ok(check)
}

/// Reads the city's and one district's totals, one at a time, to time the
/// stats read at this scale.
async fn stats_reads(ctx: &Ctx, city: &str, plan: &Plan) -> anyhow::Result<()> {
    let district = plan.districts().into_iter().next().context("a district")?;
    let token = ctx.staff("district", &district, 1);
    for _ in 0..300 {
        ctx.client.get("GET /stats/{code} (city, settled)", city, "/api/v1/stats/440300").await?;
        ctx.client.get("GET /stats/{code} (district, settled)", &token, &format!("/api/v1/stats/{district}")).await?;
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    walk(dir).iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Loads the one-insert baseline with the same client and concurrency.
async fn run_baseline(
    exe: &Path,
    concurrency: usize,
    requests: usize,
    fast_commit: bool,
) -> anyhow::Result<report::Baseline> {
    let dir = tempfile::Builder::new().prefix("subsidy-baseline-").tempdir()?;
    let mut args =
        vec!["bench-baseline".to_string(), "--db".into(), dir.path().join("baseline.db").display().to_string()];
    if fast_commit {
        args.push("--fast-commit".into());
    }
    let server = Server::spawn(exe, &args, "Baseline:").await?;
    let client = Client::new(&server.url, concurrency);
    let bar = progress("baseline (one insert per request)", requests);
    let started = Instant::now();
    futures::stream::iter(0..requests)
        .map(|i| {
            let (client, bar) = (client.clone(), bar.clone());
            async move {
                let body = json!({"id": format!("01JBENCHBASELINE{i:010}"), "version": 3});
                client.call("POST /insert", None, reqwest::Method::POST, "/insert", Body::Json(&body)).await?;
                bar.inc(1);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let peak_rss = server.peak_rss_mib();
    server.stop().await?;
    let h = client.latencies.snapshot().remove("POST /insert").context("baseline latencies")?;
    let b = report::Baseline::new(requests, seconds, &h, peak_rss);
    eprintln!("{}", b.line());
    Ok(b)
}
