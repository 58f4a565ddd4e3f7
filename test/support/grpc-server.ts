// A gRPC server (@grpc/grpc-js, cleartext HTTP/2) that perch runs as a
// machine process: listens on 127.0.0.1:$PORT and serves test/fixtures/echo.proto.
// Every call ends with trailing metadata `x-served-by: <machine>`.
import grpc from '@grpc/grpc-js';
import { echoService } from './grpc.ts';

const machine = process.env.FLY_MACHINE_ID ?? 'local';
const port = Number(process.env.PORT ?? 50051);

interface EchoRequest {
  message: string;
}
interface StreamRequest {
  message: string;
  count: number;
  interval_ms: number;
  fail: boolean;
}

const SEEN = ['x-forwarded-proto', 'via', 'fly-request-id', 'te', 'x-client'];

function seen(metadata: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SEEN) {
    const values = metadata.get(name);
    if (values.length > 0) out[name] = values.map(String).join(', ');
  }
  return out;
}

function trailer(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-served-by', machine);
  return metadata;
}

const server = new grpc.Server();
server.addService(echoService(), {
  Unary(call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) {
    const message = call.request.message;
    if (message.startsWith('notfound:')) {
      callback({ code: grpc.status.NOT_FOUND, details: `no such thing: ${message.slice(9)}`, metadata: trailer() });
      return;
    }
    callback(null, { message, machine, index: 0, seen: seen(call.metadata) }, trailer());
  },
  ServerStream(call: grpc.ServerWritableStream<StreamRequest, unknown>) {
    const { message, count, interval_ms: interval, fail } = call.request;
    let index = 0;
    const timer = setInterval(() => {
      if (call.cancelled) {
        clearInterval(timer);
        return;
      }
      if (index < count) {
        call.write({ message, machine, index, seen: index === 0 ? seen(call.metadata) : {} });
        index++;
        return;
      }
      clearInterval(timer);
      if (fail) call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `stopped after ${count}`, metadata: trailer() });
      else call.end(trailer());
    }, Math.max(1, interval));
  },
  Bidi(call: grpc.ServerDuplexStream<EchoRequest, unknown>) {
    let index = 0;
    call.on('data', (request: EchoRequest) => call.write({ message: request.message, machine, index: index++ }));
    call.on('end', () => call.end(trailer()));
  },
});

server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err !== null) {
    process.stderr.write(`grpc server: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`grpc ${machine} listening on 127.0.0.1:${bound}\n`);
});

function stop(): void {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
