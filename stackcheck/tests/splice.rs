//! The splice on small modules made here: an "input" as cargo makes it and an "output" as
//! wasm-bindgen makes of it (another import, functions in another order, locals regrouped,
//! a function of its own added, an unused global dropped).

use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction, Module, NameMap,
    NameSection, TypeSection, ValType,
};
use wasmparser::{Operator, Parser, Payload};

use wbspawn_stackcheck::splice::{splice, Splice};

const CONST: GlobalType = GlobalType {
    val_type: ValType::I32,
    mutable: false,
    shared: false,
};

/// One function: its name, type (0: () -> i32, 1: (i32) -> i32), locals and code.
struct Func {
    name: &'static str,
    ty: u32,
    locals: Vec<(u32, ValType)>,
    code: Vec<Instruction<'static>>,
}

fn func(
    name: &'static str,
    ty: u32,
    locals: Vec<(u32, ValType)>,
    code: Vec<Instruction<'static>>,
) -> Func {
    Func {
        name,
        ty,
        locals,
        code,
    }
}

/// A module importing `import` (module, name) as function 0, defining `funcs` after it,
/// exporting `run` (the last function) and with constant globals `globals`.
fn module(import: (&str, &str), funcs: &[Func], globals: &[i32]) -> Vec<u8> {
    module_with(import, funcs, globals, None, None)
}

/// `module`, with global 0 exported as `global_export` and one passive data segment `data`.
fn module_with(
    import: (&str, &str),
    funcs: &[Func],
    globals: &[i32],
    global_export: Option<&str>,
    data: Option<&[u8]>,
) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut imports = ImportSection::new();
    imports.import(import.0, import.1, EntityType::Function(0));
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut names = NameMap::new();
    names.append(0, import.1);
    for (i, f) in funcs.iter().enumerate() {
        functions.function(f.ty);
        let mut body = Function::new(f.locals.clone());
        for instruction in &f.code {
            body.instruction(instruction);
        }
        code.function(&body);
        names.append(i as u32 + 1, f.name);
    }
    let mut global_section = GlobalSection::new();
    for value in globals {
        global_section.global(CONST, &ConstExpr::i32_const(*value));
    }
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, funcs.len() as u32);
    if let Some(name) = global_export {
        exports.export(name, ExportKind::Global, 0);
    }
    let mut name_section = NameSection::new();
    name_section.functions(&names);

    let mut module = Module::new();
    module.section(&types).section(&imports).section(&functions);
    if data.is_some() {
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
    }
    module.section(&global_section).section(&exports);
    if let Some(bytes) = data {
        module.section(&wasm_encoder::DataCountSection { count: 1 });
        module.section(&code);
        let mut segments = wasm_encoder::DataSection::new();
        segments.passive(bytes.iter().copied());
        module.section(&segments);
    } else {
        module.section(&code);
    }
    module.section(&name_section);
    module.section(&CustomSection {
        name: "__wasm_bindgen_unstable".into(),
        data: b"programs"[..].into(),
    });
    module.finish()
}

/// `seven` returns 7 (or `value`); `run(x)` returns `x + seven() + imported()`, keeping the
/// sum in an i32 local declared after an i64 one it never uses; `base` reads global 0.
fn input(value: i32, run_extra: Option<i32>, globals: &[i32]) -> Vec<u8> {
    let mut run = vec![
        Instruction::LocalGet(0),
        Instruction::Call(1),
        Instruction::I32Add,
        Instruction::Call(0),
        Instruction::I32Add,
    ];
    if let Some(extra) = run_extra {
        run.extend([Instruction::I32Const(extra), Instruction::I32Add]);
    }
    run.extend([
        Instruction::LocalSet(2),
        Instruction::LocalGet(2),
        Instruction::End,
    ]);
    module(
        ("__wbindgen_placeholder__", "imported"),
        &[
            func(
                "seven",
                0,
                vec![],
                vec![Instruction::I32Const(value), Instruction::End],
            ),
            func(
                "base",
                0,
                vec![],
                vec![Instruction::GlobalGet(0), Instruction::End],
            ),
            func("run", 1, vec![(1, ValType::I64), (1, ValType::I32)], run),
        ],
        globals,
    )
}

/// What wasm-bindgen makes of `input(7, None, globals)`: its own import, a shim of its own
/// first, `run` before `seven`, `run`'s unused local gone, and `base` as it was.
fn output(seven: Vec<Instruction<'static>>, globals: &[i32]) -> Vec<u8> {
    module(
        ("wbg", "__wbg_imported"),
        &[
            func(
                "shim",
                0,
                vec![],
                vec![Instruction::Call(0), Instruction::End],
            ),
            func(
                "base",
                0,
                vec![],
                vec![Instruction::GlobalGet(0), Instruction::End],
            ),
            func("seven", 0, vec![], seven),
            func(
                "run",
                1,
                vec![(1, ValType::I32)],
                vec![
                    Instruction::LocalGet(0),
                    Instruction::Call(3),
                    Instruction::I32Add,
                    Instruction::Call(0),
                    Instruction::I32Add,
                    Instruction::LocalSet(1),
                    Instruction::LocalGet(1),
                    Instruction::End,
                ],
            ),
        ],
        globals,
    )
}

fn untouched_seven() -> Vec<Instruction<'static>> {
    vec![Instruction::I32Const(7), Instruction::End]
}

/// The operators of each function body, in order, as text.
fn bodies(module: &[u8]) -> Vec<Vec<String>> {
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::CodeSectionEntry(body) = payload.expect("payload") {
            let ops = body.get_operators_reader().expect("operators");
            bodies.push(
                ops.into_iter()
                    .map(|op| format!("{:?}", op.expect("operator")))
                    .collect(),
            );
        }
    }
    bodies
}

fn global_values(module: &[u8]) -> Vec<i32> {
    let mut values = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::GlobalSection(reader) = payload.expect("payload") {
            for global in reader {
                let mut ops = global.expect("global").init_expr.get_operators_reader();
                match ops.read().expect("init") {
                    Operator::I32Const { value } => values.push(value),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }
    values
}

fn valid(module: &[u8]) {
    wasmparser::Validator::new()
        .validate_all(module)
        .expect("the spliced module is valid");
}

fn spliced(old: &[u8], out: &[u8], new: &[u8]) -> (Vec<u8>, usize) {
    match splice(old, out, new).expect("splice") {
        Splice::Spliced { module, functions } => (module, functions),
        Splice::Refused(why) => panic!("refused: {why}"),
    }
}

fn refused(old: &[u8], out: &[u8], new: &[u8]) -> String {
    match splice(old, out, new).expect("splice") {
        Splice::Refused(why) => why,
        Splice::Spliced { .. } => panic!("spliced where it must refuse"),
    }
}

#[test]
fn a_changed_body_goes_where_wasm_bindgen_put_the_function() {
    let out = output(untouched_seven(), &[100]);
    let (module, functions) = spliced(&input(7, None, &[100]), &out, &input(9, None, &[100]));
    valid(&module);
    assert_eq!(functions, 1);
    let mut expected = bodies(&out);
    expected[2] = vec!["I32Const { value: 9 }".into(), "End".into()];
    assert_eq!(bodies(&module), expected);
}

#[test]
fn a_new_body_is_renumbered_as_wasm_bindgen_renumbered_the_old_one() {
    let out = output(untouched_seven(), &[100]);
    let (module, _) = spliced(&input(7, None, &[100]), &out, &input(7, Some(3), &[100]));
    valid(&module);
    let run = &bodies(&module)[3];
    // seven is function 3 of the output, the import still 0; the new body keeps its own
    // locals (the sum in local 2), whatever wasm-bindgen did with the old one's.
    assert_eq!(run[1], "Call { function_index: 3 }");
    assert_eq!(run[3], "Call { function_index: 0 }");
    assert_eq!(run[5], "I32Const { value: 3 }");
    assert_eq!(run[7], "LocalSet { local_index: 2 }");
}

#[test]
fn the_same_input_gives_the_same_output() {
    let out = output(untouched_seven(), &[100]);
    let old = input(7, None, &[100]);
    let (module, functions) = spliced(&old, &out, &old);
    assert_eq!(functions, 0);
    assert_eq!(bodies(&module), bodies(&out));
}

#[test]
fn a_body_wasm_bindgen_rewrote_is_not_spliced() {
    let rewritten = vec![
        Instruction::I32Const(7),
        Instruction::Drop,
        Instruction::I32Const(7),
        Instruction::End,
    ];
    let out = output(rewritten, &[100]);
    let why = refused(&input(7, None, &[100]), &out, &input(9, None, &[100]));
    assert!(why.contains("rewrote seven"), "{why}");
}

#[test]
fn code_after_a_jump_that_wasm_bindgen_dropped_still_counts_as_untouched() {
    let dead = |value| {
        vec![
            Instruction::I32Const(value),
            Instruction::Return,
            Instruction::I32Const(1),
            Instruction::Drop,
            Instruction::End,
        ]
    };
    let old = module(
        ("__wbindgen_placeholder__", "imported"),
        &[
            func("seven", 0, vec![], dead(7)),
            func(
                "run",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
        ],
        &[],
    );
    let new = module(
        ("__wbindgen_placeholder__", "imported"),
        &[
            func("seven", 0, vec![], dead(8)),
            func(
                "run",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
        ],
        &[],
    );
    let out = module(
        ("wbg", "__wbg_imported"),
        &[
            func(
                "seven",
                0,
                vec![],
                vec![
                    Instruction::I32Const(7),
                    Instruction::Return,
                    Instruction::End,
                ],
            ),
            func(
                "run",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
        ],
        &[],
    );
    let (module, functions) = spliced(&old, &out, &new);
    valid(&module);
    assert_eq!(functions, 1);
    assert_eq!(bodies(&module)[0][0], "I32Const { value: 8 }");
}

#[test]
fn a_moved_constant_global_takes_its_new_value() {
    // The input's second global (200, unused) is one wasm-bindgen dropped.
    let old = input(7, None, &[100, 200]);
    let out = output(untouched_seven(), &[100]);
    let (module, _) = spliced(&old, &out, &input(7, None, &[108, 200]));
    valid(&module);
    assert_eq!(global_values(&module), vec![108]);
}

#[test]
fn a_moved_global_that_shares_its_value_is_refused() {
    let old = input(7, None, &[100, 100]);
    let out = output(untouched_seven(), &[100]);
    let why = refused(&old, &out, &input(7, None, &[108, 100]));
    assert!(why.contains("shares"), "{why}");
}

#[test]
fn any_other_change_is_refused() {
    let old = input(7, None, &[100]);
    let out = output(untouched_seven(), &[100]);
    // Another import (wasm-bindgen's glue would change).
    let mut other_import = input(7, None, &[100]);
    let at = other_import
        .windows(8)
        .position(|w| w == b"imported")
        .expect("import name");
    other_import[at] = b'I';
    assert!(refused(&old, &out, &other_import).contains("section 2"));
    // A function more.
    let more = module(
        ("__wbindgen_placeholder__", "imported"),
        &[
            func("seven", 0, vec![], untouched_seven()),
            func("eight", 0, vec![], untouched_seven()),
            func(
                "run",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
        ],
        &[100],
    );
    assert!(!refused(&old, &out, &more).is_empty());
}

#[test]
fn a_module_that_is_not_wasm_is_an_error() {
    let old = input(7, None, &[100]);
    let out = output(untouched_seven(), &[100]);
    assert!(splice(&old, &out, b"not wasm").is_err());
}

#[test]
fn a_new_call_to_a_function_wasm_bindgen_gave_another_signature_is_refused() {
    let run = || {
        func(
            "run",
            1,
            vec![],
            vec![Instruction::LocalGet(0), Instruction::End],
        )
    };
    let with_seven = |seven: Vec<Instruction<'static>>| {
        module(
            ("__wbindgen_placeholder__", "imported"),
            &[
                func("seven", 0, vec![], seven),
                func(
                    "base",
                    0,
                    vec![],
                    vec![Instruction::I32Const(1), Instruction::End],
                ),
                run(),
            ],
            &[],
        )
    };
    let old = with_seven(untouched_seven());
    // `seven` now calls `base`, which wasm-bindgen's output takes an i32.
    let new = with_seven(vec![Instruction::Call(2), Instruction::End]);
    let out = module(
        ("wbg", "__wbg_imported"),
        &[
            func("seven", 0, vec![], untouched_seven()),
            func(
                "base",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
            run(),
        ],
        &[],
    );
    let why = refused(&old, &out, &new);
    assert!(why.contains("seven now uses Function 2"), "{why}");
    // The same call to a function of the same signature is renumbered.
    let same = module(
        ("wbg", "__wbg_imported"),
        &[
            func(
                "base",
                0,
                vec![],
                vec![Instruction::I32Const(1), Instruction::End],
            ),
            func("seven", 0, vec![], untouched_seven()),
            run(),
        ],
        &[],
    );
    let (module, _) = spliced(&old, &same, &new);
    valid(&module);
    assert_eq!(bodies(&module)[1][0], "Call { function_index: 1 }");
}

#[test]
fn a_moved_address_wasm_bindgen_builds_into_its_catch_wrappers_is_refused() {
    let build = |value| {
        module_with(
            ("__wbindgen_placeholder__", "imported"),
            &[
                func("seven", 0, vec![], untouched_seven()),
                func(
                    "run",
                    1,
                    vec![],
                    vec![Instruction::LocalGet(0), Instruction::End],
                ),
            ],
            &[value],
            Some("__instance_terminated"),
            None,
        )
    };
    let out = module_with(
        ("wbg", "__wbg_imported"),
        &[
            func("seven", 0, vec![], untouched_seven()),
            func(
                "run",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
        ],
        &[100],
        Some("__instance_terminated"),
        None,
    );
    let why = refused(&build(100), &out, &build(108));
    assert!(why.contains("__instance_terminated"), "{why}");
}

#[test]
fn a_new_call_to_an_import_is_refused_since_wasm_bindgen_may_wrap_it() {
    let with_seven = |seven: Vec<Instruction<'static>>| {
        module(
            ("__wbindgen_placeholder__", "imported"),
            &[
                func("seven", 0, vec![], seven),
                func(
                    "run",
                    1,
                    vec![],
                    vec![Instruction::LocalGet(0), Instruction::End],
                ),
            ],
            &[],
        )
    };
    let out = module(
        ("__wbindgen_placeholder__", "imported"),
        &[
            func("seven", 0, vec![], untouched_seven()),
            func(
                "run",
                1,
                vec![],
                vec![Instruction::LocalGet(0), Instruction::End],
            ),
        ],
        &[],
    );
    let new = with_seven(vec![Instruction::Call(0), Instruction::End]);
    let why = refused(&with_seven(untouched_seven()), &out, &new);
    assert!(why.contains("now uses Function 0"), "{why}");
}

#[test]
fn a_body_that_gains_exception_handling_or_calls_a_descriptor_is_refused() {
    let with = |import: &'static str, seven: Vec<Instruction<'static>>| {
        module(
            ("__wbindgen_placeholder__", import),
            &[
                func("seven", 0, vec![], seven),
                func(
                    "run",
                    1,
                    vec![],
                    vec![Instruction::LocalGet(0), Instruction::End],
                ),
            ],
            &[],
        )
    };
    let out = output(untouched_seven(), &[]);
    let old = with("imported", untouched_seven());
    let handling = with(
        "imported",
        vec![
            Instruction::Try(wasm_encoder::BlockType::Result(ValType::I32)),
            Instruction::I32Const(7),
            Instruction::CatchAll,
            Instruction::I32Const(0),
            Instruction::End,
            Instruction::End,
        ],
    );
    let why = refused(&old, &out, &handling);
    assert!(why.contains("exception handling"), "{why}");

    let describe = "__wbindgen_describe";
    let old = with(describe, untouched_seven());
    let calls = with(describe, vec![Instruction::Call(0), Instruction::End]);
    let why = refused(&old, &out, &calls);
    assert!(why.contains("descriptor"), "{why}");
}

#[test]
fn new_data_replaces_the_old_and_a_name_two_functions_share_finds_nothing() {
    let with = |data: &[u8], names: [&'static str; 2]| {
        module_with(
            ("__wbindgen_placeholder__", "imported"),
            &[
                func(names[0], 0, vec![], untouched_seven()),
                func(names[1], 0, vec![], untouched_seven()),
                func(
                    "run",
                    1,
                    vec![],
                    vec![Instruction::LocalGet(0), Instruction::End],
                ),
            ],
            &[],
            None,
            Some(data),
        )
    };
    let old = with(b"hello", ["seven", "other"]);
    let out = with(b"hello", ["seven", "other"]);
    let (module, functions) = spliced(&old, &out, &with(b"hullo, world", ["seven", "other"]));
    valid(&module);
    assert_eq!(functions, 0);
    assert!(module.windows(12).any(|w| w == b"hullo, world"));
    assert!(!module.windows(5).any(|w| w == b"hello"));

    // Two functions called `seven` in the output: which one is the input's is not known.
    let old = with(b"hello", ["seven", "other"]);
    let out = with(b"hello", ["seven", "seven"]);
    let mut new = old.clone();
    let at = new
        .windows(2)
        .position(|w| w == [0x41, 7])
        .expect("i32.const 7");
    new[at + 1] = 9;
    let why = refused(&old, &out, &new);
    assert!(why.contains("dropped or renamed seven"), "{why}");
}
