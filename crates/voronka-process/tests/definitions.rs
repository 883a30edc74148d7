//! Data-driven tests over definition files: every shipped definition in
//! `process-definitions/` must validate without a single diagnostic, and every
//! file in `tests/invalid/` must produce exactly the diagnostics written in
//! the `.txt` golden file next to it. Run with `UPDATE_GOLDEN=1` to rewrite
//! the golden files after an intended change, then review the diff.

use std::path::{Path, PathBuf};
use voronka_process::{render_diagnostics, validate_source};

#[path = "support/generated.rs"]
mod generated;
use generated::generated_definition;

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn diagnostics_of(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let source = std::fs::read_to_string(path).unwrap();
    match validate_source(&name, &source) {
        Ok((_, warnings)) => render_diagnostics(&warnings),
        Err(diagnostics) => render_diagnostics(&diagnostics),
    }
}

#[test]
fn every_shipped_definition_validates_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../process-definitions");
    let files = files_with_extension(&dir, "yaml");
    assert!(
        files.len() >= 3,
        "expected the shipped definitions in {}",
        dir.display()
    );
    for path in files {
        let rendered = diagnostics_of(&path);
        assert!(
            rendered.is_empty(),
            "{} is not clean:\n{rendered}",
            path.display()
        );
    }
}

#[test]
fn every_invalid_definition_reports_its_golden_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    let files = files_with_extension(&dir, "yaml");
    assert!(files.len() >= 10);
    for path in files {
        let rendered = diagnostics_of(&path);
        assert!(
            !rendered.is_empty(),
            "{} produced no diagnostics",
            path.display()
        );
        let golden = path.with_extension("txt");
        if update {
            std::fs::write(&golden, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != rendered {
            mismatches.push(format!(
                "--- {}\nexpected:\n{expected}\nactual:\n{rendered}",
                golden.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_ten_megabyte_file_is_a_positioned_error_not_a_panic() {
    let source = format!("process: big\n# {}\n", "x".repeat(10 * 1024 * 1024));
    let diagnostics = validate_source("big.yaml", &source).unwrap_err();
    assert_eq!(diagnostics[0].code, "file_too_large");
    assert!(diagnostics[0]
        .to_string()
        .starts_with("big.yaml:1:1: error:"));
}

#[test]
fn a_generated_two_hundred_stage_definition_validates() {
    let source = generated_definition(200);
    let (process, warnings) = validate_source("generated.yaml", &source).unwrap();
    assert!(warnings.is_empty(), "{}", render_diagnostics(&warnings));
    assert_eq!(process.stages.len(), 202);
}

#[test]
fn the_complete_example_in_the_format_documentation_validates_clean() {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../process-definitions/README.md"),
    )
    .unwrap();
    let section = readme
        .split("## A complete small example")
        .nth(1)
        .expect("the example section");
    let example = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a yaml block");
    match validate_source("README.md", example) {
        Ok((_, warnings)) => assert!(warnings.is_empty(), "{}", render_diagnostics(&warnings)),
        Err(diagnostics) => panic!("{}", render_diagnostics(&diagnostics)),
    }
}
