// money.js -- decimal strings in, decimal strings out: no float ever holds
// an amount. The API sends and takes amounts as strings with up to 6
// decimals ("12.500000"); here they become BigInt micro-units and back.

const SCALE = 1000000n;

// "12.5" / "-0.000001" / "1,50" (a comma is taken as the decimal point)
// -> BigInt micro-units, or null when it is not an amount.
export function parseMicro(s) {
  if (typeof s !== 'string') return null;
  const t = s.trim().replace(',', '.');
  const m = /^([+-]?)(\d+)(?:\.(\d{0,6}))?$/.exec(t) || /^([+-]?)()\.(\d{1,6})$/.exec(t);
  if (!m) return null;
  const units = BigInt(m[2] || '0') * SCALE + BigInt((m[3] || '').padEnd(6, '0') || '0');
  return m[1] === '-' ? -units : units;
}

// BigInt micro-units -> "12.500000"-style string the API accepts.
export function microToString(u) {
  const neg = u < 0n;
  const a = neg ? -u : u;
  const frac = (a % SCALE).toString().padStart(6, '0');
  return (neg ? '-' : '') + (a / SCALE).toString() + '.' + frac;
}

// A sum of decimal strings (null/undefined count as 0), as a string.
export function add(...xs) {
  let t = 0n;
  for (const x of xs) if (x != null) t += parseMicro(String(x)) ?? 0n;
  return microToString(t);
}

export function cmp(a, b) {
  const x = parseMicro(String(a)) ?? 0n, y = parseMicro(String(b)) ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isNegative(s) { return (parseMicro(String(s)) ?? 0n) < 0n; }

// For display: grouped thousands in the locale's style, at least minDec
// decimals, at most 6 (trailing zeros beyond minDec dropped: never rounded,
// so 0.0125 stays 0.0125 and 10.500000 shows 10.50).
export function format(s, lang = 'en', minDec = 2) {
  if (s == null || s === '') return '';
  const u = parseMicro(String(s));
  if (u == null) return String(s);
  const neg = u < 0n;
  const a = neg ? -u : u;
  const int = (a / SCALE).toString();
  let frac = (a % SCALE).toString().padStart(6, '0');
  while (frac.length > minDec && frac.endsWith('0')) frac = frac.slice(0, -1);
  const [gs, ds] = lang === 'es' ? ['.', ','] : [',', '.'];
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, gs);
  return (neg ? '-' : '') + grouped + (frac ? ds + frac : '');
}

// Only for drawing (chart heights): never for arithmetic on money.
export function toNumber(s) {
  const u = parseMicro(String(s ?? '0')) ?? 0n;
  return Number(u) / 1e6;
}
