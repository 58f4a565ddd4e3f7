// A TCP machine for the [[services]] tests, run by perch like any machine:
// listens on PORT and echoes every byte back, with backpressure, passing a
// half-close on (the client's FIN is answered with a FIN once the echo is
// written).
//
// Environment:
//   PORT, HOST (default 127.0.0.1)
//   TCP_ECHO_PROXY=1   the connection starts with a PROXY protocol header
//                      (v1 or v2): it is read and parsed with proxy-protocol-js
//                      (an independent parser, not perch's code), reported to
//                      the client as one JSON line, then the rest is echoed.
//   TCP_ECHO_BANNER=1  each connection first gets "<machine id>\n".
//
// On stdout (perch logs it as "machine output"), one JSON line when a
// connection becomes active (its first byte arrived; connect-only probes are
// not counted) and when an active one closes, with the number active and
// the most ever active at once: {"tcp_echo":"open","active":2,"max":2}.
import net from 'node:net';
import { V1BinaryProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js';

const port = Number(process.env.PORT ?? 7000);
const host = process.env.HOST ?? '127.0.0.1';
const expectProxy = process.env.TCP_ECHO_PROXY === '1';
const banner = process.env.TCP_ECHO_BANNER === '1' ? `${process.env.FLY_MACHINE_ID ?? 'local'}\n` : null;

let active = 0;
let max = 0;

function report(event: 'open' | 'close'): void {
  process.stdout.write(`${JSON.stringify({ tcp_echo: event, active, max })}\n`);
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** How many bytes the PROXY header at the start of `data` takes; 0 while incomplete; -1 when there is none. */
function headerLength(data: Buffer): number {
  const n = Math.min(data.length, 12);
  if (data.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) {
    if (data.length < 16) return 0;
    const length = 16 + data.readUInt16BE(14);
    return data.length >= length ? length : 0;
  }
  const m = Math.min(data.length, 6);
  if (data.toString('latin1', 0, m) !== 'PROXY '.slice(0, m)) return -1;
  const end = data.indexOf('\r\n');
  if (end === -1) return data.length > 107 ? -1 : 0;
  return end + 2;
}

/** What the parser read, as plain JSON. */
function describe(header: Buffer): Record<string, unknown> {
  if (header[0] === 0x0d) {
    const parsed = V2ProxyProtocol.parse(new Uint8Array(header));
    const address = parsed.proxyAddress as unknown as {
      sourceAddress?: { address: number[] };
      destinationAddress?: { address: number[] };
      sourcePort?: number;
      destinationPort?: number;
    };
    return {
      version: 2,
      command: parsed.command,
      family: parsed.addressFamilyType,
      transport: parsed.transportProtocol,
      source: address.sourceAddress === undefined ? null : addressText(address.sourceAddress.address),
      destination: address.destinationAddress === undefined ? null : addressText(address.destinationAddress.address),
      sourcePort: address.sourcePort ?? null,
      destinationPort: address.destinationPort ?? null,
      length: header.length,
    };
  }
  const parsed = V1BinaryProxyProtocol.parse(new Uint8Array(header));
  return {
    version: 1,
    protocol: parsed.inetProtocol,
    source: parsed.source.ipAddress,
    destination: parsed.destination.ipAddress,
    sourcePort: parsed.source.port,
    destinationPort: parsed.destination.port,
    length: header.length,
  };
}

/** Bytes of an address as text: dotted for 4 bytes, 8 colon-separated hex groups (uncompressed) for 16. */
function addressText(bytes: number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  let counted = false;
  socket.on('error', () => {});
  socket.once('data', () => {
    counted = true;
    active++;
    max = Math.max(max, active);
    report('open');
  });
  socket.on('close', () => {
    if (!counted) return;
    active--;
    report('close');
  });
  if (banner !== null) socket.write(banner);
  if (!expectProxy) {
    socket.pipe(socket);
    return;
  }
  let pending = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    pending = Buffer.concat([pending, chunk]);
    const length = headerLength(pending);
    if (length === 0) return;
    socket.off('data', onData);
    let line: Record<string, unknown>;
    let rest = pending;
    if (length === -1) {
      line = { error: 'no PROXY header' };
    } else {
      try {
        line = describe(pending.subarray(0, length));
      } catch (err) {
        line = { error: String((err as Error).message ?? err) };
      }
      rest = pending.subarray(length);
    }
    socket.write(`${JSON.stringify(line)}\n`);
    if (rest.length > 0) socket.write(rest);
    socket.pipe(socket);
  };
  socket.on('data', onData);
});

server.listen(port, host, () => {
  process.stdout.write(`tcp-echo listening on ${host}:${(server.address() as net.AddressInfo).port}\n`);
});

function stop(): void {
  server.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
