/**
 * @module
 * The HTTPS certificate, key and optional client CA, read from files (a mounted Secret) and
 * checked as a set before a listener is given them: a key that does not match its certificate,
 * or a file that is not PEM, is reported instead of breaking handshakes.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError';
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by this CA (mTLS). */
  clientCaFile?: string | undefined;
}

/** What a listener needs: PEM text. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

/** The served certificate, for logs and metrics. */
export interface CertificateInfo {
  subject: string;
  subjectAltName: string;
  serialNumber: string;
  fingerprint256: string;
  validTo: Date;
}

export type TlsState =
  | { present: false }
  | { present: true; material: TlsMaterial; certificate: CertificateInfo; clientCaCount: number };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The file's text, or undefined when it does not exist. */
function readOptional(file: string, variable: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') return undefined;
    throw new TlsFilesError(`${variable}: cannot read ${file}: ${code ?? String(error)}`);
  }
}

function parseCertificates(pem: string, variable: string, file: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsFilesError(`${variable}: ${file} holds no PEM certificate`);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TlsFilesError(`${variable}: ${file} holds a certificate that cannot be parsed: ${String(error)}`);
    }
  });
}

/**
 * Reads the files. Neither certificate nor key present means no HTTPS (`present: false`).
 *
 * @throws {TlsFilesError} naming the variable, when only one of the pair exists, when a file is
 *   unreadable or not PEM, when the key does not belong to the certificate, or when mTLS is
 *   configured and its CA file is missing.
 * @example
 * const state = readTlsFiles({ certFile: '/certificates/tls.crt', keyFile: '/certificates/tls.key' });
 */
export function readTlsFiles(files: TlsFiles): TlsState {
  const cert = readOptional(files.certFile, 'TLS_CERT_FILE');
  const key = readOptional(files.keyFile, 'TLS_KEY_FILE');
  if (cert === undefined && key === undefined) return { present: false };
  if (cert === undefined)
    throw new TlsFilesError(`TLS_CERT_FILE: ${files.certFile} is missing, but TLS_KEY_FILE exists`);
  if (key === undefined) throw new TlsFilesError(`TLS_KEY_FILE: ${files.keyFile} is missing, but TLS_CERT_FILE exists`);

  let ca: string | undefined;
  let clientCaCount = 0;
  if (files.clientCaFile) {
    ca = readOptional(files.clientCaFile, 'TLS_CLIENT_CA_FILE');
    // Serving HTTPS without the client check that was asked for would fail open.
    if (ca === undefined) throw new TlsFilesError(`TLS_CLIENT_CA_FILE: ${files.clientCaFile} is missing`);
    clientCaCount = parseCertificates(ca, 'TLS_CLIENT_CA_FILE', files.clientCaFile).length;
  }

  const [leaf] = parseCertificates(cert, 'TLS_CERT_FILE', files.certFile);
  try {
    // Builds the OpenSSL context a listener would: checks the key format and that it matches.
    createSecureContext({ cert, key, ca });
  } catch (error) {
    throw new TlsFilesError(
      `TLS_CERT_FILE/TLS_KEY_FILE: ${files.certFile} and ${files.keyFile} are not a usable pair: ${(error as Error).message}`,
    );
  }
  const certificate = leaf as X509Certificate;
  return {
    present: true,
    material: ca === undefined ? { cert, key } : { cert, key, ca },
    certificate: {
      subject: certificate.subject,
      subjectAltName: certificate.subjectAltName ?? '',
      serialNumber: certificate.serialNumber,
      fingerprint256: certificate.fingerprint256,
      validTo: new Date(certificate.validTo),
    },
    clientCaCount,
  };
}

/** True when both states carry the same PEM text. */
export function sameMaterial(a: TlsMaterial | undefined, b: TlsMaterial | undefined): boolean {
  return a?.cert === b?.cert && a?.key === b?.key && a?.ca === b?.ca;
}
