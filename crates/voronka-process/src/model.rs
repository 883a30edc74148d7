//! The compiled form of a process definition: every name from the YAML is
//! resolved once into a small integer id, so deciding never compares stage,
//! field or dictionary names as strings. Ids are only meaningful together with
//! the [`CompiledProcess`] (one version) that produced them; stored events use
//! names (see [`crate::stored`]).

use crate::version::ProcessIdentity;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use voronka_core::{Money, Role};

macro_rules! index_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u16);

        impl $name {
            pub fn index(self) -> usize {
                usize::from(self.0)
            }
        }
    };
}

index_id!(
    /// A stage of one compiled process version.
    StageId
);
index_id!(
    /// A deal field (built-in or custom) of one compiled process version.
    FieldId
);
index_id!(
    /// A dictionary (closed list of values) of one compiled process version.
    DictionaryId
);
index_id!(
    /// One value of one dictionary; unique across all dictionaries of a version.
    ValueId
);
index_id!(
    /// An automation rule, by its position in the definition.
    AutomationId
);

/// A text in both of Voronka's languages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Titles {
    pub ru: String,
    pub en: String,
}

impl Titles {
    pub fn new(ru: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            ru: ru.into(),
            en: en.into(),
        }
    }
}

/// A set of roles as a bit mask: checking "may this actor do it" is one AND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleSet(pub u16);

impl RoleSet {
    pub const EMPTY: RoleSet = RoleSet(0);

    pub fn all() -> Self {
        Role::ALL.into_iter().collect()
    }

    fn bit(role: Role) -> u16 {
        let position = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
        1 << position
    }

    pub fn with(self, role: Role) -> Self {
        RoleSet(self.0 | Self::bit(role))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & Self::bit(role) != 0
    }

    pub fn intersects(self, other: RoleSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn roles(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        iter.into_iter().fold(RoleSet::EMPTY, RoleSet::with)
    }
}

/// What kind of entity a reference field points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    Company,
    Contact,
    User,
    Deal,
}

impl ReferenceKind {
    pub const ALL: [ReferenceKind; 4] = [
        ReferenceKind::Company,
        ReferenceKind::Contact,
        ReferenceKind::User,
        ReferenceKind::Deal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Company => "company",
            ReferenceKind::Contact => "contact",
            ReferenceKind::User => "user",
            ReferenceKind::Deal => "deal",
        }
    }
}

/// The type of a deal field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Text,
    /// A whole number.
    Number,
    /// Integer minor units with a currency.
    Money,
    Date,
    Bool,
    /// One value of the given dictionary.
    Dictionary(DictionaryId),
    Reference(ReferenceKind),
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Money => "money",
            FieldType::Date => "date",
            FieldType::Bool => "bool",
            FieldType::Dictionary(_) => "dictionary",
            FieldType::Reference(_) => "reference",
        }
    }
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    Text(String),
    Number(i64),
    Money(Money),
    Date(NaiveDate),
    Bool(bool),
    Dictionary(ValueId),
    Reference(uuid::Uuid),
}

impl FieldValue {
    /// Whether this value fits a field of type `field_type`.
    pub fn fits(&self, field_type: FieldType, process: &CompiledProcess) -> bool {
        match (self, field_type) {
            (FieldValue::Text(_), FieldType::Text)
            | (FieldValue::Number(_), FieldType::Number)
            | (FieldValue::Money(_), FieldType::Money)
            | (FieldValue::Date(_), FieldType::Date)
            | (FieldValue::Bool(_), FieldType::Bool)
            | (FieldValue::Reference(_), FieldType::Reference(_)) => true,
            (FieldValue::Dictionary(value), FieldType::Dictionary(dictionary)) => process
                .values
                .get(value.index())
                .is_some_and(|v| v.dictionary == dictionary),
            _ => false,
        }
    }
}

/// A deal field, built in or declared by the process.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDefinition {
    pub id: FieldId,
    pub name: String,
    pub title: Titles,
    pub field_type: FieldType,
    pub builtin: bool,
}

/// The fields every deal has, whatever its process.
pub const BUILTIN_FIELDS: [(&str, FieldType, &str, &str); 7] = [
    ("title", FieldType::Text, "Название", "Title"),
    (
        "company",
        FieldType::Reference(ReferenceKind::Company),
        "Компания",
        "Company",
    ),
    (
        "contact",
        FieldType::Reference(ReferenceKind::Contact),
        "Контакт",
        "Contact",
    ),
    ("amount", FieldType::Money, "Сумма", "Amount"),
    (
        "expected_close_date",
        FieldType::Date,
        "Ожидаемая дата закрытия",
        "Expected close date",
    ),
    (
        "responsible",
        FieldType::Reference(ReferenceKind::User),
        "Ответственный",
        "Responsible",
    ),
    ("source", FieldType::Text, "Источник", "Source"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Dictionary {
    pub id: DictionaryId,
    pub name: String,
    pub values: Vec<ValueId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DictionaryValue {
    pub id: ValueId,
    pub dictionary: DictionaryId,
    pub name: String,
    pub title: Option<Titles>,
}

/// Kinds of activity a deal's facts can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Meeting,
    Email,
    Task,
    Message,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Call,
        ActivityKind::Meeting,
        ActivityKind::Email,
        ActivityKind::Task,
        ActivityKind::Message,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Email => "email",
            ActivityKind::Task => "task",
            ActivityKind::Message => "message",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Planned,
    Done,
    Cancelled,
}

impl ActivityStatus {
    pub const ALL: [ActivityStatus; 3] = [
        ActivityStatus::Planned,
        ActivityStatus::Done,
        ActivityStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityStatus::Planned => "planned",
            ActivityStatus::Done => "done",
            ActivityStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Proposal,
    Contract,
    Invoice,
    Act,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::Proposal,
        DocumentKind::Contract,
        DocumentKind::Invoice,
        DocumentKind::Act,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Proposal => "proposal",
            DocumentKind::Contract => "contract",
            DocumentKind::Invoice => "invoice",
            DocumentKind::Act => "act",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A document's status. All but `cancelled` form a progression: a
/// requirement for status X is met by X or any later status (a paid invoice
/// was also sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Draft,
    Sent,
    Accepted,
    Signed,
    Paid,
    Cancelled,
}

impl DocumentStatus {
    pub const ALL: [DocumentStatus; 6] = [
        DocumentStatus::Draft,
        DocumentStatus::Sent,
        DocumentStatus::Accepted,
        DocumentStatus::Signed,
        DocumentStatus::Paid,
        DocumentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Draft => "draft",
            DocumentStatus::Sent => "sent",
            DocumentStatus::Accepted => "accepted",
            DocumentStatus::Signed => "signed",
            DocumentStatus::Paid => "paid",
            DocumentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a document in this status counts for a requirement of `required`.
    pub fn satisfies(self, required: DocumentStatus) -> bool {
        match (self, required) {
            (DocumentStatus::Cancelled, required) => required == DocumentStatus::Cancelled,
            (_, DocumentStatus::Cancelled) => false,
            (actual, required) => actual as u8 >= required as u8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
    NotEqual,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Greater => ">",
            CompareOp::GreaterOrEqual => ">=",
            CompareOp::Less => "<",
            CompareOp::LessOrEqual => "<=",
            CompareOp::Equal => "=",
            CompareOp::NotEqual => "!=",
        }
    }

    pub fn holds<T: Ord>(self, left: T, right: T) -> bool {
        match self {
            CompareOp::Greater => left > right,
            CompareOp::GreaterOrEqual => left >= right,
            CompareOp::Less => left < right,
            CompareOp::LessOrEqual => left <= right,
            CompareOp::Equal => left == right,
            CompareOp::NotEqual => left != right,
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A whole number, or money in minor units.
    Integer(i64),
    Date(NaiveDate),
    Bool(bool),
    /// Today's date at decision time (`in_future`, `in_past`).
    Today,
}

/// A condition that switches a requirement on (`when`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// The dictionary field holds one of these values.
    ValueIn {
        field: FieldId,
        values: Vec<ValueId>,
    },
    /// The bool field holds this value.
    BoolIs { field: FieldId, value: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityRule {
    pub kind: ActivityKind,
    pub status: Option<ActivityStatus>,
    pub outcome: Option<ValueId>,
    pub min_count: u16,
    pub within: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentRule {
    pub kind: DocumentKind,
    pub status: Option<DocumentStatus>,
}

/// What one requirement checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Check {
    FieldPresent(FieldId),
    FieldIn {
        field: FieldId,
        values: Vec<ValueId>,
    },
    Compare {
        field: FieldId,
        op: CompareOp,
        operand: Operand,
    },
    Activity(ActivityRule),
    Document(DocumentRule),
    Role(RoleSet),
}

/// One requirement of a stage entry or a document creation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The requirement's position in its list, stable for one version; the
    /// "which requirement" in a rejection.
    pub index: u16,
    /// All of these must hold for the requirement to apply.
    pub when: Vec<Condition>,
    pub check: Check,
}

/// A permitted move out of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exit {
    pub to: StageId,
    /// Who may make the move; `None` means anyone.
    pub roles: Option<RoleSet>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub id: StageId,
    pub name: String,
    pub title: Titles,
    /// Win probability in percent, 0..=100.
    pub probability: u8,
    pub terminal: bool,
    /// The longest a deal should stay here.
    pub sla: Option<Duration>,
    /// What must hold to enter the stage.
    pub entry: Vec<Requirement>,
    pub exits: Vec<Exit>,
}

/// The rules for creating one kind of document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentPolicy {
    /// The deal must be in this stage or a later one (declaration order is the
    /// funnel order), and not in a terminal stage.
    pub allowed_from: Option<StageId>,
    pub requires: Vec<Requirement>,
    pub roles: Option<RoleSet>,
}

/// Who an automation's task or notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "role")]
pub enum Assignee {
    Responsible,
    ResponsibleHead,
    Role(Role),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trigger {
    EnterStage(StageId),
    LeaveStage(StageId),
    Activity {
        kind: ActivityKind,
        status: Option<ActivityStatus>,
        outcome: Option<ValueId>,
    },
    Document {
        kind: DocumentKind,
        status: Option<DocumentStatus>,
    },
    /// Nothing happened on an open deal for this long.
    Idle(Duration),
    /// This long before the date in the field.
    BeforeDate {
        field: FieldId,
        offset: Duration,
    },
    /// This long after the date in the field.
    AfterDate {
        field: FieldId,
        offset: Duration,
    },
    /// The deal stayed in a stage past its SLA; `None` means any stage.
    SlaBreached(Option<StageId>),
}

impl Trigger {
    /// Whether the trigger is driven by time (checked on `Tick`).
    pub fn is_timed(&self) -> bool {
        matches!(
            self,
            Trigger::Idle(_) | Trigger::BeforeDate { .. } | Trigger::AfterDate { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    CreateTask {
        kind: ActivityKind,
        title: Titles,
        due_in: Duration,
        assignee: Assignee,
    },
    Assign(Assignee),
    Notify {
        recipient: Assignee,
        message: Titles,
    },
    SetField {
        field: FieldId,
        value: FieldValue,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Automation {
    pub id: AutomationId,
    pub trigger: Trigger,
    pub actions: Vec<Action>,
}

/// A validated, compiled process definition: one immutable version.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledProcess {
    pub identity: ProcessIdentity,
    pub title: Titles,
    pub stages: Vec<Stage>,
    pub initial_stage: StageId,
    pub fields: Vec<FieldDefinition>,
    pub dictionaries: Vec<Dictionary>,
    pub values: Vec<DictionaryValue>,
    /// The outcome dictionary of each activity kind that has one.
    pub activity_outcomes: Vec<(ActivityKind, DictionaryId)>,
    /// Indexed by [`DocumentKind::index`].
    pub documents: [DocumentPolicy; 4],
    pub automations: Vec<Automation>,
    pub(crate) stage_by_name: HashMap<String, StageId>,
    pub(crate) field_by_name: HashMap<String, FieldId>,
    pub(crate) dictionary_by_name: HashMap<String, DictionaryId>,
}

impl CompiledProcess {
    pub fn stage(&self, id: StageId) -> &Stage {
        &self.stages[id.index()]
    }

    pub fn field(&self, id: FieldId) -> &FieldDefinition {
        &self.fields[id.index()]
    }

    pub fn value(&self, id: ValueId) -> &DictionaryValue {
        &self.values[id.index()]
    }

    pub fn stage_id(&self, name: &str) -> Option<StageId> {
        self.stage_by_name.get(name).copied()
    }

    pub fn field_id(&self, name: &str) -> Option<FieldId> {
        self.field_by_name.get(name).copied()
    }

    pub fn dictionary_id(&self, name: &str) -> Option<DictionaryId> {
        self.dictionary_by_name.get(name).copied()
    }

    /// The id of `value` in dictionary `dictionary`.
    pub fn value_id(&self, dictionary: DictionaryId, value: &str) -> Option<ValueId> {
        self.dictionaries
            .get(dictionary.index())?
            .values
            .iter()
            .copied()
            .find(|v| self.values[v.index()].name == value)
    }

    /// The outcome dictionary of an activity kind, if the process declares one.
    pub fn outcome_dictionary(&self, kind: ActivityKind) -> Option<DictionaryId> {
        self.activity_outcomes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, d)| *d)
    }

    pub fn document_policy(&self, kind: DocumentKind) -> &DocumentPolicy {
        &self.documents[kind.index()]
    }

    /// The stages a deal in `from` may move to.
    pub fn exits(&self, from: StageId) -> &[Exit] {
        &self.stage(from).exits
    }
}
