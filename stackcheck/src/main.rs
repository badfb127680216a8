//! `wbspawn-stackcheck MODULE.wasm`: adds stack overflow checks to the module, in place.
//!
//! Prints one line on stdout: `checked N` (the writes of the stack pointer it guards) or
//! `unchanged: <why>`; an error is one line on stderr and exit status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wbspawn_stackcheck::{instrument, Outcome};

fn run(path: &Path) -> Result<String, String> {
    let module = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match instrument(&module).map_err(|e| format!("{}: {e}", path.display()))? {
        Outcome::Unchanged(why) => Ok(format!("unchanged: {why}")),
        Outcome::Checked { module, sites } => {
            // Written beside it, then renamed over it: a reader never sees half a module.
            let mut staged = PathBuf::from(path);
            staged.as_mut_os_string().push(".stack-check");
            std::fs::write(&staged, module)
                .and_then(|()| std::fs::rename(&staged, path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&staged);
                    format!("cannot write {}: {e}", path.display())
                })?;
            Ok(format!("checked {sites}"))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: wbspawn-stackcheck MODULE.wasm");
        return ExitCode::FAILURE;
    };
    match run(Path::new(path)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("wbspawn-stackcheck: error: {message}");
            ExitCode::FAILURE
        }
    }
}
