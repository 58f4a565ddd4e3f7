// The parts of node:http that perch calls, taken without its ES module facade.
//
// Why not `import http from 'node:http'`: the first ES import of node:http
// makes Node read every one of its exports to build the module namespace, and
// in Node 24 some of those exports (the WebSocket client classes) are getters
// that load Node's bundled copy of undici, fetch and web streams. That is
// ~14 MiB of every perch process's memory (measured: +6.6 MiB private,
// +7 MiB of the binary's pages, +2.3 MiB of JavaScript heap) for code perch
// never calls. Types still come from `import type ... from 'node:http'`.
const http = process.getBuiltinModule('node:http');

export const { createServer, STATUS_CODES, Server: HttpServer, ServerResponse } = http;
