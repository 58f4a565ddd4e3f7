// PROXY protocol headers (HAProxy's proxy-protocol.txt), written to a
// machine before the client's first byte on a port with the `proxy_proto`
// handler, so the machine learns who the client is and which address it
// connected to:
//
//   v1 (text)   "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", TCP6 alike,
//               "PROXY UNKNOWN\r\n" when the endpoints are not known;
//   v2 (binary) 12-byte signature, 0x21 (version 2, command PROXY), family
//               and transport (0x11 TCP over IPv4, 0x21 TCP over IPv6, 0x00
//               unspecified), a 2-byte length, then the addresses and ports.
//
// Both ends of a header are of one family: IPv4-mapped IPv6 addresses (a
// dual-stack listener) are written as IPv4 when both ends are, and an IPv4
// end beside an IPv6 one is written in its mapped form. Pure.
import net from 'node:net';

/** The two ends of a client connection, as its socket reports them (undefined once the socket is gone). */
export interface ConnectionEnds {
  /** The client. */
  sourceAddress: string | undefined;
  sourcePort: number | undefined;
  /** The perch address the client connected to. */
  destinationAddress: string | undefined;
  destinationPort: number | undefined;
}

/** Endpoints normalized to one family, or null when they cannot be written (UNKNOWN / AF_UNSPEC). */
export interface Endpoints {
  family: 4 | 6;
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
}

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 2 in the high nibble, command PROXY (1) in the low one. */
const V2_PROXY_COMMAND = 0x21;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;
const V2_UNSPEC = 0x00;
const V2_FIXED_BYTES = 16;

const MAPPED_PREFIX = '::ffff:';

export function endpointsOf(ends: ConnectionEnds): Endpoints | null {
  const { sourcePort, destinationPort } = ends;
  if (!validPort(sourcePort) || !validPort(destinationPort)) return null;
  let source = withoutZone(ends.sourceAddress);
  let destination = withoutZone(ends.destinationAddress);
  if (source === null || destination === null) return null;
  source = unmapped(source);
  destination = unmapped(destination);
  const sourceFamily = net.isIP(source);
  const destinationFamily = net.isIP(destination);
  if (sourceFamily === 0 || destinationFamily === 0) return null;
  if (sourceFamily === 4 && destinationFamily === 4) return { family: 4, source, destination, sourcePort, destinationPort };
  // At least one IPv6 end: both are written as IPv6.
  if (sourceFamily === 4) source = MAPPED_PREFIX + source;
  if (destinationFamily === 4) destination = MAPPED_PREFIX + destination;
  return { family: 6, source, destination, sourcePort, destinationPort };
}

/** The v1 (text) header for a connection. */
export function proxyHeaderV1(ends: ConnectionEnds): Buffer {
  const e = endpointsOf(ends);
  if (e === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${e.family} ${e.source} ${e.destination} ${e.sourcePort} ${e.destinationPort}\r\n`, 'latin1');
}

/** The v2 (binary) header for a connection. */
export function proxyHeaderV2(ends: ConnectionEnds): Buffer {
  const e = endpointsOf(ends);
  const addressBytes = e === null ? 0 : e.family === 4 ? 12 : 36;
  const header = Buffer.allocUnsafe(V2_FIXED_BYTES + addressBytes);
  V2_SIGNATURE.copy(header, 0);
  header[12] = V2_PROXY_COMMAND;
  header[13] = e === null ? V2_UNSPEC : e.family === 4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(addressBytes, 14);
  if (e === null) return header;
  const width = e.family === 4 ? 4 : 16;
  const write = e.family === 4 ? writeIPv4 : writeIPv6;
  write(header, V2_FIXED_BYTES, e.source);
  write(header, V2_FIXED_BYTES + width, e.destination);
  header.writeUInt16BE(e.sourcePort, V2_FIXED_BYTES + 2 * width);
  header.writeUInt16BE(e.destinationPort, V2_FIXED_BYTES + 2 * width + 2);
  return header;
}

export function proxyHeader(version: 1 | 2, ends: ConnectionEnds): Buffer {
  return version === 2 ? proxyHeaderV2(ends) : proxyHeaderV1(ends);
}

/** The ends of a connected socket: the client and the perch address it reached. */
export function endsOf(socket: net.Socket): ConnectionEnds {
  return {
    sourceAddress: socket.remoteAddress,
    sourcePort: socket.remotePort,
    destinationAddress: socket.localAddress,
    destinationPort: socket.localPort,
  };
}

function validPort(port: number | undefined): port is number {
  return port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65_535;
}

function withoutZone(address: string | undefined): string | null {
  if (address === undefined || address === '') return null;
  const percent = address.indexOf('%');
  return percent === -1 ? address : address.slice(0, percent);
}

/** "::ffff:1.2.3.4" → "1.2.3.4"; anything else as it is. */
function unmapped(address: string): string {
  if (address.length > MAPPED_PREFIX.length && address.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX) {
    const tail = address.slice(MAPPED_PREFIX.length);
    if (net.isIPv4(tail)) return tail;
  }
  return address;
}

function writeIPv4(out: Buffer, offset: number, address: string): void {
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
}

/** Writes a textual IPv6 address (validated by net.isIPv6, `::` and a dotted IPv4 tail allowed) as 16 bytes. */
export function writeIPv6(out: Buffer, offset: number, address: string): void {
  const groups = ipv6Groups(address);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i]!, offset + 2 * i);
}

function ipv6Groups(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    // A dotted IPv4 tail stands for the last two groups.
    const v4 = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const gap = text.indexOf('::');
  if (gap === -1) return parse(text);
  const head = parse(text.slice(0, gap));
  const rest = parse(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
}
