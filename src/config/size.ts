// Sizes in perch.toml and app files. A bare integer is bytes; a string is a
// number and a unit: "16KiB", "1MiB", "16kb", "16k", "1.5MiB", "512 B".
//
// Every unit is binary (k = kb = KiB = 1024), case-insensitive. That is what
// nginx ("16k"), HAProxy and Fly's own memory sizes ("512mb" is 512 MiB) mean,
// and nobody asking for a "16kb" header limit wants 16 000 bytes. Fractions
// are rounded down to whole bytes. An error is the reason the value is not a
// size, without repeating the value (the caller shows it).

export type SizeResult = { bytes: number } | { error: string };

const BYTES_PER_UNIT: Record<string, number> = {
  b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

const SIZE = /^(\d+\.?\d*|\.\d+)\s*([a-z]*)$/i;

export function parseSize(value: unknown): SizeResult {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return { error: 'a size in bytes is a whole number' };
    if (value < 0) return { error: 'a size cannot be negative' };
    return { bytes: value };
  }
  if (typeof value !== 'string') {
    return { error: `a size is a string like "16KiB" or a number of bytes, not ${kindOf(value)}` };
  }
  const text = value.trim();
  if (text.startsWith('-')) return { error: 'a size cannot be negative' };
  const match = SIZE.exec(text);
  if (match === null) return { error: 'not a number followed by a unit, like "16KiB"' };
  const unit = match[2].toLowerCase();
  const factor = unit === '' ? 1 : BYTES_PER_UNIT[unit];
  if (factor === undefined) return { error: `unknown unit "${match[2]}"; units are B, KiB, MiB, GiB (k, kb, m, mb, g, gb mean the same)` };
  return { bytes: Math.floor(Number(match[1]) * factor) };
}

function kindOf(value: unknown): string {
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'a list';
  return value !== null && typeof value === 'object' ? 'a table' : `a ${typeof value}`;
}
