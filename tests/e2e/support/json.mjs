// One helper for reading answers that may or may not be JSON (vendor errors, proxies, stand-ins).

/** `text` parsed as JSON, or undefined when it is not JSON (an empty body included). */
export function jsonOrUndefined(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
