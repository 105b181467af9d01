// The chaos suite's workload: writers that move money between accounts through one router
// path. Each writer holds one persistent connection, as a pool does, and reconnects after any
// error. A transfer is one transaction: two balance updates and a ledger row with a unique id.
// Every transaction whose COMMIT the client saw acknowledged is recorded with the member that
// served it (inet_server_port()) and the client-side times around the COMMIT.
import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../../src/errors.js';
import { HarnessError } from '../../test/harness/errors.js';

export interface Ack {
  id: string;
  writer: number;
  /** The member that acknowledged it, from inet_server_port(). */
  member: string;
  /** Epoch ms: COMMIT sent, and its acknowledgement received. The commit happened in between. */
  sentAt: number;
  ackAt: number;
}

export interface ClientError {
  at: number;
  writer: number;
  /** SQLSTATE, a socket error code, `timeout`, or `other`. */
  kind: string;
  message: string;
  /** The error ended a COMMIT: the transaction may or may not have committed (in doubt). */
  inCommit: boolean;
}

export interface BankTables {
  accounts: string;
  ledger: string;
}

export interface WorkloadOptions {
  /** Names the path in application_name (`chaos-<label>-<n>`), so a fault can find the sessions. */
  label: string;
  host: string;
  port: number;
  tables: BankTables;
  accounts: number;
  writers: number;
  /** Pause between two transfers of one writer, to keep a shared 2-core machine usable. */
  pauseMs: number;
  /** inet_server_port() → member name. */
  memberOfPort: ReadonlyMap<number, string>;
}

export const INITIAL_BALANCE = 1000;

/** SQL that (re)creates a path's tables with `accounts` accounts of INITIAL_BALANCE each. */
export function bankSchema(t: BankTables, accounts: number): string {
  return [
    `DROP TABLE IF EXISTS ${t.accounts}, ${t.ledger}`,
    `CREATE TABLE ${t.accounts} (id int PRIMARY KEY, balance bigint NOT NULL)`,
    `CREATE TABLE ${t.ledger} (id text PRIMARY KEY, src int NOT NULL, dst int NOT NULL, amount int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    `INSERT INTO ${t.accounts} SELECT g, ${INITIAL_BALANCE} FROM generate_series(1, ${accounts}) g`,
  ].join(';\n');
}

function errorKind(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string') return e.code;
  const msg = typeof e.message === 'string' ? e.message : '';
  if (/timeout/i.test(msg)) return 'timeout';
  if (/terminated|ended unexpectedly|closed/i.test(msg)) return 'connection_closed';
  return 'other';
}

export class Workload {
  readonly acks: Ack[] = [];
  readonly errors: ClientError[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(readonly opts: WorkloadOptions) {}

  start(): void {
    this.running = true;
    for (let w = 0; w < this.opts.writers; w++) this.loops.push(this.writerLoop(w));
  }

  /** Stops every writer after its current transaction (a hung one is cut by query_timeout). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Epoch ms of the last acknowledged commit, 0 before the first. */
  get lastAckAt(): number {
    return this.acks.at(-1)?.ackAt ?? 0;
  }

  private async writerLoop(w: number): Promise<void> {
    let client: pg.Client | undefined;
    let seq = 0;
    while (this.running) {
      let inCommit = false;
      try {
        client ??= await this.connect(w);
        seq++;
        const { port, sentAt } = await this.transfer(client, w, seq, () => (inCommit = true));
        inCommit = false;
        this.acks.push({ id: `${w}-${seq}`, writer: w, member: this.memberOf(port), sentAt, ackAt: Date.now() });
      } catch (err) {
        this.errors.push({ at: Date.now(), writer: w, kind: errorKind(err), message: describeError(err).slice(0, 200), inCommit });
        if (client) this.drop(client);
        client = undefined;
        // A short pause, or a writer facing a refusing router would spin.
        await delay(100);
        continue;
      }
      if (this.opts.pauseMs > 0) await delay(this.opts.pauseMs);
    }
    if (client) await this.close(client);
  }

  private async connect(w: number): Promise<pg.Client> {
    const client = new pg.Client({
      host: this.opts.host,
      port: this.opts.port,
      user: 'postgres',
      database: 'postgres',
      application_name: `chaos-${this.opts.label}-${w}`,
      // Longer than pgrouter's connect_wait (15 s), which holds clients through a failover.
      connectionTimeoutMillis: 20_000,
      // A COMMIT waiting for a synchronous standby that is gone (a frozen old primary) would
      // hang forever; the client gives up like a pool with a statement deadline would.
      query_timeout: 15_000,
      keepAlive: true,
    });
    // Errors between queries (the server closing the session) surface on the next query.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      this.drop(client);
      throw err;
    }
    return client;
  }

  private async transfer(client: pg.Client, w: number, seq: number, committing: () => void): Promise<{ port: number; sentAt: number }> {
    const { accounts, ledger } = this.opts.tables;
    const n = this.opts.accounts;
    const src = 1 + Math.floor(Math.random() * n);
    const dst = 1 + ((src + Math.floor(Math.random() * (n - 1))) % n);
    const amount = 1 + Math.floor(Math.random() * 10);
    // Rows are locked in id order so two transfers never deadlock on each other.
    const [lo, hi] = src < dst ? [src, dst] : [dst, src];
    const delta = (id: number): number => (id === src ? -amount : amount);
    const results = (await client.query(
      `BEGIN; UPDATE ${accounts} SET balance = balance + ${delta(lo)} WHERE id = ${lo}; ` +
        `UPDATE ${accounts} SET balance = balance + ${delta(hi)} WHERE id = ${hi}; ` +
        `INSERT INTO ${ledger} (id, src, dst, amount) VALUES ('${w}-${seq}', ${src}, ${dst}, ${amount}); ` +
        'SELECT inet_server_port() AS port',
    )) as unknown as pg.QueryResult[];
    const port = Number(results.at(-1)?.rows[0]?.port);
    committing();
    const sentAt = Date.now();
    const commit = await client.query('COMMIT');
    // A COMMIT of an aborted transaction answers ROLLBACK: not an acknowledgement.
    if (commit.command !== 'COMMIT') throw new HarnessError(`COMMIT answered ${commit.command}`);
    return { port, sentAt };
  }

  private memberOf(port: number): string {
    return this.opts.memberOfPort.get(port) ?? `port ${port}`;
  }

  /** After an error the connection is in an unknown state: cut it. */
  private drop(client: pg.Client): void {
    client.connection.stream.destroy();
  }

  private async close(client: pg.Client): Promise<void> {
    await Promise.race([client.end(), delay(2000)]).catch((err: unknown) => {
      // The session is over either way; say why it did not end politely.
      process.stderr.write(`chaos ${this.opts.label}: closing a writer: ${describeError(err)}\n`);
    });
    client.connection.stream.destroy();
  }
}
