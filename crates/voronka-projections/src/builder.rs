//! The no-code report builder: a declarative [`ReportSpec`] (source,
//! filters, group-by, measures, sort, limit) compiled to parameterized SQL
//! over the read-model tables.
//!
//! Safety: every field a spec names is looked up in a per-source whitelist
//! ([`fields_of`]) that maps it to a fixed column expression; every value is
//! a bound parameter. No string from a spec ever reaches the SQL text.
//!
//! Shape of a run: SQL filters and, when it can, groups by "base keys" (a
//! day for month/week/day buckets, the responsible for a department) and
//! returns partial aggregates (count, sum, count of values, min, max, rows
//! matching a condition); Rust merges the base groups into the asked-for
//! groups, sorts and limits. Medians, and dimensions or filters on a deal's
//! custom fields (kept as JSON in `rm_deals.fields`, which SQLite and
//! PostgreSQL query differently), need the rows themselves: then SQL
//! returns the filtered rows (at most [`MAX_SCANNED_ROWS`]) and Rust does
//! the grouping.
//!
//! `as_of`: append-only sources keep the rows recorded up to the moment;
//! `deals` reads the deals' versions current at the moment
//! (`rm_deals_history`), so its values are those recorded by then.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::funnel::Responsibles;
use crate::time::{date_of_day, day_number, day_of, MICROS_PER_DAY};
use crate::{ProjectionError, ReadDb};

/// The largest `limit` a spec may ask for.
pub const MAX_LIMIT: i64 = 10_000;
/// The `limit` of a spec that names none.
pub const DEFAULT_LIMIT: i64 = 1000;
/// The most rows a spec that needs rows (medians, custom fields) may read.
pub const MAX_SCANNED_ROWS: usize = 2_000_000;
/// The most filters, dimensions, measures or sort keys of a spec.
pub const MAX_ITEMS: usize = 20;
/// The most values of an `in` filter.
pub const MAX_IN_VALUES: usize = 1000;

/// A report as a user builds it. Names (source, op, fn, bucket) are checked
/// by [`compile`], so a wrong one is an error naming its path, not a parse
/// failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// `deals`, `stage_changes`, `activities`, `documents` or `payments`.
    pub source: String,
    /// All must hold (AND).
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
    #[serde(default)]
    pub group_by: Vec<DimensionSpec>,
    /// A `count` when empty.
    #[serde(default)]
    pub measures: Vec<MeasureSpec>,
    #[serde(default)]
    pub sort: Vec<SortSpec>,
    /// 1..=10000 result rows, default 1000.
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// A field of the source, or `fields.<name>` for a deal's custom or
    /// dictionary field.
    pub field: String,
    /// `eq`, `ne`, `in`, `gt`, `gte`, `lt`, `lte`, `between` or `is_null`.
    pub op: String,
    /// Of the field's type: a string, an integer (money in minor units), an
    /// RFC 3339 time, a `YYYY-MM-DD` date; an array for `in` and `between`;
    /// for `is_null`, `true` (default) or `false`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DimensionSpec {
    /// `stage`, `manager`, `department`, `source`, a time field, a custom
    /// field `fields.<name>`, ...
    pub field: String,
    /// For time and date fields: `day`, `week` (starting Monday) or `month`
    /// (UTC).
    #[serde(default)]
    pub bucket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    /// `count`, `sum`, `avg`, `median`, `min`, `max` or `conversion`.
    #[serde(rename = "fn")]
    pub function: String,
    /// The numeric field (not for `count` and `conversion`).
    #[serde(default)]
    pub field: Option<String>,
    /// For `conversion`: the rows that count as converted (all must hold).
    #[serde(default, rename = "where")]
    pub condition: Vec<FilterSpec>,
    /// The result column's name (default `count`, `sum_amount`, ...).
    #[serde(default, rename = "as")]
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SortSpec {
    /// A result column: a dimension's or a measure's name.
    pub by: String,
    #[serde(default)]
    pub desc: bool,
}

/// Why a spec cannot run; each names the path of the offending part
/// (`filters[2].field`). HTTP 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(
        "`{path}`: unknown source `{name}` (deals, stage_changes, activities, documents, payments)"
    )]
    UnknownSource { path: String, name: String },
    #[error("`{path}`: source `{source_name}` has no field `{name}`")]
    UnknownField {
        path: String,
        source_name: String,
        name: String,
    },
    #[error("`{path}`: unknown {what} `{name}`")]
    UnknownName {
        path: String,
        what: &'static str,
        name: String,
    },
    #[error("`{path}`: {message}")]
    WrongType { path: String, message: String },
    #[error("`{path}`: `{op}` does not apply to field `{field}`")]
    BadOperator {
        path: String,
        op: String,
        field: String,
    },
    #[error("`{path}`: `{function}` needs a numeric field")]
    NotNumeric { path: String, function: String },
    #[error("`{path}`: {message}")]
    Invalid { path: String, message: String },
    #[error("`{path}`: at most {max} allowed")]
    TooMany { path: String, max: usize },
    #[error("`limit` must be 1 to {MAX_LIMIT}")]
    BadLimit,
    #[error("the report reads more than {MAX_SCANNED_ROWS} rows; narrow it with filters")]
    TooManyRows,
}

impl SpecError {
    /// The spec path of the offending part.
    pub fn path(&self) -> &str {
        match self {
            SpecError::UnknownSource { path, .. }
            | SpecError::UnknownField { path, .. }
            | SpecError::UnknownName { path, .. }
            | SpecError::WrongType { path, .. }
            | SpecError::BadOperator { path, .. }
            | SpecError::NotNumeric { path, .. }
            | SpecError::Invalid { path, .. }
            | SpecError::TooMany { path, .. } => path,
            SpecError::BadLimit => "limit",
            SpecError::TooManyRows => "filters",
        }
    }

    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            SpecError::UnknownSource { .. } => "unknown_source",
            SpecError::UnknownField { .. } => "unknown_field",
            SpecError::UnknownName { .. } => "unknown_name",
            SpecError::WrongType { .. } => "wrong_type",
            SpecError::BadOperator { .. } => "bad_operator",
            SpecError::NotNumeric { .. } => "not_numeric",
            SpecError::Invalid { .. } => "invalid",
            SpecError::TooMany { .. } => "too_many",
            SpecError::BadLimit => "bad_limit",
            SpecError::TooManyRows => "too_many_rows",
        }
    }
}

/// What running a report can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

impl From<sqlx::Error> for BuilderError {
    fn from(error: sqlx::Error) -> Self {
        BuilderError::Projection(ProjectionError::Database(error))
    }
}

// ------------------------------------------------------------------ sources

/// A table a spec can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Deals,
    StageChanges,
    Activities,
    Documents,
    Payments,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Deals,
        Source::StageChanges,
        Source::Activities,
        Source::Documents,
        Source::Payments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Deals => "deals",
            Source::StageChanges => "stage_changes",
            Source::Activities => "activities",
            Source::Documents => "documents",
            Source::Payments => "payments",
        }
    }

    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The projection whose tables the source reads (for read-your-writes).
    pub fn projection(self) -> &'static str {
        match self {
            Source::Deals | Source::StageChanges => crate::deals::NAME,
            Source::Activities | Source::Documents | Source::Payments => crate::work::NAME,
        }
    }

    fn table(self) -> Option<TableInfo> {
        match self {
            Source::Deals => Some(TableInfo {
                from: "rm_deals",
                always: None,
                responsible: "responsible",
                recorded: "created_rec",
                history: Some("rm_deals_history"),
                custom_fields: Some("fields"),
            }),
            Source::StageChanges => Some(TableInfo {
                from: "rm_flow_journal",
                always: Some("exited = 1"),
                responsible: "responsible",
                recorded: "rec_at",
                history: None,
                custom_fields: None,
            }),
            Source::Activities => Some(TableInfo {
                from: "rm_activities",
                always: None,
                responsible: "responsible",
                recorded: "created_rec",
                history: None,
                custom_fields: None,
            }),
            Source::Documents => Some(TableInfo {
                from: "rm_documents",
                always: None,
                responsible: "responsible",
                recorded: "created_rec",
                history: None,
                custom_fields: None,
            }),
            Source::Payments => Some(TableInfo {
                from: "rm_payments",
                always: None,
                responsible: "responsible",
                recorded: "rec_at",
                history: None,
                custom_fields: None,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct TableInfo {
    from: &'static str,
    /// A condition every row of the source meets (a fixed text).
    always: Option<&'static str>,
    /// The responsible user's column ('' = nobody): visibility.
    responsible: &'static str,
    /// The recorded-time column: `as_of`.
    recorded: &'static str,
    /// The table of versions with `valid_from`/`valid_to`, for a source
    /// whose rows change: `as_of` reads the versions current then instead.
    history: Option<&'static str>,
    /// The JSON text column of custom fields, if the source has one.
    custom_fields: Option<&'static str>,
}

/// What a field holds, which decides the operators and values it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    /// A user id; '' (nobody) reads as null.
    User,
    /// The department of the responsible user (resolved by the app).
    Department,
    Integer,
    /// Minor units (kopecks).
    Money,
    /// Microseconds since the epoch; values are RFC 3339 times.
    Time,
    /// A UTC day number; values are `YYYY-MM-DD` dates.
    Date,
    /// A deal's custom or dictionary field (JSON): compared in Rust.
    Custom,
}

impl FieldType {
    fn numeric(self) -> bool {
        matches!(self, FieldType::Integer | FieldType::Money)
    }
    fn ordered(self) -> bool {
        matches!(
            self,
            FieldType::Integer | FieldType::Money | FieldType::Time | FieldType::Date
        )
    }
}

/// One whitelisted field: its name in specs, its fixed column expression,
/// its type and whether it may be a dimension.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldType,
    pub groupable: bool,
}

const fn f(
    name: &'static str,
    column: &'static str,
    kind: FieldType,
    groupable: bool,
) -> FieldInfo {
    FieldInfo {
        name,
        column,
        kind,
        groupable,
    }
}

const DEAL_FIELDS: &[FieldInfo] = &[
    f("deal_id", "deal_id", FieldType::Text, false),
    f("process", "process", FieldType::Text, true),
    f("stage", "stage", FieldType::Text, true),
    f("previous_stage", "previous_stage", FieldType::Text, true),
    f("manager", "responsible", FieldType::User, true),
    f("department", "responsible", FieldType::Department, true),
    f("title", "title", FieldType::Text, false),
    f("company", "company", FieldType::Text, true),
    f("contact", "contact", FieldType::Text, true),
    f("amount", "amount", FieldType::Money, false),
    f("currency", "currency", FieldType::Text, true),
    f("source", "source", FieldType::Text, true),
    f(
        "expected_close_date",
        "expected_close_day",
        FieldType::Date,
        true,
    ),
    f("loss_reason", "loss_reason", FieldType::Text, true),
    f("competitor", "competitor", FieldType::Text, true),
    f("created_at", "created_at", FieldType::Time, true),
    f(
        "stage_entered_at",
        "stage_entered_at",
        FieldType::Time,
        true,
    ),
    f("last_touch_at", "last_touch_at", FieldType::Time, true),
];

const STAGE_CHANGE_FIELDS: &[FieldInfo] = &[
    f("deal_id", "deal_id", FieldType::Text, false),
    f("process", "process", FieldType::Text, true),
    f("stage", "stage", FieldType::Text, true),
    f("next_stage", "next_stage", FieldType::Text, true),
    f("manager", "responsible", FieldType::User, true),
    f("department", "responsible", FieldType::Department, true),
    f("at", "at", FieldType::Time, true),
    f("seconds", "seconds", FieldType::Integer, false),
    f("amount", "(-amount)", FieldType::Money, false),
];

const ACTIVITY_FIELDS: &[FieldInfo] = &[
    f("activity_id", "activity_id", FieldType::Text, false),
    f("kind", "kind", FieldType::Text, true),
    f("direction", "direction", FieldType::Text, true),
    f("status", "status", FieldType::Text, true),
    f("outcome", "outcome", FieldType::Text, true),
    f("subject", "subject", FieldType::Text, false),
    f("manager", "responsible", FieldType::User, true),
    f("department", "responsible", FieldType::Department, true),
    f("deal_id", "deal_id", FieldType::Text, false),
    f("due_at", "due_at", FieldType::Time, true),
    f("planned_start", "planned_start", FieldType::Time, true),
    f("completed_at", "completed_at", FieldType::Time, true),
    f(
        "reschedule_count",
        "reschedule_count",
        FieldType::Integer,
        true,
    ),
    f("created_at", "created_at", FieldType::Time, true),
];

const DOCUMENT_FIELDS: &[FieldInfo] = &[
    f("document_id", "document_id", FieldType::Text, false),
    f("kind", "kind", FieldType::Text, true),
    f("deal_id", "deal_id", FieldType::Text, false),
    f("number", "number", FieldType::Text, false),
    f("status", "status", FieldType::Text, true),
    f("manager", "responsible", FieldType::User, true),
    f("department", "responsible", FieldType::Department, true),
    f("currency", "currency", FieldType::Text, true),
    f("gross", "gross", FieldType::Money, false),
    f("paid", "paid", FieldType::Money, false),
    f("sent_at", "sent_at", FieldType::Time, true),
    f("created_at", "created_at", FieldType::Time, true),
];

const PAYMENT_FIELDS: &[FieldInfo] = &[
    f("document_id", "document_id", FieldType::Text, false),
    f("deal_id", "deal_id", FieldType::Text, false),
    f("manager", "responsible", FieldType::User, true),
    f("department", "responsible", FieldType::Department, true),
    f("currency", "currency", FieldType::Text, true),
    f("amount", "amount", FieldType::Money, false),
    f("paid_date", "paid_day", FieldType::Date, true),
    f("at", "at", FieldType::Time, true),
];

/// The whitelist of a source's fields.
pub fn fields_of(source: Source) -> &'static [FieldInfo] {
    match source {
        Source::Deals => DEAL_FIELDS,
        Source::StageChanges => STAGE_CHANGE_FIELDS,
        Source::Activities => ACTIVITY_FIELDS,
        Source::Documents => DOCUMENT_FIELDS,
        Source::Payments => PAYMENT_FIELDS,
    }
}

// ------------------------------------------------------------------ context

/// What the app resolves for a run: whose rows the caller reaches, the
/// departments of users, and the moment the report stands at.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub responsibles: Responsibles,
    /// User id -> the id of the department the user belongs to.
    pub user_departments: HashMap<String, String>,
    /// Department id -> every user in it and its sub-departments (for
    /// department filters); when a department is missing here, the users
    /// whose own department it is.
    pub department_members: HashMap<String, Vec<String>>,
    /// Microseconds since the epoch.
    pub as_of: Option<i64>,
}

impl RunContext {
    pub fn all() -> Self {
        Self {
            responsibles: Responsibles::All,
            user_departments: HashMap::new(),
            department_members: HashMap::new(),
            as_of: None,
        }
    }

    fn members(&self, department: &str) -> Vec<String> {
        match self.department_members.get(department) {
            Some(members) => members.clone(),
            None => self
                .user_departments
                .iter()
                .filter(|(_, d)| d.as_str() == department)
                .map(|(u, _)| u.clone())
                .collect(),
        }
    }
}

// ------------------------------------------------------------------ compile

/// A bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with its values, numbered `$1..` in push order.
#[derive(Debug, Default, Clone)]
struct Sql {
    binds: Vec<Bind>,
}

impl Sql {
    fn push(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }
    fn list(&mut self, values: Vec<Bind>) -> String {
        values
            .into_iter()
            .map(|v| self.push(v))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Day,
    Week,
    Month,
}

/// How a result key is made from a base key.
#[derive(Debug, Clone)]
enum Dimension {
    /// A column's value as is (decoded by the dimension's type).
    Column,
    /// The responsible's department.
    Department,
    /// A bucket of a day (the base key is a day number).
    Bucket(Bucket),
    /// A custom field, read from the row's JSON.
    Custom(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Count,
    Sum,
    Avg,
    Median,
    Min,
    Max,
    Conversion,
}

impl Function {
    fn parse(name: &str) -> Option<Function> {
        Some(match name {
            "count" => Function::Count,
            "sum" => Function::Sum,
            "avg" => Function::Avg,
            "median" => Function::Median,
            "min" => Function::Min,
            "max" => Function::Max,
            "conversion" => Function::Conversion,
            _ => return None,
        })
    }
}

/// A condition on a custom field, checked in Rust.
#[derive(Debug, Clone)]
struct CustomCondition {
    name: String,
    op: Op,
    values: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    Between,
    IsNull,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "in" => Op::In,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "between" => Op::Between,
            "is_null" => Op::IsNull,
            _ => return None,
        })
    }
    fn comparison(self) -> Option<&'static str> {
        Some(match self {
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            _ => return None,
        })
    }
}

/// A condition compiled: SQL text (with its binds pushed) and/or custom
/// conditions for Rust.
#[derive(Debug, Clone, Default)]
struct Conditions {
    sql: Vec<String>,
    custom: Vec<CustomCondition>,
}

#[derive(Debug, Clone)]
struct Measure {
    function: Function,
    /// Index of this measure's first column in a result row of the SQL.
    column: usize,
    /// Custom conditions of a conversion (checked in Rust, rows mode).
    custom: Vec<CustomCondition>,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ResultColumn {
    pub name: String,
    /// `text`, `user`, `department`, `date`, `week`, `month`, `integer`,
    /// `money` (minor units), `number`, `ratio`, `custom`.
    pub kind: String,
}

/// A spec compiled: the SQL to run and how to turn its rows into results.
#[derive(Debug, Clone)]
pub struct CompiledReport {
    /// The statement: only whitelisted identifiers and `$N` placeholders.
    pub sql: String,
    pub binds: Vec<Bind>,
    /// Whether SQL returns rows (true) or partial aggregates per base key.
    pub rows_mode: bool,
    pub columns: Vec<ResultColumn>,
    source: Source,
    dimensions: Vec<(Dimension, FieldType)>,
    measures: Vec<Measure>,
    custom_filters: Vec<CustomCondition>,
    /// Index of the JSON column in rows mode.
    custom_column: Option<usize>,
    /// Index of the row count column in aggregate mode.
    count_column: usize,
    sort: Vec<(usize, bool)>,
    limit: usize,
    user_departments: HashMap<String, String>,
}

impl CompiledReport {
    pub fn source(&self) -> Source {
        self.source
    }
}

fn field<'a>(
    source: Source,
    name: &str,
    path: &str,
    table: &TableInfo,
) -> Result<Resolved<'a>, SpecError> {
    if let Some(custom) = name.strip_prefix("fields.") {
        let valid = !custom.is_empty()
            && custom.len() <= 64
            && custom
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if table.custom_fields.is_some() && valid {
            return Ok(Resolved::Custom(custom.to_owned()));
        }
    }
    fields_of(source)
        .iter()
        .find(|f| f.name == name)
        .map(Resolved::Field)
        .ok_or_else(|| SpecError::UnknownField {
            path: path.to_owned(),
            source_name: source.as_str().to_owned(),
            name: name.to_owned(),
        })
}

enum Resolved<'a> {
    Field(&'a FieldInfo),
    Custom(String),
}

/// Compiles `spec` for a run in `context`.
pub fn compile(spec: &ReportSpec, context: &RunContext) -> Result<CompiledReport, SpecError> {
    let source = Source::parse(&spec.source).ok_or_else(|| SpecError::UnknownSource {
        path: "source".into(),
        name: spec.source.clone(),
    })?;
    let table = source.table().ok_or_else(|| SpecError::Invalid {
        path: "source".into(),
        message: format!("source `{}` is not available yet", source.as_str()),
    })?;
    for (items, path) in [
        (spec.filters.len(), "filters"),
        (spec.group_by.len(), "group_by"),
        (spec.measures.len(), "measures"),
        (spec.sort.len(), "sort"),
    ] {
        if items > MAX_ITEMS {
            return Err(SpecError::TooMany {
                path: path.into(),
                max: MAX_ITEMS,
            });
        }
    }
    let limit = match spec.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(SpecError::BadLimit),
    };

    let mut sql = Sql::default();
    // Dimensions: base key expressions.
    let mut keys: Vec<String> = Vec::new();
    let mut dimensions = Vec::new();
    let mut columns = Vec::new();
    let mut needs_rows = false;
    for (i, dim) in spec.group_by.iter().enumerate() {
        let path = format!("group_by[{i}].field");
        let bucket = match dim.bucket.as_deref() {
            None => None,
            Some("day") => Some(Bucket::Day),
            Some("week") => Some(Bucket::Week),
            Some("month") => Some(Bucket::Month),
            Some(other) => {
                return Err(SpecError::UnknownName {
                    path: format!("group_by[{i}].bucket"),
                    what: "bucket (day, week, month)",
                    name: other.to_owned(),
                })
            }
        };
        let name = match bucket {
            Some(b) => format!(
                "{}_{}",
                dim.field,
                match b {
                    Bucket::Day => "day",
                    Bucket::Week => "week",
                    Bucket::Month => "month",
                }
            ),
            None => dim.field.clone(),
        };
        match field(source, &dim.field, &path, &table)? {
            Resolved::Custom(custom) => {
                if bucket.is_some() {
                    return Err(bucket_error(i, &dim.field));
                }
                needs_rows = true;
                dimensions.push((Dimension::Custom(custom), FieldType::Custom));
                columns.push(column(name, "custom"));
            }
            Resolved::Field(info) => {
                if !info.groupable {
                    return Err(SpecError::Invalid {
                        path,
                        message: format!("field `{}` cannot be grouped by", info.name),
                    });
                }
                match (info.kind, bucket) {
                    (FieldType::Time, Some(b)) => {
                        keys.push(format!(
                            "CAST({} / {MICROS_PER_DAY} AS BIGINT)",
                            info.column
                        ));
                        dimensions.push((Dimension::Bucket(b), FieldType::Date));
                        columns.push(column(name, bucket_kind(b)));
                    }
                    (FieldType::Date, b) => {
                        let b = b.unwrap_or(Bucket::Day);
                        keys.push(info.column.to_owned());
                        dimensions.push((Dimension::Bucket(b), FieldType::Date));
                        columns.push(column(name, bucket_kind(b)));
                    }
                    (FieldType::Time, None) => {
                        return Err(SpecError::Invalid {
                            path: format!("group_by[{i}].bucket"),
                            message: format!(
                                "time field `{}` needs a bucket: day, week or month",
                                info.name
                            ),
                        })
                    }
                    (_, Some(_)) => return Err(bucket_error(i, info.name)),
                    (FieldType::Department, None) => {
                        keys.push(info.column.to_owned());
                        dimensions.push((Dimension::Department, FieldType::Department));
                        columns.push(column(name, "department"));
                    }
                    (kind, None) => {
                        keys.push(info.column.to_owned());
                        dimensions.push((Dimension::Column, kind));
                        columns.push(column(name, kind_name(kind)));
                    }
                }
            }
        }
    }

    // Filters (WHERE), compiled now so their binds follow the select's.
    let mut filter_conditions = Conditions::default();
    for (i, filter) in spec.filters.iter().enumerate() {
        let path = format!("filters[{i}]");
        condition(
            source,
            &table,
            filter,
            &path,
            context,
            &mut sql,
            &mut filter_conditions,
        )?;
    }
    if !filter_conditions.custom.is_empty() {
        needs_rows = true;
    }

    // Measures.
    let default_measures = [MeasureSpec {
        function: "count".into(),
        field: None,
        condition: Vec::new(),
        alias: None,
    }];
    let measure_specs: &[MeasureSpec] = if spec.measures.is_empty() {
        &default_measures
    } else {
        &spec.measures
    };
    // First pass: resolve, so rows mode is known before the select is built.
    struct Planned {
        function: Function,
        value: Option<&'static str>,
        condition: Conditions,
    }
    let mut planned = Vec::new();
    let mut condition_sql = Sql { binds: Vec::new() };
    for (i, measure) in measure_specs.iter().enumerate() {
        let path = format!("measures[{i}]");
        let function =
            Function::parse(&measure.function).ok_or_else(|| SpecError::UnknownName {
                path: format!("{path}.fn"),
                what: "measure (count, sum, avg, median, min, max, conversion)",
                name: measure.function.clone(),
            })?;
        let mut value = None;
        let mut conditions = Conditions::default();
        match function {
            Function::Count | Function::Conversion => {
                if measure.field.is_some() {
                    return Err(SpecError::Invalid {
                        path: format!("{path}.field"),
                        message: format!("`{}` takes no field", measure.function),
                    });
                }
            }
            _ => {
                let Some(name) = &measure.field else {
                    return Err(SpecError::Invalid {
                        path: format!("{path}.field"),
                        message: format!("`{}` needs a numeric field", measure.function),
                    });
                };
                match field(source, name, &format!("{path}.field"), &table)? {
                    Resolved::Field(info) if info.kind.numeric() => value = Some(info.column),
                    _ => {
                        return Err(SpecError::NotNumeric {
                            path: format!("{path}.field"),
                            function: measure.function.clone(),
                        })
                    }
                }
            }
        }
        if function == Function::Conversion {
            if measure.condition.is_empty() {
                return Err(SpecError::Invalid {
                    path: format!("{path}.where"),
                    message: "`conversion` needs a condition".into(),
                });
            }
            if measure.condition.len() > MAX_ITEMS {
                return Err(SpecError::TooMany {
                    path: format!("{path}.where"),
                    max: MAX_ITEMS,
                });
            }
            for (j, filter) in measure.condition.iter().enumerate() {
                condition(
                    source,
                    &table,
                    filter,
                    &format!("{path}.where[{j}]"),
                    context,
                    &mut condition_sql,
                    &mut conditions,
                )?;
            }
            if !conditions.custom.is_empty() {
                needs_rows = true;
            }
        } else if !measure.condition.is_empty() {
            return Err(SpecError::Invalid {
                path: format!("{path}.where"),
                message: "only `conversion` takes a condition".into(),
            });
        }
        if function == Function::Median {
            needs_rows = true;
        }
        let name = match &measure.alias {
            Some(alias) => {
                if alias.trim().is_empty() || alias.chars().count() > 64 {
                    return Err(SpecError::Invalid {
                        path: format!("{path}.as"),
                        message: "a name is 1 to 64 characters".into(),
                    });
                }
                alias.clone()
            }
            None => match &measure.field {
                Some(field) => format!("{}_{}", measure.function, field),
                None => measure.function.clone(),
            },
        };
        if columns.iter().any(|c: &ResultColumn| c.name == name) {
            return Err(SpecError::Invalid {
                path: format!("{path}.as"),
                message: format!("the result already has a column `{name}`"),
            });
        }
        let kind = match function {
            Function::Count => "integer",
            Function::Conversion => "ratio",
            Function::Avg => "number",
            _ => {
                let money = value.is_some_and(|c| {
                    fields_of(source)
                        .iter()
                        .any(|f| f.column == c && f.kind == FieldType::Money)
                });
                if money {
                    "money"
                } else {
                    "integer"
                }
            }
        };
        columns.push(column(name, kind));
        planned.push(Planned {
            function,
            value,
            condition: conditions,
        });
    }

    // The select list: keys, then per measure its partial columns.
    let rows_mode = needs_rows;
    let mut select: Vec<String> = keys.clone();
    let mut measures = Vec::new();
    // Binds of conversion conditions live in the select list, which comes
    // first in the text; renumber by building the final bind list as
    // select binds followed by where binds.
    let mut select_sql = Sql::default();
    let mut condition_binds = condition_sql.binds.into_iter();
    for plan in &planned {
        let column = select.len();
        match (plan.function, rows_mode) {
            (Function::Count, _) => {}
            (Function::Conversion, _) => {
                let text = renumber(&plan.condition.sql, &mut condition_binds, &mut select_sql);
                let test = if text.is_empty() {
                    "1 = 1".to_owned()
                } else {
                    text
                };
                if rows_mode {
                    select.push(format!(
                        "CAST(CASE WHEN {test} THEN 1 ELSE 0 END AS BIGINT)"
                    ));
                } else {
                    select.push(format!(
                        "CAST(COALESCE(SUM(CASE WHEN {test} THEN 1 ELSE 0 END), 0) AS BIGINT)"
                    ));
                }
            }
            (_, true) => select.push(plan.value.unwrap_or("0").to_owned()),
            (_, false) => {
                let value = plan.value.unwrap_or("0");
                select.push(format!("CAST(COALESCE(SUM({value}), 0) AS BIGINT)"));
                select.push(format!("COUNT({value})"));
                select.push(format!("MIN({value})"));
                select.push(format!("MAX({value})"));
            }
        }
        measures.push(Measure {
            function: plan.function,
            column,
            custom: plan.condition.custom.clone(),
        });
    }
    let count_column = select.len();
    let mut custom_column = None;
    if rows_mode {
        if let Some(json) = table.custom_fields {
            custom_column = Some(select.len());
            select.push(json.to_owned());
        }
    } else {
        select.push("COUNT(*)".to_owned());
    }
    if select.is_empty() {
        select.push("1".to_owned());
    }

    // WHERE: fixed condition, visibility, as_of, then the filters.
    let mut where_sql = Sql::default();
    let mut conditions: Vec<String> = Vec::new();
    if let Some(always) = table.always {
        conditions.push(always.to_owned());
    }
    match &context.responsibles {
        Responsibles::All => {}
        Responsibles::Only(list) if list.is_empty() => conditions.push("1 = 0".to_owned()),
        Responsibles::Only(list) => {
            let values = list.iter().map(|u| Bind::Text(u.clone())).collect();
            conditions.push(format!(
                "{} IN ({})",
                table.responsible,
                where_sql.list(values)
            ));
        }
    }
    let mut from = table.from;
    match (context.as_of, table.history) {
        (Some(as_of), Some(history)) => {
            from = history;
            let at = where_sql.push(Bind::Int(as_of));
            conditions.push(format!("valid_from <= {at} AND valid_to > {at}"));
        }
        (Some(as_of), None) => conditions.push(format!(
            "{} <= {}",
            table.recorded,
            where_sql.push(Bind::Int(as_of))
        )),
        (None, _) => {}
    }
    let mut filter_binds = sql.binds.into_iter();
    let filters_text = renumber(&filter_conditions.sql, &mut filter_binds, &mut where_sql);
    if !filters_text.is_empty() {
        conditions.push(filters_text);
    }

    // Number the where binds after the select binds.
    let offset = select_sql.binds.len();
    let where_text = shift(&conditions.join(" AND "), offset);
    let mut binds = select_sql.binds;
    binds.extend(where_sql.binds);

    let mut text = format!("SELECT {} FROM {}", select.join(", "), from);
    if !where_text.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&where_text);
    }
    if rows_mode {
        text.push_str(&format!(" LIMIT {}", MAX_SCANNED_ROWS + 1));
    } else if !keys.is_empty() {
        text.push_str(" GROUP BY ");
        text.push_str(&keys.join(", "));
    }

    // Sort keys name result columns.
    let mut sort = Vec::new();
    for (i, s) in spec.sort.iter().enumerate() {
        let index =
            columns
                .iter()
                .position(|c| c.name == s.by)
                .ok_or_else(|| SpecError::UnknownName {
                    path: format!("sort[{i}].by"),
                    what: "result column",
                    name: s.by.clone(),
                })?;
        sort.push((index, s.desc));
    }
    Ok(CompiledReport {
        sql: text,
        binds,
        rows_mode,
        columns,
        source,
        dimensions,
        measures,
        custom_filters: filter_conditions.custom,
        custom_column,
        count_column,
        sort,
        limit: limit as usize,
        user_departments: context.user_departments.clone(),
    })
}

fn column(name: String, kind: &str) -> ResultColumn {
    ResultColumn {
        name,
        kind: kind.to_owned(),
    }
}

fn bucket_kind(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Day => "date",
        Bucket::Week => "week",
        Bucket::Month => "month",
    }
}

fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::User => "user",
        FieldType::Department => "department",
        FieldType::Integer => "integer",
        FieldType::Money => "money",
        FieldType::Time => "time",
        FieldType::Date => "date",
        FieldType::Custom => "custom",
    }
}

fn bucket_error(i: usize, field: &str) -> SpecError {
    SpecError::Invalid {
        path: format!("group_by[{i}].bucket"),
        message: format!("field `{field}` is not a time or a date: no bucket"),
    }
}

/// Conditions written with placeholders `$1..` of their own bind list,
/// re-pushed onto `target` (placeholders renumbered) and joined with AND.
fn renumber(texts: &[String], binds: &mut impl Iterator<Item = Bind>, target: &mut Sql) -> String {
    let mut out = Vec::new();
    for text in texts {
        out.push(replace_placeholders(text, |_| {
            target.push(binds.next().unwrap_or(Bind::Int(0)))
        }));
    }
    out.join(" AND ")
}

/// Adds `offset` to every placeholder number.
fn shift(text: &str, offset: usize) -> String {
    replace_placeholders(text, |n| format!("${}", n + offset))
}

/// Rewrites each `$N` of `text` (in order) with `with(N)`. Only the
/// compiler's own text reaches here: it holds no quoted strings.
fn replace_placeholders(text: &str, mut with: impl FnMut(usize) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' {
            let mut digits = String::new();
            while let Some((_, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    digits.push(*d);
                    chars.next();
                } else {
                    break;
                }
            }
            match digits.parse::<usize>() {
                Ok(n) => out.push_str(&with(n)),
                Err(_) => out.push('$'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Compiles one filter into `out` (SQL, binds onto `sql`) or a custom
/// condition.
fn condition(
    source: Source,
    table: &TableInfo,
    filter: &FilterSpec,
    path: &str,
    context: &RunContext,
    sql: &mut Sql,
    out: &mut Conditions,
) -> Result<(), SpecError> {
    let field_path = format!("{path}.field");
    let value_path = format!("{path}.value");
    let op = Op::parse(&filter.op).ok_or_else(|| SpecError::UnknownName {
        path: format!("{path}.op"),
        what: "operator (eq, ne, in, gt, gte, lt, lte, between, is_null)",
        name: filter.op.clone(),
    })?;
    let bad_op = || SpecError::BadOperator {
        path: format!("{path}.op"),
        op: filter.op.clone(),
        field: filter.field.clone(),
    };
    let info = match field(source, &filter.field, &field_path, table)? {
        Resolved::Custom(name) => {
            let values = custom_values(op, &filter.value, &value_path)?;
            out.custom.push(CustomCondition { name, op, values });
            return Ok(());
        }
        Resolved::Field(info) => info,
    };
    let column = info.column;
    if op == Op::IsNull {
        let is_null = match &filter.value {
            Value::Null => true,
            Value::Bool(b) => *b,
            _ => return Err(wrong(&value_path, "`is_null` takes true or false")),
        };
        let text = match (info.kind, is_null) {
            (FieldType::User, true) => format!("{column} = ''"),
            (FieldType::User, false) => format!("{column} <> ''"),
            (FieldType::Department, _) => {
                let mut all: Vec<String> = context.user_departments.keys().cloned().collect();
                all.sort();
                in_list(column, all, !is_null, sql)
            }
            (_, true) => format!("{column} IS NULL"),
            (_, false) => format!("{column} IS NOT NULL"),
        };
        out.sql.push(text);
        return Ok(());
    }
    if info.kind == FieldType::Department {
        let departments: Vec<String> = match op {
            Op::Eq | Op::Ne => vec![text_value(&filter.value, &value_path)?],
            Op::In => list(&filter.value, &value_path)?
                .iter()
                .enumerate()
                .map(|(k, v)| text_value(v, &format!("{value_path}[{k}]")))
                .collect::<Result<_, _>>()?,
            _ => return Err(bad_op()),
        };
        let mut users: Vec<String> = departments
            .iter()
            .flat_map(|d| context.members(d))
            .collect();
        users.sort();
        users.dedup();
        out.sql.push(in_list(column, users, op != Op::Ne, sql));
        return Ok(());
    }
    if !info.kind.ordered() && (op.comparison().is_some() || op == Op::Between) {
        return Err(bad_op());
    }
    let value = |v: &Value, p: &str| typed_value(info.kind, v, p);
    let text = match op {
        Op::Eq => format!(
            "{column} = {}",
            sql.push(value(&filter.value, &value_path)?)
        ),
        Op::Ne => {
            // `ne` keeps rows where the field is empty, as people expect.
            let bind = sql.push(value(&filter.value, &value_path)?);
            if info.kind == FieldType::User {
                format!("{column} <> {bind}")
            } else {
                format!("({column} <> {bind} OR {column} IS NULL)")
            }
        }
        Op::In => {
            let values = list(&filter.value, &value_path)?
                .iter()
                .enumerate()
                .map(|(k, v)| value(v, &format!("{value_path}[{k}]")))
                .collect::<Result<Vec<_>, _>>()?;
            format!("{column} IN ({})", sql.list(values))
        }
        Op::Between => {
            let items = list(&filter.value, &value_path)?;
            if items.len() != 2 {
                return Err(wrong(&value_path, "`between` takes [low, high]"));
            }
            let low = value(&items[0], &format!("{value_path}[0]"))?;
            let high = value(&items[1], &format!("{value_path}[1]"))?;
            let low = sql.push(low);
            let high = sql.push(high);
            format!("{column} BETWEEN {low} AND {high}")
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => format!(
            "{column} {} {}",
            op.comparison().unwrap_or("="),
            sql.push(value(&filter.value, &value_path)?)
        ),
        Op::IsNull => unreachable_is_null(),
    };
    out.sql.push(text);
    Ok(())
}

/// `is_null` returned earlier; kept total without panicking.
fn unreachable_is_null() -> String {
    "1 = 1".to_owned()
}

/// `column IN (...)` or `NOT IN`, total for an empty list.
fn in_list(column: &str, values: Vec<String>, inside: bool, sql: &mut Sql) -> String {
    if values.is_empty() {
        return if inside { "1 = 0" } else { "1 = 1" }.to_owned();
    }
    let list = sql.list(values.into_iter().map(Bind::Text).collect());
    if inside {
        format!("{column} IN ({list})")
    } else {
        format!("{column} NOT IN ({list})")
    }
}

fn wrong(path: &str, message: &str) -> SpecError {
    SpecError::WrongType {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn list<'v>(value: &'v Value, path: &str) -> Result<&'v Vec<Value>, SpecError> {
    match value {
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_IN_VALUES => Ok(items),
        Value::Array(items) if items.is_empty() => Err(wrong(path, "the list is empty")),
        Value::Array(_) => Err(SpecError::TooMany {
            path: path.to_owned(),
            max: MAX_IN_VALUES,
        }),
        _ => Err(wrong(path, "expected a list")),
    }
}

fn text_value(value: &Value, path: &str) -> Result<String, SpecError> {
    match value {
        Value::String(text) if text.chars().count() <= 1000 => Ok(text.clone()),
        Value::String(_) => Err(wrong(path, "the text is longer than 1000 characters")),
        _ => Err(wrong(path, "expected a string")),
    }
}

fn typed_value(kind: FieldType, value: &Value, path: &str) -> Result<Bind, SpecError> {
    match kind {
        FieldType::Text | FieldType::User | FieldType::Department | FieldType::Custom => {
            text_value(value, path).map(Bind::Text)
        }
        FieldType::Integer | FieldType::Money => value
            .as_i64()
            .map(Bind::Int)
            .ok_or_else(|| wrong(path, "expected an integer (money in minor units)")),
        FieldType::Time => value
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| Bind::Int(t.timestamp_micros()))
            .ok_or_else(|| wrong(path, "expected an RFC 3339 time")),
        FieldType::Date => value
            .as_str()
            .and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
            .map(|d| Bind::Int(day_number(d)))
            .ok_or_else(|| wrong(path, "expected a date YYYY-MM-DD")),
    }
}

/// Values of a condition on a custom field: scalars (strings, numbers,
/// booleans).
fn custom_values(op: Op, value: &Value, path: &str) -> Result<Vec<Value>, SpecError> {
    let scalar = |v: &Value, p: &str| match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(v.clone()),
        _ => Err(wrong(p, "expected a string, number or boolean")),
    };
    let number = |v: &Value, p: &str| match v {
        Value::Number(_) => Ok(v.clone()),
        _ => Err(wrong(p, "expected a number")),
    };
    Ok(match op {
        Op::IsNull => match value {
            Value::Null => vec![Value::Bool(true)],
            Value::Bool(b) => vec![Value::Bool(*b)],
            _ => return Err(wrong(path, "`is_null` takes true or false")),
        },
        Op::Eq | Op::Ne => vec![scalar(value, path)?],
        Op::In => list(value, path)?
            .iter()
            .enumerate()
            .map(|(k, v)| scalar(v, &format!("{path}[{k}]")))
            .collect::<Result<_, _>>()?,
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => vec![number(value, path)?],
        Op::Between => {
            let items = list(value, path)?;
            if items.len() != 2 {
                return Err(wrong(path, "`between` takes [low, high]"));
            }
            vec![
                number(&items[0], &format!("{path}[0]"))?,
                number(&items[1], &format!("{path}[1]"))?,
            ]
        }
    })
}

impl CustomCondition {
    fn holds(&self, fields: &serde_json::Map<String, Value>) -> bool {
        let value = fields.get(&self.name).filter(|v| !v.is_null());
        let number = |v: &Value| v.as_f64();
        match self.op {
            Op::IsNull => value.is_none() == (self.values.first() == Some(&Value::Bool(true))),
            Op::Eq => value.is_some_and(|v| same(v, &self.values[0])),
            Op::Ne => !value.is_some_and(|v| same(v, &self.values[0])),
            Op::In => value.is_some_and(|v| self.values.iter().any(|w| same(v, w))),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte | Op::Between => {
                let Some(x) = value.and_then(number) else {
                    return false;
                };
                let a = number(&self.values[0]).unwrap_or(f64::NAN);
                match self.op {
                    Op::Gt => x > a,
                    Op::Gte => x >= a,
                    Op::Lt => x < a,
                    Op::Lte => x <= a,
                    _ => {
                        let b = self.values.get(1).and_then(number).unwrap_or(f64::NAN);
                        x >= a && x <= b
                    }
                }
            }
        }
    }
}

/// Equal as JSON scalars, numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

// ------------------------------------------------------------------ run

/// A report's answer: columns, then rows of values in column order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportTable {
    pub columns: Vec<ResultColumn>,
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<Value>>,
    /// More groups matched than `limit`.
    pub truncated: bool,
}

/// Partial aggregates of one measure over some rows.
#[derive(Debug, Clone, Default)]
struct Partial {
    rows: i64,
    sum: i64,
    values: i64,
    min: Option<i64>,
    max: Option<i64>,
    matches: i64,
    all: Vec<i64>,
}

impl Partial {
    fn merge(&mut self, other: &Partial) {
        self.rows += other.rows;
        self.sum = self.sum.saturating_add(other.sum);
        self.values += other.values;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.matches += other.matches;
        self.all.extend_from_slice(&other.all);
    }

    fn result(&mut self, function: Function) -> Value {
        match function {
            Function::Count => Value::from(self.rows),
            Function::Sum => Value::from(self.sum),
            Function::Avg => {
                if self.values == 0 {
                    Value::Null
                } else {
                    float(self.sum as f64 / self.values as f64)
                }
            }
            Function::Median => {
                if self.all.is_empty() {
                    Value::Null
                } else {
                    self.all.sort_unstable();
                    Value::from(self.all[(self.all.len() - 1) / 2])
                }
            }
            Function::Min => self.min.map_or(Value::Null, Value::from),
            Function::Max => self.max.map_or(Value::Null, Value::from),
            Function::Conversion => {
                if self.rows == 0 {
                    Value::Null
                } else {
                    float(self.matches as f64 / self.rows as f64)
                }
            }
        }
    }
}

fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Compiles and runs `spec`.
pub async fn run(
    db: &ReadDb,
    spec: &ReportSpec,
    context: &RunContext,
) -> Result<ReportTable, BuilderError> {
    let compiled = compile(spec, context)?;
    run_compiled(db, &compiled).await
}

/// Runs a compiled report.
pub async fn run_compiled(
    db: &ReadDb,
    report: &CompiledReport,
) -> Result<ReportTable, BuilderError> {
    let mut query = sqlx::query(&report.sql);
    for bind in &report.binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.clone()),
            Bind::Int(n) => query.bind(*n),
        };
    }
    let rows = query.fetch_all(db.pool()).await?;
    if report.rows_mode && rows.len() > MAX_SCANNED_ROWS {
        return Err(SpecError::TooManyRows.into());
    }
    let mut groups: HashMap<String, (Vec<Value>, Vec<Partial>)> = HashMap::new();
    for row in &rows {
        let fields = match report.custom_column {
            Some(index) => {
                let text: String = row.try_get(index)?;
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                }
            }
            None => serde_json::Map::new(),
        };
        if !report.custom_filters.iter().all(|c| c.holds(&fields)) {
            continue;
        }
        let key = report.key_of(row, &fields)?;
        let partials = report.partials_of(row, &fields)?;
        let id = serde_json::to_string(&key).unwrap_or_default();
        match groups.get_mut(&id) {
            Some((_, existing)) => {
                for (a, b) in existing.iter_mut().zip(&partials) {
                    a.merge(b);
                }
            }
            None => {
                groups.insert(id, (key, partials));
            }
        }
    }
    // With no dimensions there is always one row, even over nothing.
    if report.dimensions.is_empty() && groups.is_empty() {
        groups.insert(
            String::new(),
            (Vec::new(), vec![Partial::default(); report.measures.len()]),
        );
    }
    let mut table: Vec<Vec<Value>> = groups
        .into_values()
        .map(|(mut key, mut partials)| {
            for (measure, partial) in report.measures.iter().zip(partials.iter_mut()) {
                key.push(partial.result(measure.function));
            }
            key
        })
        .collect();
    let dims = report.dimensions.len();
    table.sort_by(|a, b| {
        for (index, desc) in &report.sort {
            let order = compare(&a[*index], &b[*index]);
            let order = if *desc { order.reverse() } else { order };
            if order != Ordering::Equal {
                return order;
            }
        }
        for index in 0..dims {
            let order = compare(&a[index], &b[index]);
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    });
    let truncated = table.len() > report.limit;
    table.truncate(report.limit);
    Ok(ReportTable {
        columns: report.columns.clone(),
        rows: table,
        truncated,
    })
}

/// Order of result values: nulls first, then numbers, then text.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            _ => 4,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .unwrap_or(0.0)
                .partial_cmp(&y.as_f64().unwrap_or(0.0))
                .unwrap_or(Ordering::Equal),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl CompiledReport {
    fn key_of(
        &self,
        row: &AnyRow,
        fields: &serde_json::Map<String, Value>,
    ) -> Result<Vec<Value>, sqlx::Error> {
        let mut key = Vec::with_capacity(self.dimensions.len());
        let mut column = 0;
        for (dimension, kind) in &self.dimensions {
            let value = match dimension {
                Dimension::Custom(name) => {
                    key.push(match fields.get(name) {
                        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                            v.clone()
                        }
                        Some(other) if !other.is_null() => Value::String(other.to_string()),
                        _ => Value::Null,
                    });
                    continue;
                }
                Dimension::Department => {
                    let user: String = row.try_get(column)?;
                    self.user_departments
                        .get(&user)
                        .map_or(Value::Null, |d| Value::String(d.clone()))
                }
                Dimension::Bucket(bucket) => {
                    let day: Option<i64> = row.try_get(column)?;
                    day.map_or(Value::Null, |day| Value::String(bucket_label(*bucket, day)))
                }
                Dimension::Column => match kind {
                    FieldType::Integer | FieldType::Money => {
                        let n: Option<i64> = row.try_get(column)?;
                        n.map_or(Value::Null, Value::from)
                    }
                    FieldType::User => {
                        let user: String = row.try_get(column)?;
                        if user.is_empty() {
                            Value::Null
                        } else {
                            Value::String(user)
                        }
                    }
                    _ => {
                        let text: Option<String> = row.try_get(column)?;
                        text.map_or(Value::Null, Value::String)
                    }
                },
            };
            column += 1;
            key.push(value);
        }
        Ok(key)
    }

    fn partials_of(
        &self,
        row: &AnyRow,
        fields: &serde_json::Map<String, Value>,
    ) -> Result<Vec<Partial>, sqlx::Error> {
        let rows = if self.rows_mode {
            1
        } else {
            row.try_get::<i64, _>(self.count_column)?
        };
        let mut partials = Vec::with_capacity(self.measures.len());
        for measure in &self.measures {
            let mut partial = Partial {
                rows,
                ..Partial::default()
            };
            match measure.function {
                Function::Count => {}
                Function::Conversion => {
                    let matches: i64 = row.try_get(measure.column)?;
                    partial.matches = if self.rows_mode {
                        i64::from(matches == 1 && measure.custom.iter().all(|c| c.holds(fields)))
                    } else {
                        matches
                    };
                }
                _ if self.rows_mode => {
                    let value: Option<i64> = row.try_get(measure.column)?;
                    if let Some(value) = value {
                        partial.sum = value;
                        partial.values = 1;
                        partial.min = Some(value);
                        partial.max = Some(value);
                        if measure.function == Function::Median {
                            partial.all.push(value);
                        }
                    }
                }
                _ => {
                    partial.sum = row.try_get(measure.column)?;
                    partial.values = row.try_get(measure.column + 1)?;
                    partial.min = row.try_get(measure.column + 2)?;
                    partial.max = row.try_get(measure.column + 3)?;
                }
            }
            partials.push(partial);
        }
        Ok(partials)
    }
}

/// The label of the bucket a UTC day falls in: `2026-03-05` (day),
/// the Monday `2026-03-02` (week), `2026-03` (month).
pub fn bucket_label_for(bucket: &str, day: i64) -> Option<String> {
    let bucket = match bucket {
        "day" => Bucket::Day,
        "week" => Bucket::Week,
        "month" => Bucket::Month,
        _ => return None,
    };
    Some(bucket_label(bucket, day))
}

fn bucket_label(bucket: Bucket, day: i64) -> String {
    match bucket {
        Bucket::Day => date_of_day(day).format("%Y-%m-%d").to_string(),
        // 1970-01-01 was a Thursday: Monday-based weeks start 3 days later.
        Bucket::Week => date_of_day(day - (day + 3).rem_euclid(7))
            .format("%Y-%m-%d")
            .to_string(),
        Bucket::Month => date_of_day(day).format("%Y-%m").to_string(),
    }
}

/// The UTC day of a time in microseconds (re-exported for tests).
pub fn day_of_micros(micros: i64) -> i64 {
    day_of(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> ReportSpec {
        serde_json::from_value(value).expect("a well-formed spec")
    }

    fn compiled(value: Value) -> CompiledReport {
        compile(&spec(value), &RunContext::all()).expect("compiles")
    }

    /// One failing spec: the error's path and code.
    fn check_error(value: Value, path: &str, code: &str) {
        let error = compile(&spec(value.clone()), &RunContext::all())
            .expect_err(&format!("{value} should not compile"));
        assert_eq!(
            (error.path(), error.code()),
            (path, code),
            "{value}: {error}"
        );
    }

    #[test]
    fn every_bad_part_of_a_spec_is_named() {
        let cases = [
            (json!({"source": "leads"}), "source", "unknown_source"),
            (json!({"source": "deals", "limit": 0}), "limit", "bad_limit"),
            (
                json!({"source": "deals", "limit": 10001}),
                "limit",
                "bad_limit",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "stage", "op": "eq", "value": "a"},
                    {"field": "x", "op": "eq", "value": 1}]}),
                "filters[1].field",
                "unknown_field",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "stage", "op": "like", "value": "a"}]}),
                "filters[0].op",
                "unknown_name",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "stage", "op": "gt", "value": "a"}]}),
                "filters[0].op",
                "bad_operator",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "amount", "op": "gt", "value": "big"}]}),
                "filters[0].value",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "amount", "op": "in", "value": [1, "2"]}]}),
                "filters[0].value[1]",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "amount", "op": "between", "value": [1]}]}),
                "filters[0].value",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "created_at", "op": "gte", "value": "yesterday"}]}),
                "filters[0].value",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "stage", "op": "in", "value": []}]}),
                "filters[0].value",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "stage", "op": "is_null", "value": 3}]}),
                "filters[0].value",
                "wrong_type",
            ),
            (
                json!({"source": "deals", "filters": [{"field": "department", "op": "gt", "value": "d"}]}),
                "filters[0].op",
                "bad_operator",
            ),
            (
                json!({"source": "deals", "group_by": [{"field": "stage"}, {"field": "seconds"}]}),
                "group_by[1].field",
                "unknown_field",
            ),
            (
                json!({"source": "deals", "group_by": [{"field": "created_at"}]}),
                "group_by[0].bucket",
                "invalid",
            ),
            (
                json!({"source": "deals", "group_by": [{"field": "created_at", "bucket": "year"}]}),
                "group_by[0].bucket",
                "unknown_name",
            ),
            (
                json!({"source": "deals", "group_by": [{"field": "stage", "bucket": "month"}]}),
                "group_by[0].bucket",
                "invalid",
            ),
            (
                json!({"source": "deals", "group_by": [{"field": "amount"}]}),
                "group_by[0].field",
                "invalid",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "sum", "field": "stage"}]}),
                "measures[0].field",
                "not_numeric",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "sum"}]}),
                "measures[0].field",
                "invalid",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "count", "field": "amount"}]}),
                "measures[0].field",
                "invalid",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "mode", "field": "amount"}]}),
                "measures[0].fn",
                "unknown_name",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "conversion"}]}),
                "measures[0].where",
                "invalid",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "conversion",
                    "where": [{"field": "nope", "op": "eq", "value": "x"}]}]}),
                "measures[0].where[0].field",
                "unknown_field",
            ),
            (
                json!({"source": "deals", "measures": [{"fn": "count"}, {"fn": "count"}]}),
                "measures[1].as",
                "invalid",
            ),
            (
                json!({"source": "deals", "sort": [{"by": "amount"}]}),
                "sort[0].by",
                "unknown_name",
            ),
            (
                json!({"source": "stage_changes", "group_by": [{"field": "fields.industry"}]}),
                "group_by[0].field",
                "unknown_field",
            ),
            (
                json!({"source": "deals", "group_by": [{"field": "fields.Bad-Name"}]}),
                "group_by[0].field",
                "unknown_field",
            ),
        ];
        for (value, path, code) in cases {
            check_error(value, path, code);
        }
    }

    #[test]
    fn an_injection_attempt_in_a_field_name_is_an_unknown_field() {
        for name in [
            "stage; DROP TABLE rm_deals; --",
            "stage OR 1=1",
            "fields.x') OR ('1'='1",
            "(SELECT 1)",
        ] {
            check_error(
                json!({"source": "deals", "filters": [{"field": name, "op": "eq", "value": "a"}]}),
                "filters[0].field",
                "unknown_field",
            );
            check_error(
                json!({"source": "deals", "group_by": [{"field": name}]}),
                "group_by[0].field",
                "unknown_field",
            );
        }
    }

    #[test]
    fn an_injection_attempt_in_a_value_is_only_ever_bound() {
        let evil = "x'; DROP TABLE rm_deals; --";
        let report = compiled(json!({"source": "deals",
            "filters": [{"field": "stage", "op": "eq", "value": evil}],
            "measures": [{"fn": "count", "as": evil}]}));
        assert!(!report.sql.contains("DROP"), "{}", report.sql);
        assert!(report.binds.contains(&Bind::Text(evil.into())));
        assert_eq!(report.columns[0].name, evil);
    }

    #[test]
    fn placeholders_match_the_binds_in_order() {
        let context = RunContext {
            responsibles: Responsibles::Only(vec!["u1".into(), "u2".into()]),
            as_of: Some(77),
            ..RunContext::all()
        };
        let report = compile(
            &spec(json!({"source": "deals",
                "filters": [{"field": "amount", "op": "between", "value": [10, 20]},
                            {"field": "stage", "op": "in", "value": ["a", "b"]}],
                "group_by": [{"field": "stage"}],
                "measures": [{"fn": "conversion", "where": [{"field": "stage", "op": "eq", "value": "won"}]},
                             {"fn": "sum", "field": "amount"}]})),
            &context,
        )
        .unwrap();
        assert_eq!(
            report.binds,
            vec![
                Bind::Text("won".into()),
                Bind::Text("u1".into()),
                Bind::Text("u2".into()),
                Bind::Int(77),
                Bind::Int(10),
                Bind::Int(20),
                Bind::Text("a".into()),
                Bind::Text("b".into()),
            ]
        );
        for (n, fragment) in [
            (1, "stage = $1 THEN"),
            (2, "responsible IN ($2, $3)"),
            (4, "FROM rm_deals_history"),
            (4, "valid_from <= $4 AND valid_to > $4"),
            (5, "amount BETWEEN $5 AND $6"),
            (7, "stage IN ($7, $8)"),
        ] {
            assert!(report.sql.contains(fragment), "${n}: {}", report.sql);
        }
        assert!(!report.rows_mode);
        assert!(report.sql.ends_with("GROUP BY stage"), "{}", report.sql);
    }

    #[test]
    fn medians_and_custom_fields_read_rows() {
        assert!(
            compiled(json!({"source": "deals", "measures": [{"fn": "median", "field": "amount"}]}))
                .rows_mode
        );
        assert!(
            compiled(json!({"source": "deals", "group_by": [{"field": "fields.industry"}]}))
                .rows_mode
        );
        assert!(compiled(json!({"source": "deals", "filters": [{"field": "fields.industry", "op": "eq", "value": "it"}]})).rows_mode);
        assert!(
            !compiled(
                json!({"source": "deals", "group_by": [{"field": "created_at", "bucket": "month"}]})
            )
            .rows_mode
        );
    }

    #[test]
    fn nobody_sees_nothing_when_the_reach_is_empty() {
        let context = RunContext {
            responsibles: Responsibles::Only(Vec::new()),
            ..RunContext::all()
        };
        let report = compile(&spec(json!({"source": "stage_changes"})), &context).unwrap();
        assert!(report.sql.contains("1 = 0"), "{}", report.sql);
        assert!(report.sql.contains("exited = 1"), "{}", report.sql);
    }

    #[test]
    fn buckets_label_days_weeks_and_months() {
        let day = day_number(chrono::NaiveDate::from_ymd_opt(2026, 3, 5).unwrap());
        assert_eq!(bucket_label(Bucket::Day, day), "2026-03-05");
        assert_eq!(bucket_label(Bucket::Week, day), "2026-03-02");
        assert_eq!(bucket_label(Bucket::Month, day), "2026-03");
        assert_eq!(bucket_label(Bucket::Week, 0), "1969-12-29");
    }

    #[test]
    fn custom_conditions_compare_json_scalars() {
        let fields: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"size": 5, "industry": "it"})).unwrap();
        let holds = |op: Op, values: Vec<Value>, name: &str| {
            CustomCondition {
                name: name.into(),
                op,
                values,
            }
            .holds(&fields)
        };
        assert!(holds(Op::Eq, vec![json!(5.0)], "size"));
        assert!(holds(Op::Between, vec![json!(1), json!(5)], "size"));
        assert!(!holds(Op::Gt, vec![json!(5)], "size"));
        assert!(holds(Op::In, vec![json!("x"), json!("it")], "industry"));
        assert!(holds(Op::Ne, vec![json!("it")], "missing"));
        assert!(holds(Op::IsNull, vec![json!(true)], "missing"));
        assert!(!holds(Op::IsNull, vec![json!(true)], "size"));
    }

    #[test]
    fn results_sort_nulls_first_then_numbers_then_text() {
        let mut values = vec![json!("b"), json!(2), Value::Null, json!(1.5), json!("a")];
        values.sort_by(compare);
        assert_eq!(
            values,
            vec![Value::Null, json!(1.5), json!(2), json!("a"), json!("b")]
        );
    }
}
