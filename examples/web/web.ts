import { defineWorker } from 'flowd';

interface Request {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  body: unknown;
}

export default defineWorker<Request>({
  start(request) {
    if (request.path === '/greet') return { greeting: `Hello, ${String(request.query.name ?? 'world')}!` };
    return { status: 404, body: { error: { code: 'ERR_NOT_FOUND', message: `no route ${request.method} ${request.path}` } } };
  },
});
