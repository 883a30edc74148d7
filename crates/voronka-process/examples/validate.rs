//! `cargo run -p voronka-process --example validate -- FILE...`: what the CLI's
//! `voronka validate` will do, for designers until it is wired.

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let source = match std::fs::read_to_string(&path) {
            Ok(source) => source,
            Err(error) => {
                eprintln!("{path}: error: cannot read: {error}");
                failed = true;
                continue;
            }
        };
        let diagnostics = match voronka_process::validate_source(&path, &source) {
            Ok((_, warnings)) => warnings,
            Err(diagnostics) => diagnostics,
        };
        failed |= voronka_process::has_errors(&diagnostics);
        eprint!("{}", voronka_process::render_diagnostics(&diagnostics));
    }
    std::process::exit(i32::from(failed));
}
