//! `subsidy`: run the whole system on one machine.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use subsidy_infra::sqlite::Durability;
use subsidy_standalone::{Config, Opened, Stack, demo, system_clock};

#[derive(Parser)]
#[command(name = "subsidy", about = "物业服务企业疫情防控服务财政补助 — standalone system", version)]
struct Cli {
    /// Where the database, the documents and the token key live.
    #[arg(long, env = "SUBSIDY_DATA_DIR", default_value = ".data", global = true)]
    data_dir: PathBuf,
    /// The audit chains' MAC key, a file apart from the database (default:
    /// {data-dir}/audit.key). `serve` creates it on first start; every
    /// command that writes or checks a chain needs the same file.
    #[arg(long, env = "SUBSIDY_AUDIT_KEY_FILE", global = true)]
    audit_key_file: Option<PathBuf>,
    /// The append-only file the daily audit anchors go to (default:
    /// {data-dir}/audit-anchors.jsonl). Keep it where the database's
    /// writer cannot rewrite it: another volume, `chattr +a`.
    #[arg(long, env = "SUBSIDY_ANCHORS_FILE", global = true)]
    anchors_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on localhost, with the dispatcher running.
    Serve {
        #[arg(long, env = "SUBSIDY_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Seed demo accounts, staff and data, serve the dev login, and open
        /// the policy window today. Loopback addresses only, unless
        /// --demo-on-network.
        #[arg(long)]
        demo: bool,
        /// Serve --demo on an address that is not loopback: anyone who
        /// reaches it can sign in as any demo account, finance included.
        #[arg(long, requires = "demo")]
        demo_on_network: bool,
        /// Accept bearer tokens from this OIDC issuer (keys from its
        /// discovery document's jwks_uri); the server's own tokens are then refused.
        #[arg(long, env = "SUBSIDY_OIDC_ISSUER", requires = "oidc_audience")]
        oidc_issuer: Option<String>,
        /// The audience (`aud`) the issuer's tokens must carry: the client id
        /// or API identifier registered with the identity platform.
        #[arg(long, env = "SUBSIDY_OIDC_AUDIENCE", requires = "oidc_issuer")]
        oidc_audience: Option<String>,
        /// A policy JSON file (default: the built-in Shenzhen 2020 policy).
        #[arg(long, env = "SUBSIDY_POLICY")]
        policy: Option<PathBuf>,
        /// A jurisdiction JSON file (default: the built-in Shenzhen tree).
        #[arg(long, env = "SUBSIDY_JURISDICTIONS")]
        jurisdictions: Option<PathBuf>,
        /// Commit with synchronous=NORMAL: survives a process crash, not a power loss.
        #[arg(long)]
        fast_commit: bool,
        /// Recount the totals, repair drift and write the daily reports at
        /// start and then every this many hours (0: never).
        #[arg(long, default_value_t = 24)]
        nightly_every_hours: u64,
        /// The built web client, served at `/` (`make run` builds it).
        #[arg(long, env = "SUBSIDY_WEB_DIR", default_value = "web/dist")]
        web_dir: PathBuf,
        /// Run the server's clock this many days ahead of the machine's
        /// (0 to 366), to show time limits passing (已超期, 催办) in a demo
        /// or a browser test. Only with --demo.
        #[arg(long, requires = "demo", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=366))]
        clock_offset_days: u16,
        /// Send SMS through this HTTP gateway (a signed POST: see
        /// docs/RELIABILITY.md, "SMS"), with the secret from
        /// SUBSIDY_SMS_GATEWAY_SECRET. Without it SMS are logged, not sent.
        #[arg(long, env = "SUBSIDY_SMS_GATEWAY_URL")]
        sms_gateway_url: Option<String>,
    },
    /// Live totals: recount and repair now, or show a unit's figures.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Verify every audit hash chain: applications, documents, companies,
    /// batches and the staff directory, each against its record's head and
    /// against the anchors. Exits 1 on any break.
    AuditVerify,
    /// Anchor the head of every audit chain that grew since the last anchor
    /// (serve does this with its nightly job; use this on a server that was
    /// down, or before copying the anchors file elsewhere).
    AuditAnchor,
    /// The staff directory: who may act as staff, and where. Works on the
    /// data directory while the server runs; every change is audited.
    Staff {
        /// The jurisdiction file the server runs with (default: the built-in Shenzhen tree).
        #[arg(long, env = "SUBSIDY_JURISDICTIONS")]
        jurisdictions: Option<PathBuf>,
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// List the demo accounts.
    Accounts,
    /// Load a fresh server through the whole lifecycle and report throughput,
    /// latency per endpoint, memory and whether the live totals agree.
    Bench(subsidy_bench::BenchArgs),
    /// Time each Lambda function binary's init against a local runtime-API stub.
    BenchInit(subsidy_bench::init::InitArgs),
    /// The bench's yardstick: one SQLite insert per request (started by `bench`).
    #[command(hide = true)]
    BenchBaseline {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        #[arg(long)]
        fast_commit: bool,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Add a staff member, or give an existing one another assignment (and
    /// enable them).
    Add {
        /// The identity platform's subject (the token's `sub`).
        #[arg(long)]
        sub: String,
        /// Display name (required for a new member).
        #[arg(long)]
        name: Option<String>,
        /// community, subdistrict, district, finance, city or admin.
        #[arg(long)]
        role: String,
        /// The unit code (its level must fit the role; an admin's any level).
        #[arg(long)]
        unit: String,
    },
    /// Disable a staff member: at once, every request of theirs is refused.
    Disable {
        #[arg(long)]
        sub: String,
    },
    /// List the staff, or those of a unit's subtree.
    List {
        #[arg(long)]
        unit: Option<String>,
    },
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Recount every application, report and repair drift, write today's reports.
    Reconcile,
    /// Print a unit's totals and its children's, as JSON.
    Show {
        /// The unit code (default: the city).
        code: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    subsidy_infra::telemetry::init(false, "info,tower_http=warn");
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            addr,
            demo,
            demo_on_network,
            oidc_issuer,
            oidc_audience,
            policy,
            jurisdictions,
            fast_commit,
            nightly_every_hours,
            web_dir,
            clock_offset_days,
            sms_gateway_url,
        } => {
            let web_dir = if web_dir.join("index.html").is_file() {
                Some(web_dir)
            } else {
                tracing::warn!(dir = %web_dir.display(), "no web client there (build it with `make web`); serving the API only");
                None
            };
            let config = Config {
                data_dir: cli.data_dir,
                addr,
                policy_file: policy,
                jurisdictions_file: jurisdictions,
                demo,
                demo_on_network,
                oidc: oidc_issuer.map(|issuer| subsidy_standalone::OidcSettings {
                    issuer,
                    audience: oidc_audience.unwrap_or_default(),
                }),
                dispatch: true,
                nightly_every: (nightly_every_hours > 0)
                    .then(|| std::time::Duration::from_secs(nightly_every_hours * 3600)),
                durability: if fast_commit { Durability::Normal } else { Durability::Full },
                web_dir,
                audit_key_file: cli.audit_key_file.clone(),
                create_audit_key: true,
                anchors_file: cli.anchors_file.clone(),
                sms_gateway: match sms_gateway_url {
                    Some(url) => Some(subsidy_standalone::SmsGatewaySettings {
                        url,
                        secret: std::env::var("SUBSIDY_SMS_GATEWAY_SECRET")
                            .ok()
                            .filter(|s| !s.is_empty())
                            .context("SUBSIDY_SMS_GATEWAY_SECRET is required with --sms-gateway-url")?,
                    }),
                    None => None,
                },
            };
            let clock = match clock_offset_days {
                0 => system_clock(),
                days => {
                    tracing::warn!(days, "the server's clock runs ahead of the machine's (--clock-offset-days)");
                    subsidy_standalone::offset_clock(chrono::Duration::days(i64::from(days)))
                }
            };
            let stack = Stack::start(config.clone(), clock).await?;
            print_banner(&stack, &config).await?;
            stack.wait().await
        }
        Command::AuditAnchor => {
            let (config, opened) = open_for_audit(&cli).await?;
            let a = opened.services.audit.anchor_audit().await?;
            match (a.anchor, a.digest) {
                (Some(n), Some(digest)) => println!(
                    "anchor {n}: {} chain heads to {}; digest {digest}",
                    a.heads,
                    config.anchors_path().display()
                ),
                _ => println!("no anchor due: the last one is less than 15 minutes old"),
            }
            Ok(())
        }
        Command::AuditVerify => {
            let (config, opened) = open_for_audit(&cli).await?;
            let report = opened
                .services
                .audit
                .verify_audit(|n| {
                    if n % 1000 == 0 {
                        eprintln!("checked {n} records");
                    }
                })
                .await?;
            println!(
                "audit chains: {} applications ({} entries), {} documents, {} companies, {} batches and {} staff members ({} entries) checked",
                report.applications,
                report.entries,
                report.documents,
                report.companies,
                report.batches,
                report.staff,
                report.other_entries
            );
            match report.anchored_until {
                Some(t) => println!(
                    "anchors: {} in {}; every entry stamped up to {} is anchored",
                    report.anchors,
                    config.anchors_path().display(),
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                None => println!("anchors: none yet in {} (serve writes one daily)", config.anchors_path().display()),
            }
            if report.failures.is_empty() {
                println!("OK: every chain verifies");
                Ok(())
            } else {
                for f in &report.failures {
                    println!("BROKEN: {f}");
                }
                std::process::exit(1);
            }
        }
        Command::Staff { jurisdictions, command } => {
            let key_file = cli.audit_key_file.clone().unwrap_or_else(|| cli.data_dir.join("audit.key"));
            let directory = subsidy_standalone::staff_directory(&cli.data_dir, jurisdictions.as_deref(), &key_file)?;
            let show = |v: &subsidy_core::identity::staff::StaffView| {
                let roles: Vec<String> =
                    v.assignments.iter().map(|a| format!("{}@{} {}", a.role.as_str(), a.unit, a.unit_name)).collect();
                println!(
                    "{:<28} {:<16} {:<9} v{:<3} {}",
                    v.sub,
                    v.name,
                    if v.active { "active" } else { "disabled" },
                    v.version,
                    roles.join(", ")
                );
            };
            let result = match command {
                StaffCommand::Add { sub, name, role, unit } => {
                    directory.cli_add(&sub, name.as_deref(), &role, &unit).await.map(|v| vec![v])
                }
                StaffCommand::Disable { sub } => directory.cli_disable(&sub).await.map(|v| vec![v]),
                StaffCommand::List { unit } => directory.cli_list(unit.as_deref()).await,
            };
            match result {
                Ok(views) => {
                    views.iter().for_each(show);
                    Ok(())
                }
                Err(e) => {
                    let field = e.field().map(|f| format!(" ({f})")).unwrap_or_default();
                    eprintln!("error: {e}{field}");
                    std::process::exit(2);
                }
            }
        }
        Command::Stats { command } => {
            let db = cli.data_dir.join("subsidy.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            // The demo flag only picks the policy the data directory was seeded with.
            let demo = subsidy_standalone::seeded_with_demo_policy(&cli.data_dir).await?;
            let config = Config {
                dispatch: false,
                demo,
                audit_key_file: cli.audit_key_file.clone(),
                create_audit_key: false,
                anchors_file: cli.anchors_file.clone(),
                ..Config::for_tests(&cli.data_dir)
            };
            let opened = Opened::open(&config, system_clock(), "http://localhost").await?;
            match command {
                StatsCommand::Reconcile => {
                    let n = aggregation::nightly(&aggregation::App::new(&opened.services.ports)).await?;
                    let r = &n.reconcile;
                    println!("recounted {} applications of {}", r.applications, r.policy_id);
                    for d in &r.drift {
                        println!("DRIFT {} {}: stored {} recounted {}", d.unit, d.counter, d.stored, d.recounted);
                    }
                    println!(
                        "drift: {} counters; {} applications in flight; repaired {} units and {} company counts; {} skipped",
                        r.drift.len(),
                        r.in_flight,
                        r.repaired_units,
                        r.repaired_refs,
                        r.skipped
                    );
                    println!("wrote {} report files for {}", n.reports_written, n.date);
                    match n.anchor.anchor {
                        Some(a) => println!("audit anchor {a}: {} chain heads", n.anchor.heads),
                        None => println!("no audit anchor due (the last is under 15 minutes old)"),
                    }
                }
                StatsCommand::Show { code } => {
                    let root = opened.services.ports.tree.root().code.clone();
                    let actor = subsidy_core::identity::Actor {
                        user_id: "cli".into(),
                        role: subsidy_core::identity::Role::City,
                        unit: Some(root.clone()),
                        phone: None,
                        name: None,
                        credit_code: None,
                    };
                    let view = opened.services.stats.stats(&actor, code.as_deref().unwrap_or(&root)).await?;
                    println!("{}", serde_json::to_string_pretty(&view)?);
                }
            }
            Ok(())
        }
        Command::Bench(args) => {
            let exe = std::env::current_exe().context("locating the subsidy binary")?;
            if let Some(report) = subsidy_bench::run(args, &exe).await? {
                println!("{}", report.markdown());
            }
            Ok(())
        }
        Command::BenchInit(args) => {
            for r in subsidy_bench::init::run(args).await? {
                println!(
                    "{:<14} {:>6.1} MB  init median {:>6.2} ms  p90 {:>6.2} ms{}",
                    r.name,
                    r.binary_bytes as f64 / 1e6,
                    r.median_ms,
                    r.p90_ms,
                    r.ratio_to_hello.map_or(String::new(), |x| format!("  {x:.2}× hello"))
                );
            }
            Ok(())
        }
        Command::BenchBaseline { db, addr, fast_commit } => {
            let durability = if fast_commit { Durability::Normal } else { Durability::Full };
            subsidy_bench::baseline::serve(&db, addr, durability).await
        }
        Command::Accounts => {
            for a in demo::ACCOUNTS {
                println!("{:<22} {:<16} {}", a.username, a.role.as_str(), a.description);
            }
            Ok(())
        }
    }
}

async fn print_banner(stack: &Stack, config: &Config) -> anyhow::Result<()> {
    let policy = stack.services.policy().await?;
    println!();
    println!("  物业服务企业疫情防控服务财政补助 — standalone");
    if config.web_dir.is_some() {
        println!("  Web:       {}/  (open on a phone-sized window)", stack.url());
    }
    println!("  API:       {}/api/v1", stack.url());
    println!("  Health:    {}/api/v1/health", stack.url());
    println!("  Data:      {}", config.data_dir.display());
    println!("  Policy:    {} ({}), window {} → {}", policy.name, policy.id, policy.opens_at, policy.closes_at);
    match &config.oidc {
        Some(o) => println!("  Sign-in:   tokens of {} (audience {})", o.issuer, o.audience),
        None if config.demo => println!("  Sign-in:   demo dev login (loopback only)"),
        None => println!(
            "  Sign-in:   none configured: only tokens signed with {}/secret.key are accepted (see --oidc-issuer)",
            config.data_dir.display()
        ),
    }
    if config.demo {
        println!();
        println!("  Demo accounts — sign in with:");
        println!(
            "    curl -s -X POST {}/api/v1/auth/dev-login -H 'Content-Type: application/json' -d '{{\"username\":\"company-a\"}}'",
            stack.url()
        );
        println!();
        for a in demo::ACCOUNTS {
            println!("    {:<22} {:<16} {}", a.username, a.role.as_str(), a.description);
        }
    }
    println!();
    Ok(())
}

/// The data directory opened for the audit commands: its database (which
/// must exist), the same key and anchors file as the server, nothing seeded.
async fn open_for_audit(cli: &Cli) -> anyhow::Result<(Config, Opened)> {
    let config = Config {
        dispatch: false,
        demo: false,
        audit_key_file: cli.audit_key_file.clone(),
        create_audit_key: false,
        anchors_file: cli.anchors_file.clone(),
        ..Config::for_tests(&cli.data_dir)
    };
    let db = cli.data_dir.join("subsidy.db");
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    let opened =
        Opened::open(&config, system_clock(), "http://localhost").await.context("opening the data directory")?;
    Ok((config, opened))
}
