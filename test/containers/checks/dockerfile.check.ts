// What issue 15 asks of the image, read off deploy/container/Dockerfile (dockerfilelint checks
// the rest, and the smoke test in image.sh runs the result).
import { describe, expect, it } from 'vitest';
import { instructions, runtimeStage } from './dockerfile.js';

const all = instructions();
const runtime = runtimeStage(all);
const last = (keyword: string): string | undefined => runtime.filter((i) => i.keyword === keyword).pop()?.args;

describe('deploy/container/Dockerfile', () => {
  it('builds in stages on a BASE argument that defaults to an official Node 20 slim image', () => {
    expect(all.filter((i) => i.keyword === 'FROM').length).toBeGreaterThanOrEqual(2);
    expect(all.find((i) => i.keyword === 'ARG' && i.args.startsWith('BASE='))?.args).toMatch(/^BASE=node:20(\.\d+)*-\w+-slim$/);
    expect(runtime[0]?.args).toBe('${BASE}');
  });

  it('gives the build stage what node-gyp needs for the native relay addon, and copies the addon when built', () => {
    const build = all.slice(0, all.length - runtime.length).map((i) => i.args).join('\n');
    for (const pkg of ['python3', 'make', 'g++']) expect(build).toMatch(new RegExp(`install[^\\n]*\\s${pkg.replace('+', '\\+')}(\\s|$)`));
    expect(build).toMatch(/npm ci/);
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(build).toMatch(/build\/Release\/\*\.node/);
  });

  it('runs as a numeric non-root user', () => {
    expect(last('USER')).toMatch(/^[1-9]\d*:[1-9]\d*$/);
  });

  it('has an exec-form ENTRYPOINT under tini, STOPSIGNAL SIGTERM and EXPOSE 5432 5433 8404', () => {
    const entrypoint = JSON.parse(last('ENTRYPOINT') ?? 'null') as string[] | null;
    expect(entrypoint?.slice(0, 2)).toEqual(['/usr/local/bin/tini', '--']);
    expect(entrypoint).toContain('/app/bin/pgrouter');
    expect(last('STOPSIGNAL')).toBe('SIGTERM');
    expect(last('EXPOSE')?.split(/\s+/).sort()).toEqual(['5432', '5433', '8404']);
  });

  it('adds nothing to the runtime stage but copies from the build stage (no package manager run there)', () => {
    expect(runtime.filter((i) => i.keyword === 'RUN')).toEqual([]);
    expect(runtime.filter((i) => i.keyword === 'COPY').every((i) => i.args.startsWith('--from=build '))).toBe(true);
  });
});
