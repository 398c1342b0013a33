//! The treasury batch file (国库集中支付), as CSV and XLSX, written line by
//! line to disk so that a batch of any size never sits in memory whole.
//!
//! The header carries the batch id and the control totals (line count,
//! total amount); each line carries the payee's account number in full.
//! This file is the only place it is shown so.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};
use subsidy_core::payout::{Batch, PURPOSE, PaymentLine};
use subsidy_core::sheet::text_cell;

/// Column headers of the lines, in order.
pub const COLUMNS: [&str; 11] = [
    "行号",
    "申请编号",
    "企业名称",
    "统一社会信用代码",
    "开户银行",
    "账户名称",
    "账号",
    "金额(元)",
    "用途",
    "项目名称",
    "原行号",
];

/// The column of the amount, the one cell of a line that is a number.
const AMOUNT: usize = 7;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn cells(l: &PaymentLine) -> [String; 11] {
    [
        l.id.clone(),
        l.application_id.clone(),
        l.company_name.clone(),
        l.credit_code.clone(),
        l.payee.bank_name.to_string(),
        l.payee.account_name.to_string(),
        l.payee.account_number.as_str().to_string(),
        l.amount.to_string(),
        PURPOSE.to_string(),
        l.project_name.clone(),
        l.revises.clone().unwrap_or_default(),
    ]
}

/// Writes the batch as CSV (UTF-8 with a BOM, so Excel opens it).
pub struct CsvFile {
    w: csv::Writer<std::io::BufWriter<std::fs::File>>,
}

impl CsvFile {
    pub fn create(path: &Path, batch: &Batch) -> Result<CsvFile, String> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
        f.write_all(b"\xEF\xBB\xBF").map_err(err)?;
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(f);
        w.write_record(["批次号", &batch.id]).map_err(err)?;
        w.write_record(["笔数", &batch.line_count.to_string()]).map_err(err)?;
        w.write_record(["总金额(元)", &batch.total.to_string()]).map_err(err)?;
        w.write_record(["用途", PURPOSE]).map_err(err)?;
        w.write_record(COLUMNS).map_err(err)?;
        Ok(CsvFile { w })
    }

    /// One line. Every cell but the amount (a number the system wrote)
    /// goes through [`text_cell`]: a company that named itself
    /// `=HYPERLINK(…)` is text in finance's spreadsheet, not a formula.
    pub fn line(&mut self, l: &PaymentLine) -> Result<(), String> {
        let c = cells(l);
        let record = c.iter().enumerate().map(|(i, v)| if i == AMOUNT { v.into() } else { text_cell(v) });
        self.w.write_record(record.map(|v| v.into_owned())).map_err(err)
    }

    pub fn finish(mut self) -> Result<(), String> {
        self.w.flush().map_err(err)?;
        let f = self.w.into_inner().map_err(err)?;
        f.into_inner().map_err(err)?.sync_all().map_err(err)
    }
}

/// Writes the batch as XLSX in constant-memory mode: rows go to a temporary
/// file as they are written.
pub struct XlsxFile {
    book: Workbook,
    row: u32,
    money: Format,
}

impl XlsxFile {
    pub fn create(batch: &Batch) -> Result<XlsxFile, String> {
        let mut book = Workbook::new();
        let bold = Format::new().set_bold();
        let money = Format::new().set_num_format("0.00");
        let sheet = book.add_worksheet_with_constant_memory().map_err(err)?;
        sheet.set_name("支付明细").map_err(err)?;
        sheet.write_string_with_format(0, 0, "批次号", &bold).map_err(err)?;
        sheet.write_string(0, 1, &batch.id).map_err(err)?;
        sheet.write_string_with_format(1, 0, "笔数", &bold).map_err(err)?;
        sheet.write_number(1, 1, batch.line_count as f64).map_err(err)?;
        sheet.write_string_with_format(2, 0, "总金额(元)", &bold).map_err(err)?;
        sheet.write_number_with_format(2, 1, batch.total.fen() as f64 / 100.0, &money).map_err(err)?;
        sheet.write_string_with_format(3, 0, "用途", &bold).map_err(err)?;
        sheet.write_string(3, 1, PURPOSE).map_err(err)?;
        for (c, h) in COLUMNS.iter().enumerate() {
            sheet.write_string_with_format(4, c as u16, *h, &bold).map_err(err)?;
        }
        Ok(XlsxFile { book, row: 5, money })
    }

    pub fn line(&mut self, l: &PaymentLine) -> Result<(), String> {
        let sheet = self.book.worksheet_from_index(0).map_err(err)?;
        let c = cells(l);
        for (i, v) in c.iter().enumerate() {
            if i == AMOUNT {
                // Fen as a number of yuan: exact for any amount under 2⁵³ fen.
                sheet
                    .write_number_with_format(self.row, AMOUNT as u16, l.amount.fen() as f64 / 100.0, &self.money)
                    .map_err(err)?;
            } else {
                sheet.write_string(self.row, i as u16, v).map_err(err)?;
            }
        }
        self.row += 1;
        Ok(())
    }

    pub fn finish(mut self, path: &Path) -> Result<(), String> {
        self.book.save(path).map_err(err)
    }
}
