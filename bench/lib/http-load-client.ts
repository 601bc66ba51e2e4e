/**
 * An HTTP load generator (autocannon) in its own process, so its work is not counted against
 * the server. Receives one run's options over IPC and answers with its figures.
 */
import autocannon from 'autocannon';

interface Run {
  url: string;
  body: string;
  token: string;
  connections: number;
  durationSeconds: number;
}

process.on('message', (run: Run) => {
  void autocannon({
    url: run.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${run.token}` },
    body: run.body,
    connections: run.connections,
    duration: run.durationSeconds,
  }).then((result) => {
    process.send!({
      requestsPerSecond: result.requests.average,
      requests: result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    });
  });
});
