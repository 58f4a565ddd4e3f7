// The Node flags a worker runs with: the primary's own, plus a young-generation
// size chosen for forwarding.
//
// Why a smaller young generation than V8 picks by default:
// every socket read hands JavaScript a fresh ArrayBuffer whose memory lives
// outside the V8 heap. A scavenge frees the dead ones, but with a large young
// generation scavenges are rare, and meanwhile V8's external-memory limit
// (64 MiB above what the last full GC left) starts a full mark-compact. At
// 64 KiB responses that was a full GC every ~100 ms on one worker. With
// 8 MiB, scavenges free the buffers first: measured on the forwarding bench,
// about 30 % less CPU per request at 64 KiB, 1-4 % more at 1 KiB (more
// scavenges), and about half the resident memory per worker under load.
// 16 MiB was ~2 % cheaper at 1 KiB but gave most of the 64 KiB gain back.
// A flag the user gives (command line or NODE_OPTIONS) wins.

export const WORKER_SEMI_SPACE_MIB = 8;

const SEMI_SPACE_FLAG = /(?:^|\s)--max[-_]semi[-_]space[-_]size(?:[=\s]|$)/;

export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg)) || SEMI_SPACE_FLAG.test(nodeOptions ?? '');
  return given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}
