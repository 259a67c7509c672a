import { defineWorker } from 'flowd';

let greeting = 'hello';

export default defineWorker({
  name: 'hello',
  configure(ctx) {
    greeting = ctx.config.Hello?.greeting ?? greeting;
    ctx.log.info({ greeting }, 'configured');
  },
  start(_event, ctx) {
    // Stdout belongs to the app; flowd logs go to stderr.
    process.stdout.write(`${greeting} (${ctx.id} at ${new Date().toISOString()})\n`);
  },
});
