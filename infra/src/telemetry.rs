//! Logging setup: `tracing` with a level per target, JSON in Lambda and
//! on request, human-readable otherwise.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter `RUST_LOG` asks for (`level`, or `target=level,…`), else
/// `default`; a value that does not parse is reported and `default` used.
pub fn filter(rust_log: Option<&str>, default: &str) -> Targets {
    let fallback = || default.parse().unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    match rust_log.map(str::parse::<Targets>) {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("RUST_LOG is not `level` or `target=level,…` ({e}); logging at {default}");
            fallback()
        }
        None => fallback(),
    }
}

/// Installs the global subscriber once. `RUST_LOG` overrides `default`.
pub fn init(json: bool, default: &str) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), default);
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json { registry.with(fmt.json().flatten_event(true)).try_init() } else { registry.with(fmt).try_init() };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_sets_a_level_per_target_and_a_bad_value_falls_back() {
        let t = filter(Some("warn,subsidy_core=debug"), "info");
        assert!(t.would_enable("subsidy_core::x", &Level::DEBUG));
        assert!(!t.would_enable("hyper", &Level::INFO));
        assert!(t.would_enable("hyper", &Level::WARN));
        let t = filter(None, "info");
        assert!(t.would_enable("anything", &Level::INFO) && !t.would_enable("anything", &Level::DEBUG));
        // Span and field filters (EnvFilter's syntax) are not accepted: the default applies.
        let t = filter(Some("[span{field=1}]=debug"), "error");
        assert_eq!(t.default_level(), Some(LevelFilter::ERROR));
    }
}
