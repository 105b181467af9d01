// Closed schemas for the Prometheus Operator objects we ship (no client has their models):
// the subset of monitoring.coreos.com/v1 fields that deploy/kubernetes/monitoring may use.
// Unknown fields fail, as with the built-in kinds.
import { Type, type TSchema } from '@sinclair/typebox';

const closed = { additionalProperties: false } as const;
const StringMap = Type.Record(Type.String(), Type.String());
const Duration = Type.String({ pattern: '^([0-9]+(ms|s|m|h))+$' });

const Metadata = Type.Object(
  { name: Type.String({ minLength: 1 }), namespace: Type.Optional(Type.String()), labels: Type.Optional(StringMap), annotations: Type.Optional(StringMap) },
  closed,
);
const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(StringMap),
    matchExpressions: Type.Optional(
      Type.Array(Type.Object({ key: Type.String(), operator: Type.Union([Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist')]), values: Type.Optional(Type.Array(Type.String())) }, closed)),
    ),
  },
  closed,
);
const NamespaceSelector = Type.Object({ any: Type.Optional(Type.Boolean()), matchNames: Type.Optional(Type.Array(Type.String())) }, closed);
const Endpoint = Type.Object(
  {
    port: Type.String({ minLength: 1 }),
    path: Type.Optional(Type.String({ pattern: '^/' })),
    scheme: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('https')])),
    interval: Type.Optional(Duration),
    scrapeTimeout: Type.Optional(Duration),
    honorLabels: Type.Optional(Type.Boolean()),
  },
  closed,
);

const monitor = (kind: string, endpoints: string): TSchema =>
  Type.Object(
    {
      apiVersion: Type.Literal('monitoring.coreos.com/v1'),
      kind: Type.Literal(kind),
      metadata: Metadata,
      spec: Type.Object(
        { selector: LabelSelector, namespaceSelector: Type.Optional(NamespaceSelector), jobLabel: Type.Optional(Type.String()), [endpoints]: Type.Array(Endpoint, { minItems: 1 }) },
        closed,
      ),
    },
    closed,
  );

export const CUSTOM_SCHEMAS: ReadonlyMap<string, TSchema> = new Map([
  ['monitoring.coreos.com/v1 ServiceMonitor', monitor('ServiceMonitor', 'endpoints')],
  ['monitoring.coreos.com/v1 PodMonitor', monitor('PodMonitor', 'podMetricsEndpoints')],
]);
