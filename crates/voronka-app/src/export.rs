//! Exports: any list (deals, companies, contacts, activities, with the
//! list's filters) or report as one [`Table`] — a header and rows of text
//! cells — written as CSV or XLSX by the two writers here. One row model
//! feeds both, so the two files of one export hold the same rows.
//!
//! A list export walks the same query the API's list answers, page after
//! page, so it obeys the reader's visibility exactly as the list does.

use serde::Serialize;
use serde_json::Value;
use voronka_crm::customer_index::{CompanyFilter, ContactFilter};
use voronka_crm::deal_index::DealFilter;
use voronka_crm::page::{Cursor, MAX_PAGE_SIZE};

use crate::crm::work::ActivityQuery;
use crate::crm::{AppError, Caller, Crm};

/// The most rows one export holds (XLSX allows 1,048,575 below a header).
pub const MAX_EXPORT_ROWS: usize = 1_000_000;

/// A file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Option<ExportFormat> {
        match text.trim() {
            "csv" => Some(ExportFormat::Csv),
            "xlsx" => Some(ExportFormat::Xlsx),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => XLSX_CONTENT_TYPE,
        }
    }
}

pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Which list to export, with that list's filters.
#[derive(Debug, Clone)]
pub enum ListExport {
    Deals(DealFilter),
    Companies(CompanyFilter),
    Contacts(ContactFilter),
    Activities(ActivityQuery),
}

impl ListExport {
    pub fn name(&self) -> &'static str {
        match self {
            ListExport::Deals(_) => "deals",
            ListExport::Companies(_) => "companies",
            ListExport::Contacts(_) => "contacts",
            ListExport::Activities(_) => "activities",
        }
    }
}

/// The one row model of every export: text cells under a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the XLSX file could not be written: {0}")]
pub struct XlsxError(String);

impl Table {
    pub fn new(header: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows,
        }
    }

    /// Rows from records as the API shows them: one column per top-level
    /// property (in the order of the first record, then any new ones),
    /// numbers and booleans as text, objects and lists as JSON.
    pub fn from_records<T: Serialize>(records: &[T]) -> Table {
        let values: Vec<serde_json::Map<String, Value>> = records
            .iter()
            .filter_map(|record| match serde_json::to_value(record) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            })
            .collect();
        let mut header: Vec<String> = Vec::new();
        for map in &values {
            for key in map.keys() {
                if !header.contains(key) {
                    header.push(key.clone());
                }
            }
        }
        let rows = values
            .iter()
            .map(|map| {
                header
                    .iter()
                    .map(|key| match map.get(key) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(text)) => text.clone(),
                        Some(other) => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        Table { header, rows }
    }

    pub fn write(&self, format: ExportFormat) -> Result<Vec<u8>, XlsxError> {
        match format {
            ExportFormat::Csv => Ok(self.to_csv().into_bytes()),
            ExportFormat::Xlsx => self.to_xlsx(),
        }
    }

    /// UTF-8 with a byte-order mark (spreadsheet programs then read
    /// Cyrillic right), `,`-separated, CRLF; a text cell a spreadsheet would
    /// run as a formula gets a leading apostrophe.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        for row in std::iter::once(&self.header).chain(self.rows.iter()) {
            for (index, cell) in row.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                push_csv_cell(&mut out, cell);
            }
            out.push_str("\r\n");
        }
        out
    }

    /// One worksheet: the header in bold, every cell as text (numbers the
    /// API writes as text stay exact, ids and phones keep their digits).
    pub fn to_xlsx(&self) -> Result<Vec<u8>, XlsxError> {
        use rust_xlsxwriter::{Format, Workbook};
        let fail = |error: rust_xlsxwriter::XlsxError| XlsxError(error.to_string());
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        let bold = Format::new().set_bold();
        for (column, title) in self.header.iter().enumerate() {
            let column = u16::try_from(column).map_err(|_| XlsxError("too many columns".into()))?;
            sheet
                .write_string_with_format(0, column, xlsx_text(title), &bold)
                .map_err(fail)?;
        }
        for (index, row) in self.rows.iter().enumerate() {
            let line = u32::try_from(index + 1).map_err(|_| XlsxError("too many rows".into()))?;
            for (column, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                let column =
                    u16::try_from(column).map_err(|_| XlsxError("too many columns".into()))?;
                sheet
                    .write_string(line, column, xlsx_text(cell))
                    .map_err(fail)?;
            }
        }
        workbook.save_to_buffer().map_err(fail)
    }
}

/// A cell's text as XLSX holds it: at most 32,767 characters, and no
/// control characters other than tab and line breaks (they are not XML).
fn xlsx_text(cell: &str) -> String {
    cell.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .take(32_767)
        .collect()
}

/// Quotes a cell when it needs it; a text cell that a spreadsheet would
/// run as a formula gets a leading apostrophe.
pub fn push_csv_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '@', '\t', '\r'])
        || (cell.starts_with('-') && cell.parse::<f64>().is_err());
    let needs_quotes = formula || cell.contains([',', '"', '\n', '\r']);
    if !needs_quotes {
        out.push_str(cell);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&cell.replace('"', "\"\""));
    out.push('"');
}

impl Crm {
    /// Every row of a list the caller sees, with the list's filters, as a
    /// table (the same visibility and filters as the list itself).
    pub async fn export_list(&self, caller: &Caller, list: &ListExport) -> Result<Table, AppError> {
        let mut cursor: Option<Cursor> = None;
        let mut values: Vec<Value> = Vec::new();
        loop {
            let (items, next) = match list {
                ListExport::Deals(filter) => {
                    let page = self
                        .deals(caller, filter, cursor, MAX_PAGE_SIZE, None)
                        .await?;
                    (to_values(&page.items), page.next_cursor)
                }
                ListExport::Companies(filter) => {
                    let page = self
                        .companies(caller, filter, cursor, MAX_PAGE_SIZE, None)
                        .await?;
                    (to_values(&page.items), page.next_cursor)
                }
                ListExport::Contacts(filter) => {
                    let page = self
                        .contacts(caller, filter, cursor, MAX_PAGE_SIZE, None)
                        .await?;
                    (to_values(&page.items), page.next_cursor)
                }
                ListExport::Activities(query) => {
                    let page = self
                        .activities(caller, query, cursor, MAX_PAGE_SIZE, None)
                        .await?;
                    (to_values(&page.items), page.next_cursor)
                }
            };
            values.extend(items);
            if values.len() > MAX_EXPORT_ROWS {
                return Err(AppError::invalid(
                    "filter",
                    "export_too_large",
                    format!("an export holds at most {MAX_EXPORT_ROWS} rows: narrow the filters"),
                ));
            }
            match next {
                Some(next) => {
                    cursor = Some(Cursor::parse(&next).map_err(|error| {
                        AppError::Internal(format!("a list gave an unreadable cursor: {error:?}"))
                    })?)
                }
                None => return Ok(Table::from_records(&values)),
            }
        }
    }
}

fn to_values<T: Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect()
}
