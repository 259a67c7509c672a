// `node --import tsx test/helpers/ensure-services.ts`: starts what the integration tests need (CI runs it before npm test).
import { ensureChromium } from './chromium.js';
import { ensureVsftpd } from './ftp-server.js';
import { ensurePostgres, ensureRabbitStomp, ensureRedis } from './services.js';

await Promise.all([ensureRabbitStomp(), ensureRedis(), ensurePostgres()]);
console.log('services: RabbitMQ with STOMP (61613) and Web STOMP (15674), Redis (6379) and PostgreSQL (5432) are up');
console.log(`browser: Debian's chromium at ${ensureChromium()} (for the inspector page tests)`);
ensureVsftpd();
console.log("ftp: Debian's vsftpd is installed (each XmlExport test starts its own on loopback)");
