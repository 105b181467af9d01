import { describe, expect, it } from 'vitest';
import { NO_STATE_CHANGES, nextStateChanges } from '../../../src/metrics/state-changes.js';

describe('nextStateChanges', () => {
  it('stamps a backend when it is first seen and each time its state changes, and no other time', () => {
    const first = nextStateChanges(NO_STATE_CHANGES, { 'rw/n1': 'UP', 'rw/n2': 'DOWN' }, 1_000);
    expect(first.at).toEqual({ 'rw/n1': 1_000, 'rw/n2': 1_000 });
    const same = nextStateChanges(first, { 'rw/n1': 'UP', 'rw/n2': 'DOWN' }, 2_000);
    expect(same).toBe(first);
    const switched = nextStateChanges(same, { 'rw/n1': 'DOWN', 'rw/n2': 'UP' }, 3_000);
    expect(switched.at).toEqual({ 'rw/n1': 3_000, 'rw/n2': 3_000 });
    const drained = nextStateChanges(switched, { 'rw/n1': 'DOWN', 'rw/n2': 'DRAIN' }, 4_000);
    expect(drained.at).toEqual({ 'rw/n1': 3_000, 'rw/n2': 4_000 });
  });

  it('keeps the stamp of a member that left the view, and stamps it again when it comes back', () => {
    const both = nextStateChanges(NO_STATE_CHANGES, { 'rw/n1': 'UP', 'rw/n2': 'DOWN' }, 1_000);
    const left = nextStateChanges(both, { 'rw/n1': 'UP' }, 2_000);
    expect(left.states).toEqual({ 'rw/n1': 'UP' });
    expect(left.at['rw/n2']).toBe(1_000);
    const back = nextStateChanges(left, { 'rw/n1': 'UP', 'rw/n2': 'DOWN' }, 5_000);
    expect(back.at).toEqual({ 'rw/n1': 1_000, 'rw/n2': 5_000 });
  });
});
