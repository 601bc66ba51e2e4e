import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isUnavailableError } from '../src/lib/errors.js';

/**
 * What a client is told to retry (UNAVAILABLE) rather than reported as a fault of Verity: test/
 * cluster-failover.test.ts drives a real failover, where these replies arrive only now and then.
 */
describe('unavailable errors', () => {
  it('takes the replies of a Redis Cluster moving its slots for a retryable unavailability', () => {
    for (const message of [
      'MOVED 2014 127.0.0.1:46239',
      'ASK 2014 127.0.0.1:46239',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'CLUSTERDOWN The cluster is down',
    ]) {
      expect(isUnavailableError(new ReplyError(message)), message).toBe(true);
    }
    expect(isUnavailableError(new Error('Connection is closed.'))).toBe(true);
  });

  it('leaves the other replies of Redis as faults', () => {
    expect(
      isUnavailableError(
        new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
      ),
    ).toBe(false);
    expect(isUnavailableError(new ReplyError('ERR unknown command'))).toBe(false);
    expect(isUnavailableError(new Error('MOVED 2014 127.0.0.1:46239'))).toBe(false);
  });
});
