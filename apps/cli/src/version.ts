/** The package version, set at build time by build.mjs from package.json. */
declare const KUBE_AUDIT_VERSION: string;

export const VERSION: string = KUBE_AUDIT_VERSION;
