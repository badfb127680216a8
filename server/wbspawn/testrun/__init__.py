"""`wbspawn test`: a crate's own `cargo test` suite, run in the browsers."""
