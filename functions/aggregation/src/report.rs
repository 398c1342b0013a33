//! The summary report (汇总表) of a unit: one row per child unit and a
//! total row, as XLSX and as CSV (UTF-8 with a BOM, so Excel opens it).
//! Areas are in m² and amounts in yuan, both to two decimals.

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Format, Workbook};
use subsidy_core::money::format_hundredths;
use subsidy_core::policy::shanghai;
use subsidy_core::sheet::text_cell;
use subsidy_core::stats::views::StatsView;
use subsidy_core::stats::views::UnitStats;
use subsidy_core::stats::{Counter, Totals};

/// Column headers, in order.
pub const HEADERS: [&str; 25] = [
    "单位代码",
    "单位名称",
    "企业数",
    "项目数",
    "申报面积(平方米)",
    "核定面积(平方米)",
    "申报金额(元)",
    "核定金额(元)",
    "待确认面积",
    "待社区初审",
    "待街道复核",
    "待区审核",
    "退回补正",
    "不予通过",
    "已撤回",
    "审核通过",
    "支付中",
    "已支付",
    "支付失败",
    "已支付金额(元)",
    "已追回金额(元)",
    "净支付金额(元)",
    "公示中",
    "逾期件数",
    "统计时间",
];

/// The counters behind columns 2..19: the first 17 of every counter, in
/// their own order; areas and amounts are hundredths. (The claimed amounts
/// per state in review are the budget forecast's, not the report's; paid,
/// recovered and net follow, from [`money_columns`], then 公示中.)
const COLUMNS: &[Counter] = Counter::ALL.split_at(17).0;

fn decimal(c: Counter) -> bool {
    matches!(c, Counter::ClaimedArea | Counter::ApprovedArea | Counter::ClaimedAmount | Counter::ApprovedAmount)
}

/// One report row: a child unit, or the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub code: String,
    pub name: String,
    pub totals: Totals,
    /// Applications past their step's time limit, all steps together.
    pub overdue: i64,
    pub as_of: Option<DateTime<Utc>>,
}

/// The rows of a unit's report: its children (or, for a community, itself),
/// then the total row.
pub fn rows(view: &StatsView) -> Vec<Row> {
    let row = |u: &UnitStats, name: Option<&str>| Row {
        code: u.unit.code.clone(),
        name: name.map(str::to_string).unwrap_or_else(|| u.unit.name.clone()),
        totals: u.raw.clone(),
        overdue: u.totals.overdue.values().sum(),
        as_of: u.as_of,
    };
    let mut out: Vec<Row> = if view.children.is_empty() {
        vec![row(&view.unit, None)]
    } else {
        view.children.iter().map(|c| row(c, None)).collect()
    };
    out.push(row(&view.unit, Some(&format!("合计（{}）", view.unit.unit.name))));
    out
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&shanghai()).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// Paid, recovered since (追回) and net, in fen: the columns after the
/// counters'.
fn money_columns(t: &Totals) -> [i64; 3] {
    let (paid, recovered) = (t.get(Counter::PaidFen), t.get(Counter::RecoveredFen));
    [paid, recovered, paid - recovered]
}

/// The report as CSV, UTF-8 with a byte-order mark.
pub fn csv(view: &StatsView) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(HEADERS).map_err(|e| e.to_string())?;
    for r in rows(view) {
        // Unit names are data (a jurisdiction file); as text cells they can
        // never be read as formulas. The counts and sums are numbers.
        let mut record = vec![text_cell(&r.code).into_owned(), text_cell(&r.name).into_owned()];
        for &c in COLUMNS {
            let v = r.totals.get(c);
            record.push(if decimal(c) { format_hundredths(v) } else { v.to_string() });
        }
        for v in money_columns(&r.totals) {
            record.push(format_hundredths(v));
        }
        record.push(r.totals.get(Counter::InPublicNotice).to_string());
        record.push(r.overdue.to_string());
        record.push(when(r.as_of));
        w.write_record(&record).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The report as an XLSX workbook with one sheet, 汇总表.
pub fn xlsx(view: &StatsView) -> Result<Vec<u8>, String> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("汇总表").map_err(|e| e.to_string())?;
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    for (col, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *h, &bold).map_err(|e| e.to_string())?;
    }
    for (i, r) in rows(view).iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, &r.code).map_err(|e| e.to_string())?;
        sheet.write_string(row, 1, &r.name).map_err(|e| e.to_string())?;
        for (j, &c) in COLUMNS.iter().enumerate() {
            let v = r.totals.get(c);
            let col = j as u16 + 2;
            if decimal(c) {
                // Hundredths as a number of m² or yuan: exact for any total
                // under 2⁵³ hundredths, and Excel can sum it.
                sheet.write_number_with_format(row, col, v as f64 / 100.0, &money).map_err(|e| e.to_string())?;
            } else {
                sheet.write_number(row, col, v as f64).map_err(|e| e.to_string())?;
            }
        }
        for (j, v) in money_columns(&r.totals).into_iter().enumerate() {
            sheet.write_number_with_format(row, 19 + j as u16, v as f64 / 100.0, &money).map_err(|e| e.to_string())?;
        }
        sheet.write_number(row, 22, r.totals.get(Counter::InPublicNotice) as f64).map_err(|e| e.to_string())?;
        sheet.write_number(row, 23, r.overdue as f64).map_err(|e| e.to_string())?;
        sheet.write_string(row, 24, when(r.as_of)).map_err(|e| e.to_string())?;
    }
    sheet.set_column_width(1, 28).map_err(|e| e.to_string())?;
    book.save_to_buffer().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{DataType, Reader};
    use subsidy_core::jurisdiction::Level;
    use subsidy_core::jurisdiction::UnitSummary;
    use subsidy_core::stats::Wait;
    use subsidy_core::stats::views::TotalsView;

    fn unit(code: &str, name: &str, level: Level, totals: Totals) -> UnitStats {
        UnitStats {
            unit: UnitSummary { code: code.into(), name: name.into(), level },
            as_of: Some(Utc::now()),
            totals: TotalsView::of(&totals, &totals.overdue(&policy(), Utc::now())),
            raw: totals,
        }
    }

    fn totals(companies: i64, area: i64, amount: i64, pending: i64) -> Totals {
        let mut t = Totals::default();
        t.add(Counter::Companies, companies);
        t.add(Counter::Projects, pending);
        t.add(Counter::ClaimedArea, area);
        t.add(Counter::ClaimedAmount, amount);
        t.add(Counter::PendingCommunity, pending);
        t.add(Counter::PaidFen, 500);
        t.add(Counter::RecoveredFen, 150);
        t.add(Counter::InPublicNotice, 2);
        // Waiting since a Monday long past: all of them overdue.
        t.add_waiting(
            Wait { counter: Counter::PendingCommunity, since: chrono::NaiveDate::from_ymd_opt(2020, 3, 2).unwrap() },
            pending,
        );
        t
    }

    fn policy() -> subsidy_core::policy::Policy {
        subsidy_core::policy::Policy::from_json(include_str!("../../../config/policy-shenzhen-2020.json")).unwrap()
    }

    fn view() -> StatsView {
        let a = totals(2, 1_234_567, 1_234_567, 3);
        let b = totals(1, 22_300_000_001, 22_300_000_001, 1);
        let total = a.clone().plus(&b);
        StatsView {
            policy_id: "p".into(),
            unit: unit("440398", "大鹏新区", Level::District, total),
            children: vec![
                unit("440307009", "葵涌街道", Level::Subdistrict, a),
                unit("440307010", "大鹏街道", Level::Subdistrict, b),
            ],
            forecast: None,
        }
    }

    #[test]
    fn the_csv_starts_with_a_bom_and_its_rows_sum_to_the_total_row() {
        let bytes = csv(&view()).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let mut r = csv::Reader::from_reader(&bytes[3..]);
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), HEADERS);
        let records: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(&records[0][1], "葵涌街道");
        assert_eq!(&records[2][1], "合计（大鹏新区）");
        let cents = |s: &str| s.replace('.', "").parse::<i64>().unwrap();
        let columns = records[0].iter().zip(records[1].iter()).zip(records[2].iter()).skip(2).take(21 + 1);
        for (i, ((a, b), total)) in columns.enumerate() {
            assert_eq!(cents(a) + cents(b), cents(total), "column {}", i + 2);
        }
        assert_eq!(&records[2][6], "223012345.68");
        assert_eq!((&records[0][22], &records[2][22]), ("2", "4"), "the 公示中 column");
        assert_eq!((&records[0][23], &records[2][23]), ("3", "4"), "the overdue column");
        assert_eq!(
            (&records[0][19], &records[0][20], &records[0][21]),
            ("5.00", "1.50", "3.50"),
            "paid, recovered, net"
        );
    }

    /// Unit names come from a jurisdiction file someone wrote: one that
    /// begins with a formula character is text in the CSV.
    #[test]
    fn unit_names_that_look_like_formulas_are_text_in_the_csv() {
        let mut v = view();
        for (child, name) in v.children.iter_mut().zip(["=HYPERLINK(\"http://x\")", "+大鹏街道"]) {
            child.unit.name = name.into();
        }
        v.unit.unit.name = "@大鹏新区".into();
        v.children.push(unit("-1", "-减号社区", Level::Community, Totals::default()));
        let bytes = csv(&v).unwrap();
        let mut r = csv::Reader::from_reader(&bytes[3..]);
        let records: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(&records[0][1], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&records[1][1], "'+大鹏街道");
        assert_eq!((&records[2][0], &records[2][1]), ("'-1", "'-减号社区"));
        assert_eq!(&records[3][1], "合计（@大鹏新区）", "only a leading character matters");
        for rec in &records {
            for cell in rec.iter() {
                assert!(!cell.starts_with(subsidy_core::sheet::FORMULA_STARTS), "{cell:?}");
            }
        }
        assert_eq!(&records[3][6], "223012345.68", "numbers stay numbers");
    }

    #[test]
    fn the_xlsx_reads_back_with_chinese_names_and_exact_amounts() {
        let bytes = xlsx(&view()).unwrap();
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range("汇总表").unwrap();
        let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
        assert_eq!(rows[0][0], "单位代码");
        assert_eq!(rows[1][1], "葵涌街道");
        assert_eq!(rows[3][1], "合计（大鹏新区）");
        let fen = |row: usize, col: usize| (range.get((row, col)).unwrap().as_f64().unwrap() * 100.0).round() as i64;
        assert_eq!(fen(3, 6), 22_301_234_568);
        for col in 2..24 {
            assert_eq!(fen(1, col) + fen(2, col), fen(3, col), "column {col}");
        }
    }

    #[test]
    fn a_community_report_has_its_own_row_and_the_total() {
        let mut v = view();
        v.children.clear();
        let r = rows(&v);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].totals, r[1].totals);
    }
}
