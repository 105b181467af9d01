// One relay and one pair factory per test, each relay with its own list of end reports (a
// closed relay's late reports must not land in the next test's), and a check that the test
// left no fd behind.
import { afterEach, beforeEach } from 'vitest';
import { createNativeRelay, type NativeRelay, type NativeRelayEnd, type NativeRelayOptions } from '../../../src/relay/native-relay.js';
import { fdsBackTo, openFds, Pairs } from './pairs.js';

export interface RelayFixture {
  pairs: Pairs;
  relay: NativeRelay;
  ends: NativeRelayEnd[];
}

export function useRelayFixture(options: Omit<NativeRelayOptions, 'onEnd'>): RelayFixture {
  const f = {} as RelayFixture;
  let baseline = 0;
  beforeEach(async () => {
    baseline = openFds();
    f.pairs = await Pairs.start();
    const mine: NativeRelayEnd[] = [];
    f.ends = mine;
    f.relay = createNativeRelay({ ...options, onEnd: (end) => mine.push(end) });
  });
  afterEach(async () => {
    f.relay.close('test_end');
    await f.pairs.close();
    await fdsBackTo(baseline, 'after the test');
  });
  return f;
}
