/**
 * @module
 * What the app reports, independent of the metrics library (the Prometheus implementation lives
 * in `prometheus.ts`, which needs Node APIs for process metrics).
 */
import type { BatchResult } from '@kube-audit/core';

export interface Metrics {
  /** One HTTP request answered with `status` after `seconds`. */
  request(status: number, seconds: number): void;
  /** One batch processed and written. */
  batch(result: BatchResult): void;
  /** The exposition text. */
  render(): Promise<{ contentType: string; text: string }>;
}
