import type { IncomingMessage } from 'node:http';
import { isIP, isIPv6 } from 'node:net';

/**
 * The address a request came from, as both transports key per-address rate limits: the HTTP
 * request's, or a WebSocket's upgrade request's.
 *
 * With `trustedProxyHops` 0 (TRUST_PROXY=false) it is the socket's peer. Behind proxies, each
 * appends the address it saw to `X-Forwarded-For`, so the last `trustedProxyHops` entries are
 * theirs to vouch for and the one they name outermost is the client; anything further left is
 * the client's own word, which anyone can forge to dodge a limit. This is Express's reading of
 * `trust proxy` set to a hop count, so `req.ip` agrees.
 *
 * An IPv6 address is keyed by its /64: one subscriber commonly holds a whole /64 and can pick
 * any address in it.
 */
export function clientAddress(request: IncomingMessage, trustedProxyHops: number): string {
  let address = request.socket.remoteAddress ?? 'unknown';
  if (trustedProxyHops > 0) {
    const header = request.headers['x-forwarded-for'];
    const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    if (forwarded.length > 0) {
      address = forwarded[Math.max(0, forwarded.length - trustedProxyHops)]!;
    }
  }
  return addressKey(address);
}

/**
 * An IPv4 address as is (also when IPv4-mapped); an IPv6 address as its /64 prefix. Anything
 * else (a proxy that writes names, or one fewer proxy than TRUST_PROXY says, letting a client's
 * own text through) is cut short, since it becomes a Redis key.
 */
function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return isIP(address) ? address : address.slice(0, 64);
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [
        ...headGroups,
        ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'),
        ...tailGroups,
      ]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
