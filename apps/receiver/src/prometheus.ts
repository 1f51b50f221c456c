/**
 * @module
 * Prometheus metrics with prom-client: the counters the README lists, what the TLS and token files are
 * doing, and the runtime's process metrics (`process_*`, `nodejs_*`).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Metrics } from './metrics';
import type { Sink } from './sink';

/** The app's metrics plus what the process around it reports. */
export interface ReceiverMetrics extends Metrics {
  /** A certificate was put in service. */
  certificateLoaded(validTo: Date): void;
  /** A changed TLS or token file was taken (`ok`) or rejected, keeping the previous one. */
  fileReloaded(file: 'tls' | 'token', ok: boolean): void;
}

export interface PrometheusMetricsOptions {
  /** The sink bound past which receive routes answer 503, exported so alerts can compare with it. */
  maxPendingBytes?: number;
}

/**
 * @example
 * const metrics = createPrometheusMetrics(sink, { maxPendingBytes: 67108864 });
 * metrics.request(200, 0.004);
 */
export function createPrometheusMetrics(sink: Sink, options: PrometheusMetricsOptions = {}): ReceiverMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const opts = <T extends string>(name: string, help: string, labelNames: T[] = []) => ({
    name,
    help,
    labelNames,
    registers: [registry],
  });
  const requests = new Counter(opts('kube_audit_requests_total', 'HTTP requests answered, by status code.', ['code']));
  const received = new Counter(opts('kube_audit_events_received_total', 'Items received in batches.'));
  const written = new Counter(opts('kube_audit_events_written_total', 'Events written to stdout.'));
  const dropped = new Counter(
    opts('kube_audit_events_dropped_total', 'Events dropped by the pipeline, by reason.', ['reason']),
  );
  const invalid = new Counter(opts('kube_audit_events_invalid_total', 'Items that were not valid audit events.'));
  const truncated = new Counter(
    opts('kube_audit_events_truncated_total', 'Events over MAX_EVENT_BYTES: bodies dropped, or cut down.'),
  );
  const cut = new Counter(
    opts('kube_audit_events_cut_total', 'Events still over MAX_EVENT_BYTES without bodies, cut down (kube-audit/cut).'),
  );
  const redacted = new Counter(opts('kube_audit_events_redacted_total', 'Events with redacted values.'));
  const batchEvents = new Histogram({
    ...opts('kube_audit_batch_events', 'Items per received batch.'),
    buckets: [1, 10, 50, 100, 200, 400, 1000, 5000],
  });
  const duration = new Histogram({
    ...opts('kube_audit_request_duration_seconds', 'Time to answer a request, body read and write included.'),
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  new Gauge({
    ...opts('kube_audit_sink_pending_bytes', 'Bytes waiting to be written to stdout.'),
    collect() {
      this.set(sink.pendingBytes);
    },
  });
  if (options.maxPendingBytes !== undefined) {
    new Gauge(opts('kube_audit_sink_max_pending_bytes', 'MAX_PENDING_BYTES: past it, batches get 503.')).set(
      options.maxPendingBytes,
    );
  }
  // Created with the first certificate: a series of 0 without HTTPS would read as long expired.
  let certificateExpiry: Gauge | undefined;
  const reloads = new Counter(
    opts('kube_audit_file_reloads_total', 'Changed TLS or token files taken (success) or rejected (failure).', [
      'file',
      'result',
    ]),
  );
  // Series that exist from the start, so rate() and absent() work before the first event.
  dropped.inc({ reason: 'policy' }, 0);
  dropped.inc({ reason: 'duplicate' }, 0);

  return {
    request(status, seconds) {
      requests.inc({ code: String(status) });
      duration.observe(seconds);
    },
    batch(result) {
      received.inc(result.received);
      written.inc(result.written);
      dropped.inc({ reason: 'policy' }, result.dropped.policy);
      dropped.inc({ reason: 'duplicate' }, result.dropped.duplicate);
      invalid.inc(result.invalid);
      truncated.inc(result.truncated);
      cut.inc(result.cut);
      redacted.inc(result.redacted);
      batchEvents.observe(result.received);
    },
    certificateLoaded(validTo) {
      certificateExpiry ??= new Gauge(
        opts(
          'kube_audit_tls_certificate_expiration_timestamp_seconds',
          'When the served certificate expires (Unix time).',
        ),
      );
      certificateExpiry.set(Math.floor(validTo.getTime() / 1000));
    },
    fileReloaded(file, ok) {
      reloads.inc({ file, result: ok ? 'success' : 'failure' });
    },
    async render() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}
