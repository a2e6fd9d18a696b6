/**
 * hitship's version, for plugins that name their sender (CEF and LEEF headers, user agents).
 *
 * @module
 */

/** hitship's version (deno.json's `version`). */
export const VERSION: string = "0.1.0";
