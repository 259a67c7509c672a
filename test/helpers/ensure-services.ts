// `node --import tsx test/helpers/ensure-services.ts`: starts what the integration tests need (CI runs it before npm test).
import { ensureRabbitStomp, ensureRedis } from './services.js';

await Promise.all([ensureRabbitStomp(), ensureRedis()]);
console.log('services: RabbitMQ with STOMP (61613) and Web STOMP (15674), and Redis (6379) are up');
