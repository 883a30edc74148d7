//! Compiler-style diagnostics for process definitions: every problem found in
//! a file, each with its line and column, printed as `file:line:col: error: ...`
//! so designers (and editors) can jump straight to it.

use serde::Serialize;
use std::fmt;

/// A place in a definition file; line and column count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct Location {
    pub line: u32,
    pub column: u32,
}

impl Location {
    pub const START: Location = Location { line: 1, column: 1 };

    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// How bad a diagnostic is: errors stop a definition from being accepted,
/// warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in a definition file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub location: Location,
    pub severity: Severity,
    /// A stable machine code such as `unknown_stage` or `duplicate_id`.
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {} [{}]",
            self.file,
            self.location.line,
            self.location.column,
            self.severity.as_str(),
            self.message,
            self.code
        )
    }
}

/// Prints diagnostics one per line, sorted by position, like a compiler.
pub fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.file, a.location, a.severity, &a.message)
            .cmp(&(&b.file, b.location, b.severity, &b.message))
    });
    let mut out = String::new();
    for diagnostic in sorted {
        out.push_str(&diagnostic.to_string());
        out.push('\n');
    }
    out
}

/// Whether any diagnostic is an error (the CLI exits non-zero then).
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

/// Collects diagnostics for one file while it is being checked.
#[derive(Debug)]
pub(crate) struct DiagnosticSink {
    file: String,
    pub(crate) items: Vec<Diagnostic>,
}

/// More errors than this in one file are summarised, so a pathological input
/// cannot make validation produce megabytes of output.
pub const MAX_DIAGNOSTICS: usize = 200;

impl DiagnosticSink {
    pub(crate) fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            items: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, at: Location, code: &'static str, message: impl Into<String>) {
        self.push(at, Severity::Error, code, message.into());
    }

    pub(crate) fn warning(&mut self, at: Location, code: &'static str, message: impl Into<String>) {
        self.push(at, Severity::Warning, code, message.into());
    }

    fn push(&mut self, at: Location, severity: Severity, code: &'static str, message: String) {
        if self.items.len() == MAX_DIAGNOSTICS {
            self.items.push(Diagnostic {
                file: self.file.clone(),
                location: at,
                severity: Severity::Error,
                code: "too_many_errors",
                message: format!("more than {MAX_DIAGNOSTICS} problems; stopping here"),
            });
        }
        if self.items.len() > MAX_DIAGNOSTICS {
            return;
        }
        self.items.push(Diagnostic {
            file: self.file.clone(),
            location: at,
            severity,
            code,
            message,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        has_errors(&self.items)
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    let mut current = vec![0; b_chars.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b_chars.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b_chars.len()]
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.len() > 64 {
        return None;
    }
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean `x`?)` or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match closest(word, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("stage", "stages"), 1);
        assert_eq!(edit_distance("probabilty", "probability"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("сделка", "сделки"), 1);
    }

    #[test]
    fn it_should_suggest_only_close_words() {
        assert_eq!(closest("stags", ["stages", "fields"]), Some("stages"));
        assert_eq!(closest("xyz", ["stages", "fields"]), None);
    }
}
