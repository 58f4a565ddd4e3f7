// The Echo service of test/fixtures/echo.proto, for the test's gRPC server and clients.
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const ECHO_PROTO = fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url));
export const GRPC_SERVER = fileURLToPath(new URL('./grpc-server.ts', import.meta.url));

type EchoPackage = { perch: { test: { Echo: grpc.ServiceClientConstructor } } };

function load(): EchoPackage {
  const definition = protoLoader.loadSync(ECHO_PROTO, { keepCase: true, longs: Number, defaults: true });
  return grpc.loadPackageDefinition(definition) as unknown as EchoPackage;
}

export function echoService(): grpc.ServiceDefinition {
  return load().perch.test.Echo.service;
}

/** A client of the Echo service at `target` ("host:port"). */
export function echoClient(target: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const Echo = load().perch.test.Echo;
  return new Echo(target, credentials, options) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
}
