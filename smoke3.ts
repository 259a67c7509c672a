import { createActor, setup, sendTo, assign } from 'xstate';
import { workerSlotMachine } from './machines/worker-slot.js';
import { workerDone } from './machines/events.js';
const N = 300_000;
// parent that ignores slot reports
const slotLogic = workerSlotMachine.provide({ actions: { startWorker: () => {}, abortWorker: () => {} } });
const parent = setup({ actors: { s: slotLogic } }).createMachine({ invoke: { id: 'slot', src: 's', input: { slotId: 'slot-0' } } });
const p = createActor(parent).start();
const slot = p.getSnapshot().children.slot!;
const job = { seq: 0, delivery: { id: '1', payload: null }, attempt: 1, startedAt: 0 };
let t = performance.now();
for (let i = 0; i < N; i++) { slot.send({ type: 'event.assigned', job }); slot.send(workerDone(i + 1, undefined)); }
let dt = performance.now() - t;
console.log('slot: us per assign+done pair', (dt * 1000 / N).toFixed(2));
