/**
 * @module
 * What the app reports, independent of the metrics library (the Prometheus implementation lives
 * in `prometheus.ts`, which needs Node APIs for process metrics).
 */
import type { BatchResult } from '@kube-audit/core';

/** A batch's counts: what was received, written, dropped and changed. */
export type BatchCounts = Omit<BatchResult, 'chunks' | 'lines' | 'events'>;

export interface Metrics {
  /** One HTTP request answered with `status` after `seconds`. */
  request(status: number, seconds: number): void;
  /** One batch processed and written. */
  batch(result: BatchCounts): void;
  /** The exposition text. */
  render(): Promise<{ contentType: string; text: string }>;
}
