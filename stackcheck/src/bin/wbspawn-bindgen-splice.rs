//! `wbspawn-bindgen-splice OLD_INPUT OLD_OUTPUT NEW_INPUT OUT`: writes to OUT wasm-bindgen's
//! output for NEW_INPUT, made from its OLD_OUTPUT of OLD_INPUT (`splice.rs` says when it can).
//!
//! Prints one line on stdout: `spliced N` (the function bodies it put in) or `refused: <why>`
//! (OUT is not written; run wasm-bindgen); an error is one line on stderr and exit status 1.

use std::path::Path;
use std::process::ExitCode;

use wbspawn_stackcheck::splice::{splice, Splice};

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn run(old_input: &str, old_output: &str, new_input: &str, out: &str) -> Result<String, String> {
    let spliced = splice(&read(old_input)?, &read(old_output)?, &read(new_input)?)
        .map_err(|e| e.to_string())?;
    match spliced {
        Splice::Refused(why) => Ok(format!("refused: {why}")),
        Splice::Spliced { module, functions } => {
            std::fs::write(Path::new(out), module)
                .map_err(|e| format!("cannot write {out}: {e}"))?;
            Ok(format!("spliced {functions}"))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old_input, old_output, new_input, out] = args.as_slice() else {
        eprintln!("usage: wbspawn-bindgen-splice OLD_INPUT OLD_OUTPUT NEW_INPUT OUT");
        return ExitCode::FAILURE;
    };
    match run(old_input, old_output, new_input, out) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("wbspawn-bindgen-splice: error: {message}");
            ExitCode::FAILURE
        }
    }
}
