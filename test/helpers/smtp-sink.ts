import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message as the sink received it, its headers unfolded and its body decoded. */
export interface SunkMessage {
  from: string | undefined;
  to: string[];
  subject: string;
  text: string;
  /** The login it was sent with, when there was one. */
  user: string | undefined;
  /** Whether the session was under TLS (from the first byte, or after STARTTLS). */
  secure: boolean;
}

/** A real SMTP server on 127.0.0.1 (a free port), keeping what it receives. */
export interface SmtpSink {
  host: '127.0.0.1';
  port: number;
  messages: SunkMessage[];
  /** Logins refused (a wrong password). */
  refused: number;
  stop(): Promise<void>;
}

/** Decodes quoted-printable text (what nodemailer uses for lines over 76 characters). */
function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Decodes RFC 2047 encoded words (`=?UTF-8?Q?...?=`), which nodemailer uses for headers with quotes or long ones. */
function decodeHeader(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?[^?]+\?([QB])\?([^?]*)\?=/gi, (_, kind: string, text: string) =>
      kind.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeQuotedPrintable(text.replace(/_/g, ' ')),
    );
}

function parse(raw: string, envelope: Omit<SunkMessage, 'subject' | 'text'>): SunkMessage {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1]?.trim() ?? '';
  const encoding = header('Content-Transfer-Encoding').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body, 'base64').toString('utf8')
        : Buffer.from(body, 'latin1').toString('utf8');
  return { ...envelope, subject: decodeHeader(header('Subject')), text: text.replace(/\r\n/g, '\n') };
}

/** A key and certificate (PEM) for the sink's TLS: `starttls` offers STARTTLS, `implicit` speaks TLS from the first byte. */
export interface SinkTls {
  mode: 'starttls' | 'implicit';
  key: string;
  cert: string;
}

/**
 * Starts the sink. With `login`, it asks for that user and password
 * (over plain SMTP: loopback only) and refuses any other. Without `tls` it
 * offers no STARTTLS.
 */
export async function startSmtpSink(login?: { user: string; password: string }, tls?: SinkTls): Promise<SmtpSink> {
  const sink: SmtpSink = { host: '127.0.0.1', port: 0, messages: [], refused: 0, stop: async () => {} };
  const disabled = [...(tls?.mode === 'starttls' ? [] : ['STARTTLS']), ...(login ? [] : ['AUTH'])];
  const server = new SMTPServer({
    secure: tls?.mode === 'implicit',
    ...(tls ? { key: tls.key, cert: tls.cert } : {}),
    hideSTARTTLS: tls?.mode !== 'starttls',
    disabledCommands: disabled,
    authOptional: !login,
    allowInsecureAuth: !tls,
    logger: false,
    onAuth(auth, _session, callback) {
      if (login && auth.username === login.user && auth.password === login.password) return callback(null, { user: auth.username });
      sink.refused++;
      return callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const mailFrom = session.envelope.mailFrom;
        sink.messages.push(
          parse(Buffer.concat(chunks).toString('latin1'), {
            from: mailFrom ? mailFrom.address : undefined,
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            user: typeof session.user === 'string' ? session.user : undefined,
            secure: session.secure,
          }),
        );
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  sink.port = (server.server.address() as AddressInfo).port;
  sink.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
