import { CliError } from '../errors.js';
import { type ForecastData, type Split, windowsOf } from './forecast.js';

/** A linear forecaster ŷ = Wᵀx + b shared by every channel: W [L, H] row-major, b [H]. */
export interface LinearForecaster {
  lookback: number;
  horizon: number;
  weight: Float64Array;
  bias: Float64Array;
}

/**
 * The moments of the ridge problem, Σx, Σy, Σxxᵀ, Σxyᵀ over every (window, channel) sample of a
 * split, in float64. Windows of one channel are slices of one series, so Σ_s z[s+i]·z[s+k] depends
 * on the lag k − i and the start i only: one prefix sum of z[u]·z[u+lag] per lag gives every entry,
 * O((L + H) · rows) instead of O(samples · L · (L + H)).
 */
export function ridgeMoments(
  data: ForecastData,
  split: Split = 'train',
): { n: number; sx: Float64Array; sy: Float64Array; sxx: Float64Array; sxy: Float64Array } {
  const { lookback: L, horizon: H, z64 } = data;
  const c = data.channels.length;
  const { first, count: n } = windowsOf(data, split);
  const seg = n + L + H - 1;
  const sx = new Float64Array(L);
  const sy = new Float64Array(H);
  const sxx = new Float64Array(L * L);
  const sxy = new Float64Array(L * H);
  const z = new Float64Array(seg);
  const p = new Float64Array(seg + 1);
  const q = new Float64Array(seg + 1);
  for (let j = 0; j < c; j++) {
    for (let u = 0; u < seg; u++) z[u] = z64[(first + u) * c + j]!;
    // Σ_s z[s + o] for offset o: prefix sums of z.
    q[0] = 0;
    for (let u = 0; u < seg; u++) q[u + 1] = q[u]! + z[u]!;
    for (let i = 0; i < L; i++) sx[i] = sx[i]! + q[i + n]! - q[i]!;
    for (let h = 0; h < H; h++) {
      sy[h] = sy[h]! + q[L + h + n]! - q[L + h]!;
    }
    for (let lag = 0; lag < L + H; lag++) {
      const top = seg - lag;
      p[0] = 0;
      for (let u = 0; u < top; u++) p[u + 1] = p[u]! + z[u]! * z[u + lag]!;
      // Σxx[i][i + lag] for lag < L.
      if (lag < L) {
        for (let i = 0; i + lag < L; i++) {
          const v = p[i + n]! - p[i]!;
          sxx[i * L + i + lag] = sxx[i * L + i + lag]! + v;
          if (lag > 0) sxx[(i + lag) * L + i] = sxx[(i + lag) * L + i]! + v;
        }
      }
      // Σxy[i][h] with L + h − i = lag.
      for (let i = Math.max(0, L - lag); i < L; i++) {
        const h = lag - L + i;
        if (h >= H) break;
        sxy[i * H + h] = sxy[i * H + h]! + p[i + n]! - p[i]!;
      }
    }
  }
  return { n: n * c, sx, sy, sxx, sxy };
}

/** Cholesky factor of an SPD matrix a [n, n] (row-major), in place below the diagonal. */
function cholesky(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= a[j * n + k]! ** 2;
    if (!(d > 0)) {
      throw new CliError(
        'linear forecaster: the normal equations are singular (constant inputs?); use --ridge > 0',
      );
    }
    const djj = Math.sqrt(d);
    a[j * n + j] = djj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= a[i * n + k]! * a[j * n + k]!;
      a[i * n + j] = s / djj;
    }
  }
}

/**
 * Closed-form ridge regression from the L-step window to the H-step forecast, one map and one bias
 * for all channels, the penalty λ‖W‖² on the weights only: with centred moments
 * W = (XcᵀXc + λI)⁻¹ XcᵀYc and b = ȳ − Wᵀx̄ — the exact minimiser with an unpenalised intercept.
 * Solved in float64.
 */
export function fitLinearForecaster(data: ForecastData, lambda: number): LinearForecaster {
  const { lookback: L, horizon: H } = data;
  const { n, sx, sy, sxx, sxy } = ridgeMoments(data, 'train');
  const mx = Float64Array.from(sx, (v) => v / n);
  const my = Float64Array.from(sy, (v) => v / n);
  const a = new Float64Array(L * L);
  for (let i = 0; i < L; i++) {
    for (let k = 0; k < L; k++) {
      a[i * L + k] = sxx[i * L + k]! - n * mx[i]! * mx[k]!;
    }
    a[i * L + i] = a[i * L + i]! + lambda;
  }
  const rhs = new Float64Array(L * H);
  for (let i = 0; i < L; i++) {
    for (let h = 0; h < H; h++) {
      rhs[i * H + h] = sxy[i * H + h]! - n * mx[i]! * my[h]!;
    }
  }
  cholesky(a, L);
  // Forward then backward substitution, all H right-hand sides at once.
  for (let i = 0; i < L; i++) {
    const lii = a[i * L + i]!;
    for (let h = 0; h < H; h++) {
      let s = rhs[i * H + h]!;
      for (let k = 0; k < i; k++) s -= a[i * L + k]! * rhs[k * H + h]!;
      rhs[i * H + h] = s / lii;
    }
  }
  for (let i = L - 1; i >= 0; i--) {
    const lii = a[i * L + i]!;
    for (let h = 0; h < H; h++) {
      let s = rhs[i * H + h]!;
      for (let k = i + 1; k < L; k++) s -= a[k * L + i]! * rhs[k * H + h]!;
      rhs[i * H + h] = s / lii;
    }
  }
  const bias = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let s = my[h]!;
    for (let i = 0; i < L; i++) s -= rhs[i * H + h]! * mx[i]!;
    bias[h] = s;
  }
  return { lookback: L, horizon: H, weight: rhs, bias };
}

/** MSE/MAE of a linear forecaster over every window and channel of a split (float64). */
export function linearMetrics(
  model: LinearForecaster,
  data: ForecastData,
  split: Split,
): { mse: number; mae: number } {
  const { lookback: L, horizon: H, z64 } = data;
  const c = data.channels.length;
  const { first, count } = windowsOf(data, split);
  const x = new Float64Array(L);
  const yhat = new Float64Array(H);
  const w = model.weight;
  let sse = 0;
  let sae = 0;
  for (let s = first; s < first + count; s++) {
    for (let j = 0; j < c; j++) {
      for (let i = 0; i < L; i++) x[i] = z64[(s + i) * c + j]!;
      yhat.set(model.bias);
      for (let i = 0; i < L; i++) {
        const xi = x[i]!;
        const row = i * H;
        for (let h = 0; h < H; h++) yhat[h] = yhat[h]! + xi * w[row + h]!;
      }
      for (let h = 0; h < H; h++) {
        const d = yhat[h]! - z64[(s + L + h) * c + j]!;
        sse += d * d;
        sae += Math.abs(d);
      }
    }
  }
  const total = count * c * H;
  return { mse: sse / total, mae: sae / total };
}
