//! The pass on small modules made here: what it adds, where, and what it leaves alone.

use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, ExportKind, ExportSection, Function, FunctionSection,
    GlobalSection, GlobalType, IndirectNameMap, Instruction, Module, NameMap, NameSection,
    TypeSection, ValType,
};
use wasmparser::{Parser, Payload};

use wbspawn_stackcheck::{instrument, Outcome, SET_LIMITS};

/// A module with a stack pointer (global 1, after an unrelated global 0), `frame` which moves
/// it down and up again, `leaf` which never touches it, and, unless `named` is false, the
/// names section that says which global is the stack pointer.
fn module(named: bool) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], []);
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    functions.function(0); // frame(i32)
    functions.function(1); // leaf() -> i32
    let mut globals = GlobalSection::new();
    let mutable = GlobalType {
        val_type: ValType::I32,
        mutable: true,
        shared: false,
    };
    globals.global(mutable, &ConstExpr::i32_const(7));
    globals.global(mutable, &ConstExpr::i32_const(65536));
    let mut exports = ExportSection::new();
    exports.export("frame", ExportKind::Func, 0);
    exports.export("leaf", ExportKind::Func, 1);

    let mut code = CodeSection::new();
    let mut frame = Function::new([(2, ValType::I64)]);
    for instruction in [
        Instruction::GlobalGet(1),
        Instruction::LocalGet(0),
        Instruction::I32Sub,
        Instruction::GlobalSet(1),
        Instruction::GlobalGet(0),
        Instruction::GlobalSet(0), // another global: no check
        Instruction::GlobalGet(1),
        Instruction::LocalGet(0),
        Instruction::I32Add,
        Instruction::GlobalSet(1),
        Instruction::End,
    ] {
        frame.instruction(&instruction);
    }
    code.function(&frame);
    let mut leaf = Function::new([(1, ValType::I32)]);
    leaf.instruction(&Instruction::I32Const(5));
    leaf.instruction(&Instruction::End);
    code.function(&leaf);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&CustomSection {
            name: ".debug_info".into(),
            data: b"offsets into the old code".into(),
        })
        .section(&CustomSection {
            name: "producers".into(),
            data: b"\x00".into(),
        });
    if named {
        let mut names = NameSection::new();
        let mut functions = NameMap::new();
        functions.append(0, "frame");
        functions.append(1, "leaf");
        names.functions(&functions);
        names.locals(&IndirectNameMap::new());
        let mut globals = NameMap::new();
        globals.append(0, "counter");
        globals.append(1, "__stack_pointer");
        names.globals(&globals);
        module.section(&names);
    }
    module.finish()
}

fn checked(module: &[u8]) -> (Vec<u8>, usize) {
    match instrument(module).unwrap() {
        Outcome::Checked { module, sites } => (module, sites),
        Outcome::Unchanged(why) => panic!("unchanged: {why}"),
    }
}

/// Each function body's operators, in order.
fn bodies(module: &[u8]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::CodeSectionEntry(body) = payload.unwrap() {
            let mut operators = body.get_operators_reader().unwrap();
            let mut list = Vec::new();
            while !operators.eof() {
                list.push(format!("{:?}", operators.read().unwrap()));
            }
            found.push(list);
        }
    }
    found
}

fn custom_sections(module: &[u8]) -> Vec<String> {
    Parser::new(0)
        .parse_all(module)
        .filter_map(|payload| match payload.unwrap() {
            Payload::CustomSection(reader) => Some(reader.name().to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_write_of_the_stack_pointer_is_checked_and_the_module_stays_valid() {
    let (out, sites) = checked(&module(true));
    assert_eq!(sites, 2);
    wasmparser::validate(&out).unwrap();
    let frame = &bodies(&out)[0];
    // The value goes to a new local (index 1 + 2 = 3: a parameter, then two i64 locals),
    // is compared unsigned with the base (global 2) and the limit (global 3), and traps out
    // of them; only then is it stored.
    let check = [
        "LocalTee { local_index: 3 }",
        "GlobalGet { global_index: 2 }",
        "I32GtU",
        "LocalGet { local_index: 3 }",
        "GlobalGet { global_index: 3 }",
        "I32LtU",
        "I32Or",
        "If { blockty: Empty }",
        "Unreachable",
        "End",
        "LocalGet { local_index: 3 }",
        "GlobalSet { global_index: 1 }",
    ];
    assert_eq!(frame[3..15], check);
    assert_eq!(
        frame[15..17],
        [
            "GlobalGet { global_index: 0 }",
            "GlobalSet { global_index: 0 }"
        ]
    );
    assert_eq!(frame[20..32], check);
    // A body that never moves the stack pointer is left as it was.
    assert_eq!(bodies(&out)[1], bodies(&module(true))[1]);
}

#[test]
fn the_bounds_start_wide_open_and_an_export_sets_them() {
    let (out, _) = checked(&module(true));
    let mut globals = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(&out) {
        match payload.unwrap() {
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let mut init = global.unwrap().init_expr.get_operators_reader();
                    globals.push(format!("{:?}", init.read().unwrap()));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.unwrap();
                    exports.push((export.name.to_string(), export.index));
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        globals[2..],
        ["I32Const { value: -1 }", "I32Const { value: 0 }"]
    );
    assert_eq!(exports.last(), Some(&(SET_LIMITS.to_string(), 2)));
    let setter = &bodies(&out)[2];
    assert_eq!(
        setter,
        &[
            "LocalGet { local_index: 0 }",
            "GlobalSet { global_index: 2 }",
            "LocalGet { local_index: 1 }",
            "GlobalSet { global_index: 3 }",
            "End",
        ]
    );
}

#[test]
fn dwarf_goes_and_the_other_custom_sections_stay() {
    let (out, _) = checked(&module(true));
    assert_eq!(custom_sections(&out), ["producers", "name"]);
}

#[test]
fn a_module_without_a_named_stack_pointer_or_with_checks_is_left_alone() {
    assert_eq!(
        instrument(&module(false)).unwrap(),
        Outcome::Unchanged("the module has no __stack_pointer")
    );
    let (out, _) = checked(&module(true));
    assert_eq!(
        instrument(&out).unwrap(),
        Outcome::Unchanged("the module has stack checks already")
    );
}

#[test]
fn what_is_not_a_module_is_an_error() {
    assert!(instrument(b"\0asm\x02\0\0\0").is_err());
    assert!(instrument(b"hello").is_err());
    let mut truncated = module(true);
    truncated.truncate(truncated.len() - 3);
    assert!(instrument(&truncated).is_err());
}
