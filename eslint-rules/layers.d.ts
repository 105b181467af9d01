// Types of layers.js for the tests that import it (the lint config loads the .js as is).
import type { Rule } from 'eslint';

export declare const LAYERS: readonly (readonly string[])[];
export declare const KERNEL: readonly string[];
export declare const FORBIDDEN: Readonly<Record<string, { readonly parts: readonly string[]; readonly why: string }>>;
export declare const PURE: { readonly parts: readonly string[]; readonly packages: readonly string[]; readonly kernel: readonly string[] };
declare const plugin: { readonly rules: { readonly layers: Rule.RuleModule } };
export default plugin;
