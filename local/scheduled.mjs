// Cron Triggers, fired by hand as `wrangler dev --test-scheduled` does: a GET to
// /cdn-cgi/handler/scheduled?cron=<expression>[&time=<epoch seconds>] runs the worker's scheduled()
// handler once. Nothing fires on a schedule (wrangler dev does not either): tests and humans decide when.
export const SCHEDULED_PATH = '/cdn-cgi/handler/scheduled';

/** What workerd hands scheduled(): the cron that fired and when it was due. */
export class ScheduledController {
  /** @param {string} cron @param {number} scheduledTime epoch ms */
  constructor(cron, scheduledTime) {
    this.cron = cron;
    this.scheduledTime = scheduledTime;
  }
  /** Retries of failed cron events do not exist locally. */
  noRetry() {}
}

function text(status, body) {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/**
 * @param {{ crons: string[], fire: (controller: ScheduledController) => Promise<void>, log: (line: any) => void }} opts
 *   crons: wrangler.jsonc `triggers.crons`; the first is used when the request names none.
 * @returns {{ handle(req: Request): Promise<Response | null> }}
 */
export function createScheduledTrigger({ crons, fire, log }) {
  return {
    async handle(req) {
      const url = new URL(req.url);
      if (url.pathname !== SCHEDULED_PATH) return null;
      if (req.method !== 'GET') return text(405, 'method not allowed');
      const cron = url.searchParams.get('cron') ?? crons[0] ?? '';
      const time = url.searchParams.get('time');
      const scheduledTime = time !== null && /^\d+$/.test(time) ? Number(time) * 1000 : Date.now();
      try {
        await fire(new ScheduledController(cron, scheduledTime));
      } catch (err) {
        // A Python error's message is its whole traceback: log its last line only.
        log({ level: 'error', msg: 'scheduled() failed', cron, error: String(err?.message ?? err).trim().split('\n').at(-1) });
        return text(500, 'scheduled() failed');
      }
      return text(200, 'Ran scheduled event');
    },
  };
}
