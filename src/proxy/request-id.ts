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

/** Every 10-bit number as its two base32 digits. */
const DIGIT_PAIRS = Array.from({ length: 1024 }, (_, value) => base32(value, 2));

/** The counter is 30 bits: six base32 digits. */
const COUNTER_MODULUS = 2 ** 30;

export class RequestIds {
  private readonly workerTag: string;
  /** The counter's low 10 bits as digits, each with the region suffix after them: the id's last part. */
  private readonly tails: readonly string[];
  private counter = 0;
  private lastMs = 0;
  /**
   * Everything before the tail (time part, worker tag, the counter's high 20
   * bits): it changes once a millisecond or every 1024 ids, so an id costs
   * one concatenation.
   */
  private head = '';

  constructor(workerId: number, region: string) {
    this.workerTag = DIGIT_PAIRS[workerId % 1024]!;
    this.tails = DIGIT_PAIRS.map((digits) => `${digits}-${region}`);
  }

  next(): string {
    const now = Date.now();
    const counter = (this.counter = (this.counter + 1) % COUNTER_MODULUS);
    const low = counter & 1023;
    if (now !== this.lastMs || low === 0) {
      this.lastMs = now;
      this.head = base32(now, 10) + this.workerTag + DIGIT_PAIRS[counter >> 20]! + DIGIT_PAIRS[(counter >> 10) & 1023]!;
    }
    return this.head + this.tails[low]!;
  }
}
