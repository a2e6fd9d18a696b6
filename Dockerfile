# hitship: the log-shipping sidecar for a WAF node's hits.
#   docker build -t hitship .
#   docker run -v ./hitship.yaml:/etc/hitship/hitship.yaml:ro -v /var/log/wallarm:/var/log/wallarm:ro \
#     -v hitship-data:/var/lib/hitship hitship
FROM denoland/deno:debian-2.9.6

# Where the config, the node's hit log, the state and the status file live.
RUN mkdir -p /etc/hitship /var/log/wallarm /var/lib/hitship /var/run/hitship \
  && chown deno:deno /var/lib/hitship /var/run/hitship

WORKDIR /app
# Log lines are JSON, one per line: no "a new release of Deno" notice among them.
ENV DENO_NO_UPDATE_CHECK=1
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno mod.ts ./
COPY --chown=deno:deno src/ src/
COPY --chown=deno:deno plugins/ plugins/

# Not root from here on. Dependencies are fetched and cached at build time, exactly as the lock
# file pins them; the running sidecar fetches nothing.
USER deno
RUN deno install --frozen --entrypoint mod.ts

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
  "/app/mod.ts", "run"]
CMD ["--config", "/etc/hitship/hitship.yaml"]
