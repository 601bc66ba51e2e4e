/**
 * A waitlist join load generator, run in its own process (forked by bench/waitlist.bench.ts)
 * so that its work is not counted against the server. It sends `count` joinWaitlist
 * mutations, each with its own email, keeping `concurrency` in flight over keep-alive
 * connections, and reports latencies, completions per second, errors and the tickets seen.
 */
import { Agent, request } from 'node:http';

interface Run {
  url: string;
  count: number;
  concurrency: number;
  /** Return the ticket tokens of this many of the last joins. */
  keepTokens: number;
  label: string;
}

const mutation =
  'mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { ticket position ticketToken } }';

const now = () => performance.timeOrigin + performance.now();

function post(url: URL, agent: Agent, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

process.on('message', (run: Run) => {
  void (async () => {
    const url = new URL(run.url);
    const agent = new Agent({ keepAlive: true, maxSockets: run.concurrency });
    const latencies = new Float64Array(run.count);
    const tickets = new Int32Array(run.count);
    const doneAt = new Float64Array(run.count);
    const tokens: { ticket: number; token: string }[] = [];
    const errorSamples: string[] = [];
    let errors = 0;
    let next = 0;
    const startedAt = now();
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= run.count) return;
        const body = JSON.stringify({
          query: mutation,
          variables: {
            i: { email: `${run.label}${i}@bench.example`, username: `${run.label}${i}` },
          },
        });
        const sentAt = now();
        try {
          const reply = JSON.parse(await post(url, agent, body)) as {
            data?: { joinWaitlist?: { ticket: number; ticketToken: string } };
            errors?: unknown[];
          };
          const ticket = reply.data?.joinWaitlist;
          if (!ticket || reply.errors) throw new Error(JSON.stringify(reply.errors));
          tickets[i] = ticket.ticket;
          if (i >= run.count - run.keepTokens)
            tokens.push({ ticket: ticket.ticket, token: ticket.ticketToken });
        } catch (error) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(String(error).slice(0, 300));
        }
        doneAt[i] = now();
        latencies[i] = doneAt[i] - sentAt;
      }
    };
    await Promise.all(Array.from({ length: run.concurrency }, worker));
    agent.destroy();
    process.send!({
      type: 'done',
      startedAt,
      finishedAt: now(),
      errors,
      errorSamples,
      latencies: Array.from(latencies),
      doneAt: Array.from(doneAt),
      tickets: Array.from(tickets),
      tokens,
    });
  })();
});
