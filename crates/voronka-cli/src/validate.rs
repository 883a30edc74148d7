//! `voronka validate FILE...`: checks process definitions and prints every
//! problem like a compiler, `file:line:column: error: ...`.

use anyhow::bail;
use std::path::PathBuf;

/// Larger files are refused before parsing; real definitions are kilobytes.
const MAX_DEFINITION_BYTES: u64 = 10 * 1024 * 1024;

pub fn run(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut errors = 0usize;
    let mut warnings = 0usize;
    for path in files {
        let name = path.display().to_string();
        let source = match read_definition(path) {
            Ok(source) => source,
            Err(message) => {
                eprintln!("{name}: error: {message}");
                errors += 1;
                continue;
            }
        };
        let diagnostics = match voronka_process::validate_source(&name, &source) {
            Ok((_, warnings)) => warnings,
            Err(diagnostics) => diagnostics,
        };
        let failed = voronka_process::has_errors(&diagnostics);
        let file_errors = diagnostics
            .iter()
            .filter(|d| d.severity == voronka_process::Severity::Error)
            .count();
        errors += file_errors;
        warnings += diagnostics.len() - file_errors;
        eprint!("{}", voronka_process::render_diagnostics(&diagnostics));
        if !failed {
            println!("{name}: ok");
        }
    }
    if errors > 0 {
        bail!("{errors} error(s), {warnings} warning(s)");
    }
    Ok(())
}

fn read_definition(path: &PathBuf) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if metadata.len() > MAX_DEFINITION_BYTES {
        return Err(format!(
            "the file is {} bytes; definitions are limited to {MAX_DEFINITION_BYTES}",
            metadata.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())
}
