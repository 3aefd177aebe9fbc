/**
 * A log-linear latency histogram in microseconds: exact below 2,048 µs, then
 * 1,024 sub-buckets per power of two (~0.1 % error). Fixed memory whatever the
 * sample count, and serialisable, so child processes can send theirs to the
 * parent to be merged (percentiles of percentiles would be wrong).
 */
const LINEAR = 2048;
const SUB_BITS = 10;
const SUB = 1 << SUB_BITS;
const MAX_EXPONENT = 40;
const SIZE = LINEAR + (MAX_EXPONENT - 11 + 1) * SUB;

/** Sparse [bucketIndex, count] pairs plus the exact maximum. */
export interface HistogramData {
  buckets: Array<[number, number]>;
  maxMicros: number;
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function indexOf(micros: number): number {
  const v = Math.max(0, Math.floor(micros));
  if (v < LINEAR) return v;
  const exponent = Math.min(MAX_EXPONENT, Math.floor(Math.log2(v)));
  const sub = Math.min(SUB - 1, Math.floor(v / 2 ** (exponent - SUB_BITS)) - SUB);
  return LINEAR + (exponent - 11) * SUB + sub;
}

function lowerBoundOf(index: number): number {
  if (index < LINEAR) return index;
  const exponent = 11 + Math.floor((index - LINEAR) / SUB);
  const sub = (index - LINEAR) % SUB;
  return (SUB + sub) * 2 ** (exponent - SUB_BITS);
}

export class Histogram {
  private readonly counts = new Float64Array(SIZE);
  private total = 0;
  private maxMicros = 0;

  get count(): number {
    return this.total;
  }

  recordMicros(micros: number): void {
    const index = indexOf(micros);
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.total += 1;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  recordMillis(millis: number): void {
    this.recordMicros(millis * 1000);
  }

  merge(data: HistogramData): void {
    for (const [index, count] of data.buckets) {
      this.counts[index] = (this.counts[index] ?? 0) + count;
      this.total += count;
    }
    if (data.maxMicros > this.maxMicros) this.maxMicros = data.maxMicros;
  }

  toData(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < SIZE; i++) {
      const count = this.counts[i] as number;
      if (count > 0) buckets.push([i, count]);
    }
    return { buckets, maxMicros: this.maxMicros };
  }

  /** Value (µs) at or below which `fraction` of the samples lie; 0 when empty. */
  atMicros(fraction: number): number {
    if (this.total === 0) return 0;
    const rank = Math.ceil(fraction * this.total);
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(lowerBoundOf(i), this.maxMicros);
    }
    return this.maxMicros;
  }

  /** p50/p90/p99/max in milliseconds. */
  percentilesMs(): Percentiles {
    const ms = (micros: number) => Math.round(micros) / 1000;
    return {
      count: this.total,
      p50: ms(this.atMicros(0.5)),
      p90: ms(this.atMicros(0.9)),
      p99: ms(this.atMicros(0.99)),
      max: ms(this.maxMicros),
    };
  }
}
