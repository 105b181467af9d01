// Builds the native relay addon (native/, binding.gyp → build/Release/pgrouter_relay.node) at
// `npm ci` / `npm install` (the package's install script) and on `npm run build:native`.
// A failed build does not fail the install: the JavaScript relay is the fallback (relay: auto)
// and `relay: native` refuses to start without the addon. The failure is printed loudly and
// the whole compiler output kept in build/native-build.log. `--strict` exits non-zero instead.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = path.join(root, 'build', 'native-build.log');
const strict = process.argv.includes('--strict');

function say(line) {
  process.stderr.write(`${line}\n`);
}

/** npm's own node-gyp (npm sets npm_config_node_gyp for scripts), else the one beside node. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const script = candidates.find((file) => file && fs.existsSync(file));
  return script ? [process.execPath, [script]] : ['node-gyp', []];
}

/** The headers that came with this node (no download: the machines may be offline). */
function nodeDirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function fail(reason, output) {
  const tail = output.trim().split('\n').slice(-25).join('\n');
  say('');
  say('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
  say(`!! pgrouter: the native relay addon did NOT build (${reason}).`);
  say('!! pgrouter will relay bytes in JavaScript (slower); `relay: native` will refuse to start.');
  say(`!! Full output: ${path.relative(process.cwd(), log) || log}. Retry: npm run build:native`);
  say('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
  if (tail) say(tail);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') {
  say(`pgrouter: no native relay on ${process.platform} (it needs epoll and splice); the JavaScript relay is used.`);
  process.exit(0);
}

const [command, prefixArgs] = nodeGyp();
const result = spawnSync(command, [...prefixArgs, 'rebuild', ...nodeDirArgs()], { cwd: root, encoding: 'utf8', env: process.env });
const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
fs.mkdirSync(path.dirname(log), { recursive: true });
fs.writeFileSync(log, output);
if (result.error) fail(`cannot run node-gyp: ${result.error.message}`, output);
if (result.status !== 0) fail(`node-gyp exited with ${result.status ?? result.signal}`, output);
const warnings = output.split('\n').filter((line) => /\bwarning:/.test(line));
if (warnings.length > 0) say(`pgrouter: native relay built with ${warnings.length} compiler warning(s), see ${log}`);
say('pgrouter: native relay built (build/Release/pgrouter_relay.node)');
