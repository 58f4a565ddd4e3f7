// A worker's view of one app: its machines as routing targets with their
// upstream pools, and the choice of a machine for a request.
import type { Pool } from 'undici';
import type { AppConfig } from '../config/model.ts';
import type { MachineView } from '../machines/machine.ts';
import type { ResponsePolicy } from '../proxy/headers.ts';
import type { Upstreams } from '../proxy/upstreams.ts';

export interface MachineTarget {
  readonly id: string;
  readonly region: string;
  readonly origin: string;
  readonly pool: Pool;
  state: MachineView['state'];
  /** Requests this worker has on the machine now. */
  inflight: number;
}

export class AppRoute {
  readonly config: AppConfig;
  readonly response: ResponsePolicy;
  private readonly region: string;
  targets: MachineTarget[] = [];
  private readonly byId = new Map<string, MachineTarget>();
  private rotation = 0;

  constructor(config: AppConfig, region: string, response: ResponsePolicy) {
    this.config = config;
    this.region = region;
    this.response = response;
  }

  /** Applies the primary's latest machine list; returns the origins in use. */
  update(views: MachineView[], upstreams: Upstreams, origins: Set<string>): void {
    const service = this.config.httpService;
    if (service === null) return;
    const next: MachineTarget[] = [];
    for (const view of views) {
      if (view.app !== this.config.name) continue;
      if (service.processes.length > 0 && !service.processes.includes(view.processGroup)) continue;
      const port = view.ports.find(([internal]) => internal === service.internalPort)?.[1];
      if (port === undefined) continue;
      const origin = `http://${view.host.includes(':') ? `[${view.host}]` : view.host}:${port}`;
      origins.add(origin);
      let target = this.byId.get(view.id);
      if (target === undefined || target.origin !== origin) {
        target = { id: view.id, region: view.region, origin, pool: upstreams.pool(origin, this.config.limits), state: view.state, inflight: target?.inflight ?? 0 };
        this.byId.set(view.id, target);
      }
      target.state = view.state;
      next.push(target);
    }
    for (const id of this.byId.keys()) if (!next.some((target) => target.id === id)) this.byId.delete(id);
    this.targets = next;
  }

  /** A started machine, own region first, rotating among equals; `exclude` lists machines already tried. */
  pick(exclude: readonly string[] | null): MachineTarget | null {
    let local: MachineTarget | null = null;
    let remote: MachineTarget | null = null;
    const count = this.targets.length;
    const offset = this.rotation++;
    for (let i = 0; i < count; i++) {
      const target = this.targets[(offset + i) % count]!;
      if (target.state !== 'started' || (exclude !== null && exclude.includes(target.id))) continue;
      if (target.region === this.region) {
        local = target;
        break;
      }
      if (remote === null) remote = target;
    }
    return local ?? remote;
  }
}
