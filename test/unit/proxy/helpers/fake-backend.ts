// A small fake PostgreSQL server on 127.0.0.1:0. It answers a StartupMessage with
// AuthenticationOk, ParameterStatus, BackendKeyData(pid, key) and ReadyForQuery, answers any
// simple query with one row `{ backend: <name> }`, holds a query starting with "sleep" until a
// matching CancelRequest arrives, and records every startup, SSL request and cancel it sees.
// With `halfOpen`, a client FIN gets one more row (`{ fin: after your FIN }`) before the
// backend's own FIN, and a query "finish" is answered and followed by the backend's FIN while
// it still reads what the client sends.
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { authenticationSasl } from '../../../../src/protocol/sasl.js';
import { errorResponse } from '../../../../src/protocol/messages.js';
import { authOk, backendKeyData, backendMessage, parameterStatus, readyForQuery } from './packets.js';

export interface FakeBackendOptions {
  /** Answer to SSLRequest: 'N' (default), 'S' (then echo raw bytes, standing in for TLS), or none (hang). */
  sslAnswer?: 'N' | 'S' | 'none';
  /** BackendKeyData key length (4 = protocol 3.0). */
  keyLength?: number;
  /** Answer this many StartupMessages with FATAL 57P03 "the database system is shutting down" and close. */
  refuseStartups?: number;
  /** SQLSTATE and message of those refusals (default 57P03, shutting down). */
  refuseWith?: { code: string; message: string };
  /** Accept and read the StartupMessage, never answer it (a frozen postmaster, a VM pause). */
  silentStartup?: boolean;
  /** Half-close both ways (see above). */
  halfOpen?: boolean;
  /** With sslAnswer 'S': a real TLS server with this certificate (PEM text) instead of the echo. */
  tls?: { cert: string; key: string };
  /** Bytes sent right behind the 'S' (CVE-2021-23214 with pgrouter as the client). */
  afterS?: Buffer;
  /** Answer a StartupMessage with AuthenticationSASL offering these, and take any SASLInitialResponse as a login. */
  sasl?: string[];
}

interface Conn {
  socket: net.Socket;
  pid: number;
  key: Buffer;
  held: boolean;
  /** sasl: the StartupMessage, answered once the client chose a mechanism. */
  startup: Buffer;
}

let nextPid = 1000;

export class FakeBackend {
  readonly startups: Array<Record<string, string>> = [];
  readonly cancels: Array<{ pid: number; key: Buffer }> = [];
  readonly queries: string[] = [];
  /** The mechanism of every SASLInitialResponse seen. */
  readonly saslChoices: string[] = [];
  /** Sessions that completed a TLS handshake with this backend. */
  tlsSessions = 0;
  sslRequests = 0;
  /** StartupMessages left unanswered (silentStartup). */
  silentStartups = 0;
  readonly conns = new Set<Conn>();
  private readonly server: net.Server;

  private constructor(
    readonly name: string,
    private readonly opts: FakeBackendOptions,
  ) {
    this.server = net.createServer({ allowHalfOpen: opts.halfOpen === true }, (s) => this.accept(s));
  }

  static async start(name: string, opts: FakeBackendOptions = {}): Promise<FakeBackend> {
    const b = new FakeBackend(name, opts);
    await new Promise<void>((resolve) => b.server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return b;
  }

  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('not listening');
    return a.port;
  }

  /** Sessions with a completed startup that are still open. */
  get sessions(): number {
    let n = 0;
    for (const c of this.conns) if (c.pid !== 0 && !c.socket.destroyed) n++;
    return n;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const conn: Conn = { socket, pid: 0, key: Buffer.alloc(0), held: false, startup: Buffer.alloc(0) };
    this.conns.add(conn);
    socket.on('close', () => this.conns.delete(conn));
    socket.on('error', () => socket.destroy());
    if (this.opts.halfOpen) socket.on('end', () => socket.end(resultRow('fin', 'after your FIN')));
    let buf = Buffer.alloc(0);
    let phase: 'startup' | 'sasl' | 'query' | 'echo' = 'startup';
    const onData = (chunk: Buffer): void => {
      if (phase === 'echo') {
        socket.write(chunk);
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (phase === 'startup') {
          if (buf.length < 8) return;
          const len = buf.readUInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readUInt32BE(4);
          const packet = buf.subarray(0, len);
          buf = buf.subarray(len);
          if (code === 80877103) {
            this.sslRequests++;
            const answer = this.opts.sslAnswer ?? 'N';
            if (answer === 'none') return;
            socket.write(answer === 'S' && this.opts.afterS ? Buffer.concat([Buffer.from('S'), this.opts.afterS]) : answer);
            if (answer === 'S' && this.opts.tls) {
              socket.removeListener('data', onData);
              const secure = new tls.TLSSocket(socket, { isServer: true, cert: this.opts.tls.cert, key: this.opts.tls.key, ALPNProtocols: ['postgresql'] });
              secure.on('secure', () => this.tlsSessions++);
              secure.on('error', () => secure.destroy());
              secure.on('data', onData);
              conn.socket = secure;
              return;
            }
            if (answer === 'S') {
              phase = 'echo';
              if (buf.length > 0) socket.write(buf);
              return;
            }
          } else if (code === 80877104) {
            socket.write('N');
          } else if (code === 80877102) {
            this.onCancel(packet.readUInt32BE(8), Buffer.from(packet.subarray(12)));
            socket.destroy();
            return;
          } else if (this.opts.sasl) {
            conn.socket.write(authenticationSasl(this.opts.sasl));
            conn.startup = packet;
            phase = 'sasl';
          } else {
            this.onStartup(conn, packet);
            phase = 'query';
          }
        } else {
          if (buf.length < 5) return;
          const len = buf.readUInt32BE(1);
          if (buf.length < 1 + len) return;
          const type = String.fromCharCode(buf[0] ?? 0);
          const body = buf.subarray(5, 1 + len);
          buf = buf.subarray(1 + len);
          if (type === 'X') {
            conn.socket.end();
            return;
          }
          if (phase === 'sasl' && type === 'p') {
            this.saslChoices.push(body.toString('utf8', 0, body.indexOf(0)));
            this.onStartup(conn, conn.startup);
            phase = 'query';
            continue;
          }
          if (type === 'Q') this.onQuery(conn, body.toString('utf8', 0, body.length - 1));
        }
      }
    };
    socket.on('data', onData);
  }

  private refused = 0;

  private onStartup(conn: Conn, packet: Buffer): void {
    if (this.opts.silentStartup) {
      this.silentStartups++;
      return;
    }
    if (this.refused < (this.opts.refuseStartups ?? 0)) {
      this.refused++;
      const why = this.opts.refuseWith ?? { code: '57P03', message: 'the database system is shutting down' };
      conn.socket.end(errorResponse(why.code, why.message));
      return;
    }
    const params: Record<string, string> = {};
    const parts = packet.toString('utf8', 8).split('\0');
    for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params[parts[i] as string] = parts[i + 1] as string;
    this.startups.push(params);
    conn.pid = nextPid++;
    conn.key = randomBytes(this.opts.keyLength ?? 4);
    conn.socket.write(
      Buffer.concat([authOk(), parameterStatus('server_version', '15.0'), parameterStatus('client_encoding', 'UTF8'), backendKeyData(conn.pid, conn.key), readyForQuery()]),
    );
  }

  private onQuery(conn: Conn, sql: string): void {
    this.queries.push(sql);
    // After its own FIN (halfOpen) the backend only listens.
    if (conn.socket.writableEnded) return;
    if (sql === 'finish' && this.opts.halfOpen) {
      conn.socket.end(resultRow('backend', this.name));
      return;
    }
    if (sql.startsWith('sleep')) {
      conn.held = true;
      return;
    }
    conn.socket.write(resultRow('backend', this.name));
  }

  private onCancel(pid: number, key: Buffer): void {
    this.cancels.push({ pid, key });
    for (const c of this.conns) {
      if (c.held && c.pid === pid && c.key.equals(key)) {
        c.held = false;
        c.socket.write(Buffer.concat([errorResponse('57014', 'canceling statement due to user request', 'ERROR'), readyForQuery()]));
      }
    }
  }
}

/** RowDescription + DataRow + CommandComplete + ReadyForQuery for one text column. */
function resultRow(column: string, value: string): Buffer {
  const name = Buffer.from(`${column}\0`);
  const field = Buffer.alloc(18);
  field.writeUInt32BE(0, 0); // table oid
  field.writeInt16BE(0, 4); // column number
  field.writeUInt32BE(25, 6); // text
  field.writeInt16BE(-1, 10); // typlen
  field.writeInt32BE(-1, 12); // typmod
  field.writeInt16BE(0, 16); // text format
  const rowDesc = backendMessage('T', Buffer.concat([Buffer.from([0, 1]), name, field]));
  const v = Buffer.from(value);
  const cell = Buffer.alloc(6);
  cell.writeInt16BE(1, 0);
  cell.writeInt32BE(v.length, 2);
  const dataRow = backendMessage('D', Buffer.concat([cell, v]));
  const complete = backendMessage('C', Buffer.from('SELECT 1\0'));
  return Buffer.concat([rowDesc, dataRow, complete, readyForQuery()]);
}
