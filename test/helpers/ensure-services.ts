// `node --import tsx test/helpers/ensure-services.ts`: starts what the integration tests need (CI runs it before npm test).
import { ensureRabbitStomp } from './services.js';

await ensureRabbitStomp();
console.log('services: RabbitMQ with STOMP (61613) and Web STOMP (15674) are up');
