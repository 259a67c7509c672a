// Adds N events (default 5) to the example's table, creating it first: node examples/events/emit.mjs [N]
// Odd events change a task's status (Shotgun_Task_Change), even ones add a version (Shotgun_Version_New);
// entity ids go on from the events already there, so every run adds new tasks and versions.
import pg from 'pg';

const count = Number(process.argv[2] ?? 5);
if (!Number.isInteger(count) || count < 1) {
  console.error(`emit.mjs: found "${process.argv[2]}"; expected a number of events, at least 1`);
  process.exit(2);
}
const url = 'postgres://postgres@127.0.0.1:5432/test';
const client = new pg.Client({ connectionString: url });
try {
  await client.connect();
} catch (error) {
  console.error(`emit.mjs: cannot connect to PostgreSQL at ${url}: ${error.message}`);
  process.exit(1);
}
await client.query(`CREATE TABLE IF NOT EXISTS flowd_example_events (
  id bigserial PRIMARY KEY, type text NOT NULL, entity jsonb, attributes jsonb,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(), meta jsonb)`);
const { rows } = await client.query('SELECT count(*)::int AS n FROM flowd_example_events');
const statuses = ['wtg', 'rdy', 'ip', 'rev', 'fin'];
for (let i = rows[0].n + 1; i <= rows[0].n + count; i++) {
  const isVersion = i % 2 === 0;
  await client.query('INSERT INTO flowd_example_events (type, entity, attributes, meta) VALUES ($1, $2, $3, $4)', [
    isVersion ? 'Shotgun_Version_New' : 'Shotgun_Task_Change',
    JSON.stringify(isVersion ? { type: 'Version', id: 100 + i } : { type: 'Task', id: 10 + i }),
    JSON.stringify(isVersion ? [] : ['sg_status_list']),
    JSON.stringify(isVersion ? {} : { new_value: statuses[i % statuses.length] }),
  ]);
}
await client.end();
console.log(`emitted ${count} event(s) into flowd_example_events`);
