// The few facts of deploy/container/Dockerfile that the manifests must agree with.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './render.js';

export const DOCKERFILE = join(REPO, 'deploy', 'container', 'Dockerfile');

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions in order, continuation lines joined, comments dropped. */
export function instructions(text: string = readFileSync(DOCKERFILE, 'utf8')): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [keyword = '', ...rest] = l.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/** The runtime stage: everything after the last FROM. */
export function runtimeStage(all: readonly Instruction[] = instructions()): Instruction[] {
  const lastFrom = all.map((i) => i.keyword).lastIndexOf('FROM');
  return all.slice(lastFrom);
}

export function imageUser(): { uid: number; gid: number } {
  const user = runtimeStage().filter((i) => i.keyword === 'USER').pop()?.args ?? '';
  const [uid, gid] = user.split(':');
  return { uid: Number(uid), gid: Number(gid ?? uid) };
}
