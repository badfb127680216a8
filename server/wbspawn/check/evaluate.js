// One evaluation for wbspawn's browser engines (server/wbspawn/check/browser.py): the same text
// runs in Chromium, Firefox and WebKit, so a value comes back the same way from each.
//
// browser.py puts the caller's expression, its arguments (JSON) and a time limit in place of
// the three markers below. The expression is part of this text, never eval'd: a page whose
// Content-Security-Policy forbids eval can still be evaluated in. If it gives a function, that
// is called with the arguments; a promise is awaited. The result is a JSON string, so that no
// engine's own value serialization decides what a typed array or an `undefined` becomes.
(async (expression, args, limitMs) => {
  const plain = (key, value) => {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value);
    if (typeof value === "bigint") return Number(value);
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    return value;
  };
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${limitMs / 1000} s`)), limitMs);
  });
  try {
    const run = async () => {
      const value = expression();
      return typeof value === "function" ? await value(...args) : await value;
    };
    const value = await Promise.race([run(), limit]);
    return JSON.stringify({ ok: true, value: value === undefined ? null : value }, plain);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return JSON.stringify({ ok: false, error: message });
  } finally {
    clearTimeout(timer);
  }
})(() => (/*EXPRESSION*/), /*ARGUMENTS*/, /*LIMIT_MS*/)
