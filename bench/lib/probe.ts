// One request through a target before measuring it, so a target that answers
// wrongly (404 from a routing mistake, a truncated body) fails with a reason
// instead of producing fast-looking numbers.
import http from 'node:http';

export function probe(origin: string, path: string, headers: Record<string, string>, expectedBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${origin}${path}`, { headers, agent: false, timeout: 5000 }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${path} answered ${res.statusCode}`));
        else if (bytes !== expectedBytes) reject(new Error(`GET ${path} returned ${bytes} bytes, expected ${expectedBytes}`));
        else resolve();
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}
