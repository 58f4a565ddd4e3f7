// Entry point of a worker process (cluster.setupPrimary's `exec`).
import './pin-tick-shape.ts';
import { runWorker } from './worker.ts';

runWorker();
