// gRPC through perch: a real @grpc/grpc-js client speaks HTTP/2 over TLS to
// perch, which speaks h2c (h2_backend = true) to a real grpc-js server that it
// runs as a machine. Unary, server streaming and bidi streaming, with
// trailing metadata and non-OK statuses.
import grpc from '@grpc/grpc-js';
import t from 'tap';
import { echoClient, GRPC_SERVER } from '../support/grpc.ts';
import { startPerch } from '../support/perch.ts';

interface EchoReply {
  message: string;
  machine: string;
  index: number;
  seen: Record<string, string>;
}

type Client = ReturnType<typeof echoClient>;

const grpcApp = `app = "grpc"
primary_region = "ams"
hostnames = ["grpc.test"]

[processes]
app = ${JSON.stringify(`node ${GRPC_SERVER}`)}

[http_service]
internal_port = 50051

[http_service.http_options]
h2_backend = true

[http_service.concurrency]
type = "requests"
soft_limit = 50

[[machines]]
region = "ams"
count = 1
`;

interface Finished<T> {
  error: grpc.ServiceError | null;
  value: T | null;
  status: grpc.StatusObject;
}

function unary(client: Client, message: string, metadata = new grpc.Metadata()): Promise<Finished<EchoReply>> {
  return new Promise((resolve) => {
    let error: grpc.ServiceError | null = null;
    let value: EchoReply | null = null;
    let done = 0;
    let status: grpc.StatusObject;
    const finish = (): void => {
      if (++done === 2) resolve({ error, value, status });
    };
    const call = client.Unary({ message }, metadata, (err: grpc.ServiceError | null, reply: EchoReply) => {
      error = err;
      value = reply ?? null;
      finish();
    }) as grpc.ClientUnaryCall;
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      finish();
    });
  });
}

function collect(call: grpc.ClientReadableStream<EchoReply>): Promise<{ replies: { reply: EchoReply; at: number }[]; error: grpc.ServiceError | null; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const replies: { reply: EchoReply; at: number }[] = [];
    let error: grpc.ServiceError | null = null;
    call.on('data', (reply: EchoReply) => replies.push({ reply, at: Date.now() }));
    call.on('error', (err: grpc.ServiceError) => {
      error = err;
    });
    call.on('status', (status: grpc.StatusObject) => {
      // 'status' comes after the last 'data' and after 'error'.
      setImmediate(() => resolve({ replies, error, status }));
    });
  });
}

t.test('gRPC over TLS to perch and h2c to the machine: unary, streaming, trailers and status', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { grpc: grpcApp } });
  const client = echoClient(`127.0.0.1:${perch.httpsPort}`, grpc.credentials.createSsl(Buffer.from(perch.caPem())), {
    'grpc.ssl_target_name_override': 'grpc.test',
    'grpc.default_authority': 'grpc.test',
  });
  t.teardown(() => client.close());

  const metadata = new grpc.Metadata();
  metadata.set('x-client', 'tap');
  const ok = await unary(client, 'hi', metadata);
  t.equal(ok.error, null, `unary call succeeded (${ok.error?.message ?? 'ok'})`);
  t.equal(ok.value?.message, 'hi');
  t.equal(ok.value?.machine, 'grpc-ams-1');
  t.equal(ok.status.code, grpc.status.OK);
  t.same(ok.status.metadata.get('x-served-by'), ['grpc-ams-1'], 'trailing metadata came through');
  t.equal(ok.value?.seen['x-forwarded-proto'], 'https');
  t.equal(ok.value?.seen['x-client'], 'tap');
  t.match(ok.value?.seen.via ?? '', /2 perch/);

  const missing = await unary(client, 'notfound:thing');
  t.equal(missing.error?.code, grpc.status.NOT_FOUND, 'a non-OK status reaches the client');
  t.equal(missing.error?.details, 'no such thing: thing', 'with its message');
  t.same(missing.status.metadata.get('x-served-by'), ['grpc-ams-1'], 'and its trailing metadata');

  const many = await Promise.all(Array.from({ length: 40 }, (_, i) => unary(client, `m${i}`)));
  t.same(many.map((r) => r.value?.message), Array.from({ length: 40 }, (_, i) => `m${i}`), '40 concurrent calls, each answered');

  const streamed = await collect(client.ServerStream({ message: 'tick', count: 5, interval_ms: 60 }) as grpc.ClientReadableStream<EchoReply>);
  t.equal(streamed.error, null);
  t.same(streamed.replies.map((r) => r.reply.index), [0, 1, 2, 3, 4], 'server streaming: every message, in order');
  t.ok(streamed.replies[4]!.at - streamed.replies[0]!.at >= 150, 'as they were sent, not buffered to the end');
  t.equal(streamed.status.code, grpc.status.OK);
  t.same(streamed.status.metadata.get('x-served-by'), ['grpc-ams-1']);

  const failed = await collect(client.ServerStream({ message: 'tick', count: 3, interval_ms: 10, fail: true }) as grpc.ClientReadableStream<EchoReply>);
  t.equal(failed.replies.length, 3, 'messages before the failure arrived');
  t.equal(failed.error?.code, grpc.status.RESOURCE_EXHAUSTED, 'then the non-OK status in the trailers');
  t.equal(failed.error?.details, 'stopped after 3');

  const bidi = client.Bidi() as grpc.ClientDuplexStream<{ message: string }, EchoReply>;
  const done = collect(bidi as unknown as grpc.ClientReadableStream<EchoReply>);
  const answers: string[] = [];
  for (const word of ['one', 'two', 'three']) {
    const answered = new Promise<EchoReply>((resolve) => bidi.once('data', resolve));
    bidi.write({ message: word });
    answers.push((await answered).message);
  }
  bidi.end();
  const ended = await done;
  t.same(answers, ['one', 'two', 'three'], 'bidi: each message echoed before the next was sent');
  t.equal(ended.status.code, grpc.status.OK);
  t.same(ended.status.metadata.get('x-served-by'), ['grpc-ams-1']);
});
