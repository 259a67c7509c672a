import { Flow, type WorkerContext } from 'flowd';

interface Order {
  account: string;
  amount: number;
}

/** A worker class in Flow's style: configure() once, start(event) per line. */
export class Orders extends Flow<Order, number> {
  private currency = 'EUR';
  private readonly balances = new Map<string, number>();

  override configure(): void {
    this.currency = this.config.Orders?.currency ?? this.currency;
  }

  async start(order: Order, ctx: WorkerContext): Promise<number> {
    if (typeof order.account !== 'string' || typeof order.amount !== 'number') {
      throw Object.assign(new Error(`line ${String(ctx.meta.line)}: expected { "account": string, "amount": number }`), {
        code: 'ERR_PAYLOAD',
      });
    }
    const balance = (this.balances.get(order.account) ?? 0) + order.amount;
    this.balances.set(order.account, balance);
    process.stdout.write(
      `${order.account}: ${order.amount >= 0 ? '+' : ''}${order.amount} ${this.currency} -> ${balance} ${this.currency}\n`,
    );
    return balance;
  }
}
