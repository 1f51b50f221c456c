/**
 * Certificates for TLS tests, made with the openssl command line as an operator would
 * (docs/security.md shows the same steps): a CA, server certificates with IP SANs, client
 * certificates. EC P-256 keys keep generation fast.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

function pair(dir: string, name: string): KeyPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A scratch directory of certificates, removed by `remove()`. */
export class Pki {
  readonly dir = mkdtempSync(join(tmpdir(), 'kube-audit-pki-'));

  /** A self-signed CA. */
  createCa(name: string): KeyPair {
    openssl(
      [
        'req',
        '-x509',
        '-new',
        ...EC_KEY,
        '-sha256',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
      ],
      this.dir,
    );
    return pair(this.dir, name);
  }

  /** A leaf certificate signed by `ca`: a server certificate when `ips` are given, else a client one. */
  issue(ca: KeyPair, name: string, options: { ips?: string[]; dns?: string[] } = {}): KeyPair {
    const server = options.ips !== undefined || options.dns !== undefined;
    const sans = [...(options.ips ?? []).map((ip) => `IP:${ip}`), ...(options.dns ?? []).map((dns) => `DNS:${dns}`)];
    const ext = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${server ? 'serverAuth' : 'clientAuth'}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
    ];
    writeFileSync(join(this.dir, `${name}.ext`), `${ext.join('\n')}\n`);
    openssl(
      ['req', '-new', ...EC_KEY, '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`],
      this.dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        ca.certFile,
        '-CAkey',
        ca.keyFile,
        '-set_serial',
        `0x${randomBytes(12).toString('hex')}`,
        '-days',
        '1',
        '-sha256',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ],
      this.dir,
    );
    return pair(this.dir, name);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
