// Fronts an instance someone else runs at a fixed address: always started,
// never stopped or suspended by perch, only health-checked and balanced.
import type { MachineDriver } from './driver.ts';
import { internalPortsOf, type Machine } from './machine.ts';

export class StaticDriver implements MachineDriver {
  readonly kind = 'static';

  async start(machine: Machine): Promise<void> {
    const address = machine.spec.address;
    if (address === null) throw new Error(`machine ${machine.spec.id} has no address`);
    machine.host = address.host;
    // The address is the first service's; other services keep their internal port on the same host.
    const [first, ...rest] = internalPortsOf(machine.app);
    if (first !== undefined) machine.ports.set(first, address.port);
    for (const internal of rest) machine.ports.set(internal, internal);
    if (first === undefined) machine.ports.set(address.port, address.port);
  }

  async stop(): Promise<void> {}

  async suspend(machine: Machine): Promise<void> {
    throw new Error(`machine ${machine.spec.id} is not run by perch and cannot be suspended`);
  }

  async resume(): Promise<void> {}
}
