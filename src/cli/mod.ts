/**
 * The public entry of `src/cli/`: what other folders may import from it.
 *
 * @module
 */

export { hostPortValue, intValue, portValue } from "./args.ts";
export { type CommandContext, type CommandSpec, type OptionSpec, UsageError } from "./command.ts";
export { LSP_PARAM_FLAGS, lspParamsFromFlags } from "./lsp_flags.ts";
