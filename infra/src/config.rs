//! Reading configuration from the environment, once, at start. A missing or
//! malformed variable fails fast with an error that names it.

#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// `main` returning this error prints its Debug form: make that the message.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A required variable.
pub fn var(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// A required variable parsed by `parse`, whose error becomes the reason.
pub fn parsed<T, E: std::fmt::Display>(
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ConfigError> {
    let raw = var(name)?;
    parse(&raw).map_err(|e| ConfigError::Invalid { name, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let e = var("SUBSIDY_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(e.to_string(), "missing environment variable SUBSIDY_TEST_SURELY_UNSET_VARIABLE");
    }

    #[test]
    fn an_invalid_variable_is_named_with_the_reason() {
        // PATH is set on every machine that runs these tests.
        let e = parsed("PATH", |_| "x".parse::<u8>()).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { name: "PATH", .. }), "{e}");
    }
}
