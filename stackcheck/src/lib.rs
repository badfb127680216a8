//! Stack overflow checks for a wasm module: every write of the stack pointer is checked
//! against two bounds, and a write out of them traps before any memory is touched.
//!
//! A wasm thread's stack is a block of the shared heap with nothing below it but other data,
//! so an overflow silently overwrites the heap. binaryen's `--stack-check` pass fixes that,
//! and wbspawn used it; but the only binaryen this project's machines can install is
//! compiled to JavaScript, and it took 1.3 s per build of a debug app, most of the dev loop.
//! This pass does the same in a few tens of milliseconds, because it does less: it reads
//! the module once, rewrites only the function bodies that write the stack pointer, by
//! splicing bytes (no instruction is decoded into a tree or encoded again), and copies
//! every other byte as it is.
//!
//! What it adds is what binaryen's pass adds, so the runtime (`runtime-js/instance.js`) and
//! the release path's checks (`wasm-opt -O3` keeps them) work unchanged:
//!
//! - two globals, the base (highest allowed stack pointer) and the limit (lowest), which
//!   start wide open (base `0xFFFFFFFF`, limit 0: the instance's start function moves the
//!   stack pointer before anyone can set bounds);
//! - an exported `__set_stack_limits(base, limit)`;
//! - before each `global.set $__stack_pointer`: `if (sp > base || sp < limit) unreachable`
//!   (unsigned), the value kept in a new local.
//!
//! DWARF sections are dropped: their code offsets would no longer be true (binaryen drops
//! them too). The names section is kept, so stack traces name functions.

pub mod splice;

use std::fmt;

use wasmparser::{
    BinaryReader, CompositeInnerType, FunctionBody, Name, NameSectionReader, Operator, TypeRef,
};

/// The name of the export that sets the bounds.
pub const SET_LIMITS: &str = "__set_stack_limits";
/// The global the pass guards, as LLVM names it.
const STACK_POINTER: &str = "__stack_pointer";

const TYPE: u8 = 1;
const IMPORT: u8 = 2;
const FUNCTION: u8 = 3;
const GLOBAL: u8 = 6;
const EXPORT: u8 = 7;
const CODE: u8 = 10;
const CUSTOM: u8 = 0;

/// Why a module could not be read, instrumented or spliced.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(error: wasmparser::BinaryReaderError) -> Error {
        Error(format!("not a valid wasm module: {error}"))
    }
}

fn error(text: impl Into<String>) -> Error {
    Error(text.into())
}

/// What `instrument` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The module, with checks before each of `sites` writes of the stack pointer.
    Checked { module: Vec<u8>, sites: usize },
    /// The module has no stack pointer (nothing to check), or already has the checks.
    Unchanged(&'static str),
}

/// One section as it is in the module: its id and its contents' range.
struct Section {
    id: u8,
    start: usize,
    end: usize,
}

fn sections(module: &[u8]) -> Result<Vec<Section>, Error> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Err(error("not a wasm module (version 1)"));
    }
    let mut reader = BinaryReader::new(module, 0);
    reader.read_bytes(8)?;
    let mut found = Vec::new();
    while !reader.eof() {
        let id = reader.read_u8()?;
        let size = reader.read_var_u32()? as usize;
        let start = reader.original_position();
        reader.read_bytes(size)?;
        found.push(Section {
            id,
            start,
            end: start + size,
        });
    }
    Ok(found)
}

fn section<'a>(module: &'a [u8], all: &[Section], id: u8) -> Option<&'a [u8]> {
    all.iter()
        .find(|s| s.id == id)
        .map(|s| &module[s.start..s.end])
}

fn custom_name(module: &[u8], section: &Section) -> Result<String, Error> {
    let mut reader = BinaryReader::new(&module[section.start..section.end], section.start);
    Ok(reader.read_string()?.to_string())
}

/// The index of the stack pointer global, from the names section.
fn stack_pointer(module: &[u8], all: &[Section]) -> Result<Option<u32>, Error> {
    for s in all.iter().filter(|s| s.id == CUSTOM) {
        if custom_name(module, s)? != "name" {
            continue;
        }
        let mut reader = BinaryReader::new(&module[s.start..s.end], s.start);
        reader.read_string()?;
        let names = NameSectionReader::new(reader);
        for name in names {
            if let Name::Global(map) = name? {
                for naming in map {
                    let naming = naming?;
                    if naming.name == STACK_POINTER {
                        return Ok(Some(naming.index));
                    }
                }
            }
        }
    }
    Ok(None)
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A section's contents: a vector's count and the bytes of its entries.
fn vector(contents: &[u8], offset: usize) -> Result<(u32, &[u8]), Error> {
    let mut reader = BinaryReader::new(contents, offset);
    let count = reader.read_var_u32()?;
    let skip = reader.original_position() - offset;
    Ok((count, &contents[skip..]))
}

/// The vector with `extra` entries appended.
fn append(contents: &[u8], offset: usize, extra: u32, entries: &[u8]) -> Result<Vec<u8>, Error> {
    let (count, rest) = vector(contents, offset)?;
    let mut out = Vec::with_capacity(contents.len() + entries.len() + 5);
    write_u32(&mut out, count + extra);
    out.extend_from_slice(rest);
    out.extend_from_slice(entries);
    Ok(out)
}

/// The module with the checks added (see the crate's docs).
pub fn instrument(module: &[u8]) -> Result<Outcome, Error> {
    let all = sections(module)?;
    let Some(sp) = stack_pointer(module, &all)? else {
        return Ok(Outcome::Unchanged("the module has no __stack_pointer"));
    };
    let offset_of = |id: u8| all.iter().find(|s| s.id == id).map_or(0, |s| s.start);
    let needed = |id: u8, what: &str| {
        section(module, &all, id).ok_or_else(|| error(format!("the module has no {what} section")))
    };
    let types = needed(TYPE, "type")?;
    let functions = needed(FUNCTION, "function")?;
    let globals = needed(GLOBAL, "global")?;
    let exports = needed(EXPORT, "export")?;
    let code = needed(CODE, "code")?;

    // Parameters of each type, to number a function's locals.
    let mut params = Vec::new();
    for group in wasmparser::TypeSectionReader::new(BinaryReader::new(types, offset_of(TYPE)))? {
        for sub in group?.into_types() {
            params.push(match &sub.composite_type.inner {
                CompositeInnerType::Func(func) => func.params().len() as u32,
                _ => 0,
            });
        }
    }
    let (mut imported_functions, mut imported_globals) = (0u32, 0u32);
    if let Some(imports) = section(module, &all, IMPORT) {
        let reader =
            wasmparser::ImportSectionReader::new(BinaryReader::new(imports, offset_of(IMPORT)))?;
        for import in reader.into_imports() {
            match import?.ty {
                TypeRef::Func(_) | TypeRef::FuncExact(_) => imported_functions += 1,
                TypeRef::Global(_) => imported_globals += 1,
                _ => {}
            }
        }
    }
    for export in
        wasmparser::ExportSectionReader::new(BinaryReader::new(exports, offset_of(EXPORT)))?
    {
        if export?.name == SET_LIMITS {
            return Ok(Outcome::Unchanged("the module has stack checks already"));
        }
    }
    let function_types: Vec<u32> =
        wasmparser::FunctionSectionReader::new(BinaryReader::new(functions, offset_of(FUNCTION)))?
            .into_iter()
            .collect::<Result<_, _>>()?;
    let (defined_globals, _) = vector(globals, offset_of(GLOBAL))?;
    let base = imported_globals + defined_globals;
    let limit = base + 1;
    let new_type = params.len() as u32;
    let new_function = imported_functions + function_types.len() as u32;

    // The code: each body that writes the stack pointer, rewritten.
    let mut sites = 0;
    let mut new_code = Vec::with_capacity(code.len() + code.len() / 8);
    write_u32(&mut new_code, function_types.len() as u32 + 1);
    let bodies = wasmparser::CodeSectionReader::new(BinaryReader::new(code, offset_of(CODE)))?;
    for (body, type_index) in bodies.into_iter().zip(&function_types) {
        let body = body?;
        let own_params = params.get(*type_index as usize).copied().unwrap_or(0);
        let (bytes, count) = checked_body(module, &body, own_params, sp, base, limit)?;
        sites += count;
        write_u32(&mut new_code, bytes.len() as u32);
        new_code.extend_from_slice(&bytes);
    }
    // __set_stack_limits: local.get 0; global.set base; local.get 1; global.set limit.
    let mut setter = vec![0x00, 0x20, 0x00, 0x24];
    write_u32(&mut setter, base);
    setter.extend_from_slice(&[0x20, 0x01, 0x24]);
    write_u32(&mut setter, limit);
    setter.push(0x0b);
    write_u32(&mut new_code, setter.len() as u32);
    new_code.extend_from_slice(&setter);

    let mut out = Vec::with_capacity(module.len() + module.len() / 8);
    out.extend_from_slice(&module[..8]);
    for s in &all {
        let contents = &module[s.start..s.end];
        let replaced = match s.id {
            // (func (param i32 i32))
            TYPE => Some(append(
                contents,
                s.start,
                1,
                &[0x60, 0x02, 0x7f, 0x7f, 0x00],
            )?),
            FUNCTION => {
                let mut entry = Vec::new();
                write_u32(&mut entry, new_type);
                Some(append(contents, s.start, 1, &entry)?)
            }
            // (global (mut i32) (i32.const -1)) and (global (mut i32) (i32.const 0))
            GLOBAL => Some(append(
                contents,
                s.start,
                2,
                &[0x7f, 0x01, 0x41, 0x7f, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b],
            )?),
            EXPORT => {
                let mut entry = Vec::new();
                write_u32(&mut entry, SET_LIMITS.len() as u32);
                entry.extend_from_slice(SET_LIMITS.as_bytes());
                entry.push(0x00);
                write_u32(&mut entry, new_function);
                Some(append(contents, s.start, 1, &entry)?)
            }
            CODE => Some(std::mem::take(&mut new_code)),
            CUSTOM if custom_name(module, s)?.starts_with(".debug_") => continue,
            _ => None,
        };
        let contents = replaced.as_deref().unwrap_or(contents);
        out.push(s.id);
        write_u32(&mut out, contents.len() as u32);
        out.extend_from_slice(contents);
    }
    Ok(Outcome::Checked { module: out, sites })
}

/// A function body with a check before each write of the stack pointer, and how many it
/// got; the body as it is if it has none.
fn checked_body(
    module: &[u8],
    body: &FunctionBody<'_>,
    params: u32,
    sp: u32,
    base: u32,
    limit: u32,
) -> Result<(Vec<u8>, usize), Error> {
    let range = body.range();
    let mut locals = body.get_locals_reader()?;
    let groups = locals.get_count();
    let mut declared = 0u32;
    for _ in 0..groups {
        declared += locals.read()?.0;
    }
    let code_start = locals.original_position();
    let mut sets: Vec<(usize, usize)> = Vec::new();
    let mut operators = body.get_operators_reader()?;
    let mut pending: Option<usize> = None;
    while !operators.eof() {
        let (operator, at) = operators.read_with_offset()?;
        if let Some(start) = pending.take() {
            sets.push((start, at));
        }
        if matches!(operator, Operator::GlobalSet { global_index } if global_index == sp) {
            pending = Some(at);
        }
    }
    if pending.is_some() {
        return Err(error("a function body ends with a global.set"));
    }
    if sets.is_empty() {
        return Ok((module[range].to_vec(), 0));
    }
    let temp = params + declared;
    let mut out = Vec::with_capacity(range.len() + sets.len() * 24);
    // The locals: the same groups, then one i32 for the value being checked.
    write_u32(&mut out, groups + 1);
    let groups_start = {
        let mut reader = BinaryReader::new(&module[range.start..], range.start);
        reader.read_var_u32()?;
        reader.original_position()
    };
    out.extend_from_slice(&module[groups_start..code_start]);
    out.extend_from_slice(&[0x01, 0x7f]);
    let mut copied = code_start;
    for &(start, end) in &sets {
        out.extend_from_slice(&module[copied..start]);
        // local.tee t; global.get base; i32.gt_u; local.get t; global.get limit; i32.lt_u;
        // i32.or; if; unreachable; end; local.get t; then the global.set itself.
        out.push(0x22);
        write_u32(&mut out, temp);
        out.push(0x23);
        write_u32(&mut out, base);
        out.push(0x4b);
        out.push(0x20);
        write_u32(&mut out, temp);
        out.push(0x23);
        write_u32(&mut out, limit);
        out.extend_from_slice(&[0x49, 0x72, 0x04, 0x40, 0x00, 0x0b, 0x20]);
        write_u32(&mut out, temp);
        out.extend_from_slice(&module[start..end]);
        copied = end;
    }
    out.extend_from_slice(&module[copied..range.end]);
    Ok((out, sets.len()))
}
