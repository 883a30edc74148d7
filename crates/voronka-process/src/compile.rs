//! From YAML text to a [`CompiledProcess`], collecting every problem at once.
//!
//! Checking happens in one walk over the positioned tree: names are declared
//! first (dictionaries, fields, stages), then everything that refers to them
//! is resolved into ids, so a typo anywhere yields one positioned error with a
//! "did you mean", and later checks still run. Only a file without errors
//! compiles; warnings (unreachable stages, unused dictionaries) do not block.

use crate::diagnostic::{did_you_mean, Diagnostic, DiagnosticSink, Location};
use crate::model::*;
use crate::version::{ContentHash, ProcessIdentity};
use crate::yaml_tree::{self, Node, NodeValue};
use chrono::{Duration, NaiveDate};
use std::collections::HashMap;
use voronka_core::{Currency, Money, Role};

/// Validates and compiles one definition. On success returns the compiled
/// process and its warnings; on failure every diagnostic (errors and
/// warnings). Never panics, whatever the input.
pub fn validate_source(
    file_name: &str,
    source: &str,
) -> Result<(CompiledProcess, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut sink = DiagnosticSink::new(file_name);
    let root = match yaml_tree::parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            sink.error(
                Location::START,
                "empty_file",
                "the file is empty; expected a process definition",
            );
            return Err(sink.items);
        }
        Err(error) => {
            sink.error(error.at, error.code, error.message);
            return Err(sink.items);
        }
    };
    let mut compiler = Compiler::new(&mut sink);
    let compiled = compiler.compile(&root, ContentHash::of(source));
    if sink.has_errors() {
        return Err(sink.items);
    }
    match compiled {
        Some(process) => Ok((process, sink.items)),
        None => {
            sink.error(
                Location::START,
                "invalid_definition",
                "the definition could not be compiled",
            );
            Err(sink.items)
        }
    }
}

/// A mapping node whose keys were checked against the allowed set.
struct Map<'n> {
    at: Location,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Map<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }
}

/// Where a stage name was declared, and its id.
struct Declared {
    id: u16,
    at: Location,
}

struct Compiler<'s> {
    sink: &'s mut DiagnosticSink,
    stages: Vec<Stage>,
    stage_names: HashMap<String, Declared>,
    fields: Vec<FieldDefinition>,
    field_names: HashMap<String, FieldId>,
    dictionaries: Vec<Dictionary>,
    dictionary_names: HashMap<String, (DictionaryId, Location)>,
    values: Vec<DictionaryValue>,
    used_dictionaries: Vec<bool>,
    activity_outcomes: Vec<(ActivityKind, DictionaryId)>,
}

const TOP_KEYS: &[&str] = &[
    "process",
    "version",
    "title",
    "description",
    "initial",
    "dictionaries",
    "fields",
    "activity_outcomes",
    "stages",
    "transitions",
    "permissions",
    "documents",
    "automations",
];
const STAGE_KEYS: &[&str] = &["id", "title", "probability", "terminal", "sla", "requires"];
const REQUIRES_KEYS: &[&str] = &[
    "fields",
    "values",
    "conditions",
    "activities",
    "documents",
    "roles",
    "when",
];
const TRIGGER_KEYS: &[&str] = &[
    "enter",
    "leave",
    "activity",
    "document",
    "idle",
    "before",
    "after",
    "sla_breached",
];
const ACTION_KEYS: &[&str] = &["create_task", "assign", "notify", "set_field"];
const FIELD_TYPES: &[&str] = &[
    "text",
    "number",
    "money",
    "date",
    "bool",
    "dictionary",
    "reference",
];
const OPS: &[&str] = &["gt", "ge", "lt", "le", "eq", "ne", "in_future", "in_past"];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Parses `15m`, `2h`, `3d`, `1w` (an optional leading `+`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.strip_prefix('+').unwrap_or(text);
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    if !(0..=100_000).contains(&number) {
        return None;
    }
    match unit {
        'm' => Some(Duration::minutes(number)),
        'h' => Some(Duration::hours(number)),
        'd' => Some(Duration::days(number)),
        'w' => Some(Duration::weeks(number)),
        _ => None,
    }
}

impl<'s> Compiler<'s> {
    fn new(sink: &'s mut DiagnosticSink) -> Self {
        Self {
            sink,
            stages: Vec::new(),
            stage_names: HashMap::new(),
            fields: Vec::new(),
            field_names: HashMap::new(),
            dictionaries: Vec::new(),
            dictionary_names: HashMap::new(),
            values: Vec::new(),
            used_dictionaries: Vec::new(),
            activity_outcomes: Vec::new(),
        }
    }

    // ---- generic readers -------------------------------------------------

    fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        self.sink.error(
            node.at,
            "wrong_type",
            format!("{what}: expected {expected}, found {}", node.kind_name()),
        );
    }

    fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<Map<'n>> {
        let NodeValue::Mapping(pairs) = &node.value else {
            self.type_error(node, what, "a mapping");
            return None;
        };
        let mut entries: Vec<(&'n str, &'n Node, &'n Node)> = Vec::new();
        for (key, value) in pairs {
            let Some(name) = key.as_scalar() else {
                self.type_error(key, what, "a plain key");
                continue;
            };
            if !allowed.is_empty() && !allowed.contains(&name) {
                let hint = did_you_mean(name, allowed.iter().copied());
                self.sink.error(
                    key.at,
                    "unknown_key",
                    format!("unknown key `{name}` in {what}{hint}"),
                );
                continue;
            }
            if entries.iter().any(|(k, _, _)| *k == name) {
                self.sink.error(
                    key.at,
                    "duplicate_key",
                    format!("key `{name}` appears twice in {what}"),
                );
                continue;
            }
            entries.push((name, key, value));
        }
        for key in required {
            if !entries.iter().any(|(k, _, _)| k == key) {
                self.sink.error(
                    node.at,
                    "missing_key",
                    format!("{what} needs the key `{key}`"),
                );
            }
        }
        Some(Map {
            at: node.at,
            entries,
        })
    }

    fn string<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n str> {
        match &node.value {
            NodeValue::Scalar { text, .. } if !node.is_null() => Some(text),
            _ => {
                self.type_error(node, what, "a string");
                None
            }
        }
    }

    fn identifier<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n str> {
        let text = self.string(node, what)?;
        if is_identifier(text) {
            Some(text)
        } else {
            self.sink.error(
                node.at,
                "bad_identifier",
                format!("{what} `{}` must start with a lower-case Latin letter and hold only a-z, 0-9, `_` and `-` (at most 64)", text.chars().take(64).collect::<String>()),
            );
            None
        }
    }

    fn integer(
        &mut self,
        node: &Node,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let parsed = match &node.value {
            NodeValue::Scalar {
                text,
                quoted: false,
            } => text.parse::<i64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                self.sink.error(
                    node.at,
                    "out_of_range",
                    format!(
                        "{what} is {n}; it must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            None => {
                self.type_error(node, what, "a whole number");
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            NodeValue::Scalar {
                text,
                quoted: false,
            } if text == "true" => Some(true),
            NodeValue::Scalar {
                text,
                quoted: false,
            } if text == "false" => Some(false),
            _ => {
                self.type_error(node, what, "true or false");
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
        match &node.value {
            NodeValue::Sequence(items) => items.iter().collect(),
            _ => {
                self.type_error(node, what, "a list");
                Vec::new()
            }
        }
    }

    /// A single item or a list of them.
    fn one_or_many<'n>(&mut self, node: &'n Node) -> Vec<&'n Node> {
        match &node.value {
            NodeValue::Sequence(items) => items.iter().collect(),
            _ => vec![node],
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.string(node, what)?;
        let parsed = parse_duration(text);
        if parsed.is_none() {
            self.sink.error(
                node.at,
                "bad_duration",
                format!(
                    "{what} `{text}` is not a duration; write a number and a unit: 15m, 2h, 3d, 1w"
                ),
            );
        }
        parsed
    }

    fn titles(&mut self, node: &Node, what: &str) -> Option<Titles> {
        let map = self.map(node, what, &["ru", "en"], &["ru", "en"])?;
        let ru = map
            .get("ru")
            .and_then(|n| self.string(n, "the Russian title"))
            .map(str::to_string);
        let en = map
            .get("en")
            .and_then(|n| self.string(n, "the English title"))
            .map(str::to_string);
        Some(Titles { ru: ru?, en: en? })
    }

    fn role(&mut self, node: &Node) -> Option<Role> {
        let name = self.string(node, "a role")?;
        match Role::parse(name) {
            Some(role) => Some(role),
            None => {
                let hint = did_you_mean(name, Role::ALL.iter().map(|r| r.as_str()));
                self.sink.error(
                    node.at,
                    "unknown_role",
                    format!("unknown role `{name}`{hint}"),
                );
                None
            }
        }
    }

    fn roles(&mut self, node: &Node) -> Option<RoleSet> {
        let mut set = RoleSet::EMPTY;
        let mut ok = true;
        for item in self.one_or_many(node) {
            match self.role(item) {
                Some(role) => set = set.with(role),
                None => ok = false,
            }
        }
        ok.then_some(set)
    }

    fn enum_value<T: Copy>(
        &mut self,
        node: &Node,
        what: &str,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        let text = self.string(node, what)?;
        if let Some(found) = all.iter().copied().find(|v| name(*v) == text) {
            return Some(found);
        }
        let hint = did_you_mean(text, all.iter().map(|v| name(*v)));
        let choices: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        self.sink.error(
            node.at,
            "unknown_value",
            format!(
                "unknown {what} `{text}` (one of: {}){hint}",
                choices.join(", ")
            ),
        );
        None
    }

    // ---- references --------------------------------------------------------

    fn stage_ref(&mut self, node: &Node) -> Option<StageId> {
        let name = self.string(node, "a stage")?;
        if let Some(declared) = self.stage_names.get(name) {
            return Some(StageId(declared.id));
        }
        let hint = did_you_mean(name, self.stage_names.keys().map(String::as_str));
        self.sink.error(
            node.at,
            "unknown_stage",
            format!("unknown stage `{name}`{hint}"),
        );
        None
    }

    fn field_ref(&mut self, node: &Node) -> Option<FieldId> {
        let name = self.string(node, "a field")?;
        if let Some(id) = self.field_names.get(name) {
            return Some(*id);
        }
        let hint = did_you_mean(name, self.field_names.keys().map(String::as_str));
        self.sink.error(
            node.at,
            "unknown_field",
            format!("unknown field `{name}`: declare it under `fields:`{hint}"),
        );
        None
    }

    fn dictionary_ref(&mut self, node: &Node) -> Option<DictionaryId> {
        let name = self.string(node, "a dictionary")?;
        if let Some((id, _)) = self.dictionary_names.get(name) {
            let id = *id;
            self.used_dictionaries[id.index()] = true;
            return Some(id);
        }
        let hint = did_you_mean(name, self.dictionary_names.keys().map(String::as_str));
        self.sink.error(
            node.at,
            "unknown_dictionary",
            format!("unknown dictionary `{name}`{hint}"),
        );
        None
    }

    fn value_ref(&mut self, node: &Node, dictionary: DictionaryId) -> Option<ValueId> {
        let name = self.string(node, "a dictionary value")?;
        let values = &self.dictionaries[dictionary.index()].values;
        if let Some(id) = values
            .iter()
            .copied()
            .find(|v| self.values[v.index()].name == name)
        {
            return Some(id);
        }
        let dictionary_name = self.dictionaries[dictionary.index()].name.clone();
        let candidates: Vec<String> = values
            .iter()
            .map(|v| self.values[v.index()].name.clone())
            .collect();
        let hint = did_you_mean(name, candidates.iter().map(String::as_str));
        self.sink.error(
            node.at,
            "unknown_dictionary_value",
            format!("`{name}` is not a value of dictionary `{dictionary_name}`{hint}"),
        );
        None
    }

    fn field_of_dictionary(
        &mut self,
        field: FieldId,
        at: Location,
        context: &str,
    ) -> Option<DictionaryId> {
        let definition = &self.fields[field.index()];
        match definition.field_type {
            FieldType::Dictionary(d) => Some(d),
            other => {
                let message = format!(
                    "{context}: field `{}` is {}, not a dictionary field",
                    definition.name,
                    other.name()
                );
                self.sink.error(at, "wrong_field_type", message);
                None
            }
        }
    }

    /// A literal value for a field of the given type (`set_field`).
    fn field_value(&mut self, node: &Node, field: FieldId) -> Option<FieldValue> {
        let field_type = self.fields[field.index()].field_type;
        let name = self.fields[field.index()].name.clone();
        let what = format!("the value of `{name}`");
        match field_type {
            FieldType::Text => self
                .string(node, &what)
                .map(|s| FieldValue::Text(s.to_string())),
            FieldType::Number => self
                .integer(node, &what, i64::MIN..=i64::MAX)
                .map(FieldValue::Number),
            FieldType::Bool => self.boolean(node, &what).map(FieldValue::Bool),
            FieldType::Dictionary(d) => self.value_ref(node, d).map(FieldValue::Dictionary),
            FieldType::Money => {
                let text = self.string(node, &what)?;
                let parsed = parse_money(text);
                if parsed.is_none() {
                    self.sink.error(
                        node.at,
                        "bad_value",
                        format!("{what}: `{text}` is not money; write `1500.00 RUB`"),
                    );
                }
                parsed.map(FieldValue::Money)
            }
            FieldType::Date => {
                let text = self.string(node, &what)?;
                let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
                if parsed.is_none() {
                    self.sink.error(
                        node.at,
                        "bad_value",
                        format!("{what}: `{text}` is not a date; write 2026-12-31"),
                    );
                }
                parsed.map(FieldValue::Date)
            }
            FieldType::Reference(_) => {
                let text = self.string(node, &what)?;
                let parsed = uuid::Uuid::parse_str(text).ok();
                if parsed.is_none() {
                    self.sink.error(
                        node.at,
                        "bad_value",
                        format!("{what}: `{text}` is not an id (UUID)"),
                    );
                }
                parsed.map(FieldValue::Reference)
            }
        }
    }

    // ---- the definition ------------------------------------------------------

    fn compile(&mut self, root: &Node, hash: ContentHash) -> Option<CompiledProcess> {
        let top = self.map(
            root,
            "the process definition",
            TOP_KEYS,
            &["process", "version", "title", "stages", "transitions"],
        )?;
        let name = top
            .get("process")
            .and_then(|n| self.identifier(n, "the process name"));
        let version = top
            .get("version")
            .and_then(|n| self.integer(n, "`version`", 1..=1_000_000));
        let title = top
            .get("title")
            .and_then(|n| self.titles(n, "the process title"));
        if let Some(node) = top.get("description") {
            self.string(node, "the description");
        }

        if let Some(node) = top.get("dictionaries") {
            self.declare_dictionaries(node);
        }
        self.declare_builtin_fields();
        if let Some(node) = top.get("fields") {
            self.declare_fields(node);
        }
        if let Some(node) = top.get("activity_outcomes") {
            self.declare_activity_outcomes(node);
        }
        let stage_nodes: Vec<&Node> = match top.get("stages") {
            Some(node) => self.list(node, "`stages`"),
            None => Vec::new(),
        };
        let errors_before_stages = self.error_count();
        self.declare_stages(&stage_nodes);
        if self.stages.is_empty() && top.get("stages").is_some() {
            self.sink
                .error(top.at, "no_stages", "a process needs at least one stage");
        }
        for node in &stage_nodes {
            self.compile_stage(node);
        }
        let initial = match top.get("initial") {
            Some(node) => self.stage_ref(node),
            None => (!self.stages.is_empty()).then_some(StageId(0)),
        };
        let mut transition_sites: Vec<(StageId, StageId, Location)> = Vec::new();
        if let Some(node) = top.get("transitions") {
            self.compile_transitions(node, &mut transition_sites);
        }
        if let Some(node) = top.get("permissions") {
            self.compile_permissions(node);
        }
        let graph_sound = self.error_count() == errors_before_stages;
        let documents = match top.get("documents") {
            Some(node) => self.compile_documents(node),
            None => Default::default(),
        };
        let automations = match top.get("automations") {
            Some(node) => self.compile_automations(node),
            None => Vec::new(),
        };
        // A broken stage or transition would make the graph checks report
        // follow-on errors (dead ends, unreachable stages) that vanish once
        // the first error is fixed; check the graph only when those are sound.
        if graph_sound {
            self.check_graph(initial, &transition_sites);
        }
        if let Some(initial) = initial {
            let first = &self.stages[initial.index()];
            if !first.entry.is_empty() {
                let at = self.stage_names.get(&first.name).map_or(top.at, |d| d.at);
                let message = format!(
                    "the initial stage `{}` cannot have entry requirements: deals start there",
                    first.name
                );
                self.sink.error(at, "initial_with_requirements", message);
            }
        }
        for (i, used) in self.used_dictionaries.iter().enumerate() {
            if !used {
                let dictionary = &self.dictionaries[i];
                let at = self
                    .dictionary_names
                    .get(&dictionary.name)
                    .map(|(_, at)| *at)
                    .unwrap_or(top.at);
                self.sink.warning(
                    at,
                    "unused_dictionary",
                    format!(
                        "dictionary `{}` is not used by any field or activity outcome",
                        dictionary.name
                    ),
                );
            }
        }
        if self.sink.has_errors() {
            return None;
        }
        Some(CompiledProcess {
            identity: ProcessIdentity {
                name: name?.to_string(),
                version: u32::try_from(version?).ok()?,
                hash,
            },
            title: title?,
            initial_stage: initial?,
            stage_by_name: self
                .stage_names
                .iter()
                .map(|(k, v)| (k.clone(), StageId(v.id)))
                .collect(),
            field_by_name: self.field_names.clone(),
            dictionary_by_name: self
                .dictionary_names
                .iter()
                .map(|(k, (id, _))| (k.clone(), *id))
                .collect(),
            stages: std::mem::take(&mut self.stages),
            fields: std::mem::take(&mut self.fields),
            dictionaries: std::mem::take(&mut self.dictionaries),
            values: std::mem::take(&mut self.values),
            activity_outcomes: std::mem::take(&mut self.activity_outcomes),
            documents,
            automations,
        })
    }

    fn declare_dictionaries(&mut self, node: &Node) {
        let Some(map) = self.map(node, "`dictionaries`", &[], &[]) else {
            return;
        };
        for (name, key, value) in map.entries {
            if !is_identifier(name) {
                self.identifier(key, "a dictionary name");
                continue;
            }
            let id = DictionaryId(self.dictionaries.len() as u16);
            self.dictionary_names.insert(name.to_string(), (id, key.at));
            let mut dictionary = Dictionary {
                id,
                name: name.to_string(),
                values: Vec::new(),
            };
            let items = self.list(value, &format!("dictionary `{name}`"));
            if items.is_empty() && matches!(value.value, NodeValue::Sequence(_)) {
                self.sink.error(
                    value.at,
                    "empty_dictionary",
                    format!("dictionary `{name}` has no values"),
                );
            }
            for item in items {
                let (value_node, title) = match &item.value {
                    NodeValue::Mapping(_) => {
                        let Some(entry) =
                            self.map(item, "a dictionary value", &["id", "title"], &["id"])
                        else {
                            continue;
                        };
                        let title = entry
                            .get("title")
                            .and_then(|t| self.titles(t, "the value title"));
                        match entry.get("id") {
                            Some(id_node) => (id_node, title),
                            None => continue,
                        }
                    }
                    _ => (item, None),
                };
                let Some(value_name) = self.identifier(value_node, "a dictionary value") else {
                    continue;
                };
                if dictionary
                    .values
                    .iter()
                    .any(|v| self.values[v.index()].name == value_name)
                {
                    self.sink.error(
                        value_node.at,
                        "duplicate_id",
                        format!("value `{value_name}` appears twice in dictionary `{name}`"),
                    );
                    continue;
                }
                let value_id = ValueId(self.values.len() as u16);
                self.values.push(DictionaryValue {
                    id: value_id,
                    dictionary: id,
                    name: value_name.to_string(),
                    title,
                });
                dictionary.values.push(value_id);
            }
            self.dictionaries.push(dictionary);
            self.used_dictionaries.push(false);
        }
    }

    fn declare_builtin_fields(&mut self) {
        for (name, field_type, ru, en) in BUILTIN_FIELDS {
            let id = FieldId(self.fields.len() as u16);
            self.field_names.insert(name.to_string(), id);
            self.fields.push(FieldDefinition {
                id,
                name: name.to_string(),
                title: Titles::new(ru, en),
                field_type,
                builtin: true,
            });
        }
    }

    fn declare_fields(&mut self, node: &Node) {
        let Some(map) = self.map(node, "`fields`", &[], &[]) else {
            return;
        };
        for (name, key, value) in map.entries {
            if !is_identifier(name) {
                self.identifier(key, "a field name");
                continue;
            }
            if self.field_names.contains_key(name) {
                self.sink.error(
                    key.at,
                    "duplicate_id",
                    format!("field `{name}` is already declared (built-in fields: company, contact, amount, expected_close_date, responsible, source)"),
                );
                continue;
            }
            let what = format!("field `{name}`");
            let Some(spec) = self.map(
                value,
                &what,
                &["type", "title", "dictionary", "entity"],
                &["type", "title"],
            ) else {
                continue;
            };
            let title = spec
                .get("title")
                .and_then(|n| self.titles(n, "the field title"));
            let type_node = spec.get("type");
            let type_name = type_node.and_then(|n| self.string(n, "the field type"));
            let field_type = match type_name {
                Some("text") => Some(FieldType::Text),
                Some("number") => Some(FieldType::Number),
                Some("money") => Some(FieldType::Money),
                Some("date") => Some(FieldType::Date),
                Some("bool") => Some(FieldType::Bool),
                Some("dictionary") => match spec.get("dictionary") {
                    Some(d) => self.dictionary_ref(d).map(FieldType::Dictionary),
                    None => {
                        self.sink.error(
                            spec.at,
                            "missing_key",
                            format!("{what} is a dictionary field and needs `dictionary:`"),
                        );
                        None
                    }
                },
                Some("reference") => match spec.get("entity") {
                    Some(e) => self
                        .enum_value(e, "entity", &ReferenceKind::ALL, ReferenceKind::as_str)
                        .map(FieldType::Reference),
                    None => {
                        self.sink.error(spec.at, "missing_key", format!("{what} is a reference and needs `entity:` (company, contact, user, deal)"));
                        None
                    }
                },
                Some(other) => {
                    let hint = did_you_mean(other, FIELD_TYPES.iter().copied());
                    if let Some(n) = type_node {
                        self.sink.error(
                            n.at,
                            "unknown_field_type",
                            format!(
                                "unknown field type `{other}` (one of: {}){hint}",
                                FIELD_TYPES.join(", ")
                            ),
                        );
                    }
                    None
                }
                None => None,
            };
            if let (Some(n), Some(t)) = (spec.get("dictionary"), field_type) {
                if !matches!(t, FieldType::Dictionary(_)) {
                    self.sink.error(
                        n.at,
                        "unexpected_key",
                        "`dictionary:` only applies to fields of type dictionary",
                    );
                }
            }
            let id = FieldId(self.fields.len() as u16);
            // Declared even when broken, so references to it do not cascade.
            self.field_names.insert(name.to_string(), id);
            self.fields.push(FieldDefinition {
                id,
                name: name.to_string(),
                title: title.unwrap_or_default(),
                field_type: field_type.unwrap_or(FieldType::Text),
                builtin: false,
            });
        }
    }

    fn declare_activity_outcomes(&mut self, node: &Node) {
        let Some(map) = self.map(node, "`activity_outcomes`", &[], &[]) else {
            return;
        };
        for (_, key, value) in map.entries {
            let kind = self.enum_value(
                key,
                "activity type",
                &ActivityKind::ALL,
                ActivityKind::as_str,
            );
            let dictionary = self.dictionary_ref(value);
            if let (Some(kind), Some(dictionary)) = (kind, dictionary) {
                self.activity_outcomes.push((kind, dictionary));
            }
        }
    }

    fn declare_stages(&mut self, nodes: &[&Node]) {
        for node in nodes {
            let NodeValue::Mapping(pairs) = &node.value else {
                continue;
            };
            let Some((_, id_node)) = pairs.iter().find(|(k, _)| k.as_scalar() == Some("id")) else {
                continue;
            };
            let Some(name) = id_node.as_scalar().filter(|s| is_identifier(s)) else {
                continue;
            };
            if let Some(previous) = self.stage_names.get(name) {
                let message = format!(
                    "stage `{name}` is declared twice (first at line {})",
                    previous.at.line
                );
                self.sink.error(id_node.at, "duplicate_id", message);
                continue;
            }
            if self.stages.len() >= usize::from(u16::MAX) {
                continue;
            }
            let id = self.stages.len() as u16;
            self.stage_names
                .insert(name.to_string(), Declared { id, at: id_node.at });
            self.stages.push(Stage {
                id: StageId(id),
                name: name.to_string(),
                title: Titles::default(),
                probability: 0,
                terminal: false,
                sla: None,
                entry: Vec::new(),
                exits: Vec::new(),
            });
        }
    }

    fn compile_stage(&mut self, node: &Node) {
        let Some(map) = self.map(node, "a stage", STAGE_KEYS, &["id", "title", "probability"])
        else {
            return;
        };
        let Some(id_node) = map.get("id") else {
            return;
        };
        let Some(name) = self.identifier(id_node, "a stage id") else {
            return;
        };
        let Some(declared) = self.stage_names.get(name) else {
            return;
        };
        if declared.at != id_node.at {
            return; // a duplicate, already reported
        }
        let index = usize::from(declared.id);
        let title = map
            .get("title")
            .and_then(|n| self.titles(n, "the stage title"));
        let probability = map
            .get("probability")
            .and_then(|n| self.integer(n, "`probability`", 0..=100));
        let terminal = map
            .get("terminal")
            .and_then(|n| self.boolean(n, "`terminal`"));
        let sla = map.get("sla").and_then(|n| self.duration(n, "`sla`"));
        let entry = match map.get("requires") {
            Some(requires) => self.compile_requirements(requires, true),
            None => Vec::new(),
        };
        let stage = &mut self.stages[index];
        stage.title = title.unwrap_or_default();
        stage.probability = probability.and_then(|p| u8::try_from(p).ok()).unwrap_or(0);
        stage.terminal = terminal.unwrap_or(false);
        stage.sla = sla;
        stage.entry = entry;
    }

    fn compile_requirements(&mut self, node: &Node, allow_when: bool) -> Vec<Requirement> {
        let mut out = Vec::new();
        self.compile_requirement_block(node, allow_when, &[], &mut out);
        for (i, requirement) in out.iter_mut().enumerate() {
            requirement.index = u16::try_from(i).unwrap_or(u16::MAX);
        }
        out
    }

    fn compile_requirement_block(
        &mut self,
        node: &Node,
        allow_when: bool,
        when: &[Condition],
        out: &mut Vec<Requirement>,
    ) {
        let Some(map) = self.map(node, "`requires`", REQUIRES_KEYS, &[]) else {
            return;
        };
        let push = |check: Check, out: &mut Vec<Requirement>| {
            out.push(Requirement {
                index: 0,
                when: when.to_vec(),
                check,
            });
        };
        if let Some(fields) = map.get("fields") {
            for item in self.one_or_many(fields) {
                if let Some(field) = self.field_ref(item) {
                    push(Check::FieldPresent(field), out);
                }
            }
        }
        if let Some(values) = map.get("values") {
            if let Some(values_map) = self.map(values, "`values`", &[], &[]) {
                for (_, key, allowed) in values_map.entries {
                    let Some(field) = self.field_ref(key) else {
                        continue;
                    };
                    let Some(dictionary) = self.field_of_dictionary(field, key.at, "`values`")
                    else {
                        continue;
                    };
                    let ids: Vec<ValueId> = self
                        .one_or_many(allowed)
                        .into_iter()
                        .filter_map(|v| self.value_ref(v, dictionary))
                        .collect();
                    push(Check::FieldIn { field, values: ids }, out);
                }
            }
        }
        if let Some(conditions) = map.get("conditions") {
            for item in self.list(conditions, "`conditions`") {
                if let Some(check) = self.compile_comparison(item) {
                    push(check, out);
                }
            }
        }
        if let Some(activities) = map.get("activities") {
            for item in self.list(activities, "`activities`") {
                if let Some(rule) = self.compile_activity_rule(item, true) {
                    push(Check::Activity(rule), out);
                }
            }
        }
        if let Some(documents) = map.get("documents") {
            for item in self.list(documents, "`documents`") {
                if let Some(rule) = self.compile_document_rule(item) {
                    push(Check::Document(rule), out);
                }
            }
        }
        if let Some(roles) = map.get("roles") {
            if let Some(set) = self.roles(roles) {
                push(Check::Role(set), out);
            }
        }
        if let Some(when_node) = map.get("when") {
            if !allow_when || !when.is_empty() {
                self.sink.error(
                    when_node.at,
                    "nested_when",
                    "`when` cannot be nested inside another `when`",
                );
                return;
            }
            for item in self.list(when_node, "`when`") {
                let Some(case) = self.map(
                    item,
                    "a `when` case",
                    &["if", "requires"],
                    &["if", "requires"],
                ) else {
                    continue;
                };
                let (Some(if_node), Some(requires)) = (case.get("if"), case.get("requires")) else {
                    continue;
                };
                let Some(conditions) = self.compile_conditions(if_node) else {
                    continue;
                };
                self.compile_requirement_block(requires, false, &conditions, out);
            }
        }
    }

    fn compile_conditions(&mut self, node: &Node) -> Option<Vec<Condition>> {
        let map = self.map(node, "`if`", &[], &[])?;
        let mut out = Vec::new();
        let mut ok = true;
        for (_, key, value) in map.entries {
            let Some(field) = self.field_ref(key) else {
                ok = false;
                continue;
            };
            match self.fields[field.index()].field_type {
                FieldType::Dictionary(dictionary) => {
                    let values: Vec<ValueId> = self
                        .one_or_many(value)
                        .into_iter()
                        .filter_map(|v| self.value_ref(v, dictionary))
                        .collect();
                    out.push(Condition::ValueIn { field, values });
                }
                FieldType::Bool => match self.boolean(value, "the condition") {
                    Some(b) => out.push(Condition::BoolIs { field, value: b }),
                    None => ok = false,
                },
                other => {
                    let message = format!(
                        "a `when` condition needs a dictionary or bool field; `{}` is {}",
                        self.fields[field.index()].name,
                        other.name()
                    );
                    self.sink.error(key.at, "wrong_field_type", message);
                    ok = false;
                }
            }
        }
        if out.is_empty() && ok {
            self.sink.error(
                node.at,
                "empty_condition",
                "`if` needs at least one `field: value`",
            );
            return None;
        }
        ok.then_some(out)
    }

    fn compile_comparison(&mut self, node: &Node) -> Option<Check> {
        let map = self.map(
            node,
            "a condition",
            &["field", "op", "value"],
            &["field", "op"],
        )?;
        let field = map.get("field").and_then(|n| self.field_ref(n));
        let op_node = map.get("op")?;
        let op_name = self.enum_value(op_node, "comparison", OPS, |s| s)?;
        let field = field?;
        let field_type = self.fields[field.index()].field_type;
        let field_name = self.fields[field.index()].name.clone();
        if matches!(op_name, "in_future" | "in_past") {
            if field_type != FieldType::Date {
                self.sink.error(
                    op_node.at,
                    "wrong_field_type",
                    format!(
                        "`{op_name}` needs a date field; `{field_name}` is {}",
                        field_type.name()
                    ),
                );
                return None;
            }
            if let Some(v) = map.get("value") {
                self.sink.error(
                    v.at,
                    "unexpected_key",
                    format!("`{op_name}` takes no `value`"),
                );
            }
            let op = if op_name == "in_future" {
                CompareOp::Greater
            } else {
                CompareOp::Less
            };
            return Some(Check::Compare {
                field,
                op,
                operand: Operand::Today,
            });
        }
        let op = match op_name {
            "gt" => CompareOp::Greater,
            "ge" => CompareOp::GreaterOrEqual,
            "lt" => CompareOp::Less,
            "le" => CompareOp::LessOrEqual,
            "eq" => CompareOp::Equal,
            _ => CompareOp::NotEqual,
        };
        let Some(value_node) = map.get("value") else {
            self.sink.error(
                map.at,
                "missing_key",
                format!("comparison `{op_name}` needs a `value`"),
            );
            return None;
        };
        let operand = match field_type {
            FieldType::Bool if matches!(op, CompareOp::Equal | CompareOp::NotEqual) => self
                .boolean(value_node, "the comparison value")
                .map(Operand::Bool),
            FieldType::Number => self
                .integer(value_node, "the comparison value", i64::MIN..=i64::MAX)
                .map(Operand::Integer),
            FieldType::Money => {
                let text = self.string(value_node, "the comparison value")?;
                let parsed = Money::parse_decimal(text, Currency::RUB)
                    .ok()
                    .map(|m| Operand::Integer(m.minor));
                if parsed.is_none() {
                    self.sink.error(
                        value_node.at,
                        "bad_value",
                        format!("`{text}` is not an amount (e.g. 0 or 1500.50)"),
                    );
                }
                parsed
            }
            FieldType::Date => {
                let text = self.string(value_node, "the comparison value")?;
                let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .map(Operand::Date);
                if parsed.is_none() {
                    self.sink.error(
                        value_node.at,
                        "bad_value",
                        format!("`{text}` is not a date; write 2026-12-31"),
                    );
                }
                parsed
            }
            other => {
                self.sink.error(
                    op_node.at,
                    "wrong_field_type",
                    format!("`{op_name}` compares numbers, money or dates (bool fields: only eq, ne); `{field_name}` is {} (use `values:` for dictionary fields)", other.name()),
                );
                None
            }
        }?;
        Some(Check::Compare { field, op, operand })
    }

    fn compile_activity_rule(&mut self, node: &Node, with_count: bool) -> Option<ActivityRule> {
        let keys: &[&str] = if with_count {
            &["type", "status", "outcome", "min", "within"]
        } else {
            &["type", "status", "outcome"]
        };
        let map = self.map(node, "an activity", keys, &["type"])?;
        let kind = self.enum_value(
            map.get("type")?,
            "activity type",
            &ActivityKind::ALL,
            ActivityKind::as_str,
        );
        let status = match map.get("status") {
            Some(n) => Some(self.enum_value(
                n,
                "activity status",
                &ActivityStatus::ALL,
                ActivityStatus::as_str,
            )?),
            None => None,
        };
        let min_count = match map.get("min") {
            Some(n) => u16::try_from(self.integer(n, "`min`", 1..=1000)?).ok()?,
            None => 1,
        };
        let within = match map.get("within") {
            Some(n) => Some(self.duration(n, "`within`")?),
            None => None,
        };
        let kind = kind?;
        let outcome = match map.get("outcome") {
            Some(n) => match self
                .activity_outcomes
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, d)| *d)
            {
                Some(dictionary) => Some(self.value_ref(n, dictionary)?),
                None => {
                    self.sink.error(
                        n.at,
                        "no_outcome_dictionary",
                        format!("activity type `{}` has no outcomes: map it to a dictionary under `activity_outcomes`", kind.as_str()),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(ActivityRule {
            kind,
            status,
            outcome,
            min_count,
            within,
        })
    }

    fn compile_document_rule(&mut self, node: &Node) -> Option<DocumentRule> {
        let map = self.map(node, "a document", &["type", "status"], &["type"])?;
        let kind = self.enum_value(
            map.get("type")?,
            "document type",
            &DocumentKind::ALL,
            DocumentKind::as_str,
        );
        let status = match map.get("status") {
            Some(n) => Some(self.enum_value(
                n,
                "document status",
                &DocumentStatus::ALL,
                DocumentStatus::as_str,
            )?),
            None => None,
        };
        Some(DocumentRule {
            kind: kind?,
            status,
        })
    }

    fn stage_list(&mut self, node: &Node) -> Vec<StageId> {
        if node.as_scalar() == Some("*") {
            return self
                .stages
                .iter()
                .filter(|s| !s.terminal)
                .map(|s| s.id)
                .collect();
        }
        self.one_or_many(node)
            .into_iter()
            .filter_map(|n| self.stage_ref(n))
            .collect()
    }

    fn compile_transitions(&mut self, node: &Node, sites: &mut Vec<(StageId, StageId, Location)>) {
        for item in self.list(node, "`transitions`") {
            let Some(map) = self.map(
                item,
                "a transition",
                &["from", "to", "roles"],
                &["from", "to"],
            ) else {
                continue;
            };
            let (Some(from_node), Some(to_node)) = (map.get("from"), map.get("to")) else {
                continue;
            };
            let from = self.stage_list(from_node);
            let to = self.stage_list(to_node);
            let roles = match map.get("roles") {
                Some(n) => match self.roles(n) {
                    Some(r) => Some(r),
                    None => continue,
                },
                None => None,
            };
            for &f in &from {
                for &t in &to {
                    if f == t {
                        if from.len() == 1 {
                            let name = self.stages[f.index()].name.clone();
                            self.sink.error(
                                to_node.at,
                                "self_transition",
                                format!("stage `{name}` cannot move to itself"),
                            );
                        }
                        continue;
                    }
                    sites.push((f, t, item.at));
                    let exits = &mut self.stages[f.index()].exits;
                    match exits.iter_mut().find(|e| e.to == t) {
                        Some(exit) => exit.roles = merge_roles(exit.roles, roles),
                        None => exits.push(Exit { to: t, roles }),
                    }
                }
            }
        }
    }

    fn compile_permissions(&mut self, node: &Node) {
        for item in self.list(node, "`permissions`") {
            let Some(map) = self.map(
                item,
                "a permission",
                &["from", "to", "roles"],
                &["to", "roles"],
            ) else {
                continue;
            };
            let (Some(to_node), Some(roles_node)) = (map.get("to"), map.get("roles")) else {
                continue;
            };
            let to = self.stage_list(to_node);
            let from = map.get("from").map(|n| self.stage_list(n));
            let Some(roles) = self.roles(roles_node) else {
                continue;
            };
            let mut matched = false;
            for stage in &mut self.stages {
                if from.as_ref().is_some_and(|f| !f.contains(&stage.id)) {
                    continue;
                }
                for exit in stage.exits.iter_mut().filter(|e| to.contains(&e.to)) {
                    exit.roles = merge_roles(exit.roles, Some(roles));
                    matched = true;
                }
            }
            if !matched && !to.is_empty() {
                self.sink.error(
                    item.at,
                    "permission_without_transition",
                    "this permission matches no declared transition",
                );
            }
        }
    }

    fn compile_documents(&mut self, node: &Node) -> [DocumentPolicy; 4] {
        let mut policies: [DocumentPolicy; 4] = Default::default();
        let Some(map) = self.map(node, "`documents`", &[], &[]) else {
            return policies;
        };
        for (_, key, value) in map.entries {
            let Some(kind) = self.enum_value(
                key,
                "document type",
                &DocumentKind::ALL,
                DocumentKind::as_str,
            ) else {
                continue;
            };
            let Some(spec) = self.map(
                value,
                "a document policy",
                &["allowed_from", "requires", "roles"],
                &[],
            ) else {
                continue;
            };
            let policy = &mut policies[kind.index()];
            if let Some(n) = spec.get("allowed_from") {
                policy.allowed_from = self.stage_ref(n);
            }
            if let Some(n) = spec.get("requires") {
                policy.requires = self.compile_requirements(n, true);
            }
            if let Some(n) = spec.get("roles") {
                policy.roles = self.roles(n);
            }
        }
        policies
    }

    fn compile_automations(&mut self, node: &Node) -> Vec<Automation> {
        let mut out = Vec::new();
        let mut keys: Vec<&str> = vec!["id", "on"];
        keys.extend_from_slice(ACTION_KEYS);
        for item in self.list(node, "`automations`") {
            let Some(map) = self.map(item, "an automation", &keys, &["on"]) else {
                continue;
            };
            if let Some(id) = map.get("id") {
                self.identifier(id, "an automation id");
            }
            let trigger = map.get("on").and_then(|n| self.compile_trigger(n));
            let mut actions = Vec::new();
            for (name, _, value) in &map.entries {
                let action = match *name {
                    "create_task" => self.compile_create_task(value),
                    "assign" => self.assignee(value).map(Action::Assign),
                    "notify" => self.compile_notify(value),
                    "set_field" => self.compile_set_field(value),
                    _ => continue,
                };
                if let Some(action) = action {
                    actions.push(action);
                }
            }
            if map.entries.iter().all(|(k, _, _)| !ACTION_KEYS.contains(k)) {
                self.sink.error(
                    map.at,
                    "automation_without_action",
                    format!(
                        "an automation needs an action: one of {}",
                        ACTION_KEYS.join(", ")
                    ),
                );
            }
            if let Some(trigger) = trigger {
                let id = AutomationId(u16::try_from(out.len()).unwrap_or(u16::MAX));
                out.push(Automation {
                    id,
                    trigger,
                    actions,
                });
            }
        }
        out
    }

    fn compile_trigger(&mut self, node: &Node) -> Option<Trigger> {
        let map = self.map(node, "a trigger (`on`)", TRIGGER_KEYS, &[])?;
        if map.entries.len() != 1 {
            self.sink.error(
                map.at,
                "one_trigger",
                format!("`on` takes exactly one of: {}", TRIGGER_KEYS.join(", ")),
            );
            return None;
        }
        let (name, _, value) = map.entries[0];
        match name {
            "enter" => self.stage_ref(value).map(Trigger::EnterStage),
            "leave" => self.stage_ref(value).map(Trigger::LeaveStage),
            "activity" => self
                .compile_activity_rule(value, false)
                .map(|r| Trigger::Activity {
                    kind: r.kind,
                    status: r.status,
                    outcome: r.outcome,
                }),
            "document" => self
                .compile_document_rule(value)
                .map(|r| Trigger::Document {
                    kind: r.kind,
                    status: r.status,
                }),
            "idle" => self.duration(value, "`idle`").map(Trigger::Idle),
            "sla_breached" => {
                if value.as_scalar() == Some("*") {
                    Some(Trigger::SlaBreached(None))
                } else {
                    self.stage_ref(value).map(|s| Trigger::SlaBreached(Some(s)))
                }
            }
            _ => {
                let spec = self.map(
                    value,
                    "a date trigger",
                    &["field", "offset"],
                    &["field", "offset"],
                )?;
                let field = spec.get("field").and_then(|n| self.field_ref(n));
                let offset = spec
                    .get("offset")
                    .and_then(|n| self.duration(n, "`offset`"));
                let field = field?;
                if self.fields[field.index()].field_type != FieldType::Date {
                    let message = format!(
                        "`{name}` needs a date field; `{}` is {}",
                        self.fields[field.index()].name,
                        self.fields[field.index()].field_type.name()
                    );
                    self.sink.error(value.at, "wrong_field_type", message);
                    return None;
                }
                let offset = offset?;
                Some(if name == "before" {
                    Trigger::BeforeDate { field, offset }
                } else {
                    Trigger::AfterDate { field, offset }
                })
            }
        }
    }

    fn assignee(&mut self, node: &Node) -> Option<Assignee> {
        match node.as_scalar() {
            Some("responsible") => Some(Assignee::Responsible),
            Some("responsible_head") => Some(Assignee::ResponsibleHead),
            Some(name) => match Role::parse(name) {
                Some(role) => Some(Assignee::Role(role)),
                None => {
                    let mut choices = vec!["responsible", "responsible_head"];
                    choices.extend(Role::ALL.iter().map(|r| r.as_str()));
                    let hint = did_you_mean(name, choices.iter().copied());
                    self.sink.error(node.at, "unknown_assignee", format!("unknown assignee `{name}` (responsible, responsible_head or a role){hint}"));
                    None
                }
            },
            None => {
                self.type_error(node, "an assignee", "a string");
                None
            }
        }
    }

    fn compile_create_task(&mut self, node: &Node) -> Option<Action> {
        let map = self.map(
            node,
            "`create_task`",
            &["type", "title", "due", "assignee"],
            &["type", "title", "due"],
        )?;
        let kind = map.get("type").and_then(|n| {
            self.enum_value(n, "activity type", &ActivityKind::ALL, ActivityKind::as_str)
        });
        let title = map
            .get("title")
            .and_then(|n| self.titles(n, "the task title"));
        let due_in = map.get("due").and_then(|n| self.duration(n, "`due`"));
        let assignee = match map.get("assignee") {
            Some(n) => self.assignee(n)?,
            None => Assignee::Responsible,
        };
        Some(Action::CreateTask {
            kind: kind?,
            title: title?,
            due_in: due_in?,
            assignee,
        })
    }

    fn compile_notify(&mut self, node: &Node) -> Option<Action> {
        let map = self.map(node, "`notify`", &["to", "message"], &["to", "message"])?;
        let recipient = map.get("to").and_then(|n| self.assignee(n));
        let message = map
            .get("message")
            .and_then(|n| self.titles(n, "the message"));
        Some(Action::Notify {
            recipient: recipient?,
            message: message?,
        })
    }

    fn compile_set_field(&mut self, node: &Node) -> Option<Action> {
        let map = self.map(
            node,
            "`set_field`",
            &["field", "value"],
            &["field", "value"],
        )?;
        let field = self.field_ref(map.get("field")?)?;
        let value = self.field_value(map.get("value")?, field)?;
        Some(Action::SetField { field, value })
    }

    fn error_count(&self) -> usize {
        self.sink
            .items
            .iter()
            .filter(|d| d.severity == crate::diagnostic::Severity::Error)
            .count()
    }

    fn check_graph(&mut self, initial: Option<StageId>, sites: &[(StageId, StageId, Location)]) {
        let stage_at = |stage: &Stage| {
            self.stage_names
                .get(&stage.name)
                .map(|d| d.at)
                .unwrap_or(Location::START)
        };
        let mut errors: Vec<(Location, &'static str, String, bool)> = Vec::new();
        for stage in &self.stages {
            if stage.terminal && !stage.exits.is_empty() {
                let at = sites
                    .iter()
                    .find(|(f, _, _)| *f == stage.id)
                    .map(|(_, _, at)| *at)
                    .unwrap_or_else(|| stage_at(stage));
                errors.push((
                    at,
                    "terminal_with_exits",
                    format!("terminal stage `{}` cannot have exits", stage.name),
                    true,
                ));
            }
            if !stage.terminal && stage.exits.is_empty() {
                errors.push((stage_at(stage), "dead_end", format!("stage `{}` is not terminal but has no exits; add a transition or `terminal: true`", stage.name), true));
            }
        }
        if let Some(initial) = initial {
            let first = &self.stages[initial.index()];
            let mut reachable = vec![false; self.stages.len()];
            let mut queue = vec![initial];
            reachable[initial.index()] = true;
            while let Some(stage) = queue.pop() {
                for exit in &self.stages[stage.index()].exits {
                    if !reachable[exit.to.index()] {
                        reachable[exit.to.index()] = true;
                        queue.push(exit.to);
                    }
                }
            }
            for stage in &self.stages {
                if !reachable[stage.id.index()] {
                    errors.push((
                        stage_at(stage),
                        "unreachable_stage",
                        format!(
                            "stage `{}` cannot be reached from the initial stage `{}`",
                            stage.name, first.name
                        ),
                        false,
                    ));
                }
            }
        }
        for (at, code, message, is_error) in errors {
            if is_error {
                self.sink.error(at, code, message);
            } else {
                self.sink.warning(at, code, message);
            }
        }
    }
}

fn merge_roles(existing: Option<RoleSet>, added: Option<RoleSet>) -> Option<RoleSet> {
    match (existing, added) {
        (Some(a), Some(b)) => Some(RoleSet(a.0 & b.0)),
        (a, b) => a.or(b),
    }
}

/// Parses `1500.50 RUB` (or just `1500.50`, meaning roubles).
pub fn parse_money(text: &str) -> Option<Money> {
    let text = text.trim();
    let (amount, currency) = match text.rsplit_once(' ') {
        Some((amount, code)) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) => {
            (amount, Currency::parse(code).ok()?)
        }
        _ => (text, Currency::RUB),
    };
    Money::parse_decimal(amount, currency).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = include_str!("../../../process-definitions/process.schema.json");

    fn schema_keys(pointer: &str) -> Vec<String> {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let mut keys: Vec<String> = schema
            .pointer(pointer)
            .and_then(|v| v.as_object())
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_json_schema_knows_the_same_keys_as_the_validator() {
        assert_eq!(schema_keys("/properties"), sorted(TOP_KEYS));
        assert_eq!(
            schema_keys("/definitions/stage/properties"),
            sorted(STAGE_KEYS)
        );
        assert_eq!(
            schema_keys("/definitions/requires/properties"),
            sorted(REQUIRES_KEYS)
        );
        assert_eq!(
            schema_keys("/definitions/trigger/properties"),
            sorted(TRIGGER_KEYS)
        );
    }

    #[test]
    fn durations_take_one_number_and_one_unit() {
        assert_eq!(parse_duration("15m"), Some(Duration::minutes(15)));
        assert_eq!(parse_duration("+1d"), Some(Duration::days(1)));
        assert_eq!(parse_duration("2w"), Some(Duration::weeks(2)));
        assert_eq!(parse_duration("3 days"), None);
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("я"), None);
        assert_eq!(parse_duration("99999999999d"), None);
    }

    #[test]
    fn money_literals_take_an_optional_currency() {
        assert_eq!(parse_money("1500.50 RUB"), Some(Money::rub(150_050)));
        assert_eq!(
            parse_money("10 USD"),
            Some(Money::new(1_000, Currency::USD))
        );
        assert_eq!(parse_money("0"), Some(Money::rub(0)));
        assert_eq!(parse_money("lots"), None);
    }
}
