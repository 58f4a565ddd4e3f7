// Request ids in Fly's shape: a sortable time part, then what makes them
// unique across this edge's workers, then the region: 01JDQ8ZC3V0A00001K-ams.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function base32(value: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

export class RequestIds {
  private readonly suffix: string;
  private readonly workerTag: string;
  private counter = 0;
  private lastMs = 0;
  private timePart = '';

  constructor(workerId: number, region: string) {
    this.workerTag = base32(workerId % 1024, 2);
    this.suffix = `-${region}`;
  }

  next(): string {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.timePart = base32(now, 10);
    }
    this.counter = (this.counter + 1) % 0x40000000;
    return this.timePart + this.workerTag + base32(this.counter, 6) + this.suffix;
  }
}
