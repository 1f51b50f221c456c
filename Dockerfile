# The kube-audit receiver image: `docker build -t kube-audit-receiver .` at the repository root.
#
# Two stages: the first installs the workspace and bundles the receiver into one ESM file; the
# second is a bare Node runtime holding only that bundle (no node_modules, no sources).

# Both stages use the same Node release; bump it here.
ARG NODE_VERSION=24.14.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
# The version in package.json "packageManager", installed with npm rather than corepack.
RUN npm install --global pnpm@12.4.2
WORKDIR /src
# Dependencies first, from the lockfile alone (pnpm fetch), so this layer is rebuilt only when
# the lockfile changes, and adding a workspace package needs no edit here.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile --offline
# The same package script the tests build with.
RUN pnpm --filter @kube-audit/receiver run build

FROM node:${NODE_VERSION}-alpine3.23
# Re-declared: an ARG set before the first FROM reaches only FROM lines.
ARG NODE_VERSION
ARG VERSION=dev
LABEL org.opencontainers.image.title="kube-audit-receiver" \
      org.opencontainers.image.description="Kubernetes audit-webhook receiver: one JSON line per audit event on stdout" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_VERSION}-alpine3.23"
ENV NODE_ENV=production
# V8's heap limit from the container's memory limit: Node's own default under a 512Mi limit is
# 259 MB, less than one batch of MAX_BODY_BYTES of small events takes (docs/deploy.md).
ENV NODE_OPTIONS=--max-old-space-size-percentage=75
WORKDIR /app
# Only the bundle. Root-owned and read-only to the process, which writes nothing but stdout.
COPY --from=build /src/apps/receiver/dist/ ./dist/
# The image's "node" user, numeric so that Kubernetes can check runAsNonRoot.
USER 1000:1000
# 3000 HTTP, 4443 HTTPS (when a certificate is mounted at /certificates), 9090 metrics (METRICS_PORT).
EXPOSE 3000 4443 9090
CMD ["node", "dist/node.js"]
