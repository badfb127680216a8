//! Splices a new build's changed function bodies into wasm-bindgen's last output, so that a
//! small Rust edit does not pay for a whole wasm-bindgen run (150 to 200 ms on a debug build
//! of a small app: it parses, rewrites and emits every function of the module).
//!
//! wasm-bindgen's output is a function of its input. When two inputs (the last build's and
//! this one's) differ only in function bodies, data and the constant globals that hold static
//! addresses, and every function whose body changed came through wasm-bindgen untouched
//! (renumbered, its locals regrouped, its dead code dropped, nothing else), then the last
//! output with those bodies put back in, renumbered the same way, the new data and the moved
//! constants, is what wasm-bindgen would make of the new input up to the order of functions
//! and locals, with the same glue (give or take an adapter for an import the new code no
//! longer calls). Anything else (a changed import, export, type, table, custom section, a
//! function added or removed, a changed body wasm-bindgen had rewritten or dropped, as it does
//! with descriptors, closures, casts and externref shims) is refused, and the caller runs
//! wasm-bindgen.
//!
//! How an old input body is known to be untouched: it is walked beside its output body (found
//! by name: wasm-bindgen keeps names, demangled) instruction by instruction; each index in it
//! (function, global, type, table, data, element, tag) must map to the output's the same way
//! everywhere it occurs, each local to one output local of the same type, and every other
//! immediate must be equal. The map learnt so also renumbers the new body. A function only the
//! new body calls is found by name, only if it is defined on both sides (wasm-bindgen routes
//! calls to some imports through wrappers of its own), unambiguous and of the same signature.
//! The new bodies are validated in the output before it is written.
//!
//! What else it refuses, because wasm-bindgen reads it: a changed body that calls a descriptor
//! import (`__wbindgen_describe*`), or that gains or loses exception-handling instructions
//! (their presence in the module switches wasm-bindgen's catch wrappers and glue); a moved
//! `__tls_size`, `__tls_align` (the threads pass) or `__instance_terminated` (the catch
//! wrappers hold its address), or a moved global an element segment's offset reads.
//!
//! What it trusts: that the functions wasm-bindgen interprets (descriptors, closures, casts)
//! are dropped from its output, so that a change in one has no counterpart and is refused. A
//! function that both a descriptor and ordinary code call would be kept, and a change in it
//! accepted; wasm-bindgen's own describe helpers are not called so.

use std::collections::HashMap;

use crate::Error;
use crate::{CODE, CUSTOM, GLOBAL};
use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::{Encode, Section as _};
use wasmparser::{
    BinaryReader, FunctionBody, Name, NameSectionReader, Operator, Parser, Payload, TypeRef,
    ValType,
};

/// What `splice` made.
#[derive(Debug, PartialEq, Eq)]
pub enum Splice {
    /// The new output, and how many function bodies were put in.
    Spliced { module: Vec<u8>, functions: usize },
    /// Why the new input needs a wasm-bindgen run.
    Refused(String),
}

/// What engines accept (and far more than rustc makes).
const MOST_LOCALS: usize = 50_000;
const DATA: u8 = 11;

/// A module's sections as they are, and what the splice needs from them.
struct Module<'a> {
    bytes: &'a [u8],
    /// (id, custom section name or "", range of the whole section including its header)
    sections: Vec<(u8, String, std::ops::Range<usize>)>,
    imported_functions: u32,
    /// Each imported function's type index, then each defined function's.
    import_types: Vec<u32>,
    function_types: Vec<u32>,
    types: Vec<wasmparser::FuncType>,
    bodies: Vec<FunctionBody<'a>>,
    /// Function names from the name section, by function index.
    names: HashMap<u32, &'a str>,
    globals: Vec<wasmparser::Global<'a>>,
    /// Names of exported globals, by global index.
    exported_globals: HashMap<u32, &'a str>,
    /// The imported functions whose calls wasm-bindgen interprets (`__wbindgen_describe*`).
    describe_imports: Vec<u32>,
    /// The globals that element or data segments' offsets read.
    offset_globals: Vec<u32>,
}

impl<'a> Module<'a> {
    fn read(bytes: &'a [u8]) -> Result<Module<'a>, Error> {
        let mut module = Module {
            bytes,
            sections: Vec::new(),
            imported_functions: 0,
            import_types: Vec::new(),
            function_types: Vec::new(),
            types: Vec::new(),
            bodies: Vec::new(),
            names: HashMap::new(),
            globals: Vec::new(),
            exported_globals: HashMap::new(),
            describe_imports: Vec::new(),
            offset_globals: Vec::new(),
        };
        let mut section_start = 8;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload?;
            let Some((id, range)) = payload.as_section() else {
                if let Payload::CodeSectionEntry(body) = payload {
                    module.bodies.push(body);
                }
                continue;
            };
            // `range` covers the contents; the section starts where the last one ended.
            let whole = section_start..range.end;
            section_start = range.end;
            let mut name = String::new();
            match payload {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for ty in group?.into_types() {
                            match ty.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => module.types.push(f),
                                _ => return Err(Error("a type that is not a function".into())),
                            }
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        if let TypeRef::Func(ty) = import.ty {
                            if import.name.starts_with("__wbindgen_describe") {
                                module.describe_imports.push(module.imported_functions);
                            }
                            module.imported_functions += 1;
                            module.import_types.push(ty);
                        }
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        module.globals.push(global?);
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        if export.kind == wasmparser::ExternalKind::Global {
                            module.exported_globals.insert(export.index, export.name);
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        module.function_types.push(ty?);
                    }
                }
                Payload::ElementSection(reader) => {
                    for element in reader {
                        if let wasmparser::ElementKind::Active { offset_expr, .. } = element?.kind {
                            module.offset_globals.extend(globals_read(&offset_expr));
                        }
                    }
                }
                Payload::DataSection(reader) => {
                    for data in reader {
                        if let wasmparser::DataKind::Active { offset_expr, .. } = data?.kind {
                            module.offset_globals.extend(globals_read(&offset_expr));
                        }
                    }
                }
                Payload::CustomSection(reader) => {
                    name = reader.name().to_string();
                    if name == "name" {
                        let names = NameSectionReader::new(BinaryReader::new(
                            reader.data(),
                            reader.data_offset(),
                        ));
                        for subsection in names {
                            if let Name::Function(map) = subsection? {
                                module.names.reserve(map.count() as usize);
                                for naming in map {
                                    let naming = naming?;
                                    module.names.insert(naming.index, naming.name);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            module.sections.push((id, name, whole));
        }
        Ok(module)
    }

    fn section(&self, id: u8, name: &str) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        self.sections
            .iter()
            .find(|(i, n, _)| *i == id && n == name)
            .map(|(_, _, range)| &bytes[range.clone()])
    }

    /// The signature of function `index` (imported or defined).
    fn function_type(&self, index: u32) -> Option<&wasmparser::FuncType> {
        let ty = match index.checked_sub(self.imported_functions) {
            None => self.import_types.get(index as usize)?,
            Some(defined) => self.function_types.get(defined as usize)?,
        };
        self.types.get(*ty as usize)
    }

    fn body_bytes(&self, index: usize) -> &'a [u8] {
        let range = self.bodies[index].range();
        &self.bytes[range.start..range.end]
    }

    /// The types of a defined function's locals, parameters first.
    fn locals(&self, defined: usize) -> Result<Vec<ValType>, Error> {
        let ty = self
            .types
            .get(self.function_types[defined] as usize)
            .ok_or_else(|| Error("a function of an unknown type".into()))?;
        let mut locals = ty.params().to_vec();
        for pair in self.bodies[defined].get_locals_reader()? {
            let (count, ty) = pair?;
            if locals.len() + count as usize > MOST_LOCALS {
                return Err(Error("a function with more locals than wasm allows".into()));
            }
            locals.extend(std::iter::repeat_n(ty, count as usize));
        }
        Ok(locals)
    }
}

/// The globals a constant expression reads.
fn globals_read(expr: &wasmparser::ConstExpr) -> Vec<u32> {
    let ops = expr.get_operators_reader().into_iter();
    ops.filter_map(|op| match op {
        Ok(Operator::GlobalGet { global_index }) => Some(global_index),
        _ => None,
    })
    .collect()
}

/// Whether a body uses exception handling, and whether it calls one of `describe`.
fn body_traits(body: &FunctionBody, describe: &[u32]) -> Result<(bool, bool), Error> {
    let (mut handles, mut describes) = (false, false);
    for op in body.get_operators_reader()? {
        match op? {
            Operator::Try { .. }
            | Operator::TryTable { .. }
            | Operator::Catch { .. }
            | Operator::CatchAll
            | Operator::Delegate { .. }
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Rethrow { .. } => handles = true,
            Operator::Call { function_index } | Operator::ReturnCall { function_index }
                if describe.contains(&function_index) =>
            {
                describes = true
            }
            _ => {}
        }
    }
    Ok((handles, describes))
}

/// The sections wasm-bindgen reads besides code and data: a change in any of them may change
/// its output anywhere.
fn same_besides_code_and_data(old: &Module, new: &Module) -> Result<(), String> {
    let keys = |m: &Module| -> Vec<(u8, String)> {
        m.sections
            .iter()
            .map(|(id, name, _)| (*id, name.clone()))
            .collect()
    };
    if keys(old) != keys(new) {
        return Err("its sections changed".into());
    }
    // Section by section, in order: a module may hold two custom sections of one name.
    for ((id, name, before), (_, _, after)) in old.sections.iter().zip(&new.sections) {
        if *id == CODE || *id == DATA || *id == GLOBAL {
            continue;
        }
        if old.bytes[before.clone()] != new.bytes[after.clone()] {
            let what = if *id == CUSTOM {
                format!("custom section {name}")
            } else {
                format!("section {id}")
            };
            return Err(format!("its {what} changed"));
        }
    }
    if old.bodies.len() != new.bodies.len() {
        return Err("functions were added or removed".into());
    }
    Ok(())
}

/// Where wasm-bindgen's output has each function of its input, found by the name it gives
/// it: demangled, with `[n]` after the nth repeat of a name, as wasm-bindgen numbers them; and
/// for an export's function, which wasm-bindgen's macro names after the export with a hash
/// (`run_0123456789abcdef`), by the name without the hash. A name that two functions of either
/// side have finds nothing.
struct Counterparts<'m> {
    input: &'m Module<'m>,
    output_module: &'m Module<'m>,
    /// Output names, and the function of each (None: more than one has it).
    output: HashMap<&'m str, Option<u32>>,
    /// Each input function's output name.
    named: HashMap<u32, String>,
    /// How many input functions have each output name.
    taken: Names<u32>,
}

/// A map keyed by function names, with a hash cheaper than std's (thousands of names per
/// splice; nothing here is hashed from untrusted input an attacker could collide).
type Names<V> = HashMap<String, V, std::hash::BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

impl<'m> Counterparts<'m> {
    fn new(input: &'m Module<'m>, output: &'m Module<'m>) -> Counterparts<'m> {
        let mut names: HashMap<&str, Option<u32>> = HashMap::with_capacity(output.names.len());
        for (&index, &name) in &output.names {
            names
                .entry(name)
                .and_modify(|found| *found = None)
                .or_insert(Some(index));
        }
        let named = numbered(input);
        let mut taken = Names::with_capacity_and_hasher(named.len(), Default::default());
        for name in named.values() {
            *taken.entry(name.clone()).or_insert(0) += 1;
        }
        Counterparts {
            input,
            output_module: output,
            output: names,
            named,
            taken,
        }
    }

    fn get(&self, index: u32) -> Option<u32> {
        let name = self.named.get(&index)?;
        if self.taken.get(name) != Some(&1) {
            return None;
        }
        if let Some(&found) = self.output.get(name.as_str()) {
            return found;
        }
        let (plain, hash) = name.rsplit_once('_')?;
        let hashed = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !hashed || self.taken.contains_key(plain) {
            return None;
        }
        self.output.get(plain).copied().flatten()
    }

    /// The counterpart of a function only a new body calls: a function defined on both sides
    /// (wasm-bindgen routes calls to some imports through wrappers, which a new call by name
    /// would skip), of the same signature (the externref pass changes some).
    fn callable(&self, index: u32) -> Option<u32> {
        let out = self.get(index)?;
        let defined =
            index >= self.input.imported_functions && out >= self.output_module.imported_functions;
        let same = self.input.function_type(index)? == self.output_module.function_type(out)?;
        (defined && same).then_some(out)
    }
}

/// Every function's output name, numbering repeats as wasm-bindgen does, in index order.
fn numbered(input: &Module) -> HashMap<u32, String> {
    let mut seen: Names<u32> =
        Names::with_capacity_and_hasher(input.names.len(), Default::default());
    let mut indices: Vec<_> = input.names.iter().map(|(i, n)| (*i, *n)).collect();
    indices.sort_unstable();
    let mut names = HashMap::with_capacity(indices.len());
    for (index, raw) in indices {
        let Ok(symbol) = rustc_demangle::try_demangle(raw) else {
            names.insert(index, raw.to_string());
            continue;
        };
        let plain = symbol.to_string();
        let count = seen.entry(plain.clone()).or_insert(0);
        let named = if *count == 0 {
            plain
        } else {
            format!("{plain}[{count}]")
        };
        *count += 1;
        names.insert(index, named);
    }
    names
}

/// One index space's map from input to output, learnt as bodies are compared.
#[derive(Default, Clone)]
struct IndexMap(HashMap<u32, u32>);

impl IndexMap {
    /// Records `from -> to`; false if `from` already maps elsewhere.
    fn learn(&mut self, from: u32, to: u32) -> bool {
        *self.0.entry(from).or_insert(to) == to
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Space {
    Data,
    Element,
    Function,
    Global,
    Memory,
    Table,
    Tag,
    Type,
}

/// Input-to-output maps, one per index space.
#[derive(Default, Clone)]
struct Maps(HashMap<Space, IndexMap>);

impl Maps {
    fn get(&self, space: Space, index: u32) -> Option<u32> {
        self.0
            .get(&space)
            .and_then(|map| map.0.get(&index).copied())
    }
}

/// A reencoder that hands each index through `on_index`.
struct Indices<F: FnMut(Space, u32) -> Option<u32>>(F);

impl<F: FnMut(Space, u32) -> Option<u32>> Indices<F> {
    fn map(&mut self, space: Space, index: u32) -> Result<u32, ReencodeError<String>> {
        (self.0)(space, index).ok_or_else(|| {
            ReencodeError::UserError(format!("{space:?} index {index} has no counterpart"))
        })
    }
}

impl<F: FnMut(Space, u32) -> Option<u32>> Reencode for Indices<F> {
    type Error = String;
    fn data_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Data, i)
    }
    fn element_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Element, i)
    }
    fn function_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Function, i)
    }
    fn global_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Global, i)
    }
    fn memory_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Memory, i)
    }
    fn table_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Table, i)
    }
    fn tag_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Tag, i)
    }
    fn type_index(&mut self, i: u32) -> Result<u32, ReencodeError<String>> {
        self.map(Space::Type, i)
    }
}

fn encode(instruction: &wasm_encoder::Instruction) -> Vec<u8> {
    let mut bytes = Vec::new();
    instruction.encode(&mut bytes);
    bytes
}

fn local_index(op: &Operator) -> Option<(u8, u32)> {
    match *op {
        Operator::LocalGet { local_index } => Some((0, local_index)),
        Operator::LocalSet { local_index } => Some((1, local_index)),
        Operator::LocalTee { local_index } => Some((2, local_index)),
        _ => None,
    }
}

/// Whether input body `a` came out of wasm-bindgen as output body `b`, renumbered only; the
/// index maps it implies are added to `maps` (and must agree with what is there).
fn untouched(
    a: &FunctionBody,
    a_locals: &[ValType],
    b: &FunctionBody,
    b_locals: &[ValType],
    maps: &mut Maps,
) -> Result<bool, Error> {
    let mut locals = IndexMap::default();
    let mut a_ops = a.get_operators_reader()?;
    let mut b_ops = b.get_operators_reader()?;
    let mut after_jump = false;
    loop {
        match (a_ops.eof(), b_ops.eof()) {
            (true, true) => return Ok(true),
            (false, false) => {}
            _ => return Ok(false),
        }
        let (mut a_op, b_op) = (a_ops.read()?, b_ops.read()?);
        let block_end = |op: &Operator| {
            matches!(
                op,
                Operator::End
                    | Operator::Else
                    | Operator::Catch { .. }
                    | Operator::CatchAll
                    | Operator::Delegate { .. }
            )
        };
        if after_jump && block_end(&b_op) && !block_end(&a_op) {
            // walrus drops the code after a jump, which cannot run, to its block's end.
            let mut depth = 0u32;
            loop {
                match a_op {
                    Operator::Block { .. }
                    | Operator::Loop { .. }
                    | Operator::If { .. }
                    | Operator::Try { .. }
                    | Operator::TryTable { .. } => depth += 1,
                    Operator::End | Operator::Delegate { .. } if depth > 0 => depth -= 1,
                    Operator::End
                    | Operator::Else
                    | Operator::Catch { .. }
                    | Operator::CatchAll
                    | Operator::Delegate { .. }
                        if depth == 0 =>
                    {
                        break
                    }
                    _ => {}
                }
                if a_ops.eof() {
                    return Ok(false);
                }
                a_op = a_ops.read()?;
            }
        }
        after_jump = matches!(
            a_op,
            Operator::Unreachable
                | Operator::Br { .. }
                | Operator::BrTable { .. }
                | Operator::Return
                | Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::Throw { .. }
                | Operator::ThrowRef
                | Operator::Rethrow { .. }
        );
        if let (Some(a_local), Some(b_local)) = (local_index(&a_op), local_index(&b_op)) {
            let typed = |locals: &[ValType], i: u32| locals.get(i as usize).copied();
            if a_local.0 != b_local.0
                || typed(a_locals, a_local.1).is_none()
                || typed(a_locals, a_local.1) != typed(b_locals, b_local.1)
                || !locals.learn(a_local.1, b_local.1)
            {
                return Ok(false);
            }
            continue;
        }
        // The output's indices, in the order the reencoder asks for them...
        let mut seen = Vec::new();
        let b_bytes = match (Indices(|space, i| {
            seen.push((space, i));
            Some(i)
        }))
        .instruction(b_op)
        {
            Ok(instruction) => encode(&instruction),
            Err(_) => return Ok(false),
        };
        // ...are what the input's must map to, in the same order.
        let mut next = seen.into_iter();
        let mut agreed = true;
        let a_bytes = Indices(|space, i| {
            let (b_space, b_index) = next.next()?;
            if b_space != space {
                agreed = false;
                return None;
            }
            let known = maps.0.entry(space).or_default();
            if !known.learn(i, b_index) {
                agreed = false;
                return None;
            }
            Some(b_index)
        })
        .instruction(a_op);
        match a_bytes {
            Ok(instruction) if agreed && encode(&instruction) == b_bytes => {}
            _ => return Ok(false),
        }
    }
}

/// The output module for `new_input`, made from wasm-bindgen's `old_output` of `old_input`.
pub fn splice(old_input: &[u8], old_output: &[u8], new_input: &[u8]) -> Result<Splice, Error> {
    let old = Module::read(old_input)?;
    let new = Module::read(new_input)?;
    let out = Module::read(old_output)?;
    if let Err(why) = same_besides_code_and_data(&old, &new) {
        return Ok(Splice::Refused(why));
    }
    let new_data = new.section(DATA, "");
    if old.section(DATA, "") != new_data && old.section(DATA, "") != out.section(DATA, "") {
        return Ok(Splice::Refused(
            "the data changed, and wasm-bindgen had changed it".into(),
        ));
    }
    let globals = match moved_globals(&old, &new, &out)? {
        Ok(globals) => globals,
        Err(why) => return Ok(Splice::Refused(why)),
    };
    let changed: Vec<usize> = (0..new.bodies.len())
        .filter(|&i| old.body_bytes(i) != new.body_bytes(i))
        .collect();

    let by_input = Counterparts::new(&old, &out);

    // The moved constants where they were found, and types by signature (wasm-bindgen
    // renumbers types, never changes one in place); the rest is learnt from the bodies.
    let mut maps = Maps::default();
    let moved = maps.0.entry(Space::Global).or_default();
    for (&o, &i) in &globals {
        moved.learn(i, o);
    }
    let types = maps.0.entry(Space::Type).or_default();
    for (i, ty) in old.types.iter().enumerate() {
        if let Some(o) = out.types.iter().position(|t| t == ty) {
            types.learn(i as u32, o as u32);
        }
    }
    let mut replaced: HashMap<usize, Vec<u8>> = HashMap::new();
    for &defined in &changed {
        let index = old.imported_functions + defined as u32;
        let name = old.names.get(&index).copied().unwrap_or("?");
        let Some(out_index) = by_input.get(index) else {
            return Ok(Splice::Refused(format!(
                "wasm-bindgen dropped or renamed {name}"
            )));
        };
        let Some(out_defined) = out_index.checked_sub(out.imported_functions) else {
            return Ok(Splice::Refused(format!(
                "wasm-bindgen made {name} an import"
            )));
        };
        let out_defined = out_defined as usize;
        if out_defined >= out.bodies.len() {
            return Ok(Splice::Refused(format!("{name} has no body in the output")));
        }
        if replaced.contains_key(&out_defined) {
            return Ok(Splice::Refused(format!(
                "{name} shares its output function"
            )));
        }
        let (handled, described) = body_traits(&old.bodies[defined], &old.describe_imports)?;
        let (handles, describes) = body_traits(&new.bodies[defined], &new.describe_imports)?;
        if described || describes {
            return Ok(Splice::Refused(format!("{name} calls a descriptor import")));
        }
        if handled != handles {
            return Ok(Splice::Refused(format!(
                "{name} gains or loses exception handling"
            )));
        }
        let out_type = out.types.get(out.function_types[out_defined] as usize);
        if out_type != old.types.get(old.function_types[defined] as usize) {
            return Ok(Splice::Refused(format!(
                "wasm-bindgen changed the type of {name}"
            )));
        }
        let mut seeded = maps.clone();
        seeded
            .0
            .entry(Space::Function)
            .or_default()
            .learn(index, out_index);
        if !untouched(
            &old.bodies[defined],
            &old.locals(defined)?,
            &out.bodies[out_defined],
            &out.locals(out_defined)?,
            &mut seeded,
        )? {
            return Ok(Splice::Refused(format!("wasm-bindgen rewrote {name}")));
        }
        maps = seeded;
        // The new body, renumbered; an index the old body did not use has no known
        // counterpart but a function's, found by name.
        let mut missing = None;
        let mut reencoder = Indices(|space, i| {
            let mapped = maps.get(space, i).or_else(|| match space {
                Space::Function => by_input.callable(i),
                _ => None,
            });
            if mapped.is_none() {
                missing = Some((space, i));
            }
            mapped
        });
        let mut code = wasm_encoder::CodeSection::new();
        if reencoder
            .parse_function_body(&mut code, new.bodies[defined].clone())
            .is_err()
        {
            let why = match missing {
                Some((space, i)) => format!("{name} now uses {space:?} {i}, new to wasm-bindgen"),
                None => format!("cannot re-encode {name}"),
            };
            return Ok(Splice::Refused(why));
        }
        // A code section of one entry: its count (1) and then the body with its size.
        let mut section = Vec::new();
        code.encode(&mut section);
        let mut reader = BinaryReader::new(&section, 0);
        let _size = reader.read_var_u32()?;
        let _count = reader.read_var_u32()?;
        replaced.insert(out_defined, section[reader.original_position()..].to_vec());
    }

    let mut module = old_output[..8].to_vec();
    for (id, _, range) in &out.sections {
        match *id {
            CODE => {
                let mut code = wasm_encoder::CodeSection::new();
                for (i, body) in out.bodies.iter().enumerate() {
                    match replaced.get(&i) {
                        Some(bytes) => code.raw(strip_size(bytes)?),
                        None => code.raw(&old_output[body.range()]),
                    };
                }
                code.append_to(&mut module);
            }
            // The output's globals, the moved constants with their new values.
            GLOBAL if !globals.is_empty() => {
                let mut section = wasm_encoder::GlobalSection::new();
                let mut same = wasm_encoder::reencode::RoundtripReencoder;
                for (i, global) in out.globals.iter().enumerate() {
                    let init = match globals.get(&(i as u32)) {
                        Some(&input) => new.globals[input as usize].init_expr.clone(),
                        None => global.init_expr.clone(),
                    };
                    let ty = same.global_type(global.ty).map_err(reencoding)?;
                    section.global(ty, &same.const_expr(init).map_err(reencoding)?);
                }
                section.append_to(&mut module);
            }
            // wasm-bindgen passes data through (checked above): the new data as it is.
            DATA if old.section(DATA, "") != new_data => match new_data {
                Some(bytes) => module.extend_from_slice(bytes),
                None => return Ok(Splice::Refused("the data section went".into())),
            },
            _ => module.extend_from_slice(&old_output[range.clone()]),
        }
    }
    if let Err(why) = validate(&module, &replaced) {
        return Ok(Splice::Refused(format!(
            "the spliced module is not valid: {why}"
        )));
    }
    Ok(Splice::Spliced {
        module,
        functions: replaced.len(),
    })
}

/// Validates the module's sections and the bodies put in (the others are wasm-bindgen's,
/// valid as they were; validating them too would cost as much as the splice).
fn validate(module: &[u8], replaced: &HashMap<usize, Vec<u8>>) -> Result<(), String> {
    let mut validator = wasmparser::Validator::new();
    let mut index = 0;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| e.to_string())?;
        if let Payload::CodeSectionEntry(body) = &payload {
            let func = validator
                .code_section_entry(body)
                .map_err(|e| e.to_string())?;
            if replaced.contains_key(&index) {
                let mut check = func.into_validator(Default::default());
                check.validate(body).map_err(|e| e.to_string())?;
            }
            index += 1;
        } else {
            validator.payload(&payload).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn reencoding(error: ReencodeError) -> Error {
    Error(format!("cannot re-encode a global: {error:?}"))
}

/// The constant of an immutable i32 global.
fn constant(global: &wasmparser::Global) -> Option<i32> {
    if global.ty.mutable || global.ty.content_type != ValType::I32 {
        return None;
    }
    let mut ops = global.init_expr.get_operators_reader();
    match (ops.read().ok()?, ops.read().ok()?, ops.eof()) {
        (Operator::I32Const { value }, Operator::End, true) => Some(value),
        _ => None,
    }
}

/// Which output globals take the new input's value (output index -> input index), when the
/// globals changed as they do when the data grows or shrinks: the addresses of statics after
/// the change (`__data_end`, `__heap_base`, statics the runtime exports) are constants that
/// move. wasm-bindgen keeps the input's globals in order, drops unused ones and adds its own;
/// a moved constant is found in the output by its old value, which must then be unique among
/// the constants on both sides. It reads the values of `__tls_size` and `__tls_align` (then
/// drops them) and of no other global, so a change there, or to anything but such a
/// constant, is refused.
fn moved_globals(
    old: &Module,
    new: &Module,
    out: &Module,
) -> Result<Result<HashMap<u32, u32>, String>, Error> {
    let mut moved = HashMap::new();
    if old.section(GLOBAL, "") == new.section(GLOBAL, "") {
        return Ok(Ok(moved));
    }
    if old.globals.len() != new.globals.len() {
        return Ok(Err("globals were added or removed".into()));
    }
    let constants = |m: &Module, value: i32| {
        m.globals
            .iter()
            .filter(|g| constant(g) == Some(value))
            .count()
    };
    for (i, (before, after)) in old.globals.iter().zip(&new.globals).enumerate() {
        let (Some(was), Some(_)) = (constant(before), constant(after)) else {
            if before.ty != after.ty || !same_init(before, after) {
                return Ok(Err(format!("global {i} changed")));
            }
            continue;
        };
        if same_init(before, after) {
            continue;
        }
        let name = old.exported_globals.get(&(i as u32)).copied().unwrap_or("");
        if matches!(name, "__tls_size" | "__tls_align" | "__instance_terminated")
            || old.offset_globals.contains(&(i as u32))
        {
            return Ok(Err(format!("{name} changed")));
        }
        if constants(old, was) != 1 {
            return Ok(Err(format!("global {i} moved from a value it shares")));
        }
        let mut found = out
            .globals
            .iter()
            .enumerate()
            .filter(|(_, g)| constant(g) == Some(was));
        match (found.next(), found.next()) {
            (Some((o, _)), None) => {
                moved.insert(o as u32, i as u32);
            }
            (None, _) if matches!(name, "__heap_base" | "__data_end") => {}
            (None, _) => return Ok(Err(format!("global {i} moved and wasm-bindgen dropped it"))),
            _ => {
                return Ok(Err(format!(
                    "global {i} moved from a value the output repeats"
                )))
            }
        }
    }
    Ok(Ok(moved))
}

fn same_init<'a>(a: &wasmparser::Global<'a>, b: &wasmparser::Global<'a>) -> bool {
    fn read<'a>(g: &wasmparser::Global<'a>) -> Option<Vec<Operator<'a>>> {
        let ops = g.init_expr.get_operators_reader();
        ops.into_iter().map(Result::ok).collect()
    }
    matches!((read(a), read(b)), (Some(a), Some(b)) if a == b)
}

/// A body as `CodeSection::raw` takes it: without its size.
fn strip_size(body: &[u8]) -> Result<&[u8], Error> {
    let mut reader = BinaryReader::new(body, 0);
    let size = reader.read_var_u32()? as usize;
    let start = reader.original_position();
    body.get(start..start + size)
        .ok_or_else(|| Error("a re-encoded body is cut short".into()))
}
