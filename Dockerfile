# syntax=docker/dockerfile:1.7
#
# Kiln images. Build one target at a time:
#
#   docker build --target api        -t kiln-api .
#   docker build --target worker-cpu -t kiln-worker-cpu .
#   docker build --target worker-gpu -t kiln-worker-gpu .
#
# test/infra/dockerfile.test.ts checks the targets, commands and paths below against package.json,
# package-lock.json and tsconfig.build.json, because no Docker engine is available where tests run.

# Node 22 LTS is the project's engine (package.json "engines"; Node 20 reached end of life in April
# 2026); pin the patch release so rebuilds match.
ARG NODE_IMAGE=node:22.23.3-bookworm-slim
# @tensorflow/tfjs-node-gpu 4.22 downloads libtensorflow 2.9.1 (scripts/deps-constants.js), whose
# tested GPU build configuration is CUDA 11.2 + cuDNN 8.1; the 11.2.2 cudnn8 image ships cuDNN 8.1.1.
# NVIDIA deletes end-of-life tags from Docker Hub: mirror this one into your own registry and pass
# --build-arg CUDA_IMAGE=<registry>/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 (see infra/README.md).
ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
ARG NPM_VERSION=11.19.1
ARG TFJS_NODE_GPU_VERSION=4.22.0

# ---------------------------------------------------------------------------------------------
# Node toolchain with the npm release the lockfile was written with.
FROM ${NODE_IMAGE} AS node-base
ARG NPM_VERSION
RUN npm install --global --no-fund --no-audit "npm@${NPM_VERSION}" \
 && npm --version
WORKDIR /app

# Compile TypeScript to dist/ with every dependency, dev ones included. No install script runs:
# the build needs none, and optional native addons (tfjs-node*) are not wanted here.
FROM node-base AS build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-fund --no-audit
COPY . .
RUN npm run build

# Production dependencies for the api and worker-cpu images: no dev, no optional packages, no
# install scripts, so the tree is exactly the lockfile's pure-JS subset.
FROM node-base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-fund --no-audit

# The API never imports @tensorflow/* (only worker/tfjs/ does; test/infra/dockerfile.test.ts checks
# the api, core and store sources), so its image drops those packages.
FROM prod-deps AS api-deps
RUN rm -rf node_modules/@tensorflow

# Runtime base shared by api and worker-cpu: tini reaps the sandboxed training children and
# forwards SIGTERM; a fixed numeric uid lets Kubernetes verify runAsNonRoot.
FROM ${NODE_IMAGE} AS runtime-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 kiln \
 && useradd --uid 10001 --gid kiln --no-create-home --shell /usr/sbin/nologin kiln
WORKDIR /app
ENV NODE_ENV=production
COPY --chown=root:root infra/docker/healthcheck.js /app/infra/docker/healthcheck.js

# ---------------------------------------------------------------------------------------------
# api: Fastify server, no TensorFlow.
FROM runtime-base AS api
COPY --from=api-deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist/api ./dist/api
COPY --from=build /app/dist/core ./dist/core
COPY --from=build /app/dist/store ./dist/store
COPY --from=build /app/openapi ./openapi
ENV PORT=8080
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "infra/docker/healthcheck.js", "PORT", "8080", "/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/api/server.js"]

# ---------------------------------------------------------------------------------------------
# worker-cpu: trains on the WebAssembly backend; no native TensorFlow.
FROM runtime-base AS worker-cpu
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist ./dist
COPY --from=build /app/openapi ./openapi
COPY --from=build /app/worker/data/builtin ./worker/data/builtin
COPY --from=build /app/worker/data/builtin ./dist/worker/data/builtin
ENV KILN_BACKEND=wasm \
    KILN_WORKER_HEALTH_PORT=8081
EXPOSE 8081
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "infra/docker/healthcheck.js", "KILN_WORKER_HEALTH_PORT", "8081", "/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--openssl-legacy-provider", "dist/worker/main.js"]

# ---------------------------------------------------------------------------------------------
# worker-gpu: CUDA 11.2 / cuDNN 8.1 userland with Node copied in. The NVIDIA driver comes from the
# host (nvidia-container-toolkit), never from the image.
FROM ${CUDA_IMAGE} AS gpu-base
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
COPY --from=node-base /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && node --version
WORKDIR /app

# Install tfjs-node-gpu with its install script (it downloads libtensorflow-gpu 2.9.1 and the
# prebuilt N-API binding, compiling the binding if no prebuilt matches). Everything is installed with
# scripts off, then only this package is rebuilt: npm 11's install-script policy (allowScripts)
# must allow it, which the throw-away .npmrc does without touching package.json. The CPU twin
# @tensorflow/tfjs-node is removed so the worker cannot silently load it.
FROM gpu-base AS gpu-deps
ARG TFJS_NODE_GPU_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-fund --no-audit \
 && printf 'allow-scripts=@tensorflow/tfjs-node-gpu\n' > .npmrc \
 && npm rebuild @tensorflow/tfjs-node-gpu --foreground-scripts \
 && rm -rf node_modules/@tensorflow/tfjs-node .npmrc \
 && node -e "const v = require('@tensorflow/tfjs-node-gpu/package.json').version; \
      if (v !== process.env.TFJS_NODE_GPU_VERSION) { console.error('tfjs-node-gpu ' + v + ' != ' + process.env.TFJS_NODE_GPU_VERSION); process.exit(1); }" \
 && node -e "require('@tensorflow/tfjs-node-gpu')"

FROM gpu-base AS worker-gpu
RUN groupadd --gid 10001 kiln \
 && useradd --uid 10001 --gid kiln --no-create-home --shell /usr/sbin/nologin kiln
ENV NODE_ENV=production
COPY --from=gpu-deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist ./dist
COPY --from=build /app/openapi ./openapi
COPY --from=build /app/worker/data/builtin ./worker/data/builtin
COPY --from=build /app/worker/data/builtin ./dist/worker/data/builtin
COPY infra/docker/healthcheck.js /app/infra/docker/healthcheck.js
# KILN_REQUIRE_GPU makes the worker exit non-zero at start-up when TensorFlow sees no GPU, rather
# than training on the CPU of an expensive GPU instance.
ENV KILN_BACKEND=node-gpu \
    KILN_REQUIRE_GPU=true \
    KILN_WORKER_HEALTH_PORT=8081 \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
EXPOSE 8081
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "infra/docker/healthcheck.js", "KILN_WORKER_HEALTH_PORT", "8081", "/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--openssl-legacy-provider", "dist/worker/main.js"]
