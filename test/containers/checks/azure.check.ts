// deploy/azure: the Terraform module and the az CLI script put the same load balancer in
// front of the routers. Neither can be applied here, so the checks read what they would ask
// Azure for: the Terraform files through HCL's parser, the script through a stand-in `az`
// that records every call.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { format } from '@cdktf/hcl-tools';
import { loadConfigFile, type Config } from '../../../src/config/load.js';
import { instances, loadModule, type Module } from './hcl.js';
import { REPO } from './render.js';

const AZURE = join(REPO, 'deploy', 'azure');
const loaded = loadConfigFile(join(REPO, 'config', 'pgrouter.yaml'), {});
if (!loaded.ok) throw new Error(`config/pgrouter.yaml: ${JSON.stringify(loaded.issues)}`);
/** The example config: its listeners and stats port are what the load balancer serves. */
const example: Config = loaded.config;
const LISTENERS = example.listeners.map((l) => ({ name: l.name, port: l.bind.port, path: `/health/${l.name}` }));
const HTTP_PORT = example.http.bind.port;

// Attributes of azurerm ~> 4.0 that the module may use: a misspelled one fails here rather
// than at `terraform plan`.
const KNOWN: Record<string, readonly string[]> = {
  azurerm_lb: ['name', 'location', 'resource_group_name', 'sku', 'sku_tier', 'edge_zone', 'tags', 'frontend_ip_configuration'],
  azurerm_lb_backend_address_pool: ['name', 'loadbalancer_id', 'virtual_network_id', 'synchronous_mode', 'tunnel_interface'],
  azurerm_network_interface_backend_address_pool_association: ['network_interface_id', 'ip_configuration_name', 'backend_address_pool_id', 'for_each'],
  azurerm_lb_probe: ['name', 'loadbalancer_id', 'protocol', 'port', 'request_path', 'interval_in_seconds', 'number_of_probes', 'probe_threshold', 'for_each'],
  azurerm_lb_rule: ['name', 'loadbalancer_id', 'protocol', 'frontend_ip_configuration_name', 'frontend_port', 'backend_port', 'backend_address_pool_ids', 'probe_id',
    'floating_ip_enabled', 'idle_timeout_in_minutes', 'load_distribution', 'disable_outbound_snat', 'tcp_reset_enabled', 'for_each'],
  azurerm_network_security_rule: ['name', 'resource_group_name', 'network_security_group_name', 'description', 'protocol', 'source_port_range', 'source_port_ranges',
    'destination_port_range', 'destination_port_ranges', 'source_address_prefix', 'source_address_prefixes', 'destination_address_prefix', 'destination_address_prefixes',
    'source_application_security_group_ids', 'destination_application_security_group_ids', 'access', 'priority', 'direction'],
};

let tf: Module;
let calls: string[][];
let stubDir: string;

/** Values of a flag in one recorded az call: the tokens after it, up to the next flag. */
function flag(call: readonly string[], name: string): string[] {
  const i = call.indexOf(name);
  if (i < 0) return [];
  const rest = call.slice(i + 1);
  const end = rest.findIndex((t) => t.startsWith('--'));
  return end < 0 ? rest : rest.slice(0, end);
}
const azCalls = (...command: string[]): string[][] => calls.filter((c) => command.every((w, i) => c[i] === w));

beforeAll(async () => {
  tf = await loadModule(join(AZURE, 'terraform'));
  stubDir = mkdtempSync(join(tmpdir(), 'pgrouter-test-az-'));
  const log = join(stubDir, 'calls.jsonl');
  writeFileSync(join(stubDir, 'az'), `#!/usr/bin/env node
require('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n');
if (process.argv.includes('frontend-ip') && process.argv.includes('show')) console.log('192.0.2.10');
`);
  chmodSync(join(stubDir, 'az'), 0o755);
  execFileSync('bash', [join(AZURE, 'create-lb.sh')], {
    env: { PATH: `${stubDir}:${process.env.PATH ?? ''}`, RESOURCE_GROUP: 'db-rg', VNET: 'db-vnet', SUBNET: 'routers', NSG: 'routers-nsg',
      CLIENT_PREFIXES: '192.0.2.0/26 192.0.2.64/26', ROUTER_NICS: 'router-1-nic router-2-nic router-3-nic' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  });
  calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
});
afterAll(() => rmSync(stubDir, { recursive: true, force: true }));

describe('deploy/azure/terraform', () => {
  it('is formatted as terraform fmt formats it (hclwrite)', async () => {
    for (const [name, text] of tf.files) expect([name, await format(text)]).toEqual([name, text]);
  });

  it('uses only attributes the azurerm provider 4.x knows', () => {
    for (const [type, byName] of Object.entries(tf.resources)) {
      for (const [name, [block]] of Object.entries(byName)) {
        const unknown = Object.keys(block ?? {}).filter((k) => !(KNOWN[type] ?? []).includes(k));
        expect([`${type}.${name}`, unknown]).toEqual([`${type}.${name}`, []]);
      }
    }
  });

  it('makes a Standard SKU internal load balancer with the routers as its backend pool', () => {
    const [lb] = instances(tf, 'azurerm_lb', 'pgrouter');
    expect(lb?.attrs.sku).toBe('Standard');
    const [frontend] = lb?.attrs.frontend_ip_configuration as Array<Record<string, unknown>>;
    expect(frontend?.subnet_id).toBe('${var.subnet_id}');
    expect(instances(tf, 'azurerm_network_interface_backend_address_pool_association', 'routers')[0]?.attrs.backend_address_pool_id).toBe(
      '${azurerm_lb_backend_address_pool.routers.id}',
    );
  });

  it("has one rule per listener of config/pgrouter.yaml, each with its own HTTP probe on the stats port's /health/<listener>", () => {
    const probes = new Map(instances(tf, 'azurerm_lb_probe', 'listener').map((p) => [p.key, p.attrs]));
    const rules = new Map(instances(tf, 'azurerm_lb_rule', 'listener').map((r) => [r.key, r.attrs]));
    expect([...rules.keys()].sort()).toEqual(LISTENERS.map((l) => l.name).sort());
    for (const l of LISTENERS) {
      const rule = rules.get(l.name)!;
      expect([l.name, rule.protocol, rule.frontend_port, rule.backend_port, rule.probe_id]).toEqual([l.name, 'Tcp', l.port, l.port, `\${azurerm_lb_probe.listener[each.key].id}`]);
      const probe = probes.get(l.name)!;
      expect([l.name, probe.protocol, probe.port, probe.request_path]).toEqual([l.name, 'Http', HTTP_PORT, l.path]);
    }
  });

  it("resets idle flows with TCP reset, after longer than pgrouter's timeouts.keepalive", () => {
    for (const rule of instances(tf, 'azurerm_lb_rule', 'listener')) {
      expect(rule.attrs.tcp_reset_enabled).toBe(true);
      expect(Number(rule.attrs.idle_timeout_in_minutes) * 60_000).toBeGreaterThan(example.timeouts.keepalive);
    }
  });

  it('lets the AzureLoadBalancer service tag reach the stats port through the NSG', () => {
    const [probes] = instances(tf, 'azurerm_network_security_rule', 'probes');
    expect(probes?.attrs).toMatchObject({ direction: 'Inbound', access: 'Allow', protocol: 'Tcp', source_address_prefix: 'AzureLoadBalancer' });
    expect(String(probes?.attrs.destination_port_range)).toMatch(/^\$\{tostring\(local\.http_port\)\}$|^8404$/);
    expect(tf.locals.http_port).toBe(HTTP_PORT);
  });
});

describe('deploy/azure/create-lb.sh (against a stand-in az)', () => {
  it('makes a Standard SKU load balancer and puts every router NIC in its pool', () => {
    const [create] = azCalls('network', 'lb', 'create');
    expect(flag(create!, '--sku')).toEqual(['Standard']);
    expect(azCalls('network', 'nic', 'ip-config', 'address-pool', 'add').map((c) => flag(c, '--nic-name')[0])).toEqual(['router-1-nic', 'router-2-nic', 'router-3-nic']);
  });

  it('creates one rule per listener, each with its own HTTP probe on /health/<listener>, TCP reset on idle', () => {
    const probes = azCalls('network', 'lb', 'probe', 'create');
    const rules = azCalls('network', 'lb', 'rule', 'create');
    expect(rules).toHaveLength(LISTENERS.length);
    for (const l of LISTENERS) {
      const rule = rules.find((r) => flag(r, '--frontend-port')[0] === String(l.port))!;
      expect([l.name, flag(rule, '--backend-port'), flag(rule, '--protocol'), flag(rule, '--enable-tcp-reset')]).toEqual([l.name, [String(l.port)], ['Tcp'], ['true']]);
      expect(Number(flag(rule, '--idle-timeout-in-minutes')[0]) * 60_000).toBeGreaterThan(example.timeouts.keepalive);
      const probe = probes.find((p) => flag(p, '--name')[0] === flag(rule, '--probe-name')[0])!;
      expect([l.name, flag(probe, '--protocol'), flag(probe, '--port'), flag(probe, '--path')]).toEqual([l.name, ['Http'], [String(HTTP_PORT)], [l.path]]);
    }
  });

  it('lets the AzureLoadBalancer service tag reach the stats port, and the clients the listeners', () => {
    const rules = azCalls('network', 'nsg', 'rule', 'create');
    const probe = rules.find((r) => flag(r, '--source-address-prefixes')[0] === 'AzureLoadBalancer')!;
    expect([flag(probe, '--direction'), flag(probe, '--access'), flag(probe, '--destination-port-ranges')]).toEqual([['Inbound'], ['Allow'], [String(HTTP_PORT)]]);
    const clients = rules.find((r) => r !== probe)!;
    expect(flag(clients, '--source-address-prefixes')).toEqual(['192.0.2.0/26', '192.0.2.64/26']);
    expect(flag(clients, '--destination-port-ranges')).toEqual(LISTENERS.map((l) => String(l.port)));
  });
});
