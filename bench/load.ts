// The load generator, run as its own process so the bench can pin it to a core
// away from the proxy under test (taskset -c 1). It takes one JSON argument,
// runs autocannon once and writes the figures as one JSON line to stdout.
//
//   node bench/load.ts '{"url":"http://127.0.0.1:8080/bytes/1024","connections":50,"durationSeconds":5,"headers":{}}'
import autocannon, { type Result } from 'autocannon';
import { LatencyHistogram } from './lib/latency-histogram.ts';
import type { LoadRequest, LoadResult } from './lib/loadgen.ts';

const request = JSON.parse(process.argv[2] ?? '') as LoadRequest;
// Like autocannon's own latency figures, every response counts, whatever its status.
const latency = new LatencyHistogram();
const statusCounts: Record<string, number> = {};
const result = await new Promise<Result>((resolve, reject) => {
  const instance = autocannon(
    {
      url: request.url,
      connections: request.connections,
      duration: request.durationSeconds,
      pipelining: 1, // keep-alive, one request in flight per connection
      headers: request.headers,
    },
    (err, res) => (err === null ? resolve(res) : reject(err)),
  );
  instance.on('response', (_client, status, _bytes, ms) => {
    latency.recordMs(ms);
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
  });
});
const completed = result.requests.total;
const output: LoadResult = {
  completed,
  durationSeconds: result.duration,
  requestsPerSecond: completed / result.duration,
  latencyMs: { p50: latency.percentileMs(50), p99: latency.percentileMs(99), mean: result.latency.average, max: result.latency.max },
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  statusCounts,
  bytesPerSecond: result.throughput.average,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
