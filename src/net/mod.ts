/**
 * The public entry of `src/net/`: what other folders may import from it.
 *
 * @module
 */

export { checkHostPort, formatHostPort, parseHostPort } from "./hostport.ts";
export { addrKey, resolveHostPort } from "./resolve.ts";
export { TcpDriver } from "./tcp_driver.ts";
export { UdpDriver } from "./udp_driver.ts";
