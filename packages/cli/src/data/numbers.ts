const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A decimal literal ('12', '-0.5', '1e-3', '.5') as a number; NaN for anything else, where
 * Number() would accept hexadecimal ('0x1F' → 31), binary, octal, 'Infinity' or blanks ('' → 0).
 */
export function parseDecimal(text: string): number {
  const s = text.trim();
  return DECIMAL.test(s) ? Number(s) : Number.NaN;
}
