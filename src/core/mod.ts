/**
 * The contracts every protocol core implements, and the pieces they share: the datagram and
 * stream core contracts, the bounded output queue, and the time policy. Protocol folders import
 * these from here; drivers (`src/net/`) and the simulator (`src/sim/`) run any core that
 * implements them.
 *
 * @module
 */

export type { Addr, ConnId, Millis, Transmit } from "./types.ts";
export type { DatagramCore, EventSource } from "./datagram_core.ts";
export { isStreamAction, type StreamAction, type StreamCore } from "./stream_core.ts";
export { OutputQueue, type OutputQueueOptions } from "./output_queue.ts";
export { TimeKeeper } from "./time_keeper.ts";
export { SlotTable } from "./slot_table.ts";
