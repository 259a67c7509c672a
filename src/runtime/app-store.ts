import type { Logger } from 'pino';
import type { Store } from '../../actors/stores/store-api.js';
import { createAppServices } from './app-services.js';
import type { AppConfig } from '../config/app-config.js';
import { createLogger } from './logger.js';

/** A logger for a command that reads the app's state: silent, so the command's own output stays clean. */
export const silentLogger = (config: AppConfig): Logger =>
  createLogger({ ...config.log, level: 'silent', file: undefined }, config.app.name);

/**
 * Opens the app's store for a command that reads or writes it outside a
 * run (`flowd plugins`, `flowd workflow`), hands it to `use`, and closes it
 * after, whatever happens.
 * @example const record = await withAppStore(config, (store) => store.get('workflow/run/1'));
 */
export async function withAppStore<T>(
  config: AppConfig,
  use: (store: Store) => Promise<T>,
  log: Logger = silentLogger(config),
): Promise<T> {
  const services = createAppServices(config.services, config.app.name, log);
  try {
    await services.open();
    return await use(services.store);
  } finally {
    await services.close();
  }
}
