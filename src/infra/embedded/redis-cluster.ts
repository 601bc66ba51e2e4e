import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { startRedisServer, type EmbeddedRedis } from './redis-server.js';

/** Slots of a Redis Cluster (fixed by Redis). */
const slotCount = 16_384;
/** A cluster node's bus listens on its port plus this (fixed by Redis). */
const busOffset = 10_000;

/** One node of a cluster that Verity started. */
export interface ClusterNode {
  readonly port: number;
  readonly url: string;
  readonly server: EmbeddedRedis;
}

/** A Redis Cluster on loopback, started from redis-server for tests and benchmarks. */
export interface EmbeddedRedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** `host:port,...` of every node, the REDIS_CLUSTER_NODES form. */
  readonly nodeList: string;
  /** The node serving `slot` as master now (it changes after a failover). */
  masterOf(slot: number): Promise<ClusterNode>;
  /** Kills a node's redis-server outright (SIGKILL), as a crash would. */
  kill(node: ClusterNode): Promise<void>;
  /** Waits until every live node says cluster_state:ok. */
  healthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Whether a port is free on loopback right now (a node's bus port must be). */
async function isFree(port: number): Promise<boolean> {
  if (port > 65_535) return false;
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Starts a Redis Cluster of `masters` masters with `replicas` replicas each (3 and 1 unless
 * given) on free loopback ports, every node a redis-server without persistence, as the embedded
 * single server runs. Slots are spread evenly over the masters; `nodeTimeoutMs` (2 s here) is
 * how long a master may be unreachable before its replica takes over.
 */
export async function startRedisCluster(options: {
  logger: Logger;
  masters?: number;
  replicas?: number;
  nodeTimeoutMs?: number;
}): Promise<EmbeddedRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2_000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'verity-redis-cluster-'));
  const nodes: ClusterNode[] = [];
  /** Nodes killed with `kill`. */
  const dead = new Set<ClusterNode>();
  const admins = new Map<ClusterNode, Redis>();
  const admin = (node: ClusterNode) => {
    let client = admins.get(node);
    if (!client) {
      client = new Redis(node.port, '127.0.0.1', {
        maxRetriesPerRequest: 1,
        lazyConnect: false,
        retryStrategy: () => 200,
      });
      client.on('error', () => {});
      admins.set(node, client);
    }
    return client;
  };
  const stop = async () => {
    for (const client of admins.values()) client.disconnect();
    await Promise.all(nodes.map((node) => node.server.stop()));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const server = await startRedisServer({
        logger: options.logger,
        acceptPort: async (port) => isFree(port + busOffset),
        args: (port) => [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--dir',
          dir,
        ],
      });
      nodes.push({ port: server.port, url: server.url, server });
    }
    // Slots, then the handshake, then the replicas.
    const ids = await Promise.all(
      nodes.map(async (node) => String(await admin(node).call('CLUSTER', 'MYID'))),
    );
    await Promise.all(
      nodes
        .slice(0, masters)
        .map((node, m) =>
          admin(node).call(
            'CLUSTER',
            'ADDSLOTSRANGE',
            String(Math.floor((m * slotCount) / masters)),
            String(Math.floor(((m + 1) * slotCount) / masters) - 1),
          ),
        ),
    );
    for (const node of nodes.slice(1))
      await admin(nodes[0]!).call('CLUSTER', 'MEET', '127.0.0.1', String(node.port));
    await waitUntil('every node to know every other', 30_000, async () => {
      for (const node of nodes) {
        const known = String(await admin(node).call('CLUSTER', 'NODES'))
          .trim()
          .split('\n')
          .filter((line) => !line.includes('handshake'));
        if (known.length < nodes.length) return false;
      }
      return true;
    });
    for (const [k, node] of nodes.slice(masters).entries())
      await admin(node).call('CLUSTER', 'REPLICATE', ids[k % masters]!);

    const cluster: EmbeddedRedisCluster = {
      nodes,
      nodeList: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
      async masterOf(slot) {
        for (const node of nodes.filter((candidate) => !dead.has(candidate))) {
          try {
            const ranges = (await admin(node).call('CLUSTER', 'SLOTS')) as [
              number,
              number,
              [string, number, string],
            ][];
            const range = ranges.find(([from, to]) => slot >= from && slot <= to);
            const owner = range && nodes.find((candidate) => candidate.port === range[2][1]);
            if (owner) return owner;
          } catch {
            // A node that is going away: ask the next.
          }
        }
        throw new Error(`Redis Cluster: no node serves slot ${slot}`);
      },
      async kill(node) {
        const info = await admin(node).info('server');
        const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
        admins.get(node)?.disconnect();
        admins.delete(node);
        dead.add(node);
        process.kill(pid, 'SIGKILL');
        await waitUntil(`redis-server ${node.port} to die`, 10_000, () => {
          try {
            process.kill(pid, 0);
            return Promise.resolve(false);
          } catch {
            return Promise.resolve(true);
          }
        });
      },
      async healthy(timeoutMs = 30_000) {
        await waitUntil('cluster_state:ok on every node', timeoutMs, async () => {
          for (const node of nodes) {
            if (dead.has(node)) continue;
            const info = String(await admin(node).call('CLUSTER', 'INFO'));
            if (!info.includes('cluster_state:ok')) return false;
          }
          return true;
        });
      },
      stop,
    };
    await waitUntil('the replicas to sync', 30_000, async () => {
      for (const node of nodes.slice(masters)) {
        const info = await admin(node).info('replication');
        if (!info.includes('master_link_status:up')) return false;
      }
      return true;
    });
    await cluster.healthy();
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}
