/**
 * The public entry of `src/status/`: the node's status service (HTTP: the page, `/status.json`,
 * `/metrics`) and the document it serves.
 *
 * @module
 */
export {
  buildStatusDocument,
  type ServiceEntry,
  STATUS_SCHEMA,
  type StatusDocument,
  type StatusInput,
  statusJson,
  type StatusServiceStatus,
} from "./document.ts";
export { createStatusMetrics, type StatusMetrics } from "./metrics.ts";
export { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "./page.ts";
export {
  DEFAULT_STATUS_PORT,
  serveStatus,
  type ServeStatusOptions,
  type StatusServer,
  statusService,
} from "./service_deno.ts";
export { checkStatusDocument, formatStatusTable } from "./table.ts";
