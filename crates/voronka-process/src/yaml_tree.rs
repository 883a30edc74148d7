//! A small YAML tree in which every node remembers where it was written.
//!
//! Serde-based YAML loaders forget positions, and validation must report every
//! problem with its line and column, so we read yaml-rust2's event stream and
//! build our own tree. This is also where hostile input is stopped: a size
//! limit, a nesting limit, a node-count limit and no anchors or aliases (which
//! could expand exponentially), each reported as a positioned error.

use crate::diagnostic::Location;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The largest definition file accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 2 * 1024 * 1024;
/// The deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 32;
/// The most nodes one file may hold; below `u16::MAX`, so compiled ids never
/// overflow.
pub const MAX_NODES: usize = 60_000;

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Location,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// A scalar: its text and whether it was quoted (a quoted `"12"` is text,
    /// never a number).
    Scalar {
        text: String,
        quoted: bool,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Scalar { text, quoted } => {
                if *quoted {
                    "a string"
                } else if is_null(text) {
                    "nothing (null)"
                } else if text.parse::<i64>().is_ok() {
                    "a number"
                } else if text == "true" || text == "false" {
                    "a boolean"
                } else {
                    "a string"
                }
            }
            NodeValue::Sequence(_) => "a list",
            NodeValue::Mapping(_) => "a mapping",
        }
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, NodeValue::Scalar { text, quoted: false } if is_null(text))
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Why a file could not be read as YAML at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub at: Location,
    pub code: &'static str,
    pub message: String,
}

fn location(mark: &Marker) -> Location {
    Location::new(
        u32::try_from(mark.line()).unwrap_or(u32::MAX).max(1),
        u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
    )
}

enum Open {
    Sequence(Location, Vec<Node>),
    Mapping(Location, Vec<(Node, Node)>, Option<Node>),
}

/// Parses one YAML document into a positioned tree. An empty document is
/// `Ok(None)`.
pub fn parse(source: &str) -> Result<Option<Node>, YamlError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(YamlError {
            at: Location::START,
            code: "file_too_large",
            message: format!(
                "the file is {} bytes; a definition may be at most {} bytes",
                source.len(),
                MAX_SOURCE_BYTES
            ),
        });
    }
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError {
            at: location(e.marker()),
            code: "yaml_syntax",
            message: format!("YAML syntax: {}", e.info()),
        })?;
        let at = location(&mark);
        let finished: Option<Node> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        at,
                        code: "multiple_documents",
                        message: "a definition file holds exactly one YAML document".into(),
                    });
                }
                None
            }
            Event::Alias(_) => {
                return Err(YamlError {
                    at,
                    code: "alias_not_supported",
                    message: "anchors and aliases (`&x`, `*x`) are not supported; write the value out (quote a literal `*`)".into(),
                })
            }
            Event::Scalar(text, style, anchor, _tag) => {
                reject_anchor(anchor, at)?;
                Some(Node {
                    at,
                    value: NodeValue::Scalar {
                        text,
                        quoted: !matches!(style, TScalarStyle::Plain),
                    },
                })
            }
            Event::SequenceStart(anchor, _) => {
                reject_anchor(anchor, at)?;
                push_open(&mut stack, Open::Sequence(at, Vec::new()))?;
                None
            }
            Event::MappingStart(anchor, _) => {
                reject_anchor(anchor, at)?;
                push_open(&mut stack, Open::Mapping(at, Vec::new(), None))?;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Sequence(at, items)) => Some(Node {
                    at,
                    value: NodeValue::Sequence(items),
                }),
                Some(Open::Mapping(at, entries, _)) => Some(Node {
                    // A block mapping's start mark lies after its first key;
                    // point at the key, where a reader looks.
                    at: entries.first().map_or(at, |(key, _)| key.at.min(at)),
                    value: NodeValue::Mapping(entries),
                }),
                None => None,
            },
        };
        if let Some(node) = finished {
            nodes += 1;
            if nodes > MAX_NODES {
                return Err(YamlError {
                    at: node.at,
                    code: "too_many_nodes",
                    message: format!("the file holds more than {MAX_NODES} values"),
                });
            }
            match stack.last_mut() {
                Some(Open::Sequence(_, items)) => items.push(node),
                Some(Open::Mapping(_, entries, pending_key)) => match pending_key.take() {
                    Some(key) => entries.push((key, node)),
                    None => *pending_key = Some(node),
                },
                None => root = Some(node),
            }
        }
    }
    Ok(root)
}

fn reject_anchor(anchor: usize, at: Location) -> Result<(), YamlError> {
    if anchor == 0 {
        Ok(())
    } else {
        Err(YamlError {
            at,
            code: "alias_not_supported",
            message: "anchors and aliases (`&x`, `*x`) are not supported; write the value out"
                .into(),
        })
    }
}

fn push_open(stack: &mut Vec<Open>, open: Open) -> Result<(), YamlError> {
    if stack.len() >= MAX_DEPTH {
        let at = match &open {
            Open::Sequence(at, _) | Open::Mapping(at, _, _) => *at,
        };
        return Err(YamlError {
            at,
            code: "too_deep",
            message: format!("the file nests deeper than {MAX_DEPTH} levels"),
        });
    }
    stack.push(open);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_should_keep_line_and_column_of_every_node() {
        let root = parse("a: 1\nb:\n  - x\n  - \"y\"\n").unwrap().unwrap();
        let NodeValue::Mapping(entries) = root.value else {
            panic!("mapping expected")
        };
        assert_eq!(entries[1].0.at, Location::new(2, 1));
        let NodeValue::Sequence(items) = &entries[1].1.value else {
            panic!("sequence expected")
        };
        assert_eq!(items[1].at, Location::new(4, 5));
        assert_eq!(
            items[1].value,
            NodeValue::Scalar {
                text: "y".into(),
                quoted: true
            }
        );
    }

    #[test]
    fn it_should_reject_deep_nesting_without_overflowing_the_stack() {
        // yaml-rust2 refuses very deep flow nesting itself; our own limit
        // catches block nesting and moderately deep flow nesting.
        let source = "[".repeat(100_000);
        assert!(parse(&source).is_err());
        let flow = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse(&flow).unwrap_err().code, "too_deep");
        let block: String = (0..40)
            .map(|depth| format!("{}k{depth}:\n", "  ".repeat(depth)))
            .collect();
        assert_eq!(parse(&block).unwrap_err().code, "too_deep");
    }

    #[test]
    fn it_should_reject_aliases() {
        let err = parse("a: &x [1]\nb: *x\n").unwrap_err();
        assert_eq!(err.code, "alias_not_supported");
    }

    #[test]
    fn it_should_report_syntax_errors_with_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.code, "yaml_syntax");
        assert!(err.at.line >= 1);
    }

    #[test]
    fn it_should_survive_pathological_inputs() {
        let cases = [
            "- ".repeat(50_000),
            "{".repeat(50_000),
            "a: ".repeat(50_000),
            "\"unterminated".to_string(),
            "\u{feff}process: x\n".to_string(),
            "a:\tb\n\t- c".to_string(),
            "\0\0\0".to_string(),
            "? [a, b]\n: c\n".to_string(),
            "--- a\n--- b\n".to_string(),
            "!!binary aGVsbG8=".to_string(),
            "key: |\n  literal\n  text\n".to_string(),
        ];
        for source in cases {
            let _ = parse(&source);
        }
    }
}
