//! CSV import of companies and contacts, the pure part: bytes in, one
//! [`CompanyInput`] or [`ContactImport`] per data row out (or a [`RowError`]
//! naming the row's line). Nothing here validates the values themselves:
//! the application layer runs every row through the aggregate's `decide`,
//! checks duplicates against the index and creates the records.
//!
//! - Encoding: UTF-8 (with or without a byte-order mark); anything that is
//!   not valid UTF-8 is read as Windows-1251. A NUL byte means a binary file
//!   and refuses the whole file.
//! - Delimiter: `;` or `,`, whichever the header line holds more of (outside
//!   quotes); `,` on a tie.
//! - A [`Mapping`] names, for each CSV column header, the input field it
//!   fills. Mapped headers missing from the file refuse the file; columns
//!   that are not mapped are ignored.
//! - A row with another number of cells than the header is an error for
//!   that row; an unclosed quote refuses the file, naming the line it opened.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use voronka_core::customer::{Country, Email, Inn, Phone};

use crate::company::CompanyInput;
use crate::contact::ContactInput;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    Companies,
    Contacts,
    Deals,
    Activities,
}

impl ImportKind {
    pub fn parse(text: &str) -> Option<ImportKind> {
        match text.trim() {
            "companies" => Some(ImportKind::Companies),
            "contacts" => Some(ImportKind::Contacts),
            "deals" => Some(ImportKind::Deals),
            "activities" => Some(ImportKind::Activities),
            _ => None,
        }
    }

    /// The input fields a mapping may name for this kind.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            ImportKind::Companies => COMPANY_FIELDS,
            ImportKind::Contacts => CONTACT_FIELDS,
            ImportKind::Deals => DEAL_FIELDS,
            ImportKind::Activities => ACTIVITY_FIELDS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Companies => "companies",
            ImportKind::Contacts => "contacts",
            ImportKind::Deals => "deals",
            ImportKind::Activities => "activities",
        }
    }
}

const COMPANY_FIELDS: &[&str] = &[
    "name",
    "inn",
    "kpp",
    "legal_form",
    "industry",
    "segment",
    "address",
    "website",
];

const CONTACT_FIELDS: &[&str] = &[
    "surname",
    "name",
    "patronymic",
    "phone",
    "phones",
    "email",
    "emails",
    "position",
    "birthday",
    "company_inn",
];

/// Deal columns; a process's own field is mapped as `fields.<name>`.
/// Company by INN, contact by phone or e-mail, users by e-mail.
const DEAL_FIELDS: &[&str] = &[
    "process",
    "title",
    "company_inn",
    "contact_phone",
    "contact_email",
    "responsible_email",
    "amount",
    "source",
    "expected_close_date",
    "stage",
    "created_at",
    "stage_entered_at",
    "closed_at",
];

/// Activity columns; the deal is named by the id it was imported with, or
/// by its title together with the company's INN.
const ACTIVITY_FIELDS: &[&str] = &[
    "kind",
    "direction",
    "channel",
    "subject",
    "company_inn",
    "contact_phone",
    "contact_email",
    "deal_title",
    "responsible_email",
    "planned_at",
    "done_at",
    "outcome",
    "result",
];

/// The prefix that maps a column to a process field of a deal.
pub const PROCESS_FIELD_PREFIX: &str = "fields.";

/// CSV column header -> input field. As JSON, an object:
/// `{"Название": "name", "ИНН": "inn"}`. Several columns may fill `phone` or
/// `email`; any other field takes one column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mapping(pub BTreeMap<String, String>);

impl Mapping {
    pub fn from_json(text: &str) -> Result<Mapping, ImportError> {
        serde_json::from_str(text).map_err(|e| ImportError::Mapping {
            problems: vec![format!("not a JSON object of header -> field: {e}")],
        })
    }

    /// A YAML mapping of header -> field (`Название: name`); scalars only.
    pub fn from_yaml(text: &str) -> Result<Mapping, ImportError> {
        use yaml_rust2::{Yaml, YamlLoader};
        let refused = |problem: String| ImportError::Mapping {
            problems: vec![problem],
        };
        let documents =
            YamlLoader::load_from_str(text).map_err(|e| refused(format!("not YAML: {e}")))?;
        let Some(Yaml::Hash(entries)) = documents.first() else {
            return Err(refused("not a YAML mapping of header -> field".to_owned()));
        };
        let scalar = |yaml: &Yaml| match yaml {
            Yaml::String(text) | Yaml::Real(text) => Some(text.clone()),
            Yaml::Integer(number) => Some(number.to_string()),
            _ => None,
        };
        let mut mapping = BTreeMap::new();
        for (header, field) in entries {
            let (Some(header), Some(field)) = (scalar(header), scalar(field)) else {
                return Err(refused(format!(
                    "every entry is `header: field`, found {header:?}: {field:?}"
                )));
            };
            mapping.insert(header, field);
        }
        Ok(Mapping(mapping))
    }

    /// JSON when the text starts with `{`, else YAML.
    pub fn from_text(text: &str) -> Result<Mapping, ImportError> {
        if text.trim_start().starts_with('{') {
            Mapping::from_json(text)
        } else {
            Mapping::from_yaml(text)
        }
    }

    /// Checks the mapping against what a kind of file may fill.
    pub fn check(&self, kind: ImportKind) -> Result<(), ImportError> {
        check_mapping(self, kind)
    }
}

/// A deal row as read: raw texts, checked by the application layer (which
/// looks up the process, the customers and the users).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DealImportRow {
    pub process: Option<String>,
    pub title: Option<String>,
    pub company_inn: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub responsible_email: Option<String>,
    pub amount: Option<String>,
    pub source: Option<String>,
    pub expected_close_date: Option<String>,
    pub stage: Option<String>,
    pub created_at: Option<String>,
    pub stage_entered_at: Option<String>,
    pub closed_at: Option<String>,
    /// Process fields by name.
    pub fields: BTreeMap<String, String>,
}

/// An activity row as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityImportRow {
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub channel: Option<String>,
    pub subject: Option<String>,
    pub company_inn: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub deal_title: Option<String>,
    pub responsible_email: Option<String>,
    pub planned_at: Option<String>,
    pub done_at: Option<String>,
    pub outcome: Option<String>,
    pub result: Option<String>,
}

/// A moment in an import file: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`,
/// RFC 3339, `DD.MM.YYYY` or `DD.MM.YYYY HH:MM[:SS]`; without a zone it is
/// UTC (a date alone is its midnight).
pub fn parse_moment(text: &str) -> Option<voronka_core::Timestamp> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let text = text.trim();
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Some(moment.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(text, format) {
            return Some(moment.and_utc());
        }
    }
    ["%Y-%m-%d", "%d.%m.%Y"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|moment| moment.and_utc())
}

/// One data row, ready for the aggregate.
#[derive(Debug, Clone)]
pub struct Row<T> {
    /// The file line the row starts on (the header is line 1).
    pub line: u64,
    pub input: T,
}

/// A contact row: the input plus the INN of the company to link it to (the
/// application looks it up in the index).
#[derive(Debug, Clone, Default)]
pub struct ContactImport {
    pub input: ContactInput,
    pub company_inn: Option<String>,
}

/// A row that could not be read, or (from the application layer) whose
/// values are invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    /// The input field (or CSV column) at fault; `None` for the whole row.
    pub column: Option<String>,
    pub code: String,
    pub message: String,
}

/// A file read into rows.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    pub rows: Vec<Row<T>>,
    pub errors: Vec<RowError>,
    /// `utf-8` or `windows-1251`.
    pub encoding: &'static str,
    pub delimiter: char,
}

impl<T> Parsed<T> {
    /// Data rows read, valid or not.
    pub fn total(&self) -> usize {
        self.rows.len() + self.errors.len()
    }
}

/// Problems that refuse the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the mapping is invalid: {}", problems.join("; "))]
    Mapping { problems: Vec<String> },
    #[error("the file has no header line")]
    Empty,
    #[error("line {line}: the file is binary (it holds a NUL byte), not CSV text")]
    Binary { line: u64 },
    #[error("line {line}: a quote opened here is never closed")]
    UnclosedQuote { line: u64 },
    #[error("line {line}: cannot read the CSV: {message}")]
    Csv { line: u64, message: String },
}

/// Decodes the file: UTF-8 (a byte-order mark is dropped), else
/// Windows-1251. Returns the text and the encoding's name.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), "utf-8"),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1251.decode(bytes);
            (text.into_owned(), "windows-1251")
        }
    }
}

/// `;` or `,`: whichever the first line holds more of outside quotes.
pub fn detect_delimiter(text: &str) -> char {
    let (mut semicolons, mut commas, mut quoted) = (0usize, 0usize, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        ';'
    } else {
        ','
    }
}

/// The line of a quote that opens a field and is never closed, if any (the
/// `csv` crate would silently read the rest of the file into one field).
fn unclosed_quote(text: &str, delimiter: char) -> Option<u64> {
    let mut line = 1u64;
    let mut opened_on = 0u64;
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    in_quotes = false;
                }
            }
            continue;
        }
        if c == '"' && at_field_start {
            in_quotes = true;
            opened_on = line;
            at_field_start = false;
            continue;
        }
        at_field_start = c == delimiter || c == '\n' || c == '\r';
    }
    in_quotes.then_some(opened_on)
}

/// The cells of one row, by field (a field mapped from several columns
/// gets each column's cell).
struct Cells<'r> {
    by_field: BTreeMap<&'r str, Vec<&'r str>>,
}

impl<'r> Cells<'r> {
    /// The trimmed value, `None` when blank.
    fn one(&self, field: &str) -> Option<String> {
        self.by_field
            .get(field)?
            .iter()
            .map(|cell| cell.trim())
            .find(|cell| !cell.is_empty())
            .map(str::to_owned)
    }

    /// Every value of the fields, each cell split on `,` and `;`.
    fn many(&self, fields: &[&str]) -> Vec<String> {
        fields
            .iter()
            .filter_map(|field| self.by_field.get(field))
            .flatten()
            .flat_map(|cell| cell.split([',', ';']))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Reads a file of companies.
pub fn parse_companies(
    bytes: &[u8],
    mapping: &Mapping,
) -> Result<Parsed<CompanyInput>, ImportError> {
    parse(bytes, mapping, ImportKind::Companies, |cells| {
        CompanyInput {
            name: cells.one("name").unwrap_or_default(),
            legal_form: cells.one("legal_form"),
            inn: cells.one("inn"),
            kpp: cells.one("kpp"),
            industry: cells.one("industry"),
            segment: cells.one("segment"),
            address: cells.one("address"),
            website: cells.one("website"),
            ..CompanyInput::default()
        }
    })
}

/// Reads a file of contacts.
pub fn parse_contacts(
    bytes: &[u8],
    mapping: &Mapping,
) -> Result<Parsed<ContactImport>, ImportError> {
    parse(bytes, mapping, ImportKind::Contacts, |cells| {
        ContactImport {
            input: ContactInput {
                surname: cells.one("surname").unwrap_or_default(),
                name: cells.one("name").unwrap_or_default(),
                patronymic: cells.one("patronymic"),
                phones: cells.many(&["phone", "phones"]),
                emails: cells.many(&["email", "emails"]),
                position: cells.one("position"),
                birthday: cells.one("birthday"),
                ..ContactInput::default()
            },
            company_inn: cells.one("company_inn"),
        }
    })
}

/// Reads a file of deals.
pub fn parse_deals(bytes: &[u8], mapping: &Mapping) -> Result<Parsed<DealImportRow>, ImportError> {
    parse(bytes, mapping, ImportKind::Deals, |cells| DealImportRow {
        process: cells.one("process"),
        title: cells.one("title"),
        company_inn: cells.one("company_inn"),
        contact_phone: cells.one("contact_phone"),
        contact_email: cells.one("contact_email"),
        responsible_email: cells.one("responsible_email"),
        amount: cells.one("amount"),
        source: cells.one("source"),
        expected_close_date: cells.one("expected_close_date"),
        stage: cells.one("stage"),
        created_at: cells.one("created_at"),
        stage_entered_at: cells.one("stage_entered_at"),
        closed_at: cells.one("closed_at"),
        fields: cells
            .by_field
            .keys()
            .filter_map(|field| field.strip_prefix(PROCESS_FIELD_PREFIX))
            .filter_map(|name| {
                let value = cells.one(&format!("{PROCESS_FIELD_PREFIX}{name}"))?;
                Some((name.to_owned(), value))
            })
            .collect(),
    })
}

/// Reads a file of activities.
pub fn parse_activities(
    bytes: &[u8],
    mapping: &Mapping,
) -> Result<Parsed<ActivityImportRow>, ImportError> {
    parse(bytes, mapping, ImportKind::Activities, |cells| {
        ActivityImportRow {
            kind: cells.one("kind"),
            direction: cells.one("direction"),
            channel: cells.one("channel"),
            subject: cells.one("subject"),
            company_inn: cells.one("company_inn"),
            contact_phone: cells.one("contact_phone"),
            contact_email: cells.one("contact_email"),
            deal_title: cells.one("deal_title"),
            responsible_email: cells.one("responsible_email"),
            planned_at: cells.one("planned_at"),
            done_at: cells.one("done_at"),
            outcome: cells.one("outcome"),
            result: cells.one("result"),
        }
    })
}

fn check_mapping(mapping: &Mapping, kind: ImportKind) -> Result<(), ImportError> {
    let mut problems = Vec::new();
    if mapping.0.is_empty() {
        problems.push("it maps no column".to_owned());
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (column, field) in &mapping.0 {
        let process_field = kind == ImportKind::Deals
            && field
                .strip_prefix(PROCESS_FIELD_PREFIX)
                .is_some_and(|name| !name.trim().is_empty());
        if !kind.fields().contains(&field.as_str()) && !process_field {
            problems.push(format!(
                "column `{column}`: unknown field `{field}` (known: {})",
                kind.fields().join(", ")
            ));
            continue;
        }
        let repeatable = matches!(field.as_str(), "phone" | "phones" | "email" | "emails");
        if let Some(other) = seen.insert(field, column) {
            if !repeatable {
                problems.push(format!(
                    "field `{field}` is mapped from two columns, `{other}` and `{column}`"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Mapping { problems })
    }
}

fn parse<T>(
    bytes: &[u8],
    mapping: &Mapping,
    kind: ImportKind,
    build: impl Fn(&Cells<'_>) -> T,
) -> Result<Parsed<T>, ImportError> {
    check_mapping(mapping, kind)?;
    if let Some(index) = bytes.iter().position(|b| *b == 0) {
        let line = 1 + bytes[..index].iter().filter(|b| **b == b'\n').count() as u64;
        return Err(ImportError::Binary { line });
    }
    let (text, encoding) = decode(bytes);
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let delimiter = detect_delimiter(&text);
    if let Some(line) = unclosed_quote(&text, delimiter) {
        return Err(ImportError::UnclosedQuote { line });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter as u8)
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|header| header.trim().to_owned())
        .collect();
    // Column index -> field, for the mapped columns the header has.
    let mut columns: Vec<(usize, &str)> = Vec::new();
    let mut missing = Vec::new();
    for (column, field) in &mapping.0 {
        match headers.iter().position(|header| header == column.trim()) {
            Some(index) => columns.push((index, field.as_str())),
            None => missing.push(format!("`{column}`")),
        }
    }
    if !missing.is_empty() {
        return Err(ImportError::Mapping {
            problems: vec![format!(
                "mapped columns not in the header: {}",
                missing.join(", ")
            )],
        });
    }
    let mut parsed = Parsed {
        rows: Vec::new(),
        errors: Vec::new(),
        encoding,
        delimiter,
    };
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(text.as_bytes());
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                if record.iter().all(|cell| cell.trim().is_empty()) {
                    continue;
                }
                let mut by_field: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for (index, field) in &columns {
                    by_field
                        .entry(field)
                        .or_default()
                        .push(record.get(*index).unwrap_or(""));
                }
                let input = build(&Cells { by_field });
                parsed.rows.push(Row { line, input });
            }
            Err(error) => match error.kind() {
                csv::ErrorKind::UnequalLengths {
                    pos,
                    expected_len,
                    len,
                } => parsed.errors.push(RowError {
                    line: pos.as_ref().map_or(0, |p| lines.line_at(p.byte())),
                    column: None,
                    code: "column_count".to_owned(),
                    message: format!("the row has {len} cells, the header {expected_len}"),
                }),
                _ => return Err(csv_error(&error)),
            },
        }
    }
    Ok(parsed)
}

/// The file line a record starts on, from the byte offset the reader gives
/// (which, after a CRLF line end, points at the `\n` before the record):
/// line ends before the record's first byte, counted once over the file.
struct LineCounter<'t> {
    text: &'t [u8],
    counted_to: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t [u8]) -> Self {
        LineCounter {
            text,
            counted_to: 0,
            line: 1,
        }
    }

    /// Offsets must not go backwards (records come in order).
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.counted_to {
            let newlines = self.text[self.counted_to..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.counted_to = start;
        }
        self.line
    }
}

fn csv_error(error: &csv::Error) -> ImportError {
    ImportError::Csv {
        line: error.position().map_or(0, |p| p.line()),
        message: error.to_string(),
    }
}

/// The key two company rows of one file are duplicates by: the INN's
/// digits (`None` without a valid INN).
pub fn company_key(input: &CompanyInput) -> Option<String> {
    let inn = Inn::parse(input.inn.as_deref()?).ok()?;
    Some(inn.as_str().to_owned())
}

/// The keys two contact rows of one file are duplicates by: each phone in
/// E.164 and each normalized e-mail (values that do not parse give none).
pub fn contact_keys(input: &ContactInput) -> Vec<String> {
    let phones = input
        .phones
        .iter()
        .filter_map(|raw| Phone::parse(raw, Country::Ru).ok())
        .map(|phone| format!("phone:{}", phone.e164()));
    let emails = input
        .emails
        .iter()
        .filter_map(|raw| Email::parse(raw).ok())
        .map(|email| format!("email:{}", email.as_str()));
    phones.chain(emails).collect()
}
