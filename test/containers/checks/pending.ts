// What the deploy files already use but pgrouter does not have yet: contracts announced by
// the lead (issue 15). Each entry is tolerated by the checks until it lands; once it has,
// its entry only goes unused (the checks then validate it for real) and can be removed.

/** Config keys that `pgrouter check` still rejects as unknown. */
export const PENDING_CONFIG_KEYS: ReadonlyMap<string, string> = new Map([
]);

/** Metric names the alert rules use before docs/metrics.md lists them. */
export const PENDING_METRICS: ReadonlyMap<string, string> = new Map([
  ['pgrouter_tls_cert_expiry_timestamp_seconds', 'gauge {listener}: notAfter of the TLS termination certificate'],
]);
