import cliProgress from 'cli-progress';
import pc from 'picocolors';

export interface ReporterOptions {
  /** Machine-readable output: JSON lines on stdout. */
  json?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface ProgressPayload {
  [key: string]: number | string | undefined;
}

/** A progress display for one loop of `total` units: a bar on a TTY, plain lines elsewhere. */
export interface Progress {
  update(done: number, payload?: ProgressPayload): void;
  /** A log line while the display runs (above the bar on a TTY; human mode only). */
  note(message: string): void;
  stop(): void;
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A number as a table or log shows it: 4 significant digits, no exponent for ordinary sizes. */
export function fmtNumber(v: number | undefined, digits = 4): string {
  if (v === undefined || v === null) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(digits - 1);
  return v.toFixed(Math.max(0, digits - 1 - Math.floor(Math.log10(a || 1))));
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Column-aligned text table: numbers right-aligned, text left-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNumber(c) : c)));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number'));
  const line = (r: string[], head = false) =>
    r
      .map((c, i) => {
        const w = widths[i]!;
        const s = numeric[i] ? c.padStart(w) : c.padEnd(w);
        return head ? pc.bold(s) : s;
      })
      .join('  ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers, true), sep, ...cells.map((r) => line(r))].join('\n');
}

/**
 * Where everything a command says goes. Human mode: logs and progress on stderr (a bar with loss,
 * throughput and ETA on a TTY, plain lines otherwise), results and tables on stdout. JSON mode: one
 * JSON object per line on stdout, the results last; warnings still go to stderr.
 */
export class Reporter {
  readonly json: boolean;
  readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  readonly err: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(options: ReporterOptions = {}) {
    this.json = options.json ?? false;
    this.out = options.stdout ?? process.stdout;
    this.err = options.stderr ?? process.stderr;
  }

  get isTTY(): boolean {
    return Boolean(this.err.isTTY) && !this.json;
  }

  /** A JSON event line (JSON mode only). */
  event(type: string, data: Record<string, unknown> = {}): void {
    if (this.json) this.out.write(`${JSON.stringify({ event: type, ...data })}\n`);
  }

  /** A human log line on stderr (human mode only). */
  info(message: string): void {
    if (!this.json) this.err.write(`${message}\n`);
  }

  warn(message: string): void {
    this.err.write(`${pc.yellow('warning:')} ${message}\n`);
    this.event('warning', { message });
  }

  /** Human text on stdout (tables, samples). */
  print(text: string): void {
    if (!this.json) this.out.write(`${text}\n`);
  }

  heading(text: string): void {
    this.print(`\n${pc.bold(pc.cyan(text))}`);
  }

  /** The final results: the last JSON line, or a table. */
  result(metrics: Record<string, unknown>, human?: string): void {
    if (this.json) this.out.write(`${JSON.stringify(metrics)}\n`);
    else if (human !== undefined) this.out.write(`${human}\n`);
  }

  /** A progress display over `total` units labelled `label`. */
  progress(label: string, total: number, unit = 'it'): Progress {
    const start = performance.now();
    if (this.json) return { update() {}, note() {}, stop() {} };
    if (this.isTTY) {
      const bar = new cliProgress.SingleBar(
        {
          format: `${label} ${pc.cyan('{bar}')} {value}/{total} {extra} {speed} ETA {etaText}`,
          stream: this.err,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
          fps: 8,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { extra: '', speed: '', etaText: '?' });
      return {
        note: (message) => {
          // Clear the bar's line, write the message, and let the bar redraw below it.
          this.err.write(`\r\x1b[2K${message}\n`);
          bar.render();
        },
        update: (done, payload = {}) => {
          const secs = (performance.now() - start) / 1e3;
          const rate = done / Math.max(secs, 1e-9);
          bar.update(done, {
            extra: fmtPayload(payload),
            speed: `${fmtNumber(rate, 3)} ${unit}/s`,
            etaText: fmtDuration((total - done) / rate),
          });
        },
        stop: () => bar.stop(),
      };
    }
    let last = 0;
    let finished = false;
    return {
      update: (done, payload = {}) => {
        const now = performance.now();
        if (finished || (done < total && now - last < 2000)) return;
        last = now;
        finished = done >= total;
        const secs = (now - start) / 1e3;
        const rate = done / Math.max(secs, 1e-9);
        this.err.write(
          `${label} ${done}/${total} ${fmtPayload(payload)} ${fmtNumber(rate, 3)} ${unit}/s ETA ${fmtDuration((total - done) / rate)}\n`,
        );
      },
      note: (message) => this.err.write(`${message}\n`),
      stop: () => {},
    };
  }
}

function fmtPayload(payload: ProgressPayload): string {
  return Object.entries(payload)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNumber(v) : v}`)
    .join(' ');
}
