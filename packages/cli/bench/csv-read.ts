// Benchmark: peak memory and speed of reading a large forecasting CSV (issue 13: a 200 MB file must
// read with a peak RSS under 400 MB). Generates the file in a temporary folder, reads it in a fresh
// process with readTimeSeriesCsv, and reports peak RSS against two yardsticks measured in the same
// run: an idle Node process, and the numeric matrix the reader must keep.
//
//   node --import tsx --conditions=@recur/source bench/csv-read.ts [--mb 200] [--channels 8]
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

if (process.argv[2] === '--child') {
  const { readTimeSeriesCsv } = await import('../src/data/csv.js');
  const file = process.argv[3] as string;
  const t0 = performance.now();
  const table = readTimeSeriesCsv(file, {
    onProgress: (p) =>
      process.stderr.write(
        `  ${p.rows.toLocaleString('en-US')} rows, ${Math.round(p.rowsPerSecond).toLocaleString('en-US')} rows/s, ${Math.round(p.fraction * 100)} %\n`,
      ),
  });
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    JSON.stringify({
      rows: table.rows,
      channels: table.channels.length,
      seconds,
      matrixBytes: table.values.byteLength,
      peakRss: process.resourceUsage().maxRSS * 1024,
    }),
  );
  process.exit(0);
}

const mb = arg('mb', 200);
const channels = arg('channels', 8);
const dir = mkdtempSync(join(tmpdir(), 'recur-csv-bench-'));
const file = join(dir, 'big.csv');
try {
  const fd = openSync(file, 'w');
  writeSync(fd, `date,${Array.from({ length: channels }, (_, j) => `c${j}`).join(',')}\n`);
  let r = 0;
  let bytes = 0;
  const start = Date.UTC(2000, 0, 1);
  while (bytes < mb * 1e6) {
    const lines: string[] = [];
    for (let k = 0; k < 10_000; k++, r++) {
      const date = new Date(start + r * 60_000).toISOString().replace('T', ' ').slice(0, 19);
      const row = Array.from({ length: channels }, (_, j) =>
        (Math.sin(r / (10 + j)) * 100 + j).toFixed(4),
      );
      lines.push(`${date},${row.join(',')}`);
    }
    const chunk = `${lines.join('\n')}\n`;
    writeSync(fd, chunk);
    bytes += Buffer.byteLength(chunk);
  }
  closeSync(fd);
  const size = statSync(file).size;
  const self = fileURLToPath(import.meta.url);
  const node = [process.execPath, '--import', 'tsx', '--conditions=@recur/source'];
  const idle = JSON.parse(
    execFileSync(
      node[0] as string,
      ['-e', 'process.stdout.write(JSON.stringify(process.resourceUsage().maxRSS * 1024))'],
      { encoding: 'utf8' },
    ),
  ) as number;
  const out = execFileSync(node[0] as string, [...node.slice(1), self, '--child', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const res = JSON.parse(out) as {
    rows: number;
    channels: number;
    seconds: number;
    matrixBytes: number;
    peakRss: number;
  };
  const MB = 2 ** 20;
  console.log(
    [
      `file: ${(size / MB).toFixed(0)} MiB, ${res.rows.toLocaleString('en-US')} rows × ${res.channels} channels`,
      `read: ${res.seconds.toFixed(1)} s (${Math.round(res.rows / res.seconds).toLocaleString('en-US')} rows/s, ${(size / MB / res.seconds).toFixed(1)} MiB/s), Node ${process.version}`,
      `peak RSS: ${(res.peakRss / MB).toFixed(0)} MiB (limit 400 MB = 381 MiB)`,
      `yardsticks: idle node ${(idle / MB).toFixed(0)} MiB; the float64 matrix ${(res.matrixBytes / MB).toFixed(0)} MiB; peak − idle = ${((res.peakRss - idle) / res.matrixBytes).toFixed(2)} × the matrix, ${((res.peakRss - idle) / size).toFixed(2)} × the file`,
    ].join('\n'),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
