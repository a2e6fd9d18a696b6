# hitship: the log-shipping sidecar for a WAF node's hits.
#   docker build -t hitship .
#   docker run -v ./hitship.yaml:/etc/hitship/hitship.yaml:ro -v /var/log/wallarm:/var/log/wallarm:ro \
#     -v hitship-data:/var/lib/hitship hitship
FROM denoland/deno:debian-2.9.6

# Where the config, the node's hit log, the state and the status file live.
RUN mkdir -p /etc/hitship /var/log/wallarm /var/lib/hitship /var/run/hitship \
  && chown deno:deno /var/lib/hitship /var/run/hitship

# A CA bundle where the base has none (debian:stable-slim has no ca-certificates): the Mozilla
# roots that Deno carries, so https outputs verify against "the system's CA bundle". A private CA
# is added at run time with NODE_EXTRA_CA_CERTS=/etc/hitship/<file>.pem (README, Docker).
RUN [ -s /etc/ssl/certs/ca-certificates.crt ] || { mkdir -p /etc/ssl/certs && DENO_DIR=/tmp/deno-ca deno eval \
  'import { rootCertificates } from "node:tls"; Deno.writeTextFileSync("/etc/ssl/certs/ca-certificates.crt", rootCertificates.join("\n") + "\n")' \
  && rm -rf /tmp/deno-ca; }

WORKDIR /app
# Log lines are JSON, one per line: no "a new release of Deno" notice among them.
ENV DENO_NO_UPDATE_CHECK=1
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno deploy/image/runtime-imports.ts deploy/image/
COPY --chown=deno:deno mod.ts ./
COPY --chown=deno:deno src/ src/
COPY --chown=deno:deno plugins/ plugins/

# Not root from here on. Only what hitship runs is fetched and cached, each package as the lock
# file pins it (runtime-imports.ts drops the packages only tests use from the import map, then
# checks what was installed against the lock); the running sidecar fetches nothing. Behind a
# TLS-inspecting proxy, give the build its CA bundle as a secret; it is not kept in the image:
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t hitship .
USER deno
RUN --mount=type=secret,id=ca,mode=0444 \
  if [ -s /run/secrets/ca ]; then export DENO_CERT=/run/secrets/ca; fi \
  && deno run --allow-read=. --allow-write=. deploy/image/runtime-imports.ts \
  && deno install --entrypoint mod.ts \
  && deno run --allow-read=. --allow-write=. deploy/image/runtime-imports.ts --check
# One run at build time writes V8's code cache into the image (DENO_DIR), so a start skips
# compiling hitship's modules; under a read-only root Deno cannot write it and would compile them
# at every start (see README, Docker: start-up measured both ways).
RUN mkdir -p /tmp/warm && printf 'data_dir: /tmp/warm/data\noutputs: [{ name: w, type: file, path: /tmp/warm/out }]\n' > /tmp/warm/hitship.yaml \
  && deno run --cached-only --frozen --allow-read --allow-write=/tmp/warm --allow-env --allow-sys=hostname \
    mod.ts run --config /tmp/warm/hitship.yaml < /dev/null \
  && deno run --cached-only --frozen --allow-read --allow-env mod.ts validate --config /tmp/warm/hitship.yaml \
  && rm -rf /tmp/warm

VOLUME ["/var/lib/hitship", "/var/run/hitship"]
# /health /ready /metrics; the http and forward inputs' default ports, when configured.
EXPOSE 9464 8686 24224

# The narrowest permissions the sidecar needs: read its config, the hit log, its own state and
# the system's CA bundle (for https to S3);
# write only its state and status; environment variables for ${VAR} in the config; the network
# for S3 / InsightConnect and the /health /ready /metrics listener; the hostname for object keys.
# (test/shipping_test.ts runs the real CLI end to end with exactly these flags.) A young
# generation of 2 MiB semi-spaces keeps a sidecar's memory down (V8's default grows them to 16 MiB:
# 30 MB more in bulk) at less CPU than 1 MiB; one memory-reducer collection per run instead of two
# spares a trickle of hits a quarter of its CPU (see README, Performance).
# Plugins of your own: mount their modules under /etc/hitship (already readable) and list them
# under plugins: in the config; a module that imports only @hitship/hitship/sdk needs nothing
# more. A plugin module loaded from an https: URL needs --allow-import=HOST (and --allow-net to
# reach it), and --cached-only must go, or the module must be cached into the image at build.
ENTRYPOINT ["deno", "run", "--cached-only", "--frozen", "--v8-flags=--max-semi-space-size=2,--memory-reducer-gc-count=1", \
  "--allow-read=/etc/hitship,/var/log/wallarm,/var/lib/hitship,/var/run/hitship,/etc/ssl/certs", \
  "--allow-write=/var/lib/hitship,/var/run/hitship", \
  "--allow-env", "--allow-net", "--allow-sys=hostname", \
  "/app/mod.ts"]
# `docker run hitship` runs the sidecar; `docker run hitship validate --config ...`, `test`,
# `status` and the other commands run instead when given (options alone go to `run`).
CMD ["run", "--config", "/etc/hitship/hitship.yaml"]
