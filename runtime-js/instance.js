// Joins a worker to the app's shared memory: a new instance of the already compiled module
// (`glueLoaded`: the glue's import, if the worker started it ahead).
//
// The Module object is posted from worker to worker and never recompiled; wasm-bindgen's start
// function gives every instance after the first its own stack and TLS, and leaves the shared
// data alone.
export async function joinMemory({ pkgUrl, module, memory }, stackSize, glueLoaded = null) {
  const glue = await (glueLoaded ?? import(pkgUrl));
  const wasm = glue.initSync({ module, memory, thread_stack_size: stackSize });
  return { glue, wasm };
}

// One line for a thrown value, for messages that cross to another thread.
export function describe(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
