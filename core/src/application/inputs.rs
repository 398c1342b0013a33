//! What callers send to the application and review use cases, and the
//! district reviewer's purpose-bound view of an account.

use serde::{Deserialize, Serialize};

use crate::application::Application;

/// Raw body of an action on an application: the version the caller saw,
/// and the reason where the action takes one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionInput {
    pub version: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Raw body of `urge`: the version the caller saw.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UrgeInput {
    pub version: u64,
}

/// Raw body of `verify-bank-account`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPayeeInput {
    pub version: u64,
    /// Needed when the account's holder is not the company by name.
    #[serde(default)]
    pub confirm_holder_name: Option<bool>,
}

/// The full account a district reviewer verifies, as `reveal-bank-account`
/// answers it: the account on file, and the change to verify, unmasked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayeeRevealView {
    pub application_id: String,
    /// The application's version after the reveal (send it to verify).
    pub version: u64,
    pub company_name: String,
    pub credit_code: String,
    pub payee: Option<RevealedAccount>,
    pub change: Option<RevealedAccount>,
    /// Whether the account to verify is held by the company, by name; if
    /// not, verifying needs `confirmHolderName: true`.
    pub holder_name_matches: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevealedAccount {
    pub bank_name: String,
    pub account_name: String,
    pub account_number: String,
}

impl RevealedAccount {
    fn of(a: &crate::fields::BankAccount) -> RevealedAccount {
        RevealedAccount {
            bank_name: a.bank_name.to_string(),
            account_name: a.account_name.to_string(),
            account_number: a.account_number.as_str().to_string(),
        }
    }
}

impl PayeeRevealView {
    pub fn of(app: &Application) -> PayeeRevealView {
        PayeeRevealView {
            application_id: app.id.clone(),
            version: app.version,
            company_name: app.company_name.clone(),
            credit_code: app.credit_code.clone(),
            payee: app.payee.as_ref().map(RevealedAccount::of),
            change: app.payee_change.as_ref().map(|c| RevealedAccount::of(&c.account)),
            holder_name_matches: app.account_to_verify().is_none_or(|a| app.holder_is_company(a)),
        }
    }
}

/// Raw body of an approval.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveInput {
    pub version: u64,
    #[serde(default)]
    pub approved_area: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A district reviewer opens a recovery (追回): the amount in yuan, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenRecoveryInput {
    pub version: u64,
    pub amount: String,
    pub reason: String,
}

/// Finance records a repayment: the day the bank received it
/// (`YYYY-MM-DD`), the amount in yuan, and the bank's reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepaymentInput {
    pub version: u64,
    pub date: String,
    pub amount: String,
    pub bank_reference: String,
}

/// A yuan amount field, or a 422 naming it.
pub(crate) fn yuan(field: &str, s: &str) -> Result<crate::money::Fen, crate::error::Error> {
    crate::money::Fen::parse_yuan(s).map_err(|e| crate::error::Error::invalid(field, e.to_string()))
}
