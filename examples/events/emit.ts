// Adds events to the example's table (creating it first): node --import tsx examples/events/emit.ts [count]
import pg from 'pg';

const count = Number(process.argv[2] ?? 5);
if (!Number.isInteger(count) || count < 1) {
  console.error(`emit.ts: found "${process.argv[2]}"; expected a number of events, at least 1`);
  process.exit(2);
}
const client = new pg.Client({ connectionString: process.env.EVENTS_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
await client.connect();
await client.query(`CREATE TABLE IF NOT EXISTS flowd_example_events (
  id bigserial PRIMARY KEY, type text NOT NULL, entity jsonb, attributes jsonb,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(), meta jsonb)`);
const statuses = ['wtg', 'rdy', 'ip', 'rev', 'fin'];
for (let i = 1; i <= count; i++) {
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
