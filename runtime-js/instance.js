// Joins a worker to the app's shared memory: a new instance of the already compiled module
// (`glueLoaded`: the glue's import, if the worker started it ahead).
//
// The Module object is posted from worker to worker and never recompiled; wasm-bindgen's start
// function gives every instance after the first its own stack and TLS, and leaves the shared
// data alone.

// Below a stack's usable part, when the build has stack checks (`wbspawn.stackcheck`): room
// for the crash handler to run after the thread ran out of stack.
const STACK_GUARD = 64 * 1024;

export async function joinMemory({ pkgUrl, module, memory }, stackSize, glueLoaded = null) {
  const glue = await (glueLoaded ?? import(pkgUrl));
  const checked = hasStackChecks(module);
  const size = checked ? stackSize + STACK_GUARD : stackSize;
  const wasm = glue.initSync({ module, memory, thread_stack_size: size });
  const stack = new Stack(wasm, size, checked);
  stack.enforce();
  return { glue, wasm, stack };
}

const checkedModules = new WeakMap();

function hasStackChecks(module) {
  if (!checkedModules.has(module)) {
    const names = WebAssembly.Module.exports(module).map((e) => e.name);
    checkedModules.set(module, names.includes("__set_stack_limits"));
  }
  return checkedModules.get(module);
}

// This instance's stack, [bottom, bottom + size), as wasm-bindgen allocated it.
class Stack {
  constructor(wasm, size, checked) {
    this.wasm = wasm;
    this.size = size;
    this.checked = checked;
    this.bottom = checked ? wasm.__stack_alloc.value >>> 0 : 0;
  }

  // Every write of the stack pointer below the guard now traps.
  enforce() {
    if (this.checked) this.wasm.__set_stack_limits(this.bottom + this.size, this.limit);
  }

  // After a trap: the crash handler may use the guard.
  release() {
    if (this.checked) this.wasm.__set_stack_limits(this.bottom + this.size, this.bottom);
  }

  // Before wasm-bindgen frees the stack: its code runs on a scratch stack elsewhere.
  open() {
    if (this.checked) this.wasm.__set_stack_limits(-1, 0);
  }

  // After the instance is done (trapped, or destroyed): any Rust code still called on it
  // traps at its first frame instead of running on a stack that is gone or dead.
  fence() {
    if (this.checked) this.wasm.__set_stack_limits(0, -1);
  }

  // The lowest stack pointer the thread's code may use (0 without checks).
  get limit() {
    return this.checked ? this.bottom + STACK_GUARD : 0;
  }

  // The usable size the thread asked for.
  get usable() {
    return this.checked ? this.size - STACK_GUARD : this.size;
  }
}

// One line for a thrown value, for messages that cross to another thread.
export function describe(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
